/* fleet.c - the Redis connection, script plumbing, idempotency, the shared
 * token record, the JSON cache, locks, leases and confirmation claims.
 *
 * The limiter and the circuit breaker are in fleet_limit.c, holds and the
 * waitlist in fleet_holds.c.
 *
 * Connection: hiredis 0.14 (Debian 12's libhiredis-dev 0.14.1) has no TLS,
 * so a rediss:// URL is refused at fleet_new; put Redis on a private
 * network or a unix socket (or a TLS tunnel) instead.
 *
 * Keys (all under cfg->redis_prefix, written P here):
 *   P idem:<request_id>        hash  state run|done, owner, lease_until (ms),
 *                                    note, result
 *   P token:<name>             string the token record (opaque blob)
 *   P token:<name>:prev        string the record before the last put
 *   P token:<name>:lock        string owner of the refresh lock (PX)
 *   P cache:<key>              string JSON (EX)
 *   P lock:<name>              string owner (PX)
 *   P lease:<name>             string owner (PX)
 *   P confirmation:<code>      string request_id (EX)
 * and in the other files: P limit:*, P breaker:*, P hold:*, P holds:*,
 * P wait:*, P waitlist. */
#include "fleet_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include "log.h"

#define MODULE "fleet"

/* ---- small helpers ---------------------------------------------------- */

static void set_err(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct fleet *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
}

void fl_arg_bin(struct fl_args *a, const char *s, size_t len)
{
    if (a->n >= FL_MAX_ARGS) {
        a->overflow = true;
        return;
    }
    a->v[a->n] = s ? s : "";
    a->len[a->n] = s ? len : 0;
    a->n++;
}

void fl_arg(struct fl_args *a, const char *s)
{
    fl_arg_bin(a, s, s ? strlen(s) : 0);
}

void fl_arg_int(struct fl_args *a, long long v)
{
    if (a->n >= FL_MAX_ARGS) {
        a->overflow = true;
        return;
    }
    int n = snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", v);
    fl_arg_bin(a, a->num[a->n], (size_t)n);
}

sw_err fl_key(struct fleet *f, char *buf, size_t len, const char *fmt, ...)
{
    int p = snprintf(buf, len, "%s", f->prefix);
    if (p < 0 || (size_t)p >= len)
        goto too_long;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + p, len - (size_t)p, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - (size_t)p)
        goto too_long;
    return SW_OK;
too_long:
    set_err(f, "key longer than %zu bytes", len - 1);
    return SW_ERR_INVALID;
}

const redisReply *fl_elem(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    return r->element[i];
}

long long fl_int(const redisReply *r, long long def)
{
    if (!r)
        return def;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 32) {
        char buf[32];
        memcpy(buf, r->str, r->len);
        buf[r->len] = '\0';
        char *end = NULL;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno == 0 && end && *end == '\0')
            return v;
    }
    return def;
}

bool fl_copy(const redisReply *r, char *buf, size_t len)
{
    if (len == 0)
        return false;
    buf[0] = '\0';
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
        return false;
    if (r->len >= len)
        return false;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    return true;
}

char *fl_dup(const redisReply *r, size_t *len)
{
    if (!r || r->type != REDIS_REPLY_STRING)
        return NULL;
    char *s = malloc(r->len + 1);
    if (!s)
        return NULL;
    memcpy(s, r->str, r->len);
    s[r->len] = '\0';
    if (len)
        *len = r->len;
    return s;
}

sw_err fl_random_id(char out[33])
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SW_ERR_INTERNAL;
        }
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return SW_OK;
}

/* ---- URL and connection -------------------------------------------------- */

