/* kafka_internal.h - what the kafka_*.c files share: the struct behind a
 * struct kafka, one consumed command in flight (a job), and the calls one
 * file makes into another.
 *
 * Not a public header: only src/kafka*.c include it (and only they include
 * rdkafka.h).  Cross-file names carry the kf_ prefix. */
#ifndef SW_KAFKA_INTERNAL_H
#define SW_KAFKA_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "kafka.h"

struct kafka {
    const struct sw_config *cfg;
    struct kafka_handler handler;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    struct lanes *lanes;
    struct offsets *offsets;
    pthread_t poller;
    atomic_bool stop_poller;
    atomic_int in_flight;
    atomic_int retrying; /* jobs waiting to run again (Redis down, lease busy) */
    atomic_bool shutting_down;
    int64_t drain_deadline_ms; /* set when shutting down */
    const char *ready_file;
    atomic_bool ready;        /* in the consumer group (an assignment came, none was lost) */
    atomic_bool ready_once;   /* the ready file was written */
    atomic_bool broker_ok;    /* the last metadata probe was answered */
    atomic_bool loop_running; /* kafka_run's loop (or its drain) runs */
    atomic_int_fast64_t loop_beat_ms; /* clock_mono_ms() of its last turn */
};

struct job {
    struct kafka *k;
    rd_kafka_message_t *rkm;
    struct kmsg in;
    int64_t generation;
    atomic_int pending; /* deliveries outstanding */
};

/* kafka_conf.c: the worker's own conf, kafka_conf_new() with our log and
 * error hooks. */
rd_kafka_conf_t *kf_make_conf(const struct sw_config *cfg, bool consumer, char *errstr,
                              size_t errlen);

/* kafka_producer.c */
void kf_kout_free(struct kout *m);
/* Queues m (copied) for delivery; j, when not NULL, is told of it by the
 * delivery callback (its pending count). */
sw_err kf_produce_one(struct kafka *k, struct kout *m, struct job *j);
/* The delivery callback (set on the producer's conf). */
void kf_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
/* The producer's poll thread (delivery callbacks). */
void *kf_producer_main(void *arg);

/* kafka_consumer.c: every output of j delivered: store its offset if it
 * was the oldest unfinished one, and free it. */
void kf_job_done(struct job *j);

#endif
