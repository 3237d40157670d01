/* jwt.c - the little JOSE the simulator needs (OpenSSL): base64url, the
 * PKCE S256 check, and RS384 verification of a client assertion against
 * an RSA key of a registered JWKS. */
#include "jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

char *b64url_encode(const unsigned char *in, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

unsigned char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (len > 65536)
        return NULL;
    size_t padded = (len + 3) / 4 * 4;
    char *tmp = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    if (!tmp || !out)
        goto fail;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            goto fail;
        tmp[i] = c;
    }
    for (size_t i = len; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    int n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    if (n < 0)
        goto fail;
    n -= (int)(padded - len); /* EVP_DecodeBlock counts the padding */
    out[n] = '\0';
    *outlen = (size_t)n;
    free(tmp);
    return out;
fail:
    free(tmp);
    free(out);
    return NULL;
}

json_t *b64url_json(const char *in, size_t len)
{
    size_t n = 0;
    unsigned char *raw = b64url_decode(in, len, &n);
    if (!raw)
        return NULL;
    json_t *j = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    return j;
}

bool pkce_s256_matches(const char *verifier, const char *challenge)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!verifier || !challenge || strlen(verifier) < 43 || strlen(verifier) > 128)
        return false;
    if (!EVP_Digest(verifier, strlen(verifier), md, &mdlen, EVP_sha256(), NULL))
        return false;
    char *enc = b64url_encode(md, mdlen);
    bool ok = enc && strcmp(enc, challenge) == 0;
    free(enc);
    return ok;
}

static BIGNUM *jwk_bn(json_t *jwk, const char *name)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    size_t n = 0;
    unsigned char *raw = s ? b64url_decode(s, strlen(s), &n) : NULL;
    BIGNUM *bn = raw ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    free(raw);
    return bn;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    BIGNUM *n = jwk_bn(jwk, "n"), *e = jwk_bn(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto cleanup;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* The key of `jwks` named by kid (or its only RSA key when kid is NULL). */
static json_t *jwks_find(json_t *jwks, const char *kid)
{
    json_t *keys = json_object_get(jwks, "keys"), *k;
    size_t i;
    json_array_foreach(keys, i, k)
    {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *kkid = json_string_value(json_object_get(k, "kid"));
        if (!kty || strcmp(kty, "RSA") != 0)
            continue;
        if (!kid ? json_array_size(keys) == 1 : (kkid && strcmp(kkid, kid) == 0))
            return k;
    }
    return NULL;
}

json_t *jwt_verify_rs384(const char *jwt, json_t *jwks, char *why, size_t whylen)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    json_t *header = NULL, *claims = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (!d2 || strchr(d2 + 1, '.')) {
        snprintf(why, whylen, "assertion is not a JWS compact JWT");
        goto fail;
    }
    header = b64url_json(jwt, (size_t)(d1 - jwt));
    claims = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!json_is_object(header) || !json_is_object(claims)) {
        snprintf(why, whylen, "assertion header or claims unreadable");
        goto fail;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (!alg || strcmp(alg, "RS384") != 0) {
        snprintf(why, whylen, "alg must be RS384");
        goto fail;
    }
    json_t *jwk = jwks_find(jwks, json_string_value(json_object_get(header, "kid")));
    if (!jwk || !(pkey = jwk_rsa(jwk))) {
        snprintf(why, whylen, "no registered key for kid");
        goto fail;
    }
    sig = b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
    md = EVP_MD_CTX_new();
    if (!sig || !md || EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pkey) <= 0 ||
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)) != 1) {
        snprintf(why, whylen, "signature does not verify");
        goto fail;
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    free(sig);
    json_decref(header);
    return claims;
fail:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    free(sig);
    json_decref(header);
    json_decref(claims);
    return NULL;
}