static bool parse_int(const char *s, size_t len, int lo, int hi, int *out)
{
    char buf[16];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || !end || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* redis://[user[:pass]@]host[:port][/db]  or  unix:///path[?db=N] */
static sw_err parse_url(struct fleet *f, const char *url, char *errstr, size_t errlen)
{
    f->port = 6379;
    f->db = 0;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strstr(path, "?db=");
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || path[0] != '/') {
            snprintf(errstr, errlen, "redis.url: unix:// needs an absolute path");
            return SW_ERR_CONFIG;
        }
        if (q && !parse_int(q + 4, strlen(q + 4), 0, 1000000, &f->db)) {
            snprintf(errstr, errlen, "redis.url: bad db number");
            return SW_ERR_CONFIG;
        }
        f->unix_path = dup_n(path, plen);
        return f->unix_path ? SW_OK : SW_ERR_NOMEM;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(errstr, errlen,
                 "redis.url: TLS (rediss://) is not supported by this hiredis (0.14); "
                 "use a private network, a unix socket or a TLS tunnel");
        return SW_ERR_CONFIG;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(errstr, errlen, "redis.url: expected redis://host:port/db or unix:///path");
        return SW_ERR_CONFIG;
    }
    const char *rest = url + 8;
    const char *slash = strchr(rest, '/');
    const char *end = slash ? slash : rest + strlen(rest);
    /* userinfo: everything before the last '@' ahead of the path */
    const char *at = NULL;
    for (const char *p = rest; p < end; p++)
        if (*p == '@')
            at = p;
    const char *hp = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        if (ulen > 0 && !(f->username = dup_n(rest, ulen)))
            return SW_ERR_NOMEM;
        if (colon && !(f->password = dup_n(colon + 1, (size_t)(at - colon - 1))))
            return SW_ERR_NOMEM;
        hp = at + 1;
    }
    const char *hend = end;
    const char *port = NULL;
    if (*hp == '[') { /* [ipv6]:port */
        const char *rb = memchr(hp, ']', (size_t)(end - hp));
        if (!rb) {
            snprintf(errstr, errlen, "redis.url: unterminated [ in host");
            return SW_ERR_CONFIG;
        }
        f->host = dup_n(hp + 1, (size_t)(rb - hp - 1));
        if (rb + 1 < end && rb[1] == ':')
            port = rb + 2;
    } else {
        const char *colon = memchr(hp, ':', (size_t)(end - hp));
        if (colon) {
            hend = colon;
            port = colon + 1;
        }
        f->host = dup_n(hp, (size_t)(hend - hp));
    }
    if (!f->host)
        return SW_ERR_NOMEM;
    if (!f->host[0]) {
        snprintf(errstr, errlen, "redis.url: no host");
        return SW_ERR_CONFIG;
    }
    if (port && !parse_int(port, (size_t)(end - port), 1, 65535, &f->port)) {
        snprintf(errstr, errlen, "redis.url: bad port");
        return SW_ERR_CONFIG;
    }
    if (slash && slash[1] && !parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &f->db)) {
        snprintf(errstr, errlen, "redis.url: bad db number");
        return SW_ERR_CONFIG;
    }
    return SW_OK;
}

static void drop_connection(struct fleet *f)
{
    if (f->c)
        redisFree(f->c);
    f->c = NULL;
    f->n_shas = 0;
}

/* One command on the current connection, no reconnecting. */
static sw_err run_raw(struct fleet *f, int argc, const char **argv, const size_t *lens,
                      redisReply **out)
{
    *out = NULL;
    redisReply *r = redisCommandArgv(f->c, argc, argv, lens);
    if (!r) {
        set_err(f, "redis: %s", f->c->errstr[0] ? f->c->errstr : "connection lost");
        log_warn(MODULE, "%s (will reconnect on the next call)", f->err);
        drop_connection(f);
        return SW_ERR_REDIS;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(f, "redis %.*s: %.*s", (int)(lens[0] < 16 ? lens[0] : 16), argv[0],
                (int)(r->len < 200 ? r->len : 200), r->str);
        *out = r; /* the caller may look at the error (NOSCRIPT) */
        return SW_ERR_REDIS;
    }
    *out = r;
    return SW_OK;
}

