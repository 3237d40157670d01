#!/usr/bin/python3
"""Saturation: three replicas and a flood of searches that miss the cache
(cache.slot_ttl_s = 1) and bookings, against a simulator that answers in
100-300 ms (one thread per connection, so that its own latency injection
neither caps the concurrency nor bunches arrivals).  The fleet must stay
within its budget, measured by the simulator: max_rps_1s <= 10 and
max_concurrency <= 5, and use it: the requests in a window in the middle of
the flood are >= 90 % of 10/s.  A second flood with 0.8-1.2 s latency makes
the in-flight limit the binding one: max_concurrency must reach 4 (reads
leave one permit to writes) and never pass 5.  Bounded: ~2 min."""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, local_day  # noqa: E402

RPS, CONC = 10, 5
SEARCHES, BOOKS = 260, 50
WINDOW = (10, 35)  # seconds after the flood starts
HOURS = [8, 9, 10, 11, 13, 14, 15, 16]


def main():
    failures = []
    t_start = time.time()
    with Stack(replicas=3, sim_args="--threads 0",
               extra_conf="cache.slot_ttl_s = 1\nlimiter.rps = %d\nlimiter.concurrency = %d\n"
               % (RPS, CONC)) as st:
        try:
            failures = scenario(st) + concurrency_phase(st)
        finally:
            if failures:
                st.failed = True
    print("total %.0fs" % (time.time() - t_start))
    for f in failures:
        print("FAIL", f)
    print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
    sys.exit(1 if failures else 0)


def scenario(st):
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    docs = [practs[u] for u in ("aadams", "bbaker", "cchen")]
    patients = [p["uuid"] for p in st.patients()]
    cmds = []
    for i in range(SEARCHES):
        d = 2 + i % 35
        cmds.append({"type": "search_slots", "payload": {
            "appointment_type": "follow_up", "from": local_day(d, 0, 0),
            "to": local_day(d + 1, 0, 0), "practitioner_id": docs[i % 3], "limit": 3}})
    for i in range(BOOKS):
        d, h = 20 + i // len(HOURS), HOURS[i % len(HOURS)]
        cmds.append({"type": "book", "payload": {
            "patient_id": patients[i % len(patients)], "practitioner_id": docs[i % 3],
            "start": local_day(d, h, 0), "appointment_type": "follow_up"}})
    # interleave: a booking every ~6 searches
    cmds.sort(key=lambda c: hash(json.dumps(c)) % 1000)
    st.admin("POST", "/faults", {"latency_ms": {"min": 100, "max": 300}})
    st.admin("POST", "/stats/reset")
    t0 = time.time()
    rids = []
    for c in cmds:
        c["request_id"] = "sat-" + uuid.uuid4().hex[:16]
        topic = "scheduling.commands." + ("book" if c["type"] == "book" else "search")
        raw = json.dumps(c).encode()
        st.producer.produce(topic, raw, key=c["request_id"], headers=st.sign(topic, raw))
        rids.append(c["request_id"])
    st.producer.flush(10)
    print("flooded %d commands in %.1fs" % (len(cmds), time.time() - t0), flush=True)
    series = []  # (seconds since t0, requests_total)
    reader = st.readers["results"]
    answered = set()
    end = t0 + 150
    while time.time() < end:
        s = st.stats()
        series.append((time.time() - t0, s["requests_total"], s["in_flight"]))
        reader.poll(0.5)
        answered = {m["headers"].get("request_id") for m in reader.messages}
        if all(r in answered for r in rids):
            break
    stats = st.stats()
    st.admin("POST", "/faults", {})
    flood_s = time.time() - t0
    statuses = {}
    for m in reader.messages:
        r = json.loads(m["value"])
        k = "%s:%s" % (r["type"], r["status"])
        statuses[k] = statuses.get(k, 0) + 1
    print("series (s, requests_total, in_flight): %s" % ", ".join(
        "%.0f:%d:%d" % x for x in series[::4]))
    w = [x for x in series if WINDOW[0] <= x[0] <= WINDOW[1]]
    failures = []
    if len(w) < 2:
        failures.append("no samples in the window %s" % (WINDOW,))
        use = 0.0
    else:
        span = w[-1][0] - w[0][0]
        use = (w[-1][1] - w[0][1]) / (RPS * span)
        print("window %.1f-%.1fs: %d requests in %.1fs = %.2f/s, budget use %.1f %%" % (
            w[0][0], w[-1][0], w[-1][1] - w[0][1], span, (w[-1][1] - w[0][1]) / span,
            100 * use))
    print("simulator: requests_total %d, max_rps_1s %d, max_concurrency %d, status %s, "
          "token_grants %s" % (stats["requests_total"], stats["max_rps_1s"],
                               stats["max_concurrency"], json.dumps(stats["status_counts"]),
                               json.dumps(stats["token_grants"])))
    print("results after %.0fs: %d of %d answered; %s" % (
        flood_s, len([r for r in rids if r in answered]), len(rids),
        json.dumps(statuses, sort_keys=True)), flush=True)
    if stats["max_rps_1s"] > RPS:
        failures.append("max_rps_1s %d > %d" % (stats["max_rps_1s"], RPS))
    if stats["max_concurrency"] > CONC:
        failures.append("max_concurrency %d > %d" % (stats["max_concurrency"], CONC))
    if use < 0.9:
        failures.append("budget use %.1f %% < 90 %% while saturated" % (100 * use))
    if series and series[-1][0] < WINDOW[1]:
        failures.append("the flood did not saturate the window (done after %.0fs)" %
                        series[-1][0])
    missing = [r for r in rids if r not in answered]
    if missing:
        failures.append("%d commands without a result, e.g. %s" % (len(missing), missing[:3]))
    return failures


