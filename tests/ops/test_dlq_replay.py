#!/usr/bin/python3
"""tools/dlq-replay against the embedded Kafka broker (issue 17, ask 8): one
process reads every partition of a three-partition dead-letter topic; a dry
run sends nothing; filters by reason, time range and request_id choose the
messages; each replayed message keeps its exact bytes, key and headers
(request_id, correlation_id, reply_to, a header value with commas, '=' and a
newline), loses the dlq_* ones and gains dlq_replayed_from; --sign re-signs
through build/sign; a message without a valid source topic is skipped; what
was dead-lettered after the start is not replayed; a bad range is refused."""

import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, ROOT, Report  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "dlq-replay")
DLQ = "test.dlq"
KEYHEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
ODD = "a,b=c\nd"  # what splitting kcat's %h on commas used to break


class Env:
    pass


def replay(env, *args, ok=True):
    p = subprocess.run([TOOL, "-b", env.brokers, "-t", DLQ] + list(args), capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, BUILD=BUILD))
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p.returncode, p.stdout, p.stderr


def read_all(env, topic):
    c = Consumer({"bootstrap.servers": env.brokers, "group.id": "t-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = list(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, eof, end = [], set(), time.time() + 15
    while len(eof) < len(parts) and time.time() < end:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            eof.add(m.partition())
            continue
        out.append(m)
    c.close()
    return out


def dead(env, partition, value, key=None, **h):
    headers = [(k.replace("__", "-"), v.encode()) for k, v in h.items()]
    env.producer.produce(DLQ, value=value, key=key, partition=partition, headers=headers)
    env.producer.flush(10)


def seed(env):
    # partition 0: offset 0 has no source header; offset 1 a book command
    dead(env, 0, b"junk", dlq_reason_code="bad_json")
    env.book = b'{"type":"book",\n\t"request_id":"r-42","payload":{}}'
    dead(env, 0, env.book, key=b"prac-7", dlq_reason_code="processing_failed",
         dlq_reason="OpenEMR down, again", dlq_source_topic="scheduling.commands.book",
         dlq_source_partition="0", dlq_source_offset="17", dlq_time="2026-01-01T10:00:00Z",
         request_id="r-42", correlation_id="call-1", reply_to="agent.replies", x__note=ODD)
    # partition 1: a cancel of another reason, later
    env.cancel = b'{"type":"cancel","request_id":"r-43","payload":{}}'
    dead(env, 1, env.cancel, key=b"prac-8", dlq_reason_code="unavailable",
         dlq_reason="x", dlq_source_topic="scheduling.commands.cancel",
         dlq_source_partition="2", dlq_source_offset="5", dlq_time="2026-01-02T10:00:00Z",
         request_id="r-43")
    # partition 2: a search, the same reason as the book, without dlq_time
    env.search = b'{"type":"search_slots","request_id":"r-44","payload":{}}'
    dead(env, 2, env.search, dlq_reason_code="processing_failed", dlq_reason="x",
         dlq_source_topic="scheduling.commands.search", dlq_source_partition="1",
         dlq_source_offset="9", request_id="r-44")


def test_dry_run_sees_every_partition(env):
    rc, out, err = replay(env, "--dry-run")
    print(out, err)
    for where, dst in (("0@1", "scheduling.commands.book"), ("1@0", "scheduling.commands.cancel"),
                       ("2@0", "scheduling.commands.search")):
        assert "would send %s/%s -> %s" % (DLQ, where, dst) in out, (where, out)
    assert "skip   %s/0@0" % DLQ in err, err
    assert "3 to send (dry run), 1 skipped, 0 not matching" in out, out
    for t in ("scheduling.commands.book", "scheduling.commands.cancel",
              "scheduling.commands.search"):
        assert not read_all(env, t), "a dry run produced to %s" % t


def test_filters(env):
    _, out, _ = replay(env, "--dry-run", "--reason", "processing_failed")
    assert "0@1" in out and "2@0" in out and "1@0" not in out, out
    assert "2 to send (dry run), 0 skipped, 2 not matching" in out, out  # junk: bad_json
    _, out, _ = replay(env, "--dry-run", "--request-id", "r-43")
    assert "1@0" in out and "0@1" not in out and "2@0" not in out, out
    # time: dlq_time, else the message timestamp (now, for the search)
    _, out, _ = replay(env, "--dry-run", "--since", "2026-01-01T12:00:00Z",
                       "--until", "2026-01-03T00:00:00+00:00")
    assert "1@0" in out and "0@1" not in out, out
    assert ("2@0" in out) == (time.time() < 1767398400), out  # the search's own timestamp
    _, out, err = replay(env, "--dry-run", "-p", "0", "--from", "1", "--to", "1")
    assert "0@1" in out and "1@0" not in out and "skip   " not in err, (out, err)
    assert "1 to send (dry run), 0 skipped, 0 not matching" in out, out
    rc, _, err = replay(env, "--from", "3", "--to", "1", ok=False)
    assert rc != 0 and "--from is after --to" in err, err
    rc, _, err = replay(env, "-p", "7", ok=False)
    assert rc != 0 and "no partition [7]" in err, err
    rc, _, err = replay(env, "--since", "yesterday", ok=False)
    assert rc != 0 and "RFC 3339" in err, err


def test_replay_signed(env):
    keys = os.path.join(env.tmp, "keys")
    with open(keys, "w") as f:
        f.write("ops-1 = operator %s\n" % KEYHEX)
    os.chmod(keys, 0o600)
    rc, out, err = replay(env, "--reason", "processing_failed", "--sign", keys, "ops-1")
    print(out, err)
    assert "2 sent, 0 skipped, 2 not matching" in out, out
    got = read_all(env, "scheduling.commands.book")
    assert len(got) == 1, got
    m = got[0]
    assert m.value() == env.book and m.key() == b"prac-7"
    h = {}
    for k, v in m.headers():
        h.setdefault(k, []).append(v.decode())
    assert h["request_id"] == ["r-42"] and h["correlation_id"] == ["call-1"], h
    assert h["reply_to"] == ["agent.replies"] and h["x-note"] == [ODD], h
    assert not [k for k in h if k.startswith("dlq_") and k != "dlq_replayed_from"], h
    assert h["dlq_replayed_from"] == ["%s/0/1" % DLQ], h
    # an operator's signature over the replay (docs/security.md): the key id,
    # the time, the topic, the signed headers (dlq_replayed_from included)
    assert h["x-key-id"] == ["ops-1"] and h["x-signed-at"][0].isdigit(), h
    at = h["x-signed-at"][0]
    want = subprocess.run([os.path.join(ROOT, BUILD, "sign"), "--keys", keys, "--key-id", "ops-1",
                           "--topic", "scheduling.commands.book", "--request-id", "r-42",
                           "--reply-to", "agent.replies", "--correlation-id", "call-1",
                           "--replay-of", "%s/0/1" % DLQ, "--at", at],
                          input=env.book, capture_output=True).stdout.decode()
    assert "x-signature=%s\n" % h["x-signature"][0] in want, (want, h)
    # the signer is the worker's: HMAC-SHA256 as openssl computes it
    signing_input = ("schedworker-v1\nops-1\n%s\nscheduling.commands.book\nr-42\n"
                     "agent.replies\ncall-1\n%s/0/1\n" % (at, DLQ)).encode() + env.book
    ossl = subprocess.run(["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt",
                           "hexkey:" + KEYHEX], input=signing_input, capture_output=True)
    assert "v1=" + ossl.stdout.decode().split("= ")[-1].strip() == h["x-signature"][0]
    s = read_all(env, "scheduling.commands.search")
    assert len(s) == 1 and s[0].value() == env.search and s[0].key() is None, s
    assert not read_all(env, "scheduling.commands.cancel"), "filtered out, yet sent"


def test_stops_at_the_start_end(env):
    """A replay reads up to the end it saw at its start: a dead letter added
    while it runs (say, the replayed command failing again) waits for the
    next run."""
    for i in range(200):
        dead(env, 1, b'{"type":"cancel","request_id":"bulk-%d"}' % i, dlq_reason_code="bulk",
             dlq_reason="x", dlq_source_topic="bulk.target", request_id="bulk-%d" % i)
    p = subprocess.Popen([TOOL, "-b", env.brokers, "-t", DLQ, "--reason", "bulk"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, BUILD=BUILD))
    time.sleep(0.2)
    dead(env, 1, b'{"late":1}', dlq_reason_code="bulk", dlq_reason="x",
         dlq_source_topic="bulk.target", request_id="late")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, out + err
    n = out.count("sent   ")
    assert n in (200, 201), out[-500:]
    got = read_all(env, "bulk.target")
    assert len(got) == n and len({m.value() for m in got}) == n, len(got)


def main():
    c = Report()
    env = Env()
    env.tmp = tempfile.mkdtemp()
    addr = os.path.join(env.tmp, "addr")
    broker = subprocess.Popen([os.path.join(ROOT, BUILD, "kafka-broker"), "--partitions", "3",
                               "--topic", DLQ, "--topic", "bulk.target"],
                              stdout=open(addr, "w"), stderr=open(addr + ".log", "w"))
    try:
        for _ in range(100):
            if os.path.getsize(addr):
                break
            time.sleep(0.1)
        env.brokers = open(addr).readline().strip()
        assert env.brokers, "the broker did not start"
        env.producer = Producer({"bootstrap.servers": env.brokers})
        seed(env)
        for t in (test_dry_run_sees_every_partition, test_filters, test_replay_signed):
            c.run(t, env)
        c.run(test_stops_at_the_start_end, env)
    finally:
        broker.terminate()
        broker.wait(10)
    c.finish()


if __name__ == "__main__":
    main()
