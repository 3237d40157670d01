#!/usr/bin/python3
"""The red-team suite (issue 19): one test per abuse in docs/threat-model.md,
each driving a 2-replica stack from outside as that attacker would (their
own Kafka producer and HMAC code, plain HTTP, a Redis client), and each
asserting that the abuse fails and that nothing else changed: no OpenEMR
request (the simulator's request counter), no new Redis key but those the
test explains, no message on an output topic but the dead letter it expects.

Tests of the lead's controls (asks 3 and 5 of issue 19) are here too; two of
them wait for the lead (skipped: SEC_RUN_LEAD=1 runs them)."""

import json
import uuid
import hashlib
import hmac
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

from seclib import (BUILD, ROOT, TOPICS, Runner, Snapshot, Stack, command, keys_file, local_day,
                    needs_lead, produce, rds, send, signed, sim)

CTX = {}


def john(st):
    return next(p for p in st.patients() if p["fname"] == "John")


def lunch(st):
    """A provider's Lunch event (no patient) in the simulator."""
    return next(a for a in st.appointments() if a.get("pc_title") == "Lunch" and
                a.get("pc_pid") in ("0", None, ""))


def find_john(st):
    j = john(st)
    return {"phone": j["phone_home"], "birthdate": j["DOB"]}


def http_base(st, n=1):
    with open(os.path.join(st.dir, "worker-%d.conf" % n)) as f:
        for line in f:
            m = re.match(r"\s*http\.listen\s*=\s*(\S+)", line)
            if m:
                return "http://" + m.group(1)
    raise AssertionError("no http.listen in worker-%d.conf" % n)


def get(url, method="GET"):
    """(status, body); status 0 when nothing listens."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def results_of(got, rid):
    return [json.loads(m["value"]) for m in got["results"] if m["headers"].get("request_id") == rid]


# ---- a producer without a key ---------------------------------------------------------

def test_unsigned_find_patient_into_events(st):
    """Issue 19's first finding: an unsigned find_patient naming the events
    topic as reply_to put patients' names into the notification stream."""
    snap = Snapshot(st)
    send(st, command("find_patient", find_john(st), reply_to=TOPICS["events"]), unsigned=True,
         headers=[("reply_to", TOPICS["events"].encode())])
    dl = snap.wait_dlq("unauthenticated")
    assert "unsigned" in dl[0]["headers"]["dlq_reason"], dl[0]["headers"]
    snap.check(dlq=["unauthenticated"], what="unsigned find_patient")


def test_unsigned_request_id_reuse_gets_nothing(st):
    """Issue 19's second finding: an unsigned list_appointments reusing an
    earlier find_patient's request_id got that command's result back."""
    cmd = command("find_patient", find_john(st))
    st.result(st.send(cmd))  # the agent's own, signed
    snap = Snapshot(st)
    send(st, command("list_appointments", {"patient_id": john(st)["uuid"]},
                     request_id=cmd["request_id"]), unsigned=True)
    snap.wait_dlq("unauthenticated")
    snap.check(dlq=["unauthenticated"], what="unsigned reuse of a request_id")


def test_unsigned_cancel_of_lunch(st):
    """Issue 19's third finding: an unsigned cancel naming only a provider's
    Lunch event deleted it."""
    ev = lunch(st)
    snap = Snapshot(st)
    send(st, command("cancel", {"appointment_id": ev["pc_eid"]}), unsigned=True)
    send(st, command("cancel", {"appointment_id": ev["pc_uuid"]}), unsigned=True)
    snap.wait_dlq("unauthenticated")
    snap.check(dlq=["unauthenticated"] * 2, what="unsigned cancel")
    assert any(a["pc_eid"] == ev["pc_eid"] for a in st.appointments()), "the Lunch event is gone"


