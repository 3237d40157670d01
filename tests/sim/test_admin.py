#!/usr/bin/python3
"""Contract tests: the admin surface (stats, clock, calendar edits, faults,
reset) and the simulator's process contract (ready line, SIGTERM, default
thread pool, throughput)."""
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (API, FHIR, PATIENT_JOHN, SIM_BIN, WORKER_SCOPE, Calendar, Sim,  # noqa: E402
                     SimTestCase, main, req)

FLEET_CONCURRENCY = 5  # limiter.concurrency: the default stack must be able to see more


def concurrent_gets(sim, n, path=FHIR + "/metadata"):
    """n requests started 50 ms apart, each held 600 ms by injected latency."""
    sim.admin_post("/faults", {"latency_ms": {"min": 600, "max": 600}})
    results = []

    def one():
        results.append(sim.get(path).status)

    threads = []
    for _ in range(n):
        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
        time.sleep(0.05)
    for t in threads:
        t.join(15)
    sim.admin_post("/faults", {})
    return results


class AdminTest(SimTestCase):
    SIM_ARGS = ("--threads", "8")

    def setUp(self):
        super().setUp()
        self.sim.admin_post("/stats/reset")

    def burst(self, n, path=FHIR + "/metadata"):
        u = urllib.parse.urlsplit(self.sim.base_url)
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        for _ in range(n):
            conn.request("GET", path)
            conn.getresponse().read()
        conn.close()
        return time.monotonic() - t0

    def test_stats_count_routes_statuses_and_grants(self):
        self.sim.get(FHIR + "/Patient", token=self.tok)
        self.sim.get(FHIR + "/Patient", token=self.tok)
        self.sim.get(API + "/appointment/424242", token=self.tok)
        self.sim.system_token()
        s = self.sim.admin_get("/stats")
        self.assertEqual(s["requests_total"], 4)
        self.assertEqual(s["routes"]["GET /fhir/Patient"], 2)
        self.assertEqual(s["routes"]["GET /api/appointment/:eid"], 1)
        self.assertEqual(s["routes"]["POST /oauth2/token"], 1)
        self.assertEqual(s["status_counts"], {"200": 3, "404": 1})
        self.assertEqual(s["token_grants"]["client_credentials"], 1)
        self.assertEqual(s["token_grants"]["password"], 0)  # reset after setUp's grant

    def test_max_rps_1s_is_a_sliding_one_second_window(self):
        # 30 in a burst, a pause, then 20 + 20 less than a second apart: any
        # one-second window holds at most 40, whatever the wall-clock seconds.
        self.assertLess(self.burst(30), 0.4)
        time.sleep(1.2)
        self.assertLess(self.burst(20), 0.3)
        time.sleep(0.2)
        self.assertLess(self.burst(20), 0.3)
        s = self.sim.admin_get("/stats")
        self.assertEqual(s["requests_total"], 70)
        self.assertEqual(s["max_rps_1s"], 40)

    def test_max_concurrency_counts_requests_in_progress(self):
        self.burst(5)  # sequential: never more than one at once
        self.assertEqual(self.sim.admin_get("/stats")["max_concurrency"], 1)
        results = concurrent_gets(self.sim, 4)
        self.assertEqual(results, [200] * 4)
        self.assertEqual(self.sim.admin_get("/stats")["max_concurrency"], 4)

    def test_clock_names_day_0_its_zone_and_the_time(self):
        t0 = time.time()
        c = self.sim.admin_get("/clock")
        self.assertEqual(set(c), {"today", "tz", "now"})
        self.assertEqual(c["tz"], "America/New_York")
        self.assertLessEqual(abs(c["now"] - t0), 2)
        rows = self.sim.admin_get("/appointments")
        cal = Calendar.of_clock(c)
        # the seed's day 3 (Baker's whole-day vacation) is the calendar's day 3
        vacation = [r for r in rows if r["pc_catid"] == "4"]
        self.assertEqual([r["pc_eventDate"] for r in vacation], [cal.date(3).isoformat()])

    def test_fault_429_with_retry_after(self):
        self.sim.admin_post("/faults", {"rate_429": 1.0, "retry_after": 2})
        r = self.sim.get(FHIR + "/Patient", token=self.tok)
        self.assertEqual((r.status, r.header("Retry-After")), (429, "2"))
        self.sim.admin_post("/faults", {"rate_429": 0})
        self.assertEqual(self.sim.get(FHIR + "/Patient", token=self.tok).status, 200)

    def test_fault_5xx(self):
        for code in (500, 502, 503):
            self.sim.admin_post("/faults", {"rate_%d" % code: 1})
            self.assertEqual(self.sim.get(FHIR + "/Patient", token=self.tok).status, code)
        self.assertEqual(self.sim.admin_get("/stats")["status_counts"],
                         {"500": 1, "502": 1, "503": 1})

    def test_fault_401_hits_api_not_oauth(self):
        self.sim.admin_post("/faults", {"rate_401": 1})
        self.assertEqual(self.sim.get(API + "/appointment", token=self.tok).status, 401)
        self.assertEqual(self.sim.password_grant().status, 200)

    def test_fault_routes_filter(self):
        self.sim.admin_post("/faults", {"rate_503": 1, "routes": "/fhir/Patient"})
        self.assertEqual(self.sim.get(FHIR + "/Patient", token=self.tok).status, 503)
        self.assertEqual(self.sim.get(API + "/appointment", token=self.tok).status, 200)

    def test_fault_connection_reset(self):
        self.sim.admin_post("/faults", {"reset_rate": 1})
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
            self.sim.get(FHIR + "/metadata")
        self.assertEqual(self.sim.admin_get("/stats")["resets"], 1)

    def test_fault_latency_and_slow_body(self):
        self.sim.admin_post("/faults", {"latency_ms": {"min": 300, "max": 300}})
        t0 = time.monotonic()
        self.sim.get(FHIR + "/metadata")
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.sim.admin_post("/faults", {"slow_body_ms": 600})
        t0 = time.monotonic()
        r = self.sim.get(FHIR + "/Patient", token=self.tok)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        self.assertEqual(r.json()["resourceType"], "Bundle")  # complete despite the drip

    def test_tokens_lists_every_issued_token(self):
        r = self.sim.password_grant(WORKER_SCOPE).json()
        toks = {t["token"]: t["kind"] for t in self.sim.admin_get("/tokens")}
        self.assertEqual(toks.get(self.tok), "access")
        self.assertEqual(toks.get(r["access_token"]), "access")
        self.assertEqual(toks.get(r["refresh_token"]), "refresh")
        self.sim.admin_post("/reset")
        self.assertEqual(self.sim.admin_get("/tokens"), [])

    def test_tokens_expire_now(self):
        self.sim.admin_post("/tokens/expire")
        self.assertEqual(self.sim.get(API + "/appointment", token=self.tok).status, 401)

    def test_front_desk_edits_bump_pc_time(self):
        r = self.sim.admin_post("/appointments", {
            "pid": 1, "pc_aid": 5, "pc_catid": 5, "pc_eventDate": "2026-12-22",
            "pc_startTime": "13:00", "pc_duration": 900, "pc_hometext": "front desk"})
        self.assertEqual(r.status, 200, r.body)
        row = r.json()
        api_row = self.sim.get(API + "/appointment/" + row["pc_eid"], token=self.tok).json()[0]
        self.assertEqual(api_row["pc_hometext"], "front desk")
        time.sleep(1.1)
        edited = self.sim.admin_post("/appointments/" + row["pc_eid"],
                                     {"pc_apptstatus": "x"}).json()
        self.assertEqual(edited["pc_apptstatus"], "x")
        self.assertGreater(edited["pc_time_epoch"], row["pc_time_epoch"])
        r = req("DELETE", self.sim.admin_url + "/appointments/" + row["pc_eid"])
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sim.get(API + "/appointment/" + row["pc_eid"],
                                      token=self.tok).status, 404)

    def test_people_lists(self):
        pats = self.sim.admin_get("/patients")
        self.assertIn(PATIENT_JOHN, [p["uuid"] for p in pats])
        self.assertEqual(len(self.sim.admin_get("/practitioners")), 4)

    def test_reset_reloads_seed_and_clears_faults_and_stats(self):
        before = len(self.sim.admin_get("/appointments"))
        self.sim.admin_post("/appointments", {"pc_eventDate": "2026-12-22", "pc_startTime": "13:00"})
        self.sim.admin_post("/faults", {"rate_500": 1})
        self.sim.admin_post("/reset")
        self.assertEqual(len(self.sim.admin_get("/appointments")), before)
        self.assertEqual(self.sim.get(FHIR + "/metadata").status, 200)
        self.assertEqual(self.sim.admin_get("/stats")["requests_total"], 1)


