/* test_surface_openemr.c - the openemr surface against a scripted OpenEMR
 * (fake_openemr.c) and a real redis-server (redis_harness.h), for what the
 * real server does that a kind one would not:
 *  - no admin/users ACL: /api/practitioner refused (8.x 403, 7.0.x 401
 *    with no body), so the provider's user id comes from /api appointment
 *    rows, read once, and the refusal is not asked again;
 *  - /api/practitioner finds no user without an NPI or a username (404);
 *  - FHIR Practitioner: no "active=true" sent, inactive ones dropped; the
 *    list without admin/users;
 *  - FHIR times with today's offset, read as the clinic's wall clock on
 *    both sides of a DST change; one date key per search; a capped answer;
 *  - a scope the discovery documents do not offer stops the login. */
#include "redis_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_openemr.h"
#include "openemr.h"
#include "surface.h"
#include "timeutil.h"

#define PR   "90cde167-7b9b-4ed1-bd55-533925cb2606"
#define PR2  "90cde167-7b9b-4ed1-bd55-533925cb2607"
#define PR9  "90cde167-7b9b-4ed1-bd55-533925cb2609"
#define PAT  "946da61d-6b88-4d7a-9f6e-000000000004"
#define API  "/apis/default/api"
#define FHIR "/apis/default/fhir"
#define ROWS                                                                                       \
    "[{\"pc_eid\":\"1\",\"pc_aid\":\"6\",\"pce_aid_uuid\":\"" PR "\",\"pc_catid\":\"2\","          \
    "\"pc_eventDate\":\"2026-12-01\",\"pc_startTime\":\"08:00:00\",\"pc_endTime\":\"08:00:00\","   \
    "\"pc_apptstatus\":\"-\",\"pid\":null,\"puuid\":null},"                                        \
    "{\"pc_eid\":\"2\",\"pc_aid\":\"7\",\"pce_aid_uuid\":\"" PR2 "\",\"pc_catid\":\"8\","          \
    "\"pc_eventDate\":\"2026-12-01\",\"pc_startTime\":\"12:00:00\",\"pc_endTime\":\"13:00:00\","   \
    "\"pc_apptstatus\":\"-\",\"pid\":null,\"puuid\":null}]"
#define ACL_403                                                                                    \
    "{\"error\":\"An error occurred\",\"message\":\"Organization policy does not have permit "     \
    "access resource\",\"code\":0}"

static char password_file[] = "/tmp/test_surface_openemr_pwXXXXXX";

struct env {
    struct sw_config cfg;
    struct fleet *f;
    struct oe_client *c;
};

static int setup_all(void **state)
{
    if (group_setup(state) != 0)
        return -1;
    setenv("TZ", "America/New_York", 1);
    tzset();
    setenv("SCHED_TOKEN_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
           1);
    int fd = mkstemp(password_file);
    if (fd < 0 || write(fd, "pw\n", 3) != 3)
        return -1;
    close(fd);
    return fake_oe_start() ? 0 : -1;
}

static int teardown_all(void **state)
{
    fake_oe_stop();
    unlink(password_file);
    return group_teardown(state);
}

/* A client of the fake with its own Redis prefix; extra: key, value pairs. */
static void env_open(struct env *e, const char *prefix, const char *const *extra)
{
    char err[256];
    memset(e, 0, sizeof(*e));
    fake_oe_reset();
    make_cfg(&e->cfg, prefix);
    set(&e->cfg, "openemr.base_url", fake_oe_start());
    set(&e->cfg, "openemr.allow_insecure_http", "true");
    set(&e->cfg, "oauth.grant", "password");
    set(&e->cfg, "oauth.client_id", "cid");
    set(&e->cfg, "oauth.username", "scheduler");
    set(&e->cfg, "oauth.password_file", password_file);
    set(&e->cfg, "oauth.check_scopes", "false");
    set(&e->cfg, "retry.base_ms", "10");
    for (; extra && extra[0]; extra += 2)
        set(&e->cfg, extra[0], extra[1]);
    e->f = open_fleet(&e->cfg);
    if (oe_client_new(&e->cfg, e->f, NULL, NULL, &e->c, err, sizeof(err)) != SW_OK)
        fail_msg("oe_client_new: %s", err);
}

