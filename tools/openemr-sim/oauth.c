/* oauth.c - OpenEMR's /oauth2/default surface: authorize (auto-approving
 * the seed's login, PKCE S256 only), token (authorization_code,
 * refresh_token with rotation, password, client_credentials with an RS384
 * client assertion only), registration (clients asking user/ or system/
 * scopes start disabled), introspect, logout, discovery.  The client and
 * token tables and the Bearer check are tokens.c's. */
#include "jwt.h"
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum grant { G_PASSWORD, G_REFRESH, G_CLIENT_CREDENTIALS, G_AUTH_CODE };

#define CODE_LIFETIME    600
#define REFRESH_LIFETIME (90 * 86400)
#define SCOPE_MAX        1024

static void oauth_error(struct sim_resp *r, int status, const char *err, const char *desc)
{
    resp_json(r, status,
              json_pack("{s:s,s:s,s:s}", "error", err, "error_description", desc, "message", desc));
}

/* OAuthServerException::invalidScope, as registration, authorize and every
 * grant answer a scope the server does not list (scopes.c). */
static void invalid_scope(struct sim_resp *r, const char *bad)
{
    char hint[300];
    snprintf(hint, sizeof(hint), "Check the `%s` scope", bad);
    resp_json(r, 400,
              json_pack("{s:s,s:s,s:s,s:s}", "error", "invalid_scope", "error_description",
                        "The requested scope is invalid, unknown, or malformed", "hint", hint,
                        "message", "The requested scope is invalid, unknown, or malformed"));
}

/* false (answered) when the requested scope string names an unknown scope */
static bool scopes_ok(struct sim_req *q, struct sim_resp *r, const char *requested)
{
    char bad[256];
    if (scopes_check(q->sim, requested, bad, sizeof(bad)))
        return true;
    invalid_scope(r, bad);
    return false;
}

/* ---- scopes ---- */

/* The requested scopes the client registered (all of them if none asked). */
static void scope_grant(const char *registered, const char *requested, char *out, size_t len)
{
    out[0] = '\0';
    if (!requested || !*requested) {
        snprintf(out, len, "%s", registered);
        return;
    }
    const char *p = requested;
    size_t used = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && scope_word(registered, p, n) && used + n + 2 < len) {
            used += (size_t)snprintf(out + used, len - used, "%s%.*s", used ? " " : "", (int)n, p);
        }
        p += n;
    }
}

/* ---- clients ---- */

static bool client_grant_allowed(json_t *client, const char *grant)
{
    json_t *g;
    size_t i;
    json_array_foreach(json_object_get(client, "grant_types"), i, g)
    {
        if (strcmp(json_string_value(g) ? json_string_value(g) : "", grant) == 0)
            return true;
    }
    return false;
}

/* Client authentication: Basic header or client_id/client_secret form
 * fields; a confidential client must present its secret.  Returns the
 * client or NULL (401 invalid_client answered). */
static json_t *client_auth(struct sim_req *q, struct sim_arg *form, int nform, struct sim_resp *r)
{
    const char *id = args_get(form, nform, "client_id");
    const char *secret = args_get(form, nform, "client_secret");
    char basic_id[256] = "", basic_secret[256] = "";
    if (q->authz && strncmp(q->authz, "Basic ", 6) == 0) {
        size_t n = 0;
        /* Basic uses plain base64; map to base64url for the decoder */
        char tmp[700];
        snprintf(tmp, sizeof(tmp), "%s", q->authz + 6);
        for (char *p = tmp; *p; p++)
            *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
        char *eq = strchr(tmp, '=');
        if (eq)
            *eq = '\0';
        unsigned char *raw = b64url_decode(tmp, strlen(tmp), &n);
        char *colon = raw ? strchr((char *)raw, ':') : NULL;
        if (colon) {
            *colon = '\0';
            snprintf(basic_id, sizeof(basic_id), "%s", (char *)raw);
            snprintf(basic_secret, sizeof(basic_secret), "%s", colon + 1);
            id = basic_id;
            secret = basic_secret;
        }
        free(raw);
    }
    json_t *client = id ? json_object_get(q->sim->oauth.clients, id) : NULL;
    const char *want = client ? json_string_value(json_object_get(client, "client_secret")) : NULL;
    if (!client || (want && (!secret || strcmp(secret, want) != 0))) {
        oauth_error(r, 401, "invalid_client", "Client authentication failed");
        return NULL;
    }
    if (!json_is_true(json_object_get(client, "enabled"))) {
        oauth_error(r, 401, "invalid_client", "Client authentication failed");
        return NULL;
    }
    return client;
}

