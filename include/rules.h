/* rules.h - the clinic's booking rules for one requested start (pure).
 *
 * Every check takes `now` from the caller and reads no clock.  Times are
 * epoch seconds; "local" means the process time zone (see timeutil.h).
 *
 * Boundaries (all inclusive of the limit):
 *   notice  start >= now + min_notice_min * 60        (real seconds)
 *   window  start <= now + max_window_days calendar days, same local wall
 *           time (timeutil_add_local_days), so "60 days" means the same
 *           clock time 60 days on, even across a DST change
 *   hours   open <= start and start + duration_min * 60 <= close, where
 *           open and close are that local day's opening hours as instants:
 *           the end is counted in real minutes, so a 60-minute appointment
 *           across a DST change is 60 real minutes
 *   grid    the start's local wall time is open + k * slot_minutes, whole
 *           minute, and the first occurrence of that wall time (the second
 *           01:30 of a fall-back day is not on the grid)
 *
 * Errors: SW_ERR_REJECTED for a clinic rule (notice, window, hours, grid),
 * SW_ERR_INVALID for malformed input (a NULL rule, a non-positive
 * duration).  A sentence the agent could say goes into msg. */
#ifndef SW_RULES_H
#define SW_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"
#include "timeutil.h"

/* The end of an appointment of this type starting at start. */
int64_t rules_appt_end(const struct sw_type_rule *type, int64_t start);

/* Earliest and latest allowed start for a booking made at now. */
sw_err rules_earliest_start(const struct sw_type_rule *type, int64_t now, int64_t *out);
sw_err rules_latest_start(const struct sw_type_rule *type, int64_t now, int64_t *out);
/* The end of the booking window at now: the end of an appointment at the
 * latest allowed start. */
sw_err rules_window_end(const struct sw_type_rule *type, int64_t now, int64_t *out);

sw_err rules_check_notice(const struct sw_type_rule *type, int64_t now, int64_t start, char *msg,
                          size_t msglen);
sw_err rules_check_window(const struct sw_type_rule *type, int64_t now, int64_t start, char *msg,
                          size_t msglen);
sw_err rules_check_hours(const struct sw_type_rule *type, const struct sw_hours *hours,
                         int64_t start, char *msg, size_t msglen);
sw_err rules_check_grid(const struct sw_hours *hours, int slot_minutes, int64_t start, char *msg,
                        size_t msglen);

/* Opening and closing instants of a local day per hours (SW_ERR_NOT_FOUND
 * when closed that weekday). */
sw_err rules_day_hours(const struct sw_hours *hours, struct tu_date d, int64_t *open,
                       int64_t *close);

/* Every rule above, in that order; the first broken one is reported.
 * hours NULL skips the hours and grid checks (the FHIR scheduling surface,
 * whose own Slots define working time); slot_minutes 0 skips the grid. */
sw_err rules_check_booking(const struct sw_type_rule *type, const struct sw_hours *hours,
                           int slot_minutes, int64_t now, int64_t start, char *msg, size_t msglen);

/* ---- configured breaks and closures (break.*, config.h) ----
 *
 * A break falls on a local date when its recurrence does (recurrence.h);
 * that day it lasts from its start to its end wall time, as instants: a
 * wall time in a spring-forward gap is the instant the gap ends (as opening
 * hours), a repeated one its first occurrence (so a break over the
 * fall-back hour covers both), all day is the whole local day. */

/* Does b concern this practitioner (a clinic-wide break concerns all)? */
bool rules_break_applies(const struct sw_break *b, const char *practitioner_id);

/* b's occurrence on date d as [*start, *end); SW_ERR_NOT_FOUND if b does
 * not fall on d. */
sw_err rules_break_on(const struct sw_break *b, struct tu_date d, int64_t *start, int64_t *end);

/* Calls each(arg, start, end, b) for every occurrence of a break of the
 * practitioner that overlaps [from, to), date by date and in the
 * configuration's order within a date; stops at the first
 * error each returns (and returns it). */
typedef sw_err (*rules_break_fn)(void *arg, int64_t start, int64_t end, const struct sw_break *b);
sw_err rules_breaks_each(const struct sw_config *cfg, const char *practitioner_id, int64_t from,
                         int64_t to, rules_break_fn each, void *arg);

/* SW_ERR_REJECTED when [start, end) overlaps a break of the practitioner
 * (msg names it), SW_OK otherwise. */
sw_err rules_check_breaks(const struct sw_config *cfg, const char *practitioner_id, int64_t start,
                          int64_t end, char *msg, size_t msglen);

/* The configured type of an existing appointment: by its type name (may be
 * NULL or ""), else by category and length, else by length alone; NULL
 * when none fits. */
const struct sw_type_rule *rules_type_of(const struct sw_config *cfg, const char *type_name,
                                         int category, int64_t duration_s);

#endif
