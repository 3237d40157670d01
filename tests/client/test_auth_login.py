#!/usr/bin/python3
"""`auth register` and `auth login`: a registered confidential client
starts disabled (its token requests fail) until an admin enables it; the
loopback login receives the browser's redirect, checks the state,
exchanges the code (PKCE S256) and stores a refresh token the fleet then
uses."""
import json
import os
import select
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, ClientStack, fail, finish, free_port, run  # noqa: E402

NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]

def test_register_enable_and_login():
    with ClientStack() as s:
        port = free_port()
        redirect = "http://127.0.0.1:%d/callback" % port
        cfg = s.config("refresh_token", oauth__redirect_uri=redirect)
        answer_file = os.path.join(s.tmp, "client.json")
        lines, err = s.probe(cfg, "auth-register", "schedworker test", answer_file)
        check(lines and lines[0]["err"] == "ok" and lines[0]["client_id"],
              "client registered (%s)" % err[-300:])
        client = json.load(open(answer_file))
        cid, secret = client["client_id"], client["client_secret"]
        check(client["redirect_uris"] == [redirect] and secret,
              "confidential client with our redirect")
        clients = s.admin("GET", "/clients")
        rows = clients if isinstance(clients, list) else list(clients.values()) \
            if isinstance(clients, dict) and cid in clients else clients.get("clients", [])
        mine = [c for c in rows if isinstance(c, dict) and c.get("client_id") == cid]
        check(mine and mine[0].get("enabled") is False,
              "it starts disabled until an admin enables it")

        secret_file = s.file("new.secret", secret + "\n")
        refresh_file = os.path.join(s.tmp, "refresh.token")
        cfg = s.config("refresh_token", oauth__redirect_uri=redirect, oauth__client_id=cid,
                       oauth__client_secret_file=secret_file,
                       oauth__refresh_token_file=refresh_file)

        def login():
            p = s.spawn_probe(cfg, "auth-login", refresh_file)
            url, buf = None, b""
            deadline = time.time() + 15
            fd = p.stdout.fileno()
            while time.time() < deadline and not url:
                ready, _, _ = select.select([fd], [], [], 1)
                if ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    buf += chunk
                    for line in buf.decode(errors="replace").splitlines():
                        if "/oauth2/default/authorize?" in line and buf.endswith(b"\n"):
                            url = line.strip()
            if not url:
                fail("auth-login printed no authorize URL")
            try:
                with urllib.request.urlopen(url, timeout=15) as r:  # follows the redirect
                    body, status = r.read().decode(), r.status
            except urllib.error.HTTPError as e:
                body, status = e.read().decode(), e.code
            if status != 200:  # OpenEMR answered the browser itself: no redirect comes
                p.terminate()
            out, _ = p.communicate(timeout=40)
            return status, body, buf.decode(errors="replace") + out

        status, body, out = login()
        check(status != 200 and '"err":"ok"' not in out,
              "login with the disabled client fails (%d)" % status)
        s.admin("POST", "/clients/%s/enable" % cid)
        status, body, out = login()
        check(status == 200 and "received the authorization" in body and '"err":"ok"' in out,
              "after enabling, the loopback login completes (%d: %s)" % (status, body.strip()))
        check(s.stats()["token_grants"]["authorization_code"] == 1, "one authorization_code grant")
        check(os.path.getsize(refresh_file) > 10, "refresh token stored")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "the fleet runs on the stored refresh token (%s)" % r["detail"])
        check(s.stats()["token_grants"]["refresh_token"] == 1,
              "seeded with one refresh_token grant")


run(test_register_enable_and_login)
finish()
