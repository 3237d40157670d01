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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
