/* test_events.c - CloudEvents and audit records.  Every record built here
 * is also written to $BUILD/test-artifacts/{event,audit}-*.json for
 * tests/schemas/test_messages.py. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "events.h"
#include "unit_util.h"

static struct sw_config cfg;

#define NOW   1772460000 /* 2026-03-02T09:00:00-05:00 */
#define START 1773061200 /* 2026-03-09T09:00:00-04:00 */

static json_t *build(const char *type, const char *seed, const char *subject,
                     const struct event_fields *f, const char *artifact)
{
    char *s = event_build(&cfg, type, seed, subject, f, NOW);
    assert_non_null(s);
    json_error_t jerr;
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        fail_msg("event is not JSON: %s: %s", jerr.text, s);
    if (artifact)
        assert_int_equal(util_write_artifact(artifact, s), 0);
    free(s);
    return o;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_event_envelope(void **state)
{
    (void)state;
    struct event_fields f = {.caused_by = "worker",
                             .request_id = "req-book-1",
                             .appointment_id = "77",
                             .confirmation_number = "K7M-2QX",
                             .patient_id = "42",
                             .practitioner_id = "12",
                             .appointment_type = "routine",
                             .start = START,
                             .end = START + 3600};
    json_t *o = build("appointment.booked", "req-book-1", "77", &f, "event-booked.json");
    assert_string_equal(str(o, "specversion"), "1.0");
    assert_string_equal(str(o, "type"), "appointment.booked");
    assert_string_equal(str(o, "source"), "/schedworker/schedworker"); /* the group's, fleet-wide */
    assert_string_equal(str(o, "subject"), "77");
    assert_string_equal(str(o, "time"), "2026-03-02T09:00:00-05:00");
    assert_string_equal(str(o, "datacontenttype"), "application/json");
    const char *id = str(o, "id");
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    json_t *d = json_object_get(o, "data");
    assert_string_equal(str(d, "caused_by"), "worker");
    assert_string_equal(str(d, "request_id"), "req-book-1");
    assert_string_equal(str(d, "confirmation_number"), "K7M-2QX");
    assert_string_equal(str(d, "start"), "2026-03-09T09:00:00-04:00");
    assert_string_equal(str(d, "end"), "2026-03-09T10:00:00-04:00");
    /* absent optional fields are left out, not null or "" */
    static const char *const absent[] = {"previous_appointment_id",
                                         "status",
                                         "previous_start",
                                         "previous_end",
                                         "slot_id",
                                         "hold_id",
                                         "waitlist_id",
                                         "offer_expires_at"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (json_object_get(d, absent[i]))
            fail_msg("%s should be absent", absent[i]);
    json_decref(o);
}

static void test_event_ids(void **state)
{
    (void)state;
    struct event_fields f = {.caused_by = "worker", .appointment_id = "77"};
    static const struct {
        const char *type, *seed;
        int same_as; /* index of a case whose id must equal this one, or -1 */
    } cases[] = {
        {"appointment.cancelled", "req-1", -1},
        {"appointment.cancelled", "req-1", 0}, /* redelivery: same id */
        {"appointment.cancelled", "req-2", -1},
        {"slot.released", "req-1", -1}, /* same seed, other type */
        {"appointment.cancelled", "req-1|", -1},
    };
    char ids[5][64];
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        json_t *o = build(cases[i].type, cases[i].seed, "77", &f, NULL);
        snprintf(ids[i], sizeof(ids[i]), "%s", str(o, "id"));
        json_decref(o);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            bool same = !strcmp(ids[i], ids[j]);
            bool want = cases[i].same_as == (int)j;
            if (same != want)
                fail_msg("ids of case %zu and %zu: %s vs %s (expected %s)", i, j, ids[i], ids[j],
                         want ? "equal" : "different");
        }
}

/* One sample of each event type, as the handlers and the poller fill them. */
static void test_event_types(void **state)
{
    (void)state;
    struct {
        const char *type, *subject, *artifact;
        struct event_fields f;
    } cases[] = {
        {"appointment.cancelled",
         "77",
         "event-cancelled.json",
         {.caused_by = "worker",
          .request_id = "req-c",
          .appointment_id = "77",
          .confirmation_number = "K7M-2QX",
          .patient_id = "42",
          .practitioner_id = "12",
          .start = START,
          .end = START + 3600}},
        {"appointment.rescheduled",
         "78",
         "event-rescheduled.json",
         {.caused_by = "worker",
          .request_id = "req-r",
          .appointment_id = "78",
          .previous_appointment_id = "77",
          .confirmation_number = "K7M-2QX",
          .practitioner_id = "12",
          .start = START + 86400,
          .end = START + 86400 + 3600,
          .previous_start = START,
          .previous_end = START + 3600}},
        {"appointment.changed",
         "77",
         "event-changed.json",
         {.caused_by = "external",
          .appointment_id = "77",
          .status = "@",
          .start = START,
          .end = START + 1800}},
        {"appointment.removed",
         "77",
         "event-removed.json",
         {.caused_by = "external", .appointment_id = "77"}},
        {"slot.released",
         "slot-abc",
         "event-slot-released.json",
         {.caused_by = "worker",
          .request_id = "req-c",
          .practitioner_id = "12",
          .slot_id = "slot-abc",
          .start = START,
          .end = START + 3600}},
        {"waitlist.offered",
         "w-1",
         "event-waitlist-offered.json",
         {.caused_by = "worker",
          .waitlist_id = "w-1",
          .patient_id = "42",
          .practitioner_id = "12",
          .start = START,
          .end = START + 3600,
          .hold_id = "h-5",
          .offer_expires_at = NOW + 900}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = build(cases[i].type, "seed", cases[i].subject, &cases[i].f, cases[i].artifact);
        assert_string_equal(str(o, "type"), cases[i].type);
        assert_string_equal(str(o, "subject"), cases[i].subject);
        bool external = !strcmp(cases[i].f.caused_by, "external");
        (void)external; /* one source for the whole fleet, whoever emitted it */
        assert_string_equal(str(o, "source"), "/schedworker/schedworker");
        assert_string_equal(str(json_object_get(o, "data"), "caused_by"), cases[i].f.caused_by);
        json_decref(o);
    }
}

/* caused_by not filled in: the schema requires it, so "worker" is implied. */
static void test_event_caused_by_default(void **state)
{
    (void)state;
    struct event_fields f = {.appointment_id = "77"};
    json_t *o = build("appointment.removed", "x", "77", &f, NULL);
    assert_string_equal(str(json_object_get(o, "data"), "caused_by"), "worker");
    json_decref(o);
}

static json_t *audit(const struct audit_fields *a, const char *artifact)
{
    char *s = audit_build(&cfg, a);
    assert_non_null(s);
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    if (artifact)
        assert_int_equal(util_write_artifact(artifact, s), 0);
    free(s);
    return o;
}

static void test_audit_shape(void **state)
{
    (void)state;
    struct audit_fields a = {.method = "POST",
                             .route = "/apis/default/api/patient/:pid/appointment",
                             .patient_id = "42",
                             .request_id = "req-book-1",
                             .command_type = "book",
                             .topic = "scheduling.commands.book",
                             .partition = 2,
                             .offset = 991,
                             .http_status = 201,
                             .at_ms = NOW * 1000LL + 250,
                             .duration_ms = 87};
    json_t *o = audit(&a, "audit-success.json");
    assert_string_equal(str(o, "time"), "2026-03-02T09:00:00-05:00");
    json_t *who = json_object_get(o, "who");
    assert_string_equal(str(who, "worker_id"), "worker-1");
    assert_string_equal(str(who, "client_id"), "client-abc");
    json_t *what = json_object_get(o, "what");
    assert_string_equal(str(what, "method"), "POST");
    assert_string_equal(str(what, "route"), "/apis/default/api/patient/:pid/appointment");
    assert_string_equal(str(what, "patient_id"), "42");
    assert_null(json_object_get(what, "appointment_id"));
    assert_string_equal(str(what, "topic"), "scheduling.commands.book");
    assert_int_equal(json_integer_value(json_object_get(what, "partition")), 2);
    assert_int_equal(json_integer_value(json_object_get(what, "offset")), 991);
    json_t *out = json_object_get(o, "outcome");
    assert_string_equal(str(out, "result"), "success");
    assert_int_equal(json_integer_value(json_object_get(out, "http_status")), 201);
    assert_null(json_object_get(out, "error_code"));
    assert_int_equal(json_integer_value(json_object_get(out, "duration_ms")), 87);
    assert_int_equal(json_object_size(o), 4);
    json_decref(o);

    /* a failure from the poller: no Kafka coordinates, no answer */
    struct audit_fields p = {.method = "GET",
                             .route = "/apis/default/api/appointment",
                             .offset = -1,
                             .http_status = 0,
                             .error_code = "timeout",
                             .at_ms = NOW * 1000LL,
                             .duration_ms = -1};
    o = audit(&p, "audit-failure.json");
    what = json_object_get(o, "what");
    assert_null(json_object_get(what, "topic"));
    assert_null(json_object_get(what, "partition"));
    assert_null(json_object_get(what, "offset"));
    out = json_object_get(o, "outcome");
    assert_string_equal(str(out, "result"), "failure");
    assert_string_equal(str(out, "error_code"), "timeout");
    assert_int_equal(json_integer_value(json_object_get(out, "http_status")), 0);
    assert_null(json_object_get(out, "duration_ms"));
    json_decref(o);

    /* no client id configured */
    char err[128];
    assert_true(sw_config_set(&cfg, "oauth.client_id", "", err, sizeof(err)));
    o = audit(&a, NULL);
    assert_string_equal(str(json_object_get(o, "who"), "client_id"), "unknown");
    json_decref(o);
    assert_true(sw_config_set(&cfg, "oauth.client_id", "client-abc", err, sizeof(err)));
}

/* The source is the fleet's: the consumer group's name, or events.source;
 * never the replica's id. */
static void test_event_source(void **state)
{
    (void)state;
    char err[256];
    struct event_fields f = {.caused_by = "worker", .appointment_id = "77"};
    assert_true(sw_config_set(&cfg, "kafka.group.id", "clinic-a", err, sizeof(err)));
    json_t *o = build("appointment.booked", "r", "77", &f, NULL);
    assert_string_equal(str(o, "source"), "/schedworker/clinic-a");
    const char *id1 = str(o, "id");
    char keep[40];
    snprintf(keep, sizeof keep, "%s", id1);
    json_decref(o);
    assert_true(sw_config_set(&cfg, "worker.id", "worker-2", err, sizeof(err)));
    o = build("appointment.booked", "r", "77", &f, NULL);
    assert_string_equal(str(o, "source"), "/schedworker/clinic-a"); /* another replica: same */
    assert_string_equal(str(o, "id"), keep);                        /* and the same id */
    json_decref(o);
    assert_true(sw_config_set(&cfg, "events.source", "urn:clinic-a:scheduling", err, sizeof(err)));
    o = build("appointment.booked", "r", "77", &f, NULL);
    assert_string_equal(str(o, "source"), "urn:clinic-a:scheduling");
    json_decref(o);
    assert_true(sw_config_set(&cfg, "events.source", "", err, sizeof(err)));
    assert_true(sw_config_set(&cfg, "kafka.group.id", "schedworker", err, sizeof(err)));
    assert_true(sw_config_set(&cfg, "worker.id", "worker-1", err, sizeof(err)));
}

static int setup(void **state)
{
    (void)state;
    char err[128];
    FILE *devnull = fopen("/dev/null", "w");
    sw_err rc = sw_config_load(&cfg, NULL, devnull);
    fclose(devnull);
    if (rc != SW_OK || !sw_config_set(&cfg, "worker.id", "worker-1", err, sizeof(err)) ||
        !sw_config_set(&cfg, "oauth.client_id", "client-abc", err, sizeof(err)))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sw_config_free(&cfg);
    return 0;
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_envelope),
        cmocka_unit_test(test_event_source),
        cmocka_unit_test(test_event_ids),
        cmocka_unit_test(test_event_types),
        cmocka_unit_test(test_event_caused_by_default),
        cmocka_unit_test(test_audit_shape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
