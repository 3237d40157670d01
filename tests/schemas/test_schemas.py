#!/usr/bin/python3
"""The schemas are valid JSON Schema 2020-12, every $ref resolves, the
AsyncAPI document names them, and the message table under tests/data/
passes (valid/) and fails (invalid/) as its file names say.  Also checks
sample results, events and audit records, good and bad, so the result and
event schemas are proven to reject what the contract forbids."""

import glob
import os
import sys
from urllib.parse import urljoin

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import schemas  # noqa: E402
from harness import expect, finish  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

ROOT = schemas.ROOT


# ---- the schemas themselves ---------------------------------------------------
for kind in schemas.kinds():
    s = schemas.SCHEMAS[kind]
    try:
        Draft202012Validator.check_schema(s)
        good = True
    except Exception as e:  # noqa: BLE001
        good = False
        print("   ", e)
    expect(good and s.get("$schema") == "https://json-schema.org/draft/2020-12/schema",
           "%s is a valid 2020-12 schema" % kind)
    expect(s.get("$id", "").endswith("/" + kind + ".schema.json"), "%s has a matching $id" % kind)


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


for kind in schemas.kinds():
    v = schemas.validator(kind)
    bad = []
    for r in refs(schemas.SCHEMAS[kind]):
        try:
            v.resolver.resolve(urljoin(schemas.SCHEMAS[kind]["$id"], r))
        except Exception as e:  # noqa: BLE001
            bad.append("%s (%s)" % (r, e))
    expect(not bad, "every $ref of %s resolves %s" % (kind, bad or ""))

commands = sorted(k.split("/", 1)[1] for k in schemas.kinds() if k.startswith("commands/"))
expect(commands == sorted(["search_slots", "find_patient", "list_appointments", "hold",
                          "release_hold", "book", "cancel", "reschedule", "join_waitlist",
                          "leave_waitlist"]), "one schema per command: %s" % commands)
expect(sorted(schemas.SCHEMAS["common"]["$defs"]["command_type"]["enum"]) == commands,
       "the envelope's type enum names exactly the command schemas")

asyncapi = open(os.path.join(ROOT, "schemas", "asyncapi.yaml"), encoding="utf-8").read()
expect(asyncapi.startswith("asyncapi: 3.0.0") or "\nasyncapi: 3.0.0" in asyncapi,
       "asyncapi.yaml is AsyncAPI 3.0")
for topic in ["scheduling.commands.search", "scheduling.commands.book",
              "scheduling.commands.cancel", "scheduling.results", "scheduling.events",
              "scheduling.dlq", "scheduling.audit"]:
    expect("address: %s" % topic in asyncapi, "asyncapi describes %s" % topic)
envelope_refs = set(refs(schemas.SCHEMAS["envelope"]))
for kind in schemas.kinds():
    if kind.startswith("commands/"):
        expect(kind + ".schema.json" in envelope_refs, "the envelope references %s" % kind)
    elif kind != "common":
        expect("./%s.schema.json" % kind in asyncapi, "asyncapi references %s" % kind)
try:
    import yaml  # python3-yaml, when installed
except ImportError:
    yaml = None
if yaml:
    doc = yaml.safe_load(asyncapi)
    expect(doc["asyncapi"] == "3.0.0" and len(doc["channels"]) == 7
           and all(op["channel"]["$ref"].split("/")[-1] in doc["channels"]
                  for op in doc["operations"].values()),
           "asyncapi.yaml parses; 7 channels; every operation names one")

# ---- the message table ----------------------------------------------------------
valid = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "valid", "*.json")))
invalid = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "invalid", "*.json")))
expect(len(valid) >= 15, "%d valid examples (15+)" % len(valid))
expect(len(invalid) >= 15, "%d invalid examples (15+)" % len(invalid))
seen_types = set()
for path in valid:
    with open(path, "rb") as f:
        raw = f.read()
    errs = schemas.check_message("envelope", raw)
    expect(not errs, "valid/%s passes %s" % (os.path.basename(path), errs or ""))
    if not errs:
        seen_types.add(schemas.load_message(raw)["type"])
