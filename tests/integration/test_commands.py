#!/usr/bin/python3
"""The spine end to end: two replicas, the embedded broker, real Redis and
the OpenEMR simulator.  find_patient, search_slots, dead letters, invalid
commands, deadlines, duplicates."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import schemas  # noqa: E402
from harness import Stack, finish, local_day, run  # noqa: E402

JOHN = {"phone": "617-555-0101", "birthdate": "1980-04-12"}


def practitioner(st, username="aadams"):
    return [p for p in st.practitioners() if p["username"] == username][0]["uuid"]


def test_find_patient(st):
    rid = st.send({"type": "find_patient", "payload": JOHN}, key="call-1")
    res = st.results_for(rid)
    time.sleep(1.0)
    res = st.results_for(rid)
    assert len(res) == 1, "exactly one result, got %d" % len(res)
    r = res[0]
    assert r["status"] == "ok", r
    m = r["result"]["matches"]
    assert len(m) == 1 and m[0]["given_name"] == "John" and m[0]["family_name"] == "Smith", m
    assert set(m[0]) == {"patient_id", "given_name", "family_name", "birthdate"}, m[0]


def test_find_patient_several_and_none(st):
    # Two patients share this phone; with the birthdate only one matches.
    pts = st.patients()
    by_phone = {}
    for p in pts:
        digits = "".join(c for c in (p["phone_home"] or p["phone_cell"]) if c.isdigit())[-10:]
        by_phone.setdefault((digits, p["DOB"]), []).append(p)
    twins = [v for v in by_phone.values() if len(v) >= 2]
    assert twins, "the seed has twins (same phone and birthdate)"
    t = twins[0][0]
    r = st.call({"type": "find_patient",
                 "payload": {"phone": t["phone_home"] or t["phone_cell"], "birthdate": t["DOB"]}})
    assert r["status"] == "ok" and len(r["result"]["matches"]) == 2, r
    r = st.call({"type": "find_patient", "payload": {"phone": "999-555-0000",
                                                     "birthdate": "1990-01-01"}})
    assert r["status"] == "not_found" and r["error"]["code"], r


def test_broken_json_dead_letter(st):
    st.send(None, topic="scheduling.commands.search", raw=b"{not json")
    dlq = st.readers["dlq"].wait_for(lambda m: m["value"] == b"{not json", 20, "dead letter")
    h = dlq[0]["headers"]
    assert not schemas.errors("dlq-headers", h), schemas.errors("dlq-headers", h)
    assert h["dlq_reason_code"] == "bad_json" and h["dlq_source_topic"] == "scheduling.commands.search"
    # the worker keeps running
    r = st.call({"type": "find_patient", "payload": JOHN})
    assert r["status"] == "ok", r


def test_invalid_command_gets_result_and_dead_letter(st):
    rid = st.send({"type": "find_patient", "payload": {"phone": "617-555-0101"}})
    r = st.result(rid)
    assert r["status"] == "invalid" and "birthdate" in r["error"]["message"], r
    st.readers["dlq"].wait_for(lambda m: rid.encode() in m["value"], 20, "dead letter")
    # unknown type on the right topic
    rid = st.send(None, topic="scheduling.commands.search",
                  raw=json.dumps({"type": "teleport", "request_id": "bad-type-1",
                                  "payload": {}}).encode(),
                  headers={"request_id": "bad-type-1"})
    r = st.result("bad-type-1")
    assert r["status"] == "invalid" and r["type"] == "unknown", r
    # a command on the wrong topic
    rid = st.send({"type": "find_patient", "payload": JOHN}, topic="scheduling.commands.cancel")
    r = st.result(rid)
    assert r["status"] == "invalid" and r["error"]["code"] == "wrong_topic", r
    # a huge message
    big = json.dumps({"type": "find_patient", "request_id": "huge-1",
                      "payload": {"phone": "1" * 200000, "birthdate": "1980-01-01"}}).encode()
    st.send(None, topic="scheduling.commands.search", raw=big, headers={"request_id": "huge-1"})
    r = st.result("huge-1")
    assert r["status"] == "invalid" and r["error"]["code"] == "too_large", r


def test_search_slots_and_cache(st):
    pract = practitioner(st)
    cmd = {"type": "search_slots",
           "payload": {"appointment_type": "follow_up", "from": local_day(3),
                       "to": local_day(10), "practitioner_id": pract, "limit": 3}}
    r = st.call(cmd)
    assert r["status"] == "ok", r
    slots = r["result"]["slots"]
    assert len(slots) == 3, slots
    days = {s["start"][:10] for s in slots}
    assert len(days) == 3, "slots spread across days: %s" % slots
    before = st.stats()["requests_total"]
    r2 = st.call(cmd)
    after = st.stats()["requests_total"]
    assert r2["status"] == "ok" and r2["result"]["slots"] == slots, r2
    assert after == before, "a repeated search cost %d OpenEMR requests" % (after - before)


def test_deadline_passed(st):
    before = st.stats()["requests_total"]
    r = st.call({"type": "find_patient", "payload": JOHN, "deadline": "2020-01-01T00:00:00Z"})
    assert r["status"] == "expired", r
    assert st.stats()["requests_total"] == before


def test_duplicate_request_id(st):
    cmd = {"type": "find_patient", "request_id": "dup-" + str(time.time()), "payload": JOHN}
    first = st.call(cmd)
    before = st.stats()["requests_total"]
    st.send(cmd)
    res = st.results_for(cmd["request_id"], count=2)
    assert res[0] == res[1] == first, res
    assert st.stats()["requests_total"] == before, "a duplicate touched OpenEMR"
    # a read's answer (here names and birthdates) is kept idempotency.read_ttl_s
    ttl = st.redis.ttl(next(st.redis.scan_iter("*idem:" + cmd["request_id"])))
    assert 0 < ttl <= 3600, "a find_patient result kept %d s" % ttl


def test_audit_records(st):
    st.readers["audit"].poll(1.0)
    recs = [json.loads(m["value"]) for m in st.readers["audit"].messages]
    assert recs, "patient searches produce audit records"
    for r in recs:
        assert not schemas.errors("audit", r), (schemas.errors("audit", r), r)


if __name__ == "__main__":
    with Stack(replicas=2) as st:
        for t in (test_find_patient, test_find_patient_several_and_none,
                  test_broken_json_dead_letter, test_invalid_command_gets_result_and_dead_letter,
                  test_search_slots_and_cache, test_deadline_passed, test_duplicate_request_id,
                  test_audit_records):
            run(t, st)
    finish()
