/* availability.h - free slots of one practitioner (pure arithmetic).
 *
 * Candidates come from working hours (struct sw_hours, the real OpenEMR
 * surface) or from the server's own free Slots (the FHIR scheduling
 * surface).  Hours mode walks the local wall clock from opening time in
 * steps of slot_minutes, skipping wall times that do not exist (spring
 * forward) and taking a repeated wall time once, at its first occurrence
 * (fall back): no hour is ever offered twice.  An appointment lasts
 * duration_min real minutes and must end by closing time.  Server mode
 * merges touching free Slots and walks each merged run from its start in
 * steps of slot_minutes; if hours is also given, the hours rule applies too.
 *
 * A candidate [start, end) is then kept only if:
 *   - it lies wholly inside the search range: from <= start, end <= to;
 *   - it obeys notice and window (rules.h): earliest <= start <= latest;
 *   - it overlaps no busy interval.  Two kinds of busy time:
 *       appts   time a patient appointment holds (booked, arrived, ...,
 *               not cancelled / no-show) AND live holds of other sessions
 *               (a hold is an appointment about to be made).  Widened by
 *               buffer_minutes on both sides: a slot ending exactly
 *               buffer minutes before an appointment is free, one minute
 *               later is not.
 *       blocks  provider events (lunch, vacation, meeting, out of office),
 *               clinic-wide days (Holidays, Closed), the configured
 *               breaks and closures of the practitioner (break.*, see
 *               rules.h: OpenEMR hands out a recurring event only on its
 *               first date) and the patient's own appointments with
 *               anyone.  Taken
 *               as-is: the buffer is rest between two patients, so a visit
 *               may end when lunch starts, and the patient needs only not
 *               to be in two places at once.
 *   Intervals are half-open; touching is not overlapping.
 *
 * Memory: avail_compute returns a malloc'd array the caller frees with
 * free(); at most AVAIL_MAX_SLOTS slots (the earliest ones) are returned.
 * The other functions allocate at most a temporary array they free. */
#ifndef SW_AVAILABILITY_H
#define SW_AVAILABILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"

#define AVAIL_MAX_SLOTS 20000
#define AVAIL_MAX_DAYS  400

struct av_interval {
    int64_t start, end; /* epoch seconds, [start, end) */
};

struct av_slot {
    int64_t start, end;
    int tag; /* copied from av_request.tag: e.g. the practitioner's index */
};

struct av_request {
    int tag;
    const struct sw_type_rule *type; /* duration, notice, window */
    const struct sw_hours *hours;    /* required unless use_server_free */
    int slot_minutes;                /* > 0 */
    int buffer_minutes;              /* >= 0 */
    int64_t now;
    int64_t from, to; /* search range */

    const struct av_interval *appts; /* widened by the buffer */
    size_t n_appts;
    const struct av_interval *blocks; /* not widened */
    size_t n_blocks;
    /* Configured breaks and closures: those of cfg (NULL: none) that
     * concern practitioner_id (rules_breaks_each), blocks too. */
    const struct sw_config *cfg;
    const char *practitioner_id;

    bool use_server_free; /* FHIR scheduling surface */
    const struct av_interval *server_free;
    size_t n_server_free;
};

/* Every free slot of the request, sorted by start.  *out is malloc'd (NULL
 * when *n is 0) and owned by the caller.  SW_ERR_INVALID for a malformed
 * request (no type, slot_minutes <= 0, to < from, more than AVAIL_MAX_DAYS
 * days of hours). */
sw_err avail_compute(const struct av_request *req, struct av_slot **out, size_t *n);

/* The first free slot starting at or after req->to, up to the booking
 * window: for `next_available` when a search range is empty.  The busy
 * lists of req must cover that longer stretch.  SW_ERR_NOT_FOUND if none. */
sw_err avail_next(const struct av_request *req, struct av_slot *out);

/* Whether [start, start + duration) is clear of req's busy time (buffer
 * included); ignores hours, range, notice and window (see rules.h).  For
 * the check right before a booking.  SW_OK or SW_ERR_CONFLICT, with the
 * first clashing busy interval (unwidened) in *clash (may be NULL). */
sw_err avail_check_free(const struct av_request *req, int64_t start, struct av_interval *clash);

/* Sorts by (start, tag). */
void avail_sort(struct av_slot *slots, size_t n);

/* Picks up to limit slots from in (sorted by start) spread across days:
 *   1. slots are grouped by the local date of their start;
 *   2. in rounds, each day in date order gives its earliest slot not yet
 *      picked that does not overlap a slot already picked from that day
 *      (round 1: the first slot of every day; round 2: the next
 *      non-overlapping one of every day; ...), until limit is reached;
 *   3. when a round adds nothing, the earliest slots not yet picked fill
 *      the rest;
 *   4. the picks are returned sorted by (start, tag).
 * With several practitioners, concatenate their slots and avail_sort them
 * first.  Returns the number written to out (cap limit). */
size_t avail_select(const struct av_slot *in, size_t n, size_t limit, struct av_slot *out);

#endif
