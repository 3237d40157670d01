/* test_metrics.c - the Prometheus page: format, exact concurrent counts, PHI
 * guards on label values, the cardinality cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "metrics.h"

static char *page(void)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&out, &len), SW_OK);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

/* The value on the line that starts with exactly `series ` ; -1 if absent. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;
    while (p && *p) {
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static int count_prefix(const char *text, const char *prefix)
{
    int c = 0;
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, prefix, n))
            c++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return c;
}

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void test_format(void **state)
{
    (void)state;
    metrics_command("book", "ok", 0.03);
    metrics_command("book", "ok", 0.04);
    metrics_command("book", "conflict", 100);
    char *t = page();

    assert_non_null(strstr(t, "# HELP schedworker_commands_total "));
    assert_non_null(strstr(t, "# TYPE schedworker_commands_total counter\n"));
    assert_non_null(strstr(t, "# TYPE schedworker_command_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE schedworker_circuit_state gauge\n"));
    assert_int_equal(value_of(t, "schedworker_commands_total{type=\"book\",status=\"ok\"}"), 2);
    assert_int_equal(value_of(t, "schedworker_commands_total{type=\"book\",status=\"conflict\"}"),
                     1);
    const char *h = "schedworker_command_duration_seconds_bucket{type=\"book\",le=";
    char k[200];
    snprintf(k, sizeof k, "%s\"0.025\"}", h);
    assert_int_equal(value_of(t, k), 0);
    snprintf(k, sizeof k, "%s\"0.05\"}", h);
    assert_int_equal(value_of(t, k), 2);
    snprintf(k, sizeof k, "%s\"60\"}", h);
    assert_int_equal(value_of(t, k), 2);
    snprintf(k, sizeof k, "%s\"+Inf\"}", h);
    assert_int_equal(value_of(t, k), 3);
    assert_non_null(
        strstr(t, "schedworker_command_duration_seconds_sum{type=\"book\"} 100.070000000\n"));
    assert_int_equal(value_of(t, "schedworker_command_duration_seconds_count{type=\"book\"}"), 3);

    /* buckets never decrease, and every sample line is `name[{...}] number` */
    double last = -1;
    int buckets = 0;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* the page ends with a newline */
        *nl = '\0';
        if (line[0] != '#') {
            assert_true(!strncmp(line, "schedworker_", 12));
            char *sp = strrchr(line, ' ');
            assert_non_null(sp);
            char *end;
            double v = strtod(sp + 1, &end);
            assert_true(*end == '\0');
            if (strstr(line, "_bucket{")) {
                if (strstr(line, "le=\"0.005\"") || strstr(line, "le=\"0.001\""))
                    last = -1;
                assert_true(v >= last);
                last = v;
                buckets++;
            }
        } else {
            assert_true(!strncmp(line, "# HELP schedworker_", 19) ||
                        !strncmp(line, "# TYPE schedworker_", 19));
        }
        line = nl + 1;
    }
    assert_int_equal(buckets, 14); /* 13 bounds + +Inf, one series */
    free(t);
}

