#!/usr/bin/python3
"""A sample phone conversation against a running stack (tools/stack up):
find the caller, search, hold, book, list, reschedule, cancel.  Prints each
command and the worker's answer.  Used by `make demo`."""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
from harness import Stack  # noqa: E402


def show(title, cmd, res):
    print("\n\033[1m%s\033[0m" % title)
    print("  agent  -> %s %s" % (cmd["type"], json.dumps(cmd["payload"])))
    if res["status"] == "ok":
        print("  worker <- ok %s" % json.dumps(res["result"], indent=None))
    else:
        print("  worker <- %s: %s" % (res["status"], res["error"]["message"]))


def main():
    st = Stack.attach()
    session = "call-%d" % int(time.time())

    def ask(title, type_, payload):
        cmd = {"type": type_, "session_id": session, "payload": payload}
        res = st.call(cmd, key=session)
        show(title, cmd, res)
        return res

    r = ask("Caller: 'Hi, this is John Smith, born April 12, 1980, calling from 617-555-0101.'",
            "find_patient", {"phone": "617-555-0101", "birthdate": "1980-04-12"})
    patient = r["result"]["matches"][0]["patient_id"]
    r = ask("Caller: 'I need a follow-up next week.'", "search_slots",
            {"appointment_type": "follow_up", "from": st.day(3), "to": st.day(10),
             "patient_id": patient, "limit": 3})
    slot = r["result"]["slots"][1]
    r = ask("Agent offers three times; the caller takes the second. The worker holds it.", "hold",
            {"slot_id": slot["slot_id"], "patient_id": patient})
    hold = r["result"]["hold_id"]
    r = ask("Agent books the held slot.", "book",
            {"patient_id": patient, "practitioner_id": slot["practitioner_id"],
             "start": slot["start"], "appointment_type": "follow_up", "hold_id": hold,
             "reason": "follow-up visit"})
    conf = r["result"]["confirmation_number"]
    print("  (the agent reads the confirmation number aloud: %s)" % " ".join(conf))
    ask("Caller: 'What appointments do I have?'", "list_appointments", {"patient_id": patient})
    later = (datetime.datetime.fromisoformat(slot["start"]) + datetime.timedelta(hours=1))
    r = ask("Caller: 'Actually, can we make it an hour later?'", "reschedule",
            {"confirmation_number": conf.lower().replace("-", " "), "patient_id": patient,
             "new_start": later.isoformat()})
    if r["status"] == "ok":
        conf = r["result"]["confirmation_number"]
    ask("Caller: 'Sorry, I have to cancel after all.'", "cancel",
        {"confirmation_number": conf, "patient_id": patient, "reason": "caller cancelled"})

    events = st.events(settle=1.0)
    print("\n\033[1mChange notifications on scheduling.events:\033[0m")
    for e in events:
        d = e["data"]
        print("  %-24s appointment %-6s %s %s" % (e["type"], d.get("appointment_id", "-"),
                                               d.get("start", ""), d.get("confirmation_number", "")))
    s = st.stats()
    print("\nOpenEMR simulator saw %d requests (%s)." % (
        s["requests_total"], ", ".join("%s: %d" % kv for kv in sorted(s["routes"].items()))))


if __name__ == "__main__":
    main()
