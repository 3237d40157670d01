#!/usr/bin/python3
"""CloudEvents per the Kafka protocol binding, checked by the official
CloudEvents JavaScript SDK as the consumer (issue 17, ask 4): two replicas
book and cancel (events caused by a command) and the poller reports a
front-desk booking (caused_by external); every message on the events topic
decodes with the SDK's Kafka.toEvent as a structured-mode event (the
content-type header), validates, and carries the one fleet-wide source; the
same message without the header is refused by the SDK."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Report, Stack, local_day  # noqa: E402

NODE_SCRIPT = os.path.join(ROOT, "tests", "js", "cloudevents-consumer.mjs")
GROUP = "clinic-a"


def events_via_sdk(st, minimum):
    kc = subprocess.run(["kcat", "-C", "-J", "-e", "-q", "-b", st.brokers, "-t",
                         "scheduling.events"], capture_output=True, text=True, timeout=60)
    assert kc.returncode == 0, kc.stderr
    assert kc.stdout.count("\n") >= minimum, kc.stdout
    p = subprocess.run(["node", NODE_SCRIPT, "--source", "/schedworker/" + GROUP, "--min",
                        str(minimum)], input=kc.stdout, capture_output=True, text=True,
                       timeout=60)
    out = p.stdout.strip().splitlines()
    assert p.returncode == 0 and out, "the SDK refused: %s %s" % (p.stdout, p.stderr)
    return json.loads(out[-1])


def test_every_event_decodes(st):
    pract = {p["username"]: p for p in st.practitioners()}
    patient = {p["fname"]: p for p in st.patients()}
    start = local_day(5, 10, 0)
    r = st.call({"type": "book", "payload": {
        "patient_id": patient["John"]["uuid"], "practitioner_id": pract["aadams"]["uuid"],
        "start": start, "appointment_type": "follow_up"}}, key=pract["aadams"]["uuid"])
    assert r["status"] == "ok", r
    c = st.call({"type": "cancel", "payload": {
        "confirmation_number": r["result"]["confirmation_number"],
        "patient_id": patient["John"]["uuid"], "reason": "test"}})
    assert c["status"] == "ok", c
    other = local_day(6, 11, 0)
    st.admin("POST", "/appointments", {
        "pid": patient["Maria"]["pid"], "pc_aid": pract["cchen"]["id"], "pc_catid": 5,
        "pc_eventDate": other[:10], "pc_startTime": other[11:16], "pc_duration": 900,
        "pc_title": "Office Visit", "pc_hometext": "front desk", "pc_apptstatus": "-",
        "pc_facility": 3, "pc_billing_location": 3})
    end = time.time() + 30
    while True:  # the poller's interval is 2 s
        ev = st.events(lambda e: e["data"].get("caused_by") == "external", settle=0.5)
        if ev:
            break
        assert time.time() < end, "the poller reported nothing"
    summary = events_via_sdk(st, 3)
    print("  SDK:", summary)
    assert summary["types"].get("appointment.booked", 0) >= 2, summary  # ours + the front desk's
    assert summary["types"].get("appointment.cancelled", 0) >= 1, summary
    assert summary["sources"] == ["/schedworker/" + GROUP], summary
    # and the header on the wire, as the binding names it
    reader = st.readers["events"]
    reader.poll(0.5)
    cts = {m["headers"].get("content-type") for m in reader.messages}
    assert cts == {"application/cloudevents+json; charset=UTF-8"}, cts


def main():
    c = Report()
    # SCHED_KAFKA_GROUP_ID names the fleet: the source follows it
    os.environ["SCHED_KAFKA_GROUP_ID"] = GROUP
    st = Stack(replicas=2, extra_conf="poller.interval_s = 2\npoller.lease_s = 3\n")
    with st:
        del os.environ["SCHED_KAFKA_GROUP_ID"]
        c.run(test_every_event_decodes, st)
        if c.failed:
            st.failed = True
    c.finish()


if __name__ == "__main__":
    main()
