#!/usr/bin/python3
"""Contract tests: each version profile (--openemr 7.0.3, --openemr 8) is as
unkind as that OpenEMR, quirk by quirk.  Every test cites the OpenEMR source
(file::function; master = 8.x, 7.0.x where read) it was taken from; the
fidelity table in docs/simulator.md lists them.  Each behaviour is tested
for both profiles and, where the quirk can be switched off, against the
kind simulator too (the mode tools/stack still runs the worker in)."""
import datetime
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (API, DR_ADAMS, DR_DIAZ_NO_NPI, FHIR, PATIENT_JOHN, SIM_BIN,  # noqa: E402
                     TOKEN, WORKER_SCOPE, Sim, main, no_quirks, req)

TODAY = "2026-12-07"  # a Monday, EST (-05:00); seed day 1 = Tue 2026-12-08
PROFILES = ("7.0.3", "8")
UNKNOWN = "00000000-0000-4000-8000-000000000000"
ACL_MESSAGE = "Organization policy does not have permit access resource"
ADMIN = {"username": "clinicadmin", "password": "clinicadmin-pass"}


def fhir_epoch(s):
    return int(datetime.datetime.fromisoformat(s).timestamp())


class Profiles(unittest.TestCase):
    """One simulator per profile, shared by the class; reset before each test."""
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.sims = {v: Sim("--openemr", v, *cls.extra, today=TODAY).__enter__() for v in PROFILES}

    @classmethod
    def tearDownClass(cls):
        for s in cls.sims.values():
            s.stop()

    def setUp(self):
        for s in self.sims.values():
            self.assertEqual(s.admin_post("/reset").status, 200)

    def each(self):
        for v in PROFILES:
            with self.subTest(openemr=v):
                yield v, self.sims[v]

    @staticmethod
    def admin_token(s, scope=WORKER_SCOPE):
        r = s.password_grant(scope, **ADMIN)
        assert r.status == 200, r.body
        return r.json()["access_token"]

    def bundle(self, s, tok, resource, items):
        r = s.get(FHIR + "/" + resource + "?" + urllib.parse.urlencode(items), token=tok)
        self.assertEqual(r.status, 200, r.body)
        return [e["resource"] for e in r.json().get("entry", [])]


class ProfileFlagsTest(unittest.TestCase):
    def test_profile_and_quirk_flags_are_reported(self):
        # profile.c: the set each version selects; --quirk/--no-quirk adjust one
        with Sim("--openemr", "7.0.3", "--quirk", "validation-200", "--no-quirk", "acl",
                 "--row-latency-ms", "7") as s:
            p = s.admin_get("/profile")
            self.assertEqual(p["openemr"], "7.0.3")
            self.assertTrue(p["quirks"]["validation-200"])
            self.assertFalse(p["quirks"]["acl"])
            self.assertEqual(p["quirks"]["per-row-latency-ms"], 7)
            self.assertTrue(p["quirks"]["scope-exact-match"])
            self.assertFalse(p["about"]["validation-200"]["profile_default"])
        with Sim() as s:  # the default is the newest
            p = s.admin_get("/profile")
            self.assertEqual(p["openemr"], "8")
            self.assertTrue(p["quirks"]["validation-200"] and p["quirks"]["assertion-400"])
            self.assertFalse(p["quirks"]["scope-exact-match"])

    def test_unknown_profile_or_quirk_is_refused(self):
        for args in (["--openemr", "6.1"], ["--quirk", "no-such-thing"],
                     ["--quirk", "acl=3"], ["--no-quirk", "per-row-latency-ms=5"]):
            p = subprocess.run([SIM_BIN] + args, capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)