def test_unsigned_on_every_topic(st):
    """Every command type, unsigned, on its own topic: each is a dead letter."""
    j = john(st)["uuid"]
    start = local_day(6, 10, 0)
    cmds = [
        command("search_slots", {"appointment_type": "routine", "from": local_day(6, 8, 0),
                                 "to": local_day(6, 17, 0)}),
        command("find_patient", find_john(st)),
        command("list_appointments", {"patient_id": j}),
        command("hold", {"practitioner_id": CTX["pract"], "start": start,
                         "appointment_type": "routine"}),
        command("release_hold", {"hold_id": "h-1"}),
        command("book", {"patient_id": j, "practitioner_id": CTX["pract"], "start": start,
                         "appointment_type": "routine"}),
        command("reschedule", {"appointment_id": "206", "new_start": start}),
        command("join_waitlist", {"patient_id": j, "appointment_type": "routine",
                                  "earliest": local_day(6, 8, 0), "latest": local_day(7, 17, 0)}),
        command("cancel", {"appointment_id": "206"}),
        command("leave_waitlist", {"waitlist_id": "w-1"}),
    ]
    snap = Snapshot(st)
    for c in cmds:
        send(st, c, unsigned=True)
    snap.wait_dlq("unauthenticated")
    snap.check(dlq=["unauthenticated"] * len(cmds), what="unsigned commands")


def test_unsigned_cannot_answer_for_another_request_id(st):
    """Answer spoofing: a producer without a key sends a broken or refused
    command under a caller's request_id, hoping the worker answers
    `invalid`/`rejected` for it; the worker answers nobody."""
    cmd = command("find_patient", find_john(st))
    first = st.result(st.send(cmd))
    assert first["status"] == "ok", first
    snap = Snapshot(st)
    produce(st, TOPICS["search"], b'{"type": "find_patient", "request_id": "%s"' %
            cmd["request_id"].encode(), headers=[("request_id", cmd["request_id"].encode())])
    send(st, dict(cmd, payload={"phone": "1"}), unsigned=True)
    snap.wait_dlq("unauthenticated")
    snap.check(dlq=["unauthenticated"] * 2, what="spoofed answers")


def test_unsigned_flood(st):
    """300 unsigned commands: each a dead letter, none reaches Redis or
    OpenEMR, and the worker still answers a signed command at once."""
    snap = Snapshot(st)
    for i in range(300):
        st.producer.produce(TOPICS["book" if i % 2 else "search"],
                            json.dumps(command("find_patient", find_john(st))).encode())
    st.producer.flush(30)
    end = time.time() + 60
    while len(snap.new("dlq")) < 300 and time.time() < end:
        st.readers["dlq"].poll(0.2)
    snap.check(dlq=["unauthenticated"] * 300, what="unsigned flood")
    r = st.call({"type": "find_patient", "payload": find_john(st)}, timeout=20)
    assert r["status"] == "ok", r


# ---- a forger, a tamperer, a replayer -----------------------------------------------

def test_forged_signature(st):
    """Signatures not made with the key they name: a made-up secret under the
    agent's key id, an unknown key id, a malformed one, another message's."""
    cmd = command("find_patient", find_john(st))
    value = json.dumps(cmd).encode()
    topic = TOPICS["search"]
    other = signed(st, topic, b'{"another": "message"}')
    variants = [
        signed(st, topic, value, secret=os.urandom(32)),
        signed(st, topic, value, key_id="intruder", secret=os.urandom(32)),
        [h for h in signed(st, topic, value) if h[0] != "x-signature"] +
        [("x-signature", b"v1=" + b"0" * 64)],
        [h for h in signed(st, topic, value) if h[0] != "x-signature"] +
        [("x-signature", b"sha256=" + b"0" * 64)],
        [h for h in signed(st, topic, value) if h[0] != "x-signature"] +
        [h for h in other if h[0] == "x-signature"],
        [h for h in signed(st, topic, value) if h[0] != "x-key-id"],
        [h for h in signed(st, topic, value) if h[0] != "x-signed-at"],
    ]
    snap = Snapshot(st)
    for hs in variants:
        produce(st, topic, value, hs)
    snap.wait_dlq("unauthenticated")
    got = snap.check(dlq=["unauthenticated"] * len(variants), what="forged signatures")
    reasons = " | ".join(m["headers"]["dlq_reason"] for m in got["dlq"])
    for word in ("does not match", "unknown key id", "malformed", "x-key-id", "x-signed-at"):
        assert word in reasons, "no dead letter says %r: %s" % (word, reasons)


