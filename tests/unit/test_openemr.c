/* test_openemr.c - the client's pure helpers: the FHIR date query and FHIR
 * Appointment parsing (its times are timeutil's: test_timeutil.c). */
#include <setjmp.h>
#include <stdarg.h>
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
        cmocka_unit_test(test_fhir_date_query),
        cmocka_unit_test(test_fhir_appointment),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
