#!/usr/bin/python3
"""The shared token survives Redis refusing writes during a refresh (issue
14, item 7), against the simulator's refresh-token rotation: Redis stops
taking writes while OpenEMR is answering the refresh (the spend marker is
written, the new token not yet stored).  The replica keeps the rotated
token in memory, stores it (compare-and-set on the record's version) once
Redis takes writes again, the spent refresh token is never presented again
(no 400), there is exactly one refresh, and the stored refresh token is the
live one (the next refresh with it works)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    from oeharness import Stack, check
except ImportError:  # the unified harness
    from harness import ClientStack as Stack, check

NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]
MARKER = "t:cache:oauth-spend:password"


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while not pred():
        if time.time() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


with Stack(["--access-token-lifetime", "3600"]) as s:
    cfg = s.config("password")
    check(s.probe1(cfg, *RANGE)["err"] == "ok", "first call ok (password grant)")
    rt1 = s.token_record("password")[1]["refresh_token"]
    check(s.redis.hget("t:token:password:meta", "version") == b"1", "record version 1")

    # OpenEMR answers token requests slowly, and refuses the current access
    # token: the next call refreshes, and Redis can be stopped mid-refresh
    s.admin("POST", "/faults", {"latency_ms": 1500, "routes": "/oauth2/"})
    s.admin("POST", "/tokens/expire")
    p = s.spawn_probe(cfg, *RANGE, repeat=(10, 250))
    wait_for(lambda: s.redis.get(MARKER) is not None, 15, "the spend marker")
    s.redis.config_set("min-replicas-to-write", 1)  # Redis refuses every write
    t0 = time.time()
    time.sleep(3.5)  # the token answer (1.5 s) arrives; its store is refused
    check(s.redis.hget("t:token:password:meta", "version") == b"1",
          "while Redis refuses writes the record is not replaced")
    s.redis.config_set("min-replicas-to-write", 0)
    s.admin("POST", "/faults", {})
    print("writes refused for %.1fs" % (time.time() - t0))
    out, err = p.communicate(timeout=60)
    s.logs.append(err)
    import json
    lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    check(lines and lines[-1]["err"] == "ok", "calls work again once Redis takes writes (%s)"
          % (lines[-1]["detail"] if lines else "no output"))
    check("using it from memory and retrying the store" in err,
          "the failed store was seen and the token kept in memory")
    check("stored the refreshed fleet token that a Redis failure had left in memory" in err,
          "the store was retried and landed")
    st = s.stats()
    g = st["token_grants"]
    check(g["password"] == 1 and g["refresh_token"] == 1,
          "exactly one refresh for the whole episode (grants %s)" % g)
    check("400" not in st["status_counts"],
          "the spent refresh token was never presented again (status counts %s)"
          % st["status_counts"])
    check(s.redis.hget("t:token:password:meta", "version") == b"2", "record version 2")
    rt2 = s.token_record("password")[1]["refresh_token"]
    check(rt2 and rt2 != rt1, "the record holds the rotated refresh token")
    check(s.redis.get(MARKER) is None, "the spend marker is cleared")

    # the stored refresh token is the live one: another replica refreshes with it
    s.admin("POST", "/tokens/expire")
    check(s.probe1(cfg, *RANGE)["err"] == "ok", "a later refresh with the stored token works")
    st = s.stats()
    check(st["token_grants"]["refresh_token"] == 2 and "400" not in st["status_counts"],
          "... with the refresh token grant, no 400 (%s, %s)" % (st["token_grants"],
                                                                  st["status_counts"]))
print("PASS")
