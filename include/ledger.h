/* ledger.h - the record of every write command's answer that outlives
 * Redis: topics.ledger (internal, not for agents).
 *
 * Idempotency records live in Redis; OpenEMR cannot hold a tombstone (a
 * cancel deletes the row, and it has no conditional create).  So when a
 * write command's result is stored, dispatch also puts one ledger record
 * in the command's outbox (the same Kafka transaction as the result when
 * transactions are on): key request_id, value {request_id, digest,
 * result, done_ms}.  The fleet's epoch key in Redis (KEY_EPOCH) says the
 * records were read back; while it is absent (first start, or Redis lost
 * its data) write commands wait, and one replica (KEY_LOCK_LEDGER) reads
 * the whole topic and restores each record that Redis does not have, for
 * what is left of its idempotency.ttl_s. */
#ifndef SW_LEDGER_H
#define SW_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "config.h"
#include "errors.h"
#include "fleet.h"

struct ledger_record {
    char *request_id;
    char *digest; /* "" when the command had none */
    char *result; /* the stored result, byte for byte as answered */
    int64_t done_ms;
};

/* Does this command type go to the ledger (and wait for the epoch)?  The
 * types that change something; reads are never stored there. */
bool ledger_wanted(const struct sw_config *cfg, enum cmd_type t);

/* The record's value (JSON, malloc'd), NULL when memory ran out. */
char *ledger_record_encode(const char *request_id, const char *digest, const char *result,
                           int64_t done_ms);
/* Parses a value; false (r zeroed) when it is not a ledger record.  Free
 * with ledger_record_clear(). */
bool ledger_record_decode(const char *value, size_t len, struct ledger_record *r);
void ledger_record_clear(struct ledger_record *r);

/* What is left of a record's life at now_ms: ttl_s after done_ms, in ms;
 * <= 0 when it has expired (not restored).  A done_ms in the future (a
 * replica's clock ahead) counts as now. */
int64_t ledger_ttl_left_ms(int64_t done_ms, int64_t now_ms, int ttl_s);

struct ledger_stats {
    long read;     /* ledger records read */
    long restored; /* idempotency records written */
    long expired;  /* older than idempotency.ttl_s */
    long bad;      /* not ledger records */
    double seconds;
};

/* Reads topics.ledger from its start to its end and restores its records
 * into Redis (fleet_ledger_restore).  A topic that does not exist or is
 * empty restores nothing (SW_OK). */
sw_err ledger_read_back(const struct sw_config *cfg, struct fleet *f, struct ledger_stats *st,
                        char *err, size_t errlen);

/* Called when a write command found no epoch: takes the rebuild lock (as
 * owner) and, if it got it, reads the ledger back and sets the epoch.
 * SW_OK when the epoch is set now; SW_ERR_BUSY when another replica is
 * rebuilding; other errors when this attempt failed (the next one tries
 * again).  Either way the command waits and runs again. */
sw_err ledger_rebuild(const struct sw_config *cfg, struct fleet *f, const char *owner);

#endif