class QueryTest(Profiles):
    def test_repeated_query_key_keeps_only_the_last_value(self):
        # HttpRestRequest::createFromGlobals (master) builds the request from
        # PHP's $_GET, where date=ge..&date=le.. keeps only the last value;
        # 7.0.x routes read $request->getQueryParams() (also $_GET): the range
        # becomes "everything up to the end date"
        for v, s in self.each():
            tok = s.user_token()
            res = self.bundle(s, tok, "Appointment", [("date", "ge2026-12-08"),
                                                      ("date", "le2026-12-08")])
            days = {a["start"][:10] for a in res}
            self.assertIn("2026-12-07", days)  # the lower bound was dropped
            self.assertTrue(all(d <= "2026-12-08" for d in days), days)
            smith = self.bundle(s, tok, "Patient", [("family", "Jones"), ("family", "Smith")])
            self.assertEqual([p["name"][0]["family"] for p in smith], ["Smith"])

    def test_kind_simulator_ands_repeated_keys(self):
        with Sim(*no_quirks("repeated-query-last-wins"), today=TODAY) as s:
            tok = s.user_token()
            res = self.bundle(s, tok, "Appointment", [("date", "ge2026-12-08"),
                                                      ("date", "le2026-12-08")])
            self.assertEqual({a["start"][:10] for a in res}, {"2026-12-08"})
            self.assertEqual(self.bundle(s, tok, "Patient",
                                         [("family", "Jones"), ("family", "Smith")]), [])

    def test_appointment_date_compares_the_event_day(self):
        # FhirAppointmentService::loadSearchParameters: date is a DATE search
        # on pc_eventDate; SearchFieldStatementResolver::resolveDateField
        # formats the bound Y-m-d (getDateFieldFormatForDateType), so the
        # time of a date-time value is dropped (same code at 7.0.x)
        for v, s in self.each():
            tok = s.user_token()
            after_ten = self.bundle(s, tok, "Appointment",
                                    [("date", "ge2026-12-08T10:30:00-05:00")])
            john = [a for a in after_ten if a["start"] == "2026-12-08T09:00:00-05:00"]
            self.assertTrue(john, "09:00 is on the day of the bound, so it matches")
            before = self.bundle(s, tok, "Appointment", [("date", "lt2026-12-08T12:30:00-05:00")])
            self.assertFalse([a for a in before if a["start"].startswith("2026-12-08")])
            self.assertTrue([a for a in before if a["start"].startswith("2026-12-07")])
        with Sim(*no_quirks("fhir-date-is-event-date"), today=TODAY) as s:
            res = self.bundle(s, s.user_token(), "Appointment",
                              [("date", "ge2026-12-08T10:30:00-05:00")])
            self.assertFalse([a for a in res if a["start"] == "2026-12-08T09:00:00-05:00"])


class OffsetOfTodayTest(unittest.TestCase):
    """UtilsService::getLocalDateAsUTC (src/Services/FHIR/UtilsService.php)
    parses the local date-time in new DateTimeZone(date('P')): the offset of
    *now*; FhirAppointmentService::parseOpenEMRRecord formats start, end and
    meta.lastUpdated with it (same at 7.0.x, openemr/openemr@007b04b)."""

    def visit(self, s, date):
        row = s.admin_post("/appointments", {
            "pid": 1, "pc_aid": 5, "pc_catid": 5, "pc_eventDate": date, "pc_startTime": "09:00",
            "pc_duration": 900}).json()
        a = s.get(FHIR + "/Appointment/" + row["pc_uuid"], token=s.user_token()).json()
        return row, a

    def test_a_time_across_dst_carries_todays_offset(self):
        for v in PROFILES:
            # today is in EST (-05:00); 2027-03-16 is in EDT (-04:00)
            with self.subTest(openemr=v), Sim("--openemr", v, today="2027-03-01") as s:
                row, a = self.visit(s, "2027-03-16")
                self.assertEqual(a["start"], "2027-03-16T09:00:00-05:00")
                self.assertEqual(a["end"], "2027-03-16T09:15:00-05:00")
                self.assertEqual(fhir_epoch(a["start"]) - row["start_epoch"], 3600)
            # and the other way: today in EDT, the visit in EST
            with self.subTest(openemr=v), Sim("--openemr", v, today="2027-07-01") as s:
                row, a = self.visit(s, "2027-12-14")
                self.assertEqual(a["start"], "2027-12-14T09:00:00-04:00")
                self.assertEqual(fhir_epoch(a["start"]) - row["start_epoch"], -3600)

    def test_kind_simulator_uses_the_dates_own_offset(self):
        with Sim(*no_quirks("fhir-offset-of-today"), today="2027-03-01") as s:
            row, a = self.visit(s, "2027-03-16")
            self.assertEqual(a["start"], "2027-03-16T09:00:00-04:00")
            self.assertEqual(fhir_epoch(a["start"]), row["start_epoch"])


