/* keys.c - the key space: the table of every Redis key the fleet uses, and
 * the one function that builds a key from it (see keys.h). */
#include "keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define S_FLEET KEY_SPACE_FLEET
#define S_CACHE KEY_SPACE_CACHE
#define S_LOCK  KEY_SPACE_LOCK
#define S_LEASE KEY_SPACE_LEASE

static const struct key_def table[KEY_COUNT] = {
    [KEY_IDEM] = {S_FLEET, "idem:<request_id>", "hash", "dispatch",
                  "idempotency.ttl_s; once done, idempotency.ttl_s for a write's result, "
                  "idempotency.read_ttl_s for a read's",
                  "state run|done, owner (the attempt), lease_until (ms), fence, takeovers, "
                  "handover, note, write_until (ms), digest, result, source (\"\" and owner ledger "
                  "when read back from topics.ledger)"},
    [KEY_IDEM_OUTPUTS] = {S_FLEET, "idem-out:<request_id>", "string", "dispatch",
                          "idempotency.outputs_ttl_s",
                          "events and audit records of a finished command, to produce again "
                          "if its message is delivered again (JSON)"},
    [KEY_TOKEN] = {S_FLEET, "token:<grant>", "string", "oauth", "none",
                   "the fleet's OAuth token record, sealed (tokencrypt)"},
    [KEY_TOKEN_PREV] = {S_FLEET, "token:<grant>:prev", "string", "oauth", "none",
                        "the token record before the last refresh"},
    [KEY_TOKEN_LOCK] = {S_FLEET, "token:<grant>:lock", "string", "oauth",
                        "PX 3 x openemr.timeout_ms + 5 s",
                        "owner of the fleet's one token refresh"},
    [KEY_TOKEN_META] = {S_FLEET, "token:<grant>:meta", "hash", "oauth", "none",
                        "version (compare-and-set on every store), key_id of the sealing key"},
    [KEY_LIMIT_GRANTS] = {S_FLEET, "limit:grants", "zset", "fleet_limit", "PX window + 1 s",
                          "grants of the last window (1.04 s): permit id -> Redis us"},
    [KEY_LIMIT_GRANTS_READS] = {S_FLEET, "limit:grants:reads", "zset", "fleet_limit",
                                "PX window + 1 s",
                                "the same, of reads and background only: their share"},
    [KEY_LIMIT_WRITES] = {S_FLEET, "limit:writes", "string", "fleet_limit",
                          "PX 1 s after the last write's request",
                          "a write asked for budget lately: reads keep to their share"},
    [KEY_LIMIT_PERMITS] = {S_FLEET, "limit:permits", "zset", "fleet_limit",
                           "PX limiter.permit_ttl_ms", "in-flight permit id -> expiry (Redis ms)"},
    [KEY_LIMIT_BACKOFF] = {S_FLEET, "limit:backoff", "string", "fleet_limit", "PX the Retry-After",
                           "no OpenEMR request before this (Redis ms)"},
    [KEY_LIMIT_WAITING_WRITE] = {S_FLEET, "limit:waiting:0", "zset", "fleet_limit",
                                 "PX 250 ms after the last refusal",
                                 "waiting writes -> until (Redis ms)"},
    [KEY_LIMIT_WAITING_READ] = {S_FLEET, "limit:waiting:1", "zset", "fleet_limit",
                                "PX 250 ms after the last refusal",
                                "waiting reads -> until (Redis ms)"},
    [KEY_BREAKER] = {S_FLEET, "breaker", "hash", "fleet_limit", "none (deleted when closed)",
                     "circuit breaker: fails (consecutive), open_until (Redis ms)"},
    [KEY_BREAKER_PROBE] = {S_FLEET, "breaker:probe", "string", "fleet_limit", "PX breaker.open_s",
                           "the half-open probe ticket"},
    [KEY_HOLD] = {S_FLEET, "hold:<hold_id>", "hash", "fleet_holds", "PX the hold's ttl",
                  "practitioner, session, patient, start, end (epoch s), expires_at (ms)"},
    [KEY_HOLDS] = {S_FLEET, "holds:<practitioner_id>", "zset", "fleet_holds",
                   "PX the longest hold's ttl",
                   "hold_id -> start; ids whose hash expired are reaped on read"},
    [KEY_WAIT] = {S_FLEET, "wait:<waitlist_id>", "hash", "fleet_holds",
                  "EXPIREAT the entry's latest time",
                  "patient, type, practitioner, earliest, latest, joined_ms"},
    [KEY_WAITLIST] = {S_FLEET, "waitlist", "zset", "fleet_holds", "none",
                      "waitlist_id -> joined time (Redis us)"},
    [KEY_CONFIRMATION_CLAIM] = {S_FLEET, "confirmation:<code>", "string", "confirm_index",
                                "EX 400 d", "request_id that claimed the confirmation number"},
    [KEY_REPLAY] = {S_FLEET, "replay:<signature_digest>", "string", "dispatch",
                    "EX 2 x auth.max_skew_s + 1 h",
                    "topic/partition/offset of the one message that may carry this signature"},
    [KEY_EPOCH] = {S_FLEET, "epoch", "string", "ledger", "none",
                   "set once the idempotency records were rebuilt from topics.ledger; absent: "
                   "Redis lost its data (or never had any), write commands wait for a rebuild"},
    [KEY_CACHE] = {S_FLEET, "cache:<name>", "string", "fleet_cache", "EX the caller's ttl",
                   "the JSON cache: one value per name below"},
    [KEY_LOCK] = {S_FLEET, "lock:<name>", "string", "fleet_lock", "PX the caller's ttl",
                  "owner of a short exclusive lock: one per name below"},
    [KEY_LEASE] = {S_FLEET, "lease:<name>", "string", "fleet_lock", "PX the caller's ttl",
                   "owner of a leader lease: one per name below"},

    [KEY_DAY] = {S_CACHE, "day:<practitioner_id>:<date>", "string", "daycache",
                 "EX 6 x cache.slot_ttl_s", "busy times of one practitioner-day (JSON)"},
    [KEY_PATIENT_BUSY] = {S_CACHE, "patient-busy:<patient_id>", "string", "daycache",
                          "EX 6 x cache.slot_ttl_s",
                          "a patient's appointments over a range (JSON)"},
    [KEY_CONFIRMATION_INDEX] = {S_CACHE, "conf:<code>", "string", "confirm_index", "EX 400 d",
                                "the appointment a confirmation number names (JSON)"},
    [KEY_OWN_APPOINTMENT] = {S_CACHE, "own:<kind>:<appointment_id>", "string", "own_marks",
                             "EX 2 d",
                             "the worker is making this change, kind made or gone "
                             "(value: pid.counter.ms; the poller skips it)"},
    [KEY_OWN_SLOT] = {S_CACHE, "own:<kind>:<practitioner_id>|<patient_id>|<start>", "string",
                      "own_marks", "EX 2 d", "the same, by slot when the ids differ"},
    [KEY_MAP_PATIENT] = {S_CACHE, "map:patient:<uuid>", "string", "surface_openemr", "EX 400 d",
                         "patient uuid -> numeric pid (never changes)"},
    [KEY_MAP_PRACTITIONER] = {S_CACHE, "map:practitioner:<uuid>", "string", "surface_openemr",
                              "EX 400 d", "practitioner uuid -> numeric user id (never changes)"},
    [KEY_MAP_EID] = {S_CACHE, "map:eid:<pc_uuid>", "string", "surface_openemr", "EX 400 d",
                     "appointment pc_uuid -> pc_eid (never changes)"},
    [KEY_MAP_PID] = {S_CACHE, "map:pid:<pid>", "string", "surface_openemr", "EX 400 d",
                     "numeric pid -> patient uuid (never changes)"},
    [KEY_MAP_USER] = {S_CACHE, "map:user:<user_id>", "string", "surface_openemr", "EX 400 d",
                      "numeric user id (pc_aid) -> practitioner uuid (never changes)"},
    [KEY_PRACTITIONERS] = {S_CACHE, "practitioners", "string", "openemr",
                           "EX cache.reference_ttl_s", "ids of the active practitioners (JSON)"},
    [KEY_REFUSED] =
        {S_CACHE, "refused:<what>", "string", "surface_openemr", "EX cache.reference_ttl_s",
         "\"1\": OpenEMR refused this route to the worker's user (ACL): not asked again"},
    [KEY_MAP_SCANNED] = {S_CACHE, "map:scanned", "string", "surface_openemr",
                         "EX cache.reference_ttl_s",
                         "\"1\": every /api appointment row was read for provider id pairs lately"},
    [KEY_POLLER_SNAPSHOT] = {S_CACHE, "poller:snapshot", "string", "poller", "EX 30 d",
                             "the appointments the change poller saw last (JSON)"},
    [KEY_WAITLIST_OFFERS] = {S_CACHE, "waitlist:offers", "string", "waitlist", "EX 7 d",
                             "open waitlist offers (JSON)"},
    [KEY_OFFER_TAKEN] = {S_CACHE, "offer-taken:<hold_id>", "string", "waitlist", "EX 1 d",
                         "\"1\": the offer of this hold was booked"},
    [KEY_OAUTH_SPEND] = {S_CACHE, "oauth-spend:<grant>", "string", "oauth", "EX 90 d",
                         "fingerprint of the refresh token being presented"},
    [KEY_REPLICAS] = {S_CACHE, "replicas", "string", "monitor", "EX 1 h",
                      "live replicas: worker_id -> alive until (ms) (JSON)"},

    [KEY_LOCK_BOOK_PRACTITIONER] = {S_LOCK, "book:practitioner:<practitioner_id>", "string",
                                    "handlers_book", "PX 20 s",
                                    "one booking per practitioner at a time"},
    [KEY_LOCK_BOOK_PATIENT] = {S_LOCK, "book:patient:<patient_id>", "string", "handlers_book",
                               "PX 20 s", "one booking per patient at a time"},
    [KEY_LOCK_APPOINTMENT] = {S_LOCK, "appointment:<appointment_id>", "string", "confirm_index",
                              "PX 20 s", "one cancel or reschedule of an appointment at a time"},
    [KEY_LOCK_WAITLIST_OFFERS] = {S_LOCK, "waitlist:offers", "string", "waitlist", "PX 5 s",
                                  "changes to the open offers"},
    [KEY_LOCK_REPLICAS] = {S_LOCK, "replicas", "string", "monitor", "PX 2 s",
                           "changes to the live replicas"},
    [KEY_LOCK_LEDGER] = {S_LOCK, "ledger-rebuild", "string", "ledger",
                         "PX 60 s, renewed while the rebuild reads",
                         "the one replica rebuilding the idempotency records from the ledger"},

    [KEY_LEASE_POLLER] = {S_LEASE, "poller", "string", "poller", "PX poller.lease_s",
                          "the one replica that polls OpenEMR for changes"},
    [KEY_LEASE_WARMER] = {S_LEASE, "warmer", "string", "warmer", "PX 2 x warm.interval_s + 10 s",
                          "the one replica that warms the slot cache"},
};

