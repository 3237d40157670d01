#!/usr/bin/python3
"""Waitlist offers: a cancelled slot is offered to the longest-waiting
matching patient and held for them; when they do not book it in time, the
next one is offered it; booking through the offer's hold takes the patient
off the waitlist."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, finish, local_day, run  # noqa: E402

CONF = "poller.interval_s = 2\npoller.lease_s = 3\nwaitlist.offer_ttl_s = 10\n"


def test_offer_passes_on(st):
    pts = {p["fname"]: p["uuid"] for p in st.patients()}
    pract = [p for p in st.practitioners() if p["username"] == "cchen"][0]["uuid"]
    start = local_day(14, 11, 0)
    r = st.call({"type": "book", "payload": {
        "patient_id": pts["Robert"], "practitioner_id": pract, "start": start,
        "appointment_type": "follow_up"}})
    assert r["status"] == "ok", r
    waits = {}
    for name in ("Maria", "Wei"):  # Maria waits longer
        w = st.call({"type": "join_waitlist", "payload": {
            "patient_id": pts[name], "appointment_type": "follow_up",
            "earliest": local_day(14, 0, 0), "latest": local_day(15, 0, 0),
            "practitioner_id": pract}})
        assert w["status"] == "ok", w
        waits[name] = w["result"]["waitlist_id"]
        time.sleep(0.05)
    c = st.call({"type": "cancel", "payload": {
        "confirmation_number": r["result"]["confirmation_number"], "patient_id": pts["Robert"]}})
    assert c["status"] == "ok", c

    def offers(name):
        return st.events(lambda e: e["type"] == "waitlist.offered" and
                         e["data"]["waitlist_id"] == waits[name], settle=0.5)

    first = offers("Maria")
    assert len(first) == 1 and not offers("Wei"), "the longest-waiting patient first"
    # Maria lets the offer run out (10 s); the leader's poller passes it on.
    end = time.time() + 30
    while time.time() < end and not offers("Wei"):
        time.sleep(1)
    second = offers("Wei")
    assert len(second) == 1, "the next patient is offered the slot"
    assert second[0]["data"]["start"] == first[0]["data"]["start"]
    b = st.call({"type": "book", "payload": {
        "patient_id": pts["Wei"], "practitioner_id": pract, "start": start,
        "appointment_type": "follow_up", "hold_id": second[0]["data"]["hold_id"]}})
    assert b["status"] == "ok", b
    gone = st.call({"type": "leave_waitlist", "payload": {"waitlist_id": waits["Wei"]}})
    assert gone["status"] == "not_found", "booking the offer took Wei off the waitlist"
    still = st.call({"type": "leave_waitlist", "payload": {"waitlist_id": waits["Maria"]}})
    assert still["status"] == "ok", "Maria stays on the waitlist for other slots"
    time.sleep(3)
    assert len(offers("Maria")) == 1 and len(offers("Wei")) == 1, "no offer is made twice"


if __name__ == "__main__":
    with Stack(replicas=1, extra_conf=CONF) as st:
        run(test_offer_passes_on, st)
    finish()
