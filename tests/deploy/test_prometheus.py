#!/usr/bin/python3
"""The shipped monitoring works with Prometheus' own tool (issue 17, ask 7):
`promtool check rules` on deploy/prometheus/alerts.yml; `promtool test rules`
on tests/deploy/alerts_test.yml (alerts fire when they should, not
otherwise); `promtool check metrics` on a live scrape of a local worker that
handled commands (so histograms and labelled series exist); every PromQL
expression of the Grafana dashboard parses (as recording rules checked by
promtool); and every metric the alerts and the dashboard name exists in that
scrape."""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Report, Stack, local_day  # noqa: E402

ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
DASH = os.path.join(ROOT, "deploy", "grafana", "schedworker.json")
SCRAPE = {}


def promtool(*args, stdin=None):
    p = subprocess.run(["promtool"] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


def names_in(expr):
    return set(re.findall(r"\b(schedworker_[a-z_]+)\b", expr))


def family(name, fams):
    for suffix in ("", "_bucket", "_count", "_sum"):
        if suffix and name.endswith(suffix) and name[:-len(suffix)] in fams:
            return name[:-len(suffix)]
        if not suffix and name in fams:
            return name
    return None


def test_rules():
    rc, out = promtool("check", "rules", ALERTS)
    assert rc == 0 and "SUCCESS" in out, out
    n = int(re.search(r"(\d+) rules found", out).group(1))
    assert n >= 15, out
    rc, out = promtool("test", "rules", os.path.join(ROOT, "tests", "deploy", "alerts_test.yml"))
    assert rc == 0 and "SUCCESS" in out, out
    # the unit tests can fail: an alert that never fires is caught
    with open(ALERTS) as f:
        text = f.read()
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "deploy", "prometheus"))
        os.makedirs(os.path.join(d, "tests", "deploy"))
        with open(os.path.join(d, "deploy", "prometheus", "alerts.yml"), "w") as f:
            f.write(text.replace('max(schedworker_circuit_state{state="open"}) == 1',
                                 'max(schedworker_circuit_state{state="open"}) == 2'))
        with open(os.path.join(ROOT, "tests", "deploy", "alerts_test.yml")) as src, \
                open(os.path.join(d, "tests", "deploy", "alerts_test.yml"), "w") as dst:
            dst.write(src.read())
        rc, out = promtool("test", "rules", os.path.join(d, "tests", "deploy", "alerts_test.yml"))
        assert rc != 0 and "SchedworkerCircuitOpen" in out, out


def test_dashboard_expressions():
    with open(DASH) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15, exprs
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for want in ("response time", "token refresh", "errors by endpoint", "conflict rate",
                 "cache hit rate", "budget", "lag"):
        assert want in titles, "no %s panel: %s" % (want, titles)
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr_%d" % i,
         "expr": e.replace("$__rate_interval", "5m").replace("$limiter_rps", "10")}
        for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML
    try:
        rc, out = promtool("check", "rules", f.name)
    finally:
        os.unlink(f.name)
    assert rc == 0 and ("%d rules found" % len(exprs)) in out, out


def test_live_scrape(st):
    pract = {p["username"]: p for p in st.practitioners()}
    patient = {p["fname"]: p for p in st.patients()}
    r = st.call({"type": "search_slots", "payload": {
        "appointment_type": "follow_up", "from": local_day(3, 8, 0), "to": local_day(3, 17, 0),
        "practitioner_id": pract["cchen"]["uuid"], "limit": 2}})
    assert r["status"] == "ok", r
    b = st.call({"type": "book", "payload": {
        "patient_id": patient["John"]["uuid"], "practitioner_id": pract["cchen"]["uuid"],
        "start": r["result"]["slots"][0]["start"], "appointment_type": "follow_up"}})
    assert b["status"] == "ok", b
    st.send(None, raw=b"{not json", topic="scheduling.commands.search")
    st.readers["dlq"].wait_for(lambda m: True, 30, "a dead letter")
    with open(os.path.join(st.dir, "worker-1.conf")) as f:
        listen = re.search(r"http\.listen\s*=\s*(\S+)", f.read()).group(1)
    with urllib.request.urlopen("http://%s/metrics" % listen, timeout=10) as resp:
        text = resp.read().decode()
    SCRAPE["text"] = text
    rc, out = promtool("check", "metrics", stdin=text)
    assert rc == 0 and not out.strip(), "promtool check metrics: %s" % out
    # and the check can fail: a counter without _total is reported
    rc, out = promtool("check", "metrics", stdin=text + "# HELP bad x\n# TYPE bad counter\nbad 1\n")
    assert rc != 0 and "_total" in out, out
    fams = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for want in ("schedworker_build_info", "schedworker_ready", "schedworker_live",
                 "schedworker_redis_command_duration_seconds",
                 "schedworker_kafka_delivery_failures_total"):
        assert want in fams, want
    assert re.search(r'^schedworker_openemr_request_duration_seconds_count\{method="GET",'
                     r'route="/[^" ]*",status="200"\} [1-9]', text, re.M), "method/route labels"
    assert re.search(r'^schedworker_redis_command_duration_seconds_count\{command="[a-z]+"\} '
                     r'[1-9]', text, re.M), "redis latency recorded"
    print("  %d families, %d lines, promtool clean" % (len(fams), text.count("\n")))


def test_names_exist():
    text = SCRAPE.get("text")
    assert text, "no scrape"
    fams = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    with open(ALERTS) as f:
        used = names_in(f.read())
    with open(DASH) as f:
        used |= names_in(json.dumps([t["expr"] for p in json.load(f)["panels"]
                                     for t in p.get("targets", [])]))
    missing = sorted(n for n in used if not family(n, fams))
    assert len(used) >= 15 and not missing, "named but not exported: %s" % missing


def main():
    c = Report()
    c.run(test_rules)
    c.run(test_dashboard_expressions)
    with Stack(replicas=1) as st:
        c.run(test_live_scrape, st)
        if c.failed:
            st.failed = True
    c.run(test_names_exist)
    c.finish()


if __name__ == "__main__":
    main()