static void test_fixed_series_and_gauges(void **state)
{
    (void)state;
    char *t = page();
    assert_int_equal(value_of(t, "schedworker_bookings_total"), 0);
    assert_int_equal(value_of(t, "schedworker_token_refreshes_total{result=\"failure\"}"), 0);
    assert_int_equal(value_of(t, "schedworker_slot_cache_requests_total{result=\"stale\"}"), 0);
    /* the circuit is one gauge per state, all 0 until the state is known */
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"closed\"}"), 0);
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"open\"}"), 0);
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"half-open\"}"), 0);
    assert_null(strstr(t, "\nschedworker_circuit_state ")); /* no unlabelled series */
    free(t);

    metrics_booking(false);
    metrics_booking(true);
    metrics_booking(false);
    metrics_token_refresh(true);
    metrics_token_refresh(false);
    metrics_token_refresh(false);
    metrics_cache("hit");
    metrics_cache("miss");
    metrics_cache("hit");
    metrics_circuit(2);
    metrics_build_info("v1.2-3-gabc123-dirty");
    metrics_delivery_failure("scheduling.results", "_MSG_TIMED_OUT");
    metrics_delivery_failure("scheduling.results", "_MSG_TIMED_OUT");
    metrics_redis_command("EVALSHA", 7, 0.0003);
    metrics_redis_command("GET", 3, 0.02);
    metrics_in_flight(7);
    metrics_redis_error();
    metrics_dead_letter("bad_json");
    metrics_openemr("GET /fhir/Patient", 200, 0.2);
    metrics_openemr("POST /apis/default/api/patient/17/appointment", 0, 3);
    metrics_openemr_error("POST /apis/default/api/patient/17/appointment", "timeout");
    metrics_limiter_wait("write", 0.002);
    metrics_limiter_held("read", "permits");
    metrics_lag("scheduling.commands.book", 3, 42);
    metrics_lag("scheduling.commands.book", 4, 5);
    metrics_lag_forget("scheduling.commands.book", 4);
    t = page();
    assert_int_equal(value_of(t, "schedworker_bookings_total"), 3);
    assert_int_equal(value_of(t, "schedworker_booking_conflicts_total"), 1);
    assert_int_equal(value_of(t, "schedworker_token_refreshes_total{result=\"ok\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_token_refreshes_total{result=\"failure\"}"), 2);
    assert_int_equal(value_of(t, "schedworker_slot_cache_requests_total{result=\"hit\"}"), 2);
    assert_int_equal(value_of(t, "schedworker_slot_cache_requests_total{result=\"miss\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"half-open\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"closed\"}"), 0);
    assert_int_equal(value_of(t, "schedworker_circuit_state{state=\"open\"}"), 0);
    assert_int_equal(value_of(t, "schedworker_build_info{version=\"v1.2-3-gabc123-dirty\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_kafka_delivery_failures_total{topic=\"scheduling."
                                 "results\",reason=\"_msg_timed_out\"}"),
                     2);
    assert_int_equal(value_of(t, "schedworker_redis_command_duration_seconds_bucket{command="
                                 "\"evalsha\",le=\"0.0005\"}"),
                     1);
    assert_int_equal(value_of(t, "schedworker_redis_command_duration_seconds_bucket{command="
                                 "\"evalsha\",le=\"0.00025\"}"),
                     0);
    assert_int_equal(
        value_of(t, "schedworker_redis_command_duration_seconds_count{command=\"get\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_in_flight_commands"), 7);
    assert_int_equal(value_of(t, "schedworker_redis_errors_total"), 1);
    assert_int_equal(value_of(t, "schedworker_dead_letters_total{reason=\"bad_json\"}"), 1);
    /* the method is its own label; the route is the path alone */
    assert_int_equal(value_of(t, "schedworker_openemr_request_duration_seconds_count{method="
                                 "\"GET\",route=\"/fhir/Patient\",status=\"200\"}"),
                     1);
    assert_int_equal(
        value_of(t, "schedworker_openemr_request_duration_seconds_bucket{method=\"POST\",route=\""
                    "/apis/default/api/patient/:id/appointment\",status=\"error\",le=\"2.5\"}"),
        0);
    assert_int_equal(
        value_of(t, "schedworker_openemr_request_duration_seconds_bucket{method=\"POST\",route=\""
                    "/apis/default/api/patient/:id/appointment\",status=\"error\",le=\"5\"}"),
        1);
    assert_int_equal(value_of(t, "schedworker_openemr_errors_total{method=\"POST\",route=\""
                                 "/apis/default/api/patient/:id/appointment\",code=\"timeout\"}"),
                     1);
    assert_null(strstr(t, "route=\"GET "));
    assert_null(strstr(t, "route=\"POST "));
    assert_int_equal(
        value_of(t, "schedworker_limiter_wait_seconds_bucket{priority=\"write\",le=\"0.005\"}"), 1);
    assert_int_equal(
        value_of(t, "schedworker_limiter_held_total{priority=\"read\",reason=\"permits\"}"), 1);
    assert_int_equal(
        value_of(t, "schedworker_consumer_lag{topic=\"scheduling.commands.book\",partition=\"3\"}"),
        42);
    assert_int_equal(
        value_of(t, "schedworker_consumer_lag{topic=\"scheduling.commands.book\",partition=\"4\"}"),
        -1); /* forgotten: not on the page */
    assert_null(strstr(t, "/17/"));
    free(t);

    metrics_lag("scheduling.commands.book", 4, 9);
    t = page();
    assert_int_equal(
        value_of(t, "schedworker_consumer_lag{topic=\"scheduling.commands.book\",partition=\"4\"}"),
        9);
    free(t);
}

#define THREADS    8
#define PER_THREAD 50000

static void *hammer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char reason[32];
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_command("search_slots", "ok", 0.001);
        metrics_cache(i % 2 ? "hit" : "miss");
        /* new label combinations appear from several threads at once */
        snprintf(reason, sizeof reason, "r%d", (i + id) % 20);
        metrics_dead_letter(reason);
        metrics_openemr("GET /fhir/Slot", 200 + (i % 3), 0.01);
    }
    return NULL;
}

static void test_concurrent_exact(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    char *t = page();
    const double total = (double)THREADS * PER_THREAD;
    assert_true(value_of(t, "schedworker_commands_total{type=\"search_slots\",status=\"ok\"}") ==
                total);
    assert_true(value_of(t, "schedworker_command_duration_seconds_count{type=\"search_slots\"}") ==
                total);
    /* 400000 x 1 ms, summed in integer nanoseconds: exact */
    assert_non_null(strstr(
        t, "schedworker_command_duration_seconds_sum{type=\"search_slots\"} 400.000000000\n"));
    assert_true(value_of(t, "schedworker_slot_cache_requests_total{result=\"hit\"}") == total / 2);
    assert_true(value_of(t, "schedworker_slot_cache_requests_total{result=\"miss\"}") == total / 2);
    double sum = 0;
    char k[128];
    for (int r = 0; r < 20; r++) {
        snprintf(k, sizeof k, "schedworker_dead_letters_total{reason=\"r%d\"}", r);
        double v = value_of(t, k);
        assert_true(v == total / 20);
        sum += v;
    }
    assert_true(sum == total);
    assert_int_equal(count_prefix(t, "schedworker_dead_letters_total{"), 20); /* no duplicates */
    assert_int_equal(count_prefix(t, "schedworker_openemr_request_duration_seconds_count{"), 3);
    free(t);
}

