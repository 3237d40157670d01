#!/usr/bin/python3
"""tools/openemr-check against the simulator in both profiles (7.0.3, 8),
with the ACL quirk on: the worker's login user (no admin/users) passes,
and the report names what is refused and why; a scope the server does not
offer, a wrong password and a user without NPI are each reported; the
check writes nothing (the simulator's calendar is the same before and
after)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (DR_BAKER, DR_DIAZ_NO_NPI, ROOT, ClientStack, check, finish,  # noqa: E402
                     run)

TOOL = os.path.join(ROOT, "tools", "openemr-check")


def openemr_check(*args):
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def checks(out):
    return {c["check"]: c for c in (json.loads(ln) for ln in out.splitlines() if ln.strip())}


def profile_suite(profile):
    with ClientStack(["--quirk", "acl"], openemr=profile) as s:
        cfg = s.config("password")
        before = s.appointments()
        rc, out, err = openemr_check("-c", cfg)
        print(out)
        check(rc == 0, "%s: exit 0 with the worker's own user (%s)" % (profile, err[-300:]))
        check("FAIL (the worker copes) GET /fhir/Practitioner" in out and "admin/users" in out,
              "%s: FHIR Practitioner refused, the admin/users ACL named, not needed" % profile)
        check("OK   practitioner %s: user id 6 from appointment rows" % DR_BAKER in out,
              "%s: Dr Baker maps from the appointment rows" % profile)
        check("both apply" not in out and "repeated query key" in out,
              "%s: the repeated query key is reported, never as ANDed" % profile)
        check("not probed" in out, "%s: the writes are listed, not sent" % profile)
        check(s.appointments() == before, "%s: the check wrote nothing" % profile)

        rc, out, _ = openemr_check("-c", cfg, "--json", "--scope",
                                   "openid api:fhir user/Patient.read user/Slot.read")
        c = checks(out)
        check(rc == 1 and c["scope user/Slot.read"]["state"] == "fail"
              and c["scope user/Patient.read"]["state"] == "ok",
              "%s: a scope the server does not offer fails, named (rc %d)" % (profile, rc))

        bad = s.config("password", oauth__password_file=s.file("bad-pw", "nope\n"))
        rc, out, _ = openemr_check("-c", bad, "--json")
        c = checks(out)
        check(rc == 1 and c["POST /oauth2/token (password)"]["state"] == "fail",
              "%s: a refused login fails (rc %d)" % (profile, rc))

        admin = s.config("password", oauth__username="clinicadmin",
                         oauth__password_file=s.file("pw-admin", "clinicadmin-pass\n"))
        rc, out, _ = openemr_check("-c", admin, "--json", "--practitioner", DR_DIAZ_NO_NPI)
        c = checks(out)
        check(rc == 0 and c["practitioner " + DR_BAKER]["detail"].startswith(
            "user id 6 (/api/practitioner)"),
            "%s: with admin/users Dr Baker maps through /api/practitioner" % profile)
        d = c["practitioner " + DR_DIAZ_NO_NPI]["detail"]
        check("no user with an NPI and a username" in d and "user id 8" in d,
              "%s: a provider without NPI is named as such, mapped from rows (%s)"
              % (profile, d))


def test_profile_8():
    profile_suite("8")


def test_profile_7_0_3():
    profile_suite("7.0.3")


def test_unreachable():
    rc, out, _ = openemr_check("--base-url", "http://127.0.0.1:9", "--allow-insecure-http",
                               "--access-token-file", "/dev/null", "--json")
    c = checks(out)
    check(rc == 1 and c["GET /fhir/metadata"]["state"] == "fail",
          "a server that does not answer fails (rc %d)" % rc)


run(test_profile_8)
run(test_profile_7_0_3)
run(test_unreachable)
finish()
