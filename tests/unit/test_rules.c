/* test_rules.c - every booking rule at its boundary, America/New_York. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "rules.h"
#include "timeutil.h"

static const struct sw_type_rule routine = {"routine", 60, 10, 24 * 60, 60, "Routine exam"};
static const struct sw_type_rule urgent = {"urgent", 45, 11, 120, 60, "Urgent"};

/* Monday-Friday 08:00-17:00. */
static struct sw_hours weekdays(void)
{
    struct sw_hours h = {{0}, {0}};
    for (int d = 1; d <= 5; d++) {
        h.open_min[d] = 8 * 60;
        h.close_min[d] = 17 * 60;
    }
    return h;
}

static int64_t at(const char *rfc3339)
{
    int64_t t;
    if (timeutil_parse_rfc3339(rfc3339, &t) != SW_OK)
        fail_msg("bad time in test table: %s", rfc3339);
    return t;
}

struct rule_case {
    const char *name;
    const struct sw_type_rule *type;
    const char *now;
    const char *start;
    sw_err want;
    const char *msg_has; /* substring of the message, for failures */
};

static void run_cases(const struct rule_case *cases, size_t n, const struct sw_hours *hours,
                      int slot_minutes)
{
    for (size_t i = 0; i < n; i++) {
        char msg[200] = "";
        sw_err e = rules_check_booking(cases[i].type, hours, slot_minutes, at(cases[i].now),
                                       at(cases[i].start), msg, sizeof msg);
        if (e != cases[i].want)
            fail_msg("%s: got %s want %s (%s)", cases[i].name, sw_err_str(e),
                     sw_err_str(cases[i].want), msg);
        if (cases[i].msg_has && !strstr(msg, cases[i].msg_has))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].name, msg, cases[i].msg_has);
    }
}

static void test_notice_window_hours_grid(void **state)
{
    (void)state;
    struct sw_hours h = weekdays();
    static const struct rule_case cases[] = {
        /* notice: 24 h exactly is fine, one second less is not */
        {"notice exact", &routine, "2026-06-01T09:00:00-04:00", "2026-06-02T09:00:00-04:00", SW_OK,
         NULL},
        {"notice -1s", &routine, "2026-06-01T09:00:01-04:00", "2026-06-02T09:00:00-04:00",
         SW_ERR_REJECTED, "24 hours notice"},
        {"urgent 2h", &urgent, "2026-06-01T09:00:00-04:00", "2026-06-01T11:00:00-04:00", SW_OK,
         NULL},
        {"urgent 2h -1s", &urgent, "2026-06-01T09:00:01-04:00", "2026-06-01T11:00:00-04:00",
         SW_ERR_REJECTED, "2 hours notice"},
        {"in the past", &urgent, "2026-06-01T09:00:00-04:00", "2026-05-29T11:00:00-04:00",
         SW_ERR_REJECTED, "notice"},
        /* window: exactly 60 days fine, one second more not */
        {"window exact", &routine, "2026-06-01T09:00:00-04:00", "2026-07-31T09:00:00-04:00", SW_OK,
         NULL},
        {"window +1s", &routine, "2026-06-01T08:59:59-04:00", "2026-07-31T09:00:00-04:00",
         SW_ERR_REJECTED, "at most 60 days"},
        /* 60 calendar days across fall-back: same wall time */
        {"window across DST", &routine, "2026-10-01T10:00:00-04:00", "2026-11-30T10:00:00-05:00",
         SW_OK, NULL},
        {"window across DST +1s", &routine, "2026-10-01T09:59:59-04:00",
         "2026-11-30T10:00:00-05:00", SW_ERR_REJECTED, "at most"},
        /* hours: first and last slot of the day */
        {"opening", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T08:00:00-04:00", SW_OK,
         NULL},
        {"before opening", &routine, "2026-06-01T07:00:00-04:00", "2026-06-03T07:45:00-04:00",
         SW_ERR_REJECTED, "before opening"},
        {"last slot ends at close", &routine, "2026-06-01T07:00:00-04:00",
         "2026-06-02T16:00:00-04:00", SW_OK, NULL},
        {"one grid step later", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T16:15:00-04:00",
         SW_ERR_REJECTED, "closing"},
        {"saturday", &routine, "2026-06-01T07:00:00-04:00", "2026-06-06T10:00:00-04:00",
         SW_ERR_REJECTED, "closed"},
        {"leap day", &routine, "2028-02-27T10:00:00-05:00", "2028-02-29T10:00:00-05:00", SW_OK,
         NULL},
        /* grid */
        {"on grid", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T09:15:00-04:00", SW_OK,
         NULL},
        {"off grid", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T09:10:00-04:00",
         SW_ERR_REJECTED, "15-minute grid"},
        {"off grid seconds", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T09:15:30-04:00",
         SW_ERR_REJECTED, "grid"},
        {"other offset same instant", &routine, "2026-06-01T07:00:00-04:00", "2026-06-02T13:15:00Z",
         SW_OK, NULL},
    };
    run_cases(cases, sizeof cases / sizeof cases[0], &h, 15);
}

