/* oauth.c - the fleet's shared OpenEMR token (see oauth.h).
 *
 * Refresh protocol.  The record in Redis (sealed with tokencrypt) holds
 * the access token, the refresh token, the expiry, the lifetime and a
 * fingerprint of the seed refresh token file it came from.  A replica
 * refreshes when less than min(oauth.refresh_margin_s, lifetime / 4)
 * remains, or when OpenEMR answered 401 to the current token:
 *   1. it takes the fleet token lock (fleet_token_lock, ttl > one request);
 *   2. re-reads the record: if another replica refreshed meanwhile, uses it;
 *   3. before presenting a refresh token R it writes a "spend" marker
 *      (fingerprint of R) to the fleet cache;
 *   4. runs the grant, then writes the new record (new access token, NEW
 *      refresh token, expiry) with fleet_token_put, which also releases the
 *      lock; then clears the marker.
 * Replicas that find the lock held keep using the old token while it is
 * still valid, or poll the record (every 100 ms, up to ~2 s) for the new one.
 *
 * Guarantees when a replica dies mid-refresh:
 *  - before OpenEMR rotated: the record's refresh token is still good; the
 *    lock expires and the next replica refreshes normally.
 *  - after OpenEMR rotated but before the put: the record's refresh token
 *    is spent and the new one is lost.  The spend marker says so, so the next
 *    replica does not present the spent token again; it falls back to the
 *    configured grant (password: a new password grant; client_credentials:
 *    a new assertion) or to oauth.refresh_token_file if it holds a token the
 *    fleet has not seeded from yet.  Only with grant = refresh_token and no
 *    new seed file is the possibly spent token presented once more (it may
 *    not have reached OpenEMR); if OpenEMR refuses it, oauth_token() returns
 *    SW_ERR_TOKEN and an operator must run `schedworker auth login`.
 *  - the access token in the record stays usable until its expiry in every
 *    case, so requests keep working while any of this happens.
 * Not guaranteed: if Redis loses the record (flush, failover without
 * persistence) with grant = refresh_token, the fleet re-seeds from the file,
 * which works only if that token was never used.
 *
 * Token requests do not go through the fleet limiter (about one per
 * access-token lifetime for the fleet). */
#include "oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jwt.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "tokencrypt.h"

#define MOD            "oauth"
#define WAIT_OTHERS_MS 2000
#define POLL_MS        100
#define SPEND_TTL_S    (90 * 86400)

struct tok {
    char *access;
    char *refresh;
    int64_t expires_at; /* epoch seconds */
    int64_t lifetime;   /* seconds, as issued */
    char seed[48];      /* fingerprint of the seed file token used, if any */
};

