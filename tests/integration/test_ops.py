#!/usr/bin/python3
"""Operations and security end to end (issue 8): /metrics counters move as
the commands sent imply; /healthz; /readyz flips to 503 naming Redis while
Redis is down and back to 200; the Redis token record holds no token text;
a full run's worker logs and /metrics output hold no token, client secret,
password or patient name.  (Signed commands: tests/security/.)"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, ROOT, Stack, finish, local_day, run  # noqa: E402

import redis  # noqa: E402

PATIENTS = {}
PRACT = {}
SEEN_NAMES = set()  # patient names that find_patient returned (so they were handled)


# ---- helpers -------------------------------------------------------------
def http_base(st, n=1):
    with open(os.path.join(st.dir, "worker-%d.conf" % n)) as f:
        for line in f:
            m = re.match(r"\s*http\.listen\s*=\s*(\S+)", line)
            if m:
                return "http://" + m.group(1)
    raise AssertionError("no http.listen in worker-%d.conf" % n)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(st):
    status, text = get(http_base(st) + "/metrics")
    assert status == 200, status
    return text


def parse(text):
    """{(name, frozenset(labels)): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$', line)
        assert m, "not Prometheus text: %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    """Sum of the series of name whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def send_write(st, command):
    """Sends a write command (the harness signs it); returns the request_id."""
    command = dict(command)
    command.setdefault("request_id", "ops-%d-%d" % (os.getpid(), time.time_ns()))
    return st.send(command, key=command["request_id"].encode())


def book_cmd(patient, pract, start):
    return {"type": "book", "payload": {
        "patient_id": PATIENTS[patient], "practitioner_id": PRACT[pract], "start": start,
        "appointment_type": "follow_up"}}


def api_requests(st):
    return st.stats()["requests_total"]


# ---- tests -----------------------------------------------------------------
def test_healthz(st):
    status, body = get(http_base(st) + "/healthz")
    assert status == 200, (status, body)
    status, body = get(http_base(st) + "/readyz")
    assert status == 200, (status, body)
    assert json.loads(body)["ready"] is True, body


def test_metrics_move(st):
    m0 = parse(scrape(st))
    sim0 = st.stats()
    search = {"type": "search_slots", "payload": {
        "appointment_type": "follow_up", "from": local_day(3, 8, 0), "to": local_day(3, 17, 0),
        "practitioner_id": PRACT["cchen"], "limit": 3}}
    r1 = st.call(dict(search))
    r2 = st.call(dict(search))
    assert r1["status"] == r2["status"] == "ok", (r1, r2)
    fp = st.call({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                      "birthdate": "2015-03-03"}})
    assert fp["status"] == "ok", fp
    for mt in fp["result"]["matches"]:
        SEEN_NAMES.update([mt["given_name"], mt["family_name"]])
    slot = r1["result"]["slots"][0]
    rid = send_write(st, book_cmd("John", "cchen", slot["start"]))
    b = st.result(rid)
    assert b["status"] == "ok", b
    rid = send_write(st, book_cmd("Wei", "cchen", slot["start"]))
    c = st.result(rid)
    assert c["status"] == "conflict", c
    time.sleep(1.5)  # the monitor refreshes gauges every second
    m1 = parse(scrape(st))
    sim1 = st.stats()

    def delta(name, **labels):
        return value(m1, name, **labels) - value(m0, name, **labels)

    assert delta("schedworker_commands_total", type="search_slots", status="ok") == 2
    assert delta("schedworker_commands_total", type="find_patient", status="ok") == 1
    assert delta("schedworker_commands_total", type="book", status="ok") == 1
    assert delta("schedworker_commands_total", type="book", status="conflict") == 1
    assert delta("schedworker_commands_total") == 5, delta("schedworker_commands_total")
    assert delta("schedworker_command_duration_seconds_count", type="search_slots") == 2
    assert delta("schedworker_command_duration_seconds_count", type="book") == 2
    assert delta("schedworker_bookings_total") == 2, delta("schedworker_bookings_total")
    assert delta("schedworker_booking_conflicts_total") == 1
    assert delta("schedworker_slot_cache_requests_total", result="hit") >= 1, \
        "the repeated search was not served from the cache"
    # every OpenEMR API request the simulator saw is in the histogram
    api = sum(n for k, n in sim1["routes"].items() if "/oauth2/" not in k) - \
        sum(n for k, n in sim0["routes"].items() if "/oauth2/" not in k)
    hist = delta("schedworker_openemr_request_duration_seconds_count")
    assert api >= 2 and hist >= api, "histogram counted %s, simulator saw %s" % (hist, api)
    assert hist <= sim1["requests_total"] - sim0["requests_total"], (hist, sim0, sim1)
    # buckets are cumulative and end at the count
    for (n, ls), v in m1.items():
        if n == "schedworker_openemr_request_duration_seconds_bucket" and ("le", "+Inf") in ls:
            rest = frozenset(x for x in ls if x[0] != "le")
            assert m1[("schedworker_openemr_request_duration_seconds_count", rest)] == v
    assert value(m1, "schedworker_circuit_state", state="closed") == 1
    assert value(m1, "schedworker_circuit_state", state="open") == 0
    print("  +%d OpenEMR requests in the histogram (%d API requests at the simulator)" % (
        hist, api))


