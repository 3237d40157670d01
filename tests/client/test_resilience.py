#!/usr/bin/python3
"""Transient failures: idempotent reads are retried with backoff (502s),
a create is never retried blindly, 429 Retry-After is reported and backs
the fleet off, an oversized answer and a slow server are classified,
a 401 mid-run refreshes and retries once, the circuit opens after
repeated failures."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import check, ClientStack, finish, run  # noqa: E402

NOW = int(time.time())
RANGE = ["list-range", "-", NOW, NOW + 86400]
PATIENT = "946da61d-6b88-4d7a-9f6e-000000000004"
PRACT = "90cde167-7b9b-4ed1-bd55-533925cb2606"

def test_transient_failures():
    with ClientStack() as s:
        cfg = s.config("password", retry__max_attempts="8", breaker__failures="50")
        check(s.probe1(cfg, *RANGE)["err"] == "ok", "warm-up call ok")

        s.admin("POST", "/faults", {"rate_502": 0.3, "routes": "/fhir/Appointment"})
        lines = []
        for _ in range(20):
            lines.append(s.probe1(cfg, *RANGE))
        check(all(l["err"] == "ok" for l in lines), "20 reads through 30%% 502s all succeed")
        check(sum(l["requests"] for l in lines) > 20,
              "the 502s were retried (%d requests for 20 calls)"
              % sum(l["requests"] for l in lines))

        # the create's own route only: the id lookups (without admin/users:
        # /api/patient, the refused /api/practitioner, the /api appointment
        # rows) answer, the POST fails
        s.admin("POST", "/faults", {"rate_500": 1.0, "routes": "/patient/4/appointment"})
        start = NOW + 6 * 86400
        r = s.probe1(cfg, "create", PATIENT, PRACT, start, start + 3600, "routine", "SWRES0001")
        posts = s.stats()["routes"]
        check(r["err"] == "server_error" and r["requests"] == 4,
              "a failing create is not retried (3 id lookups + 1 POST = %d requests; %s)"
              % (r["requests"], {k: v for k, v in posts.items() if "appointment" in k}))

        s.admin("POST", "/faults", {"rate_429": 1.0, "retry_after": 7})
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "rate_limited" and r["retry_after"] == 7,
              "429 is reported with its Retry-After (%s, %s)" % (r["err"], r["retry_after"]))
        s.admin("POST", "/faults", {})
        t0 = time.time()
        r = s.probe1(cfg, *RANGE)
        check(r["err"] == "ok" and time.time() - t0 >= 4,
              "the next call waits out the fleet's back-off (%.1fs)" % (time.time() - t0))

        s.admin("POST", "/faults", {"rate_401": 1.0, "routes": "/fhir/Patient"})
        before = s.stats()["token_grants"]
        r = s.probe1(cfg, "find-patients", "6175550200", "1964-07-22")
        after = s.stats()["token_grants"]
        check(r["err"] == "invalid_token" and r["requests"] == 2,
              "a 401 refreshes the token and retries exactly once (%d requests)" % r["requests"])
        check(after["refresh_token"] == before["refresh_token"] + 1, "one refresh for that 401")
        lines, _ = s.probe(cfg, "find-patients", "6175550200", "1964-07-22", repeat=(1, 200))
        again = s.stats()["token_grants"]
        check(len(lines) >= 3 and [l["requests"] for l in lines[1:]] == [1] * (len(lines) - 1)
              and again["refresh_token"] == after["refresh_token"] + 1,
              "a process whose fresh token keeps getting 401 (a scope problem) does not keep "
              "refreshing (requests %s)" % [l["requests"] for l in lines])
        s.admin("POST", "/faults", {})

        r = s.probe1(s.config("password", openemr__max_response_bytes="2048"), *RANGE)
        check(r["err"] == "bad_answer" and "too large" in r["detail"],
              "an answer above openemr.max_response_bytes is refused (%s)" % r["detail"])

        s.admin("POST", "/faults", {"latency_ms": 1500, "routes": "/fhir/Appointment"})
        r = s.probe1(s.config("password", openemr__timeout_ms="500", retry__max_attempts="1"),
                     *RANGE)
        check(r["err"] == "timeout", "a slow server times out (%s)" % r["err"])
        s.admin("POST", "/faults", {})

        s.admin("POST", "/faults", {"rate_503": 1.0, "routes": "/fhir/Appointment"})
        cfgb = s.config("password", breaker__failures="3", breaker__open_s="60", redis__prefix="b:",
                        retry__max_attempts="1")
        errs = [s.probe1(cfgb, *RANGE)["err"] for _ in range(5)]
        check(errs[:3] == ["server_error"] * 3 and errs[-1] == "unavailable",
              "after 3 failures the circuit opens: %s" % errs)
        r = s.probe1(cfgb, *RANGE)
        check(r["requests"] == 0, "with the circuit open nothing reaches OpenEMR")


run(test_transient_failures)
finish()
