#!/usr/bin/python3
"""Change notifications end to end (issue 7): the worker's own booking and
cancel each give exactly one event; appointments created, edited and
deleted in the simulator behind the worker's back are found by the poller
within two intervals, once each, and the worker's own writes are not; the
poller's replica killed hands polling to the other within the lease and
no change is missed or doubled; a freed slot goes to the waiting patient
as a waitlist.offered with a hold; every OpenEMR request naming a patient
has an audit record."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import schemas  # noqa: E402
from harness import Stack, finish, local_day, run  # noqa: E402

INTERVAL = 2
LEASE = 3
CONF = ("poller.interval_s = %d\npoller.lease_s = %d\npoller.horizon_days = 21\n"
        "waitlist.offer_ttl_s = 120\n" % (INTERVAL, LEASE))
PATIENTS = {}  # fname -> {"uuid", "pid"}
PRACT = {}     # username -> {"uuid", "id"}
LEADER_LINE = "this replica polls OpenEMR now"
WORKER_APPTS = set()  # ids (eid and uuid) of appointments the worker made
SEED_APPTS = set()    # ids of the appointments there before the test: nobody changes them


def ids_of(row):
    """The ids an event may name an appointment by (eid or uuid)."""
    return {str(row.get("pc_eid")), str(row.get("pc_uuid"))} - {"None"}


def for_appt(ids, type_=None, caused_by=None):
    def pred(e):
        d = e["data"]
        return ((d.get("appointment_id") in ids or e.get("subject") in ids) and
                (type_ is None or e["type"] == type_) and
                (caused_by is None or d.get("caused_by") == caused_by))
    return pred


def wait_events(st, pred, timeout, what):
    end = time.time() + timeout
    while True:
        ev = st.events(pred, settle=0.3)
        if ev:
            return ev
        if time.time() > end:
            raise AssertionError("no %s within %.0fs" % (what, timeout))


def front_desk_create(st, patient, pract, date_time, status="-", minutes=15):
    day, hm = date_time[:10], date_time[11:16]
    return st.admin("POST", "/appointments", {
        "pid": PATIENTS[patient]["pid"], "pc_aid": PRACT[pract]["id"], "pc_catid": 5,
        "pc_eventDate": day, "pc_startTime": hm, "pc_duration": minutes * 60,
        "pc_title": "Office Visit", "pc_hometext": "front desk", "pc_apptstatus": status,
        "pc_facility": 3, "pc_billing_location": 3})


def remember_own(st, r):
    if r["status"] != "ok":
        return
    aid = r["result"]["appointment_id"]
    WORKER_APPTS.add(aid)
    for row in st.appointments():
        if aid in ids_of(row):
            WORKER_APPTS.update(ids_of(row))


def book(st, patient, pract, start, **extra):
    payload = {"patient_id": PATIENTS[patient]["uuid"], "practitioner_id": PRACT[pract]["uuid"],
               "start": start, "appointment_type": "follow_up"}
    payload.update(extra)
    r = st.call({"type": "book", "payload": payload}, key=PRACT[pract]["uuid"])
    remember_own(st, r)
    return r


def test_worker_booking_and_cancel(st, day):
    start = local_day(day, 10, 0)
    r = book(st, "John", "aadams", start)
    assert r["status"] == "ok", r
    a = r["result"]
    aid = a["appointment_id"]
    c = st.call({"type": "cancel", "payload": {"confirmation_number": a["confirmation_number"],
                                                "patient_id": PATIENTS["John"]["uuid"],
                                                "reason": "test"}})
    assert c["status"] == "ok", c
    # Two full poll intervals (and a margin) for the poller to have seen both.
    time.sleep(2 * INTERVAL + 2)
    ev = st.events(for_appt({aid}))
    booked = [e for e in ev if e["type"] == "appointment.booked"]
    cancelled = [e for e in ev if e["type"] == "appointment.cancelled"]
    assert len(booked) == 1, "booked events: %s" % booked
    assert len(cancelled) == 1, "cancelled events: %s" % cancelled
    others = [e for e in ev if e not in booked and e not in cancelled]
    assert not others, "the poller reported the worker's own writes: %s" % others
    b, x = booked[0], cancelled[0]
    for e, rid in ((b, r["request_id"]), (x, c["request_id"])):
        assert e["data"]["caused_by"] == "worker", e
        assert e["data"].get("request_id") == rid, e
        assert e["subject"] == aid, e
    d = b["data"]
    assert d["confirmation_number"] == a["confirmation_number"], d
    assert d["patient_id"] == PATIENTS["John"]["uuid"], d
    assert d["practitioner_id"] == PRACT["aadams"]["uuid"], d
    assert d["start"] == start and d["end"] == a["end"], d
    assert d.get("appointment_type") in (None, "follow_up"), d
    d = x["data"]
    assert d["appointment_id"] == aid and d["start"] == start, d
    assert d.get("patient_id") in (None, PATIENTS["John"]["uuid"]), d
    assert b["id"] != x["id"]
    # exactly once: also by message count, not just by distinct id
    raw = [m for m in st.readers["events"].messages
           if json.loads(m["value"]).get("subject") == aid]
    assert len(raw) == 2, "%d messages for %s" % (len(raw), aid)
    assert all(m["key"] == aid for m in raw), [m["key"] for m in raw]


def test_outside_create_edit_delete(st, day):
    row = front_desk_create(st, "Wei", "bbaker", local_day(day, 9, 0))
    ids = ids_of(row)
    t0 = time.time()
    booked = wait_events(st, for_appt(ids, "appointment.booked"), 2 * INTERVAL + 1,
                         "appointment.booked for the front desk's appointment")
    print("  booked seen after %.1fs" % (time.time() - t0))
    assert booked[0]["data"]["caused_by"] == "external", booked
    assert booked[0]["data"]["patient_id"] == PATIENTS["Wei"]["uuid"], booked
    assert booked[0]["data"]["practitioner_id"] == PRACT["bbaker"]["uuid"], booked

    st.admin("POST", "/appointments/%s" % row["pc_eid"], {"pc_startTime": "09:30"})
    t0 = time.time()
    changed = wait_events(st, for_appt(ids, "appointment.changed"), 2 * INTERVAL + 1,
                          "appointment.changed")
    print("  changed seen after %.1fs" % (time.time() - t0))
    d = changed[0]["data"]
    assert d["caused_by"] == "external", d
    assert d.get("previous_start") and d["previous_start"] != d["start"], d

    st.admin("DELETE", "/appointments/%s" % row["pc_eid"])
    t0 = time.time()
    removed = wait_events(st, for_appt(ids, "appointment.removed"), 2 * INTERVAL + 1,
                          "appointment.removed")
    print("  removed seen after %.1fs" % (time.time() - t0))
    assert removed[0]["data"]["caused_by"] == "external", removed
    time.sleep(2 * INTERVAL + 1)  # more polls: nothing repeats
    ev = st.events(for_appt(ids))
    types = sorted(e["type"] for e in ev)
    assert types == ["appointment.booked", "appointment.changed", "appointment.removed"], types


def leader(st):
    """The worker index whose log last said it polls now (and did not give
    it up after)."""
    best = None
    for n in range(1, st.replicas + 1):
        path = os.path.join(st.dir, "worker-%d.log" % n)
        if not os.path.exists(path):
            continue
        with open(path, errors="replace") as f:
            lines = f.readlines()
        state = None
        for ln in lines:
            if LEADER_LINE in ln:
                state = True
            elif "no longer the poller" in ln:
                state = False
        if state:
            best = n
    return best


def leader_lines(st, n):
    path = os.path.join(st.dir, "worker-%d.log" % n)
    with open(path, errors="replace") as f:
        return sum(1 for ln in f if LEADER_LINE in ln)


def test_failover(st, day):
    end = time.time() + 15
    while leader(st) is None and time.time() < end:
        time.sleep(0.2)
    old = leader(st)
    assert old, "no replica says it polls"
    other = [n for n in range(1, st.replicas + 1) if n != old][0]
    before = leader_lines(st, other)
    # A change made just before the kill: the old leader may or may not
    # have reported it; either way it must be reported exactly once.
    pre = front_desk_create(st, "Maria", "cchen", local_day(day, 11, 0))
    time.sleep(0.5)
    st.stack("kill-worker", str(old))
    t_kill = time.time()
    post = front_desk_create(st, "Linda", "cchen", local_day(day, 14, 0))
    while leader_lines(st, other) == before:
        assert time.time() - t_kill < LEASE + 3, "polling did not move within the lease"
        time.sleep(0.1)
    took = time.time() - t_kill
    print("  worker-%d took over %.1fs after worker-%d was killed" % (other, took, old))
    assert took <= LEASE + 1.5, took
    for row in (pre, post):
        wait_events(st, for_appt(ids_of(row), "appointment.booked"), 3 * INTERVAL + 2,
                    "the booked event of %s after failover" % row["pc_eid"])
    time.sleep(2 * INTERVAL + 1)
    for row in (pre, post):
        ev = st.events(for_appt(ids_of(row)))
        assert len({e["id"] for e in ev}) == 1, "reported twice: %s" % ev
        assert [e["type"] for e in ev][:1] == ["appointment.booked"], ev
    # the new leader sees edits too
    st.admin("POST", "/appointments/%s" % post["pc_eid"], {"pc_apptstatus": "x"})
    wait_events(st, for_appt(ids_of(post), "appointment.cancelled"), 2 * INTERVAL + 1,
                "appointment.cancelled from the new leader")
    st.stack("start-worker", str(old))


def test_outside_cancel_offers_waitlist(st, day):
    start = local_day(day, 15, 0)
    row = front_desk_create(st, "Robert", "aadams", start, minutes=30)  # a follow_up's length
    wait_events(st, for_appt(ids_of(row), "appointment.booked"), 2 * INTERVAL + 1,
                "appointment.booked")
    w = st.call({"type": "join_waitlist", "payload": {
        "patient_id": PATIENTS["Aisha"]["uuid"], "appointment_type": "follow_up",
        "earliest": local_day(day, 0, 0), "latest": local_day(day, 23, 0),
        "practitioner_id": PRACT["aadams"]["uuid"]}})
    assert w["status"] == "ok", w
    wid = w["result"]["waitlist_id"]
    st.admin("POST", "/appointments/%s" % row["pc_eid"], {"pc_apptstatus": "x"})
    offers = wait_events(st, lambda e: e["type"] == "waitlist.offered" and
                         e["data"].get("waitlist_id") == wid, 2 * INTERVAL + 2,
                         "waitlist.offered")
    assert len(offers) == 1, offers
    o = offers[0]["data"]
    assert o.get("hold_id") and o.get("offer_expires_at"), o
    c = st.events(for_appt(ids_of(row), "appointment.cancelled"))
    assert len(c) == 1 and c[0]["data"]["caused_by"] == "external", c
    # the slot is held for Aisha: Wei cannot book it, Aisha with the hold can
    r = book(st, "Wei", "aadams", start)
    assert r["status"] == "conflict", r
    r = book(st, "Aisha", "aadams", start, hold_id=o["hold_id"])
    assert r["status"] == "ok", r


def test_worker_cancel_offers_waitlist(st, day):
    start = local_day(day, 16, 0)
    r = book(st, "Linda", "bbaker", start)
    assert r["status"] == "ok", r
    w = st.call({"type": "join_waitlist", "payload": {
        "patient_id": PATIENTS["Emma"]["uuid"], "appointment_type": "follow_up",
        "earliest": local_day(day, 0, 0), "latest": local_day(day, 23, 0),
        "practitioner_id": PRACT["bbaker"]["uuid"]}})
    assert w["status"] == "ok", w
    c = st.call({"type": "cancel", "payload": {
        "confirmation_number": r["result"]["confirmation_number"],
        "patient_id": PATIENTS["Linda"]["uuid"]}})
    assert c["status"] == "ok", c
    offers = wait_events(st, lambda e: e["type"] == "waitlist.offered" and
                         e["data"].get("waitlist_id") == w["result"]["waitlist_id"], 10,
                         "waitlist.offered")
    assert len(offers) == 1, offers
    assert offers[0]["data"]["caused_by"] == "worker", offers
    r2 = book(st, "Olivia", "bbaker", start)
    assert r2["status"] == "conflict", "the offered slot was not held: %s" % r2


def norm_route(method, route):
    """'GET /apis/default/api/patient/:puuid/appointment' and the simulator's
    'GET /api/patient/:id/appointment' to one form."""
    route = route.split("?", 1)[0]
    if route.startswith(method + " "):
        route = route[len(method) + 1:]
    route = re.sub(r"^/apis/default", "", route)
    route = re.sub(r"/:[A-Za-z_]+", "/:id", route)
    route = re.sub(r"/[0-9a-f-]{36}|/[0-9]+(?=/|$)", "/:id", route)
    return "%s %s" % (method, route)


def patient_route(r):
    low = r.lower()
    return "patient" in low or "appointment" in low


def audit_counts(st):
    reader = st.readers["audit"]
    reader.poll(0.5)
    counts = {}
    for m in reader.messages:
        rec = json.loads(m["value"])
        errs = schemas.errors("audit", rec)
        assert not errs, "audit record breaks the schema: %s\n%s" % (errs, rec)
        k = norm_route(rec["what"]["method"], rec["what"]["route"])
        if "/patient/" in k:
            assert rec["what"].get("patient_id"), "no patient_id: %s" % rec
        assert rec["who"]["worker_id"].startswith("worker-"), rec
        counts[k] = counts.get(k, 0) + 1
    return counts


def sim_counts(st):
    out = {}
    for k, n in st.stats()["routes"].items():
        if "(" in k:
            continue  # faults and resets: no request reached a handler
        method, path = k.split(" ", 1)
        if path.startswith("/oauth2") or not patient_route(path):
            continue
        key = norm_route(method, path)
        out[key] = out.get(key, 0) + n
    return out


def test_audit_covers_patient_requests(st, _day):
    # something that reads a patient by name too
    r = st.call({"type": "find_patient", "payload": {"phone": "617-555-0200",
                                                      "birthdate": "1962-01-15"}})
    assert r["status"] in ("ok", "not_found"), r
    before = sim_counts(st)
    assert before, "no patient routes in the simulator's stats: %s" % st.stats()["routes"]
    end = time.time() + 20
    while True:
        have = audit_counts(st)
        missing = {k: (n, have.get(k, 0)) for k, n in before.items() if have.get(k, 0) < n}
        if not missing:
            break
        if time.time() > end:
            raise AssertionError("patient requests without audit records "
                                 "(route: sim count, audit count): %s\naudit routes: %s" %
                                 (missing, have))
        time.sleep(0.5)
    after = sim_counts(st)
    extra = {k: n for k, n in have.items() if n > after.get(k, 0)}
    assert not extra, "audit records for requests the simulator never saw: %s vs %s" % (
        extra, after)
    print("  %d patient requests, all audited: %s" % (sum(before.values()), before))


def test_own_writes_never_external(st, _day):
    """The poller keeps polling while the worker reads its own rows back
    (a FHIR id then maps to the pc_eid): none of the worker's appointments
    may ever be reported as an outside change."""
    r = book(st, "Olivia", "cchen", local_day(7, 13, 0))
    assert r["status"] == "ok", r
    time.sleep(2 * INTERVAL + 1)  # the poller has it under its FHIR id
    # reading the patient's appointments through the standard API teaches
    # the fleet that FHIR id's pc_eid
    r = st.call({"type": "list_appointments", "payload": {"patient_id": PATIENTS["Olivia"]["uuid"]}})
    assert r["status"] == "ok", r
    time.sleep(2 * INTERVAL + 1)
    assert WORKER_APPTS
    bad = st.events(lambda e: e["data"].get("caused_by") == "external" and
                    (e["data"].get("appointment_id") in WORKER_APPTS or
                     e["subject"] in WORKER_APPTS))
    assert not bad, "the poller reported the worker's own appointments: %s" % bad
    # Across the whole run, no appointment is booked (or removed) twice
    # under its two ids: every row still in the simulator names both.
    alias = {}
    for row in st.appointments():
        for i in ids_of(row):
            alias[i] = str(row.get("pc_uuid"))
    seen = {}
    for e in st.events(lambda e: e["type"] in ("appointment.booked", "appointment.removed")):
        aid = e["data"].get("appointment_id")
        k = (e["type"], alias.get(aid, aid))
        seen.setdefault(k, set()).add(e["id"])
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert not twice, "reported twice under different ids: %s" % twice
    seed = st.events(lambda e: e["data"].get("appointment_id") in SEED_APPTS)
    assert not seed, "untouched appointments reported (%d), e.g. %s" % (len(seed), seed[:2])


def test_stale_poller_keeps_quiet(st, day):
    """A poll whose listing arrives after its lease ran out (OpenEMR slow,
    the replica frozen) meets a newer view: another replica has polled and
    seen the worker's cancel meanwhile.  The old listing must not be
    reported as the cancel undone, nor put back as the snapshot (which
    would make the next poll report the cancel as an outside one)."""
    r = book(st, "John", "bbaker", local_day(day, 10, 0))
    assert r["status"] == "ok", r
    aid = r["result"]["appointment_id"]
    time.sleep(2 * INTERVAL + 1)  # the poller has it, booked
    slow = LEASE * 2 + 1
    st.admin("POST", "/faults", {"routes": "/fhir/Appointment", "slow_body_ms": slow * 1000})
    time.sleep(INTERVAL + 0.5)  # a poll's listing is now on its slow way
    st.admin("POST", "/faults", {})
    c = st.call({"type": "cancel", "payload": {"confirmation_number":
                                               r["result"]["confirmation_number"],
                                               "patient_id": PATIENTS["John"]["uuid"],
                                               "reason": "test"}})
    assert c["status"] == "ok", c
    time.sleep(slow + 2 * INTERVAL + 2)
    dropped = sum(worker_log(st, n).count("the poll is dropped") +
                  worker_log(st, n).count("this poll's snapshot is dropped")
                  for n in range(1, st.replicas + 1))
    assert dropped, "no poll outlived its lease: the test did not test"
    bad = st.events(lambda e: e["data"].get("caused_by") == "external" and
                    (e["data"].get("appointment_id") in WORKER_APPTS or
                     e["subject"] in WORKER_APPTS))
    assert not bad, "a stale poll reported the worker's own writes: %s" % bad
    ev = st.events(for_appt({aid}))
    assert sorted(e["type"] for e in ev) == ["appointment.booked", "appointment.cancelled"], ev


def worker_log(st, n):
    path = os.path.join(st.dir, "worker-%d.log" % n)
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def main(fhir=False):
    with Stack(replicas=2, fhir=fhir, extra_conf=CONF) as st:
        for p in st.patients():
            PATIENTS.setdefault(p["fname"], {"uuid": p["uuid"], "pid": p["pid"]})
        for p in st.practitioners():
            PRACT[p["username"]] = {"uuid": p["uuid"], "id": p["id"]}
        for row in st.appointments():
            SEED_APPTS.update(ids_of(row))
        tests = [(test_worker_booking_and_cancel, 2), (test_outside_create_edit_delete, 3),
                 (test_failover, 4), (test_outside_cancel_offers_waitlist, 5),
                 (test_worker_cancel_offers_waitlist, 6),
                 (test_audit_covers_patient_requests, 0),
                 (test_stale_poller_keeps_quiet, 8), (test_own_writes_never_external, 0)]
        for t, day in tests:
            run(t, st, day)
    finish()


if __name__ == "__main__":
    main(fhir="--fhir" in sys.argv)