static void test_label_guards(void **state)
{
    (void)state;
    metrics_command("Jane Doe", "ok", 1);               /* not a command type */
    metrics_command("book", "ok\"} 1\nfake_metric", 1); /* injection attempt */
    metrics_dead_letter("Patient 12 \\ \"x\"");
    metrics_cache(NULL);
    metrics_lag("bad topic\"", 1, 3);
    char *t = page();
    assert_int_equal(value_of(t, "schedworker_commands_total{type=\"unknown\",status=\"ok\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_commands_total{type=\"book\",status=\"invalid\"}"),
                     1);
    assert_int_equal(value_of(t, "schedworker_dead_letters_total{reason=\"invalid\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_slot_cache_requests_total{result=\"invalid\"}"), 1);
    assert_int_equal(value_of(t, "schedworker_consumer_lag{topic=\"invalid\",partition=\"1\"}"), 3);
    assert_null(strstr(t, "Jane"));
    assert_null(strstr(t, "fake_metric"));
    assert_null(strstr(t, "Patient 12"));
    free(t);
}

static void test_route_label(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"GET /fhir/Patient", "GET /fhir/Patient"},
        {"GET /fhir/Patient/9f1c2d3e-aaaa-bbbb-cccc-123456789abc", "GET /fhir/Patient/:id"},
        {"GET /apis/default/api/patient/42/appointment/7",
         "GET /apis/default/api/patient/:id/appointment/:id"},
        {"POST /oauth2/default/token", "POST /oauth2/default/token"},
        {"GET /apis/default/fhir/Appointment?patient=123&date=2024",
         "GET /apis/default/fhir/Appointment"},
        {"GET /fhir/Patient/:pid", "GET /fhir/Patient/:pid"},
        {"GET /fhir/Patient/abc12345", "GET /fhir/Patient/:id"},
        {"GET /fhir/Patient/deadbeefdeadbeefdeadbeef", "GET /fhir/Patient/:id"},
        {"GET /fhir/Patient/Smith%20John", "GET /fhir/Patient/:id"},
        {"GET /fhir/Patient/$export", "GET /fhir/Patient/$export"},
        {"GET /api/v1/R4/x", "GET /api/v1/R4/x"},
        {"get /x", "OTHER /x"},
        {"GET", "OTHER /:invalid"},
        {"", "OTHER /:invalid"},
        {NULL, "OTHER /:invalid"},
        {"DELETE /a/2024-05-01/b/", "DELETE /a/:id/b/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[METRICS_LABEL_MAX];
        metrics_route_label(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].out))
            fail_msg("case %zu: \"%s\" -> \"%s\", want \"%s\"", i,
                     cases[i].in ? cases[i].in : "(null)", out, cases[i].out);
    }
    /* long paths are cut, never overflow */
    char longr[600] = "GET ";
    for (size_t i = 0; i < 100; i++)
        memcpy(longr + 4 + 5 * i, "/abcd", 6);
    char out[METRICS_LABEL_MAX];
    metrics_route_label(longr, out, sizeof out);
    assert_int_equal(strlen(out), METRICS_LABEL_MAX - 1);
    char tiny[5];
    metrics_route_label("GET /fhir", tiny, sizeof tiny);
    assert_string_equal(tiny, "GET ");
}

static void test_cardinality_cap(void **state)
{
    (void)state;
    char r[32];
    const int n = 500;
    for (int i = 0; i < n; i++) {
        snprintf(r, sizeof r, "reason_%d", i);
        metrics_dead_letter(r);
        metrics_dead_letter(r);
    }
    metrics_dead_letter("reason_0"); /* existing series still counted on its own */
    char *t = page();
    assert_int_equal(count_prefix(t, "schedworker_dead_letters_total{"), METRICS_MAX_SERIES);
    assert_int_equal(value_of(t, "schedworker_dead_letters_total{reason=\"reason_0\"}"), 3);
    double other = 2.0 * (n - (METRICS_MAX_SERIES - 1));
    assert_true(value_of(t, "schedworker_dead_letters_total{reason=\"other\"}") == other);
    assert_true(value_of(t, "schedworker_metrics_series_dropped_total") == other);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_format, reset),
        cmocka_unit_test_setup(test_fixed_series_and_gauges, reset),
        cmocka_unit_test_setup(test_concurrent_exact, reset),
        cmocka_unit_test_setup(test_label_guards, reset),
        cmocka_unit_test_setup(test_route_label, reset),
        cmocka_unit_test_setup(test_cardinality_cap, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
