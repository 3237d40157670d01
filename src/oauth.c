/* oauth.c - the fleet refresh protocol: one OpenEMR access token for the
 * whole fleet, refreshed by one replica at a time (see oauth.h).
 *
 * Refresh protocol.  The record in Redis (sealed with tokencrypt) holds
 * the access token, the refresh token, the expiry, the lifetime and a
 * fingerprint of the seed refresh token file it came from; beside it the
 * fleet keeps its version and the id of the key that sealed it.  A replica
 * refreshes when less than min(oauth.refresh_margin_s, lifetime / 4)
 * remains, or when OpenEMR answered 401 to the current token:
 *   1. it takes the fleet token lock (fleet_token_lock, ttl > one request);
 *   2. re-reads the record (and its version): if another replica refreshed
 *      meanwhile, uses it;
 *   3. before presenting a refresh token R it writes a "spend" marker
 *      (fingerprint of R) to the fleet cache, and presents nothing if that
 *      write fails;
 *   4. runs the grant, then stores the new record (new access token, NEW
 *      refresh token, expiry) with fleet_token_put: compare-and-set on the
 *      version it read, which also releases the lock; then clears the
 *      marker.  If OpenEMR gave no answer (timeout, no connection) the
 *      marker becomes "unanswered" instead.
 * Replicas that find the lock held keep using the old token while it is
 * still valid, or poll the record (every 100 ms, up to ~2 s) for the new one.
 *
 * When the store fails (Redis refused or lost the write), the rotated token
 * lives only in this process: it is used from memory, and the store is
 * retried (at most once a second, on the next token use) with the same
 * expected version, until it lands or another replica's newer record wins
 * (the version moved: that record is used, ours dropped).  Meanwhile the
 * marker still names R, so no replica presents R again.
 *
 * A record that does not open with our key (the fleet runs with another
 * oauth.token_key_file, or the record is damaged) is never overwritten:
 * this replica has no token, reports it (oauth_token_key_mismatch, so
 * /readyz says not ready) and logs both key ids.
 *
 * Guarantees when a replica dies mid-refresh:
 *  - before OpenEMR rotated: the record's refresh token is still good; the
 *    lock expires and the next replica refreshes normally (unless the
 *    marker was written: then as below).
 *  - after OpenEMR rotated but before the store: the record's refresh token
 *    is spent and the new one is lost.  The spend marker says so, so no
 *    replica presents the spent token again; the next one falls back to the
 *    configured grant (password: a new password grant; client_credentials:
 *    a new assertion) or to oauth.refresh_token_file if it holds a token
 *    the fleet has not seeded from yet.  With grant = refresh_token and no
 *    new seed file, oauth_token() returns SW_ERR_TOKEN and an operator must
 *    run `schedworker auth login`.  Only a token whose marker says
 *    "unanswered" (its grant got no answer at all) is presented once more,
 *    as a last resort.
 *  - the access token in the record stays usable until its expiry in every
 *    case, so requests keep working while any of this happens.
 * Not guaranteed: if Redis loses the record (flush, failover without
 * persistence) with grant = refresh_token, the fleet re-seeds from the file,
 * which works only if that token was never used.
 *
 * Token requests take a fleet limiter permit like every OpenEMR request
 * (oauth_endpoint.c): they count against OpenEMR's budget.  A refresh
 * takes it before writing the spend marker, so a token is never marked
 * presented and then left unsent for want of a permit. */
#include "oauth.h"
#include "oauth_internal.h"
#include "scopes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define RETRY_STORE_MS 1000
#define UNANSWERED     " unanswered"

