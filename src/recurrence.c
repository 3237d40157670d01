/* recurrence.c - on which dates a recurring entry falls (see recurrence.h). */
#include "recurrence.h"

#include <stddef.h>

/* Floor division, for dates before 1970 and negative month counts. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Howard Hinnant's days_from_civil, with the month normalised first and the
 * day added linearly: mktime's rule, so (2027, 2, 31) is 3 March 2027. */
int64_t recur_days(int year, int month, int day)
{
    int64_t y = (int64_t)year + floor_div((int64_t)month - 1, 12);
    int64_t m = floor_mod((int64_t)month - 1, 12) + 1;
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (int64_t)day - 1;
}

void recur_civil(int64_t day, int *year, int *month, int *mday)
{
    int64_t z = day + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)m;
    *year = (int)(yoe + era * 400 + (m <= 2));
}

int recur_weekday(int64_t day)
{
    return (int)floor_mod(day + 4, 7); /* 1970-01-01 was a Thursday */
}

static bool is_workday(int64_t day)
{
    return (RECUR_WORKWEEK >> recur_weekday(day)) & 1u;
}

/* Monday-to-Friday days in [epoch week start, day]: a running count whose
 * differences count workdays between two dates. */
static int64_t workdays_through(int64_t day)
{
    int64_t monday = day - floor_mod(day - 4, 7); /* 1970-01-05 was a Monday */
    int64_t into = day - monday;                  /* 0 = Monday .. 6 = Sunday */
    return floor_div(monday - 4, 7) * 5 + (into < 5 ? into + 1 : 5);
}

/* Months since year 0 of a day number. */
static int64_t month_index(int64_t day, int *mday)
{
    int y, m, d;
    recur_civil(day, &y, &m, &d);
    if (mday)
        *mday = d;
    return (int64_t)y * 12 + (m - 1);
}

/* RECUR_EVERY by months (a year is 12): OpenEMR steps from the last
 * occurrence with mktime, so a day past the 28th may roll over into the
 * next month once, after which the day of the month stays put. */
static bool every_months(const struct recur_rule *r, int64_t months, int64_t day)
{
    int y, m, d;
    recur_civil(r->first, &y, &m, &d);
    int64_t cur = r->first;
    /* Step while the day of the month may still roll over.  A short month
     * other than February comes within one cycle of months (12 steps); a
     * 29th rolls over in the first common-year February the steps reach,
     * within 2400 / months + 12 steps (a century year not divisible by
     * 400 comes within 200 years): past that it never rolls over. */
    for (int step = 0; d > 28 && cur < day && step < 2500; step++) {
        m += (int)months;
        cur = recur_days(y, m, d);
        recur_civil(cur, &y, &m, &d);
    }
    if (cur >= day)
        return cur == day;
    int dd;
    int64_t diff = month_index(day, &dd) - ((int64_t)y * 12 + (m - 1));
    return dd == d && diff % months == 0;
}

/* The nth (1..4, RECUR_LAST) weekday wd of the month holding month index mi. */
static int64_t nth_weekday(int64_t mi, int nth, int wd)
{
    int year = (int)floor_div(mi, 12), month = (int)floor_mod(mi, 12) + 1;
    int64_t first = recur_days(year, month, 1);
    int64_t d = first + floor_mod(wd - recur_weekday(first), 7) + 7 * (int64_t)(nth - 1);
    if (nth == RECUR_LAST && month_index(d, NULL) != mi)
        d -= 7; /* no fifth one: the fourth is the last (Date_Calc::NWeekdayOfMonth) */
    return d;
}

static bool every(const struct recur_rule *r, int64_t day)
{
    int64_t n = r->interval;
    bool anchored = r->first != RECUR_ALWAYS;
    switch (r->unit) {
    case RECUR_DAY:
        return !anchored || floor_mod(day - r->first, n) == 0;
    case RECUR_WEEK:
        return anchored && floor_mod(day - r->first, 7 * n) == 0;
    case RECUR_WORKDAY:
        if (anchored && day == r->first)
            return true; /* OpenEMR keeps the first date, whatever day it is */
        return is_workday(day) &&
               (!anchored || floor_mod(workdays_through(day) - workdays_through(r->first), n) == 0);
    case RECUR_MONTH:
        return anchored && every_months(r, n, day);
    case RECUR_YEAR:
        return anchored && every_months(r, 12 * n, day);
    }
    return false;
}

static bool nth_of_month(const struct recur_rule *r, int64_t day)
{
    int64_t mi = month_index(day, NULL);
    if (r->first != RECUR_ALWAYS && floor_mod(mi - month_index(r->first, NULL), r->interval) != 0)
        return false;
    return nth_weekday(mi, r->nth, r->weekday) == day;
}

bool recur_occurs(const struct recur_rule *r, int64_t day)
{
    if (!r || (r->first != RECUR_ALWAYS && day < r->first) || day > r->until)
        return false;
    for (int i = 0; i < r->n_except && i < RECUR_MAX_EXCEPT; i++)
        if (r->except[i] == day)
            return false;
    switch (r->kind) {
    case RECUR_ONCE:
        return day == r->first;
    case RECUR_EVERY:
        return every(r, day);
    case RECUR_NTH_WEEKDAY:
        return nth_of_month(r, day);
    case RECUR_WEEKDAYS:
        return (r->weekdays >> recur_weekday(day)) & 1u;
    }
    return false;
}

/* Does where the series starts decide its dates? */
static bool needs_first(const struct recur_rule *r)
{
    switch (r->kind) {
    case RECUR_ONCE:
        return true;
    case RECUR_EVERY:
        return r->interval > 1 || (r->unit != RECUR_DAY && r->unit != RECUR_WORKDAY);
    case RECUR_NTH_WEEKDAY:
        return r->interval > 1;
    case RECUR_WEEKDAYS:
        return false;
    }
    return true;
}

const char *recur_check(const struct recur_rule *r)
{
    if (r->interval < 1 || r->interval > 999)
        return "the interval must be 1 to 999";
    if (r->kind == RECUR_NTH_WEEKDAY &&
        (r->nth < 1 || r->nth > RECUR_LAST || r->weekday < 0 || r->weekday > 6))
        return "expected 1st, 2nd, 3rd, 4th or last, and a day sun..sat";
    if (r->kind == RECUR_WEEKDAYS && (r->weekdays == 0 || r->weekdays > 0x7fu))
        return "no day of the week";
    if (r->n_except < 0 || r->n_except > RECUR_MAX_EXCEPT)
        return "too many exception dates";
    if (r->first == RECUR_ALWAYS && needs_first(r))
        return "this repeat needs a first date (from = YYYY-MM-DD): where the series starts "
               "decides its dates";
    if (r->first != RECUR_ALWAYS && r->until < r->first)
        return "the end date comes before the first date";
    return NULL;
}