expect(seen_types == set(commands), "valid examples cover every command type (missing: %s)"
       % sorted(set(commands) - seen_types))
for path in invalid:
    with open(path, "rb") as f:
        raw = f.read()
    errs = schemas.check_message("envelope", raw)
    expect(bool(errs), "invalid/%s fails: %s" % (os.path.basename(path), errs[:1]))

# ---- results, events, audit -------------------------------------------------------
T = "2026-03-02T09:00:00-05:00"
slot = {"slot_id": "s1", "start": T, "end": "2026-03-02T10:00:00-05:00",
        "practitioner_id": "12", "appointment_type": "routine"}
appt = {"appointment_id": "301", "confirmation_number": "K7M-4QX", "start": T,
        "end": "2026-03-02T10:00:00-05:00", "practitioner_id": "12"}


def res(type_, status="ok", result=None, **kw):
    o = {"request_id": "req-1", "type": type_, "status": status}
    if result is not None:
        o["result"] = result
    o.update(kw)
    o.setdefault("processed_at", "2026-03-01T12:00:00.123-05:00")
    return o


ERR = {"code": "slot_taken", "message": "That time was just taken."}
good_results = {
    "search ok": res("search_slots", result={"slots": [slot]}),
    "search none with next_available": res("search_slots",
                                           result={"slots": [], "next_available": slot}),
    "find ok": res("find_patient", result={"matches": [{
        "patient_id": "42", "given_name": "Ana", "family_name": "Alvarez",
        "birthdate": "1984-07-12"}]}),
    "list ok": res("list_appointments", result={"appointments": [dict(
        appt, appointment_type="routine", status="booked")]}),
    "hold ok": res("hold", result={"hold_id": "h1", "expires_at": T}),
    "release ok": res("release_hold", result={"hold_id": "h1"}),
    "book ok": res("book", result=appt),
    "cancel ok": res("cancel", result={"appointment_id": "301", "cancelled_at": T}),
    "reschedule ok": res("reschedule", result=dict(appt, previous_appointment_id="300")),
    "join ok": res("join_waitlist", result={"waitlist_id": "w1"}),
    "leave ok": res("leave_waitlist", result={"waitlist_id": "w1"}),
    "conflict with alternatives": res("book", "conflict", error=ERR, alternatives=[slot, slot]),
    "not_found": res("find_patient", "not_found",
                     error={"code": "not_found", "message": "No patient matches."}),
    "unavailable": res("book", "unavailable",
                       error={"code": "circuit_open", "message": "Try again shortly."}),
    "invalid of an unknown type": res("unknown", "invalid",
                                      error={"code": "unknown_type", "message": "Unknown type."}),
}
bad_results = {
    "ok without result": res("book"),
    "ok with error": res("book", result=appt, error=ERR),
    "error without error object": res("book", "error"),
    "error object without message": res("book", "error", error={"code": "x"}),
    "unknown status": res("book", "maybe", error=ERR),
    "book result missing confirmation_number": res(
        "book", result={k: v for k, v in appt.items() if k != "confirmation_number"}),
    "book result with an extra field (patient name)": res("book", result=dict(appt, name="Ana")),
    "find_patient ok with no match": res("find_patient", result={"matches": []}),
    "reschedule without previous_appointment_id": res("reschedule", result=appt),
    "4 alternatives": res("book", "conflict", error=ERR, alternatives=[slot] * 4),
    "alternatives on a non-conflict": res("book", "rejected", error=ERR, alternatives=[slot]),
    "processed_at not a time": res("hold", result={"hold_id": "h", "expires_at": T},
                                   processed_at="yesterday"),
    "missing request_id": {k: v for k, v in res("book", result=appt).items() if k != "request_id"},
    "unknown type with ok": res("unknown", result={}),
    "error code not a machine word": res("book", "error",
                                         error={"code": "Slot Taken!", "message": "m"}),
}
for name, obj in good_results.items():
    errs = schemas.errors("result", obj)
    expect(not errs, "result: %s passes %s" % (name, errs or ""))