class CalendarTest(Profiles):
    extra = ("--fhir-scheduling",)

    def test_recurring_event_is_one_row_on_its_first_date(self):
        # sql/database.sql: In Office, Out Of Office, Lunch, Reserved default
        # to pc_recurrtype 1; AppointmentService::getAppointmentsForPatient,
        # ::getAppointment and ::search select none of pc_recurrtype,
        # pc_recurrspec, pc_endDate: the base row is all the API knows
        for v, s in self.each():
            tok = s.user_token()
            rows = s.get(API + "/appointment", token=tok).json()
            lunch = [r for r in rows if r["pc_catid"] == "8"]
            self.assertEqual(len(lunch), 4)  # one per provider
            self.assertEqual({r["pc_eventDate"] for r in lunch}, {"2026-12-07"})
            for r in rows:
                for k in ("pc_recurrtype", "pc_recurrspec", "pc_endDate"):
                    self.assertNotIn(k, r)
            office = [r for r in rows if r["pc_catid"] == "2"]
            self.assertEqual(len(office), 4)
            later = [a for a in s.admin_get("/appointments")
                     if a.get("recurrence", {}).get("occurrence", 0) > 0]
            self.assertTrue(later)
            self.assertEqual(s.get(API + "/appointment/" + later[0]["pc_eid"], token=tok).status,
                             404)
            day = self.bundle(s, tok, "Appointment", [("date", "eq2026-12-08")])
            codes = {a["appointmentType"]["coding"][0]["code"] for a in day}
            self.assertNotIn("lunch", codes)
            self.assertIn("office_visit", codes)
            huddle = [r for r in rows if r["pc_catid"] == "11" and r["pc_title"] == "Staff huddle"]
            self.assertEqual(len(huddle), 1)  # Reserved recurs too

    def test_kind_simulator_lists_every_occurrence(self):
        with Sim(*no_quirks("recurring-base-row-only"), today=TODAY) as s:
            rows = s.get(API + "/appointment", token=s.user_token()).json()
            lunch = [r for r in rows if r["pc_catid"] == "8"]
            self.assertEqual(len(lunch), 4 * 21)  # every day 0..20

    def test_holidays_and_closed_close_the_clinic(self):
        # sql/database.sql: categories 6 Holidays and 7 Closed, pc_cattype 2
        # (clinic-wide, no provider); the calendar UI blocks every provider.
        # The seed's FHIR scheduling surface does the same in Slot search.
        for v, s in self.each():
            tok = s.user_token()
            rows = s.get(API + "/appointment", token=tok).json()
            clinic = {r["pc_catid"]: r for r in rows if r["pc_catid"] in ("6", "7")}
            self.assertEqual(set(clinic), {"6", "7"})
            for r in clinic.values():
                self.assertEqual(r["pc_aid"], "0")
                self.assertIsNone(r["pce_aid_uuid"])
                a = s.get(FHIR + "/Appointment/" + r["pc_uuid"], token=tok).json()
                refs = [p["actor"]["reference"].split("/")[0] for p in a["participant"]]
                self.assertNotIn("Practitioner", refs)
                self.assertEqual(a["appointmentType"]["coding"][0]["code"],
                                 {"6": "holidays", "7": "closed"}[r["pc_catid"]])
            holiday = clinic["6"]["pc_eventDate"]
            workday = "2026-12-09"
            for who in (DR_ADAMS, DR_DIAZ_NO_NPI):
                ref = ("Practitioner/" if who == DR_ADAMS else "Person/") + who
                free = self.bundle(s, tok, "Slot", [("start", "ge" + holiday),
                                                    ("start", "le" + holiday),
                                                    ("schedule.actor", ref)])
                self.assertEqual(free, [], "no slot on the clinic holiday")
                free = self.bundle(s, tok, "Slot", [("start", "ge" + workday),
                                                    ("start", "le" + workday),
                                                    ("schedule.actor", ref)])
                self.assertTrue(free)


