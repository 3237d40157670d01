/* test_tokencrypt.c - AES-256-GCM round trip, fresh nonces, tamper and
 * wrong-key detection, key loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "tokencrypt.h"

static const char *secret = "{\"access_token\":\"eyJhbGciOiJSUzI1NiJ9.secret-token-text\"}";

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char key[32];
    memset(key, 7, sizeof(key));
    struct tokencrypt *tc = NULL;
    assert_int_equal(tokencrypt_new_key(key, &tc), SW_OK);
    char *b1 = NULL, *b2 = NULL, *plain = NULL;
    size_t n = 0;
    assert_int_equal(tokencrypt_seal(tc, secret, strlen(secret), &b1), SW_OK);
    assert_int_equal(tokencrypt_seal(tc, secret, strlen(secret), &b2), SW_OK);
    assert_string_not_equal(b1, b2); /* fresh nonce */
    assert_null(strstr(b1, "secret-token-text"));
    assert_null(strstr(b1, "eyJhbGci"));
    assert_int_equal(tokencrypt_open(tc, b1, strlen(b1), &plain, &n), SW_OK);
    assert_int_equal(n, strlen(secret));
    assert_string_equal(plain, secret);
    free(plain);

    /* every single-character change is detected */
    size_t len = strlen(b1);
    for (size_t i = 0; i < len; i++) {
        char *t = strdup(b1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        plain = NULL;
        assert_int_not_equal(tokencrypt_open(tc, t, len, &plain, &n), SW_OK);
        assert_null(plain);
        free(t);
    }
    assert_int_equal(tokencrypt_open(tc, b1, 10, &plain, &n), SW_ERR_INVALID);

    /* a wrong key fails */
    key[0] ^= 1;
    struct tokencrypt *other = NULL;
    assert_int_equal(tokencrypt_new_key(key, &other), SW_OK);
    assert_int_equal(tokencrypt_open(other, b1, strlen(b1), &plain, &n), SW_ERR_INVALID);
    /* key ids: 16 hex digits, one per key, not the key itself */
    char id1[TOKENCRYPT_KEY_ID_LEN + 1], id2[TOKENCRYPT_KEY_ID_LEN + 1], again[sizeof(id1)];
    tokencrypt_key_id(tc, id1);
    tokencrypt_key_id(other, id2);
    tokencrypt_key_id(tc, again);
    assert_int_equal(strlen(id1), 16);
    assert_int_equal(strspn(id1, "0123456789abcdef"), 16);
    assert_string_equal(id1, again);
    assert_string_not_equal(id1, id2);
    assert_null(strstr("0707070707070707", id1));
    tokencrypt_destroy(other);
    free(b1);
    free(b2);
    tokencrypt_destroy(tc);
}

static void test_key_sources(void **state)
{
    (void)state;
    struct sw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[256] = "", path[64];
    struct tokencrypt *tc = NULL;
    unsetenv("SCHED_TOKEN_KEY");
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_ERR_CONFIG);

    snprintf(path, sizeof(path), "/tmp/test_tc_%d.key", (int)getpid());
    cfg.oauth_token_key_file = path;
    FILE *f = fopen(path, "w");
    fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
    fclose(f);
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_OK);
    char *blob = NULL, *plain = NULL;
    size_t n;
    assert_int_equal(tokencrypt_seal(tc, "hello world", 11, &blob), SW_OK);
    tokencrypt_destroy(tc);

    /* the same key from the environment opens it */
    setenv("SCHED_TOKEN_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           1);
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_OK);
    assert_int_equal(tokencrypt_open(tc, blob, strlen(blob), &plain, &n), SW_OK);
    assert_string_equal(plain, "hello world");
    free(plain);
    tokencrypt_destroy(tc);

    setenv("SCHED_TOKEN_KEY", "tooshort", 1);
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_ERR_CONFIG);
    unsetenv("SCHED_TOKEN_KEY");

    f = fopen(path, "w");
    fputs("not a key", f);
    fclose(f);
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_ERR_CONFIG);
    f = fopen(path, "wb");
    for (int i = 0; i < 32; i++)
        fputc(i * 7, f);
    fclose(f);
    assert_int_equal(tokencrypt_new(&cfg, &tc, err, sizeof(err)), SW_OK);
    tokencrypt_destroy(tc);
    unlink(path);
    free(blob);
}

/* Hex keys: either case; exactly 64 digits, no separators; a refused key
 * leaves OpenSSL's error queue empty. */
static void test_hex_keys(void **state)
{
    (void)state;
    struct sw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[256];
    static const struct {
        const char *key;
        sw_err want;
    } cases[] = {
        {"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", SW_OK},
        {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef", SW_ERR_CONFIG},
        {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0", SW_ERR_CONFIG},
        {"zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", SW_ERR_CONFIG},
        {"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55", SW_ERR_CONFIG},
        {"0011223344556677 899aabbccddeeff00112233445566778899aabbccddeeff", SW_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tokencrypt *tc = NULL;
        setenv("SCHED_TOKEN_KEY", cases[i].key, 1);
        sw_err got = tokencrypt_new(&cfg, &tc, err, sizeof(err));
        if (got != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].key, got, cases[i].want);
        assert_int_equal(ERR_peek_error(), 0);
        tokencrypt_destroy(tc);
    }
    unsetenv("SCHED_TOKEN_KEY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_key_sources),
        cmocka_unit_test(test_hex_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
