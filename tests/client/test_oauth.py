#!/usr/bin/python3
"""OAuth against the simulator: every grant (password, client_credentials
with a fresh RS384 assertion, refresh_token with rotation, authorization
code + PKCE), a spent refresh token never presented again, recovery after
a replica died mid-refresh, a revoked token recovers (once for the fleet),
logout, tokens encrypted at rest in Redis, no secret in any log line."""
import base64
import hashlib
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, ClientStack, fail, finish, run  # noqa: E402

PATIENT = "946da61d-6b88-4d7a-9f6e-000000000004"
PRACT = "90cde167-7b9b-4ed1-bd55-533925cb2606"
NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]
SECRETS = {"sched-worker-secret", "scheduler-pass"}


def token_post(s, form):
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(s.base_url + "/oauth2/default/token", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}


def password_grant(s):
    return token_post(s, {"grant_type": "password", "user_role": "users", "username": "scheduler",
                          "password": "scheduler-pass", "client_id": "sched-worker",
                          "client_secret": "sched-worker-secret",
                          "scope": "openid offline_access api:oemr api:fhir user/Appointment.read"})


def fingerprint(tok):
    return base64.urlsafe_b64encode(hashlib.sha256(tok.encode()).digest()).rstrip(b"=").decode()


def no_400(s, what):
    st = s.stats()
    check("400" not in st["status_counts"], "%s (status counts %s)" % (what, st["status_counts"]))


def remember(s, seen, name):
    raw, rec = s.token_record(name)
    if rec is None:
        fail("no token record %s in Redis" % name)
    for k in ("access_token", "refresh_token"):
        if rec.get(k):
            seen.add(rec[k])
            if rec[k] in raw.decode() or rec[k][:24] in raw.decode():
                fail("token text found in the raw Redis value")
    return rec


def scan_logs(s, seen):
    tokens = {t for t in seen if t} | SECRETS
    bad = [t[:6] for t in tokens for log in s.logs if t in log]
    check(not bad and len(tokens) > 2,
          "no access/refresh token, client secret or password in %d log outputs (%d secrets)"
          % (len(s.logs), len(tokens)))


seen = set()

def test_password_rotation_crash_and_logout():
    print("== password grant, rotation, crash mid-refresh, logout")
    with ClientStack(["--access-token-lifetime", "3600"]) as s:
        cfg = s.config("password")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "password grant: first call ok")
        check(s.stats()["token_grants"]["password"] == 1, "one password grant")
        rec1 = remember(s, seen, "password")
        check(rec1["refresh_token"] and rec1["access_token"], "record holds access + refresh token")
        r = s.probe1(cfg, *RANGE)
        check(s.stats()["token_grants"]["password"] == 1 and
              s.stats()["token_grants"]["refresh_token"] == 0,
              "a second process reuses the fleet's token (no new grant)")

        refresh_tokens = [rec1["refresh_token"]]
        for i in range(4):
            s.admin("POST", "/tokens/expire")
            r = s.probe1(cfg, *RANGE)
            check(r["err"] == "ok", "after expiry %d: call ok (%s)" % (i + 1, r["detail"]))
            rec = remember(s, seen, "password")
            refresh_tokens.append(rec["refresh_token"])
        g = s.stats()["token_grants"]
        check(g["refresh_token"] == 4 and g["password"] == 1,
              "each expiry refreshed once with the refresh token (grants %s)" % g)
        check(len(set(refresh_tokens)) == 5, "every refresh rotated the refresh token")
        no_400(s, "no spent refresh token was ever presented again")

        # a replica dies after OpenEMR rotated the refresh token but before it
        # stored the new one: spend the fleet's refresh token behind its back,
        # leaving the spend marker it wrote before presenting it
        rt = s.token_record("password")[1]["refresh_token"]
        ans = token_post(s, {"grant_type": "refresh_token", "refresh_token": rt,
                             "client_id": "sched-worker", "client_secret": "sched-worker-secret"})
        check("access_token" in ans, "(test) the fleet's refresh token spent by a dying replica")
        seen.add(ans["access_token"])
        seen.add(ans.get("refresh_token", ""))
        s.redis.set("t:cache:oauth-spend:password", fingerprint(rt))
        s.admin("POST", "/tokens/expire")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "after the crash the fleet still gets a token (%s)" % r["detail"])
        g = s.stats()["token_grants"]
        check(g["password"] == 2, "it fell back to the password grant (grants %s)" % g)
        no_400(s, "the possibly spent refresh token was not presented")
        rec = remember(s, seen, "password")
        check(s.redis.get("t:cache:oauth-spend:password") is None, "spend marker cleared after put")

        # logout revokes the session
        access = rec["access_token"]
        r = s.probe1(cfg, "logout")
        check(r["err"] == "ok", "logout ok")
        req = urllib.request.Request(s.base_url + "/apis/default/fhir/Patient?birthdate=1964-07-22",
                                     headers={"Authorization": "Bearer " + access})
        try:
            urllib.request.urlopen(req, timeout=10)
            fail("the logged-out token still works")
        except urllib.error.HTTPError as e:
            check(e.code == 401, "after logout the old access token is refused (401)")
        scan_logs(s, seen)