static void env_close(struct env *e)
{
    oe_client_destroy(e->c);
    fleet_destroy(e->f);
    sw_config_free(&e->cfg);
}

static int64_t wall(const char *date, const char *hhmm)
{
    int64_t t = 0;
    assert_int_equal(timeutil_parse_wall(date, hhmm, &t), SW_OK);
    return t;
}

/* Creates an appointment for PAT with practitioner; the POSTed body. */
static sw_err book(struct env *e, const char *practitioner, struct oe_call *call)
{
    struct oe_new_appt req = {.patient_id = PAT,
                              .practitioner_id = practitioner,
                              .start = wall("2026-12-08", "10:00"),
                              .end = wall("2026-12-08", "10:30"),
                              .type = sw_config_type(&e->cfg, "routine"),
                              .confirmation = "SW12345"};
    struct oe_appt out;
    memset(call, 0, sizeof(*call));
    return oe_create(e->c, call, &req, &out);
}

static void script_booking(void)
{
    fake_oe_answer("GET", API "/appointment", 200, ROWS);
    fake_oe_answer("GET", API "/patient/" PAT, 200,
                   "{\"validationErrors\":[],\"internalErrors\":[],\"data\":{\"id\":\"4\","
                   "\"pid\":\"4\",\"uuid\":\"" PAT "\"},\"links\":[]}");
    fake_oe_answer("POST", API "/patient/4/appointment", 200, "{\"id\":77}");
}

static void test_practitioner_without_admin_users_8x(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call;
    env_open(&e, "t1:", NULL);
    script_booking();
    fake_oe_answer("GET", API "/practitioner/" PR, 403, ACL_403);
    fake_oe_answer("GET", API "/practitioner/" PR2, 403, ACL_403);
    assert_int_equal(book(&e, PR, &call), SW_OK);
    assert_non_null(
        strstr(fake_oe_last_body("POST " API "/patient/4/appointment"), "\"pc_aid\":\"6\""));
    assert_int_equal(fake_oe_count("GET " API "/practitioner/"), 1);
    assert_int_equal(fake_oe_count("GET " API "/appointment"), 1);
    /* the next provider: the refusal is remembered, the rows already read */
    assert_int_equal(book(&e, PR2, &call), SW_OK);
    assert_non_null(
        strstr(fake_oe_last_body("POST " API "/patient/4/appointment"), "\"pc_aid\":\"7\""));
    assert_int_equal(call.requests, 1); /* the create alone */
    assert_int_equal(fake_oe_count("GET " API "/practitioner/"), 1);
    assert_int_equal(fake_oe_count("GET " API "/appointment"), 1);
    /* a provider no row names: the error says what to configure */
    assert_int_equal(book(&e, PR9, &call), SW_ERR_NOT_FOUND);
    if (!strstr(call.detail, "practitioner." PR9 ".user_id"))
        fail_msg("detail: %s", call.detail);
    env_close(&e);
}

static void test_practitioner_without_admin_users_7x(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call;
    env_open(&e, "t2:", NULL);
    script_booking();
    fake_oe_answer("GET", API "/practitioner/" PR, 401, NULL); /* 7.0.x: no body */
    assert_int_equal(book(&e, PR, &call), SW_OK);
    assert_non_null(
        strstr(fake_oe_last_body("POST " API "/patient/4/appointment"), "\"pc_aid\":\"6\""));
    /* one refresh (the 401 could have been the token), then the rows */
    assert_int_equal(fake_oe_count("POST /oauth2/default/token"), 2);
    assert_int_equal(fake_oe_count("GET " API "/practitioner/"), 2);
    assert_int_equal(fake_oe_count("GET " API "/appointment"), 1);
    env_close(&e);
}

static void test_practitioner_without_npi(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call;
    env_open(&e, "t3:", NULL);
    script_booking();
    fake_oe_answer("GET", API "/practitioner/" PR, 404,
                   "{\"validationErrors\":[],\"internalErrors\":[],\"data\":[],\"links\":[]}");
    assert_int_equal(book(&e, PR, &call), SW_OK);
    assert_non_null(
        strstr(fake_oe_last_body("POST " API "/patient/4/appointment"), "\"pc_aid\":\"6\""));
    assert_int_equal(fake_oe_count("GET " API "/appointment"), 1);
    env_close(&e);
}

