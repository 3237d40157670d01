/* slots.h - busy time and free slots of practitioners, shared by the
 * search, hold and book handlers.
 *
 * A practitioner's busy time per local day comes from the fleet's slot
 * cache (daycache.h) where fresh and from OpenEMR for the rest; while
 * OpenEMR is unavailable a stale cached day is used and the answer marked
 * stale.  Other calls' live holds block time like appointments; the
 * patient's own appointments (with anyone) block theirs. */
#ifndef SW_SLOTS_H
#define SW_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "availability.h"
#include "command.h"
#include "timeutil.h"
#include "worker.h"

/* Most candidate slots one search collects over all its practitioners. */
#define SLOTS_MAX_CANDIDATES 200000

/* What a slot search is for: the type, and whose holds and appointments
 * do not count against it. */
struct slot_query {
    const struct sw_type_rule *type;
    const char *session_id; /* its own holds do not block ("" none) */
    const char *patient_id; /* its appointments block ("" none) */
};

/* Every free slot of the practitioners in [from, to), appended to *slots
 * (malloc'd) and sorted; slot tags index practs.  *stale is set when a
 * stale cached day had to stand in for OpenEMR. */
sw_err slots_in_range(const struct worker *w, const struct slot_query *q, struct oe_call *call,
                      char (*practs)[64], size_t n_practs, int64_t from, int64_t to, int64_t now,
                      struct av_slot **slots, size_t *n, bool *stale);

/* Fetches days [first, first + n) of pract from OpenEMR (one request) and
 * puts each in the fleet's slot cache: the warmer's refresh ahead of
 * demand. */
sw_err slots_refresh_days(const struct worker *w, struct oe_call *call, const char *pract,
                          struct tu_date first, int n, int64_t now);

/* Reads the patient's own appointments over [from, to) from OpenEMR (one
 * request) into the fleet's cache, as a search with that patient would:
 * the warmer's read-ahead for a caller just found. */
sw_err slots_refresh_patient(const struct worker *w, struct oe_call *call, const char *patient,
                             int64_t from, int64_t to, int64_t now);

/* A free slot as the result carries it (with its slot_id). */
void slots_to_result(const struct av_slot *s, const char *pract, const char *type,
                     struct res_slot *out);

/* Up to 3 free slots of pract from the day of `around` on, for a conflict
 * answer; r->slots and r->n_slots are replaced. */
sw_err slots_alternatives(const struct worker *w, struct oe_call *call, const struct slot_query *q,
                          const char *pract, int64_t around, struct result *r);

struct day_busy;
/* The practitioner's busy time over [from, to) (cache, OpenEMR for what
 * is missing); the caller clears *busy. */
sw_err slots_day_busy(const struct worker *w, struct oe_call *call, const char *pract, int64_t from,
                      int64_t to, struct day_busy *busy);

#endif