def issued_tokens(st):
    toks = [t["token"] for t in st.admin("GET", "/tokens")]
    assert toks, "the simulator issued no tokens"
    return toks


def test_redis_token_record_has_no_token(st):
    r = redis.Redis.from_url(st.env["REDIS_URL"], socket_timeout=5)
    keys = list(r.scan_iter(match="sched:*token*", count=100))
    assert keys, "no token record in Redis"
    tokens = issued_tokens(st)
    for k in keys:
        t = r.type(k).decode()
        if t == "string":
            raw = r.get(k) or b""
        elif t == "hash":
            raw = b"\n".join(a + b"=" + b for a, b in r.hgetall(k).items())
        else:
            raw = repr(r.dump(k)).encode()
        assert raw, k
        for tok in tokens:
            for part in {tok, tok.split(".")[-1]}:  # the whole token and its signature part
                assert part.encode() not in raw, "%s holds token text" % k.decode()
    # no other key either (cache, idempotency, snapshot...)
    for k in r.scan_iter(match="*", count=500):
        if r.type(k) != b"string":
            continue
        raw = r.get(k) or b""
        for tok in tokens:
            assert tok.split(".")[-1].encode() not in raw, "%s holds token text" % k.decode()
    print("  %d token keys, %d issued tokens checked" % (len(keys), len(tokens)))


def test_readyz_follows_redis(st):
    base = http_base(st)

    def wait_status(want, timeout):
        end = time.time() + timeout
        while True:
            status, body = get(base + "/readyz")
            if status == want:
                return body
            if time.time() > end:
                raise AssertionError("/readyz stayed %s (%s), wanted %s" % (status, body, want))
            time.sleep(0.2)

    wait_status(200, 10)
    st.stack("stop-redis")
    t0 = time.time()
    try:
        body = wait_status(503, 10)
        print("  503 after %.1fs: %s" % (time.time() - t0, body.strip()))
        d = json.loads(body)
        assert d["redis"] is False and d["ready"] is False, d
        status, _ = get(base + "/healthz")
        assert status == 200, "alive even without Redis"
    finally:
        st.stack("start-redis")
    t0 = time.time()
    body = wait_status(200, 30)
    print("  200 again %.1fs after Redis started: %s" % (time.time() - t0, body.strip()))
    r = st.call({"type": "list_appointments", "payload": {"patient_id": PATIENTS["John"]}})
    assert r["status"] == "ok", r


def test_no_secrets_in_logs_or_metrics(st):
    tokens = issued_tokens(st)
    logs = "".join(st.worker_log_lines())
    metrics = scrape(st)
    assert len(logs) > 1000 and "schedworker_commands_total" in metrics
    names = set()
    for p in st.patients():
        names.update([p["fname"], p["lname"]])
    assert SEEN_NAMES and SEEN_NAMES <= names, "find_patient handled names: %s" % SEEN_NAMES
    for where, text in (("worker logs", logs), ("/metrics", metrics)):
        for tok in tokens:
            assert tok not in text and tok.split(".")[-1] not in text, \
                "an issued token is in the %s" % where
        for secret in ("sched-worker-secret", "scheduler-pass"):
            assert secret not in text, "%r is in the %s" % (secret, where)
        for name in names:
            m = re.search(r"\b%s\b" % re.escape(name), text)
            assert not m, "patient name %r in the %s: ...%s..." % (
                name, where, text[max(0, m.start() - 80):m.end() + 80])
    print("  %d log bytes, %d metrics bytes, %d tokens, %d names checked" % (
        len(logs), len(metrics), len(tokens), len(names)))


def main():
    st = Stack(replicas=1)
    st.extra_conf = "cache.slot_ttl_s = 300\n"
    with st:
        for p in st.patients():
            PATIENTS.setdefault(p["fname"], p["uuid"])
        for p in st.practitioners():
            PRACT[p["username"]] = p["uuid"]
        for t in (test_healthz, test_metrics_move,
                  test_redis_token_record_has_no_token, test_readyz_follows_redis,
                  test_no_secrets_in_logs_or_metrics):
            run(t, st)
    finish()


if __name__ == "__main__":
    main()
