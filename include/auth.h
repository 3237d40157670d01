/* auth.h - signed commands: producer keys with roles, the signature scheme
 * (v1) and its check.  docs/security.md describes the scheme for outside
 * clients, with a worked example.
 *
 * Every command carries three Kafka headers:
 *   x-key-id:    the id of the producer's key in the keys file
 *   x-signed-at: when it was signed, Unix milliseconds (decimal, no sign,
 *                no leading zero): two signings of one message differ, so
 *                a retry signed again is no replay
 *   x-signature: "v1=" + 64 lower- or upper-case hex digits of
 *                HMAC-SHA256(key, signing input)
 * The signing input frames every part that changes what the command means,
 * each on its own line, then the value's exact bytes:
 *
 *   "schedworker-v1" LF
 *   key id LF
 *   signed-at LF
 *   topic LF
 *   request_id header LF          (an absent header is the empty line)
 *   reply_to header LF
 *   correlation_id header LF
 *   dlq_replayed_from header LF
 *   value                         (the Kafka message value, as sent)
 *
 * No framed field may hold a line feed, carriage return or NUL (the check
 * refuses such headers), so every input splits one way only: two different
 * messages never share a signing input.  The Kafka key is not signed: it
 * only chooses the lane (ordering), never what a command does.
 *
 * Keys file (auth.keys_file), the config file's line rules (config_lines.h):
 *   KEY_ID = ROLE HEXSECRET
 * KEY_ID is 1..64 of [A-Za-z0-9._-], each at most once; ROLE is agent
 * (every command topic), reader (the search topic only) or operator (every
 * command topic, but only a dead letter it replays: the signed
 * dlq_replayed_from header must name it); HEXSECRET is 32..128 bytes as
 * hex (`openssl rand -hex 32`).  Keep it mode 0600 (or 0640/0440 for the
 * worker's group): a warning is logged when others can read it.
 *
 * The pure parts here read no clock: the caller passes "now".  The replay
 * guard (a signature is good for one Kafka message only) needs the fleet's
 * Redis and sits in dispatch (fleet_replay_claim). */
#ifndef SW_AUTH_H
#define SW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define AUTH_HEADER_KEY_ID    "x-key-id"
#define AUTH_HEADER_SIGNED_AT "x-signed-at"
#define AUTH_HEADER_SIGNATURE "x-signature"
#define AUTH_HEADER_REPLAY_OF "dlq_replayed_from"
#define AUTH_SCHEME           "schedworker-v1"
#define AUTH_SIG_PREFIX       "v1="
#define AUTH_SIG_LEN          (3 + 64) /* "v1=" and 64 hex digits */
#define AUTH_MAX_KEYS         256
#define AUTH_KEY_ID_MAX       64
#define AUTH_DIGEST_HEX       64 /* hex digits of a signature's digest */

enum auth_role { AUTH_ROLE_READER, AUTH_ROLE_AGENT, AUTH_ROLE_OPERATOR };

/* Which of the worker's command topics a message came from. */
enum auth_topic { AUTH_TOPIC_SEARCH, AUTH_TOPIC_BOOK, AUTH_TOPIC_CANCEL, AUTH_TOPIC_OTHER };

struct auth_keys;

/* A message as the signature sees it: what travels on Kafka.  NULL header
 * values stand for absent headers (signed as empty lines). */
struct auth_msg {
    const char *topic;
    const char *request_id;
    const char *reply_to;
    const char *correlation_id;
    const char *replay_of; /* dlq_replayed_from */
    const void *value;
    size_t len;
};

/* The three headers a signer adds, as NUL-terminated text. */
struct auth_headers {
    char key_id[AUTH_KEY_ID_MAX + 1];
    char signed_at[24];
    char signature[AUTH_SIG_LEN + 1];
};

/* The outcome of one check. */
enum auth_verdict {
    AUTH_OK,              /* signed by a known key, allowed on this topic */
    AUTH_UNSIGNED,        /* no signature headers at all */
    AUTH_UNAUTHENTICATED, /* a signature that does not prove the sender */
    AUTH_FORBIDDEN,       /* a good signature by a key whose role may not */
};

struct auth_check {
    enum auth_verdict verdict;
    /* with AUTH_OK: the signed time lies outside the window.  Only a
     * redelivery of a message accepted before may then pass (the caller
     * asks the replay guard). */
    bool stale;
    enum auth_role role;
    char key_id[AUTH_KEY_ID_MAX + 1]; /* the known key's id, else "" */
    char digest[AUTH_DIGEST_HEX + 1]; /* SHA-256 of the signature, hex */
    char reason[128]; /* short; never a key, a signature or an unknown header value */
};

/* Reads a keys file.  On error SW_ERR_CONFIG with "path:line: message" in
 * errstr (the first problem), or "path: ..." when it cannot be read or
 * holds no key.  Every secret's hex text is registered with the logger.
 * Free *out with auth_keys_destroy(). */
sw_err auth_keys_load(const char *path, struct auth_keys **out, char *errstr, size_t errlen);

/* Wipes the keys from memory and frees them.  Accepts NULL. */
void auth_keys_destroy(struct auth_keys *keys);

size_t auth_keys_count(const struct auth_keys *keys);

/* The id of the first key with that role, NULL if none (tools that sign
 * pick their default key with it). */
const char *auth_keys_first(const struct auth_keys *keys, enum auth_role role);

const char *auth_role_name(enum auth_role role);

/* May a key of this role send to this topic?  An operator needs
 * replaying (a signed dlq_replayed_from header) besides. */
bool auth_role_allows(enum auth_role role, enum auth_topic topic, bool replaying);

/* The signing input of m with that key id and time, malloc'd into *out
 * (*len bytes; not NUL-terminated).  SW_ERR_INVALID if a framed field
 * holds a line feed, carriage return or NUL, or the key id is not one. */
sw_err auth_signing_input(const struct auth_msg *m, const char *key_id, const char *signed_at,
                          unsigned char **out, size_t *len);

/* Signs m with key key_id at signed_at_ms (Unix milliseconds): the headers to
 * send.  SW_ERR_NOT_FOUND for an unknown key id, SW_ERR_INVALID for a
 * field that cannot be framed.  Tools call this (tools/sign). */
sw_err auth_sign(const struct auth_keys *keys, const char *key_id, const struct auth_msg *m,
                 int64_t signed_at_ms, struct auth_headers *out);

/* Checks one message: key_id, signed_at and signature are the header values
 * (NULL when absent).  now_ms is the clock (Unix milliseconds); a
 * signature older or newer than max_skew_s seconds is `stale`.  header_trouble: the transport saw a
 * signed header twice, too long or holding NUL (then nothing verifies).
 * Never reads the keys' bytes into the reason; compares in constant time. */
void auth_verify(const struct auth_keys *keys, const struct auth_msg *m, const char *key_id,
                 const char *signed_at, const char *signature, bool header_trouble,
                 enum auth_topic topic, int64_t now_ms, int max_skew_s, struct auth_check *out);

/* Development mode (auth.allow_unsigned): dispatch counts each unsigned
 * command it lets through; the monitor reports the count every minute. */
void auth_count_unsigned(void);
uint64_t auth_unsigned_taken(void); /* the count since the last call */

#endif