struct oauth {
    const struct sw_config *cfg;
    struct fleet *fleet;
    struct http_client *http;
    struct tokencrypt *tc;
    char name[48];
    char owner[96];
    char token_url[512];
    char *client_secret;
    char *password;
    struct tok cur;
    bool rejected;        /* cur.access got a 401 */
    bool permanent;       /* the last token request failed TLS verification */
    char after_401[48];   /* fingerprint of the token taken after a 401 */
    int64_t after_401_at; /* when */
    char errstr[256];
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void tok_clear(struct tok *t)
{
    secret_free(t->access);
    secret_free(t->refresh);
    memset(t, 0, sizeof(*t));
}

static bool tok_valid(const struct tok *t, int64_t now)
{
    return t->access && now < t->expires_at - 5;
}

static bool tok_fresh(const struct oauth *o, const struct tok *t, int64_t now)
{
    int64_t margin = o->cfg->oauth_refresh_margin_s;
    if (t->lifetime > 0 && margin > t->lifetime / 4)
        margin = t->lifetime / 4;
    return t->access && now < t->expires_at - margin;
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static void tok_copy(struct tok *dst, const struct tok *src)
{
    tok_clear(dst);
    dst->access = src->access ? strdup(src->access) : NULL;
    dst->refresh = src->refresh ? strdup(src->refresh) : NULL;
    dst->expires_at = src->expires_at;
    dst->lifetime = src->lifetime;
    memcpy(dst->seed, src->seed, sizeof(dst->seed));
}

static const char *grant_name(enum sw_grant g)
{
    switch (g) {
    case SW_GRANT_PASSWORD:
        return "password";
    case SW_GRANT_CLIENT_CREDENTIALS:
        return "client_credentials";
    default:
        return "refresh_token";
    }
}

/* ---- the record in Redis ------------------------------------------------ */

static sw_err record_read(struct oauth *o, struct tok *t)
{
    char *blob = NULL, *plain = NULL;
    size_t len = 0, plen = 0;
    json_t *j = NULL;
    memset(t, 0, sizeof(*t));
    if (!o->fleet)
        return SW_ERR_NOT_FOUND;
    sw_err err = fleet_token_get(o->fleet, o->name, &blob, &len);
    if (err != SW_OK)
        return err;
    err = tokencrypt_open(o->tc, blob, len, &plain, &plen);
    free(blob);
    if (err != SW_OK) {
        log_error(MOD, "token record in Redis cannot be opened (wrong key or damaged)");
        return SW_ERR_NOT_FOUND;
    }
    j = json_loadb(plain, plen, 0, NULL);
    secret_free(plain);
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *r = json_string_value(json_object_get(j, "refresh_token"));
    const char *seed = json_string_value(json_object_get(j, "seed"));
    t->access = a ? strdup(a) : NULL;
    t->refresh = r ? strdup(r) : NULL;
    t->expires_at = json_integer_value(json_object_get(j, "expires_at"));
    t->lifetime = json_integer_value(json_object_get(j, "lifetime"));
    if (seed)
        snprintf(t->seed, sizeof(t->seed), "%s", seed);
    json_decref(j);
    if (t->access)
        sw_log_add_secret(t->access);
    if (t->refresh)
        sw_log_add_secret(t->refresh);
    return t->access || t->refresh ? SW_OK : SW_ERR_NOT_FOUND;
}

/* Writes the record and releases the lock. */
static sw_err record_put(struct oauth *o, const struct tok *t)
{
    json_t *j =
        json_pack("{s:s?, s:s?, s:I, s:I, s:s, s:s}", "access_token", t->access, "refresh_token",
                  t->refresh, "expires_at", (json_int_t)t->expires_at, "lifetime",
                  (json_int_t)t->lifetime, "seed", t->seed, "grant", grant_name(o->cfg->grant));
    if (!j)
        return SW_ERR_NOMEM;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return SW_ERR_NOMEM;
    char *blob = NULL;
    sw_err err = tokencrypt_seal(o->tc, text, strlen(text), &blob);
    secret_free(text);
    if (err == SW_OK)
        err = fleet_token_put(o->fleet, o->name, o->owner, blob, strlen(blob));
    free(blob);
    return err;
}

static void spend_key(const struct oauth *o, char *buf, size_t len)
{
    key_oauth_spend(buf, len, o->name);
}

/* A refresh token whose spend marker is set may already be spent. */
static bool maybe_spent(struct oauth *o, const char *refresh)
{
    char key[96], fp[48], *val = NULL;
    if (!o->fleet || !refresh || jwt_sha256_b64(refresh, fp, sizeof(fp)) != SW_OK)
        return false;
    spend_key(o, key, sizeof(key));
    if (fleet_cache_get(o->fleet, key, &val) != SW_OK)
        return false;
    bool spent = val && !strcmp(val, fp);
    free(val);
    return spent;
}

static void mark_spending(struct oauth *o, const char *refresh)
{
    char key[96], fp[48];
    if (!o->fleet || jwt_sha256_b64(refresh, fp, sizeof(fp)) != SW_OK)
        return;
    spend_key(o, key, sizeof(key));
    if (fleet_cache_put(o->fleet, key, fp, SPEND_TTL_S) != SW_OK)
        log_warn(MOD, "could not write the refresh spend marker: %s", fleet_errstr(o->fleet));
}

static void clear_spending(struct oauth *o)
{
    char key[96];
    if (!o->fleet)
        return;
    spend_key(o, key, sizeof(key));
    fleet_cache_del(o->fleet, key);
}

/* ---- token endpoint ------------------------------------------------------ */

/* form is a NULL-terminated list of name, value pairs. */
static sw_err token_post(struct oauth *o, const char *const *form, struct tok *out)
{
    char *body = NULL;
    size_t len = 0, cap = 0;
    json_t *j = NULL;
    struct http_response resp = {0};
    sw_err err = SW_ERR_NOMEM;
    for (size_t i = 0; form[i]; i += 2) {
        char *v = http_escape(form[i + 1] ? form[i + 1] : "");
        if (!v)
            goto cleanup;
        size_t need = len + strlen(form[i]) + strlen(v) + 3;
        if (need > cap) {
            cap = need * 2;
            char *nb = realloc(body, cap);
            if (!nb) {
                secret_free(v);
                goto cleanup;
            }
            body = nb;
        }
        len += (size_t)snprintf(body + len, cap - len, "%s%s=%s", len ? "&" : "", form[i], v);
        secret_free(v);
    }
    struct http_request req = {.method = "POST",
                               .url = o->token_url,
                               .content_type = "application/x-www-form-urlencoded",
                               .body = body,
                               .body_len = len};
    err = http_perform(o->http, &req, &resp, o->errstr, sizeof(o->errstr));
    o->permanent = resp.tls_refused;
    if (err != SW_OK)
        goto cleanup;
    j = json_loadb(resp.body, resp.len, 0, NULL);
    if (resp.status != 200) {
        const char *e = json_string_value(json_object_get(j, "error"));
        snprintf(o->errstr, sizeof(o->errstr), "token endpoint answered %ld%s%s", resp.status,
                 e ? ": " : "", e ? e : "");
        err = resp.status >= 500 ? SW_ERR_SERVER : SW_ERR_TOKEN;
        goto cleanup;
    }
    const char *a = json_string_value(json_object_get(j, "access_token"));
    const char *r = json_string_value(json_object_get(j, "refresh_token"));
    json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
    if (!a || !a[0]) {
        snprintf(o->errstr, sizeof(o->errstr), "token answer without access_token");
        err = SW_ERR_BAD_ANSWER;
        goto cleanup;
    }
    if (exp <= 0)
        exp = 3600;
    sw_log_add_secret(a);
    if (r)
        sw_log_add_secret(r);
    out->access = strdup(a);
    out->refresh = r ? strdup(r) : NULL;
    out->expires_at = now_s() + exp;
    out->lifetime = exp;
    err = out->access ? SW_OK : SW_ERR_NOMEM;

cleanup:
    json_decref(j);
    if (resp.body)
        explicit_bzero(resp.body, resp.len);
    http_response_free(&resp);
    secret_free(body);
    return err;
}

static sw_err grant_refresh(struct oauth *o, const char *refresh, struct tok *out)
{
    const char *form[] = {"grant_type",
                          "refresh_token",
                          "refresh_token",
                          refresh,
                          "client_id",
                          o->cfg->oauth_client_id,
                          o->client_secret ? "client_secret" : NULL,
                          o->client_secret,
                          NULL};
    mark_spending(o, refresh);
    return token_post(o, form, out);
}

static sw_err grant_password(struct oauth *o, struct tok *out)
{
    if (!o->password || !o->cfg->oauth_username || !o->cfg->oauth_username[0]) {
        snprintf(o->errstr, sizeof(o->errstr),
                 "password grant needs oauth.username and "
                 "oauth.password_file");
        return SW_ERR_CONFIG;
    }
    const char *form[] = {"grant_type",
                          "password",
                          "user_role",
                          "users",
                          "username",
                          o->cfg->oauth_username,
                          "password",
                          o->password,
                          "scope",
                          o->cfg->oauth_scope,
                          "client_id",
                          o->cfg->oauth_client_id,
                          o->client_secret ? "client_secret" : NULL,
                          o->client_secret,
                          NULL};
    return token_post(o, form, out);
}

static sw_err grant_client_credentials(struct oauth *o, struct tok *out)
{
    char *jwt = NULL;
    sw_err err = jwt_client_assertion(o->cfg->oauth_private_key_file, o->cfg->oauth_key_id,
                                      o->cfg->oauth_client_id, o->token_url, now_s(), &jwt,
                                      o->errstr, sizeof(o->errstr));
    if (err != SW_OK)
        return err;
    const char *form[] = {"grant_type",
                          "client_credentials",
                          "client_assertion_type",
                          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                          "client_assertion",
                          jwt,
                          "scope",
                          o->cfg->oauth_system_scope,
                          NULL};
    err = token_post(o, form, out);
    free(jwt);
    return err;
}

/* The refresh token file's token, if it is one the fleet has not used. */
static char *unused_seed(struct oauth *o, const struct tok *rec, char *fp, size_t fplen)
{
    const char *path = o->cfg->oauth_refresh_token_file;
    fp[0] = '\0';
    if (!path || !path[0])
        return NULL;
    char *seed = sw_read_secret_file(path);
    if (!seed || !seed[0] || jwt_sha256_b64(seed, fp, fplen) != SW_OK || !strcmp(fp, rec->seed) ||
        maybe_spent(o, seed)) {
        secret_free(seed);
        return NULL;
    }
    sw_log_add_secret(seed);
    return seed;
}

/* Runs the configured grant given the fleet's record; out gets the new token. */
static sw_err run_grant(struct oauth *o, const struct tok *rec, struct tok *out)
{
    sw_err err = SW_ERR_TOKEN;
    char fp[48] = "";
    if (o->cfg->grant == SW_GRANT_CLIENT_CREDENTIALS)
        return grant_client_credentials(o, out);

    bool spent = rec->refresh && maybe_spent(o, rec->refresh);
    if (rec->refresh && !spent) {
        err = grant_refresh(o, rec->refresh, out);
        if (err == SW_OK) {
            memcpy(out->seed, rec->seed, sizeof(out->seed));
            return SW_OK;
        }
        if (err != SW_ERR_TOKEN)
            return err; /* transport trouble: the token may be fine */
        log_warn(MOD, "refresh token refused (%s); trying the next grant", o->errstr);
    } else if (spent) {
        log_warn(MOD, "the fleet's refresh token may have been spent by a replica that died "
                      "mid-refresh; not presenting it again");
    }
    char *seed = unused_seed(o, rec, fp, sizeof(fp));
    if (seed) {
        log_info(MOD, "seeding the fleet token from oauth.refresh_token_file");
        err = grant_refresh(o, seed, out);
        secret_free(seed);
        if (err == SW_OK) {
            snprintf(out->seed, sizeof(out->seed), "%s", fp);
            return SW_OK;
        }
        if (err != SW_ERR_TOKEN)
            return err;
    }
    snprintf(out->seed, sizeof(out->seed), "%s", rec->seed);
    if (o->cfg->grant == SW_GRANT_PASSWORD)
        return grant_password(o, out);
    if (spent) { /* last resort: it may never have reached OpenEMR */
        err = grant_refresh(o, rec->refresh, out);
        if (err == SW_OK)
            return SW_OK;
    }
    log_error(MOD, "no usable refresh token for the fleet: run `schedworker auth login` (%s)",
              o->errstr);
    return SW_ERR_TOKEN;
}

/* ---- refresh for the fleet --------------------------------------------- */

static void adopt(struct oauth *o, const struct tok *t)
{
    tok_copy(&o->cur, t);
    o->rejected = false;
}

/* bad: the access token OpenEMR refused (NULL for a timed refresh). */
static sw_err refresh_fleet(struct oauth *o, const char *bad, int64_t deadline_ms)
{
    struct tok rec = {0}, fresh = {0};
    sw_err err;
    int64_t give_up = now_ms() + WAIT_OTHERS_MS;
    if (deadline_ms > 0 && deadline_ms < give_up)
        give_up = deadline_ms;
    int lock_ttl = o->cfg->openemr_timeout_ms * 3 + 5000;

    if (!o->fleet) {
        tok_copy(&rec, &o->cur);
        err = run_grant(o, &rec, &fresh);
        if (err == SW_OK)
            adopt(o, &fresh);
        goto cleanup;
    }
    for (;;) {
        err = fleet_token_lock(o->fleet, o->name, o->owner, lock_ttl);
        if (err == SW_OK) {
            tok_clear(&rec);
            sw_err rerr = record_read(o, &rec);
            if (rerr != SW_OK && rerr != SW_ERR_NOT_FOUND) {
                fleet_token_unlock(o->fleet, o->name, o->owner);
                err = rerr;
                goto cleanup;
            }
            if (tok_fresh(o, &rec, now_s()) && !same(rec.access, bad)) {
                adopt(o, &rec); /* someone else refreshed meanwhile */
                fleet_token_unlock(o->fleet, o->name, o->owner);
                goto cleanup;
            }
            err = run_grant(o, &rec, &fresh);
            metrics_token_refresh(err == SW_OK);
            if (err != SW_OK) {
                fleet_token_unlock(o->fleet, o->name, o->owner);
                goto cleanup;
            }
            adopt(o, &fresh);
            sw_err perr = record_put(o, &fresh);
            if (perr != SW_OK) {
                /* the new refresh token lives only here now; the spend marker
                 * stays, so the next refresher falls back (see above) */
                log_error(MOD, "could not store the refreshed token for the fleet: %s",
                          fleet_errstr(o->fleet));
                fleet_token_unlock(o->fleet, o->name, o->owner);
            } else {
                clear_spending(o);
                log_info(MOD, "refreshed the fleet token (%s), valid %llds",
                         grant_name(o->cfg->grant), (long long)fresh.lifetime);
            }
            goto cleanup;
        }
        if (err != SW_ERR_BUSY)
            goto cleanup;
        /* another replica is refreshing */
        tok_clear(&rec);
        if (record_read(o, &rec) == SW_OK && !same(rec.access, bad) &&
            (tok_fresh(o, &rec, now_s()) || (bad == NULL && tok_valid(&rec, now_s())))) {
            adopt(o, &rec);
            err = SW_OK;
            goto cleanup;
        }
        if (now_ms() + POLL_MS > give_up) {
            snprintf(o->errstr, sizeof(o->errstr), "token refresh by another replica not done");
            err = SW_ERR_UNAVAILABLE;
            goto cleanup;
        }
        sleep_ms(POLL_MS);
    }
cleanup:
    tok_clear(&rec);
    tok_clear(&fresh);
    return err;
}

sw_err oauth_token(struct oauth *o, int64_t deadline_ms, char *buf, size_t buflen)
{
    int64_t now = now_s();
    sw_err err = SW_OK;
    if (!(o->rejected || !tok_fresh(o, &o->cur, now))) {
        goto copy;
    }
    char *bad = o->rejected && o->cur.access ? strdup(o->cur.access) : NULL;
    struct tok rec = {0};
    if (record_read(o, &rec) == SW_OK && tok_fresh(o, &rec, now) && !same(rec.access, bad)) {
        adopt(o, &rec);
    } else {
        err = refresh_fleet(o, bad, deadline_ms);
        if (err == SW_OK && bad && o->cur.access &&
            jwt_sha256_b64(o->cur.access, o->after_401, sizeof(o->after_401)) == SW_OK)
            o->after_401_at = now_s();
        if (err != SW_OK && !bad && tok_valid(&rec, now)) {
            log_warn(MOD, "token refresh failed (%s); the current token is still valid",
                     sw_err_str(err));
            adopt(o, &rec);
            err = SW_OK;
        } else if (err != SW_OK && !bad && tok_valid(&o->cur, now)) {
            err = SW_OK;
        }
    }
    tok_clear(&rec);
    secret_free(bad);
    if (err != SW_OK)
        return err;
copy:
    if (!o->cur.access || strlen(o->cur.access) >= buflen)
        return SW_ERR_INTERNAL;
    snprintf(buf, buflen, "%s", o->cur.access);
    return SW_OK;
}

bool oauth_token_rejected(struct oauth *o, const char *token)
{
    char fp[48];
    if (!same(o->cur.access, token))
        return true; /* already replaced */
    if (o->after_401_at && now_s() - o->after_401_at < 10 &&
        jwt_sha256_b64(token, fp, sizeof(fp)) == SW_OK && !strcmp(fp, o->after_401)) {
        log_warn(MOD, "OpenEMR refused a token obtained after a 401 moments ago: a scope or "
                      "permission problem, not refreshing again");
        return false;
    }
    o->rejected = true;
    return true;
}

bool oauth_has_valid_token(struct oauth *o)
{
    int64_t now = now_s();
    if (tok_valid(&o->cur, now) && !o->rejected)
        return true;
    struct tok rec = {0};
    bool ok = record_read(o, &rec) == SW_OK && tok_valid(&rec, now);
    tok_clear(&rec);
    return ok;
}

bool oauth_failure_permanent(const struct oauth *o)
{
    return o->permanent;
}

const char *oauth_errstr(const struct oauth *o)
{
    return o->errstr;
}

sw_err oauth_logout(struct oauth *o)
{
    struct tok rec = {0};
    char url[600];
    struct http_response resp = {0};
    sw_err err = SW_OK;
    if (record_read(o, &rec) != SW_OK)
        tok_copy(&rec, &o->cur);
    const char *what = rec.access ? rec.access : rec.refresh;
    if (!what)
        goto cleanup;
    char *v = http_escape(what);
    char *cid = http_escape(o->cfg->oauth_client_id ? o->cfg->oauth_client_id : "");
    size_t blen = (v ? strlen(v) : 0) + (cid ? strlen(cid) : 0) + 128;
    char *body = malloc(blen);
    if (!v || !cid || !body) {
        err = SW_ERR_NOMEM;
    } else {
        /* OpenEMR's logout ends the whole session (access and refresh
         * tokens) named by the hint */
        snprintf(body, blen, "id_token_hint=%s&client_id=%s", v, cid);
        snprintf(url, sizeof(url), "%s/oauth2/%s/logout", o->cfg->openemr_base_url,
                 o->cfg->openemr_site);
        struct http_request req = {.method = "POST",
                                   .url = url,
                                   .content_type = "application/x-www-form-urlencoded",
                                   .body = body,
                                   .body_len = strlen(body),
                                   .basic_user = o->client_secret ? o->cfg->oauth_client_id : NULL,
                                   .basic_pass = o->client_secret};
        err = http_perform(o->http, &req, &resp, o->errstr, sizeof(o->errstr));
        if (err == SW_OK && resp.status != 200) {
            snprintf(o->errstr, sizeof(o->errstr), "logout answered %ld", resp.status);
            err = http_status_err(resp.status);
        }
    }
    secret_free(v);
    free(cid);
    secret_free(body);
    if (o->fleet && fleet_token_lock(o->fleet, o->name, o->owner, 5000) == SW_OK) {
        struct tok empty = {0};
        if (record_put(o, &empty) != SW_OK)
            fleet_token_unlock(o->fleet, o->name, o->owner);
    }
    tok_clear(&o->cur);
cleanup:
    http_response_free(&resp);
    tok_clear(&rec);
    return err;
}

sw_err oauth_new(const struct sw_config *cfg, struct fleet *fleet, struct http_client *http,
                 struct oauth **out, char *errstr, size_t errlen)
{
    sw_err err = SW_ERR_NOMEM;
    struct oauth *o = calloc(1, sizeof(*o));
    *out = NULL;
    if (!o)
        return SW_ERR_NOMEM;
    o->cfg = cfg;
    o->fleet = fleet;
    o->http = http;
    err = tokencrypt_new(cfg, &o->tc, errstr, errlen);
    if (err != SW_OK)
        goto fail;
    if (!cfg->oauth_client_id || !cfg->oauth_client_id[0]) {
        snprintf(errstr, errlen, "oauth.client_id is not set");
        err = SW_ERR_CONFIG;
        goto fail;
    }
    snprintf(o->name, sizeof(o->name), "%s", grant_name(cfg->grant));
    snprintf(o->owner, sizeof(o->owner), "%s:%d:%p", cfg->worker_id ? cfg->worker_id : "w",
             (int)getpid(), (void *)o);
    snprintf(o->token_url, sizeof(o->token_url), "%s/oauth2/%s/token", cfg->openemr_base_url,
             cfg->openemr_site);
    if (cfg->oauth_client_secret_file && cfg->oauth_client_secret_file[0]) {
        o->client_secret = sw_read_secret_file(cfg->oauth_client_secret_file);
        if (!o->client_secret) {
            snprintf(errstr, errlen, "cannot read oauth.client_secret_file");
            err = SW_ERR_CONFIG;
            goto fail;
        }
        sw_log_add_secret(o->client_secret);
    }
    if (cfg->grant == SW_GRANT_PASSWORD) {
        o->password = cfg->oauth_password_file && cfg->oauth_password_file[0]
                          ? sw_read_secret_file(cfg->oauth_password_file)
                          : NULL;
        if (!o->password) {
            snprintf(errstr, errlen, "password grant: cannot read oauth.password_file");
            err = SW_ERR_CONFIG;
            goto fail;
        }
        sw_log_add_secret(o->password);
    }
    if (cfg->grant == SW_GRANT_CLIENT_CREDENTIALS &&
        (!cfg->oauth_private_key_file || !cfg->oauth_private_key_file[0])) {
        snprintf(errstr, errlen, "client_credentials needs oauth.private_key_file");
        err = SW_ERR_CONFIG;
        goto fail;
    }
    *out = o;
    return SW_OK;
fail:
    oauth_destroy(o);
    return err;
}

void oauth_destroy(struct oauth *o)
{
    if (!o)
        return;
    tok_clear(&o->cur);
    tokencrypt_destroy(o->tc);
    secret_free(o->client_secret);
    secret_free(o->password);
    free(o);
}

/* ---- one-time commands ------------------------------------------------ */

sw_err oauth_exchange_code(const struct sw_config *cfg, struct http_client *http, const char *code,
                           const char *verifier, char **refresh_token, char *errstr, size_t errlen)
{
    struct oauth o = {.cfg = cfg, .http = http};
    struct tok t = {0};
    *refresh_token = NULL;
    snprintf(o.token_url, sizeof(o.token_url), "%s/oauth2/%s/token", cfg->openemr_base_url,
             cfg->openemr_site);
    if (cfg->oauth_client_secret_file && cfg->oauth_client_secret_file[0])
        o.client_secret = sw_read_secret_file(cfg->oauth_client_secret_file);
    const char *form[] = {"grant_type",
                          "authorization_code",
                          "code",
                          code,
                          "redirect_uri",
                          cfg->oauth_redirect_uri,
                          "code_verifier",
                          verifier,
                          "client_id",
                          cfg->oauth_client_id,
                          o.client_secret ? "client_secret" : NULL,
                          o.client_secret,
                          NULL};
    sw_err err = token_post(&o, form, &t);
    if (err == SW_OK && !t.refresh) {
        snprintf(o.errstr, sizeof(o.errstr), "no refresh token issued (scope offline_access?)");
        err = SW_ERR_TOKEN;
    }
    if (err == SW_OK) {
        *refresh_token = t.refresh;
        t.refresh = NULL;
    }
    snprintf(errstr, errlen, "%s", o.errstr);
    tok_clear(&t);
    secret_free(o.client_secret);
    return err;
}
