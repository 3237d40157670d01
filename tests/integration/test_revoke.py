#!/usr/bin/python3
"""oauth.revoke_on_shutdown: the shared token is logged out only when the
last replica stops; a replica stopping while another runs leaves it."""

import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Stack, finish, run  # noqa: E402


def token_works(st, token):
    # a route the worker's user may read (FHIR Practitioner needs admin/users)
    req = urllib.request.Request(st.env["OPENEMR_BASE_URL"] +
                                 "/apis/default/fhir/Patient?birthdate=1900-01-01",
                                 headers={"Authorization": "Bearer " + token})
    try:
        urllib.request.urlopen(req, timeout=10).read()
        return True
    except urllib.error.HTTPError as e:
        if e.code == 401:
            return False
        raise


def test_last_replica_revokes(st):
    r = st.call({"type": "find_patient",
                 "payload": {"phone": "617-555-0101", "birthdate": "1980-04-12"}})
    assert r["status"] == "ok", r
    access = [t["token"] for t in st.admin("GET", "/tokens") if t["kind"] == "access"]
    assert access, "the fleet got a token"
    token = access[-1]
    assert token_works(st, token)
    time.sleep(1.5)  # both replicas have announced themselves
    st.stack("stop-worker", "1")
    assert token_works(st, token), "another replica still runs: the token stays"
    st.stack("stop-worker", "2")
    assert not token_works(st, token), "the last replica revoked the token"
    logs = "".join(st.worker_log_lines())
    assert "last replica: OpenEMR token revoked" in logs, logs[-2000:]
    assert token not in logs


if __name__ == "__main__":
    with Stack(replicas=2, extra_conf="oauth.revoke_on_shutdown = true\n") as st:
        run(test_last_replica_revokes, st)
    finish()
