/* test_probe.c - where `schedworker health` looks for the endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "probe.h"

static void test_base_url(void **state)
{
    (void)state;
    static const struct {
        const char *listen, *url;
    } cases[] = {
        {"127.0.0.1:9464", "http://127.0.0.1:9464"},
        {"0.0.0.0:9464", "http://127.0.0.1:9464"},
        {":9464", "http://127.0.0.1:9464"},
        {"[::]:9464", "http://[::1]:9464"},
        {"[::1]:80", "http://[::1]:80"},
        {"10.1.2.3:9", "http://10.1.2.3:9"},
        {"metrics.local:9464", "http://metrics.local:9464"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(probe_base_url(cases[i].listen, out, sizeof out));
        assert_string_equal(out, cases[i].url);
    }
    static const char *const bad[] = {"", "9464", "host:", "::1:9464", "host:94x", "[::1:9464"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (probe_base_url(bad[i], out, sizeof out))
            fail_msg("accepted \"%s\" as %s", bad[i], out);
    assert_false(probe_base_url(NULL, out, sizeof out));
    char tiny[8];
    assert_false(probe_base_url("127.0.0.1:9464", tiny, sizeof tiny));
}

static void test_get_nothing_listening(void **state)
{
    (void)state;
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    /* port 9 (discard): nothing answers HTTP there; unhealthy is 1, never 2 */
    assert_int_equal(probe_get("http://127.0.0.1:9", "/readyz", 2000, devnull, devnull), 1);
    fclose(devnull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_url),
        cmocka_unit_test(test_get_nothing_listening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
