/* fleet.h - everything the replicas share through Redis.
 *
 * The only module that talks to Redis (hiredis); every key starts with
 * cfg->redis_prefix, and every key's name comes from keys.h (the names
 * callers pass to fleet_cache_*, fleet_lock and fleet_lease included).
 * Multi-step changes are Lua scripts, so each operation is atomic for the
 * whole fleet.
 *
 * A struct fleet is one Redis connection: use one per thread (not
 * thread-safe).  Every call has the configured timeout; on a lost
 * connection the next call reconnects.  Errors: SW_ERR_REDIS when Redis is
 * unreachable or answered an error (details in fleet_errstr()). */
#ifndef SW_FLEET_H
#define SW_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "errors.h"

struct fleet;

sw_err fleet_new(const struct sw_config *cfg, struct fleet **out, char *errstr, size_t errlen);

/* What fleet_new takes by default, for tests to change. */
struct fleet_options {
    const struct sw_clock *clock; /* the limiter's waits and timing; NULL: system */
};
sw_err fleet_new_opts(const struct sw_config *cfg, const struct fleet_options *opts,
                      struct fleet **out, char *errstr, size_t errlen);
void fleet_destroy(struct fleet *f);
const char *fleet_errstr(const struct fleet *f);
sw_err fleet_ping(struct fleet *f);

/* Milliseconds since the epoch by Redis's clock (TIME), so every replica
 * agrees on limiter, lease and hold times. */
sw_err fleet_now_ms(struct fleet *f, int64_t *now_ms);

/* ---- idempotency (key: request_id) ----------------------------------
 *
 * One record per request_id, bound to the digest of the command it was
 * made for.  While in progress it is leased to one attempt (owner: a
 * string unique to the attempt) with a fencing number that grows with
 * every attempt; an attempt writes to OpenEMR only after
 * fleet_idem_guard() said, in one atomic step, that its lease, number and
 * locks are still current and now cover the write.  When done it holds the
 * result, the Kafka coordinates of the message that produced it, and for
 * a while the other outputs (events, audit records) to produce again if
 * that message is delivered again. */

enum fleet_idem_state {
    FLEET_IDEM_NEW,      /* first sight: we hold the lease */
    FLEET_IDEM_DONE,     /* finished earlier: result (and maybe outputs) */
    FLEET_IDEM_BUSY,     /* another attempt holds a live lease */
    FLEET_IDEM_TAKEOVER, /* an earlier attempt's lease ran out: ours now; note */
    FLEET_IDEM_MISMATCH, /* the request_id belongs to another command */
    FLEET_IDEM_NO_EPOCH, /* fleet_idem_begin_admit: Redis was not rebuilt from the ledger */
    FLEET_IDEM_REFUSED,  /* fleet_idem_begin_admit: the replay guard refused the message */
};

struct fleet_idem {
    enum fleet_idem_state state;
    int64_t fence;          /* NEW, TAKEOVER: this attempt's fencing number */
    int takeovers;          /* TAKEOVER: earlier holders that died (hand-overs
                             * on purpose not counted): a poison message */
    int64_t write_until_ms; /* TAKEOVER: until when (Redis ms) an earlier
                             * attempt's OpenEMR write was covered; 0 none */
    int64_t now_ms;         /* Redis's clock at the call */
    char *note;             /* TAKEOVER: what an earlier attempt noted, or NULL */
    char *result;           /* DONE: the stored result */
    char *source;           /* DONE: "topic/partition/offset" that produced it */
    char *outputs;          /* DONE: its other outputs (JSON), while kept */
};

/* Starts an attempt of request_id for the command with this digest, with
 * a lease of lease_s seconds.  Free x's strings with fleet_idem_clear(). */
sw_err fleet_idem_begin(struct fleet *f, const char *request_id, const char *owner,
                        const char *digest, int lease_s, struct fleet_idem *x);
/* (fleet_idem_begin_admit, below the replay guard: the same with the
 * fleet's epoch and the guard checked in the same step.) */
void fleet_idem_clear(struct fleet_idem *x);

/* Records a note (JSON text: e.g. the confirmation number chosen before an
 * OpenEMR write) under our lease, and renews the lease (note NULL: only
 * renews).  SW_ERR_BUSY if the lease is no longer ours. */
