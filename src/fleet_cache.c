/* fleet_cache.c - the fleet's JSON cache: values under a caller's logical
 * key (see keys.h for every one), each with a time to live; and the
 * read-ahead of one command (fleet_prefetch).
 *
 * Read-ahead: a cached search used to cost one round trip per day read,
 * one for the holds and one for the idempotency check.  fleet_prefetch()
 * appends an MGET of the day keys and the holds lists to the connection's
 * output buffer without waiting; the next command (the idempotency check)
 * is appended behind them and the whole buffer goes out in one write, so
 * Redis answers all of them in one round trip (fl_command reads the
 * prefetched replies first, in order, into f->pf). */
#include "fleet_internal.h"

#include <stdlib.h>
#include <string.h>

void fleet_prefetch_clear(struct fleet *f)
{
    struct fl_prefetch *p = &f->pf;
    if (p->deferred && f->c) {
        /* owed replies must be read before the next command's */
        fl_prefetch_collect(f);
    }
    for (int i = 0; i < p->n_keys; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    for (int i = 0; i < p->n_holds; i++)
        freeReplyObject(p->holds[i]);
    memset(p, 0, sizeof(*p));
}

void fleet_prefetch(struct fleet *f, const char *const *cache_keys, size_t n_keys,
                    const char *const *practitioners, size_t n_practitioners, int64_t from,
                    int64_t to)
{
    fleet_prefetch_clear(f);
    struct fl_prefetch *p = &f->pf;
    if (!f->c)
        return;
    const char *argv[FL_PF_KEYS + 1];
    size_t lens[FL_PF_KEYS + 1];
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < n_keys && p->n_keys < FL_PF_KEYS; i++) {
        char k[FL_KEY_MAX];
        if (fl_key(f, k, sizeof(k), KEY_CACHE, cache_keys[i]) || !(p->keys[p->n_keys] = strdup(k)))
            continue;
        argv[p->n_keys + 1] = p->keys[p->n_keys];
        lens[p->n_keys + 1] = strlen(k);
        p->n_keys++;
    }
    if (p->n_keys > 0) {
        if (redisAppendCommandArgv(f->c, p->n_keys + 1, argv, lens) != REDIS_OK) {
            fleet_prefetch_clear(f);
            return;
        }
        p->deferred++;
        p->mget_deferred = true;
    }
    p->hold_from = from;
    p->hold_to = to;
    for (size_t i = 0; i < n_practitioners && p->n_holds < FL_PF_HOLDS; i++) {
        if (strlen(practitioners[i]) >= sizeof(p->hold_pract[0]) ||
            !fl_holds_append(f, practitioners[i], from, to))
            continue;
        strcpy(p->hold_pract[p->n_holds++], practitioners[i]);
        p->deferred++;
    }
}

bool fl_prefetch_collect(struct fleet *f)
{
    struct fl_prefetch *p = &f->pf;
    int hold = 0;
    while (p->deferred > 0) {
        void *v = NULL;
        if (redisGetReply(f->c, &v) != REDIS_OK)
            return false; /* the caller drops the connection, and with it f->pf */
        redisReply *r = v;
        p->deferred--;
        if (p->mget_deferred) {
            p->mget_deferred = false;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)p->n_keys) {
                for (int i = 0; i < p->n_keys; i++)
                    p->vals[i] = fl_dup(r->element[i], NULL);
                p->have_vals = true;
            }
            freeReplyObject(r);
        } else if (hold < p->n_holds) {
            if (r->type == REDIS_REPLY_ARRAY)
                p->holds[hold] = r;
            else
                freeReplyObject(r); /* NOSCRIPT...: listed the usual way */
            hold++;
        } else {
            freeReplyObject(r);
        }
    }
    return true;
}

void fl_prefetch_drop_key(struct fleet *f, const char *key)
{
    struct fl_prefetch *p = &f->pf;
    for (int i = 0; i < p->n_keys; i++)
        if (!strcmp(p->keys[i], key)) {
            free(p->keys[i]);
            free(p->vals[i]);
            p->keys[i] = p->keys[--p->n_keys];
            p->vals[i] = p->vals[p->n_keys];
            p->keys[p->n_keys] = p->vals[p->n_keys] = NULL;
            return;
        }
}

void fl_prefetch_drop_holds(struct fleet *f)
{
    struct fl_prefetch *p = &f->pf;
    for (int i = 0; i < p->n_holds; i++) {
        freeReplyObject(p->holds[i]);
        p->holds[i] = NULL;
        p->hold_pract[i][0] = '\0';
    }
}

/* A prefetched value of key: SW_OK (*value a copy), SW_ERR_NOT_FOUND (it
 * was absent), or -1 when not prefetched. */
static int prefetched(struct fleet *f, const char *key, char **value)
{
    struct fl_prefetch *p = &f->pf;
    if (!p->have_vals)
        return -1;
    for (int i = 0; i < p->n_keys; i++)
        if (!strcmp(p->keys[i], key)) {
            if (!p->vals[i])
                return SW_ERR_NOT_FOUND;
            *value = strdup(p->vals[i]);
            return *value ? SW_OK : SW_ERR_NOMEM;
        }
    return -1;
}

sw_err fleet_cache_get(struct fleet *f, const char *key, char **value)
{
    *value = NULL;
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    int pf = prefetched(f, k, value);
    return pf >= 0 ? (sw_err)pf : fl_get(f, k, value, NULL);
}

sw_err fleet_cache_put(struct fleet *f, const char *key, const char *value, int ttl_s)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    fl_prefetch_drop_key(f, k);
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

sw_err fleet_cache_del_if(struct fleet *f, const char *key, const char *value)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    fl_prefetch_drop_key(f, k);
    return fl_unlock_key(f, k, value); /* the locks' compare-and-delete */
}

sw_err fleet_cache_del(struct fleet *f, const char *key)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    fl_prefetch_drop_key(f, k);
    struct fl_args a = {0};
    fl_arg(&a, "DEL");
    fl_arg(&a, k);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}