struct oauth {
    const struct sw_config *cfg;
    struct fleet *fleet;
    const struct sw_clock *clock; /* NULL: system */
    struct oa_endpoint ep;        /* its errstr is ours: the last failure */
    struct tokencrypt *tc;
    char name[48];
    char owner[96];
    struct oa_token cur;
    bool rejected;                          /* cur.access got a 401 */
    char after_401[48];                     /* fingerprint of the token taken after a 401 */
    int64_t after_401_at;                   /* when */
    char key_id[TOKENCRYPT_KEY_ID_LEN + 1]; /* of our token key */
    long long version;                      /* of the record last read */
    bool mismatch;                          /* that record is not ours to open */
    struct oa_token unsaved;                /* rotated, not yet stored (Redis failed) */
    long long unsaved_base;                 /* the version it replaces */
    bool has_unsaved;
    int64_t unsaved_tried_ms;
    bool scopes_ok; /* the scopes were checked against the server's list */
};

/* ---- a record sealed with another key ------------------------------------ */

/* Process-wide: every thread's struct oauth reads the same record with the
 * same key, and the monitor reports it on /readyz. */
static pthread_mutex_t mismatch_mu = PTHREAD_MUTEX_INITIALIZER;
static bool mismatch_on;
static char mismatch_theirs[24], mismatch_ours[24];

static void note_mismatch(struct oauth *o, bool on, const char *theirs)
{
    o->mismatch = on;
    pthread_mutex_lock(&mismatch_mu);
    bool was = mismatch_on;
    mismatch_on = on;
    if (on) {
        snprintf(mismatch_theirs, sizeof(mismatch_theirs), "%s", theirs[0] ? theirs : "unknown");
        snprintf(mismatch_ours, sizeof(mismatch_ours), "%s", o->key_id);
    }
    pthread_mutex_unlock(&mismatch_mu);
    if (on && !was)
        log_error(MOD,
                  "the fleet's token record does not open with this replica's token key: it was "
                  "sealed with key id %s, this replica has key id %s (oauth.token_key_file or "
                  "SCHED_TOKEN_KEY); not ready, and the record is left alone: give every replica "
                  "the fleet's key",
                  theirs[0] ? theirs : "unknown (an older record, or damaged)", o->key_id);
    else if (!on && was)
        log_info(MOD, "the fleet's token record opens with this replica's key again");
}

bool oauth_token_key_mismatch(char *theirs, size_t tlen, char *ours, size_t olen)
{
    pthread_mutex_lock(&mismatch_mu);
    bool on = mismatch_on;
    if (on && tlen)
        snprintf(theirs, tlen, "%s", mismatch_theirs);
    if (on && olen)
        snprintf(ours, olen, "%s", mismatch_ours);
    pthread_mutex_unlock(&mismatch_mu);
    return on;
}

static bool tok_valid(const struct oa_token *t, int64_t now)
{
    return t->access && now < t->expires_at - 5;
}

static bool tok_fresh(const struct oauth *o, const struct oa_token *t, int64_t now)
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

/* Reads the record and its version.  SW_ERR_NOT_FOUND: none (or an
 * emptied one); SW_ERR_UNAVAILABLE: it does not open with our key (never
 * to be overwritten: see note_mismatch); Redis errors as they come. */
static sw_err record_read(struct oauth *o, struct oa_token *t)
{
    char *blob = NULL, *plain = NULL;
    size_t len = 0, plen = 0;
    json_t *j = NULL;
    struct fleet_token_meta meta;
    memset(t, 0, sizeof(*t));
    if (!o->fleet)
        return SW_ERR_NOT_FOUND;
    sw_err err = fleet_token_get(o->fleet, o->name, &blob, &len, &meta);
    if (err != SW_OK && err != SW_ERR_NOT_FOUND)
        return err;
    o->version = meta.version;
    if (err == SW_ERR_NOT_FOUND) {
        note_mismatch(o, false, "");
        return err;
    }
    err = meta.key_id[0] && strcmp(meta.key_id, o->key_id) != 0
              ? SW_ERR_INVALID
              : tokencrypt_open(o->tc, blob, len, &plain, &plen);
    free(blob);
    if (err != SW_OK) {
        note_mismatch(o, true, meta.key_id);
        snprintf(o->ep.errstr, sizeof(o->ep.errstr),
                 "the fleet's token record is sealed with another key (key id %s, ours %s)",
                 meta.key_id[0] ? meta.key_id : "unknown", o->key_id);
        return SW_ERR_UNAVAILABLE;
    }
    note_mismatch(o, false, "");
    j = json_loadb(plain, plen, 0, NULL);
    oa_secret_free(plain);
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
        sw_log_add_rotating_secret(t->access);
    if (t->refresh)
        sw_log_add_rotating_secret(t->refresh);
    return t->access || t->refresh ? SW_OK : SW_ERR_NOT_FOUND;
}

