"""The one harness of every Python test: it starts what a test needs, drives
it, checks and reports.

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
    from harness import Stack, local_day, run, finish

What it starts (each stops everything it started, even on failure):
  Sim          build/openemr-sim alone on free ports      (tests/sim)
  ClientStack  redis-server + Sim, configs for oe-probe   (tests/client)
  Stack        the whole local system through tools/stack (integration,
               reliability, the demo)

The clinic's calendar: `Calendar` counts days as the simulator's seed does
(day 0 is the simulator's today in the clinic's zone, day n the n-th
weekday after it), from the running simulator's own clock (GET /clock), so
a test's day 5 is the seed's day 5 whatever the date, hour or machine zone.
local_day() uses the calendar of the simulator started last.

Every start also checks that the simulator, redis-server and the workers
keep the test's clock (under libfaketime all of them must see the same
faked time, or holds and leases would lie).

Reporting: run(fn, *args) runs one test function and prints "ok NAME
(1.2s)" or its traceback and "FAIL NAME"; check(cond, what) prints
"ok: what" or raises; expect(cond, what) prints and counts a failure but
goes on; finish() prints "N passed, N failed" and exits 1 on any failure.
main() does the same for unittest modules.  A test that cannot run here
calls skip(why): it exits 77, which tests/run-all counts as skipped.

Suite-wide defaults, so the suite runs on another broker or simulator
profile without editing tests:
  SCHED_TEST_KAFKA    Stack: `tools/stack up --kafka VALUE`
  SCHED_TEST_OPENEMR  every simulator: `--openemr VALUE`
  BUILD               build directory (default build)
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
import urllib.parse
import uuid
import zoneinfo

import schemas

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
BIN = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
SIM_BIN = os.path.join(BIN, "openemr-sim")
SIM_KEY = os.path.join(ROOT, "tools", "openemr-sim", "test-keys", "system-key.pem")
TOKEN_KEY = "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f"
SKIP = 77            # exit status of a test that could not run here (tests/run-all)
CLOCK_SLACK_S = 2.0  # how far another process's clock may be from the test's

# ---- the simulator's routes and seed ---------------------------------------
API = "/apis/default/api"
FHIR = "/apis/default/fhir"
TOKEN = "/oauth2/default/token"
WORKER_SCOPE = ("openid offline_access api:oemr api:fhir user/appointment.read "
                "user/appointment.write user/patient.read user/practitioner.read "
                "user/Appointment.read user/Appointment.write user/Patient.read "
                "user/Practitioner.read")
SYSTEM_SCOPE = "api:fhir system/Appointment.read system/Patient.read system/Practitioner.read"
PATIENT_JOHN = "946da61d-6b88-4d7a-9f6e-000000000001"
PATIENT_LINDA = "946da61d-6b88-4d7a-9f6e-000000000004"  # DOB 1964-07-22, (617) 555-0200
DR_ADAMS = "90cde167-7b9b-4ed1-bd55-533925cb2605"
DR_BAKER = "90cde167-7b9b-4ed1-bd55-533925cb2606"
DR_DIAZ_NO_NPI = "90cde167-7b9b-4ed1-bd55-533925cb2608"
DAILY_MARKERS = {"2", "3", "8"}  # In Office, Out Of Office, Lunch: every seeded day

# ---- the contract's topics --------------------------------------------------
TOPICS = {
    "search": "scheduling.commands.search",
    "book": "scheduling.commands.book",
    "cancel": "scheduling.commands.cancel",
    "results": "scheduling.results",
    "events": "scheduling.events",
    "dlq": "scheduling.dlq",
    "audit": "scheduling.audit",
    "ledger": "scheduling.ledger",  # internal: results of write commands (src/ledger.c)
}
TOPIC_OF = {
    "search_slots": "search", "find_patient": "search", "list_appointments": "search",
    "hold": "book", "release_hold": "book", "book": "book", "reschedule": "book",
    "join_waitlist": "book", "cancel": "cancel", "leave_waitlist": "cancel",
}


# ==== reporting ===============================================================
class CheckFailed(AssertionError):
    pass


def check(cond, what):
    """Prints "ok: what", or raises CheckFailed(what)."""
    if not cond:
        print("FAIL:", what, flush=True)
        raise CheckFailed(what)
    print("ok:", what, flush=True)


def fail(what):
    print("FAIL:", what, flush=True)
    raise CheckFailed(what)


def skip(why):
    """Ends a test that cannot run here; tests/run-all reports it as skipped."""
    print("SKIP:", why, flush=True)
    sys.exit(SKIP)


class Report:
    """Counts test functions (run), and expectations made outside them; the
    last line is "N passed, N failed"."""

    def __init__(self):
        self.passed = self.failed = 0
        self.missed = None  # the expectations failed in the running function

    def run(self, fn, *args):
        t0 = time.time()
        self.missed = []
        try:
            fn(*args)
            if self.missed:
                raise CheckFailed("%d expectation(s) failed: %s" % (len(self.missed),
                                                                   "; ".join(self.missed)))
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            self.failed += 1
            traceback.print_exc()
            print("FAIL %s: %s (%.1fs)" % (fn.__name__, e, time.time() - t0), flush=True)
            return False
        finally:
            self.missed = None
        self.passed += 1
        print("ok   %s (%.1fs)" % (fn.__name__, time.time() - t0), flush=True)
        return True

    def expect(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if self.missed is not None:
            if not cond:
                self.missed.append(what)
        elif cond:
            self.passed += 1
        else:
            self.failed += 1
        return bool(cond)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


REPORT = Report()
# tests/run-all stops a test that runs too long with SIGTERM: unwind, so that
# every `with` stops what it started
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run(fn, *args):
    return REPORT.run(fn, *args)


def expect(cond, what):
    """Like check, but goes on: the failure is counted (against the running
    function, or on its own outside one)."""
    return REPORT.expect(cond, what)


def finish():
    REPORT.finish()


def main():
    """Runs the calling module's unittest cases; last line "N passed, N failed"."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed), flush=True)
    sys.exit(1 if failed or not result.wasSuccessful() else 0)


