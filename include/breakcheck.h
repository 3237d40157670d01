/* breakcheck.h - provider events in OpenEMR that the configuration does
 * not explain.
 *
 * OpenEMR repeats In Office (2), Out Of Office (3), Lunch (8) and Reserved
 * (11) events by default (sql/database.sql: pc_recurrtype 1), but its API
 * hands out a recurring event only on its first date; the worker takes the
 * later ones from clinic.hours, practitioner.ID.hours and break.*.  When
 * OpenEMR's rows say otherwise (a Lunch row at a time no break covers, an
 * In Office marker at another hour than the practitioner's opening), the
 * two disagree and the worker may offer time the clinic thinks is taken.
 * The poller runs this check over the rows it reads anyway and logs and
 * counts what it finds (metrics_unexplained_events), so an operator learns
 * of it.  A row is explained when:
 *   In Office      the practitioner's hours open at its wall time that day;
 *   Out Of Office  they close then;
 *   Lunch, Reserved  a break of the practitioner (or the clinic) whose
 *                  category is the row's (or 0) falls on that date and
 *                  covers the row.
 * Other rows (patients' appointments, vacations, clinic-wide Holidays and
 * Closed days, cancelled rows) need no explaining: the worker reads them
 * and keeps their time busy as they are. */
#ifndef SW_BREAKCHECK_H
#define SW_BREAKCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "emr.h"

#define BREAKCHECK_MAX_REMEMBERED 256

/* What one check found, and which rows were unexplained (so the next check
 * logs only the new ones).  Zero it before the first check. */
struct breakcheck {
    int checked;     /* rows of the categories above */
    int unexplained; /* of those */
    int newly;       /* of those, not unexplained at the previous check */
    char seen[BREAKCHECK_MAX_REMEMBERED][64];
    size_t n_seen;
};

/* Why the row is unexplained (a constant sentence), or NULL when the
 * configuration explains it or it needs no explaining. */
const char *breakcheck_why(const struct sw_config *cfg, const struct oe_appt *row);

/* Checks rows (as list_range gives them), logs each unexplained row that
 * was not unexplained at the previous check (warn), and fills st. */
void breakcheck_rows(const struct sw_config *cfg, const struct oe_appt *rows, size_t n,
                     struct breakcheck *st);

#endif