/* Writes the record as version base + 1 if it is still version base
 * (SW_ERR_BUSY otherwise), and releases the lock. */
static sw_err record_put(struct oauth *o, const struct oa_token *t, long long base)
{
    if (o->mismatch)
        return SW_ERR_UNAVAILABLE; /* not ours to overwrite */
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
    oa_secret_free(text);
    if (err == SW_OK)
        err = fleet_token_put(o->fleet, o->name, o->owner, base, o->key_id, blob, strlen(blob));
    if (err == SW_OK)
        o->version = base + 1;
    free(blob);
    return err;
}

static void spend_key(const struct oauth *o, char *buf, size_t len)
{
    key_oauth_spend(buf, len, o->name);
}

enum spend {
    SPEND_NONE,       /* never presented, as far as the fleet knows */
    SPEND_PRESENTED,  /* presented: it may have been rotated, never present it again */
    SPEND_UNANSWERED, /* presented, but OpenEMR never answered: one more try is safe-ish */
};

/* What the spend marker says of refresh (PRESENTED when Redis cannot say:
 * a token is never presented on a guess). */
static enum spend spend_state(struct oauth *o, const char *refresh)
{
    char key[96], fp[48], *val = NULL;
    if (!o->fleet || !refresh)
        return SPEND_NONE;
    if (jwt_sha256_b64(refresh, fp, sizeof(fp)) != SW_OK)
        return SPEND_PRESENTED;
    spend_key(o, key, sizeof(key));
    sw_err err = fleet_cache_get(o->fleet, key, &val);
    if (err == SW_ERR_NOT_FOUND)
        return SPEND_NONE;
    enum spend s = SPEND_PRESENTED;
    if (err == SW_OK) {
        size_t n = strlen(fp);
        if (strncmp(val, fp, n) != 0)
            s = SPEND_NONE; /* the marker names another token */
        else if (!strcmp(val + n, UNANSWERED))
            s = SPEND_UNANSWERED;
    }
    free(val);
    return s;
}

/* Writes the marker for refresh (suffix "" or UNANSWERED); false if it
 * could not be written.  Without a fleet there is nobody to warn. */
static bool mark_spend(struct oauth *o, const char *refresh, const char *suffix)
{
    char key[96], fp[48], val[64];
    if (!o->fleet)
        return true;
    if (jwt_sha256_b64(refresh, fp, sizeof(fp)) != SW_OK)
        return false;
    snprintf(val, sizeof(val), "%s%s", fp, suffix);
    spend_key(o, key, sizeof(key));
    if (fleet_cache_put(o->fleet, key, val, SPEND_TTL_S) == SW_OK)
        return true;
    log_warn(MOD, "could not write the refresh spend marker: %s", fleet_errstr(o->fleet));
    return false;
}

static void clear_spending(struct oauth *o)
{
    char key[96];
    if (!o->fleet)
        return;
    spend_key(o, key, sizeof(key));
    fleet_cache_del(o->fleet, key);
}

/* ---- grants ------------------------------------------------------------- */

/* The refresh grant, with the spend marker written first (see above):
 * SW_ERR_REDIS, and nothing presented, when the marker cannot be written. */
