/* fake_store.c - the in-memory store of fake.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define CTX(ctx) ((struct fake_store *)(ctx))

/* Counts the call; the injected failure if this is its turn. */
static sw_err fault_of(struct fake_store *fs, enum fake_store_op op)
{
    fs->calls[op]++;
    struct fake_fault *f = &fs->fault[op];
    if (f->err == SW_OK)
        return SW_OK;
    if (f->at > 1) {
        f->at--;
        return SW_OK;
    }
    sw_err err = f->err;
    if (!f->sticky)
        f->err = SW_OK;
    return err;
}

static int64_t now_ms(const struct fake_store *fs)
{
    return clock_now_ms(fs->clock);
}

static struct fake_kv *kv_find(struct fake_store *fs, const char *key)
{
    for (size_t i = 0; i < fs->n_kv; i++)
        if (!strcmp(fs->kv[i].key, key))
            return &fs->kv[i];
    return NULL;
}

static struct fake_lock *lock_find(struct fake_store *fs, const char *name)
{
    for (size_t i = 0; i < fs->n_locks; i++)
        if (!strcmp(fs->locks[i].name, name) && fs->locks[i].until_ms > now_ms(fs))
            return &fs->locks[i];
    return NULL;
}

static struct fleet_hold *hold_find(struct fake_store *fs, const char *id)
{
    for (size_t i = 0; i < fs->n_holds; i++)
        if (!strcmp(fs->holds[i].hold_id, id) && fs->holds[i].expires_at_ms > now_ms(fs))
            return &fs->holds[i];
    return NULL;
}

static sw_err s_idem_note(void *ctx, const char *request_id, const char *owner, const char *note,
                          int lease_s)
{
    (void)request_id;
    (void)lease_s;
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_IDEM_NOTE);
    if (err)
        return err;
    if (fs->lease_owner[0] && strcmp(fs->lease_owner, owner))
        return SW_ERR_BUSY;
    snprintf(fs->lease_owner, sizeof(fs->lease_owner), "%s", owner);
    if (note) {
        free(fs->note);
        fs->note = strdup(note);
    }
    return SW_OK;
}

static sw_err s_guard(void *ctx, const char *request_id, const char *owner, int64_t fence,
                      int need_ms, const char *const *locks, size_t n_locks)
{
    (void)request_id;
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_GUARD);
    if (err)
        return err;
    if (!fs->lease_owner[0] || strcmp(fs->lease_owner, owner) || fs->fence != fence)
        return SW_ERR_BUSY;
    for (size_t i = 0; i < n_locks; i++) {
        struct fake_lock *l = lock_find(fs, locks[i]);
        if (!l || strcmp(l->owner, owner))
            return SW_ERR_BUSY;
    }
    for (size_t i = 0; i < n_locks; i++) {
        struct fake_lock *l = lock_find(fs, locks[i]);
        if (l->until_ms < now_ms(fs) + need_ms)
            l->until_ms = now_ms(fs) + need_ms;
    }
    fs->write_until_ms = now_ms(fs) + need_ms;
    fs->guards++;
    return SW_OK;
}

static sw_err s_lock(void *ctx, const char *name, const char *owner, int ttl_ms)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_LOCK);
    if (err)
        return err;
    struct fake_lock *l = lock_find(fs, name);
    if (l && strcmp(l->owner, owner))
        return SW_ERR_BUSY;
    if (!l) {
        if (fs->n_locks == FAKE_MAX)
            return SW_ERR_NOMEM;
        l = &fs->locks[fs->n_locks++];
        snprintf(l->name, sizeof(l->name), "%s", name);
    }
    snprintf(l->owner, sizeof(l->owner), "%s", owner);
    l->until_ms = now_ms(fs) + ttl_ms;
    return SW_OK;
}

static sw_err s_unlock(void *ctx, const char *name, const char *owner)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_UNLOCK);
    if (err)
        return err;
    struct fake_lock *l = lock_find(fs, name);
    if (l && !strcmp(l->owner, owner))
        l->until_ms = 0;
    return SW_OK;
}