static sw_err connect_now(struct fleet *f)
{
    struct timeval tv = {f->timeout_ms / 1000, (f->timeout_ms % 1000) * 1000};
    redisContext *c = f->unix_path ? redisConnectUnixWithTimeout(f->unix_path, tv)
                                   : redisConnectWithTimeout(f->host, f->port, tv);
    if (!c) {
        set_err(f, "redis connect: out of memory");
        return SW_ERR_REDIS;
    }
    if (c->err) {
        if (f->unix_path)
            set_err(f, "redis connect unix:%s: %s", f->unix_path, c->errstr);
        else
            set_err(f, "redis connect %s:%d: %s", f->host, f->port, c->errstr);
        redisFree(c);
        return SW_ERR_REDIS;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        set_err(f, "redis: cannot set the command timeout");
        redisFree(c);
        return SW_ERR_REDIS;
    }
    if (!f->unix_path)
        redisEnableKeepAlive(c);
    f->c = c;
    f->n_shas = 0;

    sw_err err = SW_OK;
    redisReply *r = NULL;
    if (f->password || f->username) {
        /* AUTH user pass (ACL, Redis 6+; a nopass user takes any password)
         * or AUTH pass for the default user */
        const char *pw = f->password ? f->password : "";
        const char *argv[3] = {"AUTH", f->username, pw};
        size_t lens[3] = {4, f->username ? strlen(f->username) : 0, strlen(pw)};
        if (f->username)
            err = run_raw(f, 3, argv, lens, &r);
        else {
            argv[1] = pw;
            lens[1] = lens[2];
            err = run_raw(f, 2, argv, lens, &r);
        }
        freeReplyObject(r);
        r = NULL;
        if (err)
            goto fail;
    }
    if (f->db != 0) {
        char num[16];
        int n = snprintf(num, sizeof(num), "%d", f->db);
        const char *argv[2] = {"SELECT", num};
        size_t lens[2] = {6, (size_t)n};
        err = run_raw(f, 2, argv, lens, &r);
        freeReplyObject(r);
        r = NULL;
        if (err)
            goto fail;
    }
    return SW_OK;
fail:
    drop_connection(f);
    return SW_ERR_REDIS;
}

sw_err fl_command(struct fleet *f, const struct fl_args *a, redisReply **out)
{
    *out = NULL;
    if (a->overflow || a->n == 0) {
        set_err(f, "internal: too many arguments");
        return SW_ERR_INTERNAL;
    }
    if (!f->c) {
        sw_err err = connect_now(f);
        if (err)
            return err;
        log_info(MODULE, "connected to redis");
    }
    /* hiredis takes const char ** but never writes the array */
    return run_raw(f, a->n, (const char **)a->v, a->len, out);
}

static const char *sha_lookup(struct fleet *f, const struct fl_script *s)
{
    for (int i = 0; i < f->n_shas; i++)
        if (f->shas[i].script == s)
            return f->shas[i].sha;
    return NULL;
}

static void sha_forget(struct fleet *f, const struct fl_script *s)
{
    for (int i = 0; i < f->n_shas; i++)
        if (f->shas[i].script == s) {
            f->shas[i] = f->shas[--f->n_shas];
            return;
        }
}

/* SCRIPT LOAD once per connection; the sha is remembered until the
 * connection is dropped. */
static sw_err sha_load(struct fleet *f, const struct fl_script *s, const char **sha)
{
    struct fl_args a = {0};
    fl_arg(&a, "SCRIPT");
    fl_arg(&a, "LOAD");
    fl_arg(&a, s->src);
    redisReply *r = NULL;
    sw_err err = fl_command(f, &a, &r);
    if (err)
        goto out;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        set_err(f, "redis SCRIPT LOAD %s: unexpected reply", s->name);
        err = SW_ERR_REDIS;
        goto out;
    }
    if (f->n_shas < FL_MAX_SCRIPTS) {
        struct fl_sha *e = &f->shas[f->n_shas++];
        e->script = s;
        memcpy(e->sha, r->str, 40);
        e->sha[40] = '\0';
        *sha = e->sha;
    } else {
        *sha = NULL; /* table full: plain EVAL every time (a bug to report) */
    }
out:
    freeReplyObject(r);
    return err;
}

