/* oauth_endpoint.c - the client of OpenEMR's OAuth2 token endpoint: the
 * form POST of each grant (refresh_token, password, client_credentials,
 * authorization_code), reading the answer into a token, the errors, and
 * the logout.  It keeps no state between calls; the fleet refresh
 * protocol (oauth.c) decides which grant runs when. */
#include "oauth_internal.h"
#include "scopes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "jwt.h"
#include "log.h"

#define FORM_MAX (64 * 1024) /* a form body: tokens and a client assertion */

void oa_secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void oa_token_clear(struct oa_token *t)
{
    oa_secret_free(t->access);
    oa_secret_free(t->refresh);
    memset(t, 0, sizeof(*t));
}

void oa_token_copy(struct oa_token *dst, const struct oa_token *src)
{
    oa_token_clear(dst);
    dst->access = src->access ? strdup(src->access) : NULL;
    dst->refresh = src->refresh ? strdup(src->refresh) : NULL;
    dst->expires_at = src->expires_at;
    dst->lifetime = src->lifetime;
    memcpy(dst->seed, src->seed, sizeof(dst->seed));
}

void oa_endpoint_init(struct oa_endpoint *e, const struct sw_config *cfg, struct http_client *http,
                      const struct sw_clock *clock)
{
    memset(e, 0, sizeof(*e));
    e->cfg = cfg;
    e->http = http;
    e->clock = clock;
    snprintf(e->url, sizeof(e->url), "%s/oauth2/%s/token", cfg->openemr_base_url,
             cfg->openemr_site);
    if (cfg->oauth_client_secret_file && cfg->oauth_client_secret_file[0])
        e->client_secret = sw_read_secret_file(cfg->oauth_client_secret_file);
}

void oa_endpoint_fini(struct oa_endpoint *e)
{
    oa_endpoint_permit_release(e);
    oa_secret_free(e->client_secret);
    oa_secret_free(e->password);
    e->client_secret = e->password = NULL;
}

sw_err oa_endpoint_permit(struct oa_endpoint *e)
{
    int64_t now = 0, waited = 0;
    if (!e->fleet || e->permit.id[0])
        return SW_OK;
    sw_err err = fleet_now_ms(e->fleet, &now);
    if (!err)
        err = fleet_limit_acquire(e->fleet, FLEET_PRIO_WRITE, now + e->cfg->openemr_timeout_ms,
                                  &e->permit, &waited);
    if (err) {
        snprintf(e->errstr, sizeof(e->errstr), "no limiter permit for the token endpoint: %s",
                 sw_err_str(err));
        return SW_ERR_UNAVAILABLE;
    }
    return SW_OK;
}

void oa_endpoint_permit_release(struct oa_endpoint *e)
{
    if (e->fleet)
        fleet_limit_release(e->fleet, &e->permit);
}

/* One request to OpenEMR's OAuth endpoints under a permit. */
static sw_err endpoint_perform(struct oa_endpoint *e, const struct http_request *req,
                               struct http_response *resp)
{
    sw_err err = oa_endpoint_permit(e);
    if (err)
        return err;
    err = http_perform(e->http, req, resp, e->errstr, sizeof(e->errstr));
    if (e->fleet && err == SW_ERR_TIMEOUT) /* it may still run at OpenEMR */
        fleet_limit_release_after(e->fleet, &e->permit, e->cfg->openemr_timeout_ms);
    oa_endpoint_permit_release(e);
    return err;
}

/* form is a NULL-terminated list of name, value pairs (a NULL name ends it
 * early: an optional last pair); the body is wiped by the caller. */
static bool form_body(const char *const *form, struct buf *body)
{
    for (size_t i = 0; form[i]; i += 2) {
        char *v = http_escape(form[i + 1] ? form[i + 1] : "");
        if (!v)
            return false;
        buf_printf(body, "%s%s=%s", body->len ? "&" : "", form[i], v);
        oa_secret_free(v);
    }
    return !body->failed;
}

static void body_free(struct buf *body)
{
    if (body->data)
        explicit_bzero(body->data, body->len);
    buf_free(body);
}

/* as_client: the form goes on with client_id (and client_secret for a
 * confidential client), as every grant but client_credentials does. */