class AclTest(Profiles):
    def test_practitioner_routes_need_admin_users(self):
        # _rest_routes_standard.inc.php "GET /api/practitioner/:pruuid" and
        # _rest_routes_fhir_r4_us_core_3_1_0.inc.php "GET /fhir/Practitioner":
        # RestConfig::request_authorization_check(admin, users).  8.x:
        # RestConfig::authorization_check throws AccessDeniedHttpException,
        # ExceptionHandlerListener::onExceptionEvent answers 403 JSON; 7.0.x
        # (_rest_config.php RestConfig::authorization_check):
        # http_response_code(401) and exit, no body.
        for v, s in self.each():
            tok = s.user_token()  # the worker's user: patients/appt, patients/demo
            for path in (API + "/practitioner/" + DR_ADAMS, FHIR + "/Practitioner",
                         FHIR + "/Person/" + DR_DIAZ_NO_NPI):
                r = s.get(path, token=tok)
                if v == "8":
                    self.assertEqual(r.status, 403, path)
                    self.assertEqual(r.json(), {"error": "An error occurred",
                                                "message": ACL_MESSAGE, "code": 0})
                else:
                    self.assertEqual((r.status, r.body), (401, b""), path)
            self.assertEqual(s.get(API + "/appointment", token=tok).status, 200)  # patients/appt
            self.assertEqual(s.get(API + "/patient/" + PATIENT_JOHN, token=tok).status, 200)
            admin = self.admin_token(s)
            r = s.get(API + "/practitioner/" + DR_ADAMS, token=admin)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["data"]["id"], "5")
            self.assertEqual(s.get(FHIR + "/Practitioner", token=admin).status, 200)

    def test_practitioner_needs_an_npi_and_a_username(self):
        # PractitionerService::search adds npi and username "not missing"
        # (TokenSearchField with SearchModifier::MISSING) to every search:
        # Dana Diaz has no NPI, so /api/practitioner/:pruuid does not find her
        for v, s in self.each():
            admin = self.admin_token(s)
            r = s.get(API + "/practitioner/" + DR_DIAZ_NO_NPI, token=admin)
            self.assertEqual(r.status, 404, r.body)
            self.assertEqual(r.json()["data"], [])
        with Sim(*no_quirks("practitioner-npi-username", "acl")) as s:
            r = s.get(API + "/practitioner/" + DR_DIAZ_NO_NPI, token=s.user_token())
            self.assertEqual(r.status, 200)

    def test_unknown_uuid_is_400_with_validation_errors(self):
        # PatientService::getOne (isExistingUuid) and PractitionerService::getOne
        # (validateId) answer a validation message on "uuid";
        # RestControllerHelper::createProcessingResultResponse makes it 400
        for v, s in self.each():
            for path, tok in ((API + "/patient/" + UNKNOWN, s.user_token()),
                              (API + "/practitioner/" + UNKNOWN, self.admin_token(s))):
                r = s.get(path, token=tok)
                self.assertEqual(r.status, 400, path)
                self.assertEqual(r.json()["validationErrors"],
                                 {"uuid": {"invalid or nonexisting value": " value " + UNKNOWN}})
                self.assertEqual(r.json()["data"], [])
        with Sim(*no_quirks("unknown-uuid-400")) as s:
            self.assertEqual(s.get(API + "/patient/" + UNKNOWN, token=s.user_token()).status, 404)

    def test_practitioner_active_true_is_compared_as_a_sql_string(self):
        # FhirPractitionerService::loadSearchParameters: active is a TOKEN on
        # users.active; SearchFieldStatementResolver::resolveTokenField binds
        # "active = ?" with the string 'true', which MySQL casts to 0
        for v, s in self.each():
            admin = self.admin_token(s)
            self.assertEqual(self.bundle(s, admin, "Practitioner", [("active", "true")]), [])
            self.assertEqual(len(self.bundle(s, admin, "Practitioner", [("active", "1")])), 3)
        with Sim(*no_quirks("active-sql-string", "acl")) as s:
            res = self.bundle(s, s.user_token(), "Practitioner", [("active", "true")])
            self.assertEqual(len(res), 3)


class ValidationTest(Profiles):
    BAD = {"pc_catid": "5", "pc_title": "x", "pc_duration": "900", "pc_hometext": "h",
           "pc_apptstatus": "-", "pc_eventDate": "2026-12-15", "pc_startTime": "09:00:00",
           "pc_facility": "3", "pc_billing_location": "3"}

    def test_failed_validation_is_400_on_7_and_200_on_8(self):
        # RestControllerHelper::validationHandler calls http_response_code(400)
        # and returns the field map.  7.0.x's dispatcher echoes it: 400.  8.x's
        # Symfony kernel turns the returned array into a JsonResponse
        # (ViewRendererListener::onViewEvent), status 200, no "id".
        for v, s in self.each():
            r = s.post(API + "/patient/1/appointment", token=s.user_token(), body=self.BAD)
            self.assertEqual(r.status, {"7.0.3": 400, "8": 200}[v], r.body)
            body = r.json()
            self.assertNotIn("id", body)
            self.assertIn("LengthBetween::TOO_SHORT", body["pc_title"])  # lengthBetween(2, 150)
            self.assertIn("pc_startTime", body)  # length(5): HH:MM