static sw_err grant_refresh(struct oauth *o, const char *refresh, struct oa_token *out)
{
    sw_err perr = oa_endpoint_permit(&o->ep);
    if (perr)
        return perr; /* nothing marked, nothing presented */
    if (!mark_spend(o, refresh, "")) {
        oa_endpoint_permit_release(&o->ep);
        snprintf(o->ep.errstr, sizeof(o->ep.errstr),
                 "the refresh spend marker could not be written; not presenting the token");
        return SW_ERR_REDIS;
    }
    sw_err err = oa_grant_refresh(&o->ep, refresh, out);
    if (err == SW_ERR_TIMEOUT || err == SW_ERR_CONNECT || err == SW_ERR_SERVER)
        mark_spend(o, refresh, UNANSWERED); /* best effort: else it stays "presented" */
    return err;
}

/* The refresh token file's token, if it is one the fleet has not used. */
static char *unused_seed(struct oauth *o, const struct oa_token *rec, char *fp, size_t fplen)
{
    const char *path = o->cfg->oauth_refresh_token_file;
    fp[0] = '\0';
    if (!path || !path[0])
        return NULL;
    char *seed = sw_read_secret_file(path);
    if (!seed || !seed[0] || jwt_sha256_b64(seed, fp, fplen) != SW_OK || !strcmp(fp, rec->seed) ||
        spend_state(o, seed) != SPEND_NONE) {
        oa_secret_free(seed);
        return NULL;
    }
    sw_log_add_secret(seed); /* a file's token: kept for the process's life */
    return seed;
}

/* Before the first grant that names scopes: are they all offered?  A
 * refusal is permanent (the configuration must change); a server without
 * discovery documents decides itself. */
static sw_err check_scopes(struct oauth *o, const char *scope)
{
    bool checked = false;
    if (o->scopes_ok || !o->cfg->oauth_check_scopes)
        return SW_OK;
    sw_err err =
        scopes_verify(o->cfg, o->ep.http, scope, &checked, o->ep.errstr, sizeof(o->ep.errstr));
    if (err == SW_ERR_CONFIG) {
        o->ep.permanent = true;
        log_error(MOD, "%s", o->ep.errstr);
        return err;
    }
    if (!checked)
        log_warn(MOD, "no discovery document lists OpenEMR's scopes: not checked");
    o->scopes_ok = true;
    return SW_OK;
}

/* Runs the configured grant given the fleet's record; out gets the new token. */
static sw_err run_grant(struct oauth *o, const struct oa_token *rec, struct oa_token *out)
{
    sw_err err = SW_ERR_TOKEN;
    char fp[48] = "";
    if (o->cfg->grant == SW_GRANT_CLIENT_CREDENTIALS) {
        err = check_scopes(o, sw_scope_system(o->cfg));
        return err ? err : oa_grant_client_credentials(&o->ep, out);
    }

    enum spend spent = rec->refresh ? spend_state(o, rec->refresh) : SPEND_NONE;
    if (rec->refresh && spent == SPEND_NONE) {
        err = grant_refresh(o, rec->refresh, out);
        if (err == SW_OK) {
            memcpy(out->seed, rec->seed, sizeof(out->seed));
            return SW_OK;
        }
        if (err != SW_ERR_TOKEN)
            return err; /* transport or Redis trouble: the token may be fine */
        log_warn(MOD, "refresh token refused (%s); trying the next grant", o->ep.errstr);
    } else if (spent == SPEND_PRESENTED) {
        log_warn(MOD, "the fleet's refresh token was presented by a replica that did not store "
                      "what it got (it died, or Redis failed); never presenting it again");
    }
    char *seed = unused_seed(o, rec, fp, sizeof(fp));
    if (seed) {
        log_info(MOD, "seeding the fleet token from oauth.refresh_token_file");
        err = grant_refresh(o, seed, out);
        oa_secret_free(seed);
        if (err == SW_OK) {
            snprintf(out->seed, sizeof(out->seed), "%s", fp);
            return SW_OK;
        }
        if (err != SW_ERR_TOKEN)
            return err;
    }
    snprintf(out->seed, sizeof(out->seed), "%s", rec->seed);
    if (o->cfg->grant == SW_GRANT_PASSWORD) {
        err = check_scopes(o, sw_scope_user(o->cfg));
        return err ? err : oa_grant_password(&o->ep, out);
    }
    if (spent == SPEND_UNANSWERED) { /* last resort: it may never have reached OpenEMR */
        err = grant_refresh(o, rec->refresh, out);
        if (err == SW_OK)
            return SW_OK;
    }
    log_error(MOD, "no usable refresh token for the fleet: run `schedworker auth login` (%s)",
              o->ep.errstr);
    return SW_ERR_TOKEN;
}

