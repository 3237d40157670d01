#!/usr/bin/python3
"""Liveness, readiness and systemd notification of a real worker (issue 17,
ask 3), on the local stack:

- /readyz is 200, then 503 naming the cause while the Kafka broker is down,
  while Redis is down, while the fleet's OpenEMR circuit is open, and
  during the SIGTERM drain; 200 again after each outage;
- /healthz turns 503 naming the lane when a lane runs one command without
  progress for health.stall_s (OpenEMR hanging), and 200 again after;
- `schedworker health` exits 0 exactly when /readyz is 200 (and --live
  follows /healthz);
- with NOTIFY_SOCKET pointing at a datagram socket this test reads (no
  systemd needed), the worker sends READY=1 once it joined its group,
  WATCHDOG=1 while live (and none while the lane hangs), STOPPING=1 when
  SIGTERM starts the drain;
- SIGHUP re-reads the config: log.level applies, worker.threads is reported
  as needing a restart;
- --version and schedworker_build_info carry `git describe`.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, ROOT, Report, Stack  # noqa: E402

WORKER = os.path.join(ROOT, BUILD, "schedworker")


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def listen_of(st, n=1):
    with open(os.path.join(st.dir, "worker-%d.conf" % n)) as f:
        for line in f:
            m = re.match(r"\s*http\.listen\s*=\s*(\S+)", line)
            if m:
                return m.group(1)
    raise AssertionError("no http.listen")


def base(st):
    return "http://" + listen_of(st)


def worker_pid(st, n=1):
    with open(os.path.join(st.dir, "pids", "worker-%d.pid" % n)) as f:
        return int(f.read().split()[0])


def wait_readyz(st, want_status, timeout, what=""):
    end = time.time() + timeout
    while True:
        status, body = get(base(st) + "/readyz")
        if status == want_status:
            return json.loads(body)
        if time.time() > end:
            raise AssertionError("/readyz stayed %s (%s), wanted %s %s" % (status, body.strip(),
                                                                            want_status, what))
        time.sleep(0.2)


def health_cmd(st, *args):
    conf = os.path.join(st.dir, "worker-1.conf")
    p = subprocess.run([WORKER, "health", "--config", conf] + list(args), capture_output=True,
                       text=True, timeout=20)
    return p.returncode, p.stdout + p.stderr


class Notify:
    """The NOTIFY_SOCKET end systemd would hold: every datagram with its
    sender's pid (SO_PASSCRED)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []  # (time, pid, text)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        size = struct.calcsize("3i")
        while not self.stop:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(size))
            except socket.timeout:
                continue
            except OSError:
                return
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:size])[0]
            with self.lock:
                for line in data.decode(errors="replace").splitlines():
                    self.messages.append((time.time(), pid, line))

    def of(self, pid, prefix, since=0.0, until=None):
        with self.lock:
            return [m for m in self.messages if m[1] == pid and m[2].startswith(prefix)
                    and m[0] >= since and (until is None or m[0] <= until)]

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