/* ---- tokens ---- */

static void jwt_like(const char *client_id, const char *sub, long exp, char *out, size_t len)
{
    char jti[65], sig[65];
    random_hex(jti, 32);
    random_hex(sig, 32);
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I,s:s}", "aud", client_id, "jti", jti, "iat",
                               (json_int_t)time(NULL), "exp", (json_int_t)exp, "sub", sub);
    char *c = json_dumps(claims, JSON_COMPACT);
    char *h = b64url_encode((const unsigned char *)"{\"typ\":\"JWT\",\"alg\":\"RS256\"}", 27);
    char *p = c ? b64url_encode((const unsigned char *)c, strlen(c)) : NULL;
    snprintf(out, len, "%s.%s.%s", h ? h : "e30", p ? p : "e30", sig);
    free(h);
    free(p);
    free(c);
    json_decref(claims);
}

/* Issues access (+ refresh when asked, + id_token with openid) and answers
 * the token response. */
static void issue(struct sim_req *q, struct sim_resp *r, json_t *client, const char *username,
                  const char *scope, enum grant g, bool refresh, const char *sid_in)
{
    struct sim *sim = q->sim;
    bool system = g == G_CLIENT_CREDENTIALS;
    long life = system ? sim->opts.system_lifetime : sim->opts.access_lifetime;
    long now = (long)time(NULL);
    const char *cid = json_string_value(json_object_get(client, "client_id"));
    char sid[33], access[1024], rt[129], idt[1024];
    if (sid_in)
        snprintf(sid, sizeof(sid), "%s", sid_in);
    else
        random_hex(sid, 16);
    jwt_like(cid, username ? username : cid, now + life, access, sizeof(access));
    token_put(sim, access, "access", client, username, scope, now + life, system, sid);
    json_t *out = json_pack("{s:s,s:I,s:s,s:s}", "token_type", "Bearer", "expires_in",
                            (json_int_t)life, "access_token", access, "scope", scope);
    if (refresh) {
        random_hex(rt, 64);
        token_put(sim, rt, "refresh", client, username, scope, now + REFRESH_LIFETIME, false, sid);
        json_object_set_new(out, "refresh_token", json_string(rt));
    }
    if (scope_word(scope, "openid", 6)) {
        jwt_like(cid, username ? username : cid, now + life, idt, sizeof(idt));
        token_put(sim, idt, "id", client, username, scope, now + life, system, sid);
        json_object_set_new(out, "id_token", json_string(idt));
    }
    sim->oauth.grants[g]++;
    resp_json(r, 200, out);
}

/* ---- grants ---- */

static const char *login_password(struct sim *sim, const char *username)
{
    json_t *l;
    size_t i;
    json_array_foreach(sim->store.seed_logins, i, l)
    {
        const char *u = json_string_value(json_object_get(l, "username"));
        if (u && username && strcmp(u, username) == 0)
            return json_string_value(json_object_get(l, "password"));
    }
    return NULL;
}

