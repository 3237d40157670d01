/* auth.c - producer keys and HMAC-SHA256 checks of write commands. */
#include "auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config_lines.h"
#include "log.h"

#define MOD          "auth"
#define KEY_MIN      16
#define KEY_MAX      128
#define LINE_MAX_LEN 1024

struct producer_key {
    char name[AUTH_NAME_MAX + 1];
    unsigned char key[KEY_MAX];
    size_t key_len;
};

struct auth_keys {
    struct producer_key *p;
    size_t n;
};

/* Decodes hex (exactly 2 * cap digits, no separators) into out; OpenSSL's
 * decoder, its error queue left clean. */
static bool hex_decode(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    if (OPENSSL_hexstr2buf_ex(out, cap, &n, hex, '\0') == 1 && n == cap)
        return true;
    ERR_clear_error();
    return false;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= AUTH_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const struct producer_key *find(const struct auth_keys *keys, const char *name)
{
    for (size_t i = 0; i < keys->n; i++) {
        if (!strcmp(keys->p[i].name, name))
            return &keys->p[i];
    }
    return NULL;
}

sw_err auth_keys_load(const char *path, struct auth_keys **out, char *errstr, size_t errlen)
{
    sw_err err = SW_OK;
    FILE *f = NULL;
    struct auth_keys *keys = NULL;
    struct config_lines r;
    char *name, *hex;
    enum config_line got;

    *out = NULL;
    if (!path || !*path) {
        snprintf(errstr, errlen, "auth.keys_file is not set");
        return SW_ERR_CONFIG;
    }
    f = fopen(path, "re");
    if (!f) {
        snprintf(errstr, errlen, "%s: %s", path, strerror(errno));
        return SW_ERR_CONFIG;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        log_warn(MOD, "%s can be read by group or others; chmod 600 it", path);

    config_lines_init(&r, f, LINE_MAX_LEN, "`producer_name = hexkey`");
    keys = calloc(1, sizeof(*keys));
    if (keys)
        keys->p = calloc(AUTH_MAX_PRODUCERS, sizeof(*keys->p));
    if (!keys || !keys->p) {
        err = SW_ERR_NOMEM;
        snprintf(errstr, errlen, "%s: out of memory", path);
        goto cleanup_keys;
    }

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int o_ = snprintf(errstr, errlen, "%s:%d: ", path, r.lineno);                              \
        if (o_ >= 0 && (size_t)o_ < errlen)                                                        \
            snprintf(errstr + o_, errlen - (size_t)o_, __VA_ARGS__);                               \
        err = SW_ERR_CONFIG;                                                                       \
        goto cleanup_keys;                                                                         \
    } while (0)

    while ((got = config_lines_next(&r, &name, &hex)) != CONFIG_LINE_END) {
        if (got == CONFIG_LINE_BAD)
            FAIL("%s", r.msg);
        size_t hl = strlen(hex);
        if (!name_ok(name))
            FAIL("producer name must be 1..%d of [A-Za-z0-9._-]", AUTH_NAME_MAX);
        if (find(keys, name))
            FAIL("producer \"%s\" is listed twice", name);
        if (keys->n >= AUTH_MAX_PRODUCERS)
            FAIL("more than %d producers", AUTH_MAX_PRODUCERS);
        if (hl % 2 || hl < 2 * KEY_MIN || hl > 2 * KEY_MAX)
            FAIL("key of \"%s\" must be %d..%d bytes as hex (an even count of hex digits)", name,
                 KEY_MIN, KEY_MAX);
        struct producer_key *pk = &keys->p[keys->n];
        if (!hex_decode(hex, pk->key, hl / 2)) {
            OPENSSL_cleanse(pk->key, sizeof(pk->key));
            FAIL("key of \"%s\" is not hex", name);
        }
        pk->key_len = hl / 2;
        snprintf(pk->name, sizeof(pk->name), "%s", name);
        keys->n++;
    }
#undef FAIL
    if (ferror(f)) {
        snprintf(errstr, errlen, "%s: read error", path);
        err = SW_ERR_CONFIG;
        goto cleanup_keys;
    }
    if (keys->n == 0) {
        snprintf(errstr, errlen, "%s: no producer keys", path);
        err = SW_ERR_CONFIG;
        goto cleanup_keys;
    }
    *out = keys;
    keys = NULL;

cleanup_keys:
    config_lines_wipe(&r);
    auth_keys_destroy(keys);
    fclose(f);
    return err;
}

void auth_keys_destroy(struct auth_keys *keys)
{
    if (!keys)
        return;
    if (keys->p) {
        OPENSSL_cleanse(keys->p, AUTH_MAX_PRODUCERS * sizeof(*keys->p));
        free(keys->p);
    }
    free(keys);
}

size_t auth_keys_count(const struct auth_keys *keys)
{
    return keys ? keys->n : 0;
}

static bool hmac(const struct producer_key *pk, const void *msg, size_t len, unsigned char md[32])
{
    unsigned int mdlen = 0;
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), pk->key, (int)pk->key_len, len ? msg : empty, len, md, &mdlen))
        return false;
    return mdlen == 32;
}

sw_err auth_verify(const struct auth_keys *keys, const char *producer, const char *signature,
                   const void *msg, size_t len, char *reason, size_t reasonlen)
{
    unsigned char want[32], got[32];
    const char *why;

    if (!keys || keys->n == 0) {
        why = "no producer keys configured";
        goto rejected;
    }
    if (!producer || !*producer) {
        why = "missing " AUTH_HEADER_PRODUCER " header";
        goto rejected;
    }
    if (!signature || !*signature) {
        why = "missing " AUTH_HEADER_SIGNATURE " header";
        goto rejected;
    }
    const struct producer_key *pk = find(keys, producer);
    if (!pk) {
        why = "unknown producer";
        goto rejected;
    }
    if (!strncasecmp(signature, "sha256=", 7))
        signature += 7;
    if (strlen(signature) != AUTH_HEX_LEN || !hex_decode(signature, got, sizeof(got))) {
        why = "malformed " AUTH_HEADER_SIGNATURE;
        goto rejected;
    }
    if (!hmac(pk, msg, len, want)) {
        why = "cannot compute HMAC";
        goto rejected;
    }
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0) {
        why = "signature does not match";
        goto rejected;
    }
    OPENSSL_cleanse(want, sizeof(want));
    if (reasonlen)
        reason[0] = '\0';
    return SW_OK;

rejected:
    OPENSSL_cleanse(want, sizeof(want));
    if (reasonlen)
        snprintf(reason, reasonlen, "%s", why);
    return SW_ERR_REJECTED;
}

sw_err auth_sign(const struct auth_keys *keys, const char *producer, const void *msg, size_t len,
                 char hex[AUTH_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    hex[0] = '\0';
    const struct producer_key *pk = (keys && producer) ? find(keys, producer) : NULL;
    if (!pk)
        return SW_ERR_NOT_FOUND;
    if (!hmac(pk, msg, len, md))
        return SW_ERR_INTERNAL;
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[AUTH_HEX_LEN] = '\0';
    return SW_OK;
}
