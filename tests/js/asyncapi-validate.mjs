// Validates an AsyncAPI document with the official parser (@asyncapi/parser,
// which runs the spec's JSON Schema and its Spectral rules, and resolves
// every $ref, the relative schema files included).  Prints one JSON line:
// {"errors":[...],"warnings":N,"operations":{id: {action, channel,
// messages, kafka}}, "channels":{id: {address, messages, headers}}}; exits 1
// when the parser reports an error or cannot return a document.
//
//   node tests/js/asyncapi-validate.mjs schemas/asyncapi.yaml
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const file = resolve(process.argv[2]);
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), {
  source: pathToFileURL(file).href,
});
const errors = diagnostics
  .filter((d) => d.severity === DiagnosticSeverity.Error)
  .map((d) => `${d.path.join(".")}: ${d.message}`);
const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning);
const out = { errors, warnings: warnings.length, warningText: warnings.map((d) => `${d.path.join(".")}: ${d.message}`) };
if (document) {
  out.operations = {};
  for (const op of document.operations()) {
    const ch = op.channels().all()[0];
    const kafka = op.bindings().get("kafka");
    out.operations[op.id()] = {
      action: op.action(),
      channel: ch ? ch.address() : null,
      messages: op.messages().all().map((m) => m.id()),
      groupId: kafka ? kafka.value().groupId?.const ?? null : null,
      reply: op.reply() ? op.reply().channel()?.address() ?? null : null,
    };
  }
  out.channels = {};
  for (const ch of document.channels()) {
    const msgs = ch.messages().all();
    out.channels[ch.id()] = {
      address: ch.address(),
      partitions: ch.bindings().get("kafka")?.value().partitions ?? null,
      messages: msgs.map((m) => m.id()),
      headers: Object.fromEntries(
        msgs.map((m) => [m.id(), m.hasHeaders() ? Object.keys(m.headers().properties() || {}) : []]),
      ),
      key: Object.fromEntries(msgs.map((m) => [m.id(), !!m.bindings().get("kafka")?.value().key])),
    };
  }
} else if (!errors.length) {
  errors.push("the parser returned no document");
}
console.log(JSON.stringify(out));
process.exit(errors.length ? 1 : 0);
