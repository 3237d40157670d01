#!/usr/bin/python3
"""Every write command against the simulator, on the real OpenEMR surface
(or, with --fhir, the FHIR scheduling surface): book, duplicate, the same
slot from two replicas at once, a patient overlapping themselves, holds
across replicas and their expiry, reschedule onto a taken slot, cancel,
waitlist offer, booking rules, and the OpenEMR requests a booking costs."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, epoch, finish, local_day, run  # noqa: E402

PATIENTS = {}  # given name -> uuid
PRACT = {}     # username -> uuid


def live(st, pract, start_epoch):
    """Appointments in the simulator that hold pract's time at start_epoch."""
    out = []
    for a in st.appointments():
        if a.get("pce_aid_uuid") != pract or a.get("pc_apptstatus") in ("x", "%", "!"):
            continue
        if a.get("start_epoch") == start_epoch and a.get("puuid"):
            out.append(a)
    return out


def book(st, patient, pract, start, type_="follow_up", **extra):
    payload = {"patient_id": patient, "practitioner_id": pract, "start": start,
               "appointment_type": type_}
    payload.update(extra)
    return st.call({"type": "book", "payload": payload}, key=pract)


def test_book_and_duplicate(st, day):
    start = local_day(day, 10, 0)
    cmd = {"type": "book", "request_id": "book-dup-%d" % time.time(),
           "payload": {"patient_id": PATIENTS["John"], "practitioner_id": PRACT["aadams"],
                       "start": start, "appointment_type": "follow_up", "reason": "checkup"}}
    r = st.call(cmd)
    assert r["status"] == "ok", r
    conf = r["result"]["confirmation_number"]
    made = live(st, PRACT["aadams"], epoch(start))
    assert len(made) == 1, made
    assert conf in json.dumps(made[0]), "the confirmation number is stored in the appointment"
    st.send(cmd)
    res = st.results_for(cmd["request_id"], count=2)
    assert res[0] == res[1], res
    assert len(live(st, PRACT["aadams"], epoch(start))) == 1, "a duplicate booked twice"
    # a write's answer is kept idempotency.ttl_s (7 days), not a read's hour
    ttl = st.redis.ttl(next(st.redis.scan_iter("*idem:" + cmd["request_id"])))
    assert ttl > 6 * 86400, "a booking's result kept only %d s" % ttl
    ev = st.events(lambda e: e["type"] == "appointment.booked" and
                   e["data"].get("appointment_id") == r["result"]["appointment_id"])
    assert len({e["id"] for e in ev}) == 1, ev
    d = ev[0]["data"]
    assert d["confirmation_number"] == conf and d["caused_by"] == "worker", d


def test_booking_cost(st, day):
    # Ids are mapped and cached by the first booking; this one shows the
    # steady cost: the fresh conflict read and the create.
    before = st.stats()["requests_total"]
    r = book(st, PATIENTS["John"], PRACT["aadams"], local_day(day, 13, 0))
    assert r["status"] == "ok", r
    cost = st.stats()["requests_total"] - before
    assert cost <= 2, "a booking cost %d OpenEMR requests (docs say 2)" % cost


def test_same_slot_two_replicas(st, day):
    start = local_day(day, 14, 0)
    results = {}

    def go(name, patient):
        # different keys: the two commands may land on different replicas
        results[name] = st.call({"type": "book", "payload": {
            "patient_id": patient, "practitioner_id": PRACT["bbaker"], "start": start,
            "appointment_type": "follow_up"}}, key="k-" + name)

    threads = [threading.Thread(target=go, args=(n, PATIENTS[n])) for n in ("Maria", "Wei")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r["status"] for r in results.values())
    assert statuses == ["conflict", "ok"], results
    loser = [r for r in results.values() if r["status"] == "conflict"][0]
    assert loser["alternatives"], loser
    for alt in loser["alternatives"]:
        assert alt["start"] != start, alt
    assert len(live(st, PRACT["bbaker"], epoch(start))) == 1