const struct key_def *key_def(enum key_id id)
{
    return (unsigned)id < KEY_COUNT ? &table[id] : NULL;
}

static size_t count_fields(const char *pattern)
{
    size_t n = 0;
    for (const char *p = pattern; (p = strchr(p, '<')); p++)
        n++;
    return n;
}

/* Fills pattern's fields with args into buf. */
static bool fill(char *buf, size_t len, const char *pattern, const char *const *args, size_t nargs)
{
    if (len == 0)
        return false;
    buf[0] = '\0';
    if (count_fields(pattern) != nargs)
        return false;
    size_t n = 0, i = 0;
    bool fits = true;
    for (const char *p = pattern; *p;) {
        const char *s = p;
        size_t k = 1;
        if (*p == '<') {
            s = args[i] ? args[i] : "";
            k = strlen(s);
            i++;
            p = strchr(p, '>') + 1;
        } else {
            p++;
        }
        if (n + k >= len) {
            k = len - 1 - n;
            fits = false;
        }
        memcpy(buf + n, s, k);
        n += k;
        if (!fits)
            break;
    }
    buf[n] = '\0';
    return fits;
}

bool key_build(char *buf, size_t len, enum key_id id, const char *const *args, size_t nargs)
{
    const struct key_def *d = key_def(id);
    if (!d) {
        if (len)
            buf[0] = '\0';
        return false;
    }
    return fill(buf, len, d->pattern, args, nargs);
}

