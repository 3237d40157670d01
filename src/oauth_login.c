/* oauth_login.c - the one-time commands: `auth login` (authorization code
 * + PKCE S256 with the redirect received on a loopback port, RFC 8252
 * section 7.3, and the code's exchange) and `auth register` (dynamic
 * client registration). */
#include "oauth.h"
#include "oauth_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_server.h"
#include "jwt.h"
#include "scopes.h"

/* Before a registration or a login: every scope asked must be one the
 * server offers (oauth.check_scopes). */
static sw_err check_scopes(const struct sw_config *cfg, struct http_client *http, const char *scope,
                           char *errstr, size_t errlen)
{
    bool checked = false;
    if (!cfg->oauth_check_scopes)
        return SW_OK;
    return scopes_verify(cfg, http, scope, &checked, errstr, errlen);
}

struct prompt {
    FILE *out;
    const char *url;
    int timeout_s;
    const char *redirect_uri;
};

static void show_url(void *arg)
{
    const struct prompt *p = arg;
    fprintf(p->out,
            "Open this URL in a browser and sign in to OpenEMR:\n\n  %s\n\n"
            "Waiting up to %d s for the redirect to %s ...\n",
            p->url, p->timeout_s, p->redirect_uri);
    fflush(p->out);
}

sw_err oauth_login_loopback(const struct sw_config *cfg, struct http_client *http, int timeout_s,
                            FILE *out, char **refresh_token, char *errstr, size_t errlen)
{
    char verifier[64], challenge[64], state[48];
    char *url = NULL, *code = NULL, *got_state = NULL;
    sw_err err;
    *refresh_token = NULL;
    if ((err = check_scopes(cfg, http, sw_scope_user(cfg), errstr, errlen)) ||
        (err = oauth_pkce_new(verifier, sizeof(verifier), challenge, sizeof(challenge))) ||
        (err = jwt_random_b64(24, state, sizeof(state))) ||
        (err = oauth_authorize_url(cfg, state, challenge, &url)))
        goto cleanup;
    struct prompt pr = {out, url, timeout_s, cfg->oauth_redirect_uri};
    err = http_await_redirect(cfg->oauth_redirect_uri, timeout_s, show_url, &pr, &code, &got_state,
                              errstr, errlen);
    if (err != SW_OK)
        goto cleanup;
    if (!got_state || strcmp(got_state, state) != 0) {
        snprintf(errstr, errlen, "the redirect does not carry our state; not using its code");
        err = SW_ERR_TOKEN;
        goto cleanup;
    }
    err = oauth_exchange_code(cfg, http, code, verifier, refresh_token, errstr, errlen);
cleanup:
    if (code)
        explicit_bzero(code, strlen(code));
    explicit_bzero(verifier, sizeof(verifier));
    free(code);
    free(got_state);
    free(url);
    return err;
}

sw_err oauth_pkce_new(char *verifier, size_t vlen, char *challenge, size_t clen)
{
    sw_err err = jwt_random_b64(32, verifier, vlen);
    if (err != SW_OK)
        return err;
    return jwt_sha256_b64(verifier, challenge, clen);
}

sw_err oauth_authorize_url(const struct sw_config *cfg, const char *state, const char *challenge,
                           char **url)
{
    char *cid = http_escape(cfg->oauth_client_id ? cfg->oauth_client_id : "");
    char *redir = http_escape(cfg->oauth_redirect_uri);
    char *scope = http_escape(sw_scope_user(cfg));
    char aud_raw[512];
    snprintf(aud_raw, sizeof(aud_raw), "%s/apis/%s/fhir", cfg->openemr_base_url, cfg->openemr_site);
    char *aud = http_escape(aud_raw);
    sw_err err = SW_ERR_NOMEM;
    *url = NULL;
    if (cid && redir && scope && aud) {
        size_t n = strlen(cfg->openemr_base_url) + strlen(cid) + strlen(redir) + strlen(scope) +
                   strlen(aud) + strlen(state) + strlen(challenge) + 256;
        *url = malloc(n);
        if (*url) {
            snprintf(*url, n,
                     "%s/oauth2/%s/authorize?response_type=code&client_id=%s&redirect_uri=%s"
                     "&scope=%s&state=%s&code_challenge=%s&code_challenge_method=S256&aud=%s",
                     cfg->openemr_base_url, cfg->openemr_site, cid, redir, scope, state, challenge,
                     aud);
            err = SW_OK;
        }
    }
    free(cid);
    free(redir);
    free(scope);
    free(aud);
    return err;
}

