/* test_openemr.c - the client's pure helpers: ISO 8601 times, clinic-local
 * dates across DST, FHIR Appointment parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "surface.h"

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "America/New_York", 1);
    tzset();
    return 0;
}

static void test_time_parse(void **state)
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
        assert_true(oe_time_parse(cases[i].text, &got));
        assert_int_equal(got, cases[i].want);
    }
    int64_t x;
    assert_false(oe_time_parse("tomorrow", &x));
    assert_false(oe_time_parse("2026-12-01T09:00:00junk", &x));
    assert_false(oe_time_parse(NULL, &x));
}

static void test_local_dst(void **state)
{
    (void)state;
    int64_t a, b;
    /* 2026-03-08: clocks go 02:00 -> 03:00 in New York */
    assert_true(oe_local_to_epoch("2026-03-08", "01:30:00", &a));
    assert_true(oe_local_to_epoch("2026-03-08", "03:30:00", &b));
    assert_int_equal(b - a, 3600);
    char date[11], hhmm[6], iso[40];
    oe_local_date(b, date);
    oe_local_hhmm(b, hhmm);
    assert_string_equal(date, "2026-03-08");
    assert_string_equal(hhmm, "03:30");
    oe_time_format(b, iso, sizeof(iso));
    assert_string_equal(iso, "2026-03-08T03:30:00-04:00");
    oe_time_format(a, iso, sizeof(iso));
    assert_string_equal(iso, "2026-03-08T01:30:00-05:00");
    int64_t back;
    assert_true(oe_time_parse(iso, &back));
    assert_int_equal(back, a);
    /* [from, to) in local dates: the last second belongs to the day */
    char q[64];
    int64_t d0, d1;
    assert_true(oe_local_to_epoch("2026-12-01", "00:00", &d0));
    assert_true(oe_local_to_epoch("2026-12-02", "00:00", &d1));
    oe_fhir_date_query(d0, d1, q, sizeof(q));
    assert_string_equal(q, "date=ge2026-12-01&date=le2026-12-01");
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
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_local_dst),
        cmocka_unit_test(test_fhir_appointment),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
