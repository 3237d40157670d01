/* events.h - CloudEvents 1.0 change notifications and audit records.
 *
 * Events go into a command's outbox (published with its result) or, for
 * the poller, straight to Kafka.  An event's id is derived from what caused
 * it (the request_id and the event type, or the appointment and its change
 * time for the poller), so a redelivered command publishes the same id and
 * a consumer can de-duplicate. */
#ifndef SW_EVENTS_H
#define SW_EVENTS_H

#include <stdint.h>

#include "config.h"
#include "kafka.h"

struct event_fields {
    const char *caused_by;  /* "worker" or "external" */
    const char *request_id; /* worker: the command */
    const char *appointment_id;
    const char *previous_appointment_id;
    const char *confirmation_number;
    const char *patient_id;
    const char *practitioner_id;
    const char *appointment_type;
    const char *status;
    int64_t start, end; /* 0: absent */
    int64_t previous_start, previous_end;
    const char *slot_id, *hold_id, *waitlist_id;
    int64_t offer_expires_at;
};

/* The Kafka content-type header of every event message: structured mode of
 * the CloudEvents Kafka protocol binding (the value is the whole event). */
#define EVENT_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8"

/* The source of every event: events.source, else /schedworker/<group.id>,
 * the same on every replica of the fleet. */
void event_source(const struct sw_config *cfg, char *out, size_t outlen);

/* Builds the event JSON (malloc'd).  id_seed makes the id (see above);
 * subject is the appointment id (or slot / waitlist id). */
char *event_build(const struct sw_config *cfg, const char *type, const char *id_seed,
                  const char *subject, const struct event_fields *f, int64_t now_s);

/* event_build + outbox_add on the events topic, keyed by subject, with the
 * content-type header. */
void event_add(const struct sw_config *cfg, struct outbox *out, const char *type,
               const char *id_seed, const char *subject, const struct event_fields *f,
               int64_t now_s);

struct audit_fields {
    const char *method, *route; /* route with placeholders for ids */
    const char *patient_id, *appointment_id, *request_id, *command_type;
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1: no Kafka coordinates */
    int http_status;
    const char *error_code; /* NULL on success */
    int64_t at_ms, duration_ms;
};

char *audit_build(const struct sw_config *cfg, const struct audit_fields *a);

#endif