sw_err fl_eval(struct fleet *f, const struct fl_script *s, int nkeys, const struct fl_args *a,
               redisReply **out)
{
    *out = NULL;
    if (a->overflow) {
        set_err(f, "internal: too many arguments for %s", s->name);
        return SW_ERR_INTERNAL;
    }
    const char *sha = f->c ? sha_lookup(f, s) : NULL;
    sw_err err;
    if (!sha) {
        err = sha_load(f, s, &sha);
        if (err)
            return err;
    }
    struct fl_args call = {0};
    char num[16];
    snprintf(num, sizeof(num), "%d", nkeys);
    fl_arg(&call, sha ? "EVALSHA" : "EVAL");
    fl_arg(&call, sha ? sha : s->src);
    fl_arg(&call, num);
    for (int i = 0; i < a->n; i++)
        fl_arg_bin(&call, a->v[i], a->len[i]);
    redisReply *r = NULL;
    err = fl_command(f, &call, &r);
    if (err && r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* the server lost its script cache (SCRIPT FLUSH, failover):
         * EVAL the source, which caches it again */
        freeReplyObject(r);
        r = NULL;
        sha_forget(f, s);
        call.v[0] = "EVAL";
        call.len[0] = 4;
        call.v[1] = s->src;
        call.len[1] = strlen(s->src);
        err = fl_command(f, &call, &r);
    }
    if (err) {
        if (r && r->type == REDIS_REPLY_ERROR)
            set_err(f, "redis script %s: %.*s", s->name, (int)(r->len < 200 ? r->len : 200),
                    r->str);
        freeReplyObject(r);
        return err;
    }
    *out = r;
    return SW_OK;
}

/* ---- lifecycle -------------------------------------------------------- */

sw_err fleet_new(const struct sw_config *cfg, struct fleet **out, char *errstr, size_t errlen)
{
    *out = NULL;
    sw_err err = SW_OK;
    struct fleet *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errlen, "out of memory");
        return SW_ERR_NOMEM;
    }
    f->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 2000;
    f->prefix = strdup(cfg->redis_prefix ? cfg->redis_prefix : "");
    f->limiter_rps = cfg->limiter_rps > 0 ? cfg->limiter_rps : 1;
    f->limiter_concurrency = cfg->limiter_concurrency > 0 ? cfg->limiter_concurrency : 1;
    f->limiter_permit_ttl_ms = cfg->limiter_permit_ttl_ms > 0 ? cfg->limiter_permit_ttl_ms : 30000;
    f->breaker_failures = cfg->breaker_failures > 0 ? cfg->breaker_failures : 1;
    f->breaker_open_s = cfg->breaker_open_s > 0 ? cfg->breaker_open_s : 1;
    f->idem_keep_s = cfg->idempotency_ttl_s > 0 ? cfg->idempotency_ttl_s : 604800;
    if (!f->prefix) {
        err = SW_ERR_NOMEM;
        goto fail;
    }
    err = parse_url(f, cfg->redis_url ? cfg->redis_url : "", errstr, errlen);
    if (err)
        goto fail;
    if (cfg->redis_username && cfg->redis_username[0]) {
        free(f->username);
        if (!(f->username = strdup(cfg->redis_username))) {
            err = SW_ERR_NOMEM;
            goto fail;
        }
    }
    if (cfg->redis_password_file && cfg->redis_password_file[0]) {
        char *pw = sw_read_secret_file(cfg->redis_password_file);
        if (!pw) {
            snprintf(errstr, errlen, "redis.password_file %s: %s", cfg->redis_password_file,
                     strerror(errno));
            err = SW_ERR_CONFIG;
            goto fail;
        }
        if (f->password) {
            explicit_bzero(f->password, strlen(f->password));
            free(f->password);
        }
        f->password = pw;
    }
    if (f->password)
        sw_log_add_secret(f->password);
    /* Connect now so a wrong address shows at start, but a Redis that is
     * down is not fatal: every call reconnects. */
    if (connect_now(f) != SW_OK)
        log_warn(MODULE, "%s (will retry on the next call)", f->err);
    *out = f;
    return SW_OK;
fail:
    if (errstr && errlen && !errstr[0] && err == SW_ERR_NOMEM)
        snprintf(errstr, errlen, "out of memory");
    fleet_destroy(f);
    return err;
}

void fleet_destroy(struct fleet *f)
{
    if (!f)
        return;
    drop_connection(f);
    if (f->password) {
        explicit_bzero(f->password, strlen(f->password));
        free(f->password);
    }
    free(f->username);
    free(f->host);
    free(f->unix_path);
    free(f->prefix);
    free(f);
}

const char *fleet_errstr(const struct fleet *f)
{
    return f ? f->err : "no fleet";
}

sw_err fleet_ping(struct fleet *f)
{
    struct fl_args a = {0};
    fl_arg(&a, "PING");
    redisReply *r = NULL;
    sw_err err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}