static void grant_password(struct sim_req *q, struct sim_resp *r, struct sim_arg *f, int nf)
{
    json_t *client = client_auth(q, f, nf, r);
    if (!client)
        return;
    if (!client_grant_allowed(client, "password")) {
        oauth_error(r, 400, "unsupported_grant_type", "The password grant is not enabled");
        return;
    }
    if (!scopes_ok(q, r, args_get(f, nf, "scope")))
        return;
    const char *role = args_get(f, nf, "user_role"), *user = args_get(f, nf, "username");
    const char *pass = args_get(f, nf, "password");
    if (!role || strcmp(role, "users") != 0 || !user || !pass) {
        oauth_error(r, 400, "invalid_request",
                    "The request is missing a required parameter (user_role, username, password)");
        return;
    }
    const char *want = login_password(q->sim, user);
    if (!want || strcmp(want, pass) != 0) {
        oauth_error(r, 400, "invalid_grant", "The user credentials were incorrect.");
        return;
    }
    char scope[SCOPE_MAX];
    scope_grant(json_string_value(json_object_get(client, "scope")), args_get(f, nf, "scope"),
                scope, sizeof(scope));
    issue(q, r, client, user, scope, G_PASSWORD, true, NULL);
}

static void grant_refresh(struct sim_req *q, struct sim_resp *r, struct sim_arg *f, int nf)
{
    json_t *client = client_auth(q, f, nf, r);
    if (!client)
        return;
    json_t *rec = token_rec(q->sim, args_get(f, nf, "refresh_token"), "refresh");
    if (!token_live(rec) ||
        !json_equal(json_object_get(rec, "client_id"), json_object_get(client, "client_id"))) {
        resp_json(r, 400,
                  json_pack("{s:s,s:s,s:s}", "error", "invalid_grant", "error_description",
                            "The refresh token is invalid.", "hint", "Token has been revoked"));
        return;
    }
    if (!scopes_ok(q, r, args_get(f, nf, "scope")))
        return;
    json_object_set_new(rec, "spent", json_true());
    char scope[SCOPE_MAX], sid[64], user[64];
    snprintf(sid, sizeof(sid), "%s", json_string_value(json_object_get(rec, "sid")));
    const char *u = json_string_value(json_object_get(rec, "username"));
    snprintf(user, sizeof(user), "%s", u ? u : "");
    scope_grant(json_string_value(json_object_get(rec, "scope")), args_get(f, nf, "scope"), scope,
                sizeof(scope));
    issue(q, r, client, user[0] ? user : NULL, scope, G_REFRESH, true, sid);
}

static void grant_code(struct sim_req *q, struct sim_resp *r, struct sim_arg *f, int nf)
{
    json_t *client = client_auth(q, f, nf, r);
    if (!client)
        return;
    json_t *rec = token_rec(q->sim, args_get(f, nf, "code"), "code");
    const char *redirect = args_get(f, nf, "redirect_uri");
    const char *want_redirect = json_string_value(json_object_get(rec, "redirect_uri"));
    if (!token_live(rec) ||
        !json_equal(json_object_get(rec, "client_id"), json_object_get(client, "client_id")) ||
        (want_redirect && (!redirect || strcmp(redirect, want_redirect) != 0))) {
        oauth_error(r, 400, "invalid_grant", "Authorization code is invalid or spent");
        return;
    }
    json_object_set_new(rec, "spent", json_true());
    if (!pkce_s256_matches(args_get(f, nf, "code_verifier"),
                           json_string_value(json_object_get(rec, "challenge")))) {
        oauth_error(r, 400, "invalid_grant", "Failed to verify `code_verifier`.");
        return;
    }
    char scope[SCOPE_MAX], user[64];
    snprintf(scope, sizeof(scope), "%s", json_string_value(json_object_get(rec, "scope")));
    snprintf(user, sizeof(user), "%s", json_string_value(json_object_get(rec, "username")));
    issue(q, r, client, user, scope, G_AUTH_CODE, scope_word(scope, "offline_access", 14), NULL);
}