sw_err fleet_idem_note(struct fleet *f, const char *request_id, const char *owner, const char *note,
                       int lease_s);
/* Right before an OpenEMR write, atomically: the lease is still this
 * attempt's (owner and fence), each lock named still held by owner, and
 * all of them are stretched to last need_ms more; the record notes until
 * when the write is covered.  SW_ERR_BUSY (and nothing stretched) if any
 * was lost. */
sw_err fleet_idem_guard(struct fleet *f, const char *request_id, const char *owner, int64_t fence,
                        int need_ms, const char *const *locks, size_t n_locks);
/* Hands the command over on purpose (its outcome must be reconciled by a
 * later attempt): the lease ends now and the next takeover is not counted
 * as a crash.  SW_ERR_BUSY if not ours. */
sw_err fleet_idem_handover(struct fleet *f, const char *request_id, const char *owner);
/* Stores the final result for ttl_s seconds (with the source coordinates,
 * and the other outputs, kept outputs_ttl_s) and ends the lease.
 * SW_ERR_BUSY (nothing written) if the request is already done or another
 * attempt took the lease over. */
sw_err fleet_idem_finish(struct fleet *f, const char *request_id, const char *owner,
                         const char *result, const char *source, const char *outputs, int ttl_s,
                         int outputs_ttl_s);
/* Gives the lease up without a result (nothing was done), so a redelivery
 * may start over at once.  SW_ERR_BUSY if the record is done or another
 * attempt's (left alone). */
sw_err fleet_idem_abandon(struct fleet *f, const char *request_id, const char *owner);

/* ---- replay guard of signed commands (key: the signature's digest) -- */

enum fleet_replay {
    FLEET_REPLAY_NEW,   /* never seen (claimed for who, if asked) */
    FLEET_REPLAY_SAME,  /* claimed before by the same message (who): a redelivery */
    FLEET_REPLAY_OTHER, /* claimed by another message: a replay */
};

/* Looks up, and with claim sets (SET EX ttl_s, if absent), the record of a
 * signature: digest is its hex SHA-256 (auth_check.digest), who names the
 * Kafka message carrying it ("topic/partition/offset").  Nothing is written
 * unless claim is true and the signature is new. */
sw_err fleet_replay_claim(struct fleet *f, const char *digest, const char *who, int ttl_s,
                          bool claim, enum fleet_replay *out);

/* The replay guard's check (fleet_replay_claim's digest, who, ttl_s and
 * claim) made inside a begin, so that a command costs one round trip. */
struct fleet_admit {
    const char *digest, *who;
    int ttl_s;
    bool claim;             /* false: a signature out of its window, never claimed */
    enum fleet_replay seen; /* out, with FLEET_IDEM_REFUSED: what the guard found */
};
/* fleet_idem_begin, with in the same atomic step: with g, first the
 * replay guard, as fleet_replay_claim would (a signature another message
 * carried first, seen OTHER, or a new one that may not be claimed, seen
 * NEW with claim false: FLEET_IDEM_REFUSED, nothing begun); then with
 * epoch, that the fleet's epoch (KEY_EPOCH) exists (FLEET_IDEM_NO_EPOCH,
 * nothing begun, when Redis lost its data and the ledger was not read
 * back yet). */
sw_err fleet_idem_begin_admit(struct fleet *f, const char *request_id, const char *owner,
                              const char *digest, int lease_s, bool epoch, struct fleet_admit *g,
                              struct fleet_idem *x);

/* ---- fleet-wide rate limit ------------------------------------------ */

enum fleet_priority { FLEET_PRIO_WRITE = 0, FLEET_PRIO_READ = 1, FLEET_PRIO_BACKGROUND = 2 };

struct fleet_permit {
    char id[40];         /* empty when not held */
    char waited_for[16]; /* what first held the grant back ("rate", "permits",
                          * ...: fleet_limit.c); empty when it did not wait */
};

