#!/usr/bin/python3
"""`schedworker auth register` and `schedworker auth login` against the
simulator: the registered client starts disabled, an admin enables it, the
PKCE login stores a refresh token (mode 0600) from which a worker then
gets its token; wrong state and a plain-http URL are refused."""

import os
import re
import stat
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Stack, finish, free_port, run  # noqa: E402

WORKER = os.path.join(BIN, "schedworker")


def write_conf(st, extra):
    path = os.path.join(st.dir, "auth.conf")
    with open(path, "w") as f:
        f.write("openemr.base_url = %s\nopenemr.allow_insecure_http = true\n" %
                st.env["OPENEMR_BASE_URL"])
        f.write("redis.url = %s\n" % st.env["REDIS_URL"])
        f.write(extra)
    return path


def test_register_then_login(st):
    port = free_port()
    secret = os.path.join(st.dir, "new-client-secret")
    refresh = os.path.join(st.dir, "refresh-token")
    base = ("oauth.client_secret_file = %s\noauth.redirect_uri = http://127.0.0.1:%d/callback\n"
            "oauth.refresh_token_file = %s\n" % (secret, port, refresh))
    conf = write_conf(st, base)
    p = subprocess.run([WORKER, "auth", "register", "--config", conf, "voice-agent-test"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.search(r"client_id = (\S+)", p.stdout)
    assert m and "must now ENABLE" in p.stdout, p.stdout
    client_id = m.group(1)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    with open(secret) as f:
        assert f.read().strip() not in p.stdout + p.stderr, "the secret is not printed"

    conf = write_conf(st, base + "oauth.client_id = %s\n" % client_id)
    # Disabled until an admin enables it: no code comes back.
    login = subprocess.Popen([WORKER, "auth", "login", "--config", conf, "--timeout", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = read_url(login)
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except Exception:  # noqa: BLE001 - the simulator may refuse a disabled client here
        pass
    out, err = login.communicate(timeout=30)
    assert login.returncode != 0, "a disabled client must not get a token: %s" % out
    assert not os.path.exists(refresh)

    st.admin("POST", "/clients/%s/enable" % client_id, {})
    grants = st.stats()["token_grants"].get("authorization_code", 0)
    login = subprocess.Popen([WORKER, "auth", "login", "--config", conf, "--timeout", "20"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = read_url(login)
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "received the authorization" in body, body
    out, err = login.communicate(timeout=30)
    assert login.returncode == 0, err
    assert stat.S_IMODE(os.stat(refresh).st_mode) == 0o600
    assert st.stats()["token_grants"].get("authorization_code", 0) == grants + 1
    with open(refresh) as f:
        token = f.read().strip()
    assert token and token not in out + err, "the refresh token is not printed"


def read_url(proc):
    end = time.time() + 15
    while time.time() < end:
        line = proc.stdout.readline()
        if line.strip().startswith("http"):
            return line.strip()
    raise AssertionError("auth login printed no URL")


def test_wrong_state_refused(st):
    port = free_port()
    conf = write_conf(st, "oauth.client_id = sched-worker\n"
                          "oauth.redirect_uri = http://127.0.0.1:%d/callback\n"
                          "oauth.refresh_token_file = %s/never\n" % (port, st.dir))
    login = subprocess.Popen([WORKER, "auth", "login", "--config", conf, "--timeout", "20"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    read_url(login)
    urllib.request.urlopen("http://127.0.0.1:%d/callback?code=forged&state=wrong" % port,
                           timeout=10).read()
    out, err = login.communicate(timeout=30)
    assert login.returncode != 0 and "state" in err, err
    assert not os.path.exists(os.path.join(st.dir, "never"))


def test_plain_http_refused(st):
    path = os.path.join(st.dir, "plain.conf")
    with open(path, "w") as f:
        f.write("openemr.base_url = http://127.0.0.1:9\n")
    p = subprocess.run([WORKER, "--check-config", path], capture_output=True, text=True)
    assert p.returncode != 0 and "allow_insecure_http" in p.stderr, p.stderr


if __name__ == "__main__":
    with Stack(replicas=0) as st:
        for t in (test_register_then_login, test_wrong_state_refused, test_plain_http_refused):
            run(t, st)
    finish()
