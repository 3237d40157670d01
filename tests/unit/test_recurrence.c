/* test_recurrence.c - OpenEMR's recurrence forms on calendar dates: month
 * ends, leap years, last weekdays, workdays, end dates and exceptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "recurrence.h"

/* "YYYY-MM-DD" -> day number (the test's own parse: recur_days is under test). */
static int64_t D(const char *s)
{
    int y, m, d;
    if (sscanf(s, "%d-%d-%d", &y, &m, &d) != 3)
        fail_msg("bad date in test: %s", s);
    return recur_days(y, m, d);
}

static struct recur_rule rule(enum recur_kind kind, enum recur_unit unit, int interval,
                              const char *first)
{
    struct recur_rule r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.unit = unit;
    r.interval = interval;
    r.first = first ? D(first) : RECUR_ALWAYS;
    r.until = RECUR_FOREVER;
    return r;
}

/* Each date of yes falls on r, each of no does not. */
static void expect(const char *what, const struct recur_rule *r, const char *const *yes,
                   const char *const *no)
{
    for (; yes && *yes; yes++)
        if (!recur_occurs(r, D(*yes)))
            fail_msg("%s: %s should be a date of the series", what, *yes);
    for (; no && *no; no++)
        if (recur_occurs(r, D(*no)))
            fail_msg("%s: %s should not be a date of the series", what, *no);
}

static void test_civil_calendar(void **state)
{
    (void)state;
    assert_int_equal(recur_days(1970, 1, 1), 0);
    assert_int_equal(recur_days(1969, 12, 31), -1);
    assert_int_equal(recur_days(2026, 12, 2), 20789);
    assert_int_equal(recur_days(2028, 2, 29), 21243);
    assert_int_equal(recur_days(2000, 2, 29), 11016);
    assert_int_equal(recur_days(2100, 3, 1), 47541); /* 2100 is no leap year */
    /* mktime's rule: a day or month past the end rolls over */
    assert_int_equal(recur_days(2027, 2, 31), recur_days(2027, 3, 3));
    assert_int_equal(recur_days(2028, 2, 31), recur_days(2028, 3, 2));
    assert_int_equal(recur_days(2026, 13, 1), recur_days(2027, 1, 1));
    assert_int_equal(recur_days(2026, 0, 1), recur_days(2025, 12, 1));
    assert_int_equal(recur_weekday(D("2026-12-02")), 3); /* Wednesday */
    assert_int_equal(recur_weekday(D("1969-12-31")), 3);
    assert_int_equal(recur_weekday(D("2028-02-29")), 2);
    for (int64_t d = D("1899-12-25"); d < D("2101-01-10"); d += 17) {
        int y, m, md;
        recur_civil(d, &y, &m, &md);
        assert_int_equal(recur_days(y, m, md), d);
        assert_true(m >= 1 && m <= 12 && md >= 1 && md <= 31);
    }
}

static void test_every_n_days_and_weeks(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_EVERY, RECUR_DAY, 1, NULL);
    expect("every day", &r, (const char *[]){"1969-12-31", "2026-12-05", "2028-02-29", NULL}, NULL);
    r = rule(RECUR_EVERY, RECUR_DAY, 3, "2026-02-27");
    expect("every 3 days", &r, (const char *[]){"2026-02-27", "2026-03-02", "2028-02-29", NULL},
           (const char *[]){"2026-02-24", "2026-02-28", "2026-03-01", "2026-03-03", NULL});
    r = rule(RECUR_EVERY, RECUR_WEEK, 1, "2026-12-01");
    expect("every week (Tuesdays)", &r,
           (const char *[]){"2026-12-01", "2026-12-29", "2027-01-05", NULL},
           (const char *[]){"2026-11-24", "2026-12-02", "2026-12-31", NULL});
    r = rule(RECUR_EVERY, RECUR_WEEK, 2, "2026-12-01");
    expect("every 2 weeks", &r, (const char *[]){"2026-12-15", "2026-12-29", NULL},
           (const char *[]){"2026-12-08", "2026-12-22", NULL});
}