sw_err fleet_now_ms(struct fleet *f, int64_t *now_ms)
{
    struct fl_args a = {0};
    fl_arg(&a, "TIME");
    redisReply *r = NULL;
    sw_err err = fl_command(f, &a, &r);
    if (err)
        goto out;
    long long s = fl_int(fl_elem(r, 0), -1), us = fl_int(fl_elem(r, 1), -1);
    if (s < 0 || us < 0) {
        set_err(f, "redis TIME: unexpected reply");
        err = SW_ERR_REDIS;
        goto out;
    }
    *now_ms = (int64_t)s * 1000 + us / 1000;
out:
    freeReplyObject(r);
    return err;
}

/* ---- idempotency ---------------------------------------------------------
 *
 * One hash per request_id.  While in progress: state=run, owner, lease_until
 * (Redis ms), and the note if the owner recorded one; the hash itself lives
 * for idempotency.ttl_s so that the note survives until someone takes over,
 * however late the redelivery.  When done: state=done, result, expiring
 * after the caller's ttl. */

/* KEYS[1] record; ARGV owner, lease_ms, keep_ms.
 * Returns {state, payload}: {'new'}, {'done', result}, {'busy'},
 * {'takeover', note|false}.  A live lease is BUSY even for the same owner
 * string: two threads (or a begin whose reply was lost and is retried) must
 * never both proceed, so the worst case is waiting out one lease. */
static const struct fl_script idem_begin_script = {"idem_begin", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until', 'note', 'result')\n\
if rec[1] == 'done' then return {'done', rec[5]} end\n\
local lease_until = string.format('%.0f', now + tonumber(ARGV[2]))\n\
if not rec[1] then\n\
  redis.call('HSET', KEYS[1], 'state', 'run', 'owner', ARGV[1], 'lease_until', lease_until)\n\
  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
  return {'new', false}\n\
end\n\
if tonumber(rec[3] or '0') > now then return {'busy', false} end\n\
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', lease_until)\n\
redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
local n = redis.call('HINCRBY', KEYS[1], 'takeovers', 1)\n\
return {'takeover', rec[4], n}\n"};

/* KEYS[1] record; ARGV owner, lease_ms, note (absent: only renew).  1 if
 * done, 0 if the record is not ours (or not in progress). */
static const struct fl_script idem_note_script = {"idem_note", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] ~= 'run' or rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.0f', now + tonumber(ARGV[2])))\n\
if ARGV[3] then redis.call('HSET', KEYS[1], 'note', ARGV[3]) end\n\
return 1\n"};

/* KEYS[1] record; ARGV owner, result, ttl_s.  Stores the result unless the
 * record is already done or in progress under another owner (0). A record
 * that vanished (Redis lost it) is written anyway: better late than never. */
static const struct fl_script idem_finish_script = {"idem_finish", "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] == 'done' then return 0 end\n\
if rec[1] == 'run' and rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('DEL', KEYS[1])\n\
redis.call('HSET', KEYS[1], 'state', 'done', 'owner', ARGV[1], 'result', ARGV[2])\n\
redis.call('EXPIRE', KEYS[1], ARGV[3])\n\
return 1\n"};

/* KEYS[1] record; ARGV owner.  Deletes an in-progress record of ours (1),
 * nothing to do (1), someone else's or done (0). */
static const struct fl_script idem_abandon_script = {"idem_abandon", "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if not rec[1] then return 1 end\n\
if rec[1] == 'run' and rec[2] == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end\n\
return 0\n"};

sw_err fleet_idem_begin(struct fleet *f, const char *request_id, const char *owner, int lease_s,
                        enum fleet_idem_state *state, char **result, char **note)
{
    if (result)
        *result = NULL;
    if (note)
        *note = NULL;
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "idem:%s", request_id);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg_int(&a, (long long)(lease_s > 0 ? lease_s : 1) * 1000);
    fl_arg_int(&a, (long long)f->idem_keep_s * 1000);
    redisReply *r = NULL;
    err = fl_eval(f, &idem_begin_script, 1, &a, &r);
    if (err)
        goto out;
    char word[16];
    if (!fl_copy(fl_elem(r, 0), word, sizeof(word))) {
        set_err(f, "idem_begin: unexpected reply");
        err = SW_ERR_REDIS;
        goto out;
    }
    const redisReply *payload = fl_elem(r, 1);
    f->last_takeovers = 0;
    if (strcmp(word, "new") == 0) {
        *state = FLEET_IDEM_NEW;
    } else if (strcmp(word, "busy") == 0) {
        *state = FLEET_IDEM_BUSY;
    } else if (strcmp(word, "done") == 0) {
        *state = FLEET_IDEM_DONE;
        if (result && payload && payload->type == REDIS_REPLY_STRING &&
            !(*result = fl_dup(payload, NULL)))
            err = SW_ERR_NOMEM;
    } else if (strcmp(word, "takeover") == 0) {
        *state = FLEET_IDEM_TAKEOVER;
        f->last_takeovers = (int)fl_int(fl_elem(r, 2), 1);
        if (note && payload && payload->type == REDIS_REPLY_STRING &&
            !(*note = fl_dup(payload, NULL)))
            err = SW_ERR_NOMEM;
    } else {
        set_err(f, "idem_begin: unexpected state %s", word);
        err = SW_ERR_REDIS;
    }
out:
    freeReplyObject(r);
    return err;
}

