"""What the red-team tests share: an attacker's Kafka client, a snapshot of
everything an abuse could change (OpenEMR requests, Redis keys, messages on
the output topics) and a runner with skips.

The tests drive the stack from outside, as docs/threat-model.md says each
attacker would: a plain Kafka producer, their own HMAC code (never the
project's signer) and plain HTTP.
"""

import hashlib
import hmac
import json
import os
import sys
import time
import traceback
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import BUILD, ROOT, TOPICS, TOPIC_OF, Stack, local_day  # noqa: E402,F401

import redis  # noqa: E402

OUTPUTS = ("results", "events", "audit", "dlq")
SETTLE_S = 1.5  # how long "nothing else arrives" is watched after the signal


# ---- the simulator, whichever harness names it -----------------------------
def sim(st, method, path, body=None):
    f = getattr(st, "admin", None)
    return (f if callable(f) else st.sim)(method, path, body)


def sim_requests(st):
    return sim(st, "GET", "/stats")["requests_total"]


def rds(st):
    if not hasattr(st, "_sec_redis"):
        st._sec_redis = redis.Redis.from_url(st.env["REDIS_URL"], socket_timeout=5)
    return st._sec_redis


# ---- an attacker's own signer (the documented scheme, written again) --------
def keys_file(st):
    """{key id: (role, secret bytes)} of the stack's keys file."""
    out = {}
    with open(st.env["SCHED_SIGN_KEY_FILE"]) as f:
        for line in f:
            if "=" in line and not line.lstrip().startswith("#"):
                kid, rest = line.split("=", 1)
                role, secret = rest.split()
                out[kid.strip()] = (role, bytes.fromhex(secret))
    return out


def signature(secret, key_id, signed_at, topic, value, request_id="", reply_to="",
              correlation_id="", replay_of=""):
    head = "\n".join(["schedworker-v1", key_id, str(signed_at), topic, request_id, reply_to,
                      correlation_id, replay_of]) + "\n"
    return "v1=" + hmac.new(secret, head.encode() + value, hashlib.sha256).hexdigest()


def signed(st, topic, value, key_id="stack-agent", secret=None, signed_at=None, headers=()):
    """headers plus x-key-id, x-signed-at, x-signature; secret overrides the
    key's real one (a forgery)."""
    hs = list(headers)
    last = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in hs}
    if secret is None:
        secret = keys_file(st)[key_id][1]
    at = int(time.time() * 1000) if signed_at is None else signed_at
    sig = signature(secret, key_id, at, topic, value, last.get("request_id", ""),
                    last.get("reply_to", ""), last.get("correlation_id", ""),
                    last.get("dlq_replayed_from", ""))
    return hs + [("x-key-id", key_id.encode()), ("x-signed-at", str(at).encode()),
                 ("x-signature", sig.encode())]


def command(ctype, payload, **env):
    c = {"type": ctype, "request_id": env.pop("request_id", "rt-" + uuid.uuid4().hex),
         "payload": payload}
    c.update(env)
    return c


def produce(st, topic, value, headers=(), key=None):
    st.producer.produce(topic, value, key=key, headers=list(headers))
    st.producer.flush(10)


def send(st, cmd, topic=None, key=None, **sign):
    """Produces cmd (a dict) signed (sign: arguments of signed(); unsigned=True
    sends it without); returns (value, headers)."""
    topic = topic or TOPICS[TOPIC_OF[cmd["type"]]]
    value = json.dumps(cmd).encode()
    unsigned = sign.pop("unsigned", False)
    extra = sign.pop("headers", ())
    headers = list(extra) if unsigned else signed(st, topic, value, headers=extra, **sign)
    produce(st, topic, value, headers, key=key)
    return value, headers


# ---- what an abuse could change -------------------------------------------------
class Snapshot:
    """OpenEMR requests, Redis keys and the messages on every output topic,
    taken before an abuse; check() after it."""

    def __init__(self, st):
        self.st = st
        for t in OUTPUTS:
            st.readers[t].poll(0.2)
        self.count = {t: len(st.readers[t].messages) for t in OUTPUTS}
        self.requests = sim_requests(st)
        self.keys = set(k.decode() for k in rds(st).keys("*"))

    def new(self, topic):
        return self.st.readers[topic].messages[self.count[topic]:]

    def wait_dlq(self, code, timeout=30):
        """The dead letter of the abuse: the sign that the worker is done."""
        reader = self.st.readers["dlq"]
        end = time.time() + timeout
        while True:
            found = [m for m in self.new("dlq") if m["headers"].get("dlq_reason_code") == code]
            if found:
                return found
            if time.time() > end:
                got = [m["headers"].get("dlq_reason_code") for m in self.new("dlq")]
                raise AssertionError("no %s dead letter within %ss (new: %s)" % (code, timeout, got))
            reader.poll(0.1)

    def check(self, dlq=(), results=0, keys=(), requests=0, what=""):
        """Nothing changed but what the test explains: dead letters with
        these codes, this many results, new Redis keys matching these
        prefixes (after redis.prefix), this many OpenEMR requests."""
        time.sleep(SETTLE_S)
        for t in OUTPUTS:
            self.st.readers[t].poll(0.3)
        got = {t: self.new(t) for t in OUTPUTS}
        codes = sorted(m["headers"].get("dlq_reason_code") for m in got["dlq"])
        assert codes == sorted(dlq), "%s: dead letters %s, expected %s" % (what, codes, list(dlq))
        assert len(got["results"]) == results, "%s: %d results: %s" % (
            what, len(got["results"]), [m["value"][:200] for m in got["results"]])
        assert not got["events"], "%s: an event was published: %s" % (what, got["events"])
        assert not got["audit"], "%s: an audit record (an OpenEMR access): %s" % (
            what, [m["value"][:200] for m in got["audit"]])
        n = sim_requests(self.st) - self.requests
        assert n == requests, "%s: %d OpenEMR requests, expected %d" % (what, n, requests)
        now = set(k.decode() for k in rds(self.st).keys("*"))
        new = sorted(k for k in now - self.keys
                     if not any(k.startswith("sched:" + p) for p in keys))
        assert not new, "%s: new Redis keys %s" % (what, new)
        return got


# ---- running ----------------------------------------------------------------------
class Skip(Exception):
    pass


def needs_lead(why):
    """A test of the lead's controls that waits for the lead's decision:
    skipped, saying why (SEC_RUN_LEAD=1 runs it)."""
    if os.environ.get("SEC_RUN_LEAD") != "1":
        raise Skip("waits for the lead: " + why)


class Runner:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def run(self, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
            self.passed += 1
            print("ok   %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)
        except Skip as e:
            self.skipped += 1
            print("skip %s: %s" % (fn.__name__, e), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure reported the same way
            self.failed += 1
            traceback.print_exc()
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)

    def finish(self):
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped))
        sys.exit(1 if self.failed else 0)
