#!/usr/bin/python3
"""The test harness's own logic, without starting anything: Calendar counts
days as the simulator's seed does (weekdays, across weekends, DST changes,
year ends and leap days, in the clinic's zone whatever the machine's), a
free day skips the practitioner's seeded events, and Stack and Sim pass
the suite-wide and per-test broker and simulator options through."""
import datetime
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import Calendar, Stack, check, finish, run  # noqa: E402

D = datetime.date


def test_days_count_weekdays():
    fri = Calendar(D(2027, 3, 12))  # Friday before the spring DST change
    check([fri.date(n) for n in range(-1, 4)] ==
          [D(2027, 3, 11), D(2027, 3, 12), D(2027, 3, 15), D(2027, 3, 16), D(2027, 3, 17)],
          "from a Friday: day -1 Thursday, day 1 Monday, day 3 Wednesday")
    sat = Calendar(D(2027, 3, 13))
    check(sat.date(0) == D(2027, 3, 13) and sat.date(1) == D(2027, 3, 15),
          "from a Saturday: day 0 is that Saturday, day 1 Monday")
    check(Calendar(D(2026, 12, 31)).date(1) == D(2027, 1, 1), "across the year end")
    check(Calendar(D(2028, 2, 28)).date(1) == D(2028, 2, 29), "onto a leap day")


def test_times_carry_the_clinics_offset():
    fri = Calendar(D(2027, 3, 12))
    check(fri.at(0, 9) == "2027-03-12T09:00:00-05:00", "Friday before the change: EST")
    check(fri.at(1, 9) == "2027-03-15T09:00:00-04:00", "the Monday after: EDT")
    check(fri.epoch(1, 9) - fri.epoch(0, 9) == 3 * 86400 - 3600,
          "Friday 09:00 to Monday 09:00 is 71 real hours")
    start, end = Calendar(D(2027, 11, 5)).bounds(2)  # Tuesday after the fall change
    check(start == harness.epoch("2027-11-09T00:00:00-05:00") and end - start == 86400,
          "a day's bounds are its local midnights")
    os.environ["TZ"] = "Pacific/Auckland"
    check(fri.at(1, 9) == "2027-03-15T09:00:00-04:00", "the machine's zone changes nothing")


def test_free_day_skips_seeded_events():
    cal = Calendar(D(2026, 12, 7))
    rows = [{"pce_aid_uuid": "baker", "pc_catid": "8", "pc_eventDate": "2026-12-09"},  # lunch
            {"pce_aid_uuid": "baker", "pc_catid": "4", "pc_eventDate": "2026-12-10"},  # vacation
            {"pce_aid_uuid": "adams", "pc_catid": "5", "pc_eventDate": "2026-12-11"}]
    check(cal.free_day(rows, "baker", first=2) == 2, "lunch and markers leave a day free")
    check(cal.free_day(rows, "baker", first=3) == 4, "a whole-day vacation does not")
    check(cal.free_day(rows, "adams", first=4) == 5, "an appointment does not")


def up_args(**kw):
    st = Stack(**kw)
    shutil.rmtree(st.dir, ignore_errors=True)
    return st.up_args, st.kafka_args, st.sim_args


def test_stack_passes_options_through():
    for k in ("SCHED_TEST_KAFKA", "SCHED_TEST_OPENEMR"):
        os.environ.pop(k, None)
    check(up_args() == (["--replicas", "1"], [], []), "nothing extra by default")
    check(up_args(replicas=3, kafka="apache", brokers=3) ==
          (["--replicas", "3", "--kafka", "apache", "--brokers", "3"], [], []),
          "kafka and brokers go to tools/stack up")
    check(up_args(brokers=3)[1] == ["--brokers", "3"],
          "without a broker kind, brokers go to the embedded broker")
    check(up_args(openemr="8", sim_args="--threads 0")[2] == ["--threads", "0", "--openemr", "8"],
          "simulator flags and profile go to the simulator")
    check(up_args(stack_args=["--tls"])[0][-1] == "--tls", "other tools/stack up flags too")
    os.environ["SCHED_TEST_KAFKA"] = "apache"
    os.environ["SCHED_TEST_OPENEMR"] = "7.0.3"
    a, _, s = up_args(replicas=2)
    check(a == ["--replicas", "2", "--kafka", "apache"] and s == ["--openemr", "7.0.3"],
          "SCHED_TEST_KAFKA and SCHED_TEST_OPENEMR are the suite-wide default")
    a, _, s = up_args(kafka="", openemr="")
    check(a == ["--replicas", "1"] and s == [],
          "a test can still ask for the embedded broker and the default profile")
    check(harness.Sim("--tls").args == ["--tls", "--openemr", "7.0.3"],
          "a simulator started alone gets the profile too")


for t in (test_days_count_weekdays, test_times_carry_the_clinics_offset,
          test_free_day_skips_seeded_events, test_stack_passes_options_through):
    run(t)
finish()