static void test_every_workday(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_EVERY, RECUR_WORKDAY, 1, NULL);
    expect("every workday", &r,
           (const char *[]){"2026-11-30", "2026-12-02", "2026-12-04", "2028-02-29", NULL},
           (const char *[]){"2026-12-05", "2026-12-06", "2026-11-01", NULL});
    /* OpenEMR keeps the first date even on a weekend, then steps over them */
    r = rule(RECUR_EVERY, RECUR_WORKDAY, 1, "2026-12-05");
    expect("every workday from a Saturday", &r, (const char *[]){"2026-12-05", "2026-12-07", NULL},
           (const char *[]){"2026-12-04", "2026-12-06", "2026-12-12", NULL});
    r = rule(RECUR_EVERY, RECUR_WORKDAY, 2, "2026-12-03"); /* Thursday */
    expect("every 2 workdays", &r,
           (const char *[]){"2026-12-03", "2026-12-07", "2026-12-09", "2026-12-11", "2026-12-15",
                            NULL},
           (const char *[]){"2026-12-04", "2026-12-05", "2026-12-06", "2026-12-08", "2026-12-14",
                            NULL});
}

static void test_every_month_and_year_at_month_ends(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_EVERY, RECUR_MONTH, 1, "2026-01-15");
    expect("every month on the 15th", &r,
           (const char *[]){"2026-01-15", "2026-02-15", "2030-07-15", NULL},
           (const char *[]){"2025-12-15", "2026-02-14", "2026-02-16", NULL});
    /* 31 January: February has no 31st, so mktime makes it 3 March (2 March
     * in a leap year), and OpenEMR goes on from there. */
    r = rule(RECUR_EVERY, RECUR_MONTH, 1, "2027-01-31");
    expect("every month from 31 Jan 2027", &r,
           (const char *[]){"2027-01-31", "2027-03-03", "2027-04-03", "2028-01-03", NULL},
           (const char *[]){"2027-02-28", "2027-03-31", "2027-04-30", "2027-03-02", NULL});
    r = rule(RECUR_EVERY, RECUR_MONTH, 1, "2028-01-31");
    expect("every month from 31 Jan 2028 (leap)", &r,
           (const char *[]){"2028-03-02", "2028-04-02", NULL},
           (const char *[]){"2028-02-29", "2028-03-03", NULL});
    r = rule(RECUR_EVERY, RECUR_MONTH, 2, "2027-01-31");
    expect("every 2 months from 31 Jan", &r,
           (const char *[]){"2027-03-31", "2027-05-31", "2027-07-31", "2027-10-01", "2027-12-01",
                            NULL},
           (const char *[]){"2027-09-30", "2027-11-01", "2027-02-28", NULL});
    r = rule(RECUR_EVERY, RECUR_YEAR, 1, "2028-02-29");
    expect("every year from a leap day", &r,
           (const char *[]){"2028-02-29", "2029-03-01", "2030-03-01", "2032-03-01", NULL},
           (const char *[]){"2029-02-28", "2032-02-29", "2027-03-01", NULL});
    r = rule(RECUR_EVERY, RECUR_YEAR, 1, "2026-12-25");
    expect("every year on 25 Dec", &r, (const char *[]){"2027-12-25", "2100-12-25", NULL},
           (const char *[]){"2027-12-24", "2025-12-25", NULL});
    /* leap days every 4 years until 2100, which is no leap year */
    r = rule(RECUR_EVERY, RECUR_MONTH, 48, "2004-02-29");
    expect("every 48 months from 29 Feb 2004", &r,
           (const char *[]){"2008-02-29", "2096-02-29", "2100-03-01", "2104-03-01", NULL},
           (const char *[]){"2100-02-28", "2104-02-28", "2100-03-02", NULL});
    r = rule(RECUR_EVERY, RECUR_YEAR, 1, "1900-01-31"); /* thousands of years on */
    expect("every year on 31 Jan since 1900", &r, (const char *[]){"9000-01-31", NULL},
           (const char *[]){"9000-02-03", NULL});
    r = rule(RECUR_EVERY, RECUR_YEAR, 1, "2026-01-31"); /* January always has a 31st */
    expect("every year on 31 Jan", &r, (const char *[]){"2099-01-31", NULL},
           (const char *[]){"2099-02-01", "2099-02-03", NULL});
}

