/* test_auth.c - producer keys files and HMAC checks of write commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "auth.h"

static char dir[] = "/tmp/test_auth_XXXXXX";

/* RFC 4231 test case 2 uses "Jefe", too short here; case 1: key 0x0b x 20,
 * data "Hi There". */
#define RFC_KEY   "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
#define RFC_MAC   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
#define OTHER_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char msg[] = "{\"type\":\"book\",\"request_id\":\"r-1\",\"payload\":{}}";

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    return path;
}

static struct auth_keys *load_good(void)
{
    char err[256] = "";
    struct auth_keys *k = NULL;
    const char *p = write_file("good.keys", "# producers\n"
                                            "\n"
                                            "voice-agent = " RFC_KEY "\n"
                                            "  billing.svc=\"" OTHER_KEY "\"   \n"
                                            "# end\n");
    if (auth_keys_load(p, &k, err, sizeof err) != SW_OK)
        fail_msg("load: %s", err);
    assert_int_equal(auth_keys_count(k), 2);
    return k;
}

static void test_rfc4231_vector(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    char hex[AUTH_HEX_LEN + 1];
    assert_int_equal(auth_sign(k, "voice-agent", "Hi There", 8, hex), SW_OK);
    assert_string_equal(hex, RFC_MAC);
    char why[128];
    assert_int_equal(auth_verify(k, "voice-agent", RFC_MAC, "Hi There", 8, why, sizeof why), SW_OK);
    assert_int_equal(auth_sign(k, "nobody", "x", 1, hex), SW_ERR_NOT_FOUND);
    auth_keys_destroy(k);
}

static void test_verify(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    char good[AUTH_HEX_LEN + 1], other[AUTH_HEX_LEN + 1];
    size_t len = strlen(msg);
    assert_int_equal(auth_sign(k, "voice-agent", msg, len, good), SW_OK);
    assert_int_equal(auth_sign(k, "billing.svc", msg, len, other), SW_OK);
    assert_string_not_equal(good, other);

    char upper[AUTH_HEX_LEN + 1], prefixed[80], prefixed_uc[80];
    for (int i = 0; i <= AUTH_HEX_LEN; i++)
        upper[i] = (char)((good[i] >= 'a' && good[i] <= 'f') ? good[i] - 32 : good[i]);
    snprintf(prefixed, sizeof prefixed, "sha256=%s", good);
    snprintf(prefixed_uc, sizeof prefixed_uc, "SHA256=%s", good);

    char tampered[sizeof msg];
    memcpy(tampered, msg, sizeof msg);
    tampered[10] ^= 1;
    char bad_hex[AUTH_HEX_LEN + 1];
    memcpy(bad_hex, good, sizeof bad_hex);
    bad_hex[5] = 'g';
    char flipped[AUTH_HEX_LEN + 1];
    memcpy(flipped, good, sizeof flipped);
    flipped[AUTH_HEX_LEN - 1] = flipped[AUTH_HEX_LEN - 1] == '0' ? '1' : '0';

    static const struct auth_keys *none = NULL;
    const struct {
        const struct auth_keys *keys;
        const char *producer, *sig, *bytes;
        size_t len;
        sw_err want;
        const char *why;
    } cases[] = {
        {k, "voice-agent", good, msg, len, SW_OK, ""},
        {k, "voice-agent", upper, msg, len, SW_OK, ""},
        {k, "voice-agent", prefixed, msg, len, SW_OK, ""},
        {k, "voice-agent", prefixed_uc, msg, len, SW_OK, ""},
        {k, "billing.svc", other, msg, len, SW_OK, ""},
        /* wrong key: billing's signature presented as the voice agent */
        {k, "voice-agent", other, msg, len, SW_ERR_REJECTED, "signature does not match"},
        /* wrong producer: the voice agent's signature under billing's name */
        {k, "billing.svc", good, msg, len, SW_ERR_REJECTED, "signature does not match"},
        {k, "intruder", good, msg, len, SW_ERR_REJECTED, "unknown producer"},
        {k, "voice-agent", good, tampered, len, SW_ERR_REJECTED, "signature does not match"},
        {k, "voice-agent", good, msg, len - 1, SW_ERR_REJECTED, "signature does not match"},
        {k, "voice-agent", flipped, msg, len, SW_ERR_REJECTED, "signature does not match"},
        {k, NULL, good, msg, len, SW_ERR_REJECTED, "missing x-producer header"},
        {k, "", good, msg, len, SW_ERR_REJECTED, "missing x-producer header"},
        {k, "voice-agent", NULL, msg, len, SW_ERR_REJECTED, "missing x-signature header"},
        {k, "voice-agent", "", msg, len, SW_ERR_REJECTED, "missing x-signature header"},
        {k, "voice-agent", bad_hex, msg, len, SW_ERR_REJECTED, "malformed x-signature"},
        {k, "voice-agent", "sha256=", msg, len, SW_ERR_REJECTED, "malformed x-signature"},
        {k, "voice-agent", "abc", msg, len, SW_ERR_REJECTED, "malformed x-signature"},
        {k, "voice-agent", RFC_MAC "00", msg, len, SW_ERR_REJECTED, "malformed x-signature"},
        {k, "voice-agent", "sha1=" RFC_MAC, msg, len, SW_ERR_REJECTED, "malformed x-signature"},
        {none, "voice-agent", good, msg, len, SW_ERR_REJECTED, "no producer keys configured"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[128] = "unset";
        sw_err got = auth_verify(cases[i].keys, cases[i].producer, cases[i].sig, cases[i].bytes,
                                 cases[i].len, why, sizeof why);
        if (got != cases[i].want || strcmp(why, cases[i].why))
            fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, got, why, cases[i].want,
                     cases[i].why);
    }
    /* an empty message can be signed and checked too */
    assert_int_equal(auth_sign(k, "voice-agent", "", 0, good), SW_OK);
    assert_int_equal(auth_verify(k, "voice-agent", good, "", 0, NULL, 0), SW_OK);
    auth_keys_destroy(k);
    auth_keys_destroy(NULL);
}

