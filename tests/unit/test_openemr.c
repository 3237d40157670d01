/* test_openemr.c - the client's pure helpers: the FHIR date query and FHIR
 * Appointment parsing (its times are timeutil's: test_timeutil.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "surface.h"
#include "timeutil.h"

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "America/New_York", 1);
    tzset();
    return 0;
}

static void test_fhir_date_query(void **state)
{
    (void)state;
    /* [from, to) in local dates: the last second belongs to the day */
    char q[64];
    int64_t d0, d1;
    assert_int_equal(timeutil_parse_wall("2026-12-01", "00:00", &d0), SW_OK);
    assert_int_equal(timeutil_parse_wall("2026-12-02", "00:00", &d1), SW_OK);
    oe_fhir_date_query(d0, d1, q, sizeof(q));
    /* one key only (OpenEMR keeps the last of a repeated one): a day is eq */
    assert_string_equal(q, "date=eq2026-12-01");
    assert_int_equal(timeutil_parse_wall("2026-12-08", "00:00", &d1), SW_OK);
    oe_fhir_date_query(d0 + 9 * 3600, d1, q, sizeof(q));
    assert_string_equal(q, "date=ge2026-12-01"); /* the end is applied locally */
    assert_null(strchr(q, '&'));
}

/* OpenEMR prints every FHIR time with the UTC offset of today
 * (UtilsService::getLocalDateAsUTC): the openemr surface reads the wall
 * clock and ignores the offset, on both sides of a DST change. */
static void test_fhir_wall_clock_across_dst(void **state)
{
    (void)state;
    int64_t t, want;
    /* 2026-11-01 02:00 EDT -> EST.  Today EST (-05:00), the visit on
     * 2026-10-30 08:30 EDT is printed 08:30-05:00. */
    assert_int_equal(timeutil_parse_wall("2026-10-30", "08:30", &want), SW_OK);
    assert_int_equal(oe_parse_wall_iso("2026-10-30T08:30:00-05:00", &t), SW_OK);
    assert_int_equal(t, want);
    assert_int_equal(timeutil_parse_iso8601("2026-10-30T08:30:00-05:00", &t), SW_OK);
    assert_int_equal(t, want + 3600); /* what honouring the offset gives: an hour off */
    /* today EDT (-04:00), a visit on 2026-11-03 08:30 EST printed 08:30-04:00 */
    assert_int_equal(timeutil_parse_wall("2026-11-03", "08:30", &want), SW_OK);
    assert_int_equal(oe_parse_wall_iso("2026-11-03T08:30:00-04:00", &t), SW_OK);
    assert_int_equal(t, want);
    assert_int_equal(oe_parse_wall_iso("2026-11-03T08:30:00Z", &t), SW_OK);
    assert_int_equal(t, want);
    assert_int_equal(oe_parse_wall_iso("2026-11-03T08:30:00.000+01:00", &t), SW_OK);
    assert_int_equal(t, want);
    assert_int_equal(oe_parse_wall_iso("2026-11-03", &t), SW_OK);
    assert_int_not_equal(oe_parse_wall_iso("2026-11-03T08:3x", &t), SW_OK);
    assert_int_not_equal(oe_parse_wall_iso(NULL, &t), SW_OK);

    json_t *res = json_loads("{\"id\":\"a\",\"start\":\"2026-10-30T08:30:00-05:00\","
                             "\"end\":\"2026-10-30T09:00:00-05:00\","
                             "\"meta\":{\"lastUpdated\":\"2026-10-29T10:00:00-05:00\"}}",
                             0, NULL);
    struct oe_appt a;
    assert_int_equal(timeutil_parse_wall("2026-10-30", "08:30", &want), SW_OK);
    assert_true(oe_fhir_appt_parse_as(res, true, &a));
    assert_int_equal(a.start, want);
    assert_int_equal(a.end, want + 1800);
    assert_int_equal(timeutil_parse_wall("2026-10-29", "10:00", &want), SW_OK);
    assert_int_equal(a.updated, want);
    json_decref(res);
}

/* The seed's surface: as printed, unless the offset is today's where the
 * date's own differs (OpenEMR's Appointment resources there too).  The
 * date is chosen in the other half of the year from today, so the test
 * holds on any date. */
