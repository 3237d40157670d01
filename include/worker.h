/* worker.h - what one handler thread (lane) owns, and the handlers.
 *
 * dispatch.c turns a Kafka message into a command, applies the envelope
 * rules (size, parse, topic, deadline, idempotency) and calls the handler
 * of its type (handlers_*.c); each handler is a short story of calls into
 * the scheduling, fleet and openemr modules. */
#ifndef SW_WORKER_H
#define SW_WORKER_H

#include <stdint.h>

#include "command.h"
#include "config.h"
#include "fleet.h"
#include "kafka.h"
#include "openemr.h"

/* What every lane shares, read-only after start. */
struct dispatch_shared {
    const struct sw_config *cfg;
    const struct auth_keys *keys; /* producer HMAC keys; NULL if none configured */
};

struct worker {
    const struct sw_config *cfg;
    const struct dispatch_shared *shared;
    int lane;
    struct fleet *fleet;   /* NULL while Redis is unreachable */
    struct oe_client *oe;  /* NULL until created (needs the fleet) */
    struct outbox *out;    /* the current command's outbox (audit, events) */
    const struct kmsg *in; /* the current message */
    uint64_t rng;
};

struct auth_keys;

/* Kafka handler hooks (struct kafka_handler); opaque is a struct
 * dispatch_shared that outlives the lanes. */
void *dispatch_lane_init(void *opaque, int lane);
void dispatch_lane_fini(void *lane_state);
enum handler_outcome dispatch_handle(void *lane_state, const struct kmsg *in, int attempt,
                                     struct outbox *out);

/* Wall clock, epoch milliseconds. */
int64_t worker_now_ms(void);
/* A random 64-bit value (per-lane xorshift seeded from the OS). */
uint64_t worker_random(struct worker *w);
/* An oe_call for the command: its deadline (or the default budget), and
 * write priority for write commands. */
struct oe_call worker_call(const struct worker *w, const struct command *c);
/* Maps an OpenEMR failure into the result, with a message the agent can
 * say; true if it was infrastructure trouble worth a retry of the whole
 * command (Redis). */
void worker_fail_openemr(struct result *r, sw_err err, const struct oe_call *call);

/* What a slot search is for: the type, and whose holds and appointments
 * do not count against it. */
struct slot_query {
    const struct sw_type_rule *type;
    const char *session_id; /* its own holds do not block ("" none) */
    const char *patient_id; /* its appointments block ("" none) */
};

/* Up to 3 free slots of pract from the day of `around` on, for a conflict
 * answer; r->slots and r->n_slots are replaced. */
sw_err slots_alternatives(struct worker *w, struct oe_call *call, const struct slot_query *q,
                          const char *pract, int64_t around, struct result *r);

struct day_busy;
/* The practitioner's busy time over [from, to) from the fleet's cache
 * (OpenEMR for what is missing); the caller clears *busy. */
sw_err slots_day_busy(struct worker *w, struct oe_call *call, const char *pract, int64_t from,
                      int64_t to, struct day_busy *busy);

/* The appointment a cancel or reschedule names, by confirmation number
 * (index in Redis, else a search) or id.  On failure r is filled (not
 * found, OpenEMR trouble) except for SW_ERR_REDIS. */
sw_err booking_find(struct worker *w, struct oe_call *call, const char *confirmation,
                    const char *appointment_id, struct oe_appt *out, struct result *r);
/* The configured type of an existing appointment (by name, else category
 * and length, else length); NULL if none fits. */
const struct sw_type_rule *booking_type_of(const struct sw_config *cfg, const struct oe_appt *a);

/* Handlers: fill r (status and fields).  Return SW_OK when r is the
 * outcome, or SW_ERR_REDIS when Redis trouble stopped the command before
 * any side effect (the command is then retried later).  note: what an
 * earlier, interrupted attempt recorded (idempotency takeover), or NULL. */
typedef sw_err (*handler_fn)(struct worker *w, const struct command *c, struct result *r,
                             const char *note);

sw_err handle_find_patient(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
sw_err handle_search_slots(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
sw_err handle_list_appointments(struct worker *w, const struct command *c, struct result *r,
                                const char *note);
sw_err handle_hold(struct worker *w, const struct command *c, struct result *r, const char *note);
sw_err handle_release_hold(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
sw_err handle_book(struct worker *w, const struct command *c, struct result *r, const char *note);
sw_err handle_reschedule(struct worker *w, const struct command *c, struct result *r,
                         const char *note);
sw_err handle_cancel(struct worker *w, const struct command *c, struct result *r, const char *note);
sw_err handle_join_waitlist(struct worker *w, const struct command *c, struct result *r,
                            const char *note);
sw_err handle_leave_waitlist(struct worker *w, const struct command *c, struct result *r,
                             const char *note);

#endif
