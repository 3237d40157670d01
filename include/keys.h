/* keys.h - the key space: the name of every Redis key the fleet uses.
 *
 * Each key is one entry of a table (keys.c): its pattern, Redis type, the
 * module that owns it, its time to live and what it holds.
 * docs/redis-keys.md is that table rendered (test_keys keeps the two
 * equal).  A key is its pattern with the <fields> filled in, in order.
 *
 * Keys live in four spaces.  The fleet module's own keys (idempotency,
 * token record, limiter, holds...) sit right under redis.prefix; the other
 * modules name their keys logically and hand the name to fleet_cache_*()
 * (stored as "cache:NAME"), fleet_lock() ("lock:NAME") or fleet_lease()
 * ("lease:NAME").  The builders below give those logical names; fleet adds
 * the space and redis.prefix.  Builders copy like snprintf and return false
 * when the name did not fit (it is then cut short). */
#ifndef SW_KEYS_H
#define SW_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum key_space {
    KEY_SPACE_FLEET, /* redis.prefix + pattern */
    KEY_SPACE_CACHE, /* a fleet_cache_*() name */
    KEY_SPACE_LOCK,  /* a fleet_lock() name */
    KEY_SPACE_LEASE, /* a fleet_lease() name */
};

enum key_id {
    /* the fleet module's own keys */
    KEY_IDEM,
    KEY_IDEM_OUTPUTS,
    KEY_TOKEN,
    KEY_TOKEN_PREV,
    KEY_TOKEN_LOCK,
    KEY_TOKEN_META,
    KEY_LIMIT_GRANTS,
    KEY_LIMIT_GRANTS_READS,
    KEY_LIMIT_WRITES,
    KEY_LIMIT_PERMITS,
    KEY_LIMIT_BACKOFF,
    KEY_LIMIT_WAITING_WRITE,
    KEY_LIMIT_WAITING_READ,
    KEY_BREAKER,
    KEY_BREAKER_PROBE,
    KEY_HOLD,
    KEY_HOLDS,
    KEY_WAIT,
    KEY_WAITLIST,
    KEY_CONFIRMATION_CLAIM,
    KEY_REPLAY,
    KEY_EPOCH,
    KEY_CACHE, /* the space of fleet_cache_*() */
    KEY_LOCK,  /* the space of fleet_lock() */
    KEY_LEASE, /* the space of fleet_lease() */
    /* cache names */
    KEY_DAY,
    KEY_PATIENT_BUSY,
    KEY_CONFIRMATION_INDEX,
    KEY_OWN_APPOINTMENT,
    KEY_OWN_SLOT,
    KEY_MAP_PATIENT,
    KEY_MAP_PRACTITIONER,
    KEY_MAP_EID,
    KEY_MAP_PID,
    KEY_MAP_USER,
    KEY_PRACTITIONERS,
    KEY_REFUSED,
    KEY_MAP_SCANNED,
    KEY_POLLER_SNAPSHOT,
    KEY_WAITLIST_OFFERS,
    KEY_OFFER_TAKEN,
    KEY_OAUTH_SPEND,
    KEY_REPLICAS,
    /* lock names */
    KEY_LOCK_BOOK_PRACTITIONER,
    KEY_LOCK_BOOK_PATIENT,
    KEY_LOCK_APPOINTMENT,
    KEY_LOCK_WAITLIST_OFFERS,
    KEY_LOCK_REPLICAS,
    KEY_LOCK_LEDGER,
    /* lease names */
    KEY_LEASE_POLLER,
    KEY_LEASE_WARMER,
    KEY_COUNT
};

struct key_def {
    enum key_space space;
    const char *pattern; /* "day:<practitioner_id>:<date>" */
    const char *type;    /* Redis type: string, hash, zset */
    const char *owner;   /* the module that writes it */
    const char *ttl;     /* how long it lives */
    const char *meaning; /* what it holds, one line */
};

/* The entry of id (NULL when id is out of range). */
const struct key_def *key_def(enum key_id id);

/* Fills id's pattern with nargs values (exactly as many as it has fields)
 * into buf; false if they do not fit (buf cut short, terminated) or the
 * count is wrong (buf ""). */
bool key_build(char *buf, size_t len, enum key_id id, const char *const *args, size_t nargs);

/* The name of a key without fields ("practitioners"); NULL for one with
 * fields. */
const char *key_name(enum key_id id);

/* ---- names for fleet_cache_*() ---------------------------------------- */

bool key_day(char *buf, size_t len, const char *practitioner_id, const char *date);
bool key_patient_busy(char *buf, size_t len, const char *patient_id);
/* Where a confirmation number points (confirm_index). */
bool key_confirmation_index(char *buf, size_t len, const char *code);
/* kind: "made" or "gone" (own_marks.h). */
bool key_own_appointment(char *buf, size_t len, const char *kind, const char *appointment_id);
/* practitioner_id and patient_id may be NULL (as ""). */
bool key_own_slot(char *buf, size_t len, const char *kind, const char *practitioner_id,
                  const char *patient_id, int64_t start);
bool key_map_patient(char *buf, size_t len, const char *uuid);
bool key_map_practitioner(char *buf, size_t len, const char *uuid);
bool key_map_eid(char *buf, size_t len, const char *pc_uuid);
bool key_map_pid(char *buf, size_t len, const char *pid);
bool key_map_user(char *buf, size_t len, const char *user_id);
bool key_offer_taken(char *buf, size_t len, const char *hold_id);
bool key_oauth_spend(char *buf, size_t len, const char *token_name);
/* A route OpenEMR refused to the worker's user ("practitioner-api"). */
bool key_refused(char *buf, size_t len, const char *what);

/* ---- names for fleet_lock() ------------------------------------------- */

bool key_lock_book_practitioner(char *buf, size_t len, const char *practitioner_id);
bool key_lock_book_patient(char *buf, size_t len, const char *patient_id);
bool key_lock_appointment(char *buf, size_t len, const char *appointment_id);

/* ---- the table as docs/redis-keys.md shows it -------------------------- */

/* The key as Redis holds it after redis.prefix, fields unfilled: the
 * pattern inside its space's key ("cache:day:<practitioner_id>:<date>"). */
bool key_stored_pattern(enum key_id id, char *buf, size_t len);

/* Appends the Markdown table of every key, full names with "P" standing
 * for redis.prefix; false if out grew past its cap. */
bool key_table_markdown(struct buf *out);

#endif
