"""Helpers for the OpenEMR simulator contract tests (stdlib only).

Sim starts build/openemr-sim on free ports, reads its one ready line, and
stops it (always: use it as a context manager or call stop()).  req() is a
small HTTP client that never follows redirects and never raises on a status.
"""
import base64
import http.client
import json
import os
import select
import ssl
import subprocess
import sys
import time
import unittest
import urllib.parse

ROOT = subprocess.check_output(["git", "rev-parse", "--show-toplevel"],
                               cwd=os.path.dirname(os.path.abspath(__file__))).decode().strip()
BUILD = os.environ.get("BUILD", "build")
SIM_BIN = os.path.join(ROOT, BUILD, "openemr-sim")
KEY = os.path.join(ROOT, "tools/openemr-sim/test-keys/system-key.pem")
API = "/apis/default/api"
FHIR = "/apis/default/fhir"
TOKEN = "/oauth2/default/token"
WORKER_SCOPE = ("openid offline_access api:oemr api:fhir user/appointment.read "
                "user/appointment.write user/patient.read user/practitioner.read "
                "user/Appointment.read user/Appointment.write user/Patient.read "
                "user/Practitioner.read")
SYSTEM_SCOPE = "api:fhir system/Appointment.read system/Patient.read system/Practitioner.read"
PATIENT_JOHN = "946da61d-6b88-4d7a-9f6e-000000000001"
DR_ADAMS = "90cde167-7b9b-4ed1-bd55-533925cb2605"
DR_BAKER = "90cde167-7b9b-4ed1-bd55-533925cb2606"
DR_DIAZ_NO_NPI = "90cde167-7b9b-4ed1-bd55-533925cb2608"


def no_quirks(*names):
    """Arguments that switch the named profile quirks off: for contract tests
    of the simulator's kind behaviour (the one tools/stack still runs the
    worker against); test_fidelity.py tests each quirk on."""
    return [a for n in names for a in ("--no-quirk", n)]


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
    """One HTTP request on a fresh connection; body: dict -> JSON."""
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
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


class Sim:
    def __init__(self, *args, today=None):
        self.args = list(args)
        if today:
            self.args += ["--today", today]
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=10):
        self.proc = subprocess.Popen([SIM_BIN] + self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=ROOT)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            raise RuntimeError("simulator did not become ready")
        line = self.proc.stdout.readline().decode()
        if not line:
            self.stop()
            raise RuntimeError("simulator exited before ready")
        info = json.loads(line)
        self.base, self.admin, self.ca = info["base_url"], info["admin_url"], info["ca_file"]
        return info

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode if self.proc else None

    # --- conveniences ---
    def get(self, path, token=None, **kw):
        return req("GET", self.base + path, token=token, ca=self.ca, **kw)

    def post(self, path, token=None, **kw):
        return req("POST", self.base + path, token=token, ca=self.ca, **kw)

    def admin_get(self, path):
        return req("GET", self.admin + path).json()

    def admin_post(self, path, body=None):
        return req("POST", self.admin + path, body=body if body is not None else {})

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

    def token_url(self):
        return self.base + TOKEN

    def system_grant(self, claims=None, header=None, scope=SYSTEM_SCOPE, key=KEY):
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


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_sign(header, claims, key=KEY):
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha384", "-sign", key],
                         input=signing_input.encode(), capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


def main():
    """Runs the calling module's tests; last line 'N passed, M failed'."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
