/* worker.h - the context a handler runs in, and the helpers every handler
 * uses: the clock, the command's OpenEMR budget, the mapping of an OpenEMR
 * failure into an answer, and waiting for a fleet lock.
 *
 * A handler sees the configuration, a clock, the fleet's shared state
 * (struct store), the EHR (struct emr) and the outbox of its command;
 * nothing of Kafka, Redis or HTTP.  dispatch.c builds one per lane. */
#ifndef SW_WORKER_H
#define SW_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "clock.h"
#include "command.h"
#include "config.h"
#include "emr.h"
#include "kafka.h"
#include "store.h"

struct worker {
    const struct sw_config *cfg;
    const struct sw_clock *clock;     /* NULL: the system clock */
    struct store store;               /* the fleet's shared state */
    struct emr emr;                   /* OpenEMR (or the FHIR scheduling server) */
    struct outbox *out;               /* events and audit records of the command */
    uint64_t rng;                     /* worker_random()'s state */
    const unsigned char *confirm_key; /* 32 bytes: keys confirmation numbers */

    /* The attempt at the current command (dispatch sets them). */
    const char *owner;        /* unique to this attempt: its lease and locks */
    int64_t fence;            /* the attempt's fencing number */
    int64_t now_store_ms;     /* the store's clock when the attempt began */
    int64_t covered_until_ms; /* takeover: an earlier attempt's write was
                               * covered until then (store ms); 0 none */
    int *requests_left;       /* the command's OpenEMR budget; NULL none */
};

/* What a handler's run came to. */
enum outcome {
    OUTCOME_ANSWER,    /* the result is the command's answer */
    OUTCOME_RETRY,     /* the fleet's state could not be read, or our lease
                        * was lost, before any side effect: run it again */
    OUTCOME_RECONCILE, /* a write may or may not have landed: no answer yet;
                        * the command is handed over with its note, and a
                        * later attempt finds out what happened */
};

/* The outcome of a handler whose last step returned err: SW_ERR_REDIS and
 * SW_ERR_BUSY mean run again; any other failure the result does not show
 * yet becomes an error answer, so a failure is never answered "ok". */
enum outcome worker_outcome(struct result *r, sw_err err);

/* Wall clock, epoch milliseconds / seconds. */
int64_t worker_now_ms(const struct worker *w);
int64_t worker_now_s(const struct worker *w);
/* A random 64-bit value (xorshift64*, seeded by dispatch from the OS). */
uint64_t worker_random(struct worker *w);

/* An oe_call for the command: its deadline (or the default budget), and
 * write priority for write commands. */
struct oe_call worker_call(const struct worker *w, const struct command *c);

/* Maps an OpenEMR failure into the result, with a message the agent can
 * say, and logs the call's detail. */
void worker_fail_emr(struct result *r, sw_err err, const struct oe_call *call);

/* Takes a fleet lock for this attempt (owner w->owner), waiting for it
 * until the call's deadline and renewing the command's lease meanwhile:
 * SW_ERR_EXPIRED when the deadline comes first, SW_ERR_BUSY when the lease
 * was lost, SW_ERR_REDIS. */
sw_err worker_lock_wait(const struct worker *w, const struct oe_call *call, const char *name,
                        int ttl_ms);

/* Notes o (stolen) under the command's lease: what an attempt records
 * before an OpenEMR write, for an attempt that takes over.  SW_ERR_BUSY:
 * the lease is lost. */
sw_err worker_note(const struct worker *w, const struct command *c, json_t *o);

/* Whether a write that failed so certainly did not change OpenEMR (it was
 * refused before it was processed, or never sent); a timeout, a 5xx or an
 * answer that cannot be read leave it open. */
bool worker_write_unapplied(sw_err err);

/* Renews the command's idempotency lease (SW_ERR_BUSY: it is lost, stop). */
sw_err worker_keep_lease(const struct worker *w, const struct command *c);

/* What a write must still hold when it is sent. */
struct write_cover {
    const struct worker *w;
    const struct command *c;
    const char *locks[2];
    size_t n_locks;
    int64_t checked_mono_ms; /* when the store last said the cover holds */
};

/* An oe_call for an OpenEMR write sent only under cover: right before the
 * request leaves (after the limiter's wait), the store checks atomically
 * that this attempt still holds the command's lease (owner and fence) and
 * the locks named, and stretches them over openemr.timeout_ms plus
 * booking.write_margin_ms; a pause after that check longer than a quarter
 * of the margin is checked again.  cover must outlive the call. */
struct oe_call worker_write_call(const struct worker *w, const struct command *c,
                                 struct write_cover *cover, const char *const *locks,
                                 size_t n_locks);

/* The audit record of an OpenEMR request a background thread made (the
 * poller, the warmer, the start-up access check: no command, no Kafka
 * coordinates), produced on topics.audit; kafka NULL: nothing.  mod names
 * the caller in the log when the record cannot be queued. */
void worker_audit_background(const struct sw_config *cfg, struct kafka *kafka,
                             const struct oe_audit *rec, const char *mod);

#endif
