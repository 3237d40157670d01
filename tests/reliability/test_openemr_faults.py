#!/usr/bin/python3
"""OpenEMR failing, with 2 replicas: 500 on everything for 30 s (the fleet's
circuit opens: few requests reach OpenEMR, commands answer `unavailable`
quickly; after the fault it closes through a probe and commands succeed;
no command lost), 429 with Retry-After (the whole fleet stays away for that
long), and a command whose deadline passed (expired, no OpenEMR request,
no appointment).  breaker.open_s = 10 keeps it short.  ~2.5 min."""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, finish, local_day, run  # noqa: E402

OPEN_S = 10
CTX = {"day": 3}


def search(tag, key=None):
    """A search that misses the cache: a day never asked before."""
    CTX["day"] += 1
    return {"type": "search_slots", "request_id": "%s-%s" % (tag, uuid.uuid4().hex[:12]),
            "payload": {"appointment_type": "follow_up", "from": local_day(CTX["day"], 0, 0),
                        "to": local_day(CTX["day"] + 1, 0, 0),
                        "practitioner_id": CTX["docs"][CTX["day"] % 3]}}


def book(tag, day, hour):
    return {"type": "book", "request_id": "%s-%s" % (tag, uuid.uuid4().hex[:12]),
            "payload": {"patient_id": CTX["patients"][hour % len(CTX["patients"])],
                        "practitioner_id": CTX["docs"][hour % 3],
                        "start": local_day(day, hour, 0), "appointment_type": "follow_up"}}


def answers(st, rid):
    return [json.loads(m["value"]) for m in st.readers["results"].messages
            if m["headers"].get("request_id") == rid]


def test_500_for_30s(st):
    # Warm up: ids mapped, token fetched.
    r = st.call(search("warm"))
    assert r["status"] == "ok", r
    st.admin("POST", "/stats/reset")
    st.admin("POST", "/faults", {"rate_500": 1.0})
    t0 = time.time()
    sent = []  # (rid, sent at)
    series = []
    i = 0
    while time.time() < t0 + 30:
        c = search("e500") if i % 4 else book("e500", 20 + i // 16, [8, 9, 10, 11, 13, 14, 15, 16][
            (i // 4) % 8])
        st.send(c, key=c["request_id"])
        sent.append((c["request_id"], time.time()))
        i += 1
        st.readers["results"].poll(1.0)
        series.append((time.time() - t0, st.stats()["requests_total"]))
    during = st.stats()["requests_total"]
    st.admin("POST", "/faults", {})
    t_clear = time.time()
    print("500s for 30s: %d commands, %d OpenEMR requests; growth %s" % (
        len(sent), during, ", ".join("%.0f:%d" % x for x in series[::3])), flush=True)
    # No storm: the breaker opens after 5 failures, each replica's in-flight
    # reads retry a few times, then a probe every OPEN_S.
    assert during <= 40, "%d OpenEMR requests in 30 s of 500s: a retry storm" % during
    late = [n for t, n in series if t >= 15]
    assert late and late[-1] - late[0] <= 8, "requests kept growing with the circuit open: %s" % (
        series,)
    # Commands sent while it was open answered unavailable, quickly.
    reader = st.readers["results"]
    reader.poll(2.0)
    quick = 0
    for rid, at in sent:
        a = answers(st, rid)
        if a and a[0]["status"] == "unavailable":
            quick += 1
    print("answered unavailable: %d of %d" % (quick, len(sent)), flush=True)
    assert quick >= len(sent) * 0.7, "only %d of %d commands answered unavailable" % (
        quick, len(sent))
    # After the fault: the circuit closes (a probe) and commands succeed.
    ok_at = None
    while time.time() < t_clear + OPEN_S + 20:
        r = st.call(search("after"), timeout=30)
        if r["status"] == "ok":
            ok_at = time.time()
            break
        time.sleep(0.5)
    assert ok_at, "the circuit never closed"
    print("first ok %.1fs after the fault was cleared" % (ok_at - t_clear), flush=True)
    for _ in range(3):
        r = st.call(search("after"))
        assert r["status"] == "ok", r
    # No command lost: every request_id has an answer (unavailable or not).
    missing = [rid for rid, _ in sent if not answers(st, rid)]
    end = time.time() + 30
    while missing and time.time() < end:
        reader.poll(1.0)
        missing = [rid for rid, _ in sent if not answers(st, rid)]
    assert not missing, "%d commands never answered: %s" % (len(missing), missing[:3])
    # A booking answered unavailable made no appointment.
    made = set()
    for a in st.appointments():
        home = (a.get("pc_hometext") or "").split()
        if home:
            made.add(home[0])
    for rid, _ in sent:
        for a in answers(st, rid):
            if a["type"] == "book" and a["status"] == "ok":
                assert a["result"]["confirmation_number"] in made


def test_429_retry_after(st):
    st.admin("POST", "/faults", {"rate_429": 1.0, "retry_after": 3})
    st.admin("POST", "/stats/reset")
    cmds = [search("r429") for _ in range(4)]
    for c in cmds:
        st.send(c, key=c["request_id"])
    t_first = None
    end = time.time() + 15
    while time.time() < end:
        if st.stats()["requests_total"] > 0:
            t_first = time.time()
            break
        time.sleep(0.02)
    assert t_first, "no request reached OpenEMR"
    time.sleep(0.3)  # requests already on their way
    n0 = st.stats()["requests_total"]
    time.sleep(2.4)  # inside the Retry-After window
    n1 = st.stats()["requests_total"]
    st.admin("POST", "/faults", {})
    print("429 Retry-After 3: %d requests at once, %d more in the next 2.4 s" % (n0, n1 - n0),
          flush=True)
    assert n1 == n0, "%d requests during the Retry-After window" % (n1 - n0)
    for c in cmds:
        r = st.result(c["request_id"], timeout=30)
        assert r["status"] in ("ok", "unavailable"), r
    oks = [st.result(c["request_id"])["status"] for c in cmds].count("ok")
    print("after the window: %d of %d ok" % (oks, len(cmds)), flush=True)
    assert oks >= 1, "nothing succeeded after the back-off"


def test_deadline_passed(st):
    before = st.stats()["requests_total"]
    c = book("late", 25, 10)
    c["deadline"] = "2020-01-01T00:00:00Z"
    r = st.call(c)
    assert r["status"] == "expired", r
    c2 = search("late")
    c2["deadline"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    r2 = st.call(c2)
    assert r2["status"] == "expired", r2
    time.sleep(0.5)
    assert st.stats()["requests_total"] == before, "an expired command reached OpenEMR"
    start = c["payload"]["start"]
    for a in st.appointments():
        assert not (a.get("pce_aid_uuid") == c["payload"]["practitioner_id"] and
                    a.get("puuid") == c["payload"]["patient_id"] and
                    a.get("pc_eventDate") == start[:10]), "an expired booking was made: %s" % a


def main():
    with Stack(replicas=2, extra_conf="breaker.open_s = %d\n" % OPEN_S) as st:
        practs = {p["username"]: p["uuid"] for p in st.practitioners()}
        CTX["docs"] = [practs[u] for u in ("aadams", "bbaker", "cchen")]
        CTX["patients"] = [p["uuid"] for p in st.patients()]
        run(test_deadline_passed, st)
        run(test_500_for_30s, st)
        run(test_429_retry_after, st)
    finish()


if __name__ == "__main__":
    main()