# ---- tests -----------------------------------------------------------------------
def test_ready_and_notify(st):
    d = wait_readyz(st, 200, 20)
    assert d == {"ready": True, "kafka": True, "broker": True, "redis": True, "token": True,
                 "circuit": "closed", "draining": False}, d
    rc, out = health_cmd(st)
    assert rc == 0, out
    assert '"ready":true' in out, out
    rc, out = health_cmd(st, "--live")
    assert rc == 0 and '"live":true' in out, out
    pid = worker_pid(st)
    end = time.time() + 5  # the notifier reads the flags every 200 ms
    while not (st.notify.of(pid, "WATCHDOG=1") and st.notify.of(pid, "READY=1")) and \
            time.time() < end:
        time.sleep(0.1)
    assert len(st.notify.of(pid, "READY=1")) == 1, (pid, st.notify.messages[-8:])
    assert st.notify.of(pid, "WATCHDOG=1"), "no watchdog ping: %s" % st.notify.messages
    assert not st.notify.of(pid, "STOPPING=1")
    # the health tool against nothing: unhealthy, exit 1 (Docker's code)
    p = subprocess.run([WORKER, "health", "--url", "http://127.0.0.1:9"], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 1, (p.returncode, p.stderr)


def test_version(st):
    want = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    out = subprocess.run([WORKER, "--version"], capture_output=True, text=True).stdout.strip()
    assert out.startswith("schedworker ") and out != "schedworker unknown", out
    # the binary was built from this tree; a later edit may only add -dirty
    assert want.startswith(out.split()[1].replace("-dirty", "")), (out, want)
    status, text = get(base(st) + "/metrics")
    m = re.search(r'^schedworker_build_info\{version="([^"]+)"\} 1$', text, re.M)
    assert m and m.group(1) == out.split()[1], (m and m.group(0), out)
    assert any(out.split()[1] in l and '"started' not in l for l in st.worker_log_lines()
               if "started" in l), "the start line names the version"


def test_broker_loss(st):
    wait_readyz(st, 200, 20)
    st.stack("broker-down")
    try:
        d = wait_readyz(st, 503, 15, "after broker-down")
        assert d["broker"] is False and d["ready"] is False, d
        rc, out = health_cmd(st)
        assert rc == 1, out
        status, _ = get(base(st) + "/healthz")
        assert status == 200, "a lost broker is not a wedged process"
    finally:
        st.stack("broker-up")
    d = wait_readyz(st, 200, 60, "after broker-up")
    assert d["broker"] is True and d["kafka"] is True, d
    r = st.call({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                     "birthdate": "2015-03-03"}}, timeout=60)
    assert r["status"] == "ok", r


def test_redis_loss(st):
    st.stack("stop-redis")
    try:
        d = wait_readyz(st, 503, 15, "after stop-redis")
        assert d["redis"] is False, d
        assert health_cmd(st)[0] == 1
    finally:
        st.stack("start-redis")
    wait_readyz(st, 200, 30, "after start-redis")
    assert health_cmd(st)[0] == 0


def test_circuit_open(st):
    wait_readyz(st, 200, 20)
    st.admin("POST", "/faults", {"rate_500": 1.0, "routes": "/apis/"})
    try:
        for _ in range(4):  # breaker.failures = 2 (the extra conf)
            st.call({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                         "birthdate": "2015-03-03"}}, timeout=60)
        d = wait_readyz(st, 503, 10, "with the circuit open")
        assert d["circuit"] == "open" and d["redis"] and d["kafka"] and d["token"], d
        status, text = get(base(st) + "/metrics")
        assert 'schedworker_circuit_state{state="open"} 1' in text
        assert 'schedworker_circuit_state{state="closed"} 0' in text
    finally:
        st.admin("POST", "/faults", {})
    end = time.time() + 40
    while True:  # after breaker.open_s a command probes OpenEMR and closes it
        r = st.call({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                         "birthdate": "2015-03-03"}}, timeout=60)
        status, body = get(base(st) + "/readyz")
        if status == 200 and json.loads(body)["circuit"] == "closed":
            break
        assert time.time() < end, (r, body)
        time.sleep(1)
    assert json.loads(body)["circuit"] == "closed", body


def test_stuck_lane(st):
    pid = worker_pid(st)
    wait_readyz(st, 200, 20)
    st.admin("POST", "/faults", {"latency_ms": 7000, "routes": "/apis/"})
    try:
        rid = st.send({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                           "birthdate": "2015-03-03"}})
        end = time.time() + 6
        while True:
            status, body = get(base(st) + "/healthz")
            if status == 503:
                break
            assert time.time() < end, "/healthz stayed %s (%s)" % (status, body)
            time.sleep(0.1)
        t_dead = time.time()
        d = json.loads(body)
        assert d["live"] is False and re.match(r"lane \d+ has run one command for \d+ ms", d[
            "reason"]), d
        assert health_cmd(st, "--live")[0] == 1
        time.sleep(1.5)  # three watchdog periods (WATCHDOG_USEC 1.5 s: a ping every 0.5 s)
        t_check = time.time()
    finally:
        st.admin("POST", "/faults", {})
    r = st.result(rid, timeout=60)
    assert r["status"] in ("ok", "unavailable"), r
    end = time.time() + 10
    while get(base(st) + "/healthz")[0] != 200:
        assert time.time() < end, "not live again"
        time.sleep(0.1)
    t_live = time.time()
    time.sleep(1.5)
    stalled = st.notify.of(pid, "WATCHDOG=1", since=t_dead + 0.6, until=t_check)
    assert not stalled, "watchdog fed while a lane hung: %s" % stalled
    assert st.notify.of(pid, "WATCHDOG=1", since=t_live), "the watchdog is fed again"
    assert any("not live: lane" in l for l in st.worker_log_lines())