/* How a refused client assertion is answered.  8.x
 * (JWTClientAuthenticationService::validateJWTClientAssertion): a claim
 * refused by performAdditionalValidations is 400 invalid_request, a failed
 * constraint (signature, issuer, audience, time, replayed jti) 400
 * invalid_client; an unreadable token or key 401.  With assertion-400 off
 * (7.0.x) every refusal is 401 invalid_client. */
enum refusal { REFUSE_401, REFUSE_REQUEST_400, REFUSE_CLIENT_400 };

static void refuse_assertion(struct sim *sim, struct sim_resp *r, enum refusal how, const char *why)
{
    if (!QUIRK(sim, Q_ASSERTION_400) || how == REFUSE_401)
        oauth_error(r, 401, "invalid_client", why);
    else if (how == REFUSE_CLIENT_400)
        oauth_error(r, 400, "invalid_client", "Client authentication failed");
    else
        resp_json(r, 400,
                  json_pack("{s:s,s:s,s:s,s:s}", "error", "invalid_request", "error_description",
                            "The request is missing a required parameter, includes an invalid "
                            "parameter value, includes a parameter more than once, or is "
                            "otherwise malformed.",
                            "hint", why, "message", "The request is malformed."));
}

static bool aud_is(json_t *jaud, const char *aud)
{
    bool ok = json_is_string(jaud) && strcmp(json_string_value(jaud), aud) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(jaud, i, a) ok |=
        json_is_string(a) && strcmp(json_string_value(a), aud) == 0;
    return ok;
}

/* SMART Backend Services: the assertion is the only client authentication.
 * The claims are checked in 8.x's order: sub/iss/exp-horizon/iat-age/jti
 * first (on the unverified claims), then signature, time, audience, replay. */
