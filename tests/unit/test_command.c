/* test_command.c - command_parse over the message table (tests/data) and
 * direct cases (results are test_result.c).  The invalid results written
 * here go to $BUILD/test-artifacts/results-*.json for
 * tests/schemas/test_messages.py. */
#include <dirent.h>
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

#include "command.h"
#include "unit_util.h"

/* ---- helpers ------------------------------------------------------------ */

static sw_err parse_str(const char *text, struct command *cmd, struct cmd_parse_error *err)
{
    return command_parse(text, strlen(text), cmd, err);
}

/* Parses an envelope around a payload; asserts the outcome. */
static void expect_ok(const char *json, struct command *cmd)
{
    struct cmd_parse_error err;
    sw_err rc = parse_str(json, cmd, &err);
    if (rc != SW_OK)
        fail_msg("expected OK for %s, got %s: %s", json, err.code, err.message);
}

static void expect_invalid(const char *json, const char *code)
{
    struct command cmd;
    struct cmd_parse_error err;
    sw_err rc = parse_str(json, &cmd, &err);
    if (rc != SW_ERR_INVALID)
        fail_msg("expected invalid (%s) for %.200s", code ? code : "any", json);
    assert_true(err.code[0] != '\0');
    assert_true(err.message[0] != '\0');
    if (code && strcmp(err.code, code) != 0)
        fail_msg("expected code %s for %.200s, got %s (%s)", code, json, err.code, err.message);
}

static int64_t epoch_of(int y, int mo, int d, int h, int mi, int s, int offset_min)
{
    /* days from civil (Howard Hinnant) */
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + s - offset_min * 60;
}

/* ---- the message table -------------------------------------------------- */

static int run_dir(const char *dir, bool valid)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (tests run from the repository root)", dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t blen = 0;
        char *bytes = util_read_file(path, &blen);
        assert_non_null(bytes);
        struct command cmd;
        struct cmd_parse_error err;
        sw_err rc = command_parse(bytes, blen, &cmd, &err);
        if (valid) {
            if (rc != SW_OK)
                fail_msg("%s: expected valid, got %s: %s", path, err.code, err.message);
            json_t *root = json_loadb(bytes, blen, 0, NULL);
            assert_non_null(root);
            assert_string_equal(cmd_type_name(cmd.type),
                                json_string_value(json_object_get(root, "type")));
            assert_string_equal(cmd.request_id,
                                json_string_value(json_object_get(root, "request_id")));
            json_decref(root);
        } else {
            if (rc != SW_ERR_INVALID)
                fail_msg("%s: expected invalid, but it parsed", path);
            if (!err.code[0] || !err.message[0])
                fail_msg("%s: invalid without code or message", path);
            /* the invalid result serializes and parses back */
            char *res = result_serialize_parse_error(&err, 1772460000000LL);
            assert_non_null(res);
            json_t *r = json_loads(res, 0, NULL);
            assert_non_null(r);
            assert_string_equal(json_string_value(json_object_get(r, "status")), "invalid");
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(r, "error"), "code")), err.code);
            json_decref(r);
            if (err.have_request_id) {
                char name[300];
                snprintf(name, sizeof(name), "results-invalid-%.*s", (int)(len - 5), de->d_name);
                snprintf(name + strlen(name), sizeof(name) - strlen(name), ".json");
                assert_int_equal(util_write_artifact(name, res), 0);
            }
            free(res);
        }
        free(bytes);
        n++;
    }
    closedir(d);
    return n;
}

static void test_valid_table(void **state)
{
    (void)state;
    int n = run_dir("tests/data/valid", true);
    assert_true(n >= 10);
}

static void test_invalid_table(void **state)
{
    (void)state;
    int n = run_dir("tests/data/invalid", false);
    assert_true(n >= 10);
}