def test_revoked_tokens_recover_once():
    print("== revoked tokens recover once for the fleet")
    with ClientStack() as s:
        cfg = s.config("password")
        check(s.probe1(cfg, *RANGE)["err"] == "ok", "first call ok")
        remember(s, seen, "password")
        s.admin("POST", "/tokens/revoke")  # access AND refresh tokens
        procs = [s.spawn_probe(cfg, *RANGE) for _ in range(3)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            s.logs.append(err)
            outs.append(json.loads(out.splitlines()[-1]))
        check(all(o["err"] == "ok" for o in outs),
              "3 replicas with a revoked token all recover: %s" % [o["detail"] for o in outs])
        g = s.stats()["token_grants"]
        check(g["password"] == 2, "one new grant for the whole fleet (grants %s)" % g)
        remember(s, seen, "password")
        scan_logs(s, seen)


def test_client_credentials():
    print("== client_credentials (RS384 assertion)")
    with ClientStack() as s:
        cfg = s.config("client_credentials")
        r = s.probe1(cfg, "find-patients", "6175550200", "1964-07-22")
        check(r["err"] == "ok" and len(r["result"]) == 1,
              "system token reads FHIR (%s)" % r["detail"])
        s.admin("POST", "/tokens/expire")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "a second assertion (fresh jti) is accepted")
        check(s.stats()["token_grants"]["client_credentials"] == 2, "two client_credentials grants")
        r = s.probe1(cfg, "create", PATIENT, PRACT, NOW + 5 * 86400, NOW + 5 * 86400 + 3600,
                     "routine", "SWSYS0001")
        check(r["err"] == "forbidden", "a system token is refused on /api (forbidden)")
        remember(s, seen, "client_credentials")
        scan_logs(s, seen)


def test_authorization_code_and_refresh_rotation():
    print("== authorization code + PKCE, then refresh_token grant with rotation")
    with ClientStack() as s:
        cfg = s.config("refresh_token", oauth__redirect_uri="http://127.0.0.1/callback",
                       oauth__refresh_token_file=s.tmp + "/refresh.token")
        lines, _ = s.probe(cfg, "auth-url", "st4te")
        info = lines[0]
        check("code_challenge_method=S256" in info["url"], "authorize URL uses S256")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(info["url"], timeout=10)
            fail("authorize did not redirect")
        except urllib.error.HTTPError as e:
            loc = e.headers["Location"]
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        check(q["state"] == ["st4te"], "redirect carries our state")
        lines, err = s.probe(cfg, "auth-exchange", q["code"][0], info["verifier"],
                             s.tmp + "/refresh.token")
        check(lines and lines[0]["err"] == "ok", "code exchanged for a refresh token")
        check(s.stats()["token_grants"]["authorization_code"] == 1, "one authorization_code grant")
        seed = open(s.tmp + "/refresh.token").read().strip()
        seen.add(seed)
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "refresh_token grant seeded from the file (%s)" % r["detail"])
        for i in range(3):
            s.admin("POST", "/tokens/expire")
            check(s.probe1(cfg, *RANGE)["err"] == "ok", "refresh %d ok" % (i + 1))
            remember(s, seen, "refresh_token")
        check(s.stats()["token_grants"]["refresh_token"] == 4, "4 refresh_token grants")
        no_400(s, "the spent seed token was never presented again")
        # a fresh `auth login` re-seeds the fleet after its refresh token was lost
        rt = s.token_record("refresh_token")[1]["refresh_token"]
        token_post(s, {"grant_type": "refresh_token", "refresh_token": rt,
                       "client_id": "sched-worker", "client_secret": "sched-worker-secret"})
        s.redis.set("t:cache:oauth-spend:refresh_token", fingerprint(rt))
        new = password_grant(s)["refresh_token"]
        seen.add(new)
        open(s.tmp + "/refresh.token", "w").write(new + "\n")
        s.admin("POST", "/tokens/expire")
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok", "re-seeded from a new refresh token file (%s)" % r["detail"])
        no_400(s, "no spent token presented during the re-seed")
        remember(s, seen, "refresh_token")
        scan_logs(s, seen)


run(test_password_rotation_crash_and_logout)
run(test_revoked_tokens_recover_once)
run(test_client_credentials)
run(test_authorization_code_and_refresh_rotation)
finish()
