/* tokencrypt.h - tokens encrypted at rest (Redis) with AES-256-GCM.
 *
 * Key: oauth.token_key_file (64 hex characters or 32 raw bytes) or, when
 * set, the environment variable SCHED_TOKEN_KEY (64 hex characters).
 * Sealed blob = base64url(version byte 1 | 12-byte random nonce |
 * 16-byte tag | ciphertext), a fresh nonce on every seal; opening checks
 * the tag (tampering or a wrong key gives SW_ERR_INVALID). */
#ifndef SW_TOKENCRYPT_H
#define SW_TOKENCRYPT_H

#include <stddef.h>

#include "config.h"
#include "errors.h"

struct tokencrypt;

sw_err tokencrypt_new(const struct sw_config *cfg, struct tokencrypt **out, char *errstr,
                      size_t errlen);
/* From a raw 32-byte key (tests). */
sw_err tokencrypt_new_key(const unsigned char key[32], struct tokencrypt **out);
void tokencrypt_destroy(struct tokencrypt *tc);

/* The key's id: 16 hex digits of SHA-256("schedworker token key id v1\0"
 * || key), into out (17 bytes with the NUL).  Names the key in logs and in
 * the token record's metadata without revealing anything of it, so a
 * replica can tell "sealed with another key" from "damaged". */
#define TOKENCRYPT_KEY_ID_LEN 16
void tokencrypt_key_id(const struct tokencrypt *tc, char out[TOKENCRYPT_KEY_ID_LEN + 1]);

/* A 32-byte key for another purpose, derived from the token key
 * (HMAC-SHA256(key, label)): each purpose gets its own key, and every
 * replica the same one. */
sw_err tokencrypt_derive(const struct tokencrypt *tc, const char *label, unsigned char out[32]);

/* *blob: malloc'd NUL-terminated text. */
sw_err tokencrypt_seal(const struct tokencrypt *tc, const char *plain, size_t len, char **blob);
/* *plain: malloc'd, NUL-terminated. */
sw_err tokencrypt_open(const struct tokencrypt *tc, const char *blob, size_t blob_len, char **plain,
                       size_t *plain_len);

#endif