static void grant_client_credentials(struct sim_req *q, struct sim_resp *r, struct sim_arg *f,
                                     int nf)
{
    struct sim *sim = q->sim;
    const char *type = args_get(f, nf, "client_assertion_type");
    const char *assertion = args_get(f, nf, "client_assertion");
    bool v8 = QUIRK(sim, Q_ASSERTION_400);
    char why[160] = "", aud[300];
    json_t *claims = NULL;
    if (!type || strcmp(type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0 ||
        !assertion) {
        oauth_error(r, 400, "invalid_request", "client_credentials requires a JWT assertion");
        return;
    }
    /* the assertion names its client in iss; read it before verifying */
    const char *d1 = strchr(assertion, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    json_t *unverified = d2 ? b64url_json(d1 + 1, (size_t)(d2 - d1 - 1)) : NULL;
    const char *iss = json_string_value(json_object_get(unverified, "iss"));
    json_t *client = iss ? json_object_get(sim->oauth.clients, iss) : NULL;
    if (!client || !json_is_true(json_object_get(client, "enabled")) ||
        !json_object_get(client, "jwks")) {
        json_decref(unverified);
        oauth_error(r, 401, "invalid_client", "Client authentication failed");
        return;
    }
    const char *cid = json_string_value(json_object_get(client, "client_id"));
    json_int_t now = (json_int_t)time(NULL);
    const char *sub = json_string_value(json_object_get(unverified, "sub"));
    json_int_t uexp = json_integer_value(json_object_get(unverified, "exp"));
    bool has_iat = json_object_get(unverified, "iat") != NULL;
    json_int_t iat = json_integer_value(json_object_get(unverified, "iat"));
    char jti[128] = "";
    const char *j = json_string_value(json_object_get(unverified, "jti"));
    snprintf(jti, sizeof(jti), "%s", j ? j : "");
    enum refusal how = REFUSE_REQUEST_400;
    if (!sub || strcmp(sub, cid) != 0)
        snprintf(why, sizeof(why), "iss and sub must be the client_id");
    else if (uexp > now + 86400)
        snprintf(why, sizeof(why), "exp must be in the future and at most 24 h ahead");
    else if (has_iat && iat < now - (v8 ? 300 : 360))
        snprintf(why, sizeof(why), "iat too old or in the future");
    else if (!jti[0])
        snprintf(why, sizeof(why), "jti is required");
    json_decref(unverified);
    if (why[0])
        goto refuse;
    how = REFUSE_401;
    claims = jwt_verify_rs384(assertion, json_object_get(client, "jwks"), why, sizeof(why));
    if (!claims) {
        /* a readable token with the wrong alg or signature fails SignedWith */
        if (strstr(why, "alg") || strstr(why, "signature"))
            how = REFUSE_CLIENT_400;
        goto refuse;
    }
    how = REFUSE_CLIENT_400;
    const char *site = sim->opts.site_addr[0] ? sim->opts.site_addr : sim->base_url;
    snprintf(aud, sizeof(aud), "%s%s/token", site, SIM_SITE_OAUTH);
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    if (!aud_is(json_object_get(claims, "aud"), aud))
        snprintf(why, sizeof(why), "aud must be the token URL");
    else if (exp <= now - (v8 ? 60 : 0)) /* LooseValidAt: one minute of drift */
        snprintf(why, sizeof(why), "exp must be in the future and at most 24 h ahead");
    else if (has_iat && iat > now + 60)
        snprintf(why, sizeof(why), "iat too old or in the future");
    else if (json_object_get(sim->oauth.jtis, jti))
        snprintf(why, sizeof(why), "jti already used");
    if (why[0])
        goto refuse;
    if (!scopes_ok(q, r, args_get(f, nf, "scope")))
        goto cleanup;
    json_object_set_new(sim->oauth.jtis, jti, json_integer(exp));
    char scope[SCOPE_MAX];
    scope_grant(json_string_value(json_object_get(client, "scope")), args_get(f, nf, "scope"),
                scope, sizeof(scope));
    issue(q, r, client, NULL, scope, G_CLIENT_CREDENTIALS, false, NULL);
    goto cleanup;
refuse:
    refuse_assertion(sim, r, how, why);
cleanup:
    json_decref(claims);
}

static void handle_token(struct sim_req *q, struct sim_resp *r)
{
    struct sim_arg f[SIM_MAX_ARGS];
    int nf = form_parse(q->body, q->body_len, f, SIM_MAX_ARGS);
    const char *g = args_get(f, nf, "grant_type");
    q->route = "/oauth2/token";
    if (!g)
        oauth_error(r, 400, "invalid_request", "grant_type is required");
    else if (strcmp(g, "password") == 0)
        grant_password(q, r, f, nf);
    else if (strcmp(g, "refresh_token") == 0)
        grant_refresh(q, r, f, nf);
    else if (strcmp(g, "authorization_code") == 0)
        grant_code(q, r, f, nf);
    else if (strcmp(g, "client_credentials") == 0)
        grant_client_credentials(q, r, f, nf);
    else
        oauth_error(r, 400, "unsupported_grant_type",
                    "The authorization grant type is not "
                    "supported by the authorization server.");
    args_free(f, nf);
}

/* ---- authorize: approves the seed's first login without a browser ---- */

static void url_append(char *out, size_t len, const char *key, const char *val)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = strlen(out);
    used += (size_t)snprintf(out + used, len > used ? len - used : 0,
                             "%c%s=", strchr(out, '?') ? '&' : '?', key);
    for (const unsigned char *p = (const unsigned char *)val; *p && used + 4 < len; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            out[used++] = (char)*p;
        } else {
            out[used++] = '%';
            out[used++] = hex[*p >> 4];
            out[used++] = hex[*p & 15];
        }
    }
    out[used < len ? used : len - 1] = '\0';
}

static bool redirect_registered(json_t *client, const char *uri)
{
    json_t *u;
    size_t i;
    json_array_foreach(json_object_get(client, "redirect_uris"), i, u)
    {
        if (strcmp(json_string_value(u), uri) == 0)
            return true;
    }
    return false;
}

