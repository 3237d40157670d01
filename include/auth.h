/* auth.h - command authorization: which producer may send write commands.
 *
 * Each producer shares a secret key with the worker.  It sends, as Kafka
 * headers on every write command:
 *   x-producer:  its name as in the keys file
 *   x-signature: HMAC-SHA256(key, the message value's exact bytes), as 64
 *                hex digits, optionally prefixed "sha256=" (either case)
 * The worker checks them before anything else (when
 * auth.require_signed_writes is true) and answers `rejected` otherwise, so a
 * service that can write to the command topics but holds no key cannot book
 * or cancel.  The signature covers only the value: the key and other headers
 * are not signed; replays of a signed message are stopped by its request_id
 * (idempotency), not here.
 *
 * Keys file (auth.keys_file): one `producer_name = hexkey` per line, read
 * with the config file's line rules (config_lines.h: `#` and `;` comments,
 * blank lines ignored, "quoted" values); names are [A-Za-z0-9._-], 1..64
 * bytes, each at most once; keys are 16..128 bytes written as hex (make one
 * with `openssl rand -hex 32`).  Keep it mode 0600: a warning is logged
 * when group or others can read it. */
#ifndef SW_AUTH_H
#define SW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define AUTH_HEADER_PRODUCER  "x-producer"
#define AUTH_HEADER_SIGNATURE "x-signature"
#define AUTH_HEX_LEN          64 /* hex digits of one signature */
#define AUTH_MAX_PRODUCERS    256
#define AUTH_NAME_MAX         64

struct auth_keys;

/* Reads a keys file.  On error SW_ERR_CONFIG with "path:line: message" in
 * errstr (the first problem), or "path: ..." when it cannot be read or holds
 * no key.  Free *out with auth_keys_destroy(). */
sw_err auth_keys_load(const char *path, struct auth_keys **out, char *errstr, size_t errlen);

/* Wipes the keys from memory and frees them.  Accepts NULL. */
void auth_keys_destroy(struct auth_keys *keys);

size_t auth_keys_count(const struct auth_keys *keys);

/* Checks one message.  producer and signature are the header values as
 * NUL-terminated strings, NULL when the header is absent; msg/len are the
 * exact bytes of the Kafka message value.  SW_OK when the signature is the
 * named producer's HMAC of msg (compared in constant time); otherwise
 * SW_ERR_REJECTED with a short reason (never a key, never a header value)
 * in reason: "missing x-producer header", "missing x-signature header",
 * "unknown producer", "malformed x-signature", "signature does not match",
 * "no producer keys configured" (keys NULL). */
sw_err auth_verify(const struct auth_keys *keys, const char *producer, const char *signature,
                   const void *msg, size_t len, char *reason, size_t reasonlen);

/* The lower-case hex HMAC of msg with producer's key, into hex (65 bytes
 * with the NUL).  SW_ERR_NOT_FOUND for an unknown producer. */
sw_err auth_sign(const struct auth_keys *keys, const char *producer, const void *msg, size_t len,
                 char hex[AUTH_HEX_LEN + 1]);

#endif
