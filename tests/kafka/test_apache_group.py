#!/usr/bin/python3
"""The worker's consumer group on Apache Kafka (one KRaft node, three
replicas), each check read from outside: the broker's own view of the
group (members, assignments, committed offsets), the results and
dead-letter topics, the simulator's counts.

  - joined: cooperative-sticky, Stable, three members named by worker.id,
    the 18 command partitions split among them
  - answers and dead letters on a real broker
  - SIGTERM: in-flight commands are answered once, their offsets committed
    (nothing to redeliver), the replica leaves the group at once, and the
    others keep the partitions they had (cooperative-sticky)
  - SIGKILL: the dead replica's partitions go to the others after the
    session timeout, its unanswered commands are answered by them; replicas
    that join take partitions without the others giving up all of theirs
  - offsets only after delivery: while OpenEMR is slow, a command's offset
    is not committed before its result is on the results topic; a SIGKILL
    then makes another replica answer it
  - static membership (kafka.group.instance.id, session timeout 30 s): a
    replica killed and started again takes its place at once with the same
    partitions, which nobody else had meanwhile (a dynamic member's return
    waits for the dead one's session to expire)
  - broker restart: the one broker stops (SIGTERM) and starts again while
    commands are sent; every command answered once, every booking made once,
    and the results topic's batches carry the idempotent producer's ids and
    sequence numbers
About 3 minutes."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
from harness import Report, Stack  # noqa: E402
import brokerview  # noqa: E402
from brokerview import BrokerView, send_to  # noqa: E402

JOHN = {"phone": "617-555-0101", "birthdate": "1980-04-12"}
SEARCH = "scheduling.commands.search"
VIEW = {}
STATIC_SESSION_MS = 30000


def find_patient():
    return {"type": "find_patient", "payload": JOHN}


def answers(st, rids, timeout=60, settle=2.0):
    """{rid: [results]} once every rid has one; then a little longer, so
    that a second answer would be seen too."""
    reader = st.readers["results"]
    end = time.time() + timeout
    while True:
        got = {}
        for m in reader.messages:
            rid = m["headers"].get("request_id")
            if rid in rids:
                got.setdefault(rid, []).append(json.loads(m["value"]))
        if len(got) == len(rids):
            break
        assert time.time() < end, "%d of %d commands never answered" % (len(rids) - len(got),
                                                                         len(rids))
        reader.poll(0.2)
    reader.poll(settle)
    got = {}
    for m in reader.messages:
        rid = m["headers"].get("request_id")
        if rid in rids:
            got.setdefault(rid, []).append(json.loads(m["value"]))
    return got


def of_search(parts):
    return sorted(tp for tp in parts if tp[0] == SEARCH)


def test_joined(st):
    v = VIEW["v"]
    s = v.state()
    assert s["strategy"] == "cooperative-sticky", s
    m = v.wait_members(lambda m: len(m) == 3, 30, "had three members")
    assert set(m) == {"worker-1", "worker-2", "worker-3"}, m.keys()
    allp = v.command_partitions()
    assert len(allp) == 18, allp
    owned = [tp for parts in m.values() for tp in parts]
    assert len(owned) == len(set(owned)) and set(owned) == allp, m
    assert all(len(parts) >= 4 for parts in m.values()), {k: len(p) for k, p in m.items()}


def test_answers_and_dead_letters(st):
    r = st.call(find_patient())
    assert r["status"] == "ok" and r["result"]["matches"][0]["family_name"] == "Smith", r
    st.send(None, topic=SEARCH, raw=b"{not json, real broker")
    d = st.readers["dlq"].wait_for(lambda m: m["value"] == b"{not json, real broker", 30,
                                   "dead letter")
    assert d[0]["headers"]["dlq_reason_code"] == "bad_json", d[0]["headers"]
    rid = st.send({"type": "find_patient", "payload": {"phone": "617-555-0101"}})
    r = st.result(rid)
    assert r["status"] == "invalid", r
    st.readers["dlq"].wait_for(lambda m: rid.encode() in m["value"], 30, "dead letter")


def slow_openemr(st, ms):
    st.admin("POST", "/faults", {"latency_ms": {"min": ms, "max": ms}, "routes": "/fhir/"}
           if ms else {})


def search_owner(m):
    """The member holding the most search partitions (their commands can be
    find_patient, which reads OpenEMR)."""
    return max(sorted(m), key=lambda w: len(of_search(m[w])))


def all_back(v, n=3):
    return v.wait_members(lambda m: len(m) == n and sum(map(len, m.values())) == 18 and
                          all(m.values()), 60, "took %d members" % n)


def test_sigterm_drains_and_leaves(st):
    v = VIEW["v"]
    before = all_back(v)
    w = search_owner(before)
    mine = of_search(before[w])
    assert mine, before
    slow_openemr(st, 1500)
    try:
        rids = [send_to(st, mine[i % len(mine)], find_patient()) for i in range(6)]
        st.producer.flush(10)
        st.readers["results"].poll(0.7)  # fetched, now waiting on OpenEMR
        st.stack("stop-worker", w[-1])   # returns once the process is gone
        after = v.members()
    finally:
        slow_openemr(st, 0)
    assert w not in after, "%s still a member after it stopped: %s" % (w, after.keys())
    got = answers(st, set(rids))
    twice = {r: len(x) for r, x in got.items() if len(x) > 1}
    assert not twice, "answered more than once after a drain: %s" % twice
    assert all(x[0]["status"] == "ok" for x in got.values()), got
    ends = v.end_offsets(mine)
    com = v.committed(mine)
    assert com == ends, "a drained replica left offsets uncommitted: committed %s, ends %s" % (
        com, ends)
    m = all_back(v, 2)
    for o in before:
        if o != w:
            assert before[o] <= m[o], "%s gave up partitions it had: %s" % (
                o, sorted(before[o] - m[o]))
    st.stack("start-worker", w[-1])


def test_sigkill_moves_partitions_and_join(st):
    v = VIEW["v"]
    before = all_back(v)
    w = search_owner(before)
    dead = of_search(before[w])
    st.stack("kill-worker", w[-1])
    rids = [send_to(st, dead[i % len(dead)], find_patient()) for i in range(4)]
    st.producer.flush(10)
    mid = v.wait_members(lambda m: w not in m and sum(map(len, m.values())) == 18, 40,
                         "gave the dead replica's partitions to the others")
    for o in mid:
        assert before[o] <= mid[o], "%s lost partitions when %s died: %s" % (
            o, w, sorted(before[o] - mid[o]))
    got = answers(st, set(rids), timeout=60)
    assert all(len(x) == 1 and x[0]["status"] == "ok" for x in got.values()), got
    # It joins again: the others only give partitions up, none change hands
    # between them (sticky), and the newcomer gets some.
    st.stack("start-worker", w[-1])
    after = all_back(v)
    for o in mid:
        assert after[o] <= mid[o], "%s got partitions it did not have when %s joined: %s" % (
            o, w, sorted(after[o] - mid[o]))
    assert after[w], after
    r = st.call(find_patient())
    assert r["status"] == "ok", r


def test_offsets_only_after_delivery(st):
    v = VIEW["v"]
    m = all_back(v)
    w = search_owner(m)
    target = of_search(m[w])[0]
    slow_openemr(st, 4000)
    try:
        first = v.end_offsets([target])[target]
        rid = send_to(st, target, find_patient())
        st.producer.flush(10)
        # Past two auto-commit intervals (1 s) while the command waits on OpenEMR.
        st.readers["results"].poll(2.5)
        assert not [x for x in st.readers["results"].messages
                    if x["headers"].get("request_id") == rid], "answered despite 4 s latency"
        com = v.committed([target])[target]
        assert com <= first, "offset %d committed before its result was delivered (%d)" % (
            com, first)
        st.stack("kill-worker", w[-1])
    finally:
        slow_openemr(st, 0)
    got = answers(st, {rid}, timeout=60)
    assert got[rid][0]["status"] == "ok", got
    end = time.time() + 30
    while v.committed([target])[target] <= first:
        assert time.time() < end, "the redelivered command's offset was never committed"
        time.sleep(0.5)
    st.stack("start-worker", w[-1])
    all_back(v)


def test_static_membership(st):
    v = VIEW["v"]
    for i in (1, 2, 3):
        with open(os.path.join(st.dir, "worker-%d.conf" % i), "a") as f:
            # A session long enough to tell the two kinds of rejoin apart
            # even on a loaded machine.
            f.write("kafka.group.instance.id = static-worker-%d\n"
                    "kafka.session.timeout.ms = %d\n" % (i, STATIC_SESSION_MS))
        st.stack("stop-worker", str(i))
        st.stack("start-worker", str(i))
    before = all_back(v)
    rows0 = {r["CLIENT-ID"]: r for r in v.member_rows()}
    assert rows0["worker-2"].get("GROUP-INSTANCE-ID") == "static-worker-2", rows0["worker-2"]
    st.stack("kill-worker", "2")
    t_kill = time.time()
    time.sleep(2.0)
    during = v.members()
    st.stack("start-worker", "2")
    # A dynamic member coming back is a new member: the rebalance it starts
    # waits for the dead one's session to expire.  A static one takes its
    # place at once, with its partitions, and nobody had them meanwhile.
    left = STATIC_SESSION_MS / 1000 - 5 - (time.time() - t_kill)
    after = v.wait_members(lambda m: m == before, max(left, 0), "gave worker-2 its partitions "
                           "back well before the dead incarnation's session expired")
    back = time.time() - t_kill
    print("worker-2 back with its %d partitions %.1fs after the kill (session %ds)" % (
        len(after["worker-2"]), back, STATIC_SESSION_MS // 1000), flush=True)
    assert back < STATIC_SESSION_MS / 1000 - 5, \
        "worker-2 got its partitions back only %.1fs after the kill: after a rebalance that " \
        "waited for the dead member's session (%ds), not as a static member" % (
            back, STATIC_SESSION_MS // 1000)
    assert during.get("worker-2") == before["worker-2"], \
        "worker-2's partitions moved while it was away: %s -> %s" % (before["worker-2"],
                                                                    during.get("worker-2"))
    rows1 = {r["CLIENT-ID"]: r for r in v.member_rows()}
    assert rows1["worker-2"]["GROUP-INSTANCE-ID"] == "static-worker-2", rows1["worker-2"]
    assert rows1["worker-2"]["CONSUMER-ID"] != rows0["worker-2"]["CONSUMER-ID"], \
        "the same member id: worker-2 never came back as a new incarnation"
    r = st.call(find_patient())
    assert r["status"] == "ok", r


def test_broker_restart(st):
    import test_outages
    practs = {p["username"]: p["uuid"] for p in st.practitioners()}
    test_outages.CTX["docs"] = [practs[u] for u in ("aadams", "bbaker", "cchen")]
    test_outages.CTX["patients"] = [p["uuid"] for p in st.patients()]
    test_outages.test_broker_down(st)
    batches = VIEW["v"].result_batches()
    assert batches, "no batches in the results topic's segments"
    pids = {b.get("producerId") for b in batches}
    assert "-1" not in pids, "a results batch without a producer id (not idempotent): %s" % pids
    assert all(int(b.get("baseSequence", "-1")) >= 0 for b in batches), \
        "a results batch without a sequence number"
    print("results topic: %d batches from %d producer ids, all with sequence numbers" % (
        len(batches), len(pids)))


def main():
    brokerview.skip_without_java()
    c = Report()
    t0 = time.time()
    with Stack(replicas=3, kafka="apache", extra_conf="limiter.rps = 30\n") as st:
        VIEW["v"] = BrokerView(st)
        print("stack up in %.1fs" % (time.time() - t0), flush=True)
        for t in (test_joined, test_answers_and_dead_letters, test_sigterm_drains_and_leaves,
                  test_sigkill_moves_partitions_and_join, test_offsets_only_after_delivery,
                  test_static_membership, test_broker_restart):
            c.run(t, st)
        if c.failed:
            st.failed = True
    print("total %.0fs" % (time.time() - t0))
    c.finish()


if __name__ == "__main__":
    main()