static void handle_authorize(struct sim_req *q, struct sim_resp *r)
{
    struct sim *sim = q->sim;
    q->route = "/oauth2/authorize";
    const char *cid = req_arg(q, "client_id"), *redirect = req_arg(q, "redirect_uri");
    const char *challenge = req_arg(q, "code_challenge");
    const char *method = req_arg(q, "code_challenge_method");
    const char *state = req_arg(q, "state"), *rtype = req_arg(q, "response_type");
    json_t *client = cid ? json_object_get(sim->oauth.clients, cid) : NULL;
    if (!client || !json_is_true(json_object_get(client, "enabled"))) {
        oauth_error(r, 401, "invalid_client", "Client authentication failed");
        return;
    }
    if (!redirect || !redirect_registered(client, redirect)) {
        oauth_error(r, 400, "invalid_request", "redirect_uri is not registered for this client");
        return;
    }
    if (!rtype || strcmp(rtype, "code") != 0) {
        oauth_error(r, 400, "unsupported_response_type", "response_type must be code");
        return;
    }
    if (!challenge || !method || strcmp(method, "S256") != 0) {
        oauth_error(r, 400, "invalid_request", "Code challenge method must be `S256`.");
        return;
    }
    char bad[256];
    if (!scopes_check(sim, req_arg(q, "scope"), bad, sizeof(bad))) {
        /* invalidScope with the redirect URI: the error goes back to the client */
        char hint[300];
        snprintf(hint, sizeof(hint), "Check the `%s` scope", bad);
        snprintf(r->location, sizeof(r->location), "%s", redirect);
        url_append(r->location, sizeof(r->location), "error", "invalid_scope");
        url_append(r->location, sizeof(r->location), "error_description",
                   "The requested scope is invalid, unknown, or malformed");
        url_append(r->location, sizeof(r->location), "hint", hint);
        resp_empty(r, 302);
        return;
    }
    json_t *login = json_array_get(sim->store.seed_logins, 0);
    const char *user = json_string_value(json_object_get(login, "username"));
    char code[129], scope[SCOPE_MAX];
    random_hex(code, 48);
    scope_grant(json_string_value(json_object_get(client, "scope")), req_arg(q, "scope"), scope,
                sizeof(scope));
    token_put(sim, code, "code", client, user ? user : "", scope, (long)time(NULL) + CODE_LIFETIME,
              false, "");
    json_t *rec = json_object_get(sim->oauth.tokens, code);
    json_object_set_new(rec, "redirect_uri", json_string(redirect));
    json_object_set_new(rec, "challenge", json_string(challenge));
    snprintf(r->location, sizeof(r->location), "%s", redirect);
    url_append(r->location, sizeof(r->location), "code", code);
    if (state)
        url_append(r->location, sizeof(r->location), "state", state);
    resp_empty(r, 302);
}

/* ---- registration ---- */

static bool scope_needs_approval(const char *scope)
{
    return scope && (strstr(scope, "user/") || strstr(scope, "system/"));
}

