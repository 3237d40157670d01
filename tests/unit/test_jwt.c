/* test_jwt.c - RS384 client assertions verify with the public key; claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"

static EVP_PKEY *key;
static char key_path[64];

static int setup(void **state)
{
    (void)state;
    key = EVP_RSA_gen(2048);
    if (!key)
        return -1;
    snprintf(key_path, sizeof(key_path), "/tmp/test_jwt_%d.pem", (int)getpid());
    FILE *f = fopen(key_path, "w");
    if (!f)
        return -1;
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(key_path);
    EVP_PKEY_free(key);
    return 0;
}

static json_t *decode_part(const char *b64, size_t n)
{
    char *s = strndup(b64, n);
    unsigned char *raw = NULL;
    size_t len = 0;
    assert_int_equal(jwt_base64url_decode(s, &raw, &len), SW_OK);
    json_t *j = json_loadb((const char *)raw, len, 0, NULL);
    free(raw);
    free(s);
    return j;
}

static void test_base64url_round_trip(void **state)
{
    (void)state;
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"};
    const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "__79"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = jwt_base64url((const unsigned char *)cases[i], strlen(cases[i]));
        assert_string_equal(e, want[i]);
        unsigned char *d = NULL;
        size_t n = 0;
        assert_int_equal(jwt_base64url_decode(e, &d, &n), SW_OK);
        assert_int_equal(n, strlen(cases[i]));
        assert_memory_equal(d, cases[i], n);
        free(d);
        free(e);
    }
    unsigned char *d = NULL;
    size_t n = 0;
    assert_int_equal(jwt_base64url_decode("a$b", &d, &n), SW_ERR_INVALID);
}

/* Decoding stays strict: either alphabet and optional padding, but no
 * blanks, no '=' inside, no impossible length, no set unused bits (so no
 * two texts decode to the same bytes); every length round-trips. */
static void test_base64url_strict(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        sw_err want;
        const char *bytes;
    } cases[] = {
        {"Zg==", SW_OK, "f"},
        {"Zm8=", SW_OK, "fo"},
        {"Zm9v", SW_OK, "foo"},
        {"__79", SW_OK, "\xff\xfe\xfd"},
        {"//79", SW_OK, "\xff\xfe\xfd"}, /* the standard alphabet too */
        {"", SW_OK, ""},
        {"Z", SW_ERR_INVALID, NULL},
        {"Zm9vY", SW_ERR_INVALID, NULL},
        {" Zg", SW_ERR_INVALID, NULL},
        {"Zg ", SW_ERR_INVALID, NULL},
        {"Z g", SW_ERR_INVALID, NULL},
        {"Zg\n", SW_ERR_INVALID, NULL},
        {"Z=g", SW_ERR_INVALID, NULL},
        {"Zm9v.", SW_ERR_INVALID, NULL},
        {"Zh", SW_ERR_INVALID, NULL},  /* "f" is Zg: unused bits set */
        {"Zm9", SW_ERR_INVALID, NULL}, /* "fo" is Zm8 */
        {"Zm9vYh==", SW_ERR_INVALID, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *d = NULL;
        size_t n = 0;
        sw_err got = jwt_base64url_decode(cases[i].text, &d, &n);
        if (got != cases[i].want)
            fail_msg("\"%s\": got %d, want %d", cases[i].text, got, cases[i].want);
        if (got == SW_OK) {
            assert_int_equal(n, strlen(cases[i].bytes));
            assert_memory_equal(d, cases[i].bytes, n);
        }
        free(d);
    }
    unsigned char bin[70];
    for (size_t len = 0; len <= sizeof(bin); len++) {
        for (size_t k = 0; k < len; k++)
            bin[k] = (unsigned char)(k * 37 + len * 11);
        char *e = jwt_base64url(bin, len);
        assert_non_null(e);
        assert_int_equal(strlen(e), (len * 4 + 2) / 3);
        assert_null(strpbrk(e, "+/="));
        unsigned char *d = NULL;
        size_t n = 0;
        assert_int_equal(jwt_base64url_decode(e, &d, &n), SW_OK);
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(d, bin, len);
        free(d);
        free(e);
    }
}

static void test_assertion_verifies(void **state)
{
    (void)state;
    char err[256] = "";
    char *jwt = NULL;
    const char *aud = "https://emr.example:9300/oauth2/default/token";
    assert_int_equal(jwt_client_assertion(key_path, "kid-1", "sched-system", aud, 1800000000, &jwt,
                                          err, sizeof(err)),
                     SW_OK);
    char *dot1 = strchr(jwt, '.');
    char *dot2 = strrchr(jwt, '.');
    assert_non_null(dot1);
    assert_true(dot2 > dot1);

    json_t *h = decode_part(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS384");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
    json_t *c = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(json_string_value(json_object_get(c, "iss")), "sched-system");
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "sched-system");
    assert_string_equal(json_string_value(json_object_get(c, "aud")), aud);
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1800000000);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1800000300);
    const char *jti = json_string_value(json_object_get(c, "jti"));
    assert_non_null(jti);
    assert_true(strlen(jti) >= 20);

    unsigned char *sig = NULL;
    size_t siglen = 0;
    assert_int_equal(jwt_base64url_decode(dot2 + 1, &sig, &siglen), SW_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    /* a changed claim no longer verifies */
    jwt[dot1 - jwt + 3] ^= 1;
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);

    /* a second assertion has a fresh jti */
    char *jwt2 = NULL;
    assert_int_equal(jwt_client_assertion(key_path, "kid-1", "sched-system", aud, 1800000000, &jwt2,
                                          err, sizeof(err)),
                     SW_OK);
    char *d1 = strchr(jwt2, '.'), *d2 = strrchr(jwt2, '.');
    json_t *c2 = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_string_not_equal(json_string_value(json_object_get(c2, "jti")), jti);
    json_decref(c2);
    free(jwt2);
    free(sig);
    json_decref(h);
    json_decref(c);
    free(jwt);
}

static void test_bad_key_file(void **state)
{
    (void)state;
    char err[256] = "";
    char *jwt = NULL;
    assert_int_equal(jwt_client_assertion("/nonexistent/key.pem", "k", "c", "https://x/token", 1,
                                          &jwt, err, sizeof(err)),
                     SW_ERR_CONFIG);
    assert_null(jwt);
    assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_round_trip),
        cmocka_unit_test(test_base64url_strict),
        cmocka_unit_test(test_assertion_verifies),
        cmocka_unit_test(test_bad_key_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
