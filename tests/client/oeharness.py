"""Test harness for the OpenEMR client: starts redis-server and the
OpenEMR simulator on free loopback ports, writes worker configs and runs
build/oe-probe.  Every process is stopped on exit, even on failure."""
import base64
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

BUILD = os.environ.get("BUILD", "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIM_KEY = os.path.join(ROOT, "tools", "openemr-sim", "test-keys", "system-key.pem")


def transition_args():
    """The simulator profile minus the quirks the worker does not survive yet
    (tools/openemr-sim/transition.args, shared with tools/stack)."""
    with open(os.path.join(ROOT, "tools", "openemr-sim", "transition.args")) as f:
        return [w for line in f for w in line.split("#", 1)[0].split()]
TOKEN_KEY = "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg)


class Stack:
    def __init__(self, sim_args=(), tls=False):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="oeclient-")
        self.sim_args = list(sim_args)
        self.tls = tls
        self.logs = []

    def __enter__(self):
        try:
            self._start_redis()
            self._start_sim()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.procs = []
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _start_redis(self):
        self.redis_port = free_port()
        p = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        import redis
        self.redis = redis.Redis(host="127.0.0.1", port=self.redis_port)
        deadline = time.time() + 10
        while True:
            try:
                self.redis.ping()
                return
            except Exception:
                if time.time() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def _start_sim(self, extra=()):
        args = [os.path.join(BUILD, "openemr-sim"), "--listen", "127.0.0.1:0",
                "--admin-listen", "127.0.0.1:0"] + transition_args() + self.sim_args + list(extra)
        if self.tls:
            os.makedirs(os.path.join(self.tmp, "certs"), exist_ok=True)
            args += ["--tls", "--cert-dir", os.path.join(self.tmp, "certs")]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(
            os.path.join(self.tmp, "sim.log"), "w"), text=True)
        self.procs.append(p)
        ready, _, _ = select.select([p.stdout], [], [], 15)
        if not ready:
            raise RuntimeError("openemr-sim printed nothing in 15 s")
        line = p.stdout.readline()
        self.sim = json.loads(line)
        self.base_url = self.sim["base_url"]
        self.admin_url = self.sim["admin_url"]
        self.ca_file = self.sim.get("ca_file") or ""

    # ---- files and config ----------------------------------------------
    def file(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def config(self, grant="password", surface=None, **over):
        kv = {
            "openemr.base_url": self.base_url,
            "openemr.allow_insecure_http": "false" if self.tls else "true",
            "openemr.timeout_ms": "5000",
            "redis.url": "redis://127.0.0.1:%d/0" % self.redis_port,
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
        return self.file("w%d.conf" % len(os.listdir(self.tmp)), body)

    # ---- running the client ---------------------------------------------
    def probe(self, cfg, *args, timeout=60, repeat=None):
        cmd = [os.path.join(BUILD, "oe-probe"), "-c", cfg]
        if repeat:
            cmd += ["--repeat", str(repeat[0]), "--every", str(repeat[1])]
        cmd += [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        self.logs.append(r.stderr)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        return lines, r.stderr

    def probe1(self, cfg, *args):
        lines, err = self.probe(cfg, *args)
        if not lines:
            fail("oe-probe %s printed nothing; stderr:\n%s" % (args, err[-2000:]))
        return lines[-1]

    def spawn_probe(self, cfg, *args, repeat=None):
        cmd = [os.path.join(BUILD, "oe-probe"), "-c", cfg]
        if repeat:
            cmd += ["--repeat", str(repeat[0]), "--every", str(repeat[1])]
        cmd += [str(a) for a in args]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    # ---- simulator admin ---------------------------------------------------
    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.admin_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        ctx = None
        if self.admin_url.startswith("https"):
            import ssl
            ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            text = r.read().decode()
            return json.loads(text) if text.strip() else None

    def stats(self):
        return self.admin("GET", "/stats")

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