# ==== small helpers ===========================================================
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, every=0.05):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(every)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def req(method, url, body=None, headers=None, token=None, form=None, ca=None, timeout=15):
    """One HTTP request on a fresh connection; never follows a redirect and
    never raises on a status.  body: a dict (JSON), str or bytes."""
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = "Bearer " + token
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, u.path + ("?" + u.query if u.query else ""), body=data,
                     headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_sign(header, claims, key=SIM_KEY):
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha384", "-sign", key],
                         input=signing_input.encode(), capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


def epoch(rfc3339):
    return int(datetime.datetime.fromisoformat(rfc3339).timestamp())


# ==== the clinic's calendar ===================================================
class Calendar:
    """Days as the simulator's seed counts them (tools/openemr-sim/store.c,
    seed_day): day 0 is `today` in the clinic zone, day n the n-th weekday
    (Monday to Friday) after it, day -n before it."""

    def __init__(self, today, tz="America/New_York"):
        self.today = today
        self.tz = tz
        self.zone = zoneinfo.ZoneInfo(tz)

    @classmethod
    def of_clock(cls, clock):
        """From the simulator's GET /clock answer."""
        return cls(datetime.date.fromisoformat(clock["today"]), clock["tz"])

    @classmethod
    def here(cls, tz="America/New_York"):
        """Today in the clinic zone by this process's clock (no simulator)."""
        return cls(datetime.datetime.now(zoneinfo.ZoneInfo(tz)).date(), tz)

    def date(self, n):
        d, step, left = self.today, (1 if n >= 0 else -1), abs(n)
        while left:
            d += datetime.timedelta(days=step)
            if d.weekday() < 5:
                left -= 1
        return d

    def dt(self, n, hour=0, minute=0):
        d = self.date(n)
        return datetime.datetime(d.year, d.month, d.day, hour, minute, tzinfo=self.zone)

    def at(self, n, hour=0, minute=0):
        """RFC 3339 of a wall time on day n, e.g. '2026-12-02T09:00:00-05:00'."""
        return self.dt(n, hour, minute).isoformat()

    def epoch(self, n, hour=0, minute=0):
        return int(self.dt(n, hour, minute).timestamp())

    def bounds(self, n):
        """Epochs of day n's local midnight and the next day's."""
        d = self.date(n)
        nxt = d + datetime.timedelta(days=1)
        return (int(datetime.datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp()),
                int(datetime.datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.zone).timestamp()))

    def free_day(self, rows, practitioner, first=2, last=60):
        """The first day >= first on which the simulator's rows (GET
        /appointments) give the practitioner (uuid) nothing but the daily
        markers: no appointment, meeting or whole-day event."""
        busy = {r["pc_eventDate"] for r in rows
                if r.get("pce_aid_uuid") == practitioner and
                str(r.get("pc_catid")) not in DAILY_MARKERS}
        for n in range(first, last + 1):
            if self.date(n).isoformat() not in busy:
                return n
        raise AssertionError("no day in %d..%d free for %s" % (first, last, practitioner))