/* Waits (sleeping, polling Redis) until both a rate grant (at most
 * cfg->limiter_rps in any 1.04 s, fleet-wide: see fleet_limit.c) and an
 * in-flight permit (at most cfg->limiter_concurrency; a permit expires after
 * cfg->limiter_permit_ttl_ms if its holder dies) are granted, honouring any
 * fleet-wide back-off set by fleet_limit_backoff().  Lower priorities leave
 * headroom to higher ones when the budget is short.  SW_ERR_EXPIRED if
 * deadline_ms (epoch ms, 0 = none) comes first; *waited_ms says how long it
 * waited. */
sw_err fleet_limit_acquire(struct fleet *f, enum fleet_priority prio, int64_t deadline_ms,
                           struct fleet_permit *permit, int64_t *waited_ms);
void fleet_limit_release(struct fleet *f, struct fleet_permit *permit);
/* A request that timed out on our side may still hold a server thread
 * (OpenEMR goes on with a request whose client left): its permit is kept
 * for ms more, then frees itself, instead of going back at once. */
void fleet_limit_release_after(struct fleet *f, struct fleet_permit *permit, int ms);
/* OpenEMR (or a proxy) said 429/503 with Retry-After: nobody in the fleet
 * starts a request for that long. */
sw_err fleet_limit_backoff(struct fleet *f, int seconds);

/* ---- circuit breaker -------------------------------------------------- */

enum fleet_circuit { FLEET_CIRCUIT_CLOSED, FLEET_CIRCUIT_OPEN, FLEET_CIRCUIT_HALF_OPEN };

/* May a request go to OpenEMR now?  When open and the open time has run
 * out, exactly one caller in the fleet gets *probe = true and true. */
bool fleet_breaker_allow(struct fleet *f, bool *probe);
/* Reports an OpenEMR outcome (success, or a transient failure). */
void fleet_breaker_record(struct fleet *f, bool success);
enum fleet_circuit fleet_breaker_state(struct fleet *f);

/* ---- shared OAuth token (opaque, already encrypted blobs) ------------ */

/* What the fleet knows of its token record besides the sealed blob. */
struct fleet_token_meta {
    long long version; /* counts the stores; 0: never stored */
    char key_id[24];   /* id of the key that sealed it (tokencrypt_key_id); "" if not known */
};

/* The fleet's current token record (whatever the oauth module stored) and
 * its metadata (meta may be NULL), read together; SW_ERR_NOT_FOUND when
 * there is none (meta still filled).  *blob is malloc'd. */
sw_err fleet_token_get(struct fleet *f, const char *name, char **blob, size_t *len,
                       struct fleet_token_meta *meta);
/* Takes the refresh lock (SET NX PX) for ttl_ms; SW_ERR_BUSY if held. */
sw_err fleet_token_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms);
/* Compare-and-set: writes a new record, sealed with key_id, as version
 * expect + 1, only if the record is still version expect (the one its
 * writer read; 0 for none); SW_ERR_BUSY and nothing written otherwise.
 * Releases the lock if owner holds it.  The previous record is kept under
 * a second key (fleet_token_get(f, "NAME:prev", ...)); see oauth.c for the
 * protocol. */
sw_err fleet_token_put(struct fleet *f, const char *name, const char *owner, long long expect,
                       const char *key_id, const char *blob, size_t len);
sw_err fleet_token_unlock(struct fleet *f, const char *name, const char *owner);

/* ---- generic JSON cache (slot days, reference data, id maps) --------- */

/* key is the caller's logical key (keys.h: key_day() gives
 * "day:PRACT:2026-12-01"), stored as "cache:KEY"; *value malloc'd;
 * SW_ERR_NOT_FOUND on a miss. */
sw_err fleet_cache_get(struct fleet *f, const char *key, char **value);
sw_err fleet_cache_put(struct fleet *f, const char *key, const char *value, int ttl_s);
sw_err fleet_cache_del(struct fleet *f, const char *key);
/* Deletes key only while it holds value: SW_ERR_BUSY when it holds
 * another (gone counts as deleted). */
sw_err fleet_cache_del_if(struct fleet *f, const char *key, const char *value);

