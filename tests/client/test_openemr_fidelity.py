#!/usr/bin/python3
"""The OpenEMR client against the simulator's unkind quirks, switched on:

- fhir-offset-of-today: OpenEMR prints every FHIR time with the UTC offset
  of *today* (UtilsService::getLocalDateAsUTC); the openemr surface reads
  the wall clock, so a visit on the other side of a DST change keeps its
  hour (the simulator's --today is set on each side of 2026-11-01);
- acl (both profiles: 8 answers 403, 7.0.3 401 with no body): a booking
  maps the practitioner without /api/practitioner, from appointment rows,
  and a search naming no practitioner still finds them (active-sql-string
  on: no "active=true" is sent);
- openemr.max_search_rows: an answer with more rows is refused, not cut;
- server-scopes: a scope the server's discovery documents do not offer is
  named before any login is tried.
Dates are fixed by --today, never the machine's."""
import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (DR_BAKER, DR_DIAZ_NO_NPI, PATIENT_LINDA, ClientStack, check, finish,  # noqa: E402
                     run)

NY = ZoneInfo("America/New_York")


def epoch(day, hhmm):
    h, m = hhmm.split(":")
    y, mo, d = (int(x) for x in day.split("-"))
    return int(datetime(y, mo, d, int(h), int(m), tzinfo=NY).timestamp())


def visit_keeps_its_hour(today, day):
    with ClientStack(["--today", today, "--quirk", "fhir-offset-of-today"]) as s:
        s.admin_post("/appointments", {
            "pid": 4, "pc_aid": 6, "pc_catid": 5, "pc_eventDate": day,
            "pc_startTime": "08:30", "pc_duration": 1800, "pc_title": "Office Visit",
            "pc_hometext": "DST1234 visit", "pc_apptstatus": "-", "pc_facility": 3})
        cfg = s.config("password")
        r = s.probe1(cfg, "list-range", DR_BAKER, epoch(day, "00:00"), epoch(day, "23:59"))
        check(r["err"] == "ok", "today %s: list-range ok (%s)" % (today, r.get("detail")))
        mine = [a for a in r["result"] if a["patient_id"] == PATIENT_LINDA]
        check(len(mine) == 1, "today %s: the %s visit is listed" % (today, day))
        check(mine[0]["start"] == epoch(day, "08:30") and mine[0]["end"] == epoch(day, "09:00"),
              "today %s: the %s 08:30 visit is read at 08:30 clinic time (got %+d s)"
              % (today, day, mine[0]["start"] - epoch(day, "08:30")))


def test_fhir_time_before_the_dst_change_read_when_today_is_after():
    visit_keeps_its_hour("2026-11-02", "2026-10-30")  # today EST, visit EDT


def test_fhir_time_after_the_dst_change_read_when_today_is_before():
    visit_keeps_its_hour("2026-10-29", "2026-11-03")  # today EDT, visit EST


def booking_without_admin_users(profile):
    with ClientStack(["--quirk", "acl", "--quirk", "active-sql-string"], openemr=profile) as s:
        cfg = s.config("password")  # logs in as "scheduler": no admin/users
        day = s.free_day(DR_BAKER, first=3)
        day0, _ = s.calendar.bounds(day)
        start = day0 + 10 * 3600
        r = s.probe1(cfg, "create", PATIENT_LINDA, DR_BAKER, start, start + 1800, "routine",
                     "ACL%s" % profile.replace(".", ""))
        check(r["err"] == "ok", "%s: a booking without admin/users maps the practitioner (%s)"
              % (profile, r.get("detail")))
        rows = [a for a in s.appointments() if str(a.get("pc_eid")) == r["result"].get("id")]
        check(rows and int(rows[0]["pc_aid"]) == 6,
              "%s: the appointment is Dr Baker's (pc_aid 6)" % profile)
        st = s.stats()["routes"]
        check(st.get("GET /api/appointment", 0) == 1,
              "%s: the provider ids come from one read of the appointment rows" % profile)
        r = s.probe1(cfg, "practitioners")
        check(r["err"] == "ok" and DR_BAKER in r["result"],
              "%s: the practitioner list without admin/users names Dr Baker (%s)"
              % (profile, r.get("detail")))
        r2 = s.probe1(cfg, "create", PATIENT_LINDA, DR_BAKER, start + 3600, start + 5400,
                      "routine", "ACL2%s" % profile.replace(".", ""))
        check(r2["err"] == "ok" and r2["requests"] == 1,
              "%s: the next booking asks nothing more (requests %d)" % (profile, r2["requests"]))


