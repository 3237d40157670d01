#!/usr/bin/python3
"""Token requests count against OpenEMR's budget (issue 18): the grant
waits for a fleet limiter permit like every other OpenEMR request.  With
every permit of the fleet taken (by replicas that are "busy"), a replica
that needs a token sends nothing to the token endpoint; once permits free
up it gets its token and its call goes through, with exactly one grant."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import ClientStack as Stack, check  # noqa: E402

NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]
PERMITS = "t:limit:permits"

with Stack() as s:
    cfg = s.config("password", limiter__concurrency="2", limiter__write_share="0")
    # two live permits of other replicas, good for a minute: the fleet is full
    until = int(s.redis.time()[0]) * 1000 + 60000
    s.redis.zadd(PERMITS, {"other-1": until, "other-2": until})
    p = s.spawn_probe(cfg, *RANGE)
    time.sleep(2.0)
    st = s.stats()
    check(sum(st["token_grants"].values()) == 0,
          "no token request while the fleet has no permit (grants %s)" % st["token_grants"])
    check(p.poll() is None, "the call waits for a permit")
    s.redis.zrem(PERMITS, "other-1")
    out, err = p.communicate(timeout=60)
    s.logs.append(err)
    import json
    lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    check(lines and lines[-1]["err"] == "ok", "the call works once a permit is free (%s)"
          % (lines[-1]["err"] if lines else err[-1500:]))
    st = s.stats()
    check(st["token_grants"].get("password") == 1,
          "one password grant, after the permit (grants %s)" % st["token_grants"])
    left = [m.decode() for m in s.redis.zrange(PERMITS, 0, -1)]
    check(left == ["other-2"], "every permit the replica took is given back (%s)" % left)
print("ok: test_oauth_permit")
