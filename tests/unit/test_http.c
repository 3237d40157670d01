/* test_http.c - status classification, URL policy, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static void test_status_classes(void **state)
{
    (void)state;
    static const struct {
        long status;
        sw_err want;
    } cases[] = {
        {200, SW_OK},
        {201, SW_OK},
        {204, SW_OK},
        {400, SW_ERR_INVALID},
        {401, SW_ERR_TOKEN},
        {403, SW_ERR_FORBIDDEN},
        {404, SW_ERR_NOT_FOUND},
        {409, SW_ERR_CONFLICT},
        {412, SW_ERR_CONFLICT},
        {422, SW_ERR_INVALID},
        {429, SW_ERR_RATE_LIMITED},
        {500, SW_ERR_SERVER},
        {502, SW_ERR_SERVER},
        {503, SW_ERR_SERVER},
        {599, SW_ERR_SERVER},
        {302, SW_ERR_BAD_ANSWER},
        {418, SW_ERR_BAD_ANSWER},
        {0, SW_ERR_BAD_ANSWER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(http_status_err(cases[i].status), cases[i].want);
}

static void test_url_policy(void **state)
{
    (void)state;
    struct sw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_true(http_url_allowed(&cfg, "https://emr.example/x"));
    assert_true(http_url_allowed(&cfg, "HTTPS://emr.example/x"));
    assert_false(http_url_allowed(&cfg, "http://emr.example/x"));
    assert_false(http_url_allowed(&cfg, "ftp://emr.example/x"));
    assert_false(http_url_allowed(&cfg, NULL));
    cfg.openemr_allow_insecure = true;
    assert_true(http_url_allowed(&cfg, "http://127.0.0.1:1/x"));
    assert_false(http_url_allowed(&cfg, "file:///etc/passwd"));
}

static void test_escape(void **state)
{
    (void)state;
    char *e = http_escape("2026-12-01T09:00:00+01:00 a&b=c/é");
    assert_string_equal(e, "2026-12-01T09%3A00%3A00%2B01%3A00%20a%26b%3Dc%2F%C3%A9");
    free(e);
}

static void test_url_parse(void **state)
{
    (void)state;
    struct http_url u;
    char err[128];
    assert_int_equal(http_url_parse("redis://us%40er:p%3Ass@[::1]:6380/2", &u, err, sizeof err),
                     SW_OK);
    assert_string_equal(u.scheme, "redis");
    assert_string_equal(u.user, "us@er"); /* percent-decoded */
    assert_string_equal(u.password, "p:ss");
    assert_string_equal(u.host, "::1"); /* no brackets */
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.path, "/2");
    assert_null(u.query);
    http_url_free(&u);

    assert_int_equal(http_url_parse("redis://localhost", &u, err, sizeof err), SW_OK);
    assert_null(u.user);
    assert_null(u.password);
    assert_int_equal(u.port, 0);
    assert_string_equal(u.path, "/");
    http_url_free(&u);

    assert_int_equal(http_url_parse("redis://:secret@h:99999/1", &u, err, sizeof err),
                     SW_ERR_CONFIG); /* port out of range */
    assert_int_equal(http_url_parse("redis://h:1/%00x", &u, err, sizeof err), SW_ERR_CONFIG);
    assert_int_equal(http_url_parse("no scheme here", &u, err, sizeof err), SW_ERR_CONFIG);
    http_url_free(NULL);

    char *d = http_unescape("a%20b%2Fc");
    assert_string_equal(d, "a b/c");
    free(d);
    assert_null(http_unescape("x%00y"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_url_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