def test_patient_overlaps_themselves(st, day):
    start = local_day(day, 11, 0)
    r = book(st, PATIENTS["Aisha"], PRACT["aadams"], start)
    assert r["status"] == "ok", r
    r = book(st, PATIENTS["Aisha"], PRACT["cchen"], start)
    assert r["status"] == "conflict" and r["error"]["code"] == "patient_busy", r
    assert not live(st, PRACT["cchen"], epoch(start))


def test_hold_across_replicas(st, day):
    search = {"type": "search_slots", "payload": {
        "appointment_type": "follow_up", "from": local_day(day, 15, 0),
        "to": local_day(day, 16, 0), "practitioner_id": PRACT["cchen"], "limit": 5}}
    r = st.call(dict(search, session_id="s1"))
    assert r["status"] == "ok" and r["result"]["slots"], r
    slot = r["result"]["slots"][0]
    h = st.call({"type": "hold", "session_id": "s1",
                 "payload": {"slot_id": slot["slot_id"], "ttl_seconds": 4}})
    assert h["status"] == "ok", h
    # Another call does not see it, whichever replica answers.
    for i in range(4):
        r2 = st.call(dict(search, session_id="s2"), key="other-%d" % i)
        assert slot["start"] not in [s["start"] for s in r2["result"]["slots"]], r2
    r = st.call({"type": "book", "session_id": "s2", "payload": {
        "patient_id": PATIENTS["Wei"], "practitioner_id": PRACT["cchen"],
        "start": slot["start"], "appointment_type": "follow_up"}})
    assert r["status"] == "conflict", r
    time.sleep(5)
    r3 = st.call(dict(search, session_id="s2"))
    assert slot["start"] in [s["start"] for s in r3["result"]["slots"]], "hold expired"


def test_hold_then_book_and_release(st, day):
    start = local_day(day, 16, 0)
    h = st.call({"type": "hold", "session_id": "s3", "payload": {
        "practitioner_id": PRACT["cchen"], "start": start, "appointment_type": "follow_up"}})
    assert h["status"] == "ok", h
    r = st.call({"type": "book", "session_id": "s3", "payload": {
        "patient_id": PATIENTS["Maria"], "practitioner_id": PRACT["cchen"], "start": start,
        "appointment_type": "follow_up", "hold_id": h["result"]["hold_id"]}})
    assert r["status"] == "ok", r
    r = st.call({"type": "release_hold", "session_id": "s3",
                 "payload": {"hold_id": h["result"]["hold_id"]}})
    assert r["status"] == "not_found", "booking converted the hold: %s" % r
    h = st.call({"type": "hold", "session_id": "s3", "payload": {
        "practitioner_id": PRACT["cchen"], "start": local_day(day, 9, 0),
        "appointment_type": "follow_up"}})
    r = st.call({"type": "release_hold", "session_id": "s3",
                 "payload": {"hold_id": h["result"]["hold_id"]}})
    assert r["status"] == "ok", r
    assert st.events(lambda e: e["type"] == "slot.released" and
                     e["data"].get("hold_id") == h["result"]["hold_id"])


def test_reschedule_onto_taken_slot(st, day):
    a = book(st, PATIENTS["Robert"], PRACT["aadams"], local_day(day, 8, 0))
    b = book(st, PATIENTS["Linda"], PRACT["aadams"], local_day(day, 9, 0))
    assert a["status"] == b["status"] == "ok", (a, b)
    r = st.call({"type": "reschedule", "payload": {
        "confirmation_number": a["result"]["confirmation_number"],
        "patient_id": PATIENTS["Robert"], "new_start": local_day(day, 9, 0)}})
    assert r["status"] == "conflict", r
    assert len(live(st, PRACT["aadams"], epoch(local_day(day, 8, 0)))) == 1, "old one intact"
    r = st.call({"type": "reschedule", "payload": {
        "confirmation_number": a["result"]["confirmation_number"].lower(),
        "patient_id": PATIENTS["Robert"], "new_start": local_day(day + 1, 8, 0)}})
    assert r["status"] == "ok", r
    assert r["result"]["previous_appointment_id"] == a["result"]["appointment_id"], r
    assert not live(st, PRACT["aadams"], epoch(local_day(day, 8, 0))), "old one released"
    assert len(live(st, PRACT["aadams"], epoch(local_day(day + 1, 8, 0)))) == 1