/* ---- refresh for the fleet --------------------------------------------- */

static void adopt(struct oauth *o, const struct oa_token *t)
{
    oa_token_copy(&o->cur, t);
    o->rejected = false;
}

static void unsaved_clear(struct oauth *o)
{
    oa_token_clear(&o->unsaved);
    o->has_unsaved = false;
}

/* After a successful grant: the new record as version base + 1.  When
 * Redis fails the token stays in memory (o->cur) and in o->unsaved, and
 * retry_unsaved() stores it later; the spend marker keeps everyone else
 * from presenting the refresh token it replaced. */
static void store_rotated(struct oauth *o, const struct oa_token *t, long long base)
{
    sw_err err = record_put(o, t, base);
    if (err == SW_OK) {
        unsaved_clear(o);
        clear_spending(o);
        log_info(MOD, "refreshed the fleet token (%s), valid %llds", grant_name(o->cfg->grant),
                 (long long)t->lifetime);
        return;
    }
    char why[256];
    snprintf(why, sizeof(why), "%s", fleet_errstr(o->fleet));
    fleet_token_unlock(o->fleet, o->name, o->owner);
    if (err == SW_ERR_BUSY) {
        /* our lock ran out and another replica stored a record first: that
         * one is the fleet's; ours is used here until it expires */
        log_warn(MOD, "another replica stored the fleet token first; keeping its record");
        unsaved_clear(o);
        return;
    }
    oa_token_copy(&o->unsaved, t);
    o->unsaved_base = base;
    o->has_unsaved = true;
    o->unsaved_tried_ms = clock_now_ms(o->clock);
    log_error(MOD,
              "could not store the refreshed token for the fleet (%s): using it from memory and "
              "retrying the store",
              why);
}

/* Stores a rotated token a failed write left in memory (at most once per
 * RETRY_STORE_MS unless now): true when nothing is left unsaved. */
static bool retry_unsaved(struct oauth *o, bool now)
{
    if (!o->has_unsaved)
        return true;
    int64_t t = clock_now_ms(o->clock);
    if (!now && t - o->unsaved_tried_ms < RETRY_STORE_MS)
        return false;
    o->unsaved_tried_ms = t;
    sw_err err = record_put(o, &o->unsaved, o->unsaved_base);
    if (err == SW_OK) {
        clear_spending(o);
        log_info(MOD, "stored the refreshed fleet token that a Redis failure had left in memory");
    } else if (err == SW_ERR_BUSY) {
        log_warn(MOD, "a newer fleet token record was stored meanwhile; dropping the unsaved one");
    } else {
        return false;
    }
    unsaved_clear(o);
    return true;
}

