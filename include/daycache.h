/* daycache.h - a practitioner's busy time per local day, shared by the
 * fleet (the slot cache of the seed).
 *
 * A day entry holds what availability needs and nothing else: the busy
 * intervals of appointments (widened later by the buffer), of provider
 * events (not widened), and on the FHIR scheduling surface the server's
 * free slots.  Entries are fresh for cfg->slot_cache_ttl_s; they are kept
 * six times longer so that, while OpenEMR is down (circuit open), a search
 * can still be answered from them, marked stale.  A booking, cancel or an
 * outside change found by the poller deletes the day for the whole fleet. */
#ifndef SW_DAYCACHE_H
#define SW_DAYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "availability.h"
#include "store.h"
#include "timeutil.h"

struct day_busy {
    struct av_interval *appts;
    size_t n_appts;
    struct av_interval *blocks;
    size_t n_blocks;
    bool has_free; /* server free slots known (FHIR surface) */
    struct av_interval *free;
    size_t n_free;
    int64_t fetched_at;           /* epoch seconds */
    int64_t range_from, range_to; /* patient entries: the range they cover */
};

/* Most intervals one list may hold. */
#define DAY_BUSY_MAX 100000

void day_busy_clear(struct day_busy *d);
/* Appends an interval to one of the lists; false on allocation failure. */
bool day_busy_add(struct av_interval **list, size_t *n, int64_t start, int64_t end);

/* SW_OK and *fresh (age under ttl), or SW_ERR_NOT_FOUND, or SW_ERR_REDIS. */
sw_err daycache_get(const struct store *st, const char *practitioner_id, struct tu_date day,
                    int ttl_s, int64_t now, struct day_busy *out, bool *fresh);
sw_err daycache_put(const struct store *st, const char *practitioner_id, struct tu_date day,
                    int ttl_s, const struct day_busy *d);
sw_err daycache_invalidate(const struct store *st, const char *practitioner_id, struct tu_date day);

/* The same for a patient's own appointments over a whole search (key: the
 * patient id); invalidated when that patient books or cancels. */
sw_err daycache_get_patient(const struct store *st, const char *patient_id, int ttl_s, int64_t now,
                            int64_t from, int64_t to, struct day_busy *out);
sw_err daycache_put_patient(const struct store *st, const char *patient_id, int ttl_s,
                            const struct day_busy *d);
sw_err daycache_invalidate_patient(const struct store *st, const char *patient_id);

#endif