/* Sunday hours around the DST changes: the end is start + 60 real minutes. */
static void test_dst(void **state)
{
    (void)state;
    struct sw_hours fall = {{0}, {0}}, spring = {{0}, {0}};
    fall.close_min[0] = 2 * 60;        /* Sun 00:00-02:00 */
    spring.close_min[0] = 3 * 60 + 30; /* Sun 00:00-03:30 */
    static const struct rule_case fall_cases[] = {
        /* 01:15 EDT + 60 real min = 01:15 EST, before 02:00 EST close */
        {"fall 01:15 first", &routine, "2026-10-01T00:00:00-04:00", "2026-11-01T01:15:00-04:00",
         SW_OK, NULL},
        /* the second 01:00 fits in hours but is not the first 01:00: never offered */
        {"fall 01:00 EST", &routine, "2026-10-01T00:00:00-04:00", "2026-11-01T01:00:00-05:00",
         SW_ERR_REJECTED, "grid"},
        {"fall 01:15 second", &routine, "2026-10-01T00:00:00-04:00", "2026-11-01T01:15:00-05:00",
         SW_ERR_REJECTED, "closing"},
    };
    run_cases(fall_cases, sizeof fall_cases / sizeof fall_cases[0], &fall, 15);

    static const struct rule_case spring_cases[] = {
        /* 01:30 EST + 60 real minutes = 03:30 EDT = close */
        {"spring ends at close", &routine, "2026-03-01T00:00:00-05:00", "2026-03-08T01:30:00-05:00",
         SW_OK, NULL},
        /* 01:45 EST + 60 = 03:45 EDT > close (wall arithmetic would say 02:45) */
        {"spring past close", &routine, "2026-03-01T00:00:00-05:00", "2026-03-08T01:45:00-05:00",
         SW_ERR_REJECTED, "closing"},
        /* 01:45 EST + 45 real minutes = 03:30 EDT = close */
        {"spring urgent", &urgent, "2026-03-01T00:00:00-05:00", "2026-03-08T01:45:00-05:00", SW_OK,
         NULL},
        {"spring 03:00 + 45 > close", &urgent, "2026-03-01T00:00:00-05:00",
         "2026-03-08T03:00:00-04:00", SW_ERR_REJECTED, "closing"},
    };
    run_cases(spring_cases, sizeof spring_cases / sizeof spring_cases[0], &spring, 15);
    assert_int_equal(rules_appt_end(&routine, at("2026-11-01T01:30:00-04:00")),
                     at("2026-11-01T01:30:00-05:00"));
}

static void test_invalid_and_skips(void **state)
{
    (void)state;
    struct sw_hours h = weekdays();
    struct sw_type_rule bad = routine;
    bad.duration_min = 0;
    char msg[100];
    int64_t now = at("2026-06-01T09:00:00-04:00");
    int64_t sat = at("2026-06-06T10:07:00-04:00");
    assert_int_equal(rules_check_booking(&bad, &h, 15, now, sat, msg, sizeof msg), SW_ERR_INVALID);
    assert_int_equal(rules_check_booking(NULL, &h, 15, now, sat, msg, sizeof msg), SW_ERR_INVALID);
    struct sw_hours broken = h;
    broken.close_min[6] = 1500;
    assert_int_equal(rules_check_hours(&routine, &broken, sat, msg, sizeof msg), SW_ERR_INVALID);
    /* NULL hours (server slots): only notice and window apply */
    assert_int_equal(rules_check_booking(&routine, NULL, 15, now, sat, msg, sizeof msg), SW_OK);
    /* slot 0: no grid */
    assert_int_equal(
        rules_check_booking(&routine, &h, 0, now, at("2026-06-02T09:07:00-04:00"), NULL, 0), SW_OK);
    /* day hours */
    int64_t o, c;
    assert_int_equal(rules_day_hours(&h, (struct tu_date){2026, 6, 6}, &o, &c), SW_ERR_NOT_FOUND);
    assert_int_equal(rules_day_hours(&h, (struct tu_date){2026, 6, 5}, &o, &c), SW_OK);
    assert_int_equal(c - o, 9 * 3600);
    /* a short message buffer is cut, not overrun */
    char tiny[8];
    assert_int_equal(rules_check_booking(&routine, &h, 15, now, now, tiny, sizeof tiny),
                     SW_ERR_REJECTED);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice_window_hours_grid),
        cmocka_unit_test(test_dst),
        cmocka_unit_test(test_invalid_and_skips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
