/* jwt.h - RS384 client assertions (SMART Backend Services) and base64url.
 * Pure apart from reading the key file and the random jti. */
#ifndef SW_JWT_H
#define SW_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* base64url without padding; malloc'd. */
char *jwt_base64url(const unsigned char *data, size_t len);

/* Decodes base64url (padding optional; the standard alphabet's + and / too;
 * canonical only: the unused bits of the last character are zero); *out
 * malloc'd. */
sw_err jwt_base64url_decode(const char *text, unsigned char **out, size_t *len);

/* Fills buf with n random bytes rendered as base64url (for jti, PKCE,
 * state).  buf must hold 4*n/3 + 2 bytes. */
sw_err jwt_random_b64(size_t nbytes, char *buf, size_t buflen);

/* Signs a client assertion with the RSA private key in key_file (PEM):
 * header {alg RS384, typ JWT, kid}, claims iss = sub = client_id,
 * aud = token_url, iat = now, exp = now + 300, jti = fresh random.
 * *out malloc'd. */
sw_err jwt_client_assertion(const char *key_file, const char *kid, const char *client_id,
                            const char *token_url, int64_t now, char **out, char *errstr,
                            size_t errlen);

/* The public JWKS ({"keys":[{kty,n,e,kid,alg,use}]}) of the RSA key in
 * key_file, for client registration.  *out malloc'd JSON text. */
sw_err jwt_jwks_from_key(const char *key_file, const char *kid, char **out, char *errstr,
                         size_t errlen);

/* SHA-256 of text as base64url (PKCE S256 challenge, token fingerprints). */
sw_err jwt_sha256_b64(const char *text, char *buf, size_t buflen);

#endif