for name, obj in bad_results.items():
    expect(not schemas.is_valid("result", obj), "result: %s fails" % name)


def ev(type_, data, **kw):
    o = {"specversion": "1.0", "id": "e-1", "source": "/schedworker/worker-1", "type": type_,
         "time": T, "subject": "301", "datacontenttype": "application/json", "data": data}
    o.update(kw)
    return o


booked = {"caused_by": "worker", "request_id": "req-1", "appointment_id": "301",
          "confirmation_number": "K7M-4QX", "patient_id": "42", "practitioner_id": "12",
          "start": T, "end": "2026-03-02T10:00:00-05:00", "appointment_type": "routine"}
good_events = {
    "booked": ev("appointment.booked", booked),
    "cancelled": ev("appointment.cancelled", {"caused_by": "worker", "appointment_id": "301"}),
    "rescheduled": ev("appointment.rescheduled", {"caused_by": "worker", "appointment_id": "302",
                                                  "previous_appointment_id": "301", "start": T}),
    "changed externally": ev("appointment.changed", {"caused_by": "external",
                                                     "appointment_id": "301", "status": "x"}),
    "removed": ev("appointment.removed", {"caused_by": "external", "appointment_id": "301"}),
    "slot released": ev("slot.released", {"caused_by": "worker", "practitioner_id": "12",
                                          "start": T, "end": T}),
    "waitlist offered": ev("waitlist.offered", {
        "caused_by": "worker", "waitlist_id": "w1", "patient_id": "42",
        "practitioner_id": "12", "start": T, "hold_id": "h1", "offer_expires_at": T}),
}
bad_events = {
    "specversion 0.3": ev("appointment.booked", booked, specversion="0.3"),
    "unknown type": ev("appointment.teleported", booked),
    "caused_by someone": ev("appointment.booked", dict(booked, caused_by="someone")),
    "no caused_by": ev("appointment.cancelled", {"appointment_id": "301"}),
    "clinical text in data": ev("appointment.booked", dict(booked, reason="chest pain")),
    "booked without confirmation_number": ev("appointment.booked", {
        k: v for k, v in booked.items() if k != "confirmation_number"}),
    "missing subject": {k: v for k, v in ev("appointment.booked", booked).items()
                        if k != "subject"},
    "bad time": ev("appointment.booked", booked, time="2026-02-30T09:00:00Z"),
}
for name, obj in good_events.items():
    errs = schemas.errors("event", obj)
    expect(not errs, "event: %s passes %s" % (name, errs or ""))
for name, obj in bad_events.items():
    expect(not schemas.is_valid("event", obj), "event: %s fails" % name)

audit = {"time": T, "who": {"worker_id": "worker-1", "client_id": "sched-worker"},
         "what": {"method": "GET", "route": "/apis/default/fhir/Patient", "patient_id": "42",
                  "request_id": "req-1", "command_type": "find_patient"},
         "outcome": {"result": "success", "http_status": 200, "duration_ms": 12}}
expect(not schemas.errors("audit", audit), "audit: a full record passes %s"
       % (schemas.errors("audit", audit) or ""))
expect(not schemas.is_valid("audit", dict(audit, who={"worker_id": "worker-1"})),
       "audit: a record without client_id fails")
expect(not schemas.is_valid("audit", dict(audit, patient_name="Ana")),
       "audit: a record with a patient name fails")
expect(not schemas.is_valid("audit", dict(audit, outcome={"result": "ok", "http_status": 200})),
       "audit: an unknown outcome fails")

dlq = {"dlq_reason_code": "bad_json", "dlq_reason": "not valid JSON",
       "dlq_source_topic": "scheduling.commands.search", "dlq_source_partition": "2",
       "dlq_source_offset": "17", "dlq_time": T}
expect(schemas.is_valid("dlq-headers", dlq), "dlq headers: a full set passes")
expect(not schemas.is_valid("dlq-headers", {k: v for k, v in dlq.items() if k != "dlq_reason"}),
       "dlq headers: a set without the reason fails")

finish()
