/* recurrence.h - on which calendar dates a recurring entry falls, in the
 * forms OpenEMR's calendar offers (pure: no clock, no time zone).
 *
 * OpenEMR's API hands out a recurring event as one row on its first date
 * (src/Services/AppointmentService.php::search selects no pc_recurrtype,
 * pc_recurrspec or pc_endDate), so the worker repeats breaks and closures
 * itself, from its configuration.  The forms, as OpenEMR expands them
 * (library/appointments.inc.php::fetchEvents, ::checkEvent;
 * library/encounter_events.inc.php::__increment;
 * interface/main/calendar/add_edit_event.php;
 * src/Common/Calendar/RecurrenceSpecBuilder.php::fromRepeatForm):
 *   RECUR_EVERY        pc_recurrtype 1: every N days, weeks, months, years
 *                      or workdays (Monday to Friday), counted from the
 *                      first date.  A month or year step is OpenEMR's
 *                      mktime(month + N, day, year): a day the month lacks
 *                      rolls over into the next month (every month from
 *                      31 January: 3 March, 3 April, ... in a common year)
 *                      and the series goes on from there, as OpenEMR's
 *                      calendar shows it.
 *   RECUR_NTH_WEEKDAY  pc_recurrtype 2: the 1st..4th or last weekday of
 *                      every N months, from the first date's month (no
 *                      date before the first date).
 *   RECUR_WEEKDAYS     pc_recurrtype 3: on the given days of every week.
 *   RECUR_ONCE         pc_recurrtype 0: the first date only.
 * Every form stops after `until` (pc_endDate, inclusive) and skips the
 * exception dates (pc_recurrspec's exdate).
 *
 * Dates are day numbers: days since 1970-01-01, as timeutil_date_days(). */
#ifndef SW_RECURRENCE_H
#define SW_RECURRENCE_H

#include <stdbool.h>
#include <stdint.h>

#define RECUR_MAX_EXCEPT 16
#define RECUR_LAST       5         /* nth: the last such weekday (OpenEMR's REPEAT_ON_LAST) */
#define RECUR_ALWAYS     INT64_MIN /* first: no first date (forms that need none) */
#define RECUR_FOREVER    INT64_MAX /* until: no end */
#define RECUR_WORKWEEK   0x3eu     /* weekdays: Monday to Friday */

enum recur_kind { RECUR_ONCE, RECUR_EVERY, RECUR_NTH_WEEKDAY, RECUR_WEEKDAYS };
enum recur_unit { RECUR_DAY, RECUR_WEEK, RECUR_MONTH, RECUR_YEAR, RECUR_WORKDAY };

struct recur_rule {
    enum recur_kind kind;
    enum recur_unit unit; /* RECUR_EVERY */
    int interval;         /* every N units (RECUR_EVERY) or months (NTH_WEEKDAY), 1..999 */
    int nth;              /* RECUR_NTH_WEEKDAY: 1..4 or RECUR_LAST */
    int weekday;          /* RECUR_NTH_WEEKDAY: 0 = Sunday .. 6 */
    unsigned weekdays;    /* RECUR_WEEKDAYS: bit d for weekday d (0 = Sunday) */
    int64_t first;        /* the first date, or RECUR_ALWAYS */
    int64_t until;        /* the last possible date, or RECUR_FOREVER */
    int64_t except[RECUR_MAX_EXCEPT];
    int n_except;
};

/* Does the rule fall on this date? */
bool recur_occurs(const struct recur_rule *r, int64_t day);

/* NULL when the rule is complete and coherent, else why not (a constant
 * sentence): a form whose dates depend on where it starts needs a first
 * date (once; every N > 1 days; every week, month or year; every N > 1
 * workdays; Nth weekday of every N > 1 months), until may not come before
 * first, ranges as in struct recur_rule. */
const char *recur_check(const struct recur_rule *r);

/* Civil calendar helpers (proleptic Gregorian), the same arithmetic as
 * timeutil's: the day number of a date (no validity check: day 32 is the
 * next month's first), its weekday (0 = Sunday), and back. */
int64_t recur_days(int year, int month, int day);
int recur_weekday(int64_t day);
void recur_civil(int64_t day, int *year, int *month, int *mday);

#endif