CALENDAR = None  # the calendar of the simulator started last


def local_day(n, hour=0, minute=0):
    """RFC 3339 of hour:minute on day n of the running simulator's seed
    calendar (distinct n give distinct weekdays)."""
    return (CALENDAR or Calendar.here()).at(n, hour, minute)


# ==== the simulator ===========================================================
class SimAdmin:
    """The simulator's admin surface (plain HTTP, no auth), for anything
    with admin_url (and base_url, ca_file)."""

    admin_url = base_url = ""
    ca_file = None

    def admin(self, method, path, body=None):
        """An admin call; its JSON answer (None when empty); raises on >= 400."""
        r = req(method, self.admin_url + path, body=body, timeout=15)
        if r.status >= 400:
            raise RuntimeError("simulator admin %s %s: %d %s" % (method, path, r.status,
                                                                  r.body[:300]))
        return json.loads(r.body) if r.body.strip() else None

    def admin_get(self, path):
        return self.admin("GET", path)

    def admin_post(self, path, body=None):
        """POST; the raw response (tests assert its status)."""
        return req("POST", self.admin_url + path, body=body if body is not None else {})

    def stats(self):
        return self.admin("GET", "/stats")

    def appointments(self):
        return self.admin("GET", "/appointments")

    def patients(self):
        return self.admin("GET", "/patients")

    def practitioners(self):
        return self.admin("GET", "/practitioners")

    def clock(self):
        return self.admin("GET", "/clock")

    def free_day(self, practitioner, first=2):
        """See Calendar.free_day: asks this simulator which days are free."""
        return self.calendar.free_day(self.appointments(), practitioner, first)

    def day(self, n, hour=0, minute=0):
        return self.calendar.at(n, hour, minute)

    def _learn_calendar(self):
        """Reads the simulator's clock: its calendar becomes local_day()'s,
        and its clock must be the test's.  Under SCHED_TEST_OPENEMR the
        simulator must also be that profile (tests/profile-matrix relies on
        it: a run that silently fell back to the default proves nothing)."""
        global CALENDAR
        want = os.environ.get("SCHED_TEST_OPENEMR", "")
        if want:
            got = self.admin_get("/profile").get("openemr")
            assert got == want, "SCHED_TEST_OPENEMR=%s but the simulator is OpenEMR %s" % (
                want, got)
        t0 = time.time()
        c = self.clock()
        t1 = time.time()
        assert t0 - CLOCK_SLACK_S <= c["now"] <= t1 + CLOCK_SLACK_S, (
            "the simulator's clock (%.3f) is not the test's (%.3f): is every process "
            "under the same faketime?" % (c["now"], t1))
        self.calendar = CALENDAR = Calendar.of_clock(c)


def no_quirks(*names):
    """Arguments that switch the named profile quirks off: for contract tests
    of the simulator's kind behaviour (the one tools/stack still runs the
    worker against); test_fidelity.py tests each quirk on."""
    return [a for n in names for a in ("--no-quirk", n)]