def test_sighup_reload(st):
    conf = os.path.join(st.dir, "worker-1.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "a") as f:
        f.write("log.level = DEBUG\nworker.threads = 3\n")
    n0 = len(st.worker_log_lines())
    os.kill(worker_pid(st), signal.SIGHUP)
    end = time.time() + 10
    while True:
        new = st.worker_log_lines()[n0:]
        applied = [l for l in new if "reload: log.level changed (info -> debug); applied" in l]
        restart = [l for l in new if "reload: worker.threads changed (8 -> 3)" in l and
                   "restart" in l]
        if applied and restart:
            break
        assert time.time() < end, "no reload lines: %s" % new[-10:]
        time.sleep(0.2)
    # a file that no longer loads changes nothing
    with open(conf, "a") as f:
        f.write("no.such.key = 1\n")
    os.kill(worker_pid(st), signal.SIGHUP)
    end = time.time() + 10
    while not any("does not load; nothing changed" in l for l in st.worker_log_lines()[n0:]):
        assert time.time() < end, "a bad file was not reported"
        time.sleep(0.2)
    with open(conf, "w") as f:
        f.write(text)
    os.kill(worker_pid(st), signal.SIGHUP)
    assert get(base(st) + "/readyz")[0] == 200


def test_sigterm_drain(st):
    pid = worker_pid(st)
    wait_readyz(st, 200, 20)
    st.admin("POST", "/faults", {"latency_ms": 3000, "routes": "/apis/"})
    try:
        rid = st.send({"type": "find_patient", "payload": {"phone": "617-555-0300",
                                                           "birthdate": "2015-03-03"}})
        end = time.time() + 10
        while not st.stats().get("in_flight", 0) and time.time() < end:
            time.sleep(0.05)
        time.sleep(0.3)
        t0 = time.time()
        os.kill(pid, signal.SIGTERM)
        d = wait_readyz(st, 503, 5, "during the drain")
        assert d["draining"] is True, d
        status, _ = get(base(st) + "/healthz")
        assert status == 200, "alive while draining"
    finally:
        st.admin("POST", "/faults", {})
    r = st.result(rid, timeout=30)  # the drain finished it
    assert r["status"] == "ok", r
    end = time.time() + 30
    while os.path.exists("/proc/%d" % pid) and open("/proc/%d/stat" % pid).read().split()[2] != "Z":
        assert time.time() < end, "worker did not exit"
        time.sleep(0.1)
    stopping = st.notify.of(pid, "STOPPING=1")
    assert len(stopping) == 1 and stopping[0][0] >= t0, st.notify.messages[-5:]
    st.stack("start-worker", "1")


def main():
    c = Report()
    st = Stack(replicas=1, extra_conf="health.stall_s = 2\nbreaker.failures = 2\n"
                                      "breaker.open_s = 3\nretry.max_attempts = 1\n"
                                      "openemr.timeout_ms = 20000\n")
    sock = os.path.join(st.dir, "notify.sock")
    st.notify = Notify(sock)
    os.environ["NOTIFY_SOCKET"] = sock
    os.environ["WATCHDOG_USEC"] = "1500000"
    try:
        with st:
            del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
            for t in (test_ready_and_notify, test_version, test_redis_loss, test_broker_loss,
                      test_circuit_open, test_stuck_lane, test_sighup_reload, test_sigterm_drain):
                c.run(t, st)
            if c.failed:
                st.failed = True
    finally:
        st.notify.close()
    c.finish()


if __name__ == "__main__":
    main()
