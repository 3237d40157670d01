#!/usr/bin/python3
"""tools/agent, an operator's terminal client (issue 17, ask 8), against the
local stack, where every command must be signed: a read command by
FIELD=VALUE, signed with the key tools/stack exports, prints its ok result
(exit 0); an unsigned book gets no answer (exit 3) and is dead-lettered;
the same book signed with --sign (through build/sign) is booked; --file
sends a whole envelope; sending a request_id again answers from the
idempotency record; with no worker running it gives up after --timeout
(exit 3)."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, ROOT, Report, Stack, local_day  # noqa: E402

AGENT = os.path.join(ROOT, "tools", "agent")


def agent(st, *args, timeout=60, signing=True):
    """tools/agent with the stack's exported signing key (signing) or none."""
    env = dict(os.environ, BUILD=BUILD)
    if signing:
        env.update({k: st.env[k] for k in ("SCHED_SIGN_KEY_FILE", "SCHED_SIGN_KEY_ID")})
    p = subprocess.run([AGENT, "-b", st.brokers] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def test_read(st):
    rc, out, err = agent(st, "find_patient", "phone=617-555-0300", "birthdate=2015-03-03")
    assert rc == 0, (rc, out, err)
    r = json.loads(out)
    assert r["status"] == "ok" and r["result"]["matches"], r
    assert "sent find_patient agent-" in err and "signed as stack-agent" in err, err


def test_signed_write(st):
    pract = {p["username"]: p for p in st.practitioners()}
    patient = {p["fname"]: p for p in st.patients()}
    rc, out, _ = agent(st, "--raw", "search_slots", "appointment_type=follow_up",
                       "from=" + local_day(4, 8, 0), "to=" + local_day(4, 17, 0),
                       "practitioner_id=" + pract["aadams"]["uuid"], "limit=1")
    assert rc == 0, out
    slot = json.loads(out)["result"]["slots"][0]
    book = ["book", "patient_id=" + patient["Wei"]["uuid"],
            "practitioner_id=" + pract["aadams"]["uuid"], "start=" + slot["start"],
            "appointment_type=follow_up"]
    rc, out, err = agent(st, "--timeout", "5", "--request-id", "agent-t-0", *book, signing=False)
    assert rc == 3 and not out and "unsigned" in err, (rc, out, err)
    st.readers["dlq"].wait_for(lambda m: m["headers"].get("dlq_reason_code") == "unauthenticated"
                               and b"agent-t-0" in m["value"], 20, "its dead letter")
    keyfile = st.env["SCHED_SIGN_KEY_FILE"]
    rc, out, err = agent(st, "--sign", keyfile, "stack-agent", "--request-id", "agent-t-1", *book,
                         signing=False)
    r = json.loads(out)
    assert rc == 0 and r["status"] == "ok" and r["result"]["confirmation_number"], (out, err)
    assert "signed as stack-agent" in err, err
    # the same request_id again: the first result, not a second booking
    rc, out2, _ = agent(st, "--sign", keyfile, "stack-agent", "--request-id", "agent-t-1", *book,
                        signing=False)
    assert rc == 0 and json.loads(out2)["result"] == r["result"], (out, out2)
    mine = [a for a in st.appointments() if a.get("puuid") == patient["Wei"]["uuid"]
            and a.get("pc_eventDate") == slot["start"][:10]
            and a.get("pc_startTime", "")[:5] == slot["start"][11:16]]
    assert len(mine) == 1, mine


def test_file(st):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"type": "list_appointments", "request_id": "agent-file-1",
                   "payload": {"patient_id": st.patients()[0]["uuid"]}}, f)
    try:
        rc, out, err = agent(st, "--file", f.name)
    finally:
        os.unlink(f.name)
    assert rc == 0 and json.loads(out)["request_id"] == "agent-file-1", (out, err)
    rc, _, err = agent(st, "no_such_command")
    assert rc == 2 and "unknown command type" in err, err


def test_timeout(st):
    st.stack("stop-worker", "1")
    try:
        rc, out, err = agent(st, "--timeout", "2", "find_patient", "phone=1", "birthdate=2000-01-01")
        assert rc == 3 and "no result" in err and not out, (rc, out, err)
    finally:
        st.stack("start-worker", "1")


def main():
    c = Report()
    st = Stack(replicas=1)
    with st:
        for t in (test_read, test_signed_write, test_file, test_timeout):
            c.run(t, st)
        if c.failed:
            st.failed = True
    c.finish()


if __name__ == "__main__":
    main()