def test_booking_without_admin_users_8():
    booking_without_admin_users("8")


def test_booking_without_admin_users_7_0_3():
    booking_without_admin_users("7.0.3")


def test_search_rows_capped():
    with ClientStack() as s:
        cfg = s.config("password", openemr__max_search_rows="10")
        day0, _ = s.calendar.bounds(0)
        _, day20 = s.calendar.bounds(20)
        r = s.probe1(cfg, "list-range", "-", day0, day20)
        check(r["err"] == "request_cap" and "max_search_rows" in r["detail"],
              "an answer longer than openemr.max_search_rows is refused (%s: %s)"
              % (r["err"], r.get("detail")))


def test_refused_scope_named_before_login():
    for profile in ("8", "7.0.3"):
        with ClientStack(openemr=profile) as s:
            cfg = s.config("password", oauth__scope="openid api:fhir user/Patient.read "
                           "user/Slot.read")
            r = s.probe1(cfg, "find-patients", "+1 (617) 555-0200", "1964-07-22")
            check(r["err"] != "ok" and "user/Slot.read" in r["detail"]
                  and "user/Patient.read" not in r["detail"],
                  "%s: the scope OpenEMR does not offer is named (%s)" % (profile, r["detail"]))
            routes = s.stats()["routes"]
            check(not [k for k in routes if "token" in k],
                  "%s: no login was tried with it (%s)" % (profile, sorted(routes)))
            cfg = s.config("password")
            r = s.probe1(cfg, "find-patients", "+1 (617) 555-0200", "1964-07-22")
            check(r["err"] == "ok", "%s: the surface's own scopes pass the check (%s)"
                  % (profile, r.get("detail")))


def test_startup_check_names_what_is_missing():
    with ClientStack(["--quirk", "acl"]) as s:
        r = s.probe1(s.config("password"), "access-check")
        by = {e["check"]: e for e in r["result"]}
        check(r["err"] == "ok", "scheduler: every needed request answers (%s)" % r.get("detail"))
        fp = by["FHIR Practitioner (the practitioner list)"]
        check(not fp["ok"] and not fp["needed"] and "admin/users" in fp["detail"],
              "scheduler: the missing admin/users ACL is named, and not needed (%s)"
              % fp["detail"])
        bk = by["practitioner " + DR_BAKER]
        check(bk["ok"] and "user id 6" in bk["detail"] and "admin/users" in bk["detail"],
              "scheduler: Dr Baker's user id comes from the rows (%s)" % bk["detail"])
        cfg = s.config("password", oauth__username="clinicadmin",
                       oauth__password_file=s.file("pw-admin", "clinicadmin-pass\n"),
                       redis__prefix="admin:")
        r = s.probe1(cfg, "access-check")
        by = {e["check"]: e for e in r["result"]}
        check(by["FHIR Practitioner (the practitioner list)"]["ok"],
              "clinicadmin: FHIR Practitioner answers")
        check(by["practitioner " + DR_BAKER]["detail"] == "user id 6 (/api/practitioner)",
              "clinicadmin: Dr Baker maps through /api/practitioner")
        check(DR_DIAZ_NO_NPI not in by.get("practitioner list", {}).get("detail", "") and
              ("practitioner " + DR_DIAZ_NO_NPI) not in by,
              "clinicadmin: FHIR Practitioner lists users with an NPI only")
        r = s.probe1(cfg, "create", PATIENT_LINDA, DR_DIAZ_NO_NPI, s.calendar.epoch(3, 10),
                     s.calendar.epoch(3, 10) + 1800, "routine", "NPI0001")
        check(r["err"] == "ok", "clinicadmin: a provider without NPI maps from the rows (%s)"
              % r.get("detail"))


run(test_fhir_time_before_the_dst_change_read_when_today_is_after)
run(test_fhir_time_after_the_dst_change_read_when_today_is_before)
run(test_booking_without_admin_users_8)
run(test_booking_without_admin_users_7_0_3)
run(test_search_rows_capped)
run(test_refused_scope_named_before_login)
run(test_startup_check_names_what_is_missing)
finish()