static void test_nth_and_last_weekday(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_NTH_WEEKDAY, RECUR_DAY, 1, NULL);
    r.nth = 2;
    r.weekday = 2; /* Tuesday */
    expect("2nd Tuesday", &r, (const char *[]){"2026-12-08", "2027-02-09", "2028-02-08", NULL},
           (const char *[]){"2026-12-01", "2026-12-15", "2027-02-02", NULL});
    r.nth = RECUR_LAST;
    expect("last Tuesday", &r,
           (const char *[]){"2026-12-29", "2027-02-23", "2028-02-29", "2026-03-31", NULL},
           (const char *[]){"2026-12-22", "2028-02-22", "2026-03-24", NULL});
    r.nth = 4;
    expect("4th Tuesday (not the last one)", &r, (const char *[]){"2026-03-24", NULL},
           (const char *[]){"2026-03-31", NULL});
    r = rule(RECUR_NTH_WEEKDAY, RECUR_DAY, 3, "2026-01-30");
    r.nth = RECUR_LAST;
    r.weekday = 5; /* Friday */
    expect("last Friday of every 3 months", &r,
           (const char *[]){"2026-01-30", "2026-04-24", "2026-07-31", "2027-01-29", NULL},
           (const char *[]){"2026-02-27", "2026-03-27", "2025-10-31", NULL});
    r = rule(RECUR_NTH_WEEKDAY, RECUR_DAY, 12, "2026-11-26");
    r.nth = 4;
    r.weekday = 4; /* Thursday: Thanksgiving */
    expect("4th Thursday of every 12 months", &r,
           (const char *[]){"2026-11-26", "2027-11-25", NULL},
           (const char *[]){"2027-11-18", "2026-12-24", NULL});
    /* no date before the first date, even in its month */
    r = rule(RECUR_NTH_WEEKDAY, RECUR_DAY, 1, "2026-12-10");
    r.nth = 1;
    r.weekday = 2;
    expect("1st Tuesday from 10 Dec", &r, (const char *[]){"2027-01-05", NULL},
           (const char *[]){"2026-12-01", NULL});
}

static void test_days_of_week_end_and_exceptions(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_WEEKDAYS, RECUR_DAY, 1, NULL);
    r.weekdays = (1u << 1) | (1u << 3) | (1u << 5);
    expect("mon, wed, fri", &r, (const char *[]){"2026-11-30", "2026-12-02", "2026-12-04", NULL},
           (const char *[]){"2026-12-01", "2026-12-03", "2026-12-05", "2026-12-06", NULL});
    r.first = D("2026-12-02");
    r.until = D("2026-12-14");
    r.except[0] = D("2026-12-09");
    r.except[1] = D("2026-12-11");
    r.n_except = 2;
    expect("with first, end and exceptions", &r,
           (const char *[]){"2026-12-02", "2026-12-04", "2026-12-07", "2026-12-14", NULL},
           (const char *[]){"2026-11-30", "2026-12-09", "2026-12-11", "2026-12-16", NULL});
    r = rule(RECUR_ONCE, RECUR_DAY, 1, "2026-12-25");
    expect("once", &r, (const char *[]){"2026-12-25", NULL},
           (const char *[]){"2026-12-24", "2027-12-25", NULL});
    r.except[0] = D("2026-12-25");
    r.n_except = 1;
    expect("once, excepted", &r, NULL, (const char *[]){"2026-12-25", NULL});
}

static void test_check(void **state)
{
    (void)state;
    struct recur_rule r = rule(RECUR_EVERY, RECUR_DAY, 1, NULL);
    assert_null(recur_check(&r));
    r = rule(RECUR_EVERY, RECUR_WORKDAY, 1, NULL);
    assert_null(recur_check(&r));
    r = rule(RECUR_EVERY, RECUR_WEEK, 1, NULL);
    assert_non_null(strstr(recur_check(&r), "first date"));
    r = rule(RECUR_EVERY, RECUR_DAY, 2, NULL);
    assert_non_null(recur_check(&r));
    r = rule(RECUR_EVERY, RECUR_MONTH, 1, NULL);
    assert_non_null(recur_check(&r));
    r = rule(RECUR_ONCE, RECUR_DAY, 1, NULL);
    assert_non_null(recur_check(&r));
    r = rule(RECUR_EVERY, RECUR_DAY, 0, "2026-01-01");
    assert_non_null(recur_check(&r));
    r = rule(RECUR_EVERY, RECUR_DAY, 1, "2026-01-01");
    r.until = D("2025-12-31");
    assert_non_null(strstr(recur_check(&r), "end date"));
    r = rule(RECUR_NTH_WEEKDAY, RECUR_DAY, 1, NULL);
    r.nth = 6;
    assert_non_null(recur_check(&r));
    r.nth = RECUR_LAST;
    r.weekday = 0;
    assert_null(recur_check(&r));
    r.interval = 2;
    assert_non_null(recur_check(&r)); /* every 2 months: from when? */
    r = rule(RECUR_WEEKDAYS, RECUR_DAY, 1, NULL);
    assert_non_null(recur_check(&r)); /* no day */
    assert_false(recur_occurs(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_calendar),
        cmocka_unit_test(test_every_n_days_and_weeks),
        cmocka_unit_test(test_every_workday),
        cmocka_unit_test(test_every_month_and_year_at_month_ends),
        cmocka_unit_test(test_nth_and_last_weekday),
        cmocka_unit_test(test_days_of_week_end_and_exceptions),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