/* The invalid files whose name says the code (spot checks). */
static void test_invalid_codes(void **state)
{
    (void)state;
    static const struct {
        const char *file, *code;
        bool have_request_id;
    } cases[] = {
        {"broken_json_truncated.json", "bad_json", false},
        {"empty_message.json", "bad_json", false},
        {"not_an_object_array.json", "bad_json", false},
        {"duplicate_key_request_id.json", "bad_json", false},
        {"missing_request_id.json", "missing_field", false},
        {"request_id_129_chars.json", "too_long", false},
        {"unknown_type.json", "unknown_type", true},
        {"envelope_unknown_field.json", "unknown_field", true},
        {"payload_unknown_field_typo.json", "unknown_field", true},
        {"missing_payload.json", "missing_field", true},
        {"payload_not_object.json", "bad_type", true},
        {"search_slots_limit_string.json", "bad_type", true},
        {"search_slots_17_practitioners.json", "too_many", true},
        {"impossible_date_in_from.json", "bad_time", true},
        {"find_patient_impossible_birthdate.json", "bad_date", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "tests/data/invalid/%s", cases[i].file);
        size_t len = 0;
        char *bytes = util_read_file(path, &len);
        if (!bytes)
            fail_msg("missing %s", path);
        struct command cmd;
        struct cmd_parse_error err;
        assert_int_equal(command_parse(bytes, len, &cmd, &err), SW_ERR_INVALID);
        if (strcmp(err.code, cases[i].code) != 0)
            fail_msg("%s: code %s, expected %s (%s)", path, err.code, cases[i].code, err.message);
        if (err.have_request_id != cases[i].have_request_id)
            fail_msg("%s: have_request_id %d", path, err.have_request_id);
        free(bytes);
    }
}

/* ---- payload fields of each command ------------------------------------- */

#define ENV(type, payload) "{\"type\":\"" type "\",\"request_id\":\"r-1\",\"payload\":" payload "}"

static void test_search_fields(void **state)
{
    (void)state;
    struct command c;
    expect_ok(ENV("search_slots", "{\"appointment_type\":\"routine\",\"from\":\"2026-03-09T08:00:"
                                  "00-04:00\",\"to\":\"2026-03-10T00:00:00Z\",\"practitioner_id\":"
                                  "\"12\",\"patient_id\":\"42\",\"limit\":7}"),
              &c);
    assert_int_equal(c.type, CMD_SEARCH_SLOTS);
    assert_string_equal(c.u.search.appointment_type, "routine");
    assert_true(c.u.search.from == epoch_of(2026, 3, 9, 8, 0, 0, -240));
    assert_true(c.u.search.to == epoch_of(2026, 3, 10, 0, 0, 0, 0));
    assert_int_equal(c.u.search.n_practitioners, 1);
    assert_string_equal(c.u.search.practitioners[0], "12");
    assert_string_equal(c.u.search.patient_id, "42");
    assert_int_equal(c.u.search.limit, 7);
    assert_int_equal(cmd_type_topic(c.type), CMD_TOPIC_SEARCH);
    assert_false(cmd_type_is_write(c.type));

    /* practitioner_id as an array; no limit = 0 */
    expect_ok(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:00:"
                                  "00Z\",\"to\":\"2026-03-09T09:00:00Z\",\"practitioner_id\":"
                                  "[\"1\",\"2\",\"3\"]}"),
              &c);
    assert_int_equal(c.u.search.n_practitioners, 3);
    assert_string_equal(c.u.search.practitioners[2], "3");
    assert_int_equal(c.u.search.limit, 0);

    /* no practitioner: every practitioner */
    expect_ok(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:00:"
                                  "00Z\",\"to\":\"2026-03-09T09:00:00Z\"}"),
              &c);
    assert_int_equal(c.u.search.n_practitioners, 0);

    /* to before from */
    expect_invalid(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T09:"
                                       "00:00Z\",\"to\":\"2026-03-09T09:00:00Z\"}"),
                   "bad_range");
    /* limit bounds */
    expect_invalid(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:"
                                       "00:00Z\",\"to\":\"2026-03-09T09:00:00Z\",\"limit\":51}"),
                   "bad_value");
    expect_ok(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:00:"
                                  "00Z\",\"to\":\"2026-03-09T09:00:00Z\",\"limit\":50}"),
              &c);
    /* an empty array is not "every practitioner" (leave the field out for that) */
    expect_invalid(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:"
                                       "00:00Z\",\"to\":\"2026-03-09T09:00:00Z\","
                                       "\"practitioner_id\":[]}"),
                   "bad_value");
    /* an empty array element is refused like an empty string */
    expect_invalid(ENV("search_slots", "{\"appointment_type\":\"urgent\",\"from\":\"2026-03-09T08:"
                                       "00:00Z\",\"to\":\"2026-03-09T09:00:00Z\","
                                       "\"practitioner_id\":[\"\"]}"),
                   "bad_type");
}