/* bad: the access token OpenEMR refused (NULL for a timed refresh). */
static sw_err refresh_fleet(struct oauth *o, const char *bad, int64_t deadline_ms)
{
    struct oa_token rec = {0}, fresh = {0};
    sw_err err;
    int64_t give_up = clock_now_ms(o->clock) + WAIT_OTHERS_MS;
    if (deadline_ms > 0 && deadline_ms < give_up)
        give_up = deadline_ms;
    int lock_ttl = o->cfg->openemr_timeout_ms * 3 + 5000;

    if (!o->fleet) {
        oa_token_copy(&rec, &o->cur);
        err = run_grant(o, &rec, &fresh);
        if (err == SW_OK)
            adopt(o, &fresh);
        goto cleanup;
    }
    for (;;) {
        err = fleet_token_lock(o->fleet, o->name, o->owner, lock_ttl);
        if (err == SW_OK) {
            oa_token_clear(&rec);
            /* a rotation still unsaved goes first: it is the newest token */
            sw_err rerr = retry_unsaved(o, true) ? record_read(o, &rec) : SW_ERR_REDIS;
            if (rerr != SW_OK && rerr != SW_ERR_NOT_FOUND) {
                fleet_token_unlock(o->fleet, o->name, o->owner);
                err = rerr;
                goto cleanup;
            }
            long long base = o->version;
            if (tok_fresh(o, &rec, clock_now_s(o->clock)) && !same(rec.access, bad)) {
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
            store_rotated(o, &fresh, base);
            goto cleanup;
        }
        if (err != SW_ERR_BUSY)
            goto cleanup;
        /* another replica is refreshing */
        oa_token_clear(&rec);
        if (record_read(o, &rec) == SW_OK && !same(rec.access, bad) &&
            (tok_fresh(o, &rec, clock_now_s(o->clock)) ||
             (bad == NULL && tok_valid(&rec, clock_now_s(o->clock))))) {
            adopt(o, &rec);
            err = SW_OK;
            goto cleanup;
        }
        if (clock_now_ms(o->clock) + POLL_MS > give_up) {
            snprintf(o->ep.errstr, sizeof(o->ep.errstr),
                     "token refresh by another replica not done");
            err = SW_ERR_UNAVAILABLE;
            goto cleanup;
        }
        clock_sleep_ms(o->clock, POLL_MS);
    }
cleanup:
    oa_token_clear(&rec);
    oa_token_clear(&fresh);
    return err;
}

sw_err oauth_token(struct oauth *o, int64_t deadline_ms, char *buf, size_t buflen)
{
    int64_t now = clock_now_s(o->clock);
    sw_err err = SW_OK;
    retry_unsaved(o, false);
    if (!(o->rejected || !tok_fresh(o, &o->cur, now))) {
        goto copy;
    }
    char *bad = o->rejected && o->cur.access ? strdup(o->cur.access) : NULL;
    struct oa_token rec = {0};
    sw_err rerr = record_read(o, &rec);
    if (rerr == SW_OK && tok_fresh(o, &rec, now) && !same(rec.access, bad)) {
        adopt(o, &rec);
    } else if (o->mismatch) {
        err = rerr; /* a record we cannot open: never refresh over it */
    } else {
        err = refresh_fleet(o, bad, deadline_ms);
        if (err == SW_OK && bad && o->cur.access &&
            jwt_sha256_b64(o->cur.access, o->after_401, sizeof(o->after_401)) == SW_OK)
            o->after_401_at = clock_now_s(o->clock);
        if (err != SW_OK && !bad && tok_valid(&rec, now)) {
            log_warn(MOD, "token refresh failed (%s); the current token is still valid",
                     sw_err_str(err));
            adopt(o, &rec);
            err = SW_OK;
        } else if (err != SW_OK && !bad && tok_valid(&o->cur, now)) {
            err = SW_OK;
        }
    }
    oa_token_clear(&rec);
    oa_secret_free(bad);
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
    if (o->after_401_at && clock_now_s(o->clock) - o->after_401_at < 10 &&
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
    int64_t now = clock_now_s(o->clock);
    if (tok_valid(&o->cur, now) && !o->rejected)
        return true;
    struct oa_token rec = {0};
    bool ok = record_read(o, &rec) == SW_OK && tok_valid(&rec, now);
    oa_token_clear(&rec);
    return ok;
}

bool oauth_failure_permanent(const struct oauth *o)
{
    return o->ep.permanent;
}

const char *oauth_errstr(const struct oauth *o)
{
    return o->ep.errstr;
}

sw_err oauth_logout(struct oauth *o)
{
    struct oa_token rec = {0};
    sw_err err = SW_OK;
    if (record_read(o, &rec) != SW_OK)
        oa_token_copy(&rec, &o->cur);
    const char *what = rec.access ? rec.access : rec.refresh;
    if (!what)
        goto cleanup;
    err = oa_logout(&o->ep, what);
    if (o->fleet && !o->mismatch && fleet_token_lock(o->fleet, o->name, o->owner, 5000) == SW_OK) {
        struct oa_token empty = {0};
        if (record_put(o, &empty, o->version) != SW_OK)
            fleet_token_unlock(o->fleet, o->name, o->owner);
    }
    unsaved_clear(o);
    oa_token_clear(&o->cur);
cleanup:
    oa_token_clear(&rec);
    return err;
}

sw_err oauth_new(const struct sw_config *cfg, struct fleet *fleet, struct http_client *http,
                 struct oauth **out, char *errstr, size_t errlen)
{
    return oauth_new_opts(cfg, fleet, http, NULL, out, errstr, errlen);
}

sw_err oauth_new_opts(const struct sw_config *cfg, struct fleet *fleet, struct http_client *http,
                      const struct oauth_options *opts, struct oauth **out, char *errstr,
                      size_t errlen)
{
    sw_err err = SW_ERR_NOMEM;
    struct oauth *o = calloc(1, sizeof(*o));
    *out = NULL;
    if (!o)
        return SW_ERR_NOMEM;
    o->cfg = cfg;
    o->fleet = fleet;
    o->clock = opts ? opts->clock : NULL;
    oa_endpoint_init(&o->ep, cfg, http, o->clock);
    o->ep.fleet = fleet;
    err = tokencrypt_new(cfg, &o->tc, errstr, errlen);
    if (err != SW_OK)
        goto fail;
    if (!cfg->oauth_client_id || !cfg->oauth_client_id[0]) {
        snprintf(errstr, errlen, "oauth.client_id is not set");
        err = SW_ERR_CONFIG;
        goto fail;
    }
    tokencrypt_key_id(o->tc, o->key_id);
    static atomic_bool key_logged;
    if (!atomic_exchange(&key_logged, true))
        log_info(MOD, "the fleet's token record is sealed with token key id %s", o->key_id);
    snprintf(o->name, sizeof(o->name), "%s", grant_name(cfg->grant));
    snprintf(o->owner, sizeof(o->owner), "%s:%d:%p", cfg->worker_id ? cfg->worker_id : "w",
             (int)getpid(), (void *)o);
    if (cfg->oauth_client_secret_file && cfg->oauth_client_secret_file[0]) {
        if (!o->ep.client_secret) {
            snprintf(errstr, errlen, "cannot read oauth.client_secret_file");
            err = SW_ERR_CONFIG;
            goto fail;
        }
        sw_log_add_secret(o->ep.client_secret);
    }
    if (cfg->grant == SW_GRANT_PASSWORD) {
        o->ep.password = cfg->oauth_password_file && cfg->oauth_password_file[0]
                             ? sw_read_secret_file(cfg->oauth_password_file)
                             : NULL;
        if (!o->ep.password) {
            snprintf(errstr, errlen, "password grant: cannot read oauth.password_file");
            err = SW_ERR_CONFIG;
            goto fail;
        }
        sw_log_add_secret(o->ep.password);
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
    oa_token_clear(&o->cur);
    oa_token_clear(&o->unsaved);
    tokencrypt_destroy(o->tc);
    oa_endpoint_fini(&o->ep);
    free(o);
}