def test_altered_after_signing(st):
    """A signed command changed on the way: its value, a signed header added
    or changed, a signed header repeated, or the message moved to another
    topic.  None is accepted."""
    j = john(st)
    cmd = command("list_appointments", {"patient_id": j["uuid"]})
    value = json.dumps(cmd).encode()
    search = TOPICS["search"]
    good = signed(st, search, value, headers=[("request_id", cmd["request_id"].encode())])
    other_patient = next(p for p in st.patients() if p["fname"] == "Maria")["uuid"]
    cases = [
        (search, value.replace(j["uuid"].encode(), other_patient.encode()), good),
        (search, value, good + [("reply_to", b"scheduling.results.x")]),
        (search, value, [h if h[0] != "request_id" else ("request_id", b"other") for h in good]),
        (search, value, good + [("correlation_id", b"c-1")]),
        (search, value, good + [("request_id", cmd["request_id"].encode())]),  # repeated
        (TOPICS["book"], value, good),
        (TOPICS["cancel"], value, good),
    ]
    snap = Snapshot(st)
    for topic, v, hs in cases:
        produce(st, topic, v, hs)
    snap.wait_dlq("unauthenticated")
    snap.check(dlq=["unauthenticated"] * len(cases), what="altered commands")


def test_replayed_message(st):
    """A signed find_patient read off the command topic and produced again,
    byte for byte (once with another Kafka key, so that it may land on the
    other replica): one answer, one OpenEMR search, the copies dead
    letters."""
    cmd = command("find_patient", find_john(st))
    value, headers = send(st, cmd, key=b"caller-1")
    first = st.result(cmd["request_id"])
    assert first["status"] == "ok", first
    time.sleep(0.5)
    snap = Snapshot(st)
    produce(st, TOPICS["search"], value, headers, key=b"caller-1")
    produce(st, TOPICS["search"], value, headers, key=b"someone-else")
    snap.wait_dlq("unauthenticated")
    got = snap.check(dlq=["unauthenticated"] * 2, what="replays")
    assert all("replayed" in m["headers"]["dlq_reason"] for m in got["dlq"]), \
        [m["headers"]["dlq_reason"] for m in got["dlq"]]


def test_expired_and_future_timestamp(st):
    """A signature older (or newer) than auth.max_skew_s (300 s): refused,
    even though it is the agent's."""
    now = int(time.time() * 1000)
    snap = Snapshot(st)
    for at in (now - 330000, now - 86400000, now + 330000):
        send(st, command("find_patient", find_john(st)), signed_at=at)
    snap.wait_dlq("unauthenticated")
    got = snap.check(dlq=["unauthenticated"] * 3, what="stale signatures")
    assert all("window" in m["headers"]["dlq_reason"] for m in got["dlq"]), got["dlq"]


def test_refused_before_any_lookup(st):
    """A signature the replay guard refuses, on a command whose ids need
    OpenEMR to be told (numbers nobody looked up): refused before the
    lookup, with no OpenEMR request.  Stale signatures, and a booking
    produced again byte for byte after a first copy that was stale too."""
    now = int(time.time() * 1000)
    snap = Snapshot(st)
    for i, at in enumerate((now - 330000, now - 86400000)):
        book = command("book", {"patient_id": str(987650 + i), "practitioner_id": str(98760 + i),
                                "start": local_day(7, 10, 0), "appointment_type": "routine"})
        value, headers = send(st, book, signed_at=at)
        produce(st, TOPICS["book"], value, headers, key=b"someone-else")
    snap.wait_dlq("unauthenticated")
    got = snap.check(dlq=["unauthenticated"] * 4, what="refused ahead of a pid lookup")
    assert all("window" in m["headers"]["dlq_reason"] for m in got["dlq"]), got["dlq"]


