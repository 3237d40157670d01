#!/usr/bin/python3
"""schemas/asyncapi.yaml passes the official AsyncAPI parser (@asyncapi/parser
from tests/js/node_modules: the spec's schema, its Spectral rules and every
$ref, the JSON Schema files included) with no error and no warning; a
broken copy is refused (so the check can fail); and the document matches
the code: written from the worker's side (it receives the command topics as
one consumer group and sends the rest), every header the worker reads or
writes is declared on its message, every message has a Kafka key binding,
the addresses are the default topics, the group is the default group."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VALIDATE = os.path.join(ROOT, "tests", "js", "asyncapi-validate.mjs")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def parse(path):
    p = subprocess.run(["node", VALIDATE, path], capture_output=True, text=True, timeout=120)
    try:
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return p.returncode, {"errors": ["no output: " + p.stderr[-2000:]]}


def src(name):
    with open(os.path.join(ROOT, "src", name), encoding="utf-8") as f:
        return f.read()


rc, doc = parse(os.path.join(ROOT, "schemas", "asyncapi.yaml"))
check(rc == 0 and not doc["errors"], "the AsyncAPI parser accepts asyncapi.yaml %s" % (
    doc["errors"] or ""))
check(doc.get("warnings") == 0, "and warns of nothing %s" % doc.get("warningText", ""))

# A broken copy beside copies of the schemas it references: refused.
tmp = tempfile.mkdtemp()
try:
    shutil.copytree(os.path.join(ROOT, "schemas"), os.path.join(tmp, "schemas"))
    bad = os.path.join(tmp, "schemas", "asyncapi.yaml")
    text = open(bad, encoding="utf-8").read()
    for what, broken in [("an unknown action", text.replace("action: receive", "action: listen", 1)),
                         ("a dangling $ref", text.replace("./result.schema.json",
                                                          "./no-such.schema.json")),
                         ("an unknown Kafka binding field", text.replace(
                             "        partitions: 6\n", "        partitionz: 6\n", 1))]:
        with open(bad, "w", encoding="utf-8") as f:
            f.write(broken)
        brc, bdoc = parse(bad)
        check(brc == 1 and bdoc["errors"], "the parser refuses %s (%s)" % (
            what, (bdoc["errors"] or ["none"])[0][:100]))
finally:
    shutil.rmtree(tmp)

if doc.get("operations"):
    ops = doc["operations"]
    chans = doc["channels"]
    config_c = src("config.c")
    defaults = dict(re.findall(r'STR\("topics\.(\w+)", \w+, "([^"]+)"', config_c))
    group = re.search(r'\{"group\.id", "([^"]+)"\}', config_c).group(1)
    receives = sorted(o["channel"] for o in ops.values() if o["action"] == "receive")
    sends = sorted(o["channel"] for o in ops.values() if o["action"] == "send")
    check(receives == sorted(defaults[t] for t in ("search", "book", "cancel")),
          "the worker receives exactly the command topics: %s" % receives)
    check(sends == sorted(defaults[t] for t in ("results", "events", "dlq", "audit")),
          "the worker sends results, events, dead letters and audit: %s" % sends)
    check(all(o["groupId"] == group for o in ops.values() if o["action"] == "receive"),
          "each receive names the consumer group %s" % group)
    check(all(o["reply"] == defaults["results"] for o in ops.values() if o["action"] == "receive"),
          "each command's reply is a result")
    check(all(all(v["key"].values()) for v in chans.values()), "every message has a Kafka key")

    def headers_of(address):
        out = set()
        for v in chans.values():
            if v["address"] == address:
                for hs in v["headers"].values():
                    out.update(hs)
        return out

    # what the worker reads: read_headers() in kafka_consumer.c
    consumer = src("kafka_consumer.c")
    wanted = consumer[consumer.index("static void read_headers"):]
    wanted = re.findall(r'\{"([a-z_-]+)", offsetof', wanted[:wanted.index("};")])
    for t in ("search", "book", "cancel"):
        missing = set(wanted) - headers_of(defaults[t])
        check(len(wanted) >= 5 and not missing, "%s declares every header the worker reads %s" % (
            defaults[t], sorted(missing) or sorted(wanted)))
    # what it writes: the result's and the dead letter's in dispatch.c, the
    # event's content-type, the undeliverable dead letter's in kafka_producer.c
    dispatch = src("dispatch.c")
    pub = dispatch[dispatch.index("static void publish_result"):]
    pub = set(re.findall(r'outbox_header\(out, "([a-z_-]+)"', pub[:pub.index("\n}\n")]))
    dl = dispatch[dispatch.index("static void dead_letter"):]
    dl = set(re.findall(r'outbox_header\(out, "([a-z_-]+)"', dl[:dl.index("\n}\n")]))
    undeliverable = set(re.findall(r'\.name = "([a-z_-]+)"', src("kafka_producer.c")))
    ev = set(re.findall(r'outbox_header\(out, "([a-z_-]+)"', src("events.c")))
    for what, names, topic in [("result", pub, "results"), ("dead letter", dl | undeliverable, "dlq"),
                               ("event", ev, "events")]:
        missing = names - headers_of(defaults[topic])
        check(names and not missing, "the %s declares every header the worker writes %s" % (
            what, sorted(missing) or sorted(names)))
    dlq_schema = json.load(open(os.path.join(ROOT, "schemas", "dlq-headers.schema.json")))
    check(set(dlq_schema["required"]) <= dl, "the worker writes every required dead-letter header")
    check(chans and all(v["partitions"] for v in chans.values()),
          "every channel has a Kafka binding with its partitions")

print("%d failed" % len(failures) if failures else "PASS")
sys.exit(1 if failures else 0)