static void test_keys_file_errors(void **state)
{
    (void)state;
    char longline[1200];
    memset(longline, 'a', sizeof longline - 2);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    const struct {
        const char *text, *want; /* want: after "path" */
    } cases[] = {
        {"voice-agent " RFC_KEY "\n", ":1: expected `producer_name = hexkey`"},
        {"# c\nbad name = " RFC_KEY "\n", ":2: producer name must be"},
        {" = " RFC_KEY "\n", ":1: producer name must be"},
        {"a = " RFC_KEY "0\n", ":1: key of \"a\" must be 16..128 bytes"},
        {"a = 0011\n", ":1: key of \"a\" must be 16..128 bytes"},
        {"a = \n", ":1: key of \"a\" must be"},
        {"a = " RFC_KEY "\nb = zz" RFC_KEY "\n", ":2: key of \"b\" is not hex"},
        {"a = " RFC_KEY "\n\na = " OTHER_KEY "\n", ":3: producer \"a\" is listed twice"},
        {"# only comments\n\n", ": no producer keys"},
        {"", ": no producer keys"},
        {longline, ":1: line longer than"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], err[512] = "", want[512];
        snprintf(name, sizeof name, "bad%zu.keys", i);
        const char *p = write_file(name, cases[i].text);
        snprintf(want, sizeof want, "%s%s", p, cases[i].want);
        struct auth_keys *k = (struct auth_keys *)1;
        assert_int_equal(auth_keys_load(p, &k, err, sizeof err), SW_ERR_CONFIG);
        assert_null(k);
        if (strncmp(err, want, strlen(want)))
            fail_msg("case %zu: \"%s\", want prefix \"%s\"", i, err, want);
        assert_null(strstr(err, RFC_KEY)); /* no key material in messages */
    }
    struct auth_keys *k = NULL;
    char err[512];
    char missing[300];
    snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
    assert_int_equal(auth_keys_load(missing, &k, err, sizeof err), SW_ERR_CONFIG);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(auth_keys_load("", &k, err, sizeof err), SW_ERR_CONFIG);
    assert_int_equal(auth_keys_load(NULL, &k, err, sizeof err), SW_ERR_CONFIG);
}

/* The keys file follows the config file's line rules: `;` comments,
 * trailing `# comments`, quoted values with a comment after them. */
static void test_keys_file_grammar(void **state)
{
    (void)state;
    char err[256] = "";
    struct auth_keys *k = NULL;
    const char *p = write_file("grammar.keys", "; producers\n"
                                               "voice-agent = " RFC_KEY "   # the agent\n"
                                               "billing.svc = \"" OTHER_KEY "\" # billing\n");
    if (auth_keys_load(p, &k, err, sizeof err) != SW_OK)
        fail_msg("load: %s", err);
    assert_int_equal(auth_keys_count(k), 2);
    char hex[AUTH_HEX_LEN + 1];
    assert_int_equal(auth_sign(k, "voice-agent", "Hi There", 8, hex), SW_OK);
    assert_string_equal(hex, RFC_MAC);
    auth_keys_destroy(k);

    k = (struct auth_keys *)1;
    p = write_file("badquote.keys", "a = \"" RFC_KEY "\n");
    assert_int_equal(auth_keys_load(p, &k, err, sizeof err), SW_ERR_CONFIG);
    assert_null(k);
    assert_non_null(strstr(err, ":1: expected \"value\""));
    assert_null(strstr(err, RFC_KEY));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231_vector),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_keys_file_errors),
        cmocka_unit_test(test_keys_file_grammar),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
