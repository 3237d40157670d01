/* test_canon.c - one identity per patient and practitioner: the accepted id
 * forms (ids.c), their resolution before anything keys on them (canon.c),
 * and the double booking that mixed forms used to allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "canon.h"
#include "fake.h"
#include "handlers.h"
#include "ids.h"
#include "timeutil.h"

#define PT_UUID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define PR_UUID "9f1c2d3e-aaaa-4bbb-8ccc-123456789abc"

static void test_forms(void **state)
{
    (void)state;
    static const struct {
        enum id_kind kind;
        const char *raw, *want;
        enum id_form form;
        sw_err err;
    } cases[] = {
        {ID_PATIENT, PT_UUID, PT_UUID, ID_FORM_UUID, SW_OK},
        {ID_PATIENT, "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", PT_UUID, ID_FORM_UUID, SW_OK},
        {ID_PATIENT, "Patient/" PT_UUID, PT_UUID, ID_FORM_UUID, SW_OK},
        {ID_PATIENT, "42", "42", ID_FORM_NUMERIC, SW_OK},
        {ID_PATIENT, "0042", "42", ID_FORM_NUMERIC, SW_OK}, /* one number, one patient */
        {ID_PATIENT, "Patient/42", "42", ID_FORM_NUMERIC, SW_OK},
        {ID_PATIENT, "abc-1.2", "abc-1.2", ID_FORM_FHIR, SW_OK},
        {ID_PRACTITIONER, "Practitioner/" PR_UUID, PR_UUID, ID_FORM_UUID, SW_OK},
        {ID_PRACTITIONER, "Person/" PR_UUID, PR_UUID, ID_FORM_UUID, SW_OK},
        {ID_PRACTITIONER, "7", "7", ID_FORM_NUMERIC, SW_OK},
        {ID_PATIENT, "Practitioner/" PR_UUID, "", 0, SW_ERR_INVALID}, /* wrong type */
        {ID_PRACTITIONER, "Patient/42", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "Patient/", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "0", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "000", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, " 42", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "42 ", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "4 2", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "a/b/c", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "Patient/a/b", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "x;DROP", "", 0, SW_ERR_INVALID},
        {ID_PATIENT, "1234567890123456789", "", 0, SW_ERR_INVALID}, /* > 18 digits */
        {ID_PATIENT, "Patient/%2e%2e", "", 0, SW_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[ID_MAX];
        enum id_form form = ID_FORM_FHIR;
        sw_err err = ids_normalize(cases[i].kind, cases[i].raw, out, &form);
        if (err != cases[i].err)
            fail_msg("case %zu \"%s\": got %s", i, cases[i].raw, sw_err_str(err));
        if (!err) {
            assert_string_equal(out, cases[i].want);
            assert_int_equal(form, cases[i].form);
        }
    }
    char out[ID_MAX];
    enum id_form form;
    assert_int_equal(ids_normalize(ID_PATIENT, NULL, out, &form), SW_ERR_INVALID);
    char big[80];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ids_normalize(ID_PATIENT, big, out, &form), SW_ERR_INVALID);
}

struct env {
    struct sw_config cfg;
    struct sw_manual_clock clk;
    struct fake_store fs;
    struct fake_emr fe;
    struct outbox out;
    struct worker w;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(sw_config_load(&e->cfg, NULL, stderr), SW_OK);
    int64_t now;
    assert_int_equal(timeutil_parse_rfc3339("2026-12-01T10:00:00-05:00", &now), SW_OK);
    clock_manual_init(&e->clk, now * 1000);
    fake_store_init(&e->fs, &e->clk.clock);
    fake_emr_init(&e->fe);
    fake_emr_alias(&e->fe, ID_PATIENT, "42", PT_UUID);
    fake_emr_alias(&e->fe, ID_PRACTITIONER, "7", PR_UUID);
    e->w =
        (struct worker){.cfg = &e->cfg,
                        .clock = &e->clk.clock,
                        .store = e->fs.store,
                        .emr = e->fe.emr,
                        .out = &e->out,
                        .owner = "replica-1",
                        .fence = 1,
                        .confirm_key = (const unsigned char *)"0123456789abcdef0123456789abcdef"};
    fake_store_lease(&e->fs, "replica-1", 1);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    outbox_clear(&e->out);
    fake_store_free(&e->fs);
    sw_config_free(&e->cfg);
    free(e);
    return 0;
}

static void parse(struct command *c, const char *json)
{
    struct cmd_parse_error perr;
    if (command_parse(json, strlen(json), c, &perr) != SW_OK)
        fail_msg("%s: %s", perr.code, perr.message);
}