/* Read-ahead for one command: the cache values of cache_keys (logical
 * keys) and the live holds of practitioners over [from, to) are asked for
 * together, and go out with the next command this connection sends (the
 * idempotency check), in one round trip.  fleet_cache_get() and
 * fleet_holds_list() answer from them (holds: for a range inside
 * [from, to)) until fleet_prefetch_clear(); a write through this fleet to
 * a prefetched key or to holds forgets it.  Best effort: whatever is not
 * prefetched is read as before.  Not connected: nothing is done. */
void fleet_prefetch(struct fleet *f, const char *const *cache_keys, size_t n_keys,
                    const char *const *practitioners, size_t n_practitioners, int64_t from,
                    int64_t to);
void fleet_prefetch_clear(struct fleet *f);

/* ---- holds ------------------------------------------------------------ */

struct fleet_hold {
    char hold_id[40];
    char practitioner_id[64];
    char session_id[129];
    char patient_id[64];
    int64_t start, end; /* epoch seconds */
    int64_t expires_at_ms;
};

/* Places a hold unless it overlaps a live hold of another session for the
 * same practitioner (SW_ERR_CONFLICT).  h->hold_id and h->expires_at_ms are
 * filled in. */
sw_err fleet_hold_place(struct fleet *f, struct fleet_hold *h, int ttl_s);
sw_err fleet_hold_get(struct fleet *f, const char *hold_id, struct fleet_hold *out);
sw_err fleet_hold_release(struct fleet *f, const char *hold_id);
/* Live holds of a practitioner overlapping [from, to); *out malloc'd. */
sw_err fleet_holds_list(struct fleet *f, const char *practitioner_id, int64_t from, int64_t to,
                        struct fleet_hold **out, size_t *n);

/* ---- locks and leases -------------------------------------------------- */

/* Short exclusive lock (e.g. one booking per practitioner at a time);
 * SW_ERR_BUSY if held by another owner. */
sw_err fleet_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms);
sw_err fleet_unlock(struct fleet *f, const char *name, const char *owner);
/* Leader lease: acquires or renews; *leader true if we hold it. */
sw_err fleet_lease(struct fleet *f, const char *name, const char *owner, int ttl_ms, bool *leader);
/* The leader's compare-and-set of a cache value: written only while owner
 * holds lease and the value is still the one it read (expect_sha1: the
 * SHA-1 of that value in hex, "" when it was absent).  SW_ERR_BUSY when
 * the lease is another's or someone wrote in between. */
sw_err fleet_cache_put_leased(struct fleet *f, const char *key, const char *expect_sha1,
                              const char *value, int ttl_s, const char *lease, const char *owner);
/* The hex SHA-1 fleet_cache_put_leased() compares ("" for NULL). */
void fleet_sha1_hex(const char *value, char out[41]);

/* ---- the ledger's side in Redis (fleet_ledger.c, ledger.h) ------------- */

/* Restores request_id's record as done (result, digest, source "") for
 * ttl_ms, only when no record of it exists: *restored says whether it was
 * written. */
sw_err fleet_ledger_restore(struct fleet *f, const char *request_id, const char *digest,
                            const char *result, int64_t ttl_ms, bool *restored);
/* Sets the fleet's epoch to value (no TTL), only while the lock named
 * lock_name is still held by owner (SW_ERR_BUSY if not: Redis lost it
 * meanwhile, or it ran out, and the rebuild must start over). */
sw_err fleet_epoch_set(struct fleet *f, const char *lock_name, const char *owner,
                       const char *value);

/* ---- confirmation numbers and waitlist -------------------------------- */

/* Claims a confirmation number for request_id for ttl_s (SET NX);
 * SW_ERR_CONFLICT if another request has it. */
sw_err fleet_confirmation_claim(struct fleet *f, const char *code, const char *request_id,
                                int ttl_s);

struct fleet_wait {
    char waitlist_id[40];
    char patient_id[64];
    char appointment_type[32];
    char practitioner_id[64]; /* "" = any */
    int64_t earliest, latest; /* epoch seconds */
    int64_t joined_ms;
};
sw_err fleet_waitlist_add(struct fleet *f, struct fleet_wait *w);
sw_err fleet_waitlist_remove(struct fleet *f, const char *waitlist_id);
/* Entries oldest first; *out malloc'd. */
sw_err fleet_waitlist_list(struct fleet *f, struct fleet_wait **out, size_t *n);

#endif
