/* test_result.c - result_serialize and result_serialize_parse_error output
 * parsed back.  Results written here go to
 * $BUILD/test-artifacts/results-*.json for tests/schemas/test_messages.py. */
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

#include "result.h"
#include "unit_util.h"

#define ENV(type, payload) "{\"type\":\"" type "\",\"request_id\":\"r-1\",\"payload\":" payload "}"

static sw_err parse_str(const char *text, struct command *cmd, struct cmd_parse_error *err)
{
    return command_parse(text, strlen(text), cmd, err);
}

/* ---- results -------------------------------------------------------------- */

static json_t *serialize_back(const struct result *r, const char *artifact)
{
    char *s = result_serialize(r);
    assert_non_null(s);
    json_error_t jerr;
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        fail_msg("result is not JSON: %s: %s", jerr.text, s);
    if (artifact)
        assert_int_equal(util_write_artifact(artifact, s), 0);
    free(s);
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), r->request_id);
    assert_string_equal(json_string_value(json_object_get(o, "type")), cmd_type_name(r->type));
    assert_non_null(json_string_value(json_object_get(o, "processed_at")));
    return o;
}

static void init_result(struct result *r, enum cmd_type t)
{
    struct command cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = t;
    snprintf(cmd.request_id, sizeof(cmd.request_id), "req-%s", cmd_type_name(t));
    result_init(r, &cmd);
    r->processed_at_ms = 1772460000123LL; /* 2026-03-02T14:00:00.123Z */
}

static void fill_slot(struct res_slot *s, int i)
{
    snprintf(s->slot_id, sizeof(s->slot_id), "slot-%d", i);
    s->start = 1773061200 + i * 1800; /* 2026-03-09T09:00:00-04:00 */
    s->end = s->start + 1800;
    snprintf(s->practitioner_id, sizeof(s->practitioner_id), "12");
    snprintf(s->appointment_type, sizeof(s->appointment_type), "follow_up");
}

static void fill_appointment(struct res_appointment *a)
{
    snprintf(a->appointment_id, sizeof(a->appointment_id), "77");
    snprintf(a->confirmation_number, sizeof(a->confirmation_number), "K7M-2QX");
    a->start = 1773061200;
    a->end = a->start + 3600;
    snprintf(a->practitioner_id, sizeof(a->practitioner_id), "12");
    snprintf(a->appointment_type, sizeof(a->appointment_type), "routine");
    snprintf(a->status, sizeof(a->status), "-");
}