static void handle_registration(struct sim_req *q, struct sim_resp *r)
{
    struct sim *sim = q->sim;
    q->route = "/oauth2/registration";
    json_t *in = req_json(q);
    json_t *redirects = json_object_get(in, "redirect_uris");
    if (!json_is_object(in) || !json_is_array(redirects) || !json_array_size(redirects)) {
        oauth_error(r, 400, "invalid_redirect_uri", "redirect_uris is required");
        json_decref(in);
        return;
    }
    const char *app = json_string_value(json_object_get(in, "application_type"));
    const char *scope = json_string_value(json_object_get(in, "scope"));
    /* AuthorizationController::validateScopesAgainstServerApprovedScopes */
    if (!scopes_ok(q, r, scope)) {
        json_decref(in);
        return;
    }
    bool confidential = !app || strcmp(app, "private") == 0;
    char id[44], secret[129], rat[65];
    random_hex(id, 21);
    random_hex(secret, 64);
    random_hex(rat, 32);
    json_t *client = json_deep_copy(in);
    json_object_set_new(client, "client_id", json_string(id));
    json_object_set_new(client, "client_secret", confidential ? json_string(secret) : json_null());
    json_object_set_new(client, "scope", json_string(scope ? scope : "openid"));
    json_object_set_new(client, "enabled",
                        json_boolean(!(confidential && scope_needs_approval(scope))));
    if (!json_object_get(client, "grant_types"))
        json_object_set_new(client, "grant_types",
                            json_pack("[s,s]", "authorization_code", "refresh_token"));
    oauth_client_add(sim, client);
    json_t *out = json_deep_copy(client);
    json_object_del(out, "enabled");
    json_object_set_new(out, "registration_access_token", json_string(rat));
    json_object_set_new(out, "client_id_issued_at", json_integer((json_int_t)time(NULL)));
    json_object_set_new(out, "client_secret_expires_at", json_integer(0));
    char uri[300];
    snprintf(uri, sizeof(uri), "%s%s/client/%s", sim->base_url, SIM_SITE_OAUTH, id);
    json_object_set_new(out, "registration_client_uri", json_string(uri));
    resp_json(r, 200, out);
    json_decref(client);
    json_decref(in);
}

/* ---- introspect, logout ---- */

static void handle_introspect(struct sim_req *q, struct sim_resp *r)
{
    struct sim_arg f[SIM_MAX_ARGS];
    int nf = form_parse(q->body, q->body_len, f, SIM_MAX_ARGS);
    q->route = "/oauth2/introspect";
    json_t *client = client_auth(q, f, nf, r);
    if (!client)
        goto cleanup_form;
    const char *tok = args_get(f, nf, "token");
    json_t *rec = token_rec(q->sim, tok, "access");
    const char *type = "access_token";
    if (!rec) {
        rec = token_rec(q->sim, tok, "refresh");
        type = "refresh_token";
    }
    if (!token_live(rec)) {
        resp_json(r, 200, json_pack("{s:b}", "active", 0));
        goto cleanup_form;
    }
    resp_json(r, 200,
              json_pack("{s:b,s:O,s:O,s:O,s:O,s:s,s:O}", "active", 1, "scope",
                        json_object_get(rec, "scope"), "client_id",
                        json_object_get(rec, "client_id"), "exp", json_object_get(rec, "exp"),
                        "sub", json_object_get(rec, "client_id"), "token_type", type, "username",
                        json_object_get(rec, "username")));
cleanup_form:
    args_free(f, nf);
}

/* Revokes every token of the session the hint (an id_token, or any token
 * of it) belongs to. */
static void handle_logout(struct sim_req *q, struct sim_resp *r)
{
    struct sim_arg f[SIM_MAX_ARGS];
    int nf = form_parse(q->body, q->body_len, f, SIM_MAX_ARGS);
    q->route = "/oauth2/logout";
    const char *hint = req_arg(q, "id_token_hint");
    if (!hint)
        hint = args_get(f, nf, "id_token_hint");
    if (!hint)
        hint = args_get(f, nf, "token");
    json_t *rec = hint ? json_object_get(q->sim->oauth.tokens, hint) : NULL;
    if (!rec) {
        oauth_error(r, 400, "invalid_request", "id_token_hint is missing or unknown");
        goto cleanup_form;
    }
    const char *sid = json_string_value(json_object_get(rec, "sid"));
    const char *k;
    json_t *t;
    json_object_foreach(q->sim->oauth.tokens, k, t)
    {
        if (sid && *sid && json_equal(json_object_get(t, "sid"), json_object_get(rec, "sid")))
            json_object_set_new(t, "revoked", json_true());
    }
    json_object_set_new(rec, "revoked", json_true());
    const char *after = req_arg(q, "post_logout_redirect_uri");
    if (after) {
        snprintf(r->location, sizeof(r->location), "%s", after);
        resp_empty(r, 302);
    } else {
        resp_json(r, 200, json_pack("{s:s}", "message", "logged out"));
    }
cleanup_form:
    args_free(f, nf);
}

