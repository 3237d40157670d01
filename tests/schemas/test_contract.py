#!/usr/bin/python3
"""docs/contract.md (the contract in words) and schemas/ (the same contract
as JSON Schema and AsyncAPI) say the same: the topics and which commands
travel on each, every command's payload fields and result fields, the
envelope's fields, the result's fields and statuses, the event types, the
CloudEvents attributes and who can cause an event, and the dead-letter
headers.  Each name in one must be in the other, both ways, so neither can
change alone."""
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import schemas  # noqa: E402
from harness import ROOT, expect, finish, run  # noqa: E402

DOC = open(os.path.join(ROOT, "docs", "contract.md"), encoding="utf-8").read()
ASYNCAPI = yaml.safe_load(open(os.path.join(ROOT, "schemas", "asyncapi.yaml"), encoding="utf-8"))
S = schemas.SCHEMAS
COMMANDS = sorted(S["common"]["$defs"]["command_type"]["enum"])
STATUSES = set(S["result"]["properties"]["status"]["enum"])


def section(title):
    """The text under '## title' up to the next '## '."""
    m = re.search(r"^## %s\b.*?$(.*?)(?=^## |\Z)" % re.escape(title), DOC, re.M | re.S)
    assert m, "docs/contract.md has no section '%s'" % title
    return m.group(1)


def names(text):
    """The `backticked` words of text."""
    return re.findall(r"`([^`]+)`", text)


def table(text):
    """{each name of the first cell: the rest of the row} of a markdown table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2:
            for n in names(cells[0]):
                rows[n] = " | ".join(cells[1:])
    return rows


def resolve(node, base="common"):
    """A schema node with its $ref followed (within schemas/)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        target, _, pointer = ref.partition("#")
        kind = os.path.splitext(os.path.splitext(os.path.basename(target))[0])[0] if target \
            else base
        if target.startswith("../"):
            kind = target[3:].replace(".schema.json", "")
        node = S[kind]
        for part in [p for p in pointer.split("/") if p]:
            node = node[part]
        base = kind
    return node, base


def props(node, base="common"):
    node, _ = resolve(node, base)
    return set(node.get("properties", {}))


def items_props(node, base="common"):
    """Properties of the items of an array property (or of an object one)."""
    node, base = resolve(node, base)
    if node.get("type") == "array":
        return props(node["items"], base)
    return props(node, base)


def bullets(text):
    """{command: its bullet's text} of the Commands section."""
    out = {}
    for m in re.finditer(r"^- `(\w+)`:(.*?)(?=^- |\Z)", text, re.M | re.S):
        out[m.group(1)] = " ".join(m.group(2).split())
    return out


def test_topics():
    rows = table(section("Topics"))
    addresses = {c["address"] for c in ASYNCAPI["channels"].values()}
    expect(set(rows) == addresses, "the topics are AsyncAPI's channels: %s" % sorted(rows))
    by_topic = {t: [n for n in names(what) if n in COMMANDS] for t, what in rows.items()}
    expect(sorted(n for ns in by_topic.values() for n in ns) == COMMANDS,
           "the topic table names every command once: %s" % by_topic)
    for t, cmds in by_topic.items():
        for c in cmds:
            expect("Travels on %s." % t in S["commands/" + c]["description"],
                   "%s travels on %s in both" % (c, t))


def test_envelope():
    rows = table(section("Command envelope"))
    expect(set(rows) == props(S["envelope"], "envelope"),
           "the envelope's fields: %s" % sorted(rows))
    required = {k for k, v in rows.items() if v.startswith("required")}
    expect(required == set(S["envelope"]["required"]),
           "the envelope's required fields: %s" % sorted(required))


def test_commands():
    text = section("Commands")
    got = bullets(text)
    expect(sorted(got) == COMMANDS, "one bullet per command: %s" % sorted(got))
    results = S["result"]["$defs"]
    for cmd, bullet in got.items():
        payload_text, _, result_text = bullet.partition("Result:")
        payload = set(names(payload_text)) - set(COMMANDS)
        expect(payload == props(S["commands/" + cmd], "commands/" + cmd),
               "%s: payload fields %s" % (cmd, sorted(payload)))
        # top-level result fields; [{...}] lists the fields of an array's items;
        # "as `book`" takes another command's result fields
        top = set(names(re.sub(r"\[\{.*?\}\]", "", result_text))) - set(COMMANDS) - STATUSES
        for other in set(names(result_text)) & set(COMMANDS):
            top |= props(results[other], "result")
        expect(top == props(results[cmd], "result"),
               "%s: result fields %s" % (cmd, sorted(top)))
        for m in re.finditer(r"`(\w+)` \[\{(.*?)\}\]", result_text):
            field, inner = m.group(1), set(names(m.group(2)))
            want = items_props(results[cmd]["properties"][field], "result")
            expect(inner == want, "%s: fields of each of %s %s" % (cmd, field, sorted(inner)))


def test_result():
    rows = table(section("Result"))
    fields = props(S["result"], "result")
    mentioned = set(rows) | set(names(" ".join(rows.values())))
    expect(set(rows) <= fields, "every field of the table is the schema's: %s" % sorted(rows))
    expect(fields <= mentioned, "every field of the schema is described (missing %s)"
           % sorted(fields - mentioned))
    # the statuses: the names outside the parentheses that explain them
    statuses = names(re.sub(r"\([^()]*\)", "", rows["status"]))
    enum = S["result"]["properties"]["status"]["enum"]
    expect(statuses == enum, "the statuses, in order: %s" % statuses)


def test_events():
    text = section("Events")
    types = [n for n in names(text) if "." in n]
    enum = S["event"]["properties"]["type"]["enum"]
    expect(sorted(types) == sorted(enum), "the event types: %s" % types)
    attrs = re.search(r"structured JSON \((.*?)\)", " ".join(text.split())).group(1)
    expect(set(names(attrs)) == set(S["event"]["required"]),
           "the CloudEvents attributes: %s" % names(attrs))
    causes = S["event"]["properties"]["data"]["properties"]["caused_by"]["enum"]
    expect(all("`%s`" % c in text for c in causes) and len(causes) == 2,
           "who causes an event: %s" % causes)


def test_dead_letters():
    headers = {n for n in names(section("Dead letters")) if n.startswith("dlq_")}
    expect(headers == set(S["dlq-headers"]["required"]), "the dead-letter headers: %s"
           % sorted(headers))


for t in (test_topics, test_envelope, test_commands, test_result, test_events,
          test_dead_letters):
    run(t)
finish()