static bool overlaps(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    return a0 < b1 && b0 < a1;
}

static sw_err s_hold_place(void *ctx, struct fleet_hold *h, int ttl_s)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_HOLD_PLACE);
    if (err)
        return err;
    for (size_t i = 0; i < fs->n_holds; i++) {
        const struct fleet_hold *o = &fs->holds[i];
        if (o->expires_at_ms > now_ms(fs) && !strcmp(o->practitioner_id, h->practitioner_id) &&
            strcmp(o->session_id, h->session_id) && overlaps(o->start, o->end, h->start, h->end))
            return SW_ERR_CONFLICT;
    }
    if (fs->n_holds == FAKE_MAX)
        return SW_ERR_NOMEM;
    snprintf(h->hold_id, sizeof(h->hold_id), "hold-%d", ++fs->next_id);
    h->expires_at_ms = now_ms(fs) + (int64_t)ttl_s * 1000;
    fs->holds[fs->n_holds++] = *h;
    return SW_OK;
}

static sw_err s_hold_get(void *ctx, const char *hold_id, struct fleet_hold *out)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_HOLD_GET);
    if (err)
        return err;
    struct fleet_hold *h = hold_find(fs, hold_id);
    if (!h)
        return SW_ERR_NOT_FOUND;
    *out = *h;
    return SW_OK;
}

static sw_err s_hold_release(void *ctx, const char *hold_id)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_HOLD_RELEASE);
    if (err)
        return err;
    struct fleet_hold *h = hold_find(fs, hold_id);
    if (h)
        h->expires_at_ms = 0;
    return SW_OK;
}

static sw_err s_holds_list(void *ctx, const char *pract, int64_t from, int64_t to,
                           struct fleet_hold **out, size_t *n)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_HOLDS_LIST);
    if (err)
        return err;
    *out = calloc(FAKE_MAX, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (size_t i = 0; i < fs->n_holds; i++) {
        const struct fleet_hold *h = &fs->holds[i];
        if (h->expires_at_ms > now_ms(fs) && !strcmp(h->practitioner_id, pract) &&
            overlaps(h->start, h->end, from, to))
            (*out)[(*n)++] = *h;
    }
    return SW_OK;
}

static sw_err s_kv_get(void *ctx, const char *key, char **value)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_KV_GET);
    if (err)
        return err;
    struct fake_kv *kv = kv_find(fs, key);
    if (!kv)
        return SW_ERR_NOT_FOUND;
    *value = strdup(kv->value);
    return *value ? SW_OK : SW_ERR_NOMEM;
}

static sw_err kv_set(struct fake_store *fs, const char *key, const char *value)
{
    struct fake_kv *kv = kv_find(fs, key);
    if (!kv) {
        if (fs->n_kv == FAKE_MAX)
            return SW_ERR_NOMEM;
        kv = &fs->kv[fs->n_kv++];
        kv->key = strdup(key);
        kv->value = NULL;
    }
    free(kv->value);
    kv->value = strdup(value);
    return SW_OK;
}

static sw_err s_kv_put(void *ctx, const char *key, const char *value, int ttl_s)
{
    (void)ttl_s;
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_KV_PUT);
    return err ? err : kv_set(fs, key, value);
}

static sw_err s_kv_del(void *ctx, const char *key)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_KV_DEL);
    if (err)
        return err;
    struct fake_kv *kv = kv_find(fs, key);
    if (kv) {
        free(kv->key);
        free(kv->value);
        *kv = fs->kv[--fs->n_kv];
    }
    return SW_OK;
}

static sw_err s_kv_del_if(void *ctx, const char *key, const char *value)
{
    struct fake_store *fs = CTX(ctx);
    struct fake_kv *kv = kv_find(fs, key);
    if (kv && strcmp(kv->value, value))
        return SW_ERR_BUSY;
    return s_kv_del(ctx, key);
}

