/* loadgen.h - the load generator's parts (main.c says what it does):
 * opts.c the command line, commands.c the commands it sends, results.c
 * the results it matches and the report; main.c the Kafka clients, the
 * pacing and the run. */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "command.h"
#include "config.h"

#define CHUNK_BITS     16
#define CHUNK          (1u << CHUNK_BITS)
#define MAX_CHUNKS     4096 /* 268 million commands per run */
#define MAX_STATUS     16
#define MAX_LIST       64
#define MAX_PARTITIONS 1024

enum entry_state { E_UNUSED, E_WARM, E_MEASURED, E_DONE };

struct entry {
    int64_t sent_ns;
    uint8_t state;
};

struct candidate {
    char practitioner[CMD_REF_MAX];
    char start[40];
    char type[32];
};

struct opts {
    const char *kind, *template_path, *brokers, *config, *slots_path, *tz, *results_topic;
    const char *appointment_type, *phone, *birthdate;
    double rate;
    long max_in_flight, count;
    double duration, warmup, timeout;
    const char *practitioners[MAX_LIST];
    int n_practitioners;
    const char *patients[MAX_LIST];
    int n_patients;
    int book_days, book_step_min, sessions, search_ahead_days;
    double deadline_s; /* 0: no deadline */
    bool quiet;
};

struct state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *chunks[MAX_CHUNKS];
    /* counters; under mu */
    long sent_warm, sent_measured, recv_warm, recv_measured, unknown;
    double *lat_ms;
    size_t n_lat, cap_lat;
    char status_name[MAX_STATUS][24];
    long status_count[MAX_STATUS];
    int n_status;
    int64_t first_measured_ns, last_recv_ns;
    bool done_sending;
    /* consumer thread */
    rd_kafka_t *consumer;
    char run_id[24];
    bool quiet;
    int64_t t0_ns;
};

struct generator {
    const struct opts *o;
    json_t *template; /* --template */
    const char *topic;
    struct candidate *cands; /* book */
    size_t n_cands;
    char search_from[40], search_to[40];
};

/* 1: stop sending (a signal); 2: the consumer thread stops too. */
extern volatile sig_atomic_t stop_flag;
int64_t now_ns(void); /* CLOCK_MONOTONIC */

/* opts.c: 0, or the exit status (2: bad usage). */
int parse_opts(int argc, char **argv, struct opts *o);

/* commands.c */
bool generator_init(struct generator *g, const struct opts *o, const struct sw_config *cfg);
void generator_fini(struct generator *g);
char *generator_make(struct generator *g, uint64_t seq, const char *rid, char *key, size_t keylen);

/* results.c: entry_at and everything of st under st->mu */
struct entry *entry_at(struct state *st, uint64_t seq, bool create);
void *consume_results(void *arg);
void report(struct state *st, const struct opts *o, int64_t send_end_ns);

#endif