static void test_canon_command(void **state)
{
    struct env *e = *state;
    struct command c;
    struct result r;
    struct oe_call call = {.deadline_ms = INT64_MAX};
    parse(&c, "{\"type\":\"search_slots\",\"request_id\":\"s\",\"payload\":{\"appointment_type\":"
              "\"follow_up\",\"from\":\"2026-12-03T08:00:00-05:00\",\"to\":"
              "\"2026-12-03T17:00:00-05:00\",\"practitioner_id\":[\"7\",\"Practitioner/" PR_UUID
              "\",\"" PR_UUID "\"],\"patient_id\":\"Patient/" PT_UUID "\"}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_OK);
    assert_int_equal(c.u.search.n_practitioners, 1); /* three names, one practitioner */
    assert_string_equal(c.u.search.practitioners[0], PR_UUID);
    assert_string_equal(c.u.search.patient_id, PT_UUID);
    result_clear(&r);

    /* a number nobody has: not_found, never passed on raw */
    parse(&c,
          "{\"type\":\"join_waitlist\",\"request_id\":\"l\",\"payload\":{\"patient_id\":"
          "\"43\",\"appointment_type\":\"follow_up\",\"earliest\":\"2026-12-03T08:00:00-05:00\","
          "\"latest\":\"2026-12-04T08:00:00-05:00\"}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_ERR_NOT_FOUND);
    assert_int_equal(r.status, RES_NOT_FOUND);
    assert_string_equal(r.error_code, "unknown_patient");
    result_clear(&r);

    parse(&c, "{\"type\":\"list_appointments\",\"request_id\":\"l\",\"payload\":{\"patient_id\":"
              "\"Practitioner/7\"}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_ERR_INVALID);
    assert_int_equal(r.status, RES_INVALID);
    assert_string_equal(r.error_code, "bad_id");
    result_clear(&r);

    /* reads of a patient's calendar take no number: a pid walk reads nothing */
    for (const char *const *pid = (const char *const[]){"42", "0042", "Patient/42", NULL}; *pid;
         pid++) {
        char json[200];
        snprintf(json, sizeof(json),
                 "{\"type\":\"list_appointments\",\"request_id\":\"l\",\"payload\":{"
                 "\"patient_id\":\"%s\"}}",
                 *pid);
        parse(&c, json);
        result_init(&r, &c);
        int calls = fake_emr_total_calls(&e->fe);
        assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_ERR_INVALID);
        assert_string_equal(r.error_code, "numeric_patient_id");
        assert_int_equal(fake_emr_total_calls(&e->fe), calls); /* OpenEMR not asked */
        result_clear(&r);
    }
    parse(&c, "{\"type\":\"list_appointments\",\"request_id\":\"l\",\"payload\":{\"patient_id\":"
              "\"Patient/" PT_UUID "\"}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_OK);
    assert_string_equal(c.u.list.patient_id, PT_UUID);
    result_clear(&r);

    /* OpenEMR cannot say now: unavailable */
    fake_emr_fail(&e->fe, FE_RESOLVE, SW_ERR_TIMEOUT, 1, false, false);
    parse(&c,
          "{\"type\":\"join_waitlist\",\"request_id\":\"l\",\"payload\":{\"patient_id\":"
          "\"42\",\"appointment_type\":\"follow_up\",\"earliest\":\"2026-12-03T08:00:00-05:00\","
          "\"latest\":\"2026-12-04T08:00:00-05:00\"}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_ERR_TIMEOUT);
    assert_int_equal(r.status, RES_UNAVAILABLE);
    result_clear(&r);
}

/* Offline (before the replay guard has admitted the command): uuids pass,
 * a number that needs OpenEMR is SW_ERR_BUSY with no request and nothing
 * answered; online again it resolves. */
static void test_canon_offline(void **state)
{
    struct env *e = *state;
    struct command c;
    struct result r;
    struct oe_call call = {.deadline_ms = INT64_MAX, .offline = true};
    parse(&c, "{\"type\":\"search_slots\",\"request_id\":\"s\",\"payload\":{\"appointment_type\":"
              "\"follow_up\",\"from\":\"2026-12-03T08:00:00-05:00\",\"to\":"
              "\"2026-12-03T17:00:00-05:00\",\"practitioner_id\":[\"Practitioner/" PR_UUID "\"]}}");
    result_init(&r, &c);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_OK);
    assert_string_equal(c.u.search.practitioners[0], PR_UUID);
    result_clear(&r);

    parse(&c, "{\"type\":\"book\",\"request_id\":\"b\",\"payload\":{\"patient_id\":\"42\","
              "\"practitioner_id\":\"" PR_UUID "\",\"start\":\"2026-12-03T09:00:00-05:00\","
              "\"appointment_type\":\"follow_up\"}}");
    result_init(&r, &c);
    int calls = fake_emr_total_calls(&e->fe);
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_ERR_BUSY);
    assert_int_equal(r.status, RES_OK); /* nothing to answer yet */
    assert_int_equal(call.requests, 0);
    call.offline = false;
    assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_OK);
    assert_string_equal(c.u.book.patient_id, PT_UUID);
    assert_true(fake_emr_total_calls(&e->fe) > calls);
    result_clear(&r);
}

/* The counterexample: one slot booked under each id form must give
 * one appointment, and the others conflicts. */
static void test_mixed_forms_book_once(void **state)
{
    struct env *e = *state;
    static const char *const forms[][2] = {
        {"42", "7"},
        {PT_UUID, PR_UUID},
        {"Patient/0042", "Practitioner/" PR_UUID},
        {"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", "0007"},
    };
    int ok = 0, conflicts = 0;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"type\":\"book\",\"request_id\":\"b%zu\",\"payload\":{\"patient_id\":\"%s\","
                 "\"practitioner_id\":\"%s\",\"start\":\"2026-12-03T09:00:00-05:00\","
                 "\"appointment_type\":\"follow_up\"}}",
                 i, forms[i][0], forms[i][1]);
        struct command c;
        struct result r;
        parse(&c, json);
        result_init(&r, &c);
        struct oe_call call = {.deadline_ms = INT64_MAX};
        assert_int_equal(canon_command(&e->w, &call, &c, &r), SW_OK);
        assert_int_equal(handle_book(&e->w, &c, &r, NULL), OUTCOME_ANSWER);
        if (r.status == RES_OK)
            ok++;
        else if (r.status == RES_CONFLICT)
            conflicts++;
        result_clear(&r);
        outbox_clear(&e->out);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflicts, 3);
    assert_int_equal(e->fe.n_appts, 1);
    assert_string_equal(e->fe.appts[0].patient_id, PT_UUID);
    assert_string_equal(e->fe.appts[0].practitioner_id, PR_UUID);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test_setup_teardown(test_canon_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canon_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_forms_book_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
