/* store.c - the fleet's shared state as the scheduling code's function
 * table (store.h): the wrappers, and the table over a Redis connection. */
#include "store.h"

sw_err store_idem_note(const struct store *s, const char *request_id, const char *owner,
                       const char *note, int lease_s)
{
    return s->ops->idem_note(s->ctx, request_id, owner, note, lease_s);
}

sw_err store_guard(const struct store *s, const char *request_id, const char *owner, int64_t fence,
                   int need_ms, const char *const *locks, size_t n_locks)
{
    return s->ops->guard(s->ctx, request_id, owner, fence, need_ms, locks, n_locks);
}

sw_err store_lock(const struct store *s, const char *name, const char *owner, int ttl_ms)
{
    return s->ops->lock(s->ctx, name, owner, ttl_ms);
}

sw_err store_unlock(const struct store *s, const char *name, const char *owner)
{
    return s->ops->unlock(s->ctx, name, owner);
}

sw_err store_hold_place(const struct store *s, struct fleet_hold *h, int ttl_s)
{
    return s->ops->hold_place(s->ctx, h, ttl_s);
}

sw_err store_hold_get(const struct store *s, const char *hold_id, struct fleet_hold *out)
{
    return s->ops->hold_get(s->ctx, hold_id, out);
}

sw_err store_hold_release(const struct store *s, const char *hold_id)
{
    return s->ops->hold_release(s->ctx, hold_id);
}

sw_err store_holds_list(const struct store *s, const char *practitioner_id, int64_t from,
                        int64_t to, struct fleet_hold **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return s->ops->holds_list(s->ctx, practitioner_id, from, to, out, n);
}

sw_err store_kv_get(const struct store *s, const char *key, char **value)
{
    *value = NULL;
    return s->ops->kv_get(s->ctx, key, value);
}

sw_err store_kv_put(const struct store *s, const char *key, const char *value, int ttl_s)
{
    return s->ops->kv_put(s->ctx, key, value, ttl_s);
}

sw_err store_kv_del(const struct store *s, const char *key)
{
    return s->ops->kv_del(s->ctx, key);
}

sw_err store_kv_del_if(const struct store *s, const char *key, const char *value)
{
    return s->ops->kv_del_if(s->ctx, key, value);
}

void store_prefetch(const struct store *s, const char *const *keys, size_t n_keys,
                    const char *const *practitioners, size_t n_practitioners, int64_t from,
                    int64_t to)
{
    if (s->ops && s->ops->prefetch)
        s->ops->prefetch(s->ctx, keys, n_keys, practitioners, n_practitioners, from, to);
}

void store_prefetch_clear(const struct store *s)
{
    if (s->ops && s->ops->prefetch_clear)
        s->ops->prefetch_clear(s->ctx);
}

sw_err store_confirmation_claim(const struct store *s, const char *code, const char *request_id,
                                int ttl_s)
{
    return s->ops->confirmation_claim(s->ctx, code, request_id, ttl_s);
}

sw_err store_waitlist_add(const struct store *s, struct fleet_wait *w)
{
    return s->ops->waitlist_add(s->ctx, w);
}

sw_err store_waitlist_remove(const struct store *s, const char *waitlist_id)
{
    return s->ops->waitlist_remove(s->ctx, waitlist_id);
}

sw_err store_waitlist_list(const struct store *s, struct fleet_wait **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return s->ops->waitlist_list(s->ctx, out, n);
}

/* ---- over a struct fleet ------------------------------------------------ */

static sw_err f_idem_note(void *ctx, const char *request_id, const char *owner, const char *note,
                          int lease_s)
{
    return fleet_idem_note(ctx, request_id, owner, note, lease_s);
}
static sw_err f_guard(void *ctx, const char *request_id, const char *owner, int64_t fence,
                      int need_ms, const char *const *locks, size_t n_locks)
{
    return fleet_idem_guard(ctx, request_id, owner, fence, need_ms, locks, n_locks);
}
static sw_err f_lock(void *ctx, const char *name, const char *owner, int ttl_ms)
{
    return fleet_lock(ctx, name, owner, ttl_ms);
}
static sw_err f_unlock(void *ctx, const char *name, const char *owner)
{
    return fleet_unlock(ctx, name, owner);
}
static sw_err f_hold_place(void *ctx, struct fleet_hold *h, int ttl_s)
{
    return fleet_hold_place(ctx, h, ttl_s);
}
static sw_err f_hold_get(void *ctx, const char *hold_id, struct fleet_hold *out)
{
    return fleet_hold_get(ctx, hold_id, out);
}
static sw_err f_hold_release(void *ctx, const char *hold_id)
{
    return fleet_hold_release(ctx, hold_id);
}
static sw_err f_holds_list(void *ctx, const char *practitioner_id, int64_t from, int64_t to,
                           struct fleet_hold **out, size_t *n)
{
    return fleet_holds_list(ctx, practitioner_id, from, to, out, n);
}
static sw_err f_kv_get(void *ctx, const char *key, char **value)
{
    return fleet_cache_get(ctx, key, value);
}
static sw_err f_kv_put(void *ctx, const char *key, const char *value, int ttl_s)
{
    return fleet_cache_put(ctx, key, value, ttl_s);
}
static sw_err f_kv_del(void *ctx, const char *key)
{
    return fleet_cache_del(ctx, key);
}
static sw_err f_kv_del_if(void *ctx, const char *key, const char *value)
{
    return fleet_cache_del_if(ctx, key, value);
}
static sw_err f_confirmation_claim(void *ctx, const char *code, const char *request_id, int ttl_s)
{
    return fleet_confirmation_claim(ctx, code, request_id, ttl_s);
}
static sw_err f_waitlist_add(void *ctx, struct fleet_wait *w)
{
    return fleet_waitlist_add(ctx, w);
}
static sw_err f_waitlist_remove(void *ctx, const char *waitlist_id)
{
    return fleet_waitlist_remove(ctx, waitlist_id);
}
static sw_err f_waitlist_list(void *ctx, struct fleet_wait **out, size_t *n)
{
    return fleet_waitlist_list(ctx, out, n);
}

static void f_prefetch(void *ctx, const char *const *keys, size_t n_keys,
                       const char *const *practitioners, size_t n_practitioners, int64_t from,
                       int64_t to)
{
    fleet_prefetch(ctx, keys, n_keys, practitioners, n_practitioners, from, to);
}

static void f_prefetch_clear(void *ctx)
{
    fleet_prefetch_clear(ctx);
}

static const struct store_ops fleet_ops = {
    .idem_note = f_idem_note,
    .guard = f_guard,
    .lock = f_lock,
    .unlock = f_unlock,
    .hold_place = f_hold_place,
    .hold_get = f_hold_get,
    .hold_release = f_hold_release,
    .holds_list = f_holds_list,
    .kv_get = f_kv_get,
    .kv_put = f_kv_put,
    .kv_del = f_kv_del,
    .kv_del_if = f_kv_del_if,
    .prefetch = f_prefetch,
    .prefetch_clear = f_prefetch_clear,
    .confirmation_claim = f_confirmation_claim,
    .waitlist_add = f_waitlist_add,
    .waitlist_remove = f_waitlist_remove,
    .waitlist_list = f_waitlist_list,
};

struct store store_of_fleet(struct fleet *f)
{
    return (struct store){&fleet_ops, f};
}