def _sim_breaks_conf():
    """config/openemr-sim.conf: the worker settings that mirror the seed's
    recurring breaks (tools/stack appends the same file)."""
    with open(os.path.join(ROOT, "config", "openemr-sim.conf")) as f:
        return f.read()


SIM_BREAKS_CONF = _sim_breaks_conf()


def transition_args():
    """The simulator profile minus the quirks the worker does not survive yet
    (tools/openemr-sim/transition.args, shared with tools/stack)."""
    with open(os.path.join(ROOT, "tools", "openemr-sim", "transition.args")) as f:
        return [w for line in f for w in line.split("#", 1)[0].split()]


def _profile(openemr):
    """The simulator profile: the argument, else SCHED_TEST_OPENEMR."""
    if openemr is None:
        openemr = os.environ.get("SCHED_TEST_OPENEMR", "")
    return ["--openemr", openemr] if openemr else []


class Sim(SimAdmin):
    """build/openemr-sim on free loopback ports; args are its flags.  Use as
    a context manager (or start()/stop())."""

    def __init__(self, *args, today=None, openemr=None, log=None):
        self.args = list(args) + (["--today", today] if today else []) + _profile(openemr)
        self.log = log
        self.proc = None
        self.info = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=15):
        """Starts it and reads its ready line (returned, as a dict)."""
        cmd = [SIM_BIN, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"] + self.args
        err = open(self.log, "a") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        finally:
            if self.log:
                err.close()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("openemr-sim %s: no ready line within %ds" % (self.args, timeout))
        self.info = json.loads(line)
        self.base_url, self.admin_url = self.info["base_url"], self.info["admin_url"]
        self.ca_file = self.info.get("ca_file")
        self._learn_calendar()
        return self.info

    def stop(self):
        stop_process(self.proc)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode if self.proc else None

    # ---- the OpenEMR surface ----
    def get(self, path, token=None, **kw):
        return req("GET", self.base_url + path, token=token, ca=self.ca_file, **kw)

    def post(self, path, token=None, **kw):
        return req("POST", self.base_url + path, token=token, ca=self.ca_file, **kw)

    def token_url(self):
        return self.base_url + TOKEN

    def password_grant(self, scope=WORKER_SCOPE, **extra):
        form = {"grant_type": "password", "client_id": "sched-worker",
                "client_secret": "sched-worker-secret", "user_role": "users",
                "username": "scheduler", "password": "scheduler-pass", "scope": scope}
        form.update(extra)
        return self.post(TOKEN, form=form)

    def user_token(self, scope=WORKER_SCOPE):
        r = self.password_grant(scope)
        assert r.status == 200, r.body
        return r.json()["access_token"]

    def system_grant(self, claims=None, header=None, scope=SYSTEM_SCOPE, key=SIM_KEY):
        now = int(time.time())
        c = {"iss": "sched-system", "sub": "sched-system", "aud": self.token_url(),
             "exp": now + 300, "iat": now, "jti": base64.b16encode(os.urandom(12)).decode()}
        c.update(claims or {})
        c = {k: v for k, v in c.items() if v is not None}
        h = {"alg": "RS384", "typ": "JWT", "kid": "sched-system-key-1"}
        h.update(header or {})
        assertion = jwt_sign(h, c, key)
        return self.post(TOKEN, form={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion, "scope": scope}), assertion

    def system_token(self):
        r, _ = self.system_grant()
        assert r.status == 200, r.body
        return r.json()["access_token"]


class SimTestCase(unittest.TestCase):
    """unittest cases against one simulator for the whole class, started
    with SIM_ARGS (and TODAY) and reset before each test; self.tok is then a
    fresh user token (USER_TOKEN = False: none)."""

    SIM_ARGS = ()
    TODAY = None
    USER_TOKEN = True

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(*cls.SIM_ARGS, today=cls.TODAY).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.assertEqual(self.sim.admin_post("/reset").status, 200)
        if self.USER_TOKEN:
            self.tok = self.sim.user_token()


def stop_process(proc, grace=5):
    """SIGTERM, then SIGKILL after grace seconds; waits for it."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


def check_redis_clock(client):
    """redis-server's TIME must be the test's clock (faketime reaches it)."""
    t0 = time.time()
    sec, usec = client.time()
    t1 = time.time()
    t = sec + usec / 1e6
    assert t0 - CLOCK_SLACK_S <= t <= t1 + CLOCK_SLACK_S, (
        "redis-server's clock (%.3f) is not the test's (%.3f)" % (t, t1))


def redis_env():
    """redis-server's environment: under libfaketime, with tcmalloc preloaded
    in front (Debian's redis-server hangs when its jemalloc and libfaketime
    start together; tools/stack does the same)."""
    env = dict(os.environ)
    if "libfaketime" in env.get("LD_PRELOAD", ""):
        import glob
        tc = glob.glob("/usr/lib/*/libtcmalloc_minimal.so.4")
        assert tc, "under faketime redis-server needs libtcmalloc-minimal4 (make deps)"
        env["LD_PRELOAD"] = tc[0] + ":" + env["LD_PRELOAD"]
    return env


class Redis:
    """redis-server on a free loopback port, no persistence."""

    def __init__(self):
        self.proc = None

    def start(self):
        import redis
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=redis_env())
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.client = redis.Redis(host="127.0.0.1", port=self.port)

        def up():
            try:
                return self.client.ping()
            except Exception:  # noqa: BLE001 - not listening yet
                assert self.proc.poll() is None, "redis-server exited"
                return False
        wait_until(up, 10, "redis-server on port %d" % self.port)
        check_redis_clock(self.client)
        return self

    def stop(self):
        stop_process(self.proc)


# ==== the OpenEMR client: redis + simulator + oe-probe ========================
class ClientStack(SimAdmin):
    """redis-server and the simulator for the OpenEMR client alone: writes
    worker configs and runs build/oe-probe.  The simulator runs with
    tools/openemr-sim/transition.args (as tools/stack runs it), then
    sim_args."""

    def __init__(self, sim_args=(), tls=False, openemr=None):
        self.tmp = tempfile.mkdtemp(prefix="oeclient-")
        args = list(sim_args)
        if tls:
            os.makedirs(os.path.join(self.tmp, "certs"), exist_ok=True)
            if "--tls" not in args and "--tls-expired" not in args:
                args.append("--tls")
            args += ["--cert-dir", os.path.join(self.tmp, "certs")]
        self.tls = tls
        self.sim = Sim(*(transition_args() + args), openemr=openemr,
                       log=os.path.join(self.tmp, "sim.log"))
        self.redis_server = Redis()
        self.procs = []
        self.logs = []

    def __enter__(self):
        try:
            self.redis_server.start()
            self.sim.start()
        except BaseException:
            self.close()
            raise
        self.redis, self.redis_port = self.redis_server.client, self.redis_server.port
        self.base_url, self.admin_url = self.sim.base_url, self.sim.admin_url
        self.ca_file = self.sim.ca_file or ""
        self.calendar = self.sim.calendar
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in reversed(self.procs):
            stop_process(p)
        self.procs = []
        self.sim.stop()
        self.redis_server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def config(self, grant="password", surface=None, **over):
        """A worker config file; over: key__sub="value" for key.sub = value."""
        kv = {
            "openemr.base_url": self.base_url,
            "openemr.allow_insecure_http": "false" if self.tls else "true",
            "openemr.timeout_ms": "5000",
            "redis.url": self.redis_server.url,
            "redis.prefix": "t:",
            "oauth.grant": grant,
            "oauth.token_key_file": self.file("token.key", TOKEN_KEY + "\n"),
            "oauth.refresh_margin_s": "300",
            "retry.base_ms": "50",
            "log.level": "debug",
        }
        if self.ca_file:
            kv["openemr.ca_file"] = self.ca_file
        if surface:
            kv["openemr.surface"] = surface
        if grant == "client_credentials":
            kv["oauth.client_id"] = "sched-system"
            kv["oauth.private_key_file"] = SIM_KEY
            kv["oauth.key_id"] = "sched-system-key-1"
        else:
            kv["oauth.client_id"] = "sched-worker"
            kv["oauth.client_secret_file"] = self.file("secret", "sched-worker-secret\n")
            kv["oauth.username"] = "scheduler"
            kv["oauth.password_file"] = self.file("password", "scheduler-pass\n")
        for k, v in over.items():
            kv[k.replace("__", ".")] = v
        body = "".join('%s = "%s"\n' % (k, v) for k, v in kv.items())
        return self.file("w%d.conf" % len(os.listdir(self.tmp)), SIM_BREAKS_CONF + body)

    def _probe_cmd(self, cfg, args, repeat):
        cmd = [os.path.join(BIN, "oe-probe"), "-c", cfg]
        if repeat:
            cmd += ["--repeat", str(repeat[0]), "--every", str(repeat[1])]
        return cmd + [str(a) for a in args]

    def probe(self, cfg, *args, timeout=60, repeat=None):
        """Runs oe-probe; (its JSON lines, its stderr)."""
        r = subprocess.run(self._probe_cmd(cfg, args, repeat), capture_output=True, text=True,
                           timeout=timeout)
        self.logs.append(r.stderr)
        lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
        return lines, r.stderr

    def probe1(self, cfg, *args):
        lines, err = self.probe(cfg, *args)
        if not lines:
            fail("oe-probe %s printed nothing; stderr:\n%s" % (args, err[-2000:]))
        return lines[-1]

    def spawn_probe(self, cfg, *args, repeat=None):
        p = subprocess.Popen(self._probe_cmd(cfg, args, repeat), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def token_record(self, name):
        """The raw Redis value of the fleet's token record and its decryption."""
        raw = self.redis.get("t:token:" + name)
        if raw is None:
            return None, None
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        text = raw.decode()
        blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        ver, nonce, tag, ct = blob[0], blob[1:13], blob[13:29], blob[29:]
        plain = AESGCM(bytes.fromhex(TOKEN_KEY)).decrypt(nonce, ct + tag, bytes([ver]))
        return raw, json.loads(plain)


# ==== Kafka ===================================================================
class TopicReader:
    """Reads a topic from the beginning, remembering every message."""

    def __init__(self, brokers, topic):
        from confluent_kafka import Consumer, TopicPartition
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


# ==== the whole local system (tools/stack) ====================================
def _words(v):
    return v.split() if isinstance(v, str) else list(v or ())


class Stack(SimAdmin):
    """tools/stack in its own STACK_DIR under $BUILD/test-stacks, so stacks
    run side by side; `with` always tears it down, and a failing test (an
    exception, or a failure counted by run()) prints every log's tail.

      replicas, fhir, tls        tools/stack up --replicas N --fhir-scheduling --tls
      extra_conf                 lines appended to every worker's config
      sim_args                   simulator flags (list or string)
      openemr                    simulator profile: --openemr VALUE
                                 (default: SCHED_TEST_OPENEMR)
      kafka, brokers             tools/stack up --kafka VALUE [--brokers N]
                                 (default: SCHED_TEST_KAFKA; without one,
                                 brokers go to the embedded broker)
      kafka_args                 flags of the embedded broker (kafka-broker)
      stack_args                 any other tools/stack up flags
    """

    def __init__(self, replicas=1, fhir=False, tls=False, extra_conf="", sim_args=(),
                 kafka_args=(), kafka=None, brokers=None, openemr=None, stack_args=()):
        self.replicas = replicas
        self.extra_conf = extra_conf
        self.sim_args = _words(sim_args) + _profile(openemr)
        self.kafka_args = _words(kafka_args)
        kafka = os.environ.get("SCHED_TEST_KAFKA", "") if kafka is None else kafka
        self.up_args = ["--replicas", str(replicas)]
        if fhir:
            self.up_args.append("--fhir-scheduling")
        if tls:
            self.up_args.append("--tls")
        if kafka:
            self.up_args += ["--kafka", kafka]
            if brokers:
                self.up_args += ["--brokers", str(brokers)]
        elif brokers:
            self.kafka_args += ["--brokers", str(brokers)]
        self.up_args += _words(stack_args)
        base = os.path.join(ROOT, BUILD, "test-stacks")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="stack-", dir=base)
        self.env = {}
        self.readers = {}
        self.producer = None
        self.failed = False
        self._failed_before = REPORT.failed

    @classmethod
    def attach(cls):
        """A Stack for one that runs already (its export lines in the
        environment: eval "$(tools/stack up)")."""
        st = cls.__new__(cls)
        st.replicas = 0
        st.readers, st.failed, st._failed_before = {}, False, REPORT.failed
        st.dir = os.environ["STACK_DIR"]
        st.env = {k: os.environ[k] for k in ("KAFKA_BROKERS", "REDIS_URL", "SIM_ADMIN_URL",
                                             "OPENEMR_BASE_URL", "STACK_DIR",
                                             "SCHED_SIGN_KEY_FILE", "SCHED_SIGN_KEY_ID") if k in os.environ}
        st._connect()
        return st

    # ---- lifecycle ----
    def _run(self, *args, check=True, timeout=180):
        env = dict(os.environ, STACK_DIR=self.dir, BUILD=BUILD)
        if self.extra_conf:
            path = os.path.join(self.dir, "extra.conf")
            with open(path, "w") as f:
                f.write(self.extra_conf)
            env["STACK_WORKER_EXTRA_CONF"] = path
        if self.sim_args:
            env["STACK_SIM_ARGS"] = " ".join(self.sim_args)
        if self.kafka_args:
            env["STACK_KAFKA_ARGS"] = " ".join(self.kafka_args)
        p = subprocess.run([os.path.join(ROOT, "tools", "stack")] + list(args), cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("tools/stack %s failed:\n%s%s" % (" ".join(args), p.stdout,
                                                                p.stderr))
        return p

    def up(self):
        t0 = time.time()
        out = self._run("up", *self.up_args).stdout
        for line in out.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                self.env[k] = v.strip("'\"")
        self._connect()
        self._check_worker_clocks(t0)
        return self

    def _connect(self):
        from confluent_kafka import Producer
        self.brokers = self.env["KAFKA_BROKERS"]
        self.admin_url = self.env["SIM_ADMIN_URL"]
        self.base_url = self.env.get("OPENEMR_BASE_URL", "")
        self._learn_calendar()
        if self.env.get("REDIS_URL"):
            import redis
            self.redis = redis.Redis.from_url(self.env["REDIS_URL"])
            check_redis_clock(self.redis)
        self.producer = Producer({"bootstrap.servers": self.brokers, "linger.ms": 1})
        for t in ("results", "events", "dlq", "audit"):
            self.readers[t] = TopicReader(self.brokers, TOPICS[t])

    def _check_worker_clocks(self, t0):
        """Each worker's last log line was written during `up` by its clock."""
        for i in range(1, self.replicas + 1):
            stamps = []
            with open(os.path.join(self.dir, "worker-%d.log" % i), errors="replace") as f:
                for ln in f:
                    try:
                        stamps.append(json.loads(ln)["time"])
                    except (ValueError, KeyError, TypeError):
                        pass  # not one of the worker's JSON lines
            assert stamps, "worker-%d logged nothing" % i
            t = datetime.datetime.fromisoformat(stamps[-1].replace("Z", "+00:00")).timestamp()
            now = time.time()
            assert t0 - CLOCK_SLACK_S <= t <= now + CLOCK_SLACK_S, (
                "worker-%d's clock (%s) is not the test's (%.3f..%.3f)" % (i, stamps[-1], t0,
                                                                           now))

    def down(self):
        for r in self.readers.values():
            r.close()
        self.readers = {}
        if self.failed or REPORT.failed > self._failed_before:
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
        """Another tools/stack command on this stack (kill-worker 2, ...)."""
        return self._run(*args)

    def worker_log_lines(self):
        lines = []
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("worker-") and name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    lines.extend(f.readlines())
        return lines

    # ---- Kafka ----
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
        """Waits until `count` results of rid arrived; returns them (parsed,
        each checked against schemas/result.schema.json)."""
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
        """Every event so far (each checked against the schema) that matches."""
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