class ScopeTest(Profiles):
    def grant(self, s, scope):
        return s.password_grant(scope)

    def test_worker_scope_is_accepted_by_both_versions(self):
        # 8.x ServerScopeListEntity::fhirResourceScopesV1 lists write only for
        # Patient, Practitioner, Organization, but ScopeEntity::containsScope
        # returns true for any requested v1 .read/.write form once context,
        # resource and operation match a listed scope (user/Appointment.read):
        # ScopeRepository::getScopeEntityByIdentifier accepts
        # user/Appointment.write.  7.0.x ScopeRepository::fhirScopesV1 lists it.
        for v, s in self.each():
            r = self.grant(s, WORKER_SCOPE)
            self.assertEqual(r.status, 200, r.body)
            self.assertIn("user/Appointment.write", r.json()["scope"].split())

    def test_unknown_scope_is_invalid_scope(self):
        # ScopeRepository::getScopeEntityByIdentifier returns null, the grant
        # throws OAuthServerException::invalidScope (400, hint names the scope)
        for v, s in self.each():
            for scope in ("openid api:fhir user/Slot.read", "api:oemr user/appointment.bogus"):
                r = self.grant(s, scope)
                self.assertEqual(r.status, 400, scope)
                self.assertEqual(r.json()["error"], "invalid_scope")
                self.assertIn(scope.split()[-1], r.json()["hint"])

    def test_v2_and_contained_forms_differ_between_versions(self):
        # 8.x: getV2ApiScopes lists user/appointment.cruds and containsScope
        # accepts user/Appointment.rs; a partial v2 form not contained in any
        # listed scope (user/Appointment.c) is refused.  7.0.x: exact
        # membership (array_key_exists), no standard-API v2 forms, and FHIR v2
        # .rs only for fhirScopesV2's resources (Appointment is not one).
        expect = {"7.0.3": {"api:oemr user/appointment.cruds": 400,
                            "api:fhir user/Appointment.rs": 400,
                            "api:fhir user/Patient.rs": 200,
                            "api:fhir user/Appointment.c": 400},
                  "8": {"api:oemr user/appointment.cruds": 200,
                        "api:fhir user/Appointment.rs": 200,
                        "api:fhir user/Patient.rs": 200,
                        "api:fhir user/Appointment.c": 400}}
        for v, s in self.each():
            for scope, status in expect[v].items():
                self.assertEqual(self.grant(s, scope).status, status, scope)

    def test_exact_match_quirk_refuses_unlisted_write(self):
        # what the issue expected of 8.x: with scope-exact-match, a scope must
        # be listed verbatim, and 8.x does not list user/Appointment.write
        with Sim("--openemr", "8", "--quirk", "scope-exact-match") as s:
            r = s.password_grant(WORKER_SCOPE)
            self.assertEqual(r.status, 400)
            self.assertIn("user/Appointment.write", r.json()["hint"])

    def test_registration_authorize_and_client_credentials_check_scopes(self):
        # AuthorizationController::validateScopesAgainstServerApprovedScopes
        # (registration); the league grants' validateScopes (authorize,
        # client_credentials): invalidScope, on authorize sent to the client
        for v, s in self.each():
            r = s.post("/oauth2/default/registration", body={
                "application_type": "private", "redirect_uris": ["http://127.0.0.1/callback"],
                "scope": "openid api:fhir user/Schedule.write"})
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))
            q = urllib.parse.urlencode({
                "response_type": "code", "client_id": "sched-worker",
                "redirect_uri": "http://127.0.0.1/callback", "scope": "openid user/Slot.read",
                "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s1"})
            r = s.get("/oauth2/default/authorize?" + q)
            self.assertEqual(r.status, 302)
            loc = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.header("Location")).query))
            self.assertEqual(loc["error"], "invalid_scope")
            self.assertNotIn("code", loc)
            r, _ = s.system_grant(scope="api:fhir system/Slot.read")
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))

    def test_discovery_publishes_the_versions_scopes(self):
        # OAuth2DiscoveryController (8.x: getCurrentSmartScopes = the whole
        # ServerScopeListEntity list; 7.0.x: smart + standard lists) and
        # SMARTConfigurationController::getConfig, which nests the list in a
        # second array ("scopes_supported": [[...]]) in both versions
        for v, s in self.each():
            oc = s.get("/oauth2/default/.well-known/openid-configuration").json()
            sc = s.get(FHIR + "/.well-known/smart-configuration").json()
            scopes = oc["scopes_supported"]
            self.assertEqual(sc["scopes_supported"], [scopes])
            self.assertIn("user/Appointment.read", scopes)
            self.assertIn("user/appointment.write", scopes)
            self.assertEqual("user/Appointment.write" in scopes, v == "7.0.3")
            self.assertEqual("user/appointment.cruds" in scopes, v == "8")
            self.assertNotIn("client_credentials", oc["grant_types_supported"])
            self.assertEqual(oc["require_request_uri_registration"], ["false"])
            self.assertEqual(oc["token_endpoint_auth_signing_alg_values_supported"],
                             {"7.0.3": ["RS256"], "8": ["RS256", "RS384"]}[v])