sw_err oauth_register(const struct sw_config *cfg, struct http_client *http,
                      const char *client_name, char **answer, char *errstr, size_t errlen)
{
    sw_err err = SW_ERR_NOMEM;
    char *jwks = NULL, *body = NULL;
    json_t *req = NULL, *jk = NULL;
    struct http_response resp = {0};
    char url[600];
    *answer = NULL;
    bool with_key = cfg->oauth_private_key_file && cfg->oauth_private_key_file[0];
    if (with_key) {
        err = jwt_jwks_from_key(cfg->oauth_private_key_file, cfg->oauth_key_id, &jwks, errstr,
                                errlen);
        if (err != SW_OK)
            goto cleanup;
        jk = json_loads(jwks, 0, NULL);
    }
    char scope[1024];
    snprintf(scope, sizeof(scope), "%s%s%s", sw_scope_user(cfg), with_key ? " " : "",
             with_key ? sw_scope_system(cfg) : "");
    err = check_scopes(cfg, http, scope, errstr, errlen);
    if (err != SW_OK)
        goto cleanup;
    req = json_pack("{s:s, s:[s], s:s, s:s, s:s}", "application_type", "private", "redirect_uris",
                    cfg->oauth_redirect_uri, "client_name", client_name,
                    "token_endpoint_auth_method", "client_secret_post", "scope", scope);
    if (!req)
        goto cleanup;
    if (jk)
        json_object_set(req, "jwks", jk);
    body = json_dumps(req, JSON_COMPACT);
    if (!body)
        goto cleanup;
    snprintf(url, sizeof(url), "%s/oauth2/%s/registration", cfg->openemr_base_url,
             cfg->openemr_site);
    struct http_request hr = {.method = "POST",
                              .url = url,
                              .content_type = "application/json",
                              .body = body,
                              .body_len = strlen(body)};
    err = http_perform(http, &hr, &resp, errstr, errlen);
    if (err != SW_OK)
        goto cleanup;
    if (resp.status != 200 && resp.status != 201) {
        snprintf(errstr, errlen, "registration answered %ld", resp.status);
        err = http_status_err(resp.status);
        goto cleanup;
    }
    *answer = resp.body;
    resp.body = NULL;
    err = SW_OK;
cleanup:
    free(jwks);
    free(body);
    json_decref(req);
    json_decref(jk);
    http_response_free(&resp);
    return err;
}

sw_err oauth_exchange_code(const struct sw_config *cfg, struct http_client *http, const char *code,
                           const char *verifier, char **refresh_token, char *errstr, size_t errlen)
{
    struct oa_endpoint e;
    struct oa_token t = {0};
    *refresh_token = NULL;
    oa_endpoint_init(&e, cfg, http, NULL);
    sw_err err = oa_grant_code(&e, code, verifier, &t);
    if (err == SW_OK && !t.refresh) {
        snprintf(e.errstr, sizeof(e.errstr), "no refresh token issued (scope offline_access?)");
        err = SW_ERR_TOKEN;
    }
    if (err == SW_OK) {
        *refresh_token = t.refresh;
        t.refresh = NULL;
    }
    snprintf(errstr, errlen, "%s", e.errstr);
    oa_token_clear(&t);
    oa_endpoint_fini(&e);
    return err;
}
