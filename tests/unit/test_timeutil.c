/* test_timeutil.c - RFC 3339, dates, and wall times across DST in
 * America/New_York (2026-03-08 spring forward, 2026-11-01 fall back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "timeutil.h"

static void test_rfc3339_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        sw_err want;
        int64_t epoch;
    } cases[] = {
        {"2026-03-08T03:00:00-04:00", SW_OK, 1772953200},
        {"2026-03-08T07:00:00Z", SW_OK, 1772953200},
        {"2026-03-08t07:00:00z", SW_OK, 1772953200},
        {"2026-03-08T07:00:00+00:00", SW_OK, 1772953200},
        {"2026-03-08T07:00:00-00:00", SW_OK, 1772953200},
        {"2026-03-08T12:30:00+05:30", SW_OK, 1772953200},
        {"2026-03-08T07:00:00.999Z", SW_OK, 1772953200},
        {"2026-03-08T07:00:00.5-00:00", SW_OK, 1772953200},
        {"1970-01-01T00:00:00Z", SW_OK, 0},
        {"2028-02-29T00:00:00Z", SW_OK, 1835395200},
        {"2026-12-31T23:59:59Z", SW_OK, 1798761599},
        {"2026-03-08T07:00:00", SW_ERR_INVALID, 0},        /* no offset */
        {"2026-02-30T10:00:00Z", SW_ERR_INVALID, 0},       /* no such day */
        {"2027-02-29T10:00:00Z", SW_ERR_INVALID, 0},       /* not a leap year */
        {"2026-13-01T10:00:00Z", SW_ERR_INVALID, 0},       /* month 13 */
        {"2026-00-10T10:00:00Z", SW_ERR_INVALID, 0},       /* month 0 */
        {"2026-04-31T10:00:00Z", SW_ERR_INVALID, 0},       /* April has 30 */
        {"2026-03-08T25:00:00Z", SW_ERR_INVALID, 0},       /* hour 25 */
        {"2026-03-08T24:00:00Z", SW_ERR_INVALID, 0},       /* hour 24 */
        {"2026-03-08T10:60:00Z", SW_ERR_INVALID, 0},       /* minute 60 */
        {"2026-03-08T10:00:60Z", SW_ERR_INVALID, 0},       /* leap second */
        {"2026-03-08T10:00Z", SW_ERR_INVALID, 0},          /* no seconds */
        {"2026-03-08 10:00:00Z", SW_ERR_INVALID, 0},       /* space */
        {"2026-3-08T10:00:00Z", SW_ERR_INVALID, 0},        /* short month */
        {"2026-03-08T10:00:00+0500", SW_ERR_INVALID, 0},   /* offset without colon */
        {"2026-03-08T10:00:00+05", SW_ERR_INVALID, 0},     /* short offset */
        {"2026-03-08T10:00:00+24:00", SW_ERR_INVALID, 0},  /* offset hour */
        {"2026-03-08T10:00:00+05:60", SW_ERR_INVALID, 0},  /* offset minute */
        {"2026-03-08T10:00:00.Z", SW_ERR_INVALID, 0},      /* empty fraction */
        {"2026-03-08T10:00:00Z ", SW_ERR_INVALID, 0},      /* trailing space */
        {"2026-03-08T10:00:00+05:00x", SW_ERR_INVALID, 0}, /* trailing junk */
        {"", SW_ERR_INVALID, 0},
        {"0000-01-01T00:00:00Z", SW_ERR_INVALID, 0},  /* year 0 */
        {"２026-03-08T10:00:00Z", SW_ERR_INVALID, 0}, /* non-ASCII digit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = -1;
        sw_err e = timeutil_parse_rfc3339(cases[i].in, &t);
        if (e != cases[i].want)
            fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].in, e, cases[i].want);
        if (e == SW_OK && t != cases[i].epoch)
            fail_msg("case %zu \"%s\": got %lld want %lld", i, cases[i].in, (long long)t,
                     (long long)cases[i].epoch);
    }
    int64_t t;
    assert_int_equal(timeutil_parse_rfc3339(NULL, &t), SW_ERR_INVALID);
}

static void test_rfc3339_format(void **state)
{
    (void)state;
    static const struct {
        const char *utc;
        const char *local;
    } cases[] = {
        {"2026-03-08T06:59:59Z", "2026-03-08T01:59:59-05:00"}, /* last EST second */
        {"2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00"}, /* first EDT second */
        {"2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00"}, /* 01:30 first time */
        {"2026-11-01T06:30:00Z", "2026-11-01T01:30:00-05:00"}, /* 01:30 second time */
        {"2026-07-01T16:00:00Z", "2026-07-01T12:00:00-04:00"},
        {"2026-01-15T05:00:00Z", "2026-01-15T00:00:00-05:00"},
        {"2028-02-29T17:00:00Z", "2028-02-29T12:00:00-05:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t, back;
        char buf[TIMEUTIL_RFC3339_LEN];
        assert_int_equal(timeutil_parse_rfc3339(cases[i].utc, &t), SW_OK);
        assert_int_equal(timeutil_format_rfc3339(t, buf, sizeof buf), SW_OK);
        assert_string_equal(buf, cases[i].local);
        assert_int_equal(timeutil_parse_rfc3339(buf, &back), SW_OK);
        assert_int_equal(back, t);
    }
    char small[TIMEUTIL_RFC3339_LEN - 1];
    assert_int_equal(timeutil_format_rfc3339(0, small, sizeof small), SW_ERR_INVALID);
}