class AssertionTest(Profiles):
    def test_failed_client_assertion_status_per_version(self):
        # 8.x JWTClientAuthenticationService::validateJWTClientAssertion:
        # performAdditionalValidations (sub, iss, exp <= 24 h, iat <= 5 min,
        # jti) -> 400 invalid_request; a failed constraint (SignedWith,
        # PermittedFor aud, LooseValidAt with 1 min drift, UniqueID) -> 400
        # invalid_client "Client authentication failed" (ONC Inferno asks
        # 400).  7.0.x answers every refusal 401 invalid_client (the kind one).
        now = int(time.time())
        cases = [({"aud": "https://elsewhere.example/oauth2/default/token"}, None,
                  (400, "invalid_client"), (401, "invalid_client")),
                 ({"sub": "someone-else"}, None, (400, "invalid_request"), (401, "invalid_client")),
                 ({"iat": now - 330}, None, (400, "invalid_request"), (200, None)),
                 ({"exp": now - 30}, None, (200, None), (401, "invalid_client")),
                 ({}, {"alg": "RS256"}, (400, "invalid_client"), (401, "invalid_client")),
                 ({}, {"kid": "no-such-key"}, (401, "invalid_client"), (401, "invalid_client"))]
        for v, s in self.each():
            for claims, header, want8, want7 in cases:
                r, _ = s.system_grant(claims, header=header)
                want = want8 if v == "8" else want7
                got = (r.status, r.json().get("error") if r.status != 200 else None)
                self.assertEqual(got, want, (claims, header))

    def test_replayed_jti_is_400_on_8(self):
        for v, s in self.each():
            r, assertion = s.system_grant({"jti": "once-" + v})
            self.assertEqual(r.status, 200)
            replay = s.post(TOKEN, form={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion})
            self.assertEqual(replay.status, {"7.0.3": 401, "8": 400}[v])

    def test_aud_is_the_site_address_not_the_address_used(self):
        # JWTClientAuthenticationService: PermittedFor($this->authTokenUrl),
        # built from site_addr_oath (ServerConfig), which may differ from the
        # address a client reaches OpenEMR at
        with Sim("--site-addr", "https://emr.clinic.example") as s:
            r, _ = s.system_grant()  # aud = the address used
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_client"))
            r, _ = s.system_grant({"aud": "https://emr.clinic.example/oauth2/default/token"})
            self.assertEqual(r.status, 200, r.body)
            oc = s.get("/oauth2/default/.well-known/openid-configuration").json()
            self.assertEqual(oc["token_endpoint"], "https://emr.clinic.example/oauth2/default/token")


class RowLatencyTest(unittest.TestCase):
    def test_per_row_latency_delays_appointment_searches(self):
        # FhirAppointmentService::parseOpenEMRRecord runs
        # AppointmentService::getOneCalendarCategory for every row: the
        # answer's cost grows with its rows.  Asserts the lower bound only.
        with Sim("--row-latency-ms", "40", today=TODAY) as s:
            tok = s.user_token()
            t0 = time.monotonic()
            r = s.get(FHIR + "/Appointment?date=eq2026-12-07", token=tok)
            took = time.monotonic() - t0
            rows = r.json()["total"]
            self.assertGreaterEqual(rows, 5)
            self.assertGreaterEqual(took, rows * 0.040)
            print("per-row latency: %d rows in %.3f s (40 ms/row asked)" % (rows, took))


if __name__ == "__main__":
    main()