static void test_configured_user_id(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call;
    const char *extra[] = {"practitioner." PR9 ".user_id", "42", NULL};
    env_open(&e, "t4:", extra);
    script_booking();
    assert_int_equal(book(&e, PR9, &call), SW_OK);
    assert_non_null(
        strstr(fake_oe_last_body("POST " API "/patient/4/appointment"), "\"pc_aid\":\"42\""));
    assert_int_equal(fake_oe_count("GET " API "/practitioner"), 0);
    assert_int_equal(fake_oe_count("GET " API "/appointment"), 0);
    env_close(&e);
}

static void test_practitioner_list(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call = {0};
    char(*ids)[64] = NULL;
    size_t n = 0;
    env_open(&e, "t5:", NULL);
    fake_oe_answer(
        "GET", FHIR "/Practitioner", 200,
        "{\"resourceType\":\"Bundle\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"A\",\"active\":true}},"
        "{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"B\",\"active\":false}},"
        "{\"resource\":{\"resourceType\":\"Practitioner\",\"id\":\"C\"}}]}");
    assert_int_equal(oe_list_practitioners(e.c, &call, &ids, &n), SW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "A");
    assert_string_equal(ids[1], "C");
    free(ids);
    /* no active=: OpenEMR compares it with users.active as a string */
    assert_int_equal(fake_oe_count("GET " FHIR "/Practitioner?"), 0);
    assert_int_equal(fake_oe_count("GET " FHIR "/Practitioner"), 1);
    env_close(&e);

    /* refused: the configured ones and the rows' providers */
    const char *extra[] = {"practitioner." PR9 ".hours", "mon-fri 09:00-12:00", NULL};
    env_open(&e, "t5b:", extra);
    fake_oe_answer("GET", FHIR "/Practitioner", 403, ACL_403);
    fake_oe_answer("GET", API "/appointment", 200, ROWS);
    assert_int_equal(oe_list_practitioners(e.c, &call, &ids, &n), SW_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ids[0], PR9);
    assert_string_equal(ids[1], PR);
    assert_string_equal(ids[2], PR2);
    free(ids);
    env_close(&e);

    /* clinic.practitioners: asked of no one */
    const char *listed[] = {"clinic.practitioners", PR ", " PR2, NULL};
    env_open(&e, "t5c:", listed);
    assert_int_equal(oe_list_practitioners(e.c, &call, &ids, &n), SW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[1], PR2);
    assert_null(fake_oe_request(0));
    free(ids);
    env_close(&e);
}

/* A bundle of Appointments of PR, each "start" as given, 30 minutes. */
static char *bundle(const char *const *starts, const char *const *ends)
{
    static char text[16384];
    size_t k = (size_t)snprintf(text, sizeof(text), "{\"resourceType\":\"Bundle\",\"entry\":[");
    for (int i = 0; starts[i]; i++)
        k += (size_t)snprintf(
            text + k, sizeof(text) - k,
            "%s{\"resource\":{\"resourceType\":\"Appointment\",\"id\":\"u%d\",\"status\":"
            "\"booked\",\"start\":\"%s\",\"end\":\"%s\",\"participant\":[{\"actor\":"
            "{\"reference\":\"Patient/" PAT "\"}},{\"actor\":{\"reference\":\"Practitioner/" PR
            "\"}}]}}",
            i ? "," : "", i, starts[i], ends[i]);
    snprintf(text + k, sizeof(text) - k, "]}");
    return text;
}

