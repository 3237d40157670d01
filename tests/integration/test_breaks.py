#!/usr/bin/python3
"""Recurring breaks and closures end to end, with the simulator as unkind as
OpenEMR (recurring-base-row-only: a series is one row on its first date):
the stack's configuration (config/openemr-sim.conf) repeats the seed's
lunch and huddle, so no search offers them on later days; the seed's
Holidays and Closed days (no provider) close the clinic for everyone; the
poller logs and counts the provider event the configuration does not
explain (Adams' one-off Reserved team meeting on day 9)."""

import datetime
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, finish, local_day, run  # noqa: E402


def practitioner(st, username):
    return [p for p in st.practitioners() if p["username"] == username][0]["uuid"]


def wall(rfc3339):
    """Local wall-clock minutes of a time the worker wrote (its own offset)."""
    t = datetime.datetime.fromisoformat(rfc3339)
    return t.hour * 60 + t.minute


def search(st, pract, frm, to, limit=50, kind="follow_up"):
    r = st.call({"type": "search_slots",
                 "payload": {"appointment_type": kind, "from": frm, "to": to,
                             "practitioner_id": pract, "limit": limit}})
    assert r["status"] == "ok", r
    return r["result"]


def test_no_slot_in_lunch_on_any_day(st):
    """Days 3..12: the simulator lists lunch on day 0 only."""
    for user in ("cchen", "aadams"):
        res = search(st, practitioner(st, user), local_day(3), local_day(12))
        slots = res["slots"]
        assert len(slots) >= 20, slots
        for s in slots:
            a, b = wall(s["start"]), wall(s["end"])
            assert b <= 12 * 60 or a >= 13 * 60, "%s: slot in lunch: %s" % (user, s)
        # around lunch on day 5 (free for both in the seed): every slot up to it and after it
        res = search(st, practitioner(st, user), local_day(5, 11), local_day(5, 14))
        starts = [wall(s["start"]) for s in res["slots"]]
        assert starts == [660, 675, 690, 780, 795, 810], (user, res)


def test_holiday_and_closed_days_close_the_clinic(st):
    """Day 150 (Holidays) and 151 (Closed) have no provider: nobody is free."""
    for user in ("cchen", "bbaker"):
        res = search(st, practitioner(st, user), local_day(150), local_day(152))
        assert res["slots"] == [], res
        nxt = res.get("next_available")
        assert nxt and nxt["start"][:10] == local_day(152)[:10], res


def metric(st, name):
    with open(os.path.join(st.dir, "worker-1.conf")) as f:
        listen = re.search(r"^http\.listen\s*=\s*(\S+)", f.read(), re.M).group(1)
    with urllib.request.urlopen("http://%s/metrics" % listen, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_poller_reports_unexplained_provider_events(st):
    deadline = time.time() + 30  # 0 until the first check
    while time.time() < deadline and not metric(st, "schedworker_unexplained_provider_events"):
        time.sleep(0.5)
    time.sleep(2)  # more checks (every second) find nothing more
    assert metric(st, "schedworker_unexplained_provider_events") == 1
    assert metric(st, "schedworker_unexplained_provider_events_total") == 1
    adams = practitioner(st, "aadams")
    lines = [ln for ln in st.worker_log_lines() if '"module":"breakcheck"' in ln]
    assert len(lines) == 1 and "category 11" in lines[0] and adams in lines[0] and \
        "14:00-14:30" in lines[0], lines


if __name__ == "__main__":
    # a window past the seed's clinic days; the poller every second
    with Stack(replicas=1, extra_conf="type.follow_up.max_window_days = 400\n"
                                      "poller.interval_s = 1\n") as st:
        for t in (test_no_slot_in_lunch_on_any_day, test_holiday_and_closed_days_close_the_clinic,
                  test_poller_reports_unexplained_provider_events):
            run(t, st)
    finish()
