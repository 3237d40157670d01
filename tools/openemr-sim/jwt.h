/* jwt.h - base64url, PKCE and RS384 JWT verification for the simulator. */
#ifndef SIM_JWT_H
#define SIM_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Both return malloc'd memory (caller frees) or NULL. */
char *b64url_encode(const unsigned char *in, size_t len);
unsigned char *b64url_decode(const char *in, size_t len, size_t *outlen);
/* Decodes base64url JSON; new reference or NULL. */
json_t *b64url_json(const char *in, size_t len);

/* base64url(SHA-256(verifier)) == challenge, verifier 43..128 chars. */
bool pkce_s256_matches(const char *verifier, const char *challenge);

/* Verifies an RS384 compact JWT with the key its header's kid names in
 * jwks.  Returns the claims (new reference) or NULL with a reason in why.
 * Checks no claim: that is the caller's policy. */
json_t *jwt_verify_rs384(const char *jwt, json_t *jwks, char *why, size_t whylen);

#endif
