#!/usr/bin/python3
"""Development mode is never the default and always loud (issue 19 ask 2):
without auth.keys_file the worker refuses to start; with
auth.allow_unsigned = true it starts, says so at start, on /readyz and every
minute (with the count of unsigned commands it took), takes unsigned
commands, and still refuses a wrong signature and a key outside its role."""

import json
import os
import re
import subprocess
import time
import urllib.request

from seclib import (BUILD, ROOT, TOPICS, Runner, Snapshot, Stack, command, produce, send,
                    signed)


def readyz(st):
    with open(os.path.join(st.dir, "worker-1.conf")) as f:
        listen = re.search(r"(?m)^http\.listen = (\S+)", f.read()).group(1)
    with urllib.request.urlopen("http://%s/readyz" % listen, timeout=5) as r:
        return r.status, json.loads(r.read())


def log_text(st):
    return "".join(st.worker_log_lines())


def test_refuses_to_start_without_keys(tmp):
    conf = os.path.join(tmp, "nokeys.conf")
    with open(conf, "w") as f:
        f.write("openemr.base_url = http://127.0.0.1:9\nopenemr.allow_insecure_http = true\n"
                "http.listen = \n")
    p = subprocess.run([os.path.join(ROOT, BUILD, "schedworker"), "--config", conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p
    assert "auth.keys_file is not set" in p.stderr, p.stderr[-500:]


def test_loud_at_start_and_on_readyz(st):
    assert "DEVELOPMENT MODE: auth.allow_unsigned is on" in log_text(st)
    status, body = readyz(st)
    assert status == 200 and body["ready"] is True, body
    assert "DEVELOPMENT MODE" in body.get("auth", ""), body


def test_takes_unsigned_but_checks_signed(st):
    cmd = command("find_patient", {"phone": "617-555-0101", "birthdate": "1980-04-12"})
    send(st, cmd, unsigned=True)
    r = st.result(cmd["request_id"])
    assert r["status"] == "ok", r
    value = json.dumps(command("find_patient", {"phone": "617-555-0101",
                                                "birthdate": "1980-04-12"})).encode()
    snap = Snapshot(st)
    produce(st, TOPICS["search"], value, signed(st, TOPICS["search"], value,
                                                secret=os.urandom(32)))
    send(st, command("cancel", {"appointment_id": "206"}), key_id="stack-reader")
    snap.wait_dlq("forbidden")
    snap.check(dlq=["unauthenticated", "forbidden"], what="dev mode, signed but wrong")


def test_says_so_every_minute(st):
    end = time.time() + 90
    while time.time() < end:
        m = re.search(r"DEVELOPMENT MODE \(auth\.allow_unsigned\): (\d+) unsigned commands "
                      r"accepted in the last minute", log_text(st))
        if m:
            assert int(m.group(1)) >= 1, m.group(0)
            return
        time.sleep(1)
    raise AssertionError("no periodic development-mode warning within 90 s")


def main():
    runner = Runner()
    tmp = os.path.join(ROOT, BUILD, "test-stacks")
    os.makedirs(tmp, exist_ok=True)
    runner.run(test_refuses_to_start_without_keys, tmp)
    st = Stack(replicas=1, extra_conf="auth.allow_unsigned = true\npoller.interval_s = 86400\n")
    with st:
        for t in (test_loud_at_start_and_on_readyz, test_takes_unsigned_but_checks_signed,
                  test_says_so_every_minute):
            runner.run(t, st)
        if runner.failed:
            st.failed = True
    runner.finish()


if __name__ == "__main__":
    main()