static void test_parse_date(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        sw_err want;
    } cases[] = {
        {"2028-02-29", SW_OK},           {"2027-02-29", SW_ERR_INVALID},
        {"2000-02-29", SW_OK},           {"1900-02-29", SW_ERR_INVALID},
        {"2026-12-31", SW_OK},           {"2026-12-32", SW_ERR_INVALID},
        {"2026-02-30", SW_ERR_INVALID},  {"2026-1-01", SW_ERR_INVALID},
        {"2026-01-01 ", SW_ERR_INVALID}, {"2026/01/01", SW_ERR_INVALID},
        {"20260101", SW_ERR_INVALID},    {"", SW_ERR_INVALID},
        {"+026-01-01", SW_ERR_INVALID},  {"2026-01-0a", SW_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tu_date d;
        sw_err e = timeutil_parse_date(cases[i].in, &d);
        if (e != cases[i].want)
            fail_msg("case \"%s\": got %d", cases[i].in, e);
        if (e == SW_OK) {
            char buf[TIMEUTIL_DATE_LEN];
            assert_int_equal(timeutil_format_date(d, buf, sizeof buf), SW_OK);
            assert_string_equal(buf, cases[i].in);
        }
    }
}

static void test_date_arith(void **state)
{
    (void)state;
    struct tu_date d = {2028, 2, 28};
    struct tu_date n = timeutil_date_add(d, 1);
    assert_int_equal(n.month, 2);
    assert_int_equal(n.day, 29);
    n = timeutil_date_add(d, 2);
    assert_int_equal(n.month, 3);
    assert_int_equal(n.day, 1);
    n = timeutil_date_add((struct tu_date){2026, 1, 1}, -1);
    assert_int_equal(n.year, 2025);
    assert_int_equal(n.month, 12);
    assert_int_equal(n.day, 31);
    /* weekdays: 0 = Sunday */
    assert_int_equal(timeutil_date_weekday((struct tu_date){2026, 3, 8}), 0);
    assert_int_equal(timeutil_date_weekday((struct tu_date){2026, 11, 2}), 1);
    assert_int_equal(timeutil_date_weekday((struct tu_date){1970, 1, 1}), 4);
    assert_int_equal(timeutil_date_weekday((struct tu_date){1969, 12, 31}), 3);
    assert_int_equal(timeutil_date_weekday((struct tu_date){2028, 2, 29}), 2);
    assert_int_equal(timeutil_date_cmp((struct tu_date){2026, 3, 8}, (struct tu_date){2026, 3, 9}),
                     -1);
}

/* Wall times on both DST days: the gap is an error, the repeated hour is its
 * first occurrence, bounds snap to the end of the gap. */