def concurrency_phase(st):
    """Slow answers: the permits, not the rate, bound the fleet."""
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    docs = [practs[u] for u in ("aadams", "bbaker", "cchen")]
    patients = [p["uuid"] for p in st.patients()]
    st.admin("POST", "/faults", {"latency_ms": {"min": 800, "max": 1200}})
    time.sleep(1.5)  # the first flood's cached days expire
    st.admin("POST", "/stats/reset")
    rids = []
    for i in range(60):
        d = 2 + i % 30
        c = {"type": "search_slots", "request_id": "conc-" + uuid.uuid4().hex[:16], "payload": {
            "appointment_type": "follow_up", "from": local_day(d, 0, 0),
            "to": local_day(d + 1, 0, 0), "practitioner_id": docs[i % 3], "limit": 3}}
        if i % 6 == 0:
            c = {"type": "book", "request_id": "conc-" + uuid.uuid4().hex[:16], "payload": {
                "patient_id": patients[i % len(patients)], "practitioner_id": docs[i % 3],
                "start": local_day(30 + i // 24, HOURS[(i // 3) % len(HOURS)], 0),
                "appointment_type": "follow_up"}}
        topic = "scheduling.commands." + ("book" if c["type"] == "book" else "search")
        raw = json.dumps(c).encode()
        st.producer.produce(topic, raw, key=c["request_id"], headers=st.sign(topic, raw))
        rids.append(c["request_id"])
    st.producer.flush(10)
    t0 = time.time()
    reader = st.readers["results"]
    while time.time() < t0 + 90:
        reader.poll(0.5)
        answered = {m["headers"].get("request_id") for m in reader.messages}
        if all(r in answered for r in rids):
            break
    stats = st.stats()
    st.admin("POST", "/faults", {})
    print("slow flood: %d requests in %.0fs, max_rps_1s %d, max_concurrency %d" % (
        stats["requests_total"], time.time() - t0, stats["max_rps_1s"],
        stats["max_concurrency"]), flush=True)
    failures = []
    if stats["max_concurrency"] > CONC:
        failures.append("slow flood: max_concurrency %d > %d" % (stats["max_concurrency"], CONC))
    if stats["max_concurrency"] < CONC - 1:
        failures.append("slow flood: max_concurrency only %d: the permits were not used" %
                        stats["max_concurrency"])
    if stats["max_rps_1s"] > RPS:
        failures.append("slow flood: max_rps_1s %d > %d" % (stats["max_rps_1s"], RPS))
    missing = [r for r in rids if r not in answered]
    if missing:
        failures.append("slow flood: %d commands without a result" % len(missing))
    return failures


if __name__ == "__main__":
    main()