static void test_result_ok_each_type(void **state)
{
    (void)state;
    for (int t = 0; t < CMD__COUNT; t++) {
        struct result r;
        init_result(&r, (enum cmd_type)t);
        switch ((enum cmd_type)t) {
        case CMD_SEARCH_SLOTS:
            for (int i = 0; i < 3; i++)
                fill_slot(&r.slots[i], i);
            r.n_slots = 3;
            break;
        case CMD_FIND_PATIENT:
            r.matches = calloc(2, sizeof(*r.matches));
            r.n_matches = 2;
            for (int i = 0; i < 2; i++) {
                snprintf(r.matches[i].patient_id, CMD_REF_MAX, "%d", 40 + i);
                snprintf(r.matches[i].given_name, 64, "Zo\xc3\xab");
                snprintf(r.matches[i].family_name, 64, "O'Brien \"Jr\"");
                snprintf(r.matches[i].birthdate, 11, "1984-07-12");
            }
            break;
        case CMD_LIST_APPOINTMENTS:
        case CMD_BOOK:
        case CMD_RESCHEDULE:
            r.appointments = calloc(1, sizeof(*r.appointments));
            r.n_appointments = 1;
            fill_appointment(&r.appointments[0]);
            snprintf(r.previous_appointment_id, CMD_REF_MAX, "76");
            break;
        case CMD_HOLD:
        case CMD_RELEASE_HOLD:
            snprintf(r.hold_id, sizeof(r.hold_id), "h-1");
            r.expires_at_ms = 1772460120000LL;
            break;
        case CMD_CANCEL:
            snprintf(r.cancelled_appointment_id, CMD_REF_MAX, "77");
            r.cancelled_at_ms = 1772460000000LL;
            break;
        case CMD_JOIN_WAITLIST:
        case CMD_LEAVE_WAITLIST:
            snprintf(r.waitlist_id, sizeof(r.waitlist_id), "w-1");
            break;
        case CMD__COUNT:
            break;
        }
        char name[64];
        snprintf(name, sizeof(name), "results-ok-%s.json", cmd_type_name((enum cmd_type)t));
        json_t *o = serialize_back(&r, name);
        assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
        assert_null(json_object_get(o, "error"));
        assert_null(json_object_get(o, "alternatives"));
        json_t *res = json_object_get(o, "result");
        assert_true(json_is_object(res));
        switch ((enum cmd_type)t) {
        case CMD_SEARCH_SLOTS: {
            json_t *slots = json_object_get(res, "slots");
            assert_int_equal(json_array_size(slots), 3);
            json_t *s0 = json_array_get(slots, 0);
            assert_string_equal(json_string_value(json_object_get(s0, "slot_id")), "slot-0");
            assert_string_equal(json_string_value(json_object_get(s0, "start")),
                                "2026-03-09T09:00:00-04:00");
            assert_string_equal(json_string_value(json_object_get(s0, "end")),
                                "2026-03-09T09:30:00-04:00");
            break;
        }
        case CMD_FIND_PATIENT: {
            json_t *m = json_array_get(json_object_get(res, "matches"), 1);
            assert_string_equal(json_string_value(json_object_get(m, "patient_id")), "41");
            assert_string_equal(json_string_value(json_object_get(m, "family_name")),
                                "O'Brien \"Jr\"");
            break;
        }
        case CMD_LIST_APPOINTMENTS:
            assert_int_equal(json_array_size(json_object_get(res, "appointments")), 1);
            break;
        case CMD_BOOK:
        case CMD_RESCHEDULE:
            assert_string_equal(json_string_value(json_object_get(res, "appointment_id")), "77");
            assert_string_equal(json_string_value(json_object_get(res, "confirmation_number")),
                                "K7M-2QX");
            assert_string_equal(json_string_value(json_object_get(res, "end")),
                                "2026-03-09T10:00:00-04:00");
            if (t == CMD_RESCHEDULE)
                assert_string_equal(
                    json_string_value(json_object_get(res, "previous_appointment_id")), "76");
            else
                assert_null(json_object_get(res, "previous_appointment_id"));
            break;
        case CMD_HOLD:
            assert_string_equal(json_string_value(json_object_get(res, "expires_at")),
                                "2026-03-02T09:02:00-05:00");
            break;
        case CMD_CANCEL:
            assert_string_equal(json_string_value(json_object_get(res, "cancelled_at")),
                                "2026-03-02T09:00:00-05:00");
            break;
        default:
            break;
        }
        json_decref(o);
        result_clear(&r);
    }
}

static void test_result_stale_next_available(void **state)
{
    (void)state;
    struct result r;
    init_result(&r, CMD_SEARCH_SLOTS);
    r.has_next_available = true;
    fill_slot(&r.next_available, 9);
    r.stale = true;
    json_t *o = serialize_back(&r, "results-ok-search_slots-next.json");
    json_t *res = json_object_get(o, "result");
    assert_int_equal(json_array_size(json_object_get(res, "slots")), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(res, "next_available"), "slot_id")),
        "slot-9");
    assert_true(json_is_true(json_object_get(res, "stale")));
    json_decref(o);
}