static void test_fhir_times_across_dst(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call = {0};
    struct oe_appt *a = NULL;
    size_t n = 0;
    env_open(&e, "t6:", NULL);
    /* today is EST (-05:00): the EDT visit of 2026-10-30 08:30 printed -05:00 */
    const char *s1[] = {"2026-10-30T08:30:00-05:00", NULL},
               *e1[] = {"2026-10-30T09:00:00-05:00", NULL};
    fake_oe_answer("GET", FHIR "/Appointment", 200, bundle(s1, e1));
    assert_int_equal(oe_list_range(e.c, &call, PR, wall("2026-10-30", "00:00"),
                                   wall("2026-10-31", "00:00"), &a, &n),
                     SW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].start, wall("2026-10-30", "08:30"));
    assert_int_equal(a[0].end, wall("2026-10-30", "09:00"));
    free(a);
    /* one date key: a repeated one would keep only its last value */
    assert_string_equal(fake_oe_request(1), "GET " FHIR "/Appointment?date=eq2026-10-30");
    /* today is EDT (-04:00): the EST visit of 2026-11-03 08:30 printed -04:00;
     * a three-day range sends its first day, the end is applied here */
    const char *s2[] = {"2026-11-03T08:30:00-04:00", "2026-11-09T08:30:00-04:00", NULL},
               *e2[] = {"2026-11-03T09:00:00-04:00", "2026-11-09T09:00:00-04:00", NULL};
    fake_oe_answer("GET", FHIR "/Appointment", 200, bundle(s2, e2));
    assert_int_equal(oe_list_range(e.c, &call, PR, wall("2026-11-02", "00:00"),
                                   wall("2026-11-05", "00:00"), &a, &n),
                     SW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].start, wall("2026-11-03", "08:30"));
    free(a);
    assert_string_equal(fake_oe_request(2), "GET " FHIR "/Appointment?date=ge2026-11-02");
    env_close(&e);
}

static void test_answer_capped(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call = {0};
    struct oe_appt *a = NULL;
    size_t n = 0;
    const char *extra[] = {"openemr.max_search_rows", "10", NULL};
    env_open(&e, "t7:", extra);
    const char *s[13], *en[13];
    for (int i = 0; i < 12; i++) {
        s[i] = "2026-12-01T09:00:00-05:00";
        en[i] = "2026-12-01T09:30:00-05:00";
    }
    s[12] = en[12] = NULL;
    fake_oe_answer("GET", FHIR "/Appointment", 200, bundle(s, en));
    assert_int_equal(oe_list_range(e.c, &call, NULL, wall("2026-12-01", "00:00"),
                                   wall("2026-12-02", "00:00"), &a, &n),
                     SW_ERR_CAPPED);
    assert_null(a);
    assert_non_null(strstr(call.detail, "openemr.max_search_rows (10)"));
    s[10] = en[10] = NULL; /* ten: read */
    fake_oe_answer("GET", FHIR "/Appointment", 200, bundle(s, en));
    assert_int_equal(oe_list_range(e.c, &call, NULL, wall("2026-12-01", "00:00"),
                                   wall("2026-12-02", "00:00"), &a, &n),
                     SW_OK);
    assert_int_equal(n, 10);
    free(a);
    env_close(&e);
}

static void test_refused_scope_stops_the_login(void **state)
{
    (void)state;
    struct env e;
    struct oe_call call = {0};
    struct oe_appt *a = NULL;
    size_t n = 0;
    const char *extra[] = {"oauth.check_scopes", "true", NULL};
    env_open(&e, "t8:", extra);
    /* a list without the standard API's appointment scopes (no form of
     * user/appointment is listed, so neither rule grants one) */
    fake_oe_answer(
        "GET", FHIR "/.well-known/smart-configuration", 200,
        "{\"scopes_supported\":[[\"openid\",\"offline_access\",\"api:oemr\","
        "\"api:fhir\",\"user/Patient.read\",\"user/Appointment.read\","
        "\"user/Practitioner.read\",\"user/patient.read\",\"user/practitioner.read\"]]}");
    assert_int_not_equal(oe_list_range(e.c, &call, NULL, wall("2026-12-01", "00:00"),
                                       wall("2026-12-02", "00:00"), &a, &n),
                         SW_OK);
    if (!strstr(call.detail, "user/appointment.write"))
        fail_msg("detail: %s", call.detail);
    assert_non_null(strstr(call.detail, "user/appointment.read"));
    assert_null(strstr(call.detail, "user/patient.read"));
    assert_int_equal(fake_oe_count("POST /oauth2/default/token"), 0);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_practitioner_without_admin_users_8x),
        cmocka_unit_test(test_practitioner_without_admin_users_7x),
        cmocka_unit_test(test_practitioner_without_npi),
        cmocka_unit_test(test_configured_user_id),
        cmocka_unit_test(test_practitioner_list),
        cmocka_unit_test(test_fhir_times_across_dst),
        cmocka_unit_test(test_answer_capped),
        cmocka_unit_test(test_refused_scope_stops_the_login),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
