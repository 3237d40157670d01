#!/usr/bin/python3
"""The cache warmer (issue 18): with warm.enabled, the coming days of every
practitioner are fetched ahead of demand, so that a caller's first search
of one of them costs no OpenEMR request; with it off (the default), the
same first search goes to OpenEMR.  The warmer's requests are audited."""
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


def first_search_cost(st, day):
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    s0 = st.stats()
    before, before_routes = s0["requests_total"], s0["routes"]
    r = st.call({"type": "search_slots", "payload": {
        "appointment_type": "follow_up", "from": local_day(day, 0, 0),
        "to": local_day(day + 1, 0, 0), "practitioner_id": practs["bbaker"], "limit": 3}})
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
        st.readers["audit"].poll(1.0)
        audits = [json.loads(m["value"]) for m in st.readers["audit"].messages]
        print("audit routes: %s" % sorted({a.get("route") for a in audits}))
        check(len(audits) >= n_practs,
              "the warmer's reads are audited (%d records)" % len(audits))
    with Stack(replicas=1) as st:
        time.sleep(3)
        cost = first_search_cost(st, free_day(st))
        check(cost >= 1, "without the warmer the same first search asks OpenEMR (%d)" % cost)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
