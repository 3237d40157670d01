#!/usr/bin/python3
"""Token expiry mid-run: the simulator issues 12-second access tokens and
3 client processes (replicas) call OpenEMR every 250 ms for 45 s.  The
fleet refreshes once per expiry for all of them (token_grants), no call
fails, and no spent refresh token is presented (no 400)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, ClientStack, finish, run  # noqa: E402

LIFETIME = 12
DURATION = 45
REPLICAS = 3

def test_one_refresh_per_expiry_for_the_fleet():
    with ClientStack(["--access-token-lifetime", str(LIFETIME)]) as s:
        import time
        now = int(time.time())
        cfg = s.config("password")
        procs = [s.spawn_probe(cfg, "list-range", "-", now, now + 86400,
                               repeat=(DURATION, 250)) for _ in range(REPLICAS)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=DURATION + 60)
            s.logs.append(err)
            results.append([json.loads(l) for l in out.splitlines() if l.startswith("{")])
        calls = sum(len(r) for r in results)
        failed = [l for r in results for l in r if l["err"] != "ok"]
        # (the fleet limiter, limiter.rps = 10 by default, paces the three)
        check(calls >= REPLICAS * DURATION, "%d calls made by %d replicas" % (calls, REPLICAS))
        check(not failed, "no call failed (%s)" % [f["detail"] for f in failed[:3]])
        g = s.stats()["token_grants"]
        grants = g["password"] + g["refresh_token"]
        # refresh when a quarter of the lifetime remains: one grant per 0.75 *
        # LIFETIME seconds for the whole fleet; per replica it would be 3x that
        expected = DURATION / (0.75 * LIFETIME)
        print("grants", g, "expected about", round(expected, 1))
        check(grants <= expected + 2,
              "one refresh per expiry for the whole fleet: %d grants in %ds (lifetime %ds)"
              % (grants, DURATION, LIFETIME))
        check(grants >= expected - 1, "the token was refreshed before each expiry")
        st = s.stats()
        check("400" not in st["status_counts"] and "401" not in st["status_counts"],
              "no refused token and no spent refresh token (status counts %s)"
              % st["status_counts"])


run(test_one_refresh_per_expiry_for_the_fleet)
finish()
