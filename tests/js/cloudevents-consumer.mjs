// Reads Kafka messages as `kcat -C -J` prints them (one JSON object a line
// on stdin) and decodes each with the official CloudEvents SDK's Kafka
// binding, as any CloudEvents consumer would.  Fails (exit 1) unless every
// message is a structured-mode CloudEvent (content-type header) with the
// expected source, a deterministic-looking id and the contract's fields.
//
//   kcat -C -J -e -b BROKERS -t scheduling.events | \
//     node tests/js/cloudevents-consumer.mjs --source /schedworker/schedworker [--min N]
//
// Prints one JSON summary line: {"decoded":N,"types":{...},"modes":{...}}.
import { createInterface } from "node:readline";
import { CloudEvent, Kafka } from "cloudevents";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const wantSource = opt("--source", null);
const min = Number(opt("--min", "1"));
const failures = [];
const types = {};
const sources = new Set();
let decoded = 0;

function kafkaMessage(rec) {
  // kcat -J: "headers": [name, value, name, value, ...] (null when none)
  const headers = {};
  const h = rec.headers || [];
  for (let i = 0; i + 1 < h.length; i += 2) headers[h[i]] = h[i + 1];
  return { key: rec.key, value: rec.payload, headers, timestamp: String(rec.ts) };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const rec = JSON.parse(line);
  const where = `${rec.topic}/${rec.partition}@${rec.offset}`;
  const msg = kafkaMessage(rec);
  try {
    if (msg.headers["content-type"] === undefined || !msg.headers["content-type"].startsWith("application/cloudevents+json"))
      throw new Error(`content-type header is ${JSON.stringify(msg.headers["content-type"])}`);
    if (!Kafka.isEvent(msg)) throw new Error("the SDK does not see a CloudEvent");
    const ev = Kafka.toEvent(msg);
    if (!(ev instanceof CloudEvent)) throw new Error("toEvent gave no single CloudEvent");
    ev.validate(); // throws on a spec violation
    if (ev.specversion !== "1.0") throw new Error(`specversion ${ev.specversion}`);
    if (wantSource !== null && ev.source !== wantSource)
      throw new Error(`source ${ev.source}, want ${wantSource}`);
    if (!/^[0-9a-f]{32}$/.test(ev.id)) throw new Error(`id ${ev.id}`);
    if (!ev.type || !ev.subject) throw new Error("type or subject missing");
    if (rec.key !== ev.subject) throw new Error(`message key ${rec.key} is not the subject ${ev.subject}`);
    if (ev.datacontenttype !== "application/json" || typeof ev.data !== "object" || ev.data === null)
      throw new Error(`data is not a JSON object (${ev.datacontenttype})`);
    if (!["worker", "external"].includes(ev.data.caused_by)) throw new Error(`caused_by ${ev.data.caused_by}`);
    // the same message without its header is what consumers got before:
    // the SDK must then refuse it (so the header is what makes it an event)
    const bare = { ...msg, headers: { ...msg.headers } };
    delete bare.headers["content-type"];
    let refused = false;
    try {
      Kafka.toEvent(bare);
    } catch {
      refused = true;
    }
    if (!refused) throw new Error("the SDK decodes the message even without content-type");
    types[ev.type] = (types[ev.type] || 0) + 1;
    sources.add(ev.source);
    decoded++;
  } catch (e) {
    failures.push(`${where}: ${e.message}`);
  }
}
console.log(JSON.stringify({ decoded, types, sources: [...sources], failures }));
if (failures.length || decoded < min) {
  console.error(failures.length ? failures.join("\n") : `only ${decoded} events, want ${min}`);
  process.exit(1);
}
