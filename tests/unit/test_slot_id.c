/* test_slot_id.c - slot tokens: round trip, known encodings, strictness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "slot_id.h"

static void test_round_trip(void **state)
{
    (void)state;
    static const struct {
        struct slot_ref ref;
        const char *token; /* NULL: not checked */
    } cases[] = {
        {{"42", 1780405200, "routine"}, "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5l"},
        {{"9f1c2d3e-aaaa-bbbb-cccc-123456789abc", 1780405200, "follow_up"},
         "czF8OWYxYzJkM2UtYWFhYS1iYmJiLWNjY2MtMTIzNDU2Nzg5YWJjfDE3ODA0MDUyMDB8Zm9sbG93X3Vw"},
        {{"7", 1, "u"}, NULL},
        {{"Practitioner/abc~!", 999999999999LL, "consultation-long_2"}, NULL},
        {{"123456789012345678901234567890123456789012345678901234567890123", 999999999999LL,
          "abcdefghijklmnopqrstuvwxyz01234"},
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tok[SLOT_ID_MAX];
        struct slot_ref back;
        assert_int_equal(slot_id_encode(&cases[i].ref, tok, sizeof tok), SW_OK);
        if (cases[i].token)
            assert_string_equal(tok, cases[i].token);
        for (const char *p = tok; *p; p++)
            assert_non_null(
                strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
        assert_int_equal(slot_id_decode(tok, &back), SW_OK);
        assert_string_equal(back.practitioner_id, cases[i].ref.practitioner_id);
        assert_string_equal(back.appointment_type, cases[i].ref.appointment_type);
        assert_int_equal(back.start, cases[i].ref.start);
    }
}

static void test_encode_rejects(void **state)
{
    (void)state;
    static const struct slot_ref bad[] = {
        {"", 1780405200, "routine"},    {"4|2", 1780405200, "routine"},
        {"4 2", 1780405200, "routine"}, {"42", 0, "routine"},
        {"42", -5, "routine"},          {"42", 1000000000000LL, "routine"},
        {"42", 1780405200, ""},         {"42", 1780405200, "Routine"},
        {"42", 1780405200, "rou tine"},
    };
    char tok[SLOT_ID_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (slot_id_encode(&bad[i], tok, sizeof tok) != SW_ERR_INVALID)
            fail_msg("bad ref %zu encoded", i);
    struct slot_ref ok = {"42", 1780405200, "routine"};
    assert_int_equal(slot_id_encode(&ok, tok, SLOT_ID_MAX - 1), SW_ERR_INVALID);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW4=",    /* padding */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5l=",   /* padding */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5",     /* cut: last group has stray bits */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5lA",   /* length 4k+1 */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5+",    /* '+' is not base64url */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5/",    /* '/' neither */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5 ",    /* space */
        "czJ8NDJ8MTc4MDQwNTIwMHxyb3V0aW5l",    /* version s2 */
        "czF8NDJ8MTc4MDQwNTIwMA",              /* three fields */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5lfHg", /* five fields */
        "czF8fDE3ODA0MDUyMDB8cm91dGluZQ",      /* empty practitioner */
        "czF8NDJ8MDE3ODA0MDUyMHxyb3V0aW5l",    /* leading zero */
        "czF8NDJ8MTc4MDQwNTIwMHxSb3V0aW5l",    /* upper-case type */
        "czF8NCAyfDE3ODA0MDUyMDB8cm91dGluZQ",  /* space in practitioner */
        "czF8NDJ8LTE3ODA0MDUyMDB8cm91dGluZQ",  /* negative start */
        "czF8NDJ8MTc4MDQwNTIwMHw",             /* empty type */
        "czF8NDJ8MTc4MDQwNTJhMHxyb3V0aW5l",    /* letter in start */
        "czF8NDJ8MTc4MDQwNTIwMHxyb3V0aW5lAA",  /* NUL in type */
    };
    struct slot_ref r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (slot_id_decode(bad[i], &r) != SW_ERR_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(slot_id_decode(NULL, &r), SW_ERR_INVALID);

    /* stray bits in a short last group: not canonical */
    struct slot_ref ref = {"7", 1780405200, "urgent"}; /* 22 bytes: last group 2 chars */
    char tok[SLOT_ID_MAX];
    assert_int_equal(slot_id_encode(&ref, tok, sizeof tok), SW_OK);
    size_t n = strlen(tok);
    assert_int_equal(n % 4, 2);
    assert_int_equal(slot_id_decode(tok, &r), SW_OK);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    tok[n - 1] = b64[(strchr(b64, tok[n - 1]) - b64) + 1];
    assert_int_equal(slot_id_decode(tok, &r), SW_ERR_INVALID);

    /* far too long */
    char longtok[400];
    memset(longtok, 'A', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    assert_int_equal(slot_id_decode(longtok, &r), SW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