# ---- a key with a narrower role -----------------------------------------------------

def test_reader_key_on_write_topics(st):
    """A `reader` key (search only) on the book and cancel topics."""
    j = john(st)["uuid"]
    snap = Snapshot(st)
    send(st, command("book", {"patient_id": j, "practitioner_id": CTX["pract"],
                              "start": local_day(7, 10, 0), "appointment_type": "routine"}),
         key_id="stack-reader")
    send(st, command("cancel", {"appointment_id": lunch(st)["pc_eid"]}), key_id="stack-reader")
    snap.wait_dlq("forbidden")
    got = snap.check(dlq=["forbidden"] * 2, what="reader key on writes")
    assert all("stack-reader" in m["headers"]["dlq_reason"] for m in got["dlq"])
    # the same key may search
    cmd = command("find_patient", find_john(st))
    send(st, cmd, key_id="stack-reader")
    r = st.result(cmd["request_id"])
    assert r["status"] == "ok", r


def test_operator_key_without_replay(st):
    """The `operator` key may only replay a dead letter (a signed
    dlq_replayed_from): a fresh booking with it is refused."""
    snap = Snapshot(st)
    send(st, command("book", {"patient_id": john(st)["uuid"], "practitioner_id": CTX["pract"],
                              "start": local_day(7, 11, 0), "appointment_type": "routine"}),
         key_id="stack-operator")
    snap.wait_dlq("forbidden")
    snap.check(dlq=["forbidden"], what="operator key without a replay")


# ---- a key holder aiming results elsewhere --------------------------------------------

def test_reply_to_forbidden_topics(st):
    """A signed find_patient (patients' names and birth dates in its result)
    whose reply_to names the events, audit, dead-letter or a command topic,
    or another team's topic, in the body or the header: answered `invalid`
    on scheduling.results, nothing run, nothing on the named topic."""
    targets = [TOPICS["events"], TOPICS["audit"], TOPICS["dlq"], TOPICS["book"],
               TOPICS["search"], "billing.invoices", "scheduling.resultsX"]
    rids = []
    snap = Snapshot(st)
    for t in targets:
        cmd = command("find_patient", find_john(st), reply_to=t)
        send(st, cmd)
        rids.append(cmd["request_id"])
    cmd = command("find_patient", find_john(st))
    send(st, cmd, headers=[("reply_to", TOPICS["events"].encode())])
    rids.append(cmd["request_id"])
    snap.wait_dlq("reply_to_not_allowed")
    got = snap.check(dlq=["reply_to_not_allowed"] * len(rids), results=len(rids), keys=["replay:"],
                     what="reply_to abuse")
    for rid in rids:
        r = results_of(got, rid)
        assert len(r) == 1 and r[0]["status"] == "invalid" and \
            r[0]["error"]["code"] == "reply_to_not_allowed", r
        assert "matches" not in r[0].get("result", {}), r[0]
    # an allowed per-caller topic under the prefix still works
    cmd = command("find_patient", find_john(st), reply_to="scheduling.results.agent-7")
    send(st, cmd)
    end = time.time() + 20
    while not rds(st).exists("sched:idem:" + cmd["request_id"]) and time.time() < end:
        time.sleep(0.1)
    assert rds(st).exists("sched:idem:" + cmd["request_id"]), "the allowed reply_to was not run"


# ---- what the lead's controls stop (asks 3 and 5, merged from inv14) ---------------------