static void test_find_list_fields(void **state)
{
    (void)state;
    struct command c;
    expect_ok(
        ENV("find_patient",
            "{\"phone\":\"+1 (555) 010-2030\",\"birthdate\":\"1984-07-12\",\"name\":\"Ann\"}"),
        &c);
    assert_int_equal(c.type, CMD_FIND_PATIENT);
    assert_string_equal(c.u.find.phone, "+1 (555) 010-2030");
    assert_string_equal(c.u.find.birthdate, "1984-07-12");
    assert_string_equal(c.u.find.name, "Ann");
    expect_invalid(ENV("find_patient", "{\"phone\":\"555010\",\"birthdate\":\"1984-07-12\"}"),
                   "bad_value"); /* 6 digits */
    expect_invalid(ENV("find_patient", "{\"phone\":\"1234567890123456\",\"birthdate\":\"1984-07-"
                                       "12\"}"),
                   "bad_value"); /* 16 digits */
    expect_invalid(ENV("find_patient", "{\"phone\":\"5550102030\",\"birthdate\":\"1983-02-29\"}"),
                   "bad_date");

    expect_ok(ENV("list_appointments", "{\"patient_id\":\"42\"}"), &c);
    assert_int_equal(c.type, CMD_LIST_APPOINTMENTS);
    assert_string_equal(c.u.list.patient_id, "42");
    assert_true(c.u.list.from == 0 && c.u.list.to == 0);
    expect_ok(ENV("list_appointments", "{\"patient_id\":\"42\",\"from\":\"2026-01-01T00:00:00Z\","
                                       "\"to\":\"2026-02-01T00:00:00Z\"}"),
              &c);
    assert_true(c.u.list.from == epoch_of(2026, 1, 1, 0, 0, 0, 0));
    assert_true(c.u.list.to == epoch_of(2026, 2, 1, 0, 0, 0, 0));
}