static sw_err s_claim(void *ctx, const char *code, const char *request_id, int ttl_s)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_CLAIM);
    if (err)
        return err;
    char key[96];
    snprintf(key, sizeof(key), "claim:%s", code);
    struct fake_kv *kv = kv_find(fs, key);
    if (kv)
        return strcmp(kv->value, request_id) ? SW_ERR_CONFLICT : SW_OK;
    (void)ttl_s;
    return kv_set(fs, key, request_id);
}

static sw_err s_waitlist_add(void *ctx, struct fleet_wait *w)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_WAITLIST_ADD);
    if (err)
        return err;
    if (fs->n_waitlist == FAKE_MAX)
        return SW_ERR_NOMEM;
    snprintf(w->waitlist_id, sizeof(w->waitlist_id), "wait-%d", ++fs->next_id);
    w->joined_ms = now_ms(fs);
    fs->waitlist[fs->n_waitlist++] = *w;
    return SW_OK;
}

static sw_err s_waitlist_remove(void *ctx, const char *waitlist_id)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_WAITLIST_REMOVE);
    if (err)
        return err;
    for (size_t i = 0; i < fs->n_waitlist; i++)
        if (!strcmp(fs->waitlist[i].waitlist_id, waitlist_id)) {
            memmove(&fs->waitlist[i], &fs->waitlist[i + 1],
                    (fs->n_waitlist - i - 1) * sizeof(fs->waitlist[0]));
            fs->n_waitlist--;
            return SW_OK;
        }
    return SW_ERR_NOT_FOUND;
}

static sw_err s_waitlist_list(void *ctx, struct fleet_wait **out, size_t *n)
{
    struct fake_store *fs = CTX(ctx);
    sw_err err = fault_of(fs, FS_WAITLIST_LIST);
    if (err)
        return err;
    *out = calloc(fs->n_waitlist ? fs->n_waitlist : 1, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    memcpy(*out, fs->waitlist, fs->n_waitlist * sizeof(**out));
    *n = fs->n_waitlist;
    return SW_OK;
}

static const struct store_ops fake_ops = {
    .idem_note = s_idem_note,
    .guard = s_guard,
    .lock = s_lock,
    .unlock = s_unlock,
    .hold_place = s_hold_place,
    .hold_get = s_hold_get,
    .hold_release = s_hold_release,
    .holds_list = s_holds_list,
    .kv_get = s_kv_get,
    .kv_put = s_kv_put,
    .kv_del = s_kv_del,
    .kv_del_if = s_kv_del_if,
    .confirmation_claim = s_claim,
    .waitlist_add = s_waitlist_add,
    .waitlist_remove = s_waitlist_remove,
    .waitlist_list = s_waitlist_list,
};

void fake_store_init(struct fake_store *fs, const struct sw_clock *clock)
{
    memset(fs, 0, sizeof(*fs));
    fs->store = (struct store){&fake_ops, fs};
    fs->clock = clock;
}

void fake_store_lease(struct fake_store *fs, const char *owner, int64_t fence)
{
    snprintf(fs->lease_owner, sizeof(fs->lease_owner), "%s", owner);
    fs->fence = fence;
}

void fake_store_free(struct fake_store *fs)
{
    for (size_t i = 0; i < fs->n_kv; i++) {
        free(fs->kv[i].key);
        free(fs->kv[i].value);
    }
    free(fs->note);
    fs->n_kv = 0;
    fs->note = NULL;
}

void fake_store_fail(struct fake_store *fs, enum fake_store_op op, sw_err err, int at, bool sticky)
{
    fs->fault[op] = (struct fake_fault){err, at < 1 ? 1 : at, sticky, false};
}

const char *fake_store_get(const struct fake_store *fs, const char *key)
{
    for (size_t i = 0; i < fs->n_kv; i++)
        if (!strcmp(fs->kv[i].key, key))
            return fs->kv[i].value;
    return NULL;
}

bool fake_store_locked(const struct fake_store *fs, const char *name)
{
    return lock_find((struct fake_store *)fs, name) != NULL;
}