static void test_fhir_printed_offset(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct tm today;
    localtime_r(&now, &today);
    bool summer = today.tm_isdst > 0;
    const char *date = summer ? "2027-01-15" : "2027-07-15";
    long off = today.tm_gmtoff / 60, own = summer ? -300 : -240;
    char text[64];
    int64_t t, want;
    assert_int_equal(timeutil_parse_wall(date, "08:30", &want), SW_OK);
    /* today's offset on a date of the other half: read as wall clock */
    snprintf(text, sizeof(text), "%sT08:30:00%c%02ld:%02ld", date, off < 0 ? '-' : '+',
             labs(off) / 60, labs(off) % 60);
    assert_int_equal(oe_parse_printed_iso(text, &t), SW_OK);
    assert_int_equal(t, want);
    /* the date's own offset: as printed (the same instant) */
    snprintf(text, sizeof(text), "%sT08:30:00-%02ld:00", date, -own / 60);
    assert_int_equal(oe_parse_printed_iso(text, &t), SW_OK);
    assert_int_equal(t, want);
    /* UTC, and any other offset: as printed */
    snprintf(text, sizeof(text), "%sT13:30:00Z", date);
    assert_int_equal(oe_parse_printed_iso(text, &t), SW_OK);
    assert_int_equal(timeutil_parse_iso8601(text, &want), SW_OK);
    assert_int_equal(t, want);
    snprintf(text, sizeof(text), "%sT08:30:00+01:00", date);
    assert_int_equal(oe_parse_printed_iso(text, &t), SW_OK);
    assert_int_equal(timeutil_parse_iso8601(text, &want), SW_OK);
    assert_int_equal(t, want);
    assert_int_not_equal(oe_parse_printed_iso("2027-01-15T08:3", &t), SW_OK);
}

static void test_fhir_appointment(void **state)
{
    (void)state;
    json_t *res = json_loads(
        "{\"resourceType\":\"Appointment\",\"id\":\"a1\",\"status\":\"cancelled\","
        "\"start\":\"2026-12-01T09:00:00-05:00\",\"end\":\"2026-12-01T09:30:00-05:00\","
        "\"meta\":{\"lastUpdated\":\"2026-11-30T10:00:00Z\"},"
        "\"appointmentType\":{\"coding\":[{\"code\":\"office_visit\"}]},"
        "\"identifier\":[{\"system\":\"x\",\"value\":\"OTHER\"},"
        "{\"system\":\"urn:schedworker:confirmation\",\"value\":\"SW123\"}],"
        "\"participant\":[{\"actor\":{\"reference\":\"Patient/p1\"}},"
        "{\"actor\":{\"reference\":\"Person/pr9\"}},{\"actor\":{\"reference\":\"Location/l\"}}]}",
        0, NULL);
    struct oe_appt a;
    assert_true(oe_fhir_appt_parse(res, &a));
    assert_string_equal(a.id, "a1");
    assert_string_equal(a.patient_id, "p1");
    assert_string_equal(a.practitioner_id, "pr9");
    assert_int_equal(a.start, 1796133600);
    assert_int_equal(a.end, 1796133600 + 1800);
    assert_int_equal(a.status, OE_APPT_CANCELLED);
    assert_int_equal(a.category, 5);
    assert_false(a.provider_event);
    assert_string_equal(a.confirmation, "SW123");
    assert_int_equal(a.updated, 1796032800);
    json_decref(res);

    res = json_loads("{\"id\":\"l1\",\"status\":\"booked\",\"start\":\"2026-12-01T12:00:00-05:00\","
                     "\"end\":\"2026-12-01T13:00:00-05:00\","
                     "\"appointmentType\":{\"coding\":[{\"code\":\"lunch\"}]},"
                     "\"participant\":[{\"actor\":{\"reference\":\"Practitioner/pr1\"}}]}",
                     0, NULL);
    assert_true(oe_fhir_appt_parse(res, &a));
    assert_true(a.provider_event);
    assert_int_equal(a.category, 8);
    assert_int_equal(a.status, OE_APPT_BOOKED);
    assert_string_equal(a.patient_id, "");
    json_decref(res);

    res = json_loads("{\"id\":\"x\"}", 0, NULL);
    assert_false(oe_fhir_appt_parse(res, &a)); /* no start */
    json_decref(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fhir_date_query),
        cmocka_unit_test(test_fhir_appointment),
        cmocka_unit_test(test_fhir_wall_clock_across_dst),
        cmocka_unit_test(test_fhir_printed_offset),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
