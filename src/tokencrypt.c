/* tokencrypt.c - AES-256-GCM sealing of token records (see tokencrypt.h). */
#include "tokencrypt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "jwt.h"

#define TC_VERSION 1
#define TC_NONCE   12
#define TC_TAG     16
#define TC_HEAD    (1 + TC_NONCE + TC_TAG)

struct tokencrypt {
    unsigned char key[32];
};

/* 64 hex digits (s need not end there) into key, with OpenSSL's decoder. */
static bool parse_hex_key(const char *s, size_t n, unsigned char key[32])
{
    char hex[65];
    size_t got = 0;
    if (n != 64)
        return false;
    memcpy(hex, s, 64);
    hex[64] = '\0';
    bool ok = OPENSSL_hexstr2buf_ex(key, 32, &got, hex, '\0') == 1 && got == 32;
    explicit_bzero(hex, sizeof(hex));
    if (!ok)
        ERR_clear_error();
    return ok;
}

sw_err tokencrypt_new_key(const unsigned char key[32], struct tokencrypt **out)
{
    struct tokencrypt *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return SW_ERR_NOMEM;
    memcpy(tc->key, key, 32);
    *out = tc;
    return SW_OK;
}

sw_err tokencrypt_new(const struct sw_config *cfg, struct tokencrypt **out, char *errstr,
                      size_t errlen)
{
    unsigned char key[32];
    unsigned char raw[80];
    *out = NULL;
    const char *env = getenv("SCHED_TOKEN_KEY");
    if (env && env[0]) {
        if (!parse_hex_key(env, strlen(env), key)) {
            snprintf(errstr, errlen, "SCHED_TOKEN_KEY must be 64 hex characters");
            return SW_ERR_CONFIG;
        }
    } else if (cfg->oauth_token_key_file && cfg->oauth_token_key_file[0]) {
        FILE *f = fopen(cfg->oauth_token_key_file, "rb");
        if (!f) {
            snprintf(errstr, errlen, "cannot open oauth.token_key_file %s",
                     cfg->oauth_token_key_file);
            return SW_ERR_CONFIG;
        }
        size_t n = fread(raw, 1, sizeof(raw), f);
        fclose(f);
        size_t t = n;
        while (t > 0 && (raw[t - 1] == '\n' || raw[t - 1] == '\r' || raw[t - 1] == ' '))
            t--;
        if (t == 64 && parse_hex_key((const char *)raw, t, key)) {
            /* hex */
        } else if (n == 32) {
            memcpy(key, raw, 32);
        } else {
            explicit_bzero(raw, sizeof(raw));
            snprintf(errstr, errlen,
                     "oauth.token_key_file must hold 64 hex characters or 32 raw bytes");
            return SW_ERR_CONFIG;
        }
        explicit_bzero(raw, sizeof(raw));
    } else {
        snprintf(errstr, errlen,
                 "no token encryption key: set oauth.token_key_file or SCHED_TOKEN_KEY");
        return SW_ERR_CONFIG;
    }
    sw_err err = tokencrypt_new_key(key, out);
    explicit_bzero(key, sizeof(key));
    return err;
}

void tokencrypt_key_id(const struct tokencrypt *tc, char out[TOKENCRYPT_KEY_ID_LEN + 1])
{
    static const char label[] = "schedworker token key id v1"; /* with its NUL */
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, label, sizeof(label)) == 1 &&
              EVP_DigestUpdate(ctx, tc->key, sizeof(tc->key)) == 1 &&
              EVP_DigestFinal_ex(ctx, md, &n) == 1;
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < TOKENCRYPT_KEY_ID_LEN / 2; i++) {
        out[2 * i] = ok ? digits[md[i] >> 4] : '0';
        out[2 * i + 1] = ok ? digits[md[i] & 15] : '0';
    }
    out[TOKENCRYPT_KEY_ID_LEN] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
}

sw_err tokencrypt_derive(const struct tokencrypt *tc, const char *label, unsigned char out[32])
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), tc->key, sizeof(tc->key), (const unsigned char *)label, strlen(label),
              out, &n) ||
        n != 32)
        return SW_ERR_INTERNAL;
    return SW_OK;
}

void tokencrypt_destroy(struct tokencrypt *tc)
{
    if (!tc)
        return;
    explicit_bzero(tc->key, sizeof(tc->key));
    free(tc);
}

sw_err tokencrypt_seal(const struct tokencrypt *tc, const char *plain, size_t len, char **blob)
{
    sw_err err = SW_ERR_INTERNAL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    int outl = 0, fin = 0;

    *blob = NULL;
    if (len > (1u << 20))
        return SW_ERR_INVALID;
    buf = malloc(TC_HEAD + len + 16);
    if (!buf)
        return SW_ERR_NOMEM;
    buf[0] = TC_VERSION;
    if (RAND_bytes(buf + 1, TC_NONCE) != 1)
        goto cleanup;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, TC_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, tc->key, buf + 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &outl, buf, 1) != 1 || /* version byte as AAD */
        EVP_EncryptUpdate(ctx, buf + TC_HEAD, &outl, (const unsigned char *)plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + TC_HEAD + outl, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TC_TAG, buf + 1 + TC_NONCE) != 1)
        goto cleanup;
    *blob = jwt_base64url(buf, (size_t)TC_HEAD + (size_t)outl + (size_t)fin);
    err = *blob ? SW_OK : SW_ERR_NOMEM;

cleanup:
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    return err;
}

sw_err tokencrypt_open(const struct tokencrypt *tc, const char *blob, size_t blob_len, char **plain,
                       size_t *plain_len)
{
    sw_err err = SW_ERR_INVALID;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *raw = NULL;
    char *text = NULL, *out = NULL;
    size_t rlen = 0;
    int outl = 0, fin = 0;

    *plain = NULL;
    text = strndup(blob, blob_len);
    if (!text)
        return SW_ERR_NOMEM;
    if (jwt_base64url_decode(text, &raw, &rlen) != SW_OK || rlen < TC_HEAD || raw[0] != TC_VERSION)
        goto cleanup;
    size_t clen = rlen - TC_HEAD;
    out = malloc(clen + 1);
    if (!out) {
        err = SW_ERR_NOMEM;
        goto cleanup;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, TC_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, tc->key, raw + 1) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &outl, raw, 1) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &outl, raw + TC_HEAD, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TC_TAG, raw + 1 + TC_NONCE) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + outl, &fin) != 1)
        goto cleanup; /* wrong key or tampered */
    out[outl + fin] = '\0';
    *plain_len = (size_t)(outl + fin);
    *plain = out;
    out = NULL;
    err = SW_OK;

cleanup:
    EVP_CIPHER_CTX_free(ctx);
    if (out) {
        explicit_bzero(out, clen);
        free(out);
    }
    free(raw);
    free(text);
    return err;
}
