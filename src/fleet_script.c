/* fleet_script.c - how the fleet_*.c files talk to Redis: building a
 * command's arguments and keys, reading replies, and running Lua scripts
 * (EVALSHA with a per-connection sha cache, EVAL on NOSCRIPT). */
#include "fleet_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

sw_err fl_key(struct fleet *f, char *buf, size_t len, enum key_id id, const char *arg)
{
    int p = snprintf(buf, len, "%s", f->prefix);
    if (p >= 0 && (size_t)p < len &&
        key_build(buf + p, len - (size_t)p, id, (const char *const[]){arg}, arg ? 1 : 0))
        return SW_OK;
    fl_err(f, "key longer than %zu bytes", len - 1);
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

/* ---- Lua scripts ------------------------------------------------------ */

static const char *sha_lookup(struct fleet *f, const struct fl_script *s)
{
    for (int i = 0; i < f->n_shas; i++)
        if (f->shas[i].script == s)
            return f->shas[i].sha;
    return NULL;
}

const char *fl_script_sha(struct fleet *f, const struct fl_script *s)
{
    return f->c ? sha_lookup(f, s) : NULL;
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
        fl_err(f, "redis SCRIPT LOAD %s: unexpected reply", s->name);
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
        fl_err(f, "internal: too many arguments for %s", s->name);
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
            fl_err(f, "redis script %s: %.*s", s->name, (int)(r->len < 200 ? r->len : 200), r->str);
        freeReplyObject(r);
        return err;
    }
    *out = r;
    return SW_OK;
}

/* Runs a script that answers 1 (done) or 0 (not ours: SW_ERR_BUSY). */
sw_err fl_eval_owned(struct fleet *f, const struct fl_script *s, int nkeys, const struct fl_args *a)
{
    redisReply *r = NULL;
    sw_err err = fl_eval(f, s, nkeys, a, &r);
    if (!err && fl_int(r, 0) != 1) {
        fl_err(f, "%s: held by another owner", s->name);
        err = SW_ERR_BUSY;
    }
    freeReplyObject(r);
    return err;
}

/* GET of a full key: a copy of the value, SW_ERR_NOT_FOUND if none. */
sw_err fl_get(struct fleet *f, const char *key, char **value, size_t *len)
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
