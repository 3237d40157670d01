/* fleet.c - the Redis connection behind a struct fleet: the redis.* settings
 * and URL, connecting (AUTH, SELECT), reconnecting after a lost connection,
 * running one command; and the struct's life (fleet_new, fleet_destroy).
 *
 * What the fleet keeps in Redis is in the other fleet_*.c files, one
 * concern each: fleet_script.c (arguments, replies, Lua scripts),
 * fleet_idem.c, fleet_token.c, fleet_cache.c, fleet_lock.c,
 * fleet_limit.c, fleet_holds.c.
 *
 * hiredis 0.14 (Debian 12's libhiredis-dev 0.14.1) has no TLS, so a
 * rediss:// URL is refused at fleet_new; put Redis on a private network or
 * a unix socket (or a TLS tunnel) instead. */
#include "fleet_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

#define MODULE "fleet"

void fl_err(struct fleet *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
}

/* ---- URL and connection -------------------------------------------------- */

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* unix:///path[?db=N], by hand: a URL parser reads the first path segment
 * as a host.  The path is percent-decoded. */
static sw_err parse_unix_url(struct fleet *f, const char *url, char *errstr, size_t errlen)
{
    const char *path = url + 7;
    const char *q = strstr(path, "?db=");
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    if (plen == 0 || path[0] != '/') {
        snprintf(errstr, errlen, "redis.url: unix:// needs an absolute path");
        return SW_ERR_CONFIG;
    }
    if (q && !parse_int(q + 4, 0, 1000000, &f->db)) {
        snprintf(errstr, errlen, "redis.url: bad db number");
        return SW_ERR_CONFIG;
    }
    char *raw = strndup(path, plen);
    if (!raw)
        return SW_ERR_NOMEM;
    f->unix_path = http_unescape(raw);
    bool nul = !f->unix_path && strstr(raw, "%00");
    free(raw);
    if (nul) {
        snprintf(errstr, errlen, "redis.url: a percent-encoded NUL in the path");
        return SW_ERR_CONFIG;
    }
    return f->unix_path ? SW_OK : SW_ERR_NOMEM;
}

/* redis://[user[:pass]@]host[:port][/db] (user and password
 * percent-decoded; libcurl's URL parser)  or  unix:///path[?db=N] */
static sw_err parse_url(struct fleet *f, const char *url, char *errstr, size_t errlen)
{
    f->port = 6379;
    f->db = 0;
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix_url(f, url, errstr, errlen);
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
    struct http_url u;
    char why[128];
    sw_err err = http_url_parse(url, &u, why, sizeof(why));
    if (err == SW_ERR_CONFIG)
        snprintf(errstr, errlen, "redis.url: %s", why);
    if (err)
        return err;
    if (!u.host || !u.host[0]) {
        snprintf(errstr, errlen, "redis.url: no host");
        err = SW_ERR_CONFIG;
    } else if (strcmp(u.path, "/") != 0 && !parse_int(u.path + 1, 0, 1000000, &f->db)) {
        snprintf(errstr, errlen, "redis.url: bad db number");
        err = SW_ERR_CONFIG;
    } else if (u.query) {
        snprintf(errstr, errlen, "redis.url: no query expected after the db number");
        err = SW_ERR_CONFIG;
    }
    if (err) {
        if (u.password)
            explicit_bzero(u.password, strlen(u.password));
        http_url_free(&u);
        return err;
    }
    if (u.port)
        f->port = u.port;
    /* the parts are ours now; an empty user is the default user */
    f->host = u.host;
    f->username = u.user && u.user[0] ? u.user : NULL;
    f->password = u.password;
    if (!f->username)
        free(u.user);
    free(u.scheme);
    free(u.path);
    free(u.query);
    return SW_OK;
}

static void drop_connection(struct fleet *f)
{
    if (f->c)
        redisFree(f->c);
    f->c = NULL;
    fleet_prefetch_clear(f); /* replies still owed died with it */
    f->n_shas = 0;
}

/* For the latency histogram only (the fleet's clock is for decisions). */
static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One command, after the prefetched reads waiting in the output buffer
 * (one write for all of them: their replies come first). */
static redisReply *send_after_prefetch(struct fleet *f, int argc, const char **argv,
                                       const size_t *lens)
{
    void *r = NULL;
    if (redisAppendCommandArgv(f->c, argc, argv, lens) != REDIS_OK || !fl_prefetch_collect(f) ||
        redisGetReply(f->c, &r) != REDIS_OK)
        return NULL;
    return r;
}

/* One command on the current connection, no reconnecting. */
static sw_err run_raw(struct fleet *f, int argc, const char **argv, const size_t *lens,
                      redisReply **out)
{
    *out = NULL;
    double t0 = mono_seconds();
    redisReply *r = f->pf.deferred ? send_after_prefetch(f, argc, argv, lens)
                                   : redisCommandArgv(f->c, argc, argv, lens);
    metrics_redis_command(argv[0], lens[0], mono_seconds() - t0);
    if (!r) {
        fl_err(f, "redis: %s", f->c->errstr[0] ? f->c->errstr : "connection lost");
        log_warn(MODULE, "%s (will reconnect on the next call)", f->err);
        drop_connection(f);
        return SW_ERR_REDIS;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fl_err(f, "redis %.*s: %.*s", (int)(lens[0] < 16 ? lens[0] : 16), argv[0],
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
        fl_err(f, "redis connect: out of memory");
        return SW_ERR_REDIS;
    }
    if (c->err) {
        if (f->unix_path)
            fl_err(f, "redis connect unix:%s: %s", f->unix_path, c->errstr);
        else
            fl_err(f, "redis connect %s:%d: %s", f->host, f->port, c->errstr);
        redisFree(c);
        return SW_ERR_REDIS;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        fl_err(f, "redis: cannot set the command timeout");
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
        fl_err(f, "internal: too many arguments");
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

/* ---- lifecycle -------------------------------------------------------- */

sw_err fleet_new(const struct sw_config *cfg, struct fleet **out, char *errstr, size_t errlen)
{
    return fleet_new_opts(cfg, NULL, out, errstr, errlen);
}

sw_err fleet_new_opts(const struct sw_config *cfg, const struct fleet_options *opts,
                      struct fleet **out, char *errstr, size_t errlen)
{
    *out = NULL;
    sw_err err = SW_OK;
    struct fleet *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errlen, "out of memory");
        return SW_ERR_NOMEM;
    }
    f->clock = opts ? opts->clock : NULL;
    f->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 2000;
    f->prefix = strdup(cfg->redis_prefix ? cfg->redis_prefix : "");
    f->limiter_rps = cfg->limiter_rps > 0 ? cfg->limiter_rps : 1;
    f->limiter_concurrency = cfg->limiter_concurrency > 0 ? cfg->limiter_concurrency : 1;
    f->limiter_permit_ttl_ms = cfg->limiter_permit_ttl_ms > 0 ? cfg->limiter_permit_ttl_ms : 30000;
    f->limiter_write_share = cfg->limiter_write_share;
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
        fl_err(f, "redis TIME: unexpected reply");
        err = SW_ERR_REDIS;
        goto out;
    }
    *now_ms = (int64_t)s * 1000 + us / 1000;
out:
    freeReplyObject(r);
    return err;
}
