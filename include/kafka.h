/* kafka.h - the worker's Kafka side: consumer group, lanes, producer.
 *
 * Its files (kafka_conf.c, kafka_producer.c, kafka_consumer.c) are the
 * only ones of the worker that include rdkafka.h.  It consumes the command
 * topics, hands each message to the handler on the lane of its key (so
 * commands of one key keep their order while keys run in parallel),
 * produces what the handler put in the outbox, and stores a message's
 * offset only when every message up to it has all its output delivered
 * (at-least-once).  It pauses the consumer above max_in_flight, and on a
 * revocation finishes (or, after the grace time, abandons) the revoked
 * partitions' work before letting them go. */
#ifndef SW_KAFKA_H
#define SW_KAFKA_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"

#define KMSG_MAX_HEADERS 8
/* Most messages one command may produce (a result, a few events, an audit
 * record per OpenEMR request: openemr.max_requests_per_command is at most
 * 1000), so a command's outbox never fills. */
#define OUTBOX_MAX 4096

/* One consumed command message. */
struct kmsg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key;
    size_t key_len;
    const char *value;
    size_t len;
    int64_t timestamp_ms;
    char request_id[129]; /* from the headers, "" if absent */
    char reply_to[250];
    char correlation_id[129];
    /* the signature's headers (auth.h), "" if absent */
    char key_id[65];     /* x-key-id */
    char signed_at[24];  /* x-signed-at */
    char signature[80];  /* x-signature */
    char replay_of[160]; /* dlq_replayed_from */
    bool header_trouble; /* one of the signed headers repeated, too long or holding NUL */
};

struct kheader {
    char *name;  /* owned */
    char *value; /* owned */
};

/* One message to produce. Strings are owned by the outbox. */
struct kout {
    char *topic;
    char *key;
    char *value;
    size_t len;
    struct kheader headers[KMSG_MAX_HEADERS];
    int n_headers;
};

struct outbox {
    struct kout *items; /* grows as needed, up to OUTBOX_MAX */
    int n;
    size_t cap;
};

/* Adds a message (copies topic, key, value); false if the outbox is full. */
bool outbox_add(struct outbox *ob, const char *topic, const char *key, const char *value,
                size_t len);
/* Adds a header to the last message added (copies name and value). */
void outbox_header(struct outbox *ob, const char *name, const char *value);
void outbox_clear(struct outbox *ob);

enum handler_outcome {
    HANDLER_DONE,  /* produce the outbox, then the offset may be stored */
    HANDLER_RETRY, /* infrastructure trouble (Redis down): run it again later */
};

struct kafka_handler {
    /* Per-lane state, created and destroyed on the lane's thread. */
    void *(*lane_init)(void *opaque, int lane);
    void (*lane_fini)(void *lane_state);
    enum handler_outcome (*handle)(void *lane_state, const struct kmsg *in, int attempt,
                                   struct outbox *out);
    void *opaque;
};

struct kafka;

sw_err kafka_new(const struct sw_config *cfg, const struct kafka_handler *h, struct kafka **out,
                 char *errstr, size_t errlen);

/* Consumes until *stop becomes non-zero, then drains (up to the configured
 * grace time), commits, flushes and returns.  ready_file, if set, is
 * created once the consumer has joined the group. */
sw_err kafka_run(struct kafka *k, volatile sig_atomic_t *stop, const char *ready_file);

/* Produces one message outside any command (events of the poller, audit);
 * the kafka module owns it from here.  Thread-safe. */
sw_err kafka_produce(struct kafka *k, struct kout *msg);

void kafka_destroy(struct kafka *k);

/* Waits until everything produced so far is delivered (or timeout_ms). */
sw_err kafka_flush(struct kafka *k, int timeout_ms);

/* For health and metrics (thread-safe): in the consumer group (from the
 * first assignment until one is lost or the consumer closes); draining
 * after the stop flag (no new work, in-flight commands finishing);
 * commands in flight; and the consumer lag of every assigned partition,
 * reported to the metrics module. */
bool kafka_is_ready(struct kafka *k);
bool kafka_is_draining(struct kafka *k);
int kafka_in_flight(struct kafka *k);
void kafka_report_lag(struct kafka *k);

/* Asks the cluster for its metadata (at most timeout_ms): true when a
 * broker answered.  kafka_broker_ok() is the last probe's answer (true
 * before the first).  A change is logged. */
bool kafka_probe_brokers(struct kafka *k, int timeout_ms);
bool kafka_broker_ok(struct kafka *k);

/* Liveness: false, with the reason in why, when the consumer loop (while
 * kafka_run runs) has not turned, or a lane has run one command without
 * progress (lanes.h), for more than stall_ms. */
bool kafka_liveness(struct kafka *k, int64_t stall_ms, char *why, size_t whylen);

struct rd_kafka_conf_s; /* rd_kafka_conf_t: only tools that use librdkafka see it */

/* A librdkafka conf holding exactly the properties the worker's consumer
 * (consumer = true) or producer gets, in the order it sets them: our
 * defaults, the configured kafka.* for that side, our fixed settings; no
 * callbacks.  For tools that must talk to Kafka as the worker does
 * (kafka-echo, loadgen).  NULL and errstr ("KEY: reason") on a bad
 * property; the caller owns the conf. */
struct rd_kafka_conf_s *kafka_conf_new(const struct sw_config *cfg, bool consumer, char *errstr,
                                       size_t errlen);

/* Checks kafka.* properties without connecting; reports each bad one. */
int kafka_check_config(const struct sw_config *cfg, char *errstr, size_t errlen);

#endif