static void test_write_fields(void **state)
{
    (void)state;
    struct command c;
    expect_ok(ENV("hold", "{\"slot_id\":\"s-1\",\"ttl_seconds\":600,\"patient_id\":\"42\"}"), &c);
    assert_int_equal(c.type, CMD_HOLD);
    assert_string_equal(c.u.hold.slot_id, "s-1");
    assert_int_equal(c.u.hold.ttl_seconds, 600);
    assert_int_equal(cmd_type_topic(c.type), CMD_TOPIC_BOOK);
    assert_true(cmd_type_is_write(c.type));
    expect_ok(ENV("hold", "{\"practitioner_id\":\"12\",\"start\":\"2026-03-09T09:00:00-04:00\","
                          "\"appointment_type\":\"routine\"}"),
              &c);
    assert_string_equal(c.u.hold.practitioner_id, "12");
    assert_true(c.u.hold.start == epoch_of(2026, 3, 9, 13, 0, 0, 0));
    expect_invalid(ENV("hold", "{\"practitioner_id\":\"12\",\"start\":\"2026-03-09T09:00:00Z\"}"),
                   "missing_field");

    expect_ok(ENV("release_hold", "{\"hold_id\":\"h-9\"}"), &c);
    assert_string_equal(c.u.hold_id, "h-9");

    expect_ok(ENV("book", "{\"patient_id\":\"42\",\"practitioner_id\":\"12\",\"start\":\"2026-03-"
                          "09T09:00:00-04:00\",\"appointment_type\":\"routine\",\"hold_id\":\"h-"
                          "1\",\"reason\":\"Knee \\u00e9\"}"),
              &c);
    assert_int_equal(c.type, CMD_BOOK);
    assert_string_equal(c.u.book.patient_id, "42");
    assert_string_equal(c.u.book.practitioner_id, "12");
    assert_string_equal(c.u.book.hold_id, "h-1");
    assert_string_equal(c.u.book.reason, "Knee \xc3\xa9");
    assert_true(c.u.book.start == epoch_of(2026, 3, 9, 13, 0, 0, 0));

    expect_ok(ENV("reschedule", "{\"appointment_id\":\"77\",\"new_start\":\"2026-03-10T10:00:00-04:"
                                "00\",\"practitioner_id\":\"15\",\"patient_id\":\"42\"}"),
              &c);
    assert_string_equal(c.u.reschedule.who.patient_id, "42");
    assert_string_equal(c.u.reschedule.appointment_id, "77");
    assert_string_equal(c.u.reschedule.practitioner_id, "15");
    assert_true(c.u.reschedule.new_start == epoch_of(2026, 3, 10, 14, 0, 0, 0));
    expect_invalid(ENV("reschedule", "{\"new_start\":\"2026-03-10T10:00:00Z\"}"), "missing_field");

    expect_ok(ENV("join_waitlist", "{\"patient_id\":\"42\",\"appointment_type\":\"routine\","
                                   "\"earliest\":\"2026-03-10T00:00:00Z\",\"latest\":\"2026-03-20T"
                                   "00:00:00Z\"}"),
              &c);
    assert_string_equal(c.u.join.patient_id, "42");
    assert_true(c.u.join.latest - c.u.join.earliest == 10 * 86400);
    expect_invalid(ENV("join_waitlist", "{\"patient_id\":\"42\",\"appointment_type\":\"routine\","
                                        "\"earliest\":\"2026-03-20T00:00:00Z\",\"latest\":\"2026-"
                                        "03-10T00:00:00Z\"}"),
                   "bad_range");

    expect_ok(ENV("cancel", "{\"confirmation_number\":\"K7M-2QX\",\"reason\":\"sick\","
                            "\"patient_id\":\"42\"}"),
              &c);
    assert_int_equal(c.type, CMD_CANCEL);
    assert_string_equal(c.u.cancel.confirmation_number, "K7M-2QX");
    assert_string_equal(c.u.cancel.reason, "sick");
    assert_int_equal(cmd_type_topic(c.type), CMD_TOPIC_CANCEL);
    expect_invalid(ENV("cancel", "{\"patient_id\":\"42\"}"), "missing_field");
    expect_ok(ENV("cancel", "{\"confirmation_number\":\"k7m 2qx\",\"phone\":\"617-555-0101\","
                            "\"birthdate\":\"1980-04-12\"}"),
              &c); /* lenient case; the patient by phone and birth date */
    assert_string_equal(c.u.cancel.who.phone, "617-555-0101");
    /* a write names its patient */
    expect_invalid(ENV("cancel", "{\"confirmation_number\":\"K7M-2QX\"}"), "missing_field");
    expect_invalid(
        ENV("cancel", "{\"confirmation_number\":\"K7M-2QX\",\"phone\":\"617-555-0101\"}"),
        "missing_field");
    expect_invalid(ENV("cancel", "{\"confirmation_number\":\"K7M-2QX\",\"phone\":\"12\","
                                 "\"birthdate\":\"1980-04-12\"}"),
                   "bad_value");
    expect_invalid(ENV("reschedule", "{\"confirmation_number\":\"K7M-2QX\",\"new_start\":\"2026-"
                                     "03-10T10:00:00Z\"}"),
                   "missing_field");
    /* the schema's pattern ^[A-Za-z0-9 -]+$ */
    expect_invalid(ENV("cancel", "{\"confirmation_number\":\"K7M_2QX\"}"), "bad_value");
    expect_invalid(ENV("reschedule", "{\"confirmation_number\":\"K7M.2QX\",\"new_start\":\"2026-"
                                     "03-10T10:00:00Z\"}"),
                   "bad_value");

    expect_ok(ENV("leave_waitlist", "{\"waitlist_id\":\"w-3\"}"), &c);
    assert_string_equal(c.u.waitlist_id, "w-3");
}

/* ---- envelope edge cases ------------------------------------------------ */