int fleet_idem_takeovers(const struct fleet *f)
{
    return f->last_takeovers;
}

/* Runs a script that answers 1 (done) or 0 (not ours: SW_ERR_BUSY). */
static sw_err eval_owned(struct fleet *f, const struct fl_script *s, int nkeys,
                         const struct fl_args *a)
{
    redisReply *r = NULL;
    sw_err err = fl_eval(f, s, nkeys, a, &r);
    if (!err && fl_int(r, 0) != 1) {
        set_err(f, "%s: held by another owner", s->name);
        err = SW_ERR_BUSY;
    }
    freeReplyObject(r);
    return err;
}

sw_err fleet_idem_note(struct fleet *f, const char *request_id, const char *owner, const char *note,
                       int lease_s)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "idem:%s", request_id);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg_int(&a, (long long)(lease_s > 0 ? lease_s : 1) * 1000);
    if (note) /* NULL: renew the lease, keep the note */
        fl_arg(&a, note);
    return eval_owned(f, &idem_note_script, 1, &a);
}

sw_err fleet_idem_finish(struct fleet *f, const char *request_id, const char *owner,
                         const char *result, int ttl_s)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "idem:%s", request_id);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg(&a, result);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    return eval_owned(f, &idem_finish_script, 1, &a);
}

sw_err fleet_idem_abandon(struct fleet *f, const char *request_id, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "idem:%s", request_id);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    return eval_owned(f, &idem_abandon_script, 1, &a);
}

/* ---- shared token record ------------------------------------------------ */

/* KEYS record, prev, lock; ARGV owner, blob.  Only while the lock is ours:
 * copies the current record to prev, writes the new one, releases the
 * lock (1); otherwise 0. */
static const struct fl_script token_put_script = {"token_put", "\
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end\n\
local cur = redis.call('GET', KEYS[1])\n\
if cur then redis.call('SET', KEYS[2], cur) end\n\
redis.call('SET', KEYS[1], ARGV[2])\n\
redis.call('DEL', KEYS[3])\n\
return 1\n"};

/* KEYS[1] lock; ARGV owner.  Deletes the key if it holds owner (1), nothing
 * if it is gone (1), 0 if another owner holds it. */
static const struct fl_script compare_del_script = {"compare_del", "\
local v = redis.call('GET', KEYS[1])\n\
if not v then return 1 end\n\
if v == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end\n\
return 0\n"};

/* KEYS[1] lock; ARGV owner, ttl_ms.  Acquires (SET NX PX) or, if already
 * ours, renews (PEXPIRE): 1; held by another: 0. */
static const struct fl_script lock_script = {"lock", "\
local v = redis.call('GET', KEYS[1])\n\
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end\n\
if v then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n\
return 1\n"};

/* GET of a full key: a copy of the value, SW_ERR_NOT_FOUND if none. */
static sw_err get_value(struct fleet *f, const char *key, char **value, size_t *len)
{
    struct fl_args a = {0};
    fl_arg(&a, "GET");
    fl_arg(&a, key);
    redisReply *r = NULL;
    sw_err err = fl_command(f, &a, &r);
    if (err)
        goto out;
    if (r->type == REDIS_REPLY_NIL)
        err = SW_ERR_NOT_FOUND;
    else if (!(*value = fl_dup(r, len)))
        err = r->type == REDIS_REPLY_STRING ? SW_ERR_NOMEM : SW_ERR_REDIS;
out:
    freeReplyObject(r);
    return err;
}