class ProcessTest(unittest.TestCase):
    def test_ready_line_and_sigterm_exit_0(self):
        s = Sim()
        info = s.start()
        self.assertEqual(set(info), {"base_url", "admin_url", "ca_file"})
        self.assertRegex(info["base_url"], r"^http://127\.0\.0\.1:\d+$")
        self.assertIsNone(info["ca_file"])
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(5), 0)
        s.stop()

    def test_default_pool_serves_more_than_the_fleet_budget_at_once(self):
        """The default simulator (what tools/stack starts) must be able to see
        a fleet break its budget of 5 in flight: 8 concurrent requests are
        all in progress at once, and max_concurrency says 8."""
        with Sim() as s:
            s.admin_post("/stats/reset")
            results = concurrent_gets(s, 8)
            stats = s.admin_get("/stats")
        self.assertEqual(results, [200] * 8)
        self.assertEqual(stats["max_concurrency"], 8)
        self.assertGreater(stats["max_concurrency"], FLEET_CONCURRENCY)

    def test_day_0_is_fixed_at_start(self):
        with Sim("--today", "2027-03-12") as s:  # a Friday; EST until Sunday 14 March
            self.assertEqual(s.admin_get("/clock")["today"], "2027-03-12")
            self.assertEqual(s.admin_post("/reset").status, 200)
            self.assertEqual(s.admin_get("/clock")["today"], "2027-03-12")
            days = sorted({r["pc_eventDate"] for r in s.admin_get("/appointments")
                           if r["pc_catid"] == "2"})  # In Office: every weekday 0..20
        self.assertEqual(days[:3], ["2027-03-12", "2027-03-15", "2027-03-16"])
        self.assertEqual(len(days), 21)

    def test_bad_flag_exits_nonzero(self):
        r = subprocess.run([SIM_BIN, "--threads", "zero"], capture_output=True, timeout=5)
        self.assertNotEqual(r.returncode, 0)

    def test_throughput_thousands_per_second_keepalive(self):
        """curl on one keep-alive connection; prints the rate it saw."""
        n = 5000
        with Sim("--threads", "1") as s, tempfile.TemporaryDirectory() as d:
            tok = s.user_token()
            rates = {}
            for name, path in (("metadata", FHIR + "/metadata"),
                               ("Patient read", FHIR + "/Patient/" + PATIENT_JOHN)):
                cfg = os.path.join(d, "curl.cfg")
                with open(cfg, "w") as f:
                    f.write('header = "Authorization: Bearer %s"\n' % tok)
                    for _ in range(n):
                        f.write('url = "%s%s"\noutput = "/dev/null"\n' % (s.base_url, path))
                t0 = time.monotonic()
                subprocess.run(["curl", "-s", "-K", cfg], check=True, timeout=60)
                rates[name] = n / (time.monotonic() - t0)
            stats = s.admin_get("/stats")
        print("throughput (1 server thread, curl keep-alive): " +
              ", ".join("%s %.0f req/s" % kv for kv in rates.items()))
        self.assertEqual(stats["status_counts"].get("200"), 2 * n + 1)
        for name, rate in rates.items():
            self.assertGreater(rate, 1000, name)


if __name__ == "__main__":
    main()