static void test_envelope_fields(void **state)
{
    (void)state;
    struct command c;
    expect_ok("{\"type\":\"release_hold\",\"request_id\":\"abc\",\"session_id\":\"call-1\","
              "\"reply_to\":\"agent.replies-1\",\"deadline\":\"2026-03-02T09:00:30.750-05:00\","
              "\"payload\":{\"hold_id\":\"h\"}}",
              &c);
    assert_string_equal(c.request_id, "abc");
    assert_string_equal(c.session_id, "call-1");
    assert_string_equal(c.reply_to, "agent.replies-1");
    /* the fraction is truncated to the second */
    assert_true(c.deadline_ms == epoch_of(2026, 3, 2, 9, 0, 30, -300) * 1000);

    expect_ok(ENV("release_hold", "{\"hold_id\":\"h\"}"), &c);
    assert_true(c.deadline_ms == 0);
    assert_string_equal(c.reply_to, "");

    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"a\",\"deadline\":\"tomorrow\","
                   "\"payload\":{\"hold_id\":\"h\"}}",
                   "bad_time");
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"a\",\"reply_to\":\"bad topic\","
                   "\"payload\":{\"hold_id\":\"h\"}}",
                   "bad_value");
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"a\",\"payload\":{\"hold_id\":\"h\","
                   "\"holdId\":\"h\"}}",
                   "unknown_field");
    /* a field of another command is unknown here */
    expect_invalid(ENV("release_hold", "{\"hold_id\":\"h\",\"slot_id\":\"s\"}"), "unknown_field");
    expect_invalid("[1,2]", "bad_json");
    expect_invalid("\"text\"", "bad_json");
    expect_invalid("null", "bad_json");
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"a\",\"request_id\":\"b\","
                   "\"payload\":{\"hold_id\":\"h\"}}",
                   "bad_json");
    expect_invalid(ENV("release_hold", "{\"hold_id\":\"h\",\"hold_id\":\"i\"}"), "bad_json");
}

static char *with_request_id_len(size_t n)
{
    char *rid = malloc(n + 1);
    memset(rid, 'r', n);
    rid[n] = '\0';
    size_t cap = n + 200;
    char *json = malloc(cap);
    snprintf(json, cap,
             "{\"type\":\"release_hold\",\"request_id\":\"%s\",\"payload\":{\"hold_id\":\"h\"}}",
             rid);
    free(rid);
    return json;
}

static void test_request_id_length(void **state)
{
    (void)state;
    struct command c;
    char *ok = with_request_id_len(128);
    expect_ok(ok, &c);
    assert_int_equal(strlen(c.request_id), 128);
    free(ok);
    char *bad = with_request_id_len(129);
    expect_invalid(bad, "too_long");
    free(bad);
    expect_invalid(
        "{\"type\":\"release_hold\",\"request_id\":\"\",\"payload\":{\"hold_id\":\"h\"}}",
        "bad_value");
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":7,\"payload\":{\"hold_id\":\"h\"}}",
                   "bad_type");
}

static void test_nasty_bytes(void **state)
{
    (void)state;
    /* NUL inside a string: jansson refuses \u0000 without JSON_ALLOW_NUL */
    expect_invalid(ENV("release_hold", "{\"hold_id\":\"a\\u0000b\"}"), NULL);
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"a\\u0000b\",\"payload\":{"
                   "\"hold_id\":\"h\"}}",
                   NULL);
    /* raw invalid UTF-8 bytes */
    expect_invalid(ENV("book", "{\"patient_id\":\"4\xff\",\"practitioner_id\":\"1\",\"start\":"
                               "\"2026-03-09T09:00:00Z\",\"appointment_type\":\"routine\"}"),
                   "bad_json");
    expect_invalid("{\"type\":\"release_hold\",\"request_id\":\"\xc3\x28\",\"payload\":{\"hold_"
                   "id\":\"h\"}}",
                   "bad_json");
    /* an overlong encoding of '/' */
    expect_invalid(ENV("release_hold", "{\"hold_id\":\"\xc0\xaf\"}"), "bad_json");

    /* bytes are not NUL-terminated and must not be read past len */
    const char *text = ENV("release_hold", "{\"hold_id\":\"h\"}");
    size_t len = strlen(text);
    char *exact = malloc(len);
    memcpy(exact, text, len);
    struct command c;
    struct cmd_parse_error err;
    assert_int_equal(command_parse(exact, len, &c, &err), SW_OK);
    assert_int_equal(command_parse(exact, len - 1, &c, &err), SW_ERR_INVALID);
    free(exact);
    assert_int_equal(command_parse("", 0, &c, &err), SW_ERR_INVALID);
    assert_string_equal(err.code, "bad_json");
}