const char *key_name(enum key_id id)
{
    const struct key_def *d = key_def(id);
    return d && count_fields(d->pattern) == 0 ? d->pattern : NULL;
}

static bool build1(char *buf, size_t len, enum key_id id, const char *a)
{
    return key_build(buf, len, id, (const char *const[]){a}, 1);
}

bool key_day(char *buf, size_t len, const char *practitioner_id, const char *date)
{
    return key_build(buf, len, KEY_DAY, (const char *const[]){practitioner_id, date}, 2);
}

bool key_patient_busy(char *buf, size_t len, const char *patient_id)
{
    return build1(buf, len, KEY_PATIENT_BUSY, patient_id);
}

bool key_confirmation_index(char *buf, size_t len, const char *code)
{
    return build1(buf, len, KEY_CONFIRMATION_INDEX, code);
}

bool key_own_appointment(char *buf, size_t len, const char *kind, const char *appointment_id)
{
    return key_build(buf, len, KEY_OWN_APPOINTMENT, (const char *const[]){kind, appointment_id}, 2);
}

bool key_own_slot(char *buf, size_t len, const char *kind, const char *practitioner_id,
                  const char *patient_id, int64_t start)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, start);
    return key_build(buf, len, KEY_OWN_SLOT,
                     (const char *const[]){kind, practitioner_id, patient_id, num}, 4);
}