static void test_local_to_epoch(void **state)
{
    (void)state;
    static const struct {
        struct tu_date d;
        int hh, mm;
        sw_err want;
        const char *expect; /* exact */
        const char *bound;  /* timeutil_local_bound */
    } cases[] = {
        {{2026, 3, 8}, 1, 59, SW_OK, "2026-03-08T01:59:00-05:00", "2026-03-08T01:59:00-05:00"},
        {{2026, 3, 8}, 2, 0, SW_ERR_INVALID, NULL, "2026-03-08T03:00:00-04:00"},
        {{2026, 3, 8}, 2, 30, SW_ERR_INVALID, NULL, "2026-03-08T03:00:00-04:00"},
        {{2026, 3, 8}, 2, 59, SW_ERR_INVALID, NULL, "2026-03-08T03:00:00-04:00"},
        {{2026, 3, 8}, 3, 0, SW_OK, "2026-03-08T03:00:00-04:00", "2026-03-08T03:00:00-04:00"},
        {{2026, 11, 1}, 0, 59, SW_OK, "2026-11-01T00:59:00-04:00", "2026-11-01T00:59:00-04:00"},
        {{2026, 11, 1}, 1, 0, SW_OK, "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-04:00"},
        {{2026, 11, 1}, 1, 30, SW_OK, "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-04:00"},
        {{2026, 11, 1}, 2, 0, SW_OK, "2026-11-01T02:00:00-05:00", "2026-11-01T02:00:00-05:00"},
        {{2026, 11, 1}, 8, 0, SW_OK, "2026-11-01T08:00:00-05:00", "2026-11-01T08:00:00-05:00"},
        {{2028, 2, 29}, 9, 0, SW_OK, "2028-02-29T09:00:00-05:00", "2028-02-29T09:00:00-05:00"},
        {{2027, 2, 29}, 9, 0, SW_ERR_INVALID, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 0, b = 0;
        char buf[TIMEUTIL_RFC3339_LEN];
        sw_err e = timeutil_local_to_epoch(cases[i].d, cases[i].hh * 3600 + cases[i].mm * 60, &t);
        if (e != cases[i].want)
            fail_msg("case %zu: got %d want %d", i, e, cases[i].want);
        if (e == SW_OK) {
            timeutil_format_rfc3339(t, buf, sizeof buf);
            assert_string_equal(buf, cases[i].expect);
        }
        e = timeutil_local_bound(cases[i].d, cases[i].hh * 3600 + cases[i].mm * 60, &b);
        if (cases[i].bound) {
            assert_int_equal(e, SW_OK);
            timeutil_format_rfc3339(b, buf, sizeof buf);
            assert_string_equal(buf, cases[i].bound);
        } else {
            assert_int_equal(e, SW_ERR_INVALID);
        }
    }
}

/* Walking every wall minute of both DST days yields strictly increasing
 * instants: no duplicated hour, 60 minutes skipped in spring. */
static void test_walk_dst_days(void **state)
{
    (void)state;
    struct tu_date days[] = {{2026, 3, 8}, {2026, 11, 1}};
    int want_valid[] = {1440 - 60, 1440};
    for (int k = 0; k < 2; k++) {
        int64_t prev = INT64_MIN;
        int valid = 0;
        for (int m = 0; m < 1440; m++) {
            int64_t t;
            if (timeutil_local_to_epoch(days[k], m * 60, &t) != SW_OK)
                continue;
            assert_true(t > prev);
            prev = t;
            valid++;
            int mm, ss;
            assert_int_equal(timeutil_local_minute(t, &mm, &ss), SW_OK);
            assert_int_equal(mm, m);
            assert_int_equal(ss, 0);
        }
        assert_int_equal(valid, want_valid[k]);
    }
}

static void test_day_start_and_local_date(void **state)
{
    (void)state;
    int64_t s, e;
    struct tu_date d;
    assert_int_equal(timeutil_day_start((struct tu_date){2026, 3, 8}, &s), SW_OK);
    assert_int_equal(timeutil_day_start((struct tu_date){2026, 3, 9}, &e), SW_OK);
    assert_int_equal(e - s, 23 * 3600); /* spring-forward day is 23 hours */
    assert_int_equal(timeutil_day_start((struct tu_date){2026, 11, 1}, &s), SW_OK);
    assert_int_equal(timeutil_day_start((struct tu_date){2026, 11, 2}, &e), SW_OK);
    assert_int_equal(e - s, 25 * 3600); /* fall-back day is 25 hours */
    assert_int_equal(timeutil_local_date(e - 1, &d), SW_OK);
    assert_int_equal(d.day, 1);
    assert_int_equal(timeutil_local_date(e, &d), SW_OK);
    assert_int_equal(d.day, 2);
}

static void test_add_local_days(void **state)
{
    (void)state;
    static const struct {
        const char *from;
        int n;
        const char *want;
    } cases[] = {
        {"2026-03-01T10:00:00-05:00", 60, "2026-04-30T10:00:00-04:00"},
        {"2026-10-01T10:00:00-04:00", 60, "2026-11-30T10:00:00-05:00"},
        {"2026-03-07T02:30:00-05:00", 1, "2026-03-08T03:00:00-04:00"}, /* into the gap */
        {"2028-01-30T09:00:00-05:00", 30, "2028-02-29T09:00:00-05:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t, r;
        char buf[TIMEUTIL_RFC3339_LEN];
        assert_int_equal(timeutil_parse_rfc3339(cases[i].from, &t), SW_OK);
        assert_int_equal(timeutil_add_local_days(t, cases[i].n, &r), SW_OK);
        timeutil_format_rfc3339(r, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_parse_local(void **state)
{
    (void)state;
    static const struct {
        const char *date, *hms;
        sw_err want;
        const char *expect;
    } cases[] = {
        {"2026-07-01", "09:00:00", SW_OK, "2026-07-01T09:00:00-04:00"},
        {"2026-07-01", "09:00", SW_OK, "2026-07-01T09:00:00-04:00"},
        {"2026-01-05", "16:45:30", SW_OK, "2026-01-05T16:45:30-05:00"},
        {"2026-11-01", "01:30:00", SW_OK, "2026-11-01T01:30:00-04:00"},
        {"2026-03-08", "02:30:00", SW_ERR_INVALID, NULL},
        {"2026-07-01", "24:00:00", SW_ERR_INVALID, NULL},
        {"2026-07-01", "9:00:00", SW_ERR_INVALID, NULL},
        {"2026-07-01", "09:00:0", SW_ERR_INVALID, NULL},
        {"2026-07-01", "09:00:00Z", SW_ERR_INVALID, NULL},
        {"2026-02-30", "09:00:00", SW_ERR_INVALID, NULL},
        {"0000-00-00", "00:00:00", SW_ERR_INVALID, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t;
        sw_err e = timeutil_parse_local(cases[i].date, cases[i].hms, &t);
        if (e != cases[i].want)
            fail_msg("case %zu %s %s: got %d", i, cases[i].date, cases[i].hms, e);
        if (e == SW_OK) {
            char buf[TIMEUTIL_RFC3339_LEN];
            timeutil_format_rfc3339(t, buf, sizeof buf);
            assert_string_equal(buf, cases[i].expect);
        }
    }
}

static void test_parse_iso8601(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"2026-12-01T14:00:00Z", 1796133600},
        {"2026-12-01T09:00:00-05:00", 1796133600},
        {"2026-12-01T15:00:00+01:00", 1796133600},
        {"2026-12-01T14:00:00.123Z", 1796133600},
        {"2026-12-01T09:00-05:00", 1796133600},
        {"2026-12-01 09:00:00", 1796133600},  /* no offset: clinic-local */
        {"2026-07-01T09:00:00", 1782910800},  /* local in EDT (-04:00) */
        {"2024-02-29T00:00:00Z", 1709164800}, /* leap day */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = 0;
        assert_int_equal(timeutil_parse_iso8601(cases[i].text, &got), SW_OK);
        assert_int_equal(got, cases[i].want);
    }
    int64_t x;
    assert_int_equal(timeutil_parse_iso8601("tomorrow", &x), SW_ERR_INVALID);
    assert_int_equal(timeutil_parse_iso8601("2026-12-01T09:00:00junk", &x), SW_ERR_INVALID);
    assert_int_equal(timeutil_parse_iso8601(NULL, &x), SW_ERR_INVALID);
    assert_int_equal(timeutil_parse_iso8601("2026-12-01T09:00:00+05:00junk", &x), SW_ERR_INVALID);
    assert_int_equal(timeutil_parse_iso8601("2026-12-01T09:00:00+0500", &x), SW_OK);
    assert_int_equal(x, 1796097600);
    assert_int_equal(timeutil_parse_iso8601("2026-12-01T09:00:00+05", &x), SW_OK);
    assert_int_equal(x, 1796097600);
    assert_int_equal(timeutil_parse_iso8601("2026-12-01", &x), SW_OK); /* local midnight */
    assert_int_equal(x, 1796101200);
    /* a stored wall time in the spring-forward gap is kept, at the gap\'s end */
    assert_int_equal(timeutil_parse_iso8601("2026-03-08T02:30:00", &x), SW_OK);
    assert_int_equal(x, 1772953200);
}

static void test_wall_and_formats_dst(void **state)
{
    (void)state;
    int64_t a, b;
    /* 2026-03-08: clocks go 02:00 -> 03:00 in New York */
    assert_int_equal(timeutil_parse_wall("2026-03-08", "01:30:00", &a), SW_OK);
    assert_int_equal(timeutil_parse_wall("2026-03-08", "03:30:00", &b), SW_OK);
    assert_int_equal(b - a, 3600);
    char date[11], hhmm[6], iso[40];
    timeutil_format_local_date(b, date, sizeof(date));
    timeutil_format_hhmm(b, hhmm, sizeof(hhmm));
    assert_string_equal(date, "2026-03-08");
    assert_string_equal(hhmm, "03:30");
    timeutil_format_rfc3339(b, iso, sizeof(iso));
    assert_string_equal(iso, "2026-03-08T03:30:00-04:00");
    timeutil_format_rfc3339(a, iso, sizeof(iso));
    assert_string_equal(iso, "2026-03-08T01:30:00-05:00");
    int64_t back;
    assert_int_equal(timeutil_parse_iso8601(iso, &back), SW_OK);
    assert_int_equal(back, a);
}

/* localtime_r's offset, the reference the memo must agree with */
static long raw_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    return localtime_r(&tt, &tm) ? tm.tm_gmtoff : 0;
}

/* timeutil_offset_at() memoises offsets by 12-hour spans: it must say what
 * localtime_r says at every instant, in zones with half-hour and negative
 * DST, skipped days and abolished or reintroduced DST.  Every hour of
 * 1990-2040, every minute within 3 hours of each change found, then random
 * instants in random order (evicting the memo) over 1900-2100. */
static void test_offset_memo_matches_localtime(void **state)
{
    (void)state;
    static const char *const zones[] = {
        "America/New_York",
        "Europe/Dublin",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "Antarctica/Troll",
        "Africa/Casablanca",
        "Asia/Gaza",
        "America/Sao_Paulo",
        "Europe/Moscow",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/St_Johns",
        "Asia/Tehran",
        "America/Caracas",
        "Pacific/Kiritimati",
        "Asia/Pyongyang",
        "UTC",
    };
    const int64_t y1990 = 631152000, y2040 = 2208988800, y1900 = -2208988800, y2100 = 4102444800;
    uint64_t seed = 88172645463325252ULL;
    long checked = 0, changes = 0;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        assert_int_equal(timeutil_set_zone(zones[z]), SW_OK);
        long prev = raw_offset(y1990);
        for (int64_t t = y1990; t < y2040; t += 3600) {
            long want = raw_offset(t);
            if (timeutil_offset_at(t) != want)
                fail_msg("%s at %lld: memo %ld, localtime_r %ld", zones[z], (long long)t,
                         timeutil_offset_at(t), want);
            checked++;
            if (want == prev)
                continue;
            prev = want;
            changes++;
            for (int64_t u = t - 3 * 3600; u < t + 3 * 3600; u += 60, checked++)
                if (timeutil_offset_at(u) != raw_offset(u))
                    fail_msg("%s at %lld (near a change): memo %ld, localtime_r %ld", zones[z],
                             (long long)u, timeutil_offset_at(u), raw_offset(u));
        }
        for (int i = 0; i < 20000; i++, checked++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            int64_t t = y1900 + (int64_t)(seed % (uint64_t)(y2100 - y1900));
            if (timeutil_offset_at(t) != raw_offset(t))
                fail_msg("%s at %lld: memo %ld, localtime_r %ld", zones[z], (long long)t,
                         timeutil_offset_at(t), raw_offset(t));
        }
    }
    assert_true(changes > 500); /* the zones' data is there: not all UTC */
    assert_true(checked > 1000000);
    assert_int_equal(timeutil_set_zone("America/New_York"), SW_OK);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_date_arith),
        cmocka_unit_test(test_local_to_epoch),
        cmocka_unit_test(test_walk_dst_days),
        cmocka_unit_test(test_day_start_and_local_date),
        cmocka_unit_test(test_add_local_days),
        cmocka_unit_test(test_parse_local),
        cmocka_unit_test(test_parse_iso8601),
        cmocka_unit_test(test_wall_and_formats_dst),
        cmocka_unit_test(test_offset_memo_matches_localtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