static void test_result_failures(void **state)
{
    (void)state;
    static const struct {
        sw_err err;
        const char *code, *status;
    } cases[] = {
        {SW_ERR_NOT_FOUND, "no_patient", "not_found"},
        {SW_ERR_REJECTED, "short_notice", "rejected"},
        {SW_ERR_EXPIRED, NULL, "expired"},
        {SW_ERR_UNAVAILABLE, "openemr_down", "unavailable"},
        {SW_ERR_SERVER, NULL, "unavailable"},
        {SW_ERR_INTERNAL, NULL, "error"},
        {SW_ERR_INVALID, "bad_range", "invalid"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result r;
        init_result(&r, CMD_BOOK);
        /* slots filled but not a conflict: no alternatives */
        fill_slot(&r.slots[0], 0);
        r.n_slots = 1;
        if (cases[i].code)
            result_fail(&r, sw_err_status(cases[i].err), cases[i].code, "Sorry, %s.",
                        "that did not work");
        else /* the code is the error's word, the message defaults to the status */
            result_fail_err(&r, cases[i].err, "%s", "");
        char name[64];
        snprintf(name, sizeof(name), "results-fail-%s.json", cases[i].status);
        json_t *o = serialize_back(&r, name);
        assert_string_equal(json_string_value(json_object_get(o, "status")), cases[i].status);
        json_t *e = json_object_get(o, "error");
        assert_true(json_is_object(e));
        assert_string_equal(json_string_value(json_object_get(e, "code")),
                            cases[i].code ? cases[i].code : sw_err_str(cases[i].err));
        assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
        assert_null(json_object_get(o, "result"));
        assert_null(json_object_get(o, "alternatives"));
        json_decref(o);
    }
}

static void test_result_conflict_alternatives(void **state)
{
    (void)state;
    struct result r;
    init_result(&r, CMD_BOOK);
    for (int i = 0; i < 5; i++)
        fill_slot(&r.slots[i], i);
    r.n_slots = 5;
    result_fail(&r, RES_CONFLICT, "slot_taken", "That time was just taken.");
    json_t *o = serialize_back(&r, "results-fail-conflict.json");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "conflict");
    json_t *alt = json_object_get(o, "alternatives");
    assert_true(json_is_array(alt));
    /* the contract: up to 3 other slots */
    assert_int_equal(json_array_size(alt), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(alt, 2), "slot_id")),
                        "slot-2");
    json_decref(o);
}

/* A long message with multi-byte characters cut by the 256-byte buffer
 * must still serialize with its error object. */
static void test_result_long_utf8_message(void **state)
{
    (void)state;
    struct result r;
    init_result(&r, CMD_CANCEL);
    char msg[400];
    size_t n = 0; /* 2-byte characters: the 255-byte cut falls inside one */
    while (n + 2 < sizeof(msg)) {
        msg[n++] = '\xc3';
        msg[n++] = '\xa9';
    }
    msg[n] = '\0';
    result_fail(&r, RES_NOT_FOUND, "no_appointment", "%s", msg);
    json_t *o = serialize_back(&r, "results-fail-long-utf8.json");
    json_t *e = json_object_get(o, "error");
    assert_non_null(e);
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 100);
    json_decref(o);
}

static void test_parse_error_result(void **state)
{
    (void)state;
    struct command c;
    struct cmd_parse_error err;
    assert_int_equal(
        parse_str("{\"type\":\"bogus\",\"request_id\":\"r-9\",\"reply_to\":\"my.topic\","
                  "\"payload\":{}}",
                  &c, &err),
        SW_ERR_INVALID);
    assert_true(err.have_request_id);
    assert_string_equal(err.reply_to, "my.topic");
    char *s = result_serialize_parse_error(&err, 1772460000000LL);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "r-9");
    assert_string_equal(json_string_value(json_object_get(o, "type")), "unknown");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "invalid");
    assert_string_equal(json_string_value(json_object_get(o, "processed_at")),
                        "2026-03-02T09:00:00-05:00");
    assert_null(json_object_get(o, "result"));
    json_decref(o);
    assert_int_equal(util_write_artifact("results-invalid-unknown-type.json", s), 0);
    free(s);

    /* an invalid reply_to is not where the invalid result goes */
    assert_int_equal(parse_str("{\"type\":\"book\",\"request_id\":\"r-8\",\"reply_to\":\"x y\","
                               "\"payload\":{}}",
                               &c, &err),
                     SW_ERR_INVALID);
    assert_true(err.have_request_id);
    assert_string_equal(err.reply_to, "");

    /* a known type is echoed */
    assert_int_equal(parse_str(ENV("book", "{}"), &c, &err), SW_ERR_INVALID);
    s = result_serialize_parse_error(&err, 1772460000000LL);
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "book");
    json_decref(o);
    free(s);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_ok_each_type),
        cmocka_unit_test(test_result_stale_next_available),
        cmocka_unit_test(test_result_failures),
        cmocka_unit_test(test_result_conflict_alternatives),
        cmocka_unit_test(test_result_long_utf8_message),
        cmocka_unit_test(test_parse_error_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