bool key_map_patient(char *buf, size_t len, const char *uuid)
{
    return build1(buf, len, KEY_MAP_PATIENT, uuid);
}

bool key_map_practitioner(char *buf, size_t len, const char *uuid)
{
    return build1(buf, len, KEY_MAP_PRACTITIONER, uuid);
}

bool key_map_eid(char *buf, size_t len, const char *pc_uuid)
{
    return build1(buf, len, KEY_MAP_EID, pc_uuid);
}

bool key_map_pid(char *buf, size_t len, const char *pid)
{
    return build1(buf, len, KEY_MAP_PID, pid);
}

bool key_map_user(char *buf, size_t len, const char *user_id)
{
    return build1(buf, len, KEY_MAP_USER, user_id);
}

bool key_offer_taken(char *buf, size_t len, const char *hold_id)
{
    return build1(buf, len, KEY_OFFER_TAKEN, hold_id);
}

bool key_oauth_spend(char *buf, size_t len, const char *token_name)
{
    return build1(buf, len, KEY_OAUTH_SPEND, token_name);
}

bool key_refused(char *buf, size_t len, const char *what)
{
    return build1(buf, len, KEY_REFUSED, what);
}

bool key_lock_book_practitioner(char *buf, size_t len, const char *practitioner_id)
{
    return build1(buf, len, KEY_LOCK_BOOK_PRACTITIONER, practitioner_id);
}

bool key_lock_book_patient(char *buf, size_t len, const char *patient_id)
{
    return build1(buf, len, KEY_LOCK_BOOK_PATIENT, patient_id);
}

bool key_lock_appointment(char *buf, size_t len, const char *appointment_id)
{
    return build1(buf, len, KEY_LOCK_APPOINTMENT, appointment_id);
}

/* ---- the table for docs/redis-keys.md ------------------------------------ */

bool key_stored_pattern(enum key_id id, char *buf, size_t len)
{
    static const enum key_id space_key[] = {
        [KEY_SPACE_CACHE] = KEY_CACHE, [KEY_SPACE_LOCK] = KEY_LOCK, [KEY_SPACE_LEASE] = KEY_LEASE};
    const struct key_def *d = key_def(id);
    if (!d || len == 0)
        return false;
    if (d->space == KEY_SPACE_FLEET)
        return (size_t)snprintf(buf, len, "%s", d->pattern) < len;
    return key_build(buf, len, space_key[d->space], (const char *const[]){d->pattern}, 1);
}

/* One table cell: a '|' would end it. */
static void cell(struct buf *out, const char *before, const char *text, const char *after)
{
    buf_printf(out, "%s", before);
    for (const char *p = text; *p; p++)
        buf_append(out, *p == '|' ? "\\|" : p, *p == '|' ? 2 : 1);
    buf_printf(out, "%s", after);
}

bool key_table_markdown(struct buf *out)
{
    buf_printf(out, "| Key | Type | Owner | TTL | Holds |\n");
    buf_printf(out, "| --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < KEY_COUNT; i++) {
        char name[256];
        if (!key_stored_pattern((enum key_id)i, name, sizeof(name)))
            return false;
        cell(out, "| `P ", name, "` | ");
        cell(out, "", table[i].type, " | ");
        cell(out, "", table[i].owner, " | ");
        cell(out, "", table[i].ttl, " | ");
        cell(out, "", table[i].meaning, " |\n");
    }
    return !out->failed;
}