static void test_huge_and_deep(void **state)
{
    (void)state;
    /* a 1 MB reason: too long, refused with a message */
    size_t big = 1 << 20;
    char *json = malloc(big + 300);
    int n = snprintf(json, 300,
                     "{\"type\":\"book\",\"request_id\":\"big\",\"payload\":{\"patient_id\":\"4\","
                     "\"practitioner_id\":\"1\",\"start\":\"2026-03-09T09:00:00Z\","
                     "\"appointment_type\":\"routine\",\"reason\":\"");
    memset(json + n, 'x', big);
    snprintf(json + n + big, 300, "\"}}");
    struct command c;
    struct cmd_parse_error err;
    assert_int_equal(command_parse(json, strlen(json), &c, &err), SW_ERR_INVALID);
    assert_string_equal(err.code, "too_long");
    assert_true(err.have_request_id);
    assert_string_equal(err.request_id, "big");
    free(json);

    /* 100,000 nested arrays in the payload: refused, no stack overflow */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 200);
    n = snprintf(deep, 200, "{\"type\":\"release_hold\",\"request_id\":\"d\",\"payload\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    snprintf(deep + n + 2 * depth, 200, "}");
    assert_int_equal(command_parse(deep, strlen(deep), &c, &err), SW_ERR_INVALID);
    assert_true(err.code[0] != '\0');
    free(deep);

    /* a huge unknown key name: the message stays bounded (and UTF-8, see results) */
    char key[1200];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    char *unk = malloc(2000);
    snprintf(unk, 2000, "{\"type\":\"release_hold\",\"request_id\":\"u\",\"%s\":1,\"payload\":{}}",
             key);
    assert_int_equal(command_parse(unk, strlen(unk), &c, &err), SW_ERR_INVALID);
    assert_string_equal(err.code, "unknown_field");
    assert_true(strlen(err.message) < sizeof(err.message));
    free(unk);
}

/* A parse error never quotes free input (it reaches logs and the dead
 * letter's headers): a token-like string in a broken message, a key, a
 * type or a time is left out; the reason and the byte position stay. */
