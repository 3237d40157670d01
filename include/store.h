/* store.h - what the scheduling code needs of the fleet's shared state:
 * one function table.
 *
 * Handlers, the slot cache, the confirmation index and the waitlist reach
 * Redis only through a `struct store` (the real one wraps a struct fleet,
 * store_of_fleet(); unit tests provide an in-memory fake that can fail any
 * step), so every branch of the booking protocol can be tested without a
 * server.  The operations mean what fleet.h says; SW_ERR_REDIS is "the
 * store could not answer". */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "fleet.h"

struct store_ops {
    /* Records a note under our idempotency lease and renews it
     * (SW_ERR_BUSY: the lease is no longer ours). */
    sw_err (*idem_note)(void *ctx, const char *request_id, const char *owner, const char *note,
                        int lease_s);
    /* Right before an OpenEMR write: the lease is still owner's with this
     * fence, and every lock named owner's; all stretched to last need_ms
     * (SW_ERR_BUSY: one was lost; nothing stretched). */
    sw_err (*guard)(void *ctx, const char *request_id, const char *owner, int64_t fence,
                    int need_ms, const char *const *locks, size_t n_locks);
    /* Short exclusive locks (SW_ERR_BUSY: held by another owner). */
    sw_err (*lock)(void *ctx, const char *name, const char *owner, int ttl_ms);
    sw_err (*unlock)(void *ctx, const char *name, const char *owner);
    /* Holds (SW_ERR_CONFLICT: overlaps another session's live hold). */
    sw_err (*hold_place)(void *ctx, struct fleet_hold *h, int ttl_s);
    sw_err (*hold_get)(void *ctx, const char *hold_id, struct fleet_hold *out);
    sw_err (*hold_release)(void *ctx, const char *hold_id);
    sw_err (*holds_list)(void *ctx, const char *practitioner_id, int64_t from, int64_t to,
                         struct fleet_hold **out, size_t *n);
    /* Values with a time to live (SW_ERR_NOT_FOUND on a miss). */
    sw_err (*kv_get)(void *ctx, const char *key, char **value);
    sw_err (*kv_put)(void *ctx, const char *key, const char *value, int ttl_s);
    sw_err (*kv_del)(void *ctx, const char *key);
    /* Deletes key only while it still holds value (SW_ERR_BUSY if not). */
    sw_err (*kv_del_if)(void *ctx, const char *key, const char *value);
    /* Read-ahead of kv keys and practitioners' holds over [from, to) for
     * the current command, and its end (fleet_prefetch); NULL: none. */
    void (*prefetch)(void *ctx, const char *const *keys, size_t n_keys,
                     const char *const *practitioners, size_t n_practitioners, int64_t from,
                     int64_t to);
    void (*prefetch_clear)(void *ctx);
    /* Claims a confirmation number (SW_ERR_CONFLICT: another request has it). */
    sw_err (*confirmation_claim)(void *ctx, const char *code, const char *request_id, int ttl_s);
    /* The waitlist, oldest first. */
    sw_err (*waitlist_add)(void *ctx, struct fleet_wait *w);
    sw_err (*waitlist_remove)(void *ctx, const char *waitlist_id);
    sw_err (*waitlist_list)(void *ctx, struct fleet_wait **out, size_t *n);
};

struct store {
    const struct store_ops *ops;
    void *ctx;
};

/* The store of a Redis connection (the fleet stays the caller's). */
struct store store_of_fleet(struct fleet *f);

/* The operations; list and get wrappers clear their out parameters first. */
sw_err store_idem_note(const struct store *s, const char *request_id, const char *owner,
                       const char *note, int lease_s);
sw_err store_guard(const struct store *s, const char *request_id, const char *owner, int64_t fence,
                   int need_ms, const char *const *locks, size_t n_locks);
sw_err store_lock(const struct store *s, const char *name, const char *owner, int ttl_ms);
sw_err store_unlock(const struct store *s, const char *name, const char *owner);
sw_err store_hold_place(const struct store *s, struct fleet_hold *h, int ttl_s);
sw_err store_hold_get(const struct store *s, const char *hold_id, struct fleet_hold *out);
sw_err store_hold_release(const struct store *s, const char *hold_id);
sw_err store_holds_list(const struct store *s, const char *practitioner_id, int64_t from,
                        int64_t to, struct fleet_hold **out, size_t *n);
sw_err store_kv_get(const struct store *s, const char *key, char **value);
sw_err store_kv_put(const struct store *s, const char *key, const char *value, int ttl_s);
sw_err store_kv_del(const struct store *s, const char *key);
sw_err store_kv_del_if(const struct store *s, const char *key, const char *value);
void store_prefetch(const struct store *s, const char *const *keys, size_t n_keys,
                    const char *const *practitioners, size_t n_practitioners, int64_t from,
                    int64_t to);
void store_prefetch_clear(const struct store *s);
sw_err store_confirmation_claim(const struct store *s, const char *code, const char *request_id,
                                int ttl_s);
sw_err store_waitlist_add(const struct store *s, struct fleet_wait *w);
sw_err store_waitlist_remove(const struct store *s, const char *waitlist_id);
sw_err store_waitlist_list(const struct store *s, struct fleet_wait **out, size_t *n);

#endif
