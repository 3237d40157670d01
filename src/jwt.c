/* jwt.c - RS384 client assertions signed with OpenSSL EVP, and base64url on
 * OpenSSL's base64 (see jwt.h). */
#include "jwt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

char *jwt_base64url(const unsigned char *data, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len); /* standard, padded */
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *c = out; *c; c++) {
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
    }
    return out;
}

/* The standard alphabet's letter for c (either alphabet), 0 if none. */
static char std_b64(char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
        c == '/')
        return c;
    return c == '-' ? '+' : c == '_' ? '/' : 0;
}

sw_err jwt_base64url_decode(const char *text, unsigned char **out, size_t *len)
{
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '=')
        n--;
    if (n % 4 == 1 || n > (size_t)INT_MAX - 3)
        return SW_ERR_INVALID;
    /* EVP_DecodeBlock wants whole quantums and skips blanks: check every
     * character here, pad with 'A' (zero bits) and keep only the real bytes. */
    size_t padded = (n + 3) / 4 * 4, real = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    sw_err err = SW_ERR_NOMEM;
    unsigned char *std = malloc(padded + 1), *buf = malloc(padded / 4 * 3 + 1);
    if (!std || !buf)
        goto free_all;
    err = SW_ERR_INVALID;
    memset(std, 'A', padded);
    for (size_t i = 0; i < n; i++)
        if (!(std[i] = (unsigned char)std_b64(text[i])))
            goto free_all;
    /* Canonical only: the unused low bits of a short last quantum are zero
     * (they land in the first byte dropped), so no two texts decode alike. */
    if (EVP_DecodeBlock(buf, std, (int)padded) < 0 || (n % 4 && buf[real] != 0))
        goto free_all;
    *out = buf;
    *len = real;
    buf = NULL;
    err = SW_OK;
free_all:
    free(std);
    free(buf);
    return err;
}

sw_err jwt_random_b64(size_t nbytes, char *buf, size_t buflen)
{
    unsigned char raw[96];
    if (nbytes > sizeof(raw) || buflen < nbytes * 4 / 3 + 2)
        return SW_ERR_INVALID;
    if (RAND_bytes(raw, (int)nbytes) != 1)
        return SW_ERR_INTERNAL;
    char *s = jwt_base64url(raw, nbytes);
    if (!s)
        return SW_ERR_NOMEM;
    snprintf(buf, buflen, "%s", s);
    free(s);
    return SW_OK;
}

static char *b64_json(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return NULL;
    char *out = jwt_base64url((const unsigned char *)text, strlen(text));
    free(text);
    return out;
}

sw_err jwt_client_assertion(const char *key_file, const char *kid, const char *client_id,
                            const char *token_url, int64_t now, char **out, char *errstr,
                            size_t errlen)
{
    sw_err err = SW_ERR_INTERNAL;
    FILE *f = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *hdr = NULL, *claims = NULL;
    char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL, *jwt = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char jti[48];

    *out = NULL;
    f = fopen(key_file, "r");
    if (!f) {
        snprintf(errstr, errlen, "cannot open private key file %s", key_file);
        err = SW_ERR_CONFIG;
        goto cleanup;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        snprintf(errstr, errlen, "%s is not an RSA private key (PEM)", key_file);
        err = SW_ERR_CONFIG;
        goto cleanup;
    }
    err = jwt_random_b64(24, jti, sizeof(jti));
    if (err != SW_OK)
        goto cleanup;
    err = SW_ERR_NOMEM;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS384", "typ", "JWT", "kid", kid ? kid : "");
    claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", client_id, "sub", client_id, "aud",
                  token_url, "iat", (json_int_t)now, "exp", (json_int_t)(now + 300), "jti", jti);
    if (!hdr || !claims)
        goto cleanup;
    h64 = b64_json(hdr);
    c64 = b64_json(claims);
    if (!h64 || !c64)
        goto cleanup;
    size_t ilen = strlen(h64) + strlen(c64) + 2;
    input = malloc(ilen);
    if (!input)
        goto cleanup;
    snprintf(input, ilen, "%s.%s", h64, c64);

    err = SW_ERR_INTERNAL;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(errstr, errlen, "RS384 signing failed");
        goto cleanup;
    }
    sig = malloc(siglen);
    if (!sig ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(errstr, errlen, "RS384 signing failed");
        goto cleanup;
    }
    s64 = jwt_base64url(sig, siglen);
    if (!s64) {
        err = SW_ERR_NOMEM;
        goto cleanup;
    }
    size_t jlen = strlen(input) + strlen(s64) + 2;
    jwt = malloc(jlen);
    if (!jwt) {
        err = SW_ERR_NOMEM;
        goto cleanup;
    }
    snprintf(jwt, jlen, "%s.%s", input, s64);
    *out = jwt;
    jwt = NULL;
    err = SW_OK;

cleanup:
    if (f)
        fclose(f);
    EVP_PKEY_free(key);
    EVP_MD_CTX_free(md);
    json_decref(hdr);
    json_decref(claims);
    free(h64);
    free(c64);
    free(input);
    free(s64);
    free(sig);
    free(jwt);
    return err;
}

static char *bn_b64(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
        return NULL;
    int n = BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n + 1);
    char *out = NULL;
    if (buf) {
        BN_bn2bin(bn, buf);
        out = jwt_base64url(buf, (size_t)n);
    }
    free(buf);
    BN_free(bn);
    return out;
}

sw_err jwt_jwks_from_key(const char *key_file, const char *kid, char **out, char *errstr,
                         size_t errlen)
{
    sw_err err = SW_ERR_CONFIG;
    EVP_PKEY *key = NULL;
    char *n = NULL, *e = NULL;
    json_t *jwks = NULL;
    FILE *f = fopen(key_file, "r");
    *out = NULL;
    if (!f) {
        snprintf(errstr, errlen, "cannot open private key file %s", key_file);
        goto cleanup;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        snprintf(errstr, errlen, "%s is not an RSA private key (PEM)", key_file);
        goto cleanup;
    }
    n = bn_b64(key, "n");
    e = bn_b64(key, "e");
    err = SW_ERR_NOMEM;
    if (!n || !e)
        goto cleanup;
    jwks = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "RSA", "n", n, "e", e,
                     "kid", kid ? kid : "", "alg", "RS384", "use", "sig");
    if (!jwks)
        goto cleanup;
    *out = json_dumps(jwks, JSON_COMPACT);
    err = *out ? SW_OK : SW_ERR_NOMEM;
cleanup:
    if (f)
        fclose(f);
    EVP_PKEY_free(key);
    free(n);
    free(e);
    json_decref(jwks);
    return err;
}

sw_err jwt_sha256_b64(const char *text, char *buf, size_t buflen)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1)
        return SW_ERR_INTERNAL;
    char *s = jwt_base64url(md, mdlen);
    if (!s)
        return SW_ERR_NOMEM;
    int w = snprintf(buf, buflen, "%s", s);
    free(s);
    return (w < 0 || (size_t)w >= buflen) ? SW_ERR_INVALID : SW_OK;
}