static sw_err token_post(struct oa_endpoint *e, const char *const *form, bool as_client,
                         struct oa_token *out)
{
    struct buf body;
    json_t *j = NULL;
    struct http_response resp = {0};
    sw_err err = SW_ERR_NOMEM;
    buf_init(&body, FORM_MAX);
    const char *client[] = {"client_id", e->cfg->oauth_client_id,
                            e->client_secret ? "client_secret" : NULL, e->client_secret, NULL};
    if (!form_body(form, &body) || (as_client && !form_body(client, &body)))
        goto cleanup;
    struct http_request req = {.method = "POST",
                               .url = e->url,
                               .content_type = "application/x-www-form-urlencoded",
                               .body = buf_str(&body),
                               .body_len = body.len};
    err = endpoint_perform(e, &req, &resp);
    e->permanent = resp.tls_refused;
    if (err != SW_OK)
        goto cleanup;
    j = json_loadb(resp.body, resp.len, 0, NULL);
    if (resp.status != 200) {
        const char *why = json_string_value(json_object_get(j, "error"));
        snprintf(e->errstr, sizeof(e->errstr), "token endpoint answered %ld%s%s", resp.status,
                 why ? ": " : "", why ? why : "");
        err = resp.status >= 500 ? SW_ERR_SERVER : SW_ERR_TOKEN;
        goto cleanup;
    }
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *r = json_string_value(json_object_get(j, "refresh_token"));
    json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
    if (!a || !a[0]) {
        snprintf(e->errstr, sizeof(e->errstr), "token answer without access_token");
        err = SW_ERR_BAD_ANSWER;
        goto cleanup;
    }
    if (exp <= 0)
        exp = 3600;
    sw_log_add_rotating_secret(a);
    if (r)
        sw_log_add_rotating_secret(r);
    out->access = strdup(a);
    out->refresh = r ? strdup(r) : NULL;
    out->expires_at = clock_now_s(e->clock) + exp;
    out->lifetime = exp;
    err = out->access ? SW_OK : SW_ERR_NOMEM;

cleanup:
    json_decref(j);
    if (resp.body)
        explicit_bzero(resp.body, resp.len);
    http_response_free(&resp);
    body_free(&body);
    return err;
}

sw_err oa_grant_refresh(struct oa_endpoint *e, const char *refresh, struct oa_token *out)
{
    const char *form[] = {"grant_type", "refresh_token", "refresh_token", refresh, NULL};
    return token_post(e, form, true, out);
}

sw_err oa_grant_password(struct oa_endpoint *e, struct oa_token *out)
{
    if (!e->password || !e->cfg->oauth_username || !e->cfg->oauth_username[0]) {
        snprintf(e->errstr, sizeof(e->errstr),
                 "password grant needs oauth.username and "
                 "oauth.password_file");
        return SW_ERR_CONFIG;
    }
    const char *form[] = {"grant_type", "password",
                          "user_role",  "users",
                          "username",   e->cfg->oauth_username,
                          "password",   e->password,
                          "scope",      sw_scope_user(e->cfg),
                          NULL};
    return token_post(e, form, true, out);
}

sw_err oa_grant_client_credentials(struct oa_endpoint *e, struct oa_token *out)
{
    char *jwt = NULL;
    sw_err err = jwt_client_assertion(e->cfg->oauth_private_key_file, e->cfg->oauth_key_id,
                                      e->cfg->oauth_client_id, e->url, clock_now_s(e->clock), &jwt,
                                      e->errstr, sizeof(e->errstr));
    if (err != SW_OK)
        return err;
    const char *form[] = {"grant_type",
                          "client_credentials",
                          "client_assertion_type",
                          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                          "client_assertion",
                          jwt,
                          "scope",
                          sw_scope_system(e->cfg),
                          NULL};
    err = token_post(e, form, false, out);
    free(jwt);
    return err;
}

sw_err oa_grant_code(struct oa_endpoint *e, const char *code, const char *verifier,
                     struct oa_token *out)
{
    const char *form[] = {"grant_type",
                          "authorization_code",
                          "code",
                          code,
                          "redirect_uri",
                          e->cfg->oauth_redirect_uri,
                          "code_verifier",
                          verifier,
                          NULL};
    return token_post(e, form, true, out);
}

sw_err oa_logout(struct oa_endpoint *e, const char *token)
{
    char url[600];
    struct http_response resp = {0};
    struct buf body;
    sw_err err = SW_ERR_NOMEM;
    buf_init(&body, FORM_MAX);
    /* OpenEMR's logout ends the whole session (access and refresh tokens)
     * named by the hint */
    const char *form[] = {"id_token_hint", token, "client_id",
                          e->cfg->oauth_client_id ? e->cfg->oauth_client_id : "", NULL};
    if (form_body(form, &body)) {
        snprintf(url, sizeof(url), "%s/oauth2/%s/logout", e->cfg->openemr_base_url,
                 e->cfg->openemr_site);
        struct http_request req = {.method = "POST",
                                   .url = url,
                                   .content_type = "application/x-www-form-urlencoded",
                                   .body = buf_str(&body),
                                   .body_len = body.len,
                                   .basic_user = e->client_secret ? e->cfg->oauth_client_id : NULL,
                                   .basic_pass = e->client_secret};
        err = endpoint_perform(e, &req, &resp);
        if (err == SW_OK && resp.status != 200) {
            snprintf(e->errstr, sizeof(e->errstr), "logout answered %ld", resp.status);
            err = http_status_err(resp.status);
        }
    }
    body_free(&body);
    http_response_free(&resp);
    return err;
}