def test_request_id_reused_across_types(st):
    """A signed list_appointments reusing a find_patient's request_id: answered
    `invalid` (request_id_reused), never with the stored result."""
    cmd = command("find_patient", find_john(st))
    st.result(st.send(cmd))
    snap = Snapshot(st)
    again = command("list_appointments", {"patient_id": john(st)["uuid"]},
                    request_id=cmd["request_id"])
    send(st, again)
    got = snap.check(results=1, keys=["replay:"], what="request_id reuse")
    r = results_of(got, cmd["request_id"])[0]
    assert r["status"] == "invalid" and r["error"]["code"] == "request_id_reused", r


def test_request_id_reuse_preempts_booking(st):
    """A find_patient under the request_id a booking will use later must not
    answer (or block) that booking."""
    rid = "rt-pre-" + str(time.time())
    st.result(st.send(command("find_patient", find_john(st), request_id=rid)))
    book = command("book", {"patient_id": john(st)["uuid"], "practitioner_id": CTX["pract"],
                            "start": local_day(8, 10, 0), "appointment_type": "routine"},
                   request_id=rid)
    snap = Snapshot(st)
    send(st, book)
    # the first write command on this Redis reads the ledger back: "epoch"
    got = snap.check(results=1, keys=["replay:", "epoch"], what="request_id pre-emption")
    r = results_of(got, rid)[0]
    assert r["status"] == "invalid" and r["error"]["code"] == "request_id_reused", r


def test_numeric_patient_id_walk(st):
    """list_appointments (and a search leaving out a patient's time) for
    patient ids 1..5 (OpenEMR's numeric pids): refused unread, OpenEMR not
    asked; the patient_id find_patient returns (a uuid) is the only key."""
    snap = Snapshot(st)
    for pid in ("1", "2", "03", "Patient/4", "5"):
        r = st.call(command("list_appointments", {"patient_id": pid}))
        assert r["status"] == "invalid" and r["error"]["code"] == "numeric_patient_id", r
    r = st.call(command("search_slots", {"appointment_type": "routine", "patient_id": "1",
                                         "from": local_day(6, 8, 0), "to": local_day(6, 17, 0)}))
    assert r["status"] == "invalid" and r["error"]["code"] == "numeric_patient_id", r
    snap.check(results=6, keys=["replay:"], what="numeric pid walk")


def test_signed_cancel_of_provider_event(st):
    """A signed cancel naming a provider's Lunch event (by pc_eid and uuid):
    refused, the event stays."""
    ev = lunch(st)
    for aid in (ev["pc_eid"], ev["pc_uuid"]):
        r = st.call(command("cancel", {"appointment_id": aid, "patient_id": john(st)["uuid"]}))
        assert r["status"] != "ok", r
    assert any(a["pc_eid"] == ev["pc_eid"] for a in st.appointments()), "the Lunch event is gone"


def test_cancel_and_reschedule_need_the_patient(st):
    """cancel and reschedule naming only an appointment id, or another
    patient: refused, the appointment stays booked."""
    j = john(st)["uuid"]
    maria = next(p for p in st.patients() if p["fname"] == "Maria")["uuid"]
    appt = st.call(command("list_appointments", {"patient_id": j}))["result"]["appointments"][0]
    for payload in ({"appointment_id": appt["appointment_id"]},
                    {"appointment_id": appt["appointment_id"], "patient_id": maria}):
        r = st.call(command("cancel", payload))
        assert r["status"] != "ok", r
    r = st.call(command("reschedule", {"appointment_id": appt["appointment_id"],
                                       "new_start": local_day(9, 10, 0)}))
    assert r["status"] != "ok", r
    again = st.call(command("list_appointments", {"patient_id": j}))["result"]["appointments"]
    assert any(a["appointment_id"] == appt["appointment_id"] and a["status"] == "booked"
               for a in again), again


