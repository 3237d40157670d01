/* tls.c - a throw-away PKI made at start: a self-signed CA and a server
 * certificate for 127.0.0.1/localhost signed by it (EC P-256).  The CA goes
 * to DIR/ca.pem for clients to trust.  With `expired`, the server
 * certificate's validity ended yesterday (the CA is still valid, and also
 * written to DIR/expired-ca.pem), so a client must refuse it as expired. */
#include "sim.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *make_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long not_before, long not_after, long serial)
{
    X509 *c = X509_new();
    if (!c)
        return NULL;
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), not_before);
    X509_gmtime_adj(X509_getm_notAfter(c), not_after);
    X509_set_pubkey(c, key);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"openemr-sim", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : c;
    int rc = issuer ? add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") |
                          add_ext(c, iss, NID_key_usage, "critical,digitalSignature") |
                          add_ext(c, iss, NID_ext_key_usage, "serverAuth") |
                          add_ext(c, iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost")
                    : add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE") |
                          add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    rc |= add_ext(c, iss, NID_subject_key_identifier, "hash");
    if (rc || !X509_sign(c, issuer_key, EVP_sha256())) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static char *pem_of(X509 *cert, EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    if (!b)
        return NULL;
    int ok = cert ? PEM_write_bio_X509(b, cert)
                  : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    long n = ok ? BIO_get_mem_data(b, &data) : 0;
    if (n > 0 && (out = malloc((size_t)n + 1))) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) ? -1 : rc;
}

int tls_make(const char *dir, bool expired, char **key_pem, char **cert_pem, char *errstr,
             size_t errlen)
{
    EVP_PKEY *ca_key = make_key(), *srv_key = make_key();
    X509 *ca = NULL, *srv = NULL;
    char *ca_pem = NULL;
    int rc = -1;
    *key_pem = *cert_pem = NULL;
    if (!ca_key || !srv_key)
        goto cleanup_pki;
    ca = make_cert(ca_key, "openemr-sim test CA", NULL, ca_key, -86400L * 3, 86400L * 30, 1);
    if (!ca)
        goto cleanup_pki;
    srv = expired ? make_cert(srv_key, "127.0.0.1", ca, ca_key, -86400L * 2, -86400L, 2)
                  : make_cert(srv_key, "127.0.0.1", ca, ca_key, -3600L, 86400L * 7, 2);
    ca_pem = srv ? pem_of(ca, NULL) : NULL;
    *cert_pem = srv ? pem_of(srv, NULL) : NULL;
    *key_pem = pem_of(NULL, srv_key);
    if (!ca_pem || !*cert_pem || !*key_pem)
        goto cleanup_pki;
    if (write_file(dir, "ca.pem", ca_pem) < 0 ||
        (expired && write_file(dir, "expired-ca.pem", ca_pem) < 0)) {
        snprintf(errstr, errlen, "cannot write the CA into %s", dir);
        goto cleanup_pki;
    }
    rc = 0;
cleanup_pki:
    if (rc < 0) {
        if (!errstr[0])
            snprintf(errstr, errlen, "cannot make the TLS certificates");
        free(*key_pem);
        free(*cert_pem);
        *key_pem = *cert_pem = NULL;
    }
    free(ca_pem);
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}
