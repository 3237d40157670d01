#!/usr/bin/python3
"""One of three Apache Kafka brokers down (three KRaft nodes, each broker
and controller; topics with replication factor 3 and
min.insync.replicas=2), two replicas: node 1 stops (SIGTERM); bookings
and searches sent meanwhile are all answered while it is still down (two
of three replicas are a quorum and an in-sync set); it starts again and
the next ones are answered too.  Every answer of a request_id is the same,
every ok booking is in the calendar once (tests/reliability/
test_outages.py's checks), and the broker's committed offsets reach the
end of every command partition that was written (nothing left to
redeliver).  About 1 minute."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
from harness import Report, Stack  # noqa: E402
import brokerview  # noqa: E402
from brokerview import BrokerView  # noqa: E402
import test_outages  # noqa: E402


def test_one_of_three_down(st):
    v = BrokerView(st)
    md = st.producer.list_topics(timeout=10)
    reps = {len(p.replicas) for t in md.topics.values() if t.topic.startswith("scheduling.")
            for p in t.partitions.values()}
    assert reps == {3}, "replication factors %s" % reps
    st.stack("broker-down")
    t0 = time.time()
    during = test_outages.commands("one-down", 12, 16)
    for c in during:
        st.send(c, key=c["request_id"])
    statuses = test_outages.check_all_answered(st, during, 60)
    print("node 1 down: all %d answered within %.1fs: %s" % (len(during), time.time() - t0,
                                                             statuses))
    assert statuses.get("ok", 0) >= len(during) - 2, statuses
    live = sorted(st.producer.list_topics(timeout=10).brokers)
    assert live == [2, 3], "brokers in the metadata while node 1 is down: %s" % live
    st.stack("broker-up")
    after = test_outages.commands("one-back", 20, 8)
    for c in after:
        st.send(c, key=c["request_id"])
    statuses = test_outages.check_all_answered(st, during + after, 60)
    assert statuses.get("ok", 0) >= len(during + after) - 2, statuses
    test_outages.booked_once(st, during + after)
    parts = v.command_partitions()
    ends = v.end_offsets(parts)
    end = time.time() + 30
    while True:
        com = v.committed(parts)
        behind = {tp: (com[tp], e) for tp, e in ends.items() if e > 0 and com[tp] < e}
        if not behind:
            break
        assert time.time() < end, "offsets not committed after the outage: %s" % behind
        time.sleep(0.5)


def main():
    brokerview.skip_without_java()
    c = Report()
    t0 = time.time()
    with Stack(replicas=2, kafka="apache", brokers=3) as st:
        print("stack up in %.1fs" % (time.time() - t0), flush=True)
        practs = {p["username"]: p["uuid"] for p in st.practitioners()}
        test_outages.CTX["docs"] = [practs[u] for u in ("aadams", "bbaker", "cchen")]
        test_outages.CTX["patients"] = [p["uuid"] for p in st.patients()]
        c.run(test_one_of_three_down, st)
        if c.failed:
            st.failed = True
    print("total %.0fs" % (time.time() - t0))
    c.finish()


if __name__ == "__main__":
    main()