def confirmation(token_key, request_id, k):
    """The k-th confirmation number of a request (src/confirmation.c), from
    the fleet's token key: written here from its description, not its code."""
    key = hmac.new(token_key, b"schedworker confirmation numbers v1", hashlib.sha256).digest()
    mac = hmac.new(key, b"schedworker confirmation v1\0" + request_id.encode() + b"\0" +
                   str(k).encode(), hashlib.sha256).digest()
    payload = mac[0] << 16 | mac[1] << 8 | mac[2]
    alphabet = "0123456789HKRWXY"
    for _ in range(17):
        v = [(payload >> (4 * (5 - i))) & 0xF for i in range(6)]
        check = (17 - sum((i + 1) * x for i, x in enumerate(v)) % 17) % 17 * 5 % 17
        if check < 16:
            s = "".join(alphabet[x] for x in v + [check])
            return s[:3] + "-" + s[3:]
        payload = (payload + 1) & 0xFFFFFF
    raise AssertionError("no code")


def test_confirmation_numbers_unpredictable(st):
    """Confirmation numbers come from a keyed derivation of the request_id
    (issue 14): recomputed here from the fleet's key they match, from any
    other key they do not, so knowing a request_id tells nothing."""
    rid = "rt-conf-" + uuid.uuid4().hex
    r = st.call(command("book", {"patient_id": john(st)["uuid"], "practitioner_id": CTX["pract"],
                                 "start": local_day(10, 9, 0), "appointment_type": "routine"},
                        request_id=rid))
    assert r["status"] == "ok", r
    got = r["result"]["confirmation_number"]
    fleet_key = bytes.fromhex(open(os.path.join(st.dir, "token.key")).read().strip())
    assert got in [confirmation(fleet_key, rid, k) for k in range(8)], got
    others = {confirmation(os.urandom(32), rid, 0) for _ in range(20)}
    assert got not in others or len(others) < 20, (got, others)


# ---- the metrics port, logs, dead letters, Redis ---------------------------------------

def test_metrics_port_leaks_nothing(st):
    """/metrics, /healthz, /readyz and whatever else an attacker on the
    metrics port asks: no patient name, birth date, phone, id or MRN, no
    token or secret, and no echo of what was asked."""
    # make the worker handle PHI first, and a command whose type is a name
    st.call({"type": "find_patient", "payload": find_john(st)})
    produce(st, TOPICS["search"], json.dumps(command("John Smith", {})).encode(),
            signed(st, TOPICS["search"], json.dumps(command("John Smith", {})).encode()))
    time.sleep(1.5)
    base = http_base(st)
    pages = []
    for path, method in (("/metrics", "GET"), ("/healthz", "GET"), ("/readyz", "GET"),
                         ("/metrics?patient=John", "GET"), ("/readyz/../metrics", "GET"),
                         ("/patients/946da61d-6b88-4d7a-9f6e-000000000001", "GET"),
                         ("/metrics", "POST"), ("/metrics", "DELETE")):
        status, body = get(base + path, method)
        pages.append((path, status, body))
        assert status in (200, 404, 405), (path, status)
        assert "946da61d" not in body and "patient=" not in body, (path, body[:200])
    words = set()
    for p in st.patients():
        words.update(w for w in (p["fname"], p["lname"], p["DOB"], p["uuid"], p.get("pubpid"),
                                 p.get("phone_home"), p.get("email")) if w)
    tokens = [t["token"] for t in sim(st, "GET", "/tokens")]
    secrets = ["sched-worker-secret", "scheduler-pass"] + [s.hex() for _, s in
                                                          keys_file(st).values()]
    for path, status, body in pages:
        for w in words:
            assert not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(w), body), \
                "%s shows %r" % (path, w)
        for t in tokens + secrets:
            assert t not in body, "%s shows a secret" % path
    print("  %d pages, %d PHI words, %d tokens, %d secrets checked" % (
        len(pages), len(words), len(tokens), len(secrets)))


