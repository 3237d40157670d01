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
    rd_kafka_t *producer; /* transactional with worker.transactional_results */
    rd_kafka_t *plain;    /* = producer, or the poller's non-transactional one */
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

    /* worker.transactional_results: the producer always has a transaction
     * open; lanes produce into it holding `gate` for reading, and the
     * producer thread commits it with the consumed offsets (txn_offsets)
     * every KF_TXN_INTERVAL_MS holding it for writing. */
    bool txn;
    pthread_rwlock_t gate;
    pthread_mutex_t txn_lock; /* txn_offsets, txn_jobs, txn_abort */
    rd_kafka_topic_partition_list_t *txn_offsets;
    int txn_jobs;
    bool txn_abort;         /* a result could not be produced: abort, redo */
    atomic_bool txn_failed; /* fatal: the producer was fenced or broke */
};

#define KF_TXN_INTERVAL_MS 100

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct job {
    struct kafka *k;
    rd_kafka_message_t *rkm;
    struct kmsg in;
    int64_t generation;
    atomic_int pending; /* deliveries outstanding */
};

/* kafka_conf.c: the worker's own conf, kafka_conf_new() with our log and
 * error hooks, and the transactional settings when asked (the producer's
 * transactional.id; the consumer's commits off: offsets go through the
 * producer's transactions). */
rd_kafka_conf_t *kf_make_conf(const struct sw_config *cfg, bool consumer, bool transactional,
                              char *errstr, size_t errlen);

/* kafka_producer.c */
void kf_kout_free(struct kout *m);
/* Queues m (copied) for delivery; j, when not NULL, is told of it by the
 * delivery callback (its pending count). */
sw_err kf_produce_one(struct kafka *k, struct kout *m, struct job *j);
/* The delivery callback (set on the producer's conf). */
void kf_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
/* The producer's poll thread (delivery callbacks; with transactional
 * results, the commit of the open transaction every KF_TXN_INTERVAL_MS). */
void *kf_producer_main(void *arg);

/* kafka_producer.c, worker.transactional_results: the first transaction
 * (fencing a predecessor of the same transactional.id), and its end. */
bool kf_txn_init(struct kafka *k, char *errstr, size_t errlen);
void kf_txn_fini(struct kafka *k);
/* Publishes a finished command's results (taken from out) into the open
 * transaction in offset order, with its partition's committable offset,
 * and frees j (or drops it: it will be consumed again). */
void kf_txn_finish(struct kafka *k, struct job *j, struct outbox *out);
/* Commits the open transaction (or aborts it and rewinds the consumer),
 * and opens the next.  Any thread. */
void kf_txn_cycle(struct kafka *k);

/* kafka_consumer.c: every output of j delivered: store its offset if it
 * was the oldest unfinished one, and free it. */
void kf_job_done(struct job *j);
/* Frees j (its message, its place in flight) without storing its offset:
 * it will be consumed again, unless a transaction carries its offset. */
void kf_job_free(struct job *j);

#endif
