#!/usr/bin/python3
"""Outages of the fleet's own infrastructure, with 2 replicas:
Redis stopped mid-run (commands sent meanwhile wait: no OpenEMR write and no
answer without idempotency; all answered once Redis is back) and one broker
of a 3-broker embedded cluster down for 10 s (nothing lost).  ~2 min."""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, finish, local_day, run  # noqa: E402

HOURS = [8, 9, 10, 11, 13, 14, 15, 16]
CTX = {}


def commands(tag, day, n):
    """n mixed commands: bookings on distinct slots and cache-missing searches."""
    out = []
    for i in range(n):
        doc = CTX["docs"][i % 3]
        if i % 2 == 0:
            c = {"type": "book", "payload": {
                "patient_id": CTX["patients"][(i // 2) % len(CTX["patients"])],
                "practitioner_id": doc, "start": local_day(day + i // 16, HOURS[(i // 2) % 8], 0),
                "appointment_type": "follow_up"}}
        else:
            c = {"type": "search_slots", "payload": {
                "appointment_type": "follow_up", "from": local_day(day + 10 + i, 0, 0),
                "to": local_day(day + 11 + i, 0, 0), "practitioner_id": doc}}
        c["request_id"] = "%s-%s" % (tag, uuid.uuid4().hex[:12])
        out.append(c)
    return out


def posts(st):
    return sum(v for k, v in st.stats()["routes"].items() if k.startswith(("POST", "DELETE",
                                                                                  "PUT")))


def check_all_answered(st, cmds, timeout):
    reader = st.readers["results"]
    end = time.time() + timeout
    rids = [c["request_id"] for c in cmds]
    while True:
        by = {}
        for m in reader.messages:
            by.setdefault(m["headers"].get("request_id"), []).append(m["value"])
        missing = [r for r in rids if r not in by]
        if not missing or time.time() > end:
            break
        reader.poll(0.5)
    assert not missing, "%d of %d commands never answered, e.g. %s" % (
        len(missing), len(rids), missing[:3])
    for r in rids:
        assert len(set(by[r])) == 1, "%s answered differently: %s" % (r, by[r])
    statuses = {}
    for r in rids:
        s = json.loads(by[r][0])["status"]
        statuses[s] = statuses.get(s, 0) + 1
    return statuses


def booked_once(st, cmds):
    """Every ok booking is in the calendar exactly once."""
    reader = st.readers["results"]
    confs = {}
    for m in reader.messages:
        r = json.loads(m["value"])
        if r.get("type") == "book" and r["status"] == "ok":
            confs[r["result"]["confirmation_number"]] = m["headers"]["request_id"]
    mine = {c["request_id"] for c in cmds}
    count = {}
    for a in st.appointments():
        home = (a.get("pc_hometext") or "").split()
        if home and home[0] in confs:
            count[home[0]] = count.get(home[0], 0) + 1
    for conf, rid in confs.items():
        if rid in mine:
            assert count.get(conf) == 1, "%s (%s) is %s times in the calendar" % (
                rid, conf, count.get(conf))


def test_redis_restart(st):
    before = commands("pre-redis", 5, 6)
    for c in before:
        st.send(c)
    check_all_answered(st, before, 60)
    st.stack("stop-redis")
    writes0, total0 = posts(st), st.stats()["requests_total"]
    during = commands("redis-down", 8, 12)
    for c in during:
        st.send(c)
    t0 = time.time()
    reader = st.readers["results"]
    while time.time() < t0 + 8:
        reader.poll(0.5)
    answered = [m["headers"].get("request_id") for m in reader.messages
                if m["headers"].get("request_id", "").startswith("redis-down")]
    writes1, total1 = posts(st), st.stats()["requests_total"]
    print("redis down 8s: %d answers, OpenEMR writes %d -> %d, requests %d -> %d" % (
        len(answered), writes0, writes1, total0, total1))
    assert writes1 == writes0, "OpenEMR writes while Redis was down"
    assert not answered, "answered without idempotency: %s" % answered
    st.stack("start-redis")
    t1 = time.time()
    statuses = check_all_answered(st, before + during, 90)
    print("redis back: all %d answered %.1fs later: %s" % (len(during), time.time() - t1,
                                                           statuses))
    assert statuses.get("ok", 0) >= len(during) + len(before) - 2, statuses
    booked_once(st, before + during)


def test_broker_down(st):
    st.stack("broker-down")
    t0 = time.time()
    cmds = commands("broker-down", 12, 16)
    for c in cmds:
        topic = "scheduling.commands." + ("book" if c["type"] == "book" else "search")
        raw = json.dumps(c).encode()
        st.producer.produce(topic, raw, key=c["request_id"], headers=st.sign(topic, raw))
    st.producer.poll(0)
    while time.time() < t0 + 10:
        st.readers["results"].poll(0.5)
    st.stack("broker-up")
    st.producer.flush(30)
    statuses = check_all_answered(st, cmds, 90)
    print("broker down 10s: all %d answered %.1fs after it came back: %s" % (
        len(cmds), time.time() - t0 - 10, statuses))
    assert statuses.get("ok", 0) >= len(cmds) - 2, statuses
    booked_once(st, cmds)


def main():
    with Stack(replicas=2, brokers=3) as st:
        practs = {p["username"]: p["uuid"] for p in st.practitioners()}
        CTX["docs"] = [practs[u] for u in ("aadams", "bbaker", "cchen")]
        CTX["patients"] = [p["uuid"] for p in st.patients()]
        run(test_redis_restart, st)
        run(test_broker_down, st)
    finish()


if __name__ == "__main__":
    main()