static void test_parse_error_quotes_no_input(void **state)
{
    (void)state;
#define TOKEN "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.SIG-9f8e7d6c"
    static const struct {
        const char *json, *code, *says;
    } cases[] = {
        {"{\"type\":\"book\",\"request_id\":\"r\",\"auth\": Bearer " TOKEN "}", "bad_json",
         "a syntax error at byte "},
        {"{\"type\":\"book\",\"note\":\"" TOKEN, "bad_json", "the message ends early at byte "},
        {"{\"a\":1} " TOKEN, "bad_json", "more after the JSON value at byte "},
        {"{\"type\":\"find_patient\",\"request_id\":\"r\",\"" TOKEN "\":1,\"payload\":{}}",
         "unknown_field", "(a name not shown) is not an envelope field"},
        {"{\"type\":\"find_patient\",\"request_id\":\"r\",\"payload\":{\"" TOKEN "\":1}}",
         "unknown_field", "payload.(a name not shown) is not a field"},
        {"{\"type\":\"eyJhbGci.SIG-9f8e7d6c\",\"request_id\":\"r\",\"payload\":{}}", "unknown_type",
         "(a name not shown)"},
        {"{\"type\":\"list_appointments\",\"request_id\":\"r\",\"payload\":{\"patient_id\":"
         "\"1\",\"from\":\"" TOKEN "\"}}",
         "bad_time", "got \"(text not shown)\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct command cmd;
        struct cmd_parse_error err;
        assert_int_equal(parse_str(cases[i].json, &cmd, &err), SW_ERR_INVALID);
        if (strcmp(err.code, cases[i].code) || !strstr(err.message, cases[i].says))
            fail_msg("case %zu: %s: %s", i, err.code, err.message);
        assert_null(strstr(err.message, "eyJ"));
        assert_null(strstr(err.message, "SIG-9f8e"));
    }
    /* a time that looks like one is still quoted, to help the caller */
    struct command cmd;
    struct cmd_parse_error err;
    assert_int_equal(parse_str("{\"type\":\"list_appointments\",\"request_id\":\"r\",\"payload\":{"
                               "\"patient_id\":\"1\",\"from\":\"2026-13-01T09:00:00Z\"}}",
                               &cmd, &err),
                     SW_ERR_INVALID);
    assert_non_null(strstr(err.message, "2026-13-01T09:00:00Z"));
#undef TOKEN
}

/* A key of multi-byte characters longer than the message buffer: the
 * invalid result must still carry an error object (valid UTF-8). */
static void test_parse_error_message_utf8(void **state)
{
    (void)state;
    char json[2000];
    int n = snprintf(json, sizeof(json), "{\"type\":\"release_hold\",\"request_id\":\"u8\",\"");
    for (int i = 0; i < 300; i++)
        n += snprintf(json + n, sizeof(json) - (size_t)n, "\xc3\xa9"); /* é */
    snprintf(json + n, sizeof(json) - (size_t)n, "\":1,\"payload\":{\"hold_id\":\"h\"}}");
    struct command c;
    struct cmd_parse_error err;
    assert_int_equal(command_parse(json, strlen(json), &c, &err), SW_ERR_INVALID);
    char *res = result_serialize_parse_error(&err, 1772460000000LL);
    json_t *r = json_loads(res, 0, NULL);
    assert_non_null(r);
    json_t *e = json_object_get(r, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unknown_field");
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
    json_decref(r);
    assert_int_equal(util_write_artifact("results-invalid-utf8-key.json", res), 0);
    free(res);
}

static void digest_of(const char *json, const char *key_id, char out[CMD_DIGEST_LEN])
{
    struct command c;
    struct cmd_parse_error err;
    if (parse_str(json, &c, &err) != SW_OK)
        fail_msg("%s: %s", json, err.message);
    command_digest(&c, key_id, out);
    assert_int_equal(strlen(out), 64);
}

/* What a command asks, not how its JSON looks, binds its idempotency
 * record. */
static void test_digest(void **state)
{
    (void)state;
    char a[CMD_DIGEST_LEN], b[CMD_DIGEST_LEN];
    digest_of("{\"type\":\"cancel\",\"request_id\":\"r\",\"payload\":{\"confirmation_number\":"
              "\"000-007K\",\"patient_id\":\"42\"}}",
              "agent", a);
    /* other key order, spacing, another request_id, the number read leniently,
     * a reply topic: the same question */
    digest_of("{ \"payload\": {\"patient_id\":\"42\", \"confirmation_number\":\"000 007k\"},"
              "\"request_id\":\"other\", \"type\":\"cancel\", \"reply_to\":\"x.y\"}",
              "agent", b);
    assert_string_equal(a, b);
    digest_of("{\"type\":\"cancel\",\"request_id\":\"r\",\"payload\":{\"confirmation_number\":"
              "\"000-007K\",\"patient_id\":\"43\"}}",
              "agent", b);
    assert_string_not_equal(a, b); /* another patient */
    digest_of("{\"type\":\"cancel\",\"request_id\":\"r\",\"payload\":{\"confirmation_number\":"
              "\"000-007K\",\"patient_id\":\"42\"}}",
              "reader", b);
    assert_string_not_equal(a, b); /* signed by another key */
    digest_of("{\"type\":\"list_appointments\",\"request_id\":\"r\",\"payload\":{"
              "\"patient_id\":\"42\"}}",
              "agent", b);
    assert_string_not_equal(a, b); /* another type */
    /* times as instants; practitioner lists in any order */
    digest_of(
        "{\"type\":\"search_slots\",\"request_id\":\"r\",\"payload\":{\"appointment_type\":"
        "\"routine\",\"from\":\"2026-12-03T08:00:00-05:00\",\"to\":\"2026-12-03T17:00:00-05:00\","
        "\"practitioner_id\":[\"a\",\"b\"]}}",
        "", a);
    digest_of("{\"type\":\"search_slots\",\"request_id\":\"r\",\"payload\":{\"appointment_type\":"
              "\"routine\",\"from\":\"2026-12-03T13:00:00Z\",\"to\":\"2026-12-03T22:00:00Z\","
              "\"practitioner_id\":[\"b\",\"a\"]}}",
              "", b);
    assert_string_equal(a, b);
    digest_of("{\"type\":\"search_slots\",\"request_id\":\"r\",\"payload\":{\"appointment_type\":"
              "\"routine\",\"from\":\"2026-12-03T13:00:00Z\",\"to\":\"2026-12-03T22:00:01Z\","
              "\"practitioner_id\":[\"b\",\"a\"]}}",
              "", b);
    assert_string_not_equal(a, b);
}

/* Each type accepts exactly its own payload fields (docs/contract.md) and
 * refuses every other type's as unknown_field, naming the field. */
static void test_fields_per_type(void **state)
{
    (void)state;
    static const char *const own[CMD__COUNT] = {
        [CMD_SEARCH_SLOTS] = "appointment_type from to practitioner_id patient_id limit",
        [CMD_FIND_PATIENT] = "phone birthdate name",
        [CMD_LIST_APPOINTMENTS] = "patient_id from to",
        [CMD_HOLD] = "slot_id practitioner_id start appointment_type patient_id ttl_seconds",
        [CMD_RELEASE_HOLD] = "hold_id",
        [CMD_BOOK] = "patient_id practitioner_id start appointment_type hold_id reason",
        [CMD_RESCHEDULE] =
            "confirmation_number appointment_id patient_id phone birthdate new_start "
            "practitioner_id hold_id",
        [CMD_JOIN_WAITLIST] = "patient_id appointment_type earliest latest practitioner_id",
        [CMD_CANCEL] = "confirmation_number appointment_id patient_id phone birthdate reason",
        [CMD_LEAVE_WAITLIST] = "waitlist_id",
    };
    static const char *const every[] = {
        "appointment_type",
        "from",
        "to",
        "practitioner_id",
        "patient_id",
        "limit",
        "phone",
        "birthdate",
        "name",
        "slot_id",
        "start",
        "ttl_seconds",
        "hold_id",
        "reason",
        "confirmation_number",
        "appointment_id",
        "new_start",
        "earliest",
        "latest",
        "waitlist_id",
        "patientId",
    };
    for (int t = 0; t < CMD__COUNT; t++) {
        for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
            char json[256], word[32];
            snprintf(json, sizeof(json),
                     "{\"type\":\"%s\",\"request_id\":\"r-1\",\"payload\":{\"%s\":null}}",
                     cmd_type_name((enum cmd_type)t), every[i]);
            snprintf(word, sizeof(word), " %s ", every[i]);
            char list[128];
            snprintf(list, sizeof(list), " %s ", own[t]);
            bool mine = strstr(list, word) != NULL;
            struct command cmd;
            struct cmd_parse_error err;
            sw_err rc = parse_str(json, &cmd, &err);
            bool unknown = rc == SW_ERR_INVALID && !strcmp(err.code, "unknown_field");
            if (unknown == mine)
                fail_msg("%s.%s: %s (%s)", cmd_type_name((enum cmd_type)t), every[i],
                         unknown ? "refused as unknown" : "accepted", err.message);
            if (unknown && !strstr(err.message, every[i]))
                fail_msg("%s: the message does not name the field: %s", json, err.message);
        }
    }
}

static void test_type_names(void **state)
{
    (void)state;
    for (int t = 0; t < CMD__COUNT; t++) {
        enum cmd_type back;
        assert_true(cmd_type_parse(cmd_type_name((enum cmd_type)t), &back));
        assert_int_equal(back, t);
    }
    enum cmd_type x;
    assert_false(cmd_type_parse("Book", &x));
    assert_false(cmd_type_parse("", &x));
    assert_string_equal(cmd_type_name(CMD__COUNT), "unknown");
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_invalid_codes),
        cmocka_unit_test(test_search_fields),
        cmocka_unit_test(test_find_list_fields),
        cmocka_unit_test(test_write_fields),
        cmocka_unit_test(test_envelope_fields),
        cmocka_unit_test(test_request_id_length),
        cmocka_unit_test(test_nasty_bytes),
        cmocka_unit_test(test_huge_and_deep),
        cmocka_unit_test(test_parse_error_message_utf8),
        cmocka_unit_test(test_parse_error_quotes_no_input),
        cmocka_unit_test(test_fields_per_type),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