def test_crafted_message_leaks_no_token(st):
    """Messages built to make the worker copy text into its logs and the dead
    letter's headers: the fleet's real OpenEMR token and a token-like canary
    inside broken JSON, an unknown field's name, the type and a time.  The
    logs and every dead-letter header stay clean (the dead letter's value is
    the message itself, as sent: the DLQ is operators' only)."""
    token = [t["token"] for t in sim(st, "GET", "/tokens") if t.get("kind") == "access"][-1]
    canary = "eyJhbGciOiJIUzI1NiJ9.Y2FuYXJ5.canary-" + os.urandom(6).hex()
    bodies = [
        b'{"type":"find_patient","request_id":"rt-c1","auth": Bearer ' + token.encode() + b'}',
        b'{"type":"find_patient","request_id":"rt-c2","note":"' + canary.encode(),
        json.dumps(command("find_patient", find_john(st), **{canary: 1})).encode(),
        json.dumps(command("find_patient", dict(find_john(st), **{token: 1}))).encode(),
        json.dumps(command("list_appointments", {"patient_id": "x", "from": canary})).encode(),
    ]
    snap = Snapshot(st)
    for b in bodies:
        produce(st, TOPICS["search"], b, signed(st, TOPICS["search"], b))  # signed: parsed
        produce(st, TOPICS["search"], b)                                    # unsigned: not
    snap.wait_dlq("bad_json")
    end = time.time() + 20
    while len(snap.new("dlq")) < 2 * len(bodies) and time.time() < end:
        st.readers["dlq"].poll(0.2)
    got = snap.check(dlq=["unauthenticated"] * 5 + ["bad_json"] * 2 + ["unknown_field"] * 2 +
                     ["bad_time"], results=3, keys=["replay:"], what="crafted messages")
    logs = "".join(st.worker_log_lines())
    headers = json.dumps([m["headers"] for m in got["dlq"]])
    for secret, what in ((token, "the OpenEMR token"), (canary, "the canary")):
        assert secret not in logs, "%s reached a worker log" % what
        assert secret not in headers, "%s reached a dead letter's headers" % what
        assert secret not in json.dumps([m["value"].decode(errors="replace")
                                         for m in got["results"]]), "%s in a result" % what
    assert "at byte" in headers, headers  # the position is kept


def test_redis_holds_no_secret(st):
    """Whoever reaches Redis finds no OpenEMR token, client secret, password,
    producer key or token key in any key's value (idempotency records do
    hold results: docs/threat-model.md, residual risks)."""
    r = rds(st)
    tokens = [t["token"] for t in sim(st, "GET", "/tokens")]
    with open(os.path.join(st.dir, "token.key")) as f:
        token_key = f.read().strip()
    secrets = tokens + [t.split(".")[-1] for t in tokens] + \
        ["sched-worker-secret", "scheduler-pass", token_key] + \
        [s.hex() for _, s in keys_file(st).values()]
    n = 0
    for k in r.scan_iter(match="*", count=500):
        t = r.type(k)
        if t == b"string":
            raw = r.get(k) or b""
        elif t == b"hash":
            raw = b"\n".join(a + b"=" + b for a, b in r.hgetall(k).items())
        elif t == b"zset":
            raw = b"\n".join(m for m, _ in r.zrange(k, 0, -1, withscores=True))
        else:
            raw = repr(r.dump(k)).encode()
        n += 1
        for s in secrets:
            assert s.encode() not in raw, "%s holds a secret" % k.decode()
    assert n > 5, n
    print("  %d keys, %d secrets checked" % (n, len(secrets)))


# ---- a replica with the wrong token key ---------------------------------------------------

