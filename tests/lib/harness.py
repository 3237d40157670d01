"""A local stack for integration tests, and the Kafka/HTTP plumbing they need.

    import sys; sys.path.insert(0, "tests/lib")
    from harness import Stack
    with Stack(replicas=2) as st:
        rid = st.send("search", {"type": "find_patient", ...})
        res = st.result(rid)                      # waits for it
        st.sim_stats()["requests_total"]

Each Stack runs tools/stack in its own STACK_DIR under $BUILD/test-stacks,
so tests can run side by side; `with` always tears it down, and a failing
test prints the tail of every worker log.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

import schemas

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
TOPICS = {
    "search": "scheduling.commands.search",
    "book": "scheduling.commands.book",
    "cancel": "scheduling.commands.cancel",
    "results": "scheduling.results",
    "events": "scheduling.events",
    "dlq": "scheduling.dlq",
    "audit": "scheduling.audit",
}
TOPIC_OF = {
    "search_slots": "search", "find_patient": "search", "list_appointments": "search",
    "hold": "book", "release_hold": "book", "book": "book", "reschedule": "book",
    "join_waitlist": "book", "cancel": "cancel", "leave_waitlist": "cancel",
}


class TopicReader:
    """Reads a topic from the beginning, remembering every message."""

    def __init__(self, brokers, topic):
        self.topic = topic
        self.messages = []
        self.consumer = Consumer({
            "bootstrap.servers": brokers,
            "group.id": "test-" + uuid.uuid4().hex,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        })
        md = self.consumer.list_topics(topic, timeout=10)
        parts = md.topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in parts])

    def poll(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            m = self.consumer.poll(0.05)
            if m is None or m.error():
                continue
            headers = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
            self.messages.append({
                "key": m.key().decode() if m.key() else None,
                "value": m.value(),
                "headers": headers,
                "partition": m.partition(),
                "offset": m.offset(),
            })

    def wait_for(self, predicate, timeout, what="message"):
        end = time.time() + timeout
        while True:
            found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            if time.time() > end:
                raise AssertionError("timed out waiting for %s on %s" % (what, self.topic))
            self.poll(0.2)

    def close(self):
        self.consumer.close()


class Stack:
    def __init__(self, replicas=1, fhir=False, tls=False, extra_conf="", sim_args="",
                 kafka_args=""):
        self.replicas = replicas
        self.fhir = fhir
        self.tls = tls
        self.extra_conf = extra_conf
        self.sim_args = sim_args
        self.kafka_args = kafka_args
        base = os.path.join(ROOT, BUILD, "test-stacks")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="stack-", dir=base)
        self.env = {}
        self.readers = {}
        self.producer = None
        self.failed = False

    @classmethod
    def attach(cls):
        """A Stack for one that runs already (its export lines in the
        environment: eval "$(tools/stack up)")."""
        st = cls()
        st.dir = os.environ["STACK_DIR"]
        st.env = {k: os.environ[k] for k in ("KAFKA_BROKERS", "SIM_ADMIN_URL", "STACK_DIR",
                                             "SCHED_SIGN_KEY_FILE", "SCHED_SIGN_KEY_ID")}
        st._connect()
        return st

    # ---- lifecycle -----------------------------------------------------
    def _run(self, *args, check=True, timeout=180):
        env = dict(os.environ, STACK_DIR=self.dir, BUILD=BUILD)
        if self.extra_conf:
            path = os.path.join(self.dir, "extra.conf")
            with open(path, "w") as f:
                f.write(self.extra_conf)
            env["STACK_WORKER_EXTRA_CONF"] = path
        if self.sim_args:
            env["STACK_SIM_ARGS"] = self.sim_args
        if self.kafka_args:
            env["STACK_KAFKA_ARGS"] = self.kafka_args
        p = subprocess.run([os.path.join(ROOT, "tools", "stack")] + list(args), cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("tools/stack %s failed:\n%s%s" % (" ".join(args), p.stdout,
                                                                p.stderr))
        return p

    def up(self):
        args = ["up", "--replicas", str(self.replicas)]
        if self.fhir:
            args.append("--fhir-scheduling")
        if self.tls:
            args.append("--tls")
        out = self._run(*args).stdout
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                self.env[k] = v.strip("'\"")
        self._connect()
        return self

    def _connect(self):
        self.brokers = self.env["KAFKA_BROKERS"]
        self.admin = self.env["SIM_ADMIN_URL"]
        self.producer = Producer({"bootstrap.servers": self.brokers, "linger.ms": 1})
        for t in ("results", "events", "dlq", "audit"):
            self.readers[t] = TopicReader(self.brokers, TOPICS[t])

    def down(self):
        for r in self.readers.values():
            r.close()
        if self.failed:
            self.dump_logs()
        self._run("down", check=False)

    def __enter__(self):
        try:
            return self.up()
        except Exception:
            self.failed = True
            self.down()
            raise

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.down()
        return False

    def dump_logs(self, lines=30):
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    tail = f.readlines()[-lines:]
                sys.stderr.write("---- %s (last %d lines)\n%s" % (name, len(tail), "".join(tail)))

    def stack(self, *args):
        return self._run(*args)

    def worker_log_lines(self):
        lines = []
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("worker-") and name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    lines.extend(f.readlines())
        return lines

    # ---- Kafka ---------------------------------------------------------
    def sign(self, topic, value, headers=None, key_id=None, signed_at=None):
        """headers (a list of pairs or a dict) plus the signature headers for
        value on topic: docs/security.md's scheme, with the stack's keys file
        (key_id defaults to the stack's agent key)."""
        hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        key_id = key_id or self.env["SCHED_SIGN_KEY_ID"]
        with open(self.env["SCHED_SIGN_KEY_FILE"]) as f:
            keys = {k.strip(): v.split()[1] for k, v in
                    (l.split("=", 1) for l in f if "=" in l and not l.startswith("#"))}
        at = str(int(time.time() * 1000) if signed_at is None else signed_at)
        last = {k: (v.decode() if isinstance(v, bytes) else v or "") for k, v in hs}
        lines = ["schedworker-v1", key_id, at, topic] + [last.get(h, "") for h in (
            "request_id", "reply_to", "correlation_id", "dlq_replayed_from")]
        mac = hmac.new(bytes.fromhex(keys[key_id]), ("\n".join(lines) + "\n").encode() + value,
                       hashlib.sha256).hexdigest()
        return hs + [("x-key-id", key_id.encode()), ("x-signed-at", at.encode()),
                     ("x-signature", ("v1=" + mac).encode())]

    def send(self, command, key=None, topic=None, raw=None, headers=None, sign=True):
        """Produces a command (dict) or raw bytes, signed unless sign is
        false; returns its request_id."""
        if raw is None:
            command = dict(command)
            command.setdefault("request_id", "t-" + uuid.uuid4().hex)
            raw = json.dumps(command).encode()
            topic = topic or TOPICS[TOPIC_OF[command["type"]]]
            rid = command["request_id"]
        else:
            rid = None
        if sign:
            headers = self.sign(topic, raw, headers)
        self.producer.produce(topic, raw, key=key, headers=headers)
        self.producer.flush(10)
        return rid

    def results_for(self, rid, timeout=30, count=1):
        """Waits until `count` results of rid arrived; returns them (parsed)."""
        reader = self.readers["results"]
        end = time.time() + timeout
        while True:
            found = [json.loads(m["value"]) for m in reader.messages
                     if m["headers"].get("request_id") == rid]
            if len(found) >= count:
                for r in found:
                    errs = schemas.errors("result", r)
                    assert not errs, "result breaks schemas/result.schema.json: %s\n%s" % (
                        errs, r)
                return found
            if time.time() > end:
                raise AssertionError("no result for %s within %ss (have %d)" % (
                    rid, timeout, len(found)))
            reader.poll(0.1)

    def result(self, rid, timeout=30):
        return self.results_for(rid, timeout)[0]

    def call(self, command, key=None, timeout=30):
        return self.result(self.send(command, key=key), timeout)

    def events(self, predicate=lambda e: True, settle=1.0):
        reader = self.readers["events"]
        reader.poll(settle)
        out = []
        for m in reader.messages:
            e = json.loads(m["value"])
            errs = schemas.errors("event", e)
            assert not errs, "event breaks schemas/event.schema.json: %s\n%s" % (errs, e)
            if predicate(e):
                out.append(e)
        return out

    # ---- simulator --------------------------------------------------------
    def sim(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return json.loads(text) if text else None

    def sim_stats(self):
        return self.sim("GET", "/stats")

    def appointments(self):
        a = self.sim("GET", "/appointments")
        return a if isinstance(a, list) else a.get("appointments", [])

    def practitioners(self):
        p = self.sim("GET", "/practitioners")
        return p if isinstance(p, list) else p.get("practitioners", [])

    def patients(self):
        p = self.sim("GET", "/patients")
        return p if isinstance(p, list) else p.get("patients", [])


def local_day(days_ahead, hour=0, minute=0):
    """RFC 3339 of a local wall time in the clinic zone on the days_ahead-th
    weekday after today (so distinct arguments give distinct weekdays),
    e.g. '2026-12-02T09:00:00-05:00'."""
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    t = time.time()
    n = 0
    while n < days_ahead:
        t += 86400
        if time.localtime(t).tm_wday < 5:
            n += 1
    lt = time.localtime(t)
    stamp = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, hour, minute, 0, 0, 0, -1))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp)) + _offset(stamp)


def _offset(stamp):
    off = time.strftime("%z", time.localtime(stamp))
    return off[:3] + ":" + off[3:]


class Counter:
    """Prints 'N passed, N failed' like the other runners."""

    def __init__(self):
        self.passed = self.failed = 0

    def run(self, fn, *args):
        name = fn.__name__
        t0 = time.time()
        try:
            fn(*args)
            self.passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            self.failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (name, e), flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