def test_cancel_and_waitlist_offer(st, day):
    start = local_day(day, 15, 0)
    r = book(st, PATIENTS["Robert"], PRACT["aadams"], start)
    assert r["status"] == "ok", r
    w = st.call({"type": "join_waitlist", "payload": {
        "patient_id": PATIENTS["Maria"], "appointment_type": "follow_up",
        "earliest": local_day(day, 0, 0), "latest": local_day(day + 1, 0, 0),
        "practitioner_id": PRACT["aadams"]}})
    assert w["status"] == "ok", w
    c = st.call({"type": "cancel", "payload": {
        "confirmation_number": r["result"]["confirmation_number"],
        "patient_id": PATIENTS["Robert"], "reason": "sick"}})
    assert c["status"] == "ok" and c["result"]["appointment_id"] == r["result"]["appointment_id"], c
    assert not live(st, PRACT["aadams"], epoch(start))
    ev = st.events(lambda e: e["type"] == "appointment.cancelled" and
                   e["data"].get("appointment_id") == r["result"]["appointment_id"])
    assert len(ev) == 1, ev
    offers = st.events(lambda e: e["type"] == "waitlist.offered" and
                       e["data"].get("waitlist_id") == w["result"]["waitlist_id"])
    assert len(offers) == 1, offers
    # the slot is held for Maria: another call cannot book it
    r2 = book(st, PATIENTS["Wei"], PRACT["aadams"], start)
    assert r2["status"] == "conflict", r2
    r3 = st.call({"type": "book", "payload": {
        "patient_id": PATIENTS["Maria"], "practitioner_id": PRACT["aadams"], "start": start,
        "appointment_type": "follow_up", "hold_id": offers[0]["data"]["hold_id"]}})
    assert r3["status"] == "ok", r3
    r4 = st.call({"type": "cancel", "payload": {"confirmation_number": "HKR-WXYK",
                                                 "patient_id": PATIENTS["Robert"]}})
    assert r4["status"] == "not_found", r4
    # Booking the offered slot took Maria off the waitlist.
    r5 = st.call({"type": "leave_waitlist", "payload": {"waitlist_id": w["result"]["waitlist_id"]}})
    assert r5["status"] == "not_found", r5


def test_booking_rules(st, day):
    # Rules at their boundaries are unit-tested (tests/unit/test_rules.c);
    # here: each kind of refusal reaches the agent as the contract says.
    r = book(st, PATIENTS["John"], PRACT["aadams"], local_day(day, 7, 0), "routine")
    assert r["status"] in ("rejected", "invalid") and r["error"]["code"], r  # before opening
    r = book(st, PATIENTS["John"], PRACT["aadams"], local_day(day, 16, 30), "routine")
    assert r["status"] in ("rejected", "invalid"), r  # would end after closing
    r = book(st, PATIENTS["John"], PRACT["aadams"], local_day(70, 10, 0), "routine")
    assert r["status"] == "rejected" and r["error"]["code"] == "booking_rule", r  # > 60 days
    r = book(st, PATIENTS["John"], PRACT["aadams"], local_day(day, 10, 0), "spa_day")
    assert r["status"] == "invalid" and r["error"]["code"] == "unknown_appointment_type", r


def main(fhir=False):
    with Stack(replicas=2, fhir=fhir, extra_conf="hold.default_ttl_s = 60\n") as st:
        for p in st.patients():
            PATIENTS.setdefault(p["fname"], p["uuid"])
        for p in st.practitioners():
            PRACT[p["username"]] = p["uuid"]
        tests = [(test_book_and_duplicate, 8), (test_booking_cost, 8),
                 (test_same_slot_two_replicas, 9), (test_patient_overlaps_themselves, 10),
                 (test_hold_across_replicas, 11), (test_hold_then_book_and_release, 12),
                 (test_reschedule_onto_taken_slot, 15), (test_cancel_and_waitlist_offer, 18),
                 (test_booking_rules, 19)]
        for t, day in tests:
            run(t, st, day)
    finish()


if __name__ == "__main__":
    main(fhir="--fhir" in sys.argv)