def test_wrong_token_key_replica(st):
    """A third replica started with another oauth.token_key_file: not ready
    (saying why, with both key ids), no token request to OpenEMR, and the
    fleet's token record exactly as it was; the fleet keeps answering."""
    r = rds(st)
    rec, meta = r.get("sched:token:password"), r.hgetall("sched:token:password:meta")
    assert rec and meta, "no fleet token record"
    grants = sim(st, "GET", "/stats")["token_grants"]
    conf = os.path.join(st.dir, "worker-wrongkey.conf")
    with open(os.path.join(st.dir, "worker-1.conf")) as f:
        text = f.read()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    key = os.path.join(st.dir, "wrong-token.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex())
    os.chmod(key, 0o600)
    text = re.sub(r"(?m)^worker\.id = .*$", "worker.id = worker-wrongkey", text)
    text = re.sub(r"(?m)^http\.listen = .*$", "http.listen = 127.0.0.1:%d" % port, text)
    text = re.sub(r"(?m)^oauth\.token_key_file = .*$", "oauth.token_key_file = " + key, text)
    with open(conf, "w") as f:
        f.write(text)
    log = open(os.path.join(st.dir, "worker-wrongkey.log"), "w")
    p = subprocess.Popen([os.path.join(ROOT, BUILD, "schedworker"), "--config", conf],
                         stdout=log, stderr=log)
    try:
        body = ""
        end = time.time() + 30
        while time.time() < end:
            status, body = get("http://127.0.0.1:%d/readyz" % port)
            if status == 503 and "token_key" in body:
                break
            time.sleep(0.3)
        assert status == 503 and "mismatch" in body, (status, body)
        d = json.loads(body)
        assert d["ready"] is False and d["token"] is False, d
        print("  /readyz: %s" % body.strip())
        time.sleep(3)  # several monitor rounds and token attempts
        with open(os.path.join(st.dir, "worker-wrongkey.log")) as f:
            lines = f.read()
        assert "sealed with key id %s" % meta[b"key_id"].decode() in lines, lines[-2000:]
        assert r.get("sched:token:password") == rec, "the fleet's token record was overwritten"
        assert r.hgetall("sched:token:password:meta") == meta, "its metadata changed"
        assert sim(st, "GET", "/stats")["token_grants"] == grants, "it asked OpenEMR for a token"
        res = st.call({"type": "find_patient", "payload": find_john(st)})
        assert res["status"] in ("ok", "unavailable"), res
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    # with the wrong replica gone the fleet answers (the wrong one may have
    # had the partition of the call above: it then answered `unavailable`)
    res = st.call({"type": "find_patient", "payload": find_john(st)}, timeout=60)
    assert res["status"] == "ok", res


def main():
    runner = Runner()
    st = Stack(replicas=2, extra_conf="poller.interval_s = 86400\n")
    with st:
        CTX["pract"] = st.practitioners()[0]["uuid"]
        st.call({"type": "find_patient", "payload": find_john(st)})  # the token and the maps
        for t in (test_unsigned_find_patient_into_events, test_unsigned_request_id_reuse_gets_nothing,
                  test_unsigned_cancel_of_lunch, test_unsigned_on_every_topic,
                  test_unsigned_cannot_answer_for_another_request_id, test_unsigned_flood,
                  test_forged_signature, test_altered_after_signing, test_replayed_message,
                  test_expired_and_future_timestamp, test_refused_before_any_lookup,
                  test_reader_key_on_write_topics,
                  test_operator_key_without_replay, test_reply_to_forbidden_topics,
                  test_request_id_reused_across_types, test_request_id_reuse_preempts_booking,
                  test_numeric_patient_id_walk, test_signed_cancel_of_provider_event,
                  test_cancel_and_reschedule_need_the_patient,
                  test_confirmation_numbers_unpredictable, test_metrics_port_leaks_nothing,
                  test_crafted_message_leaks_no_token, test_redis_holds_no_secret,
                  test_wrong_token_key_replica):
            runner.run(t, st)
        if runner.failed:
            st.failed = True
    runner.finish()


if __name__ == "__main__":
    main()