/* OAuth2DiscoveryController (8.x) / the 7.0.x discovery template: the
 * version's scopes, "plain" PKCE advertised though refused, password
 * listed only when the global allows it (it does here), no
 * client_credentials, require_request_uri_registration as ["false"]. */
static void handle_discovery(struct sim_req *q, struct sim_resp *r)
{
    char base[300];
    const char *site = q->sim->opts.site_addr[0] ? q->sim->opts.site_addr : q->sim->base_url;
    snprintf(base, sizeof(base), "%s%s", site, SIM_SITE_OAUTH);
    q->route = "/oauth2/.well-known/openid-configuration";
    bool v8 = q->sim->opts.profile.version != SIM_OE_703;
    json_t *o = json_pack(
        "{s:s,s:s+,s:s+,s:s+,s:s+,s:s+,s:s+,s:s+,s:o,s:[s,s,s,s,s,s,s],s:[s,s],s:[s,s,s],"
        "s:[s,s,s],s:[s],s:[s,s,s,s,s,s,s,s,s,s,s],s:[s],s:[s],s:[s],s:o,s:[s],s:[s]}",
        "issuer", base, "authorization_endpoint", base, "/authorize", "token_endpoint", base,
        "/token", "jwks_uri", base, "/jwk", "userinfo_endpoint", base, "/userinfo",
        "registration_endpoint", base, "/registration", "end_session_endpoint", base, "/logout",
        "introspection_endpoint", base, "/introspect", "scopes_supported", scopes_supported(q->sim),
        "response_types_supported", "code", "token", "id_token", "code token", "code id_token",
        "token id_token", "code token id_token", "code_challenge_methods_supported", "S256",
        "plain", "grant_types_supported", "authorization_code", "password", "refresh_token",
        "response_modes_supported", "query", "fragment", "form_post", "subject_types_supported",
        "public", "claims_supported", "profile", "email", "email_verified", "phone",
        "phone_verified", "family_name", "given_name", "fhirUser", "locale", "api:oemr", "api:fhir",
        "require_request_uri_registration", "false", "id_token_signing_alg_values_supported",
        "RS256", "token_endpoint_auth_methods_supported", "client_secret_post",
        "token_endpoint_auth_signing_alg_values_supported",
        v8 ? json_pack("[s,s]", "RS256", "RS384") : json_pack("[s]", "RS256"),
        "claims_locales_supported", "en-US", "ui_locales_supported", "en-US");
    resp_json(r, 200, o);
}

void oauth_handle(struct sim_req *q, struct sim_resp *r, const char *sub)
{
    bool post = strcmp(q->method, "POST") == 0, get = strcmp(q->method, "GET") == 0;
    pthread_mutex_lock(&q->sim->lock);
    if (post && strcmp(sub, "/token") == 0)
        handle_token(q, r);
    else if (get && strcmp(sub, "/authorize") == 0)
        handle_authorize(q, r);
    else if (post && strcmp(sub, "/registration") == 0)
        handle_registration(q, r);
    else if (post && strcmp(sub, "/introspect") == 0)
        handle_introspect(q, r);
    else if ((get || post) && strcmp(sub, "/logout") == 0)
        handle_logout(q, r);
    else if (get && strcmp(sub, "/.well-known/openid-configuration") == 0)
        handle_discovery(q, r);
    else if (get && strcmp(sub, "/jwk") == 0)
        resp_json(r, 200, json_pack("{s:[]}", "keys"));
    else
        resp_json(r, 404,
                  json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message",
                            "Route not found", "code", 0));
    pthread_mutex_unlock(&q->sim->lock);
}
