#!/usr/bin/python3
"""Idempotency outlives Redis (docs/invariants.md section 4): a booking
that was cancelled, then Redis restarted without its data, then the same
book and the same cancel delivered again.  OpenEMR's cancel deleted the
row, so only the ledger (topics.ledger) remembers them: the book answers
its first answer (same appointment id) without booking again, and the
cancel answers its first answer, not `not_found`.

With --off the worker runs without a ledger (topics.ledger = ""), as
before the ledger existed: the test then fails, as it must.  With
--transactional the results and ledger records go out in Kafka
transactions (worker.transactional_results)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import TOPICS, Stack, TopicReader, check, epoch, finish, local_day, run  # noqa: E402

PATIENTS = {}
PRACT = {}


def ours(st, pract, start):
    """The simulator's appointments of pract at start (any status)."""
    return [a for a in st.appointments()
            if a.get("pce_aid_uuid") == pract and a.get("start_epoch") == start]


def restart_redis_empty(st):
    st.stack("stop-redis")
    st.stack("start-redis")
    keys = st.redis.dbsize()
    check(keys == 0, "redis restarted without its data (%d keys)" % keys)


def test_book_and_cancel_after_redis_lost_them(st, day):
    start = local_day(day, 11, 0)
    tag = "%d" % (time.time() * 1000)
    book = {"type": "book", "request_id": "ledger-book-" + tag,
            "payload": {"patient_id": PATIENTS["John"], "practitioner_id": PRACT["aadams"],
                        "start": start, "appointment_type": "follow_up"}}
    b1 = st.call(book, key=PRACT["aadams"])
    assert b1["status"] == "ok", b1
    assert ours(st, PRACT["aadams"], epoch(start)), "the book made no appointment"
    cancel = {"type": "cancel", "request_id": "ledger-cancel-" + tag,
              "payload": {"confirmation_number": b1["result"]["confirmation_number"],
                          "patient_id": PATIENTS["John"]}}
    c1 = st.call(cancel)
    assert c1["status"] == "ok", c1
    assert not ours(st, PRACT["aadams"], epoch(start)), "the cancel left its appointment"
    before = len(st.appointments())

    restart_redis_empty(st)

    st.send(book, key=PRACT["aadams"])
    b2 = st.results_for(book["request_id"], count=2, timeout=60)[1]
    assert b2 == b1, "the same book after Redis lost its record answered differently:\n%s\n%s" % (
        json.dumps(b1), json.dumps(b2))
    after = len(st.appointments())
    assert after == before, "the simulator has %d appointments, %d before" % (after, before)
    again = ours(st, PRACT["aadams"], epoch(start))
    assert not again, "booked again: %s" % again
    st.send(cancel)
    c2 = st.results_for(cancel["request_id"], count=2, timeout=60)[1]
    assert c2 == c1, "the same cancel after Redis lost its record answered differently:\n%s\n%s" % (
        json.dumps(c1), json.dumps(c2))


def test_ledger_records(st, day):
    """The ledger holds one record per write command, keyed by request_id;
    reads are never there."""
    r = st.call({"type": "find_patient", "payload": {"phone": "617-555-0101", "birthdate": "1980-04-12"}})
    reader = TopicReader(st.brokers, TOPICS["ledger"])
    reader.poll(3.0)
    recs = {m["key"]: json.loads(m["value"]) for m in reader.messages}
    books = [k for k in recs if k.startswith("ledger-book-")]
    assert books, "no ledger record of the book: %s" % sorted(recs)
    rec = recs[books[0]]
    assert set(rec) == {"request_id", "digest", "result", "done_ms"}, rec
    assert rec["request_id"] == books[0] and json.loads(rec["result"])["status"] == "ok", rec
    assert r["request_id"] not in recs, "a read went to the ledger"


def main(off=False, transactional=False):
    extra = 'topics.ledger = ""\n' if off else ""
    if transactional:
        extra += "worker.transactional_results = true\n"
    with Stack(replicas=1, extra_conf=extra) as st:
        for p in st.patients():
            PATIENTS.setdefault(p["fname"], p["uuid"])
        for p in st.practitioners():
            PRACT[p["username"]] = p["uuid"]
        run(test_book_and_cancel_after_redis_lost_them, st, 9)
        if not off:
            run(test_ledger_records, st, 9)
    finish()


if __name__ == "__main__":
    main(off="--off" in sys.argv, transactional="--transactional" in sys.argv)
