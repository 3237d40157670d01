#!/usr/bin/python3
"""The cache warmer (issue 18): with warm.enabled, the coming days of every
practitioner are fetched ahead of demand, and a caller's own appointments
as soon as find_patient found them, so that the caller's first search
costs no OpenEMR request; with it off (the default), the same searches go
to OpenEMR.  The warmer's requests are audited."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, local_day, check, wait_until  # noqa: E402


def free_day(st):
    """A day in the warmed horizon on which the practitioner has free time
    (a search of it needs no next_available look-ahead)."""
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    day = st.free_day(practs["bbaker"], first=2)
    check(day <= 9, "a free day in the warmed horizon (%d)" % day)
    return day


def first_search_cost(st, day, patient=None):
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    s0 = st.stats()
    before, before_routes = s0["requests_total"], s0["routes"]
    payload = {"appointment_type": "follow_up", "from": local_day(day, 0, 0),
               "to": local_day(day + 1, 0, 0), "practitioner_id": practs["bbaker"], "limit": 3}
    if patient:
        payload["patient_id"] = patient
    r = st.call({"type": "search_slots", "payload": payload})
    check(r["status"] == "ok", "the search is answered (%s)" % r["status"])
    after = st.stats()
    print("OpenEMR requests of the search: %s -> %s" % (before_routes, after["routes"]),
          flush=True)
    return after["requests_total"] - before


def main():
    conf = "warm.enabled = true\nwarm.interval_s = 1\nwarm.days_ahead = 10\n"
    with Stack(replicas=1, extra_conf=conf) as st:
        # the warmer lists the practitioners and then one range per practitioner
        n_practs = len(st.practitioners())
        wait_until(lambda: st.stats()["requests_total"] >= n_practs + 1, 30,
                   "the warmer's first round")
        time.sleep(2)  # its round ends
        quiet = st.stats()["requests_total"]
        time.sleep(2.5)
        check(st.stats()["requests_total"] == quiet,
              "with every day fresh the warmer asks OpenEMR nothing more")
        cost = first_search_cost(st, free_day(st))
        check(cost == 0, "a first search of a warmed day is a cache hit (%d requests)" % cost)
        # a caller found: their own appointments are read ahead, so their
        # first search (which needs them) is a cache hit too
        found = st.call({"type": "find_patient",
                         "payload": {"phone": "6175550101", "birthdate": "1980-04-12"}})
        check(found["status"] == "ok", "the caller is found")
        patient = found["result"]["matches"][0]["patient_id"]
        time.sleep(1.0)  # the caller talks
        cost = first_search_cost(st, free_day(st), patient)
        check(cost == 0, "the caller's first search, with their own appointments, is a cache "
              "hit (%d requests)" % cost)
        st.readers["audit"].poll(1.0)
        audits = [json.loads(m["value"]) for m in st.readers["audit"].messages]
        print("audit routes: %s" % sorted({a.get("route") for a in audits}))
        check(len(audits) >= n_practs,
              "the warmer's reads are audited (%d records)" % len(audits))
    with Stack(replicas=1) as st:
        time.sleep(3)
        cost = first_search_cost(st, free_day(st))
        check(cost >= 1, "without the warmer the same first search asks OpenEMR (%d)" % cost)
        found = st.call({"type": "find_patient",
                         "payload": {"phone": "6175550101", "birthdate": "1980-04-12"}})
        time.sleep(1.0)
        cost = first_search_cost(st, free_day(st), found["result"]["matches"][0]["patient_id"])
        check(cost >= 1, "... and a caller's first search asks for their appointments (%d)" % cost)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
