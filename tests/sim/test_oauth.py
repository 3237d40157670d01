#!/usr/bin/python3
"""Contract tests: the simulator's OAuth2 behaves as OpenEMR's (one test per quirk)."""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import API, FHIR, TOKEN, Sim, SimTestCase, main, no_quirks  # noqa: E402

AUTHZ = "/oauth2/default/authorize"
REDIRECT = "http://127.0.0.1/callback"


def pkce_pair():
    verifier = base64.urlsafe_b64encode(os.urandom(40)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OAuthTest(SimTestCase):
    # failed assertions all 401 (8.x answers most with 400: test_fidelity.py)
    SIM_ARGS = no_quirks("assertion-400")
    USER_TOKEN = False

    # ---- password grant ----
    def test_password_grant_issues_bearer_refresh_and_id_token(self):
        r = self.sim.password_grant()
        self.assertEqual(r.status, 200, r.body)
        t = r.json()
        self.assertEqual(t["token_type"], "Bearer")
        self.assertEqual(t["expires_in"], 3600)
        self.assertEqual(t["access_token"].count("."), 2)  # JWT-shaped
        self.assertIn("refresh_token", t)
        self.assertIn("id_token", t)
        self.assertIn("api:oemr", t["scope"].split())

    def test_password_grant_wrong_password_is_invalid_grant(self):
        r = self.sim.password_grant(password="nope")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_grant")

    def test_password_grant_needs_user_role_users(self):
        r = self.sim.password_grant(user_role="patient")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_wrong_client_secret_is_invalid_client_401(self):
        r = self.sim.password_grant(client_secret="wrong")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_scope_is_limited_to_registered_scopes(self):
        r = self.sim.password_grant(scope="api:oemr user/appointment.read system/Patient.read")
        self.assertEqual(r.json()["scope"], "api:oemr user/appointment.read")

    # ---- refresh rotation ----
    def test_refresh_rotates_and_spends_old_token(self):
        first = self.sim.password_grant().json()["refresh_token"]
        form = {"grant_type": "refresh_token", "client_id": "sched-worker",
                "client_secret": "sched-worker-secret", "refresh_token": first}
        r = self.sim.post(TOKEN, form=form)
        self.assertEqual(r.status, 200, r.body)
        second = r.json()["refresh_token"]
        self.assertNotEqual(first, second)
        again = self.sim.post(TOKEN, form=form)
        self.assertEqual(again.status, 400)
        self.assertEqual(again.json()["error"], "invalid_grant")
        form["refresh_token"] = second
        self.assertEqual(self.sim.post(TOKEN, form=form).status, 200)
        self.assertEqual(self.sim.admin_get("/stats")["token_grants"]["refresh_token"], 2)

    # ---- authorization_code + PKCE ----
    def authorize(self, challenge, method="S256", state="xyz 1"):
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": "sched-worker", "redirect_uri": REDIRECT,
            "scope": "openid offline_access api:oemr user/appointment.read", "state": state,
            "code_challenge": challenge, "code_challenge_method": method})
        return self.sim.get(AUTHZ + "?" + q)

    def test_authorization_code_with_pkce_s256(self):
        verifier, challenge = pkce_pair()
        r = self.authorize(challenge)
        self.assertEqual(r.status, 302)
        loc = urllib.parse.urlsplit(r.header("Location"))
        params = dict(urllib.parse.parse_qsl(loc.query))
        self.assertEqual(loc.scheme + "://" + loc.netloc + loc.path, REDIRECT)
        self.assertEqual(params["state"], "xyz 1")
        form = {"grant_type": "authorization_code", "client_id": "sched-worker",
                "client_secret": "sched-worker-secret", "code": params["code"],
                "redirect_uri": REDIRECT, "code_verifier": verifier}
        t = self.sim.post(TOKEN, form=form)
        self.assertEqual(t.status, 200, t.body)
        self.assertIn("refresh_token", t.json())  # offline_access asked
        self.assertEqual(self.sim.post(TOKEN, form=form).status, 400)  # code single-use
        self.assertEqual(self.sim.admin_get("/stats")["token_grants"]["authorization_code"], 1)

    def test_pkce_plain_is_refused(self):
        r = self.authorize("a" * 43, method="plain")
        self.assertEqual(r.status, 400)

    def test_pkce_wrong_verifier_is_invalid_grant(self):
        _, challenge = pkce_pair()
        loc = urllib.parse.urlsplit(self.authorize(challenge).header("Location"))
        code = dict(urllib.parse.parse_qsl(loc.query))["code"]
        r = self.sim.post(TOKEN, form={
            "grant_type": "authorization_code", "client_id": "sched-worker",
            "client_secret": "sched-worker-secret", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": pkce_pair()[0]})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_grant")

    # ---- client_credentials: RS384 assertion only ----
    def test_client_credentials_with_rs384_assertion(self):
        r, _ = self.sim.system_grant()
        self.assertEqual(r.status, 200, r.body)
        t = r.json()
        self.assertEqual(t["expires_in"], 300)
        self.assertNotIn("refresh_token", t)

    def test_client_credentials_with_secret_only_is_refused(self):
        r = self.sim.post(TOKEN, form={"grant_type": "client_credentials",
                                       "client_id": "sched-worker",
                                       "client_secret": "sched-worker-secret"})
        self.assertEqual(r.status, 400)

    def test_assertion_must_be_rs384(self):
        h = {"alg": "RS256", "typ": "JWT", "kid": "sched-system-key-1"}
        r, _ = self.sim.system_grant(header=h)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_assertion_aud_must_be_exact_token_url(self):
        r, _ = self.sim.system_grant({"aud": self.sim.base_url + "/oauth2/default/token/"})
        self.assertEqual(r.status, 401)

    def test_assertion_iss_and_sub_must_be_client_id(self):
        r, _ = self.sim.system_grant({"sub": "someone-else"})
        self.assertEqual(r.status, 401)

    def test_assertion_exp_future_and_at_most_24h(self):
        now = int(time.time())
        self.assertEqual(self.sim.system_grant({"exp": now - 10})[0].status, 401)
        self.assertEqual(self.sim.system_grant({"exp": now + 86400 + 120})[0].status, 401)

    def test_assertion_iat_at_most_5_minutes_old(self):
        r, _ = self.sim.system_grant({"iat": int(time.time()) - 600})
        self.assertEqual(r.status, 401)

    def test_assertion_jti_is_required_and_single_use(self):
        self.assertEqual(self.sim.system_grant({"jti": None})[0].status, 401)
        r, assertion = self.sim.system_grant({"jti": "once"})
        self.assertEqual(r.status, 200)
        replay = self.sim.post(TOKEN, form={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        self.assertEqual(replay.status, 401)

    def test_assertion_signed_by_unregistered_key_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            other = os.path.join(d, "other.pem")
            subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True,
                           capture_output=True)
            r, _ = self.sim.system_grant(key=other)
        self.assertEqual(r.status, 401)

    def test_system_token_is_refused_on_api_with_403(self):
        tok = self.sim.system_token()
        self.assertEqual(self.sim.get(API + "/appointment", token=tok).status, 403)
        self.assertEqual(self.sim.get(FHIR + "/Patient", token=tok).status, 200)

    # ---- registration ----
    def test_registration_with_user_scopes_starts_disabled(self):
        r = self.sim.post("/oauth2/default/registration", body={
            "application_type": "private", "redirect_uris": [REDIRECT],
            "client_name": "new app", "token_endpoint_auth_method": "client_secret_post",
            "scope": "openid api:oemr user/appointment.read"})
        self.assertEqual(r.status, 200, r.body)
        c = r.json()
        for k in ("client_id", "client_secret", "registration_access_token"):
            self.assertIn(k, c)
        form = {"grant_type": "authorization_code", "client_id": c["client_id"],
                "client_secret": c["client_secret"], "code": "bogus", "redirect_uri": REDIRECT,
                "code_verifier": "v" * 43}
        r = self.sim.post(TOKEN, form=form)
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        self.assertEqual(self.sim.admin_post("/clients/%s/enable" % c["client_id"]).status, 200)
        r = self.sim.post(TOKEN, form=form)
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))

    def test_registration_requires_redirect_uris(self):
        r = self.sim.post("/oauth2/default/registration", body={"client_name": "x"})
        self.assertEqual(r.status, 400)

    # ---- introspection, logout, revocation ----
    def test_introspect_live_and_dead_tokens(self):
        t = self.sim.password_grant().json()
        auth = {"client_id": "sched-worker", "client_secret": "sched-worker-secret"}
        r = self.sim.post("/oauth2/default/introspect", form=dict(auth, token=t["access_token"]))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json()["active"])
        self.assertEqual(r.json()["client_id"], "sched-worker")
        r = self.sim.post("/oauth2/default/introspect", form=dict(auth, token="nope"))
        self.assertFalse(r.json()["active"])

    def test_logout_revokes_the_session_tokens(self):
        t = self.sim.password_grant().json()
        self.assertEqual(self.sim.get(API + "/appointment", token=t["access_token"]).status, 200)
        r = self.sim.get("/oauth2/default/logout?id_token_hint=" + t["id_token"])
        self.assertEqual(r.status, 200)
        self.assertEqual(self.sim.get(API + "/appointment", token=t["access_token"]).status, 401)
        r = self.sim.post(TOKEN, form={"grant_type": "refresh_token", "client_id": "sched-worker",
                                       "client_secret": "sched-worker-secret",
                                       "refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 400)

    def test_missing_or_garbage_token_is_401(self):
        self.assertEqual(self.sim.get(API + "/appointment").status, 401)
        self.assertEqual(self.sim.get(API + "/appointment", token="x.y.z").status, 401)
        self.assertEqual(self.sim.get(FHIR + "/Patient", token="x.y.z").status, 401)

    def test_missing_scope_is_401(self):
        tok = self.sim.user_token("api:oemr api:fhir user/patient.read")
        self.assertEqual(self.sim.get(API + "/appointment", token=tok).status, 401)
        self.assertEqual(self.sim.get(FHIR + "/Appointment", token=tok).status, 401)

    def test_user_token_without_api_oemr_is_403(self):
        tok = self.sim.user_token("api:fhir user/appointment.read")
        self.assertEqual(self.sim.get(API + "/appointment", token=tok).status, 403)

    def test_smart_v2_scope_form_grants_access(self):
        # 7.0.4's SMART v2 form: user/appointment.cruds is read and write
        c = self.sim.post("/oauth2/default/registration", body={
            "application_type": "private", "redirect_uris": [REDIRECT],
            "scope": "openid api:oemr user/appointment.cruds"}).json()
        self.sim.admin_post("/clients/%s/enable" % c["client_id"])
        verifier, challenge = pkce_pair()
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": c["client_id"], "redirect_uri": REDIRECT,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        loc = urllib.parse.urlsplit(self.sim.get(AUTHZ + "?" + q).header("Location"))
        code = dict(urllib.parse.parse_qsl(loc.query))["code"]
        t = self.sim.post(TOKEN, form={
            "grant_type": "authorization_code", "client_id": c["client_id"],
            "client_secret": c["client_secret"], "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}).json()
        self.assertEqual(self.sim.get(API + "/appointment", token=t["access_token"]).status, 200)
        self.assertNotIn("refresh_token", t)  # no offline_access, no refresh token

    def test_admin_expire_and_revoke_all_tokens(self):
        t = self.sim.password_grant().json()
        self.sim.admin_post("/tokens/expire")
        self.assertEqual(self.sim.get(API + "/appointment", token=t["access_token"]).status, 401)
        r = self.sim.post(TOKEN, form={"grant_type": "refresh_token", "client_id": "sched-worker",
                                       "client_secret": "sched-worker-secret",
                                       "refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200)  # expiry leaves refresh tokens alive
        t2 = r.json()
        self.sim.admin_post("/tokens/revoke")
        self.assertEqual(self.sim.get(API + "/appointment", token=t2["access_token"]).status, 401)
        r = self.sim.post(TOKEN, form={"grant_type": "refresh_token", "client_id": "sched-worker",
                                       "client_secret": "sched-worker-secret",
                                       "refresh_token": t2["refresh_token"]})
        self.assertEqual(r.status, 400)

    def test_discovery_documents_without_token(self):
        # OAuth2DiscoveryController::getDiscoveryResponse lists "plain" PKCE
        # although authorize refuses it (test_pkce_plain_is_refused);
        # SMARTConfigurationController::getConfig lists S256 only
        oc = self.sim.get("/oauth2/default/.well-known/openid-configuration").json()
        self.assertEqual(oc["token_endpoint"], self.sim.token_url())
        self.assertEqual(oc["code_challenge_methods_supported"], ["S256", "plain"])
        sc = self.sim.get(FHIR + "/.well-known/smart-configuration")
        self.assertEqual(sc.status, 200)
        self.assertEqual(sc.json()["token_endpoint"], self.sim.token_url())
        self.assertEqual(sc.json()["code_challenge_methods_supported"], ["S256"])


class LifetimeTest(unittest.TestCase):
    def test_lifetime_flags_shorten_tokens(self):
        with Sim("--access-token-lifetime", "1", "--system-token-lifetime", "1") as s:
            t = s.password_grant().json()
            self.assertEqual(t["expires_in"], 1)
            st = s.system_grant()[0].json()
            self.assertEqual(st["expires_in"], 1)
            self.assertEqual(s.get(API + "/appointment", token=t["access_token"]).status, 200)
            time.sleep(2.1)
            self.assertEqual(s.get(API + "/appointment", token=t["access_token"]).status, 401)
            self.assertEqual(s.get(FHIR + "/Patient", token=st["access_token"]).status, 401)


if __name__ == "__main__":
    main()