sw_err fleet_token_get(struct fleet *f, const char *name, char **blob, size_t *len)
{
    *blob = NULL;
    if (len)
        *len = 0;
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "token:%s", name);
    return err ? err : get_value(f, key, blob, len);
}

sw_err fleet_token_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "token:%s:lock", name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "SET");
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg(&a, "NX");
    fl_arg(&a, "PX");
    fl_arg_int(&a, ttl_ms > 0 ? ttl_ms : 1);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    if (!err && r->type == REDIS_REPLY_NIL) {
        set_err(f, "token lock %s: held by another owner", name);
        err = SW_ERR_BUSY;
    }
    freeReplyObject(r);
    return err;
}

sw_err fleet_token_put(struct fleet *f, const char *name, const char *owner, const char *blob,
                       size_t len)
{
    char key[FL_KEY_MAX], prev[FL_KEY_MAX], lock[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "token:%s", name);
    if (!err)
        err = fl_key(f, prev, sizeof(prev), "token:%s:prev", name);
    if (!err)
        err = fl_key(f, lock, sizeof(lock), "token:%s:lock", name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, prev);
    fl_arg(&a, lock);
    fl_arg(&a, owner);
    fl_arg_bin(&a, blob, len);
    return eval_owned(f, &token_put_script, 3, &a);
}

/* Deletes a lock key if owner holds it (SW_ERR_BUSY if another does). */
static sw_err unlock_key(struct fleet *f, const char *key, const char *owner)
{
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    return eval_owned(f, &compare_del_script, 1, &a);
}

sw_err fleet_token_unlock(struct fleet *f, const char *name, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "token:%s:lock", name);
    return err ? err : unlock_key(f, key, owner);
}

/* ---- JSON cache ------------------------------------------------------- */

sw_err fleet_cache_get(struct fleet *f, const char *key, char **value)
{
    *value = NULL;
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), "cache:%s", key);
    return err ? err : get_value(f, k, value, NULL);
}

sw_err fleet_cache_put(struct fleet *f, const char *key, const char *value, int ttl_s)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), "cache:%s", key);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "SET");
    fl_arg(&a, k);
    fl_arg(&a, value);
    fl_arg(&a, "EX");
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}

sw_err fleet_cache_del(struct fleet *f, const char *key)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), "cache:%s", key);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "DEL");
    fl_arg(&a, k);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}

/* ---- locks, leases, confirmation claims --------------------------------- */

static sw_err lock_or_renew(struct fleet *f, const char *ns, const char *name, const char *owner,
                            int ttl_ms)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "%s:%s", ns, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg_int(&a, ttl_ms > 0 ? ttl_ms : 1);
    return eval_owned(f, &lock_script, 1, &a);
}

sw_err fleet_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms)
{
    return lock_or_renew(f, "lock", name, owner, ttl_ms);
}

sw_err fleet_unlock(struct fleet *f, const char *name, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "lock:%s", name);
    return err ? err : unlock_key(f, key, owner);
}

sw_err fleet_lease(struct fleet *f, const char *name, const char *owner, int ttl_ms, bool *leader)
{
    *leader = false;
    sw_err err = lock_or_renew(f, "lease", name, owner, ttl_ms);
    if (err == SW_OK)
        *leader = true;
    return err == SW_ERR_BUSY ? SW_OK : err;
}

/* KEYS[1] claim; ARGV request_id, ttl_s.  1 if the code is ours now (new,
 * or already claimed by the same request: ttl renewed), 0 if another
 * request has it. */
static const struct fl_script claim_script = {"confirmation_claim", "\
local v = redis.call('GET', KEYS[1])\n\
if v == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]); return 1 end\n\
if v then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n\
return 1\n"};

sw_err fleet_confirmation_claim(struct fleet *f, const char *code, const char *request_id,
                                int ttl_s)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), "confirmation:%s", code);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, request_id);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    err = eval_owned(f, &claim_script, 1, &a);
    return err == SW_ERR_BUSY ? SW_ERR_CONFLICT : err;
}
