/* loadgen - command load at a set rate, latency from produce to result.
 *
 *   loadgen --kind search|book|find | --template FILE
 *           [--rate N] [--max-in-flight N] [--count N | --duration S]
 *           [--warmup S] [--timeout S] [--brokers HOST:PORT]
 *           [--practitioner ID]... [--patient ID]... [--slots FILE]
 *           [--appointment-type T] [--book-days N] [--book-step-min M]
 *           [--sessions N] [--tz ZONE] [--config FILE] [--quiet]
 *           [--deadline-s S]
 *
 * Each command gets a unique request_id ("lg-<run>-<seq>").  Before the
 * first command, a consumer is assigned every partition of the results
 * topic at its current end (watermark), with no group membership, so it
 * sees every result of this run and nothing older.  Results are matched
 * by request_id; latency is from just before rd_kafka_producev() to the
 * moment the result is consumed.  Commands sent during --warmup seconds
 * are answered but not counted (the embedded broker is slow for the first
 * second after a consumer joins, and caches are cold).
 *
 * Pacing: --rate N is a token bucket (N tokens per second, a burst of one
 * millisecond's worth); --rate 0 sends as fast as --max-in-flight allows.
 * The in-flight bound holds in both modes.
 *
 * --deadline-s S gives every command a deadline S seconds after it is
 * made (to the second, as the contract has it): a worker sheds what it
 * cannot answer in time as `expired`, counted in status_counts.
 *
 * Kinds:
 *   search  search_slots for one practitioner and one fixed weekday two or
 *           more days ahead, no patient: after the warm-up every answer
 *           comes from the worker's cache.  With several --practitioner,
 *           command seq asks for practitioner seq % n (keys: --sessions).
 *   book    book on distinct candidate times: a grid per practitioner over
 *           the coming --book-days days (weekdays, clinic hours, lunch
 *           skipped), or "PRACTITIONER START [TYPE]" lines from --slots.
 *           Conflicts are expected and counted; keyed by practitioner.
 *   find    find_patient by phone and birth date.
 *
 * Kafka client settings: those of the worker (kafka_conf_new() over the
 * same config loader: src/config.c default_kafka[] and kafka.* from
 * --config or the environment), because the load generator stands in for
 * the voice agent, a conversational client: linger.ms=1 sends each command
 * at once instead of waiting to fill a batch, fetch.wait.max.ms=10 bounds
 * how long a result can sit on the broker before a fetch returns it (on
 * the embedded broker a fetch returns only when that wait runs out), and
 * fetch.error.backoff.ms=10 keeps a hiccup short.  Using the worker's
 * values for both ends also makes the echo floor and the worker runs
 * comparable.
 *
 * Output: a progress line per second on stderr; at the end one JSON line
 * on stdout {"sent","received","throughput","p50_ms","p90_ms","p99_ms",
 * "max_ms","status_counts":{...},...} and a readable summary on stderr.
 * Commands are signed (auth.h) with $SCHED_SIGN_KEY_FILE's key
 * $SCHED_SIGN_KEY_ID (its first agent key if unset), as tools/stack
 * exports them; unsigned without them.
 *
 * Exit 0 if every counted command got its result, 3 if some did not,
 * 1 on a setup error, 2 on bad usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "command.h"
#include "config.h"
#include "kafka.h"

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

static volatile sig_atomic_t stop_flag;

/* Signing (auth.h), as the voice agent signs: the keys file and key id of
 * $SCHED_SIGN_KEY_FILE and $SCHED_SIGN_KEY_ID (tools/stack exports both);
 * without them commands go unsigned (for kafka-echo, or a development
 * worker). */
static struct auth_keys *sign_keys;
static const char *sign_key_id;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stop_flag)
        ;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* ---- bookkeeping ---------------------------------------------------------- */

/* The entry of seq, allocating its chunk; NULL when out of range or memory.
 * Caller holds mu. */
static struct entry *entry_at(struct state *st, uint64_t seq, bool create)
{
    uint64_t c = seq >> CHUNK_BITS;
    if (c >= MAX_CHUNKS)
        return NULL;
    if (!st->chunks[c]) {
        if (!create)
            return NULL;
        st->chunks[c] = calloc(CHUNK, sizeof(struct entry));
        if (!st->chunks[c])
            return NULL;
    }
    return &st->chunks[c][seq & (CHUNK - 1)];
}

static void count_status(struct state *st, const char *status)
{
    for (int i = 0; i < st->n_status; i++)
        if (!strcmp(st->status_name[i], status)) {
            st->status_count[i]++;
            return;
        }
    if (st->n_status < MAX_STATUS) {
        snprintf(st->status_name[st->n_status], sizeof(st->status_name[0]), "%s", status);
        st->status_count[st->n_status++] = 1;
    }
}

static void record_latency(struct state *st, double ms)
{
    if (st->n_lat == st->cap_lat) {
        size_t cap = st->cap_lat ? st->cap_lat * 2 : 65536;
        double *p = realloc(st->lat_ms, cap * sizeof(*p));
        if (!p)
            return; /* counted as received, latency dropped */
        st->lat_ms = p;
        st->cap_lat = cap;
    }
    st->lat_ms[st->n_lat++] = ms;
}

/* Our sequence number from a request_id of this run; false otherwise. */
static bool seq_of(const struct state *st, const char *rid, uint64_t *seq)
{
    size_t n = strlen(st->run_id);
    if (strncmp(rid, st->run_id, n) != 0 || rid[n] != '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(rid + n + 1, &end, 10);
    if (errno || end == rid + n + 1 || *end)
        return false;
    *seq = v;
    return true;
}

static void on_result(struct state *st, const rd_kafka_message_t *m, int64_t t)
{
    json_error_t jerr;
    json_t *res = json_loadb(m->payload, m->len, 0, &jerr);
    const char *rid = json_string_value(json_object_get(res, "request_id"));
    const char *status = json_string_value(json_object_get(res, "status"));
    uint64_t seq;
    if (!rid || !seq_of(st, rid, &seq)) {
        json_decref(res);
        return; /* somebody else's result */
    }
    pthread_mutex_lock(&st->mu);
    struct entry *e = entry_at(st, seq, false);
    if (!e || e->state == E_UNUSED || e->state == E_DONE) {
        st->unknown++; /* a duplicate or a stranger */
    } else if (e->state == E_WARM) {
        st->recv_warm++;
        e->state = E_DONE;
    } else {
        st->recv_measured++;
        e->state = E_DONE;
        record_latency(st, (double)(t - e->sent_ns) / 1e6);
        count_status(st, status ? status : "(none)");
        st->last_recv_ns = t;
    }
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    json_decref(res);
}

static void progress(struct state *st, int64_t t, long *last_recv, int64_t *last_t)
{
    pthread_mutex_lock(&st->mu);
    long sent = st->sent_warm + st->sent_measured, recv = st->recv_warm + st->recv_measured;
    bool warm = st->sent_measured == 0;
    pthread_mutex_unlock(&st->mu);
    double dt = (double)(t - *last_t) / 1e9;
    fprintf(stderr, "loadgen: %5.1fs %s sent %ld received %ld in-flight %ld rate %.0f/s\n",
            (double)(t - st->t0_ns) / 1e9, warm ? "warm-up" : "measure", sent, recv, sent - recv,
            dt > 0 ? (double)(recv - *last_recv) / dt : 0.0);
    *last_recv = recv;
    *last_t = t;
}

static void *consume_results(void *arg)
{
    struct state *st = arg;
    long last_recv = 0;
    int64_t last_t = now_ns(), next_progress = last_t + 1000000000;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        bool done = st->done_sending && st->recv_measured >= st->sent_measured &&
                    st->recv_warm >= st->sent_warm;
        pthread_mutex_unlock(&st->mu);
        if (done || stop_flag == 2)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(st->consumer, 20);
        int64_t t = now_ns();
        if (m) {
            if (!m->err)
                on_result(st, m, t);
            else if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                fprintf(stderr, "loadgen: consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        if (t >= next_progress) {
            if (!st->quiet)
                progress(st, t, &last_recv, &last_t);
            next_progress += 1000000000;
        }
    }
    return NULL;
}

/* ---- Kafka ---------------------------------------------------------------- */

static rd_kafka_t *client_new(const struct sw_config *cfg, bool consumer, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, consumer, errstr, sizeof(errstr));
    /* the voice agent's side: its own group, no commits; no infinite retry */
    const char *extra[][2] = {{"group.id", group}, {"enable.auto.commit", "false"}};
    const char *extra_producer[][2] = {{"message.timeout.ms", "30000"}};
    const char *(*set)[2] = consumer ? extra : extra_producer;
    size_t n = consumer ? 2 : 1;
    for (size_t i = 0; conf && i < n; i++) {
        if (rd_kafka_conf_set(conf, set[i][0], set[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            conf = NULL;
        }
    }
    if (!conf) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                  sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Assigns every partition of topic at its current high watermark. */
static bool assign_at_end(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    bool ok = false;
    if (!t)
        return false;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "loadgen: no metadata for %s: %s\n", topic,
                rd_kafka_err2str(err             ? err
                                 : md->topic_cnt ? md->topics[0].err
                                                 : err));
        goto out;
    }
    int n = md->topics[0].partition_cnt;
    if (n > MAX_PARTITIONS)
        n = MAX_PARTITIONS;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "loadgen: watermarks of %s[%d]: %s\n", topic, p, rd_kafka_err2str(err));
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = hi;
    }
    err = rd_kafka_assign(rk, parts);
    if (err) {
        fprintf(stderr, "loadgen: assign: %s\n", rd_kafka_err2str(err));
        goto out;
    }
    ok = true;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return ok;
}

/* ---- commands ------------------------------------------------------------- */

/* Midnight (local) of today + days, as struct tm. */
static struct tm day_tm(int days)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday += days;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    localtime_r(&t, &tm);
    return tm;
}

static time_t at_local(struct tm day, int minute_of_day)
{
    day.tm_hour = minute_of_day / 60;
    day.tm_min = minute_of_day % 60;
    day.tm_sec = 0;
    day.tm_isdst = -1;
    return mktime(&day);
}

static int type_minutes(const struct sw_config *cfg, const char *type)
{
    const struct sw_type_rule *r = sw_config_type(cfg, type);
    return r ? r->duration_min : 60;
}

/* The candidate grid of --kind book: day by day, time by time, every
 * practitioner at each time (so consecutive bookings land on different
 * practitioners' keys and thus on different replicas). */
static struct candidate *book_grid(const struct opts *o, const struct sw_config *cfg, size_t *n)
{
    int dur = type_minutes(cfg, o->appointment_type);
    size_t cap = 1024, k = 0;
    struct candidate *c = malloc(cap * sizeof(*c));
    if (!c)
        return NULL;
    for (int d = 2; d < 2 + o->book_days; d++) {
        struct tm day = day_tm(d);
        if (day.tm_wday == 0 || day.tm_wday == 6)
            continue;
        for (int m = 8 * 60; m + dur <= 17 * 60; m += o->book_step_min) {
            if (m < 13 * 60 && m + dur > 12 * 60)
                continue; /* lunch */
            for (int p = 0; p < o->n_practitioners; p++) {
                if (k == cap) {
                    struct candidate *g = realloc(c, 2 * cap * sizeof(*c));
                    if (!g) {
                        free(c);
                        return NULL;
                    }
                    c = g;
                    cap *= 2;
                }
                snprintf(c[k].practitioner, sizeof(c[k].practitioner), "%s", o->practitioners[p]);
                format_time((int64_t)at_local(day, m), c[k].start, sizeof(c[k].start));
                snprintf(c[k].type, sizeof(c[k].type), "%s", o->appointment_type);
                k++;
            }
        }
    }
    *n = k;
    return c;
}

/* "PRACTITIONER START [TYPE]" per line; '#' comments. */
static struct candidate *read_slots(const char *path, const char *def_type, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 256, k = 0;
    struct candidate *c = malloc(cap * sizeof(*c));
    char line[512];
    int lineno = 0;
    while (c && fgets(line, sizeof(line), f)) {
        lineno++;
        char p[CMD_REF_MAX], s[40], t[32] = "";
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%63s %39s %31s", p, s, t) < 2) {
            fprintf(stderr, "loadgen: %s:%d: want PRACTITIONER START [TYPE]\n", path, lineno);
            free(c);
            c = NULL;
            break;
        }
        if (k == cap) {
            struct candidate *g = realloc(c, 2 * cap * sizeof(*c));
            if (!g) {
                free(c);
                c = NULL;
                break;
            }
            c = g;
            cap *= 2;
        }
        snprintf(c[k].practitioner, sizeof(c[k].practitioner), "%s", p);
        snprintf(c[k].start, sizeof(c[k].start), "%s", s);
        snprintf(c[k].type, sizeof(c[k].type), "%s", t[0] ? t : def_type);
        k++;
    }
    fclose(f);
    *n = k;
    return c;
}

struct generator {
    const struct opts *o;
    json_t *template; /* --template */
    const char *topic;
    struct candidate *cands; /* book */
    size_t n_cands;
    char search_from[40], search_to[40];
};

static const char *topic_of_type(const char *type)
{
    enum cmd_type t;
    if (!type || !cmd_type_parse(type, &t))
        return NULL;
    switch (cmd_type_topic(t)) {
    case CMD_TOPIC_SEARCH:
        return "scheduling.commands.search";
    case CMD_TOPIC_BOOK:
        return "scheduling.commands.book";
    case CMD_TOPIC_CANCEL:
        return "scheduling.commands.cancel";
    }
    return NULL;
}

static bool generator_init(struct generator *g, const struct opts *o, const struct sw_config *cfg)
{
    memset(g, 0, sizeof(*g));
    g->o = o;
    if (o->template_path) {
        json_error_t jerr;
        g->template = json_load_file(o->template_path, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(g->template)) {
            fprintf(stderr, "loadgen: %s:%d: %s\n", o->template_path, jerr.line,
                    g->template ? "not a JSON object" : jerr.text);
            return false;
        }
        g->topic = topic_of_type(json_string_value(json_object_get(g->template, "type")));
        if (!g->topic) {
            fprintf(stderr, "loadgen: %s: no known \"type\"\n", o->template_path);
            return false;
        }
        return true;
    }
    if (!strcmp(o->kind, "search") || !strcmp(o->kind, "find")) {
        g->topic = "scheduling.commands.search";
        int d = o->search_ahead_days;
        struct tm day = day_tm(d);
        while (day.tm_wday == 0 || day.tm_wday == 6)
            day = day_tm(++d);
        format_time((int64_t)at_local(day, 8 * 60), g->search_from, sizeof(g->search_from));
        format_time((int64_t)at_local(day, 17 * 60), g->search_to, sizeof(g->search_to));
        return true;
    }
    if (!strcmp(o->kind, "book")) {
        g->topic = "scheduling.commands.book";
        g->cands = o->slots_path ? read_slots(o->slots_path, o->appointment_type, &g->n_cands)
                                 : book_grid(o, cfg, &g->n_cands);
        if (!g->cands || g->n_cands == 0) {
            fprintf(stderr, "loadgen: no candidate slots to book\n");
            return false;
        }
        if (!o->quiet)
            fprintf(stderr, "loadgen: %zu candidate slots (%s .. %s)\n", g->n_cands,
                    g->cands[0].start, g->cands[g->n_cands - 1].start);
        return true;
    }
    fprintf(stderr, "loadgen: unknown --kind %s\n", o->kind);
    return false;
}

static void generator_fini(struct generator *g)
{
    json_decref(g->template);
    free(g->cands);
}

/* The command of seq: malloc'd JSON; *key (static or in g) for the Kafka key. */
static char *generator_make(struct generator *g, uint64_t seq, const char *rid, char *key,
                            size_t keylen)
{
    const struct opts *o = g->o;
    json_t *cmd = NULL;
    snprintf(key, keylen, "sess-%llu", (unsigned long long)(seq % (uint64_t)o->sessions));
    if (g->template) {
        cmd = json_deep_copy(g->template);
        if (cmd)
            json_object_set_new(cmd, "request_id", json_string(rid));
    } else if (!strcmp(o->kind, "search")) {
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "type", "search_slots", "request_id",
                        rid, "session_id", key, "payload", "appointment_type", o->appointment_type,
                        "practitioner_id", o->practitioners[seq % (uint64_t)o->n_practitioners],
                        "from", g->search_from, "to", g->search_to);
    } else if (!strcmp(o->kind, "find")) {
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "type", "find_patient", "request_id", rid,
                        "session_id", key, "payload", "phone", o->phone, "birthdate", o->birthdate);
    } else {
        /* Past the end of the grid the times repeat: conflicts, counted. */
        const struct candidate *c = &g->cands[seq % g->n_cands];
        const char *patient = o->patients[seq % (uint64_t)o->n_patients];
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "type", "book", "request_id", rid,
                        "session_id", key, "payload", "patient_id", patient, "practitioner_id",
                        c->practitioner, "start", c->start, "appointment_type", c->type);
        snprintf(key, keylen, "%s", c->practitioner);
    }
    if (cmd && o->deadline_s > 0) {
        char when[40];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        format_time((int64_t)ts.tv_sec + (int64_t)o->deadline_s, when, sizeof(when));
        json_object_set_new(cmd, "deadline", json_string(when));
    }
    char *s = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
    json_decref(cmd);
    return s;
}

/* ---- report --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)n + 0.5);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static void report(struct state *st, const struct opts *o, int64_t send_end_ns)
{
    qsort(st->lat_ms, st->n_lat, sizeof(double), cmp_double);
    double span = st->last_recv_ns > st->first_measured_ns
                      ? (double)(st->last_recv_ns - st->first_measured_ns) / 1e9
                      : 0;
    double send_span = send_end_ns > st->first_measured_ns
                           ? (double)(send_end_ns - st->first_measured_ns) / 1e9
                           : 0;
    double thr = span > 0 ? (double)st->recv_measured / span : 0;
    double mean = 0;
    for (size_t i = 0; i < st->n_lat; i++)
        mean += st->lat_ms[i];
    mean = st->n_lat ? mean / (double)st->n_lat : 0;
    json_t *counts = json_object();
    for (int i = 0; i < st->n_status; i++)
        json_object_set_new(counts, st->status_name[i], json_integer(st->status_count[i]));
    json_t *out = json_pack(
        "{s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:o,s:f,s:I,s:I}", "sent",
        (json_int_t)st->sent_measured, "received", (json_int_t)st->recv_measured, "lost",
        (json_int_t)(st->sent_measured - st->recv_measured), "throughput", thr, "send_rate",
        send_span > 0 ? (double)st->sent_measured / send_span : 0.0, "p50_ms",
        pct(st->lat_ms, st->n_lat, 50), "p90_ms", pct(st->lat_ms, st->n_lat, 90), "p99_ms",
        pct(st->lat_ms, st->n_lat, 99), "max_ms", st->n_lat ? st->lat_ms[st->n_lat - 1] : 0.0,
        "mean_ms", mean, "target_rate", o->rate, "status_counts", counts, "duration_s", span,
        "warmup_sent", (json_int_t)st->sent_warm, "unmatched", (json_int_t)st->unknown);
    char *s = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(out);
    fprintf(stderr,
            "loadgen: %ld sent, %ld received in %.2fs: %.0f/s; latency p50 %.2f p90 %.2f "
            "p99 %.2f max %.2f ms\n",
            st->sent_measured, st->recv_measured, span, thr, pct(st->lat_ms, st->n_lat, 50),
            pct(st->lat_ms, st->n_lat, 90), pct(st->lat_ms, st->n_lat, 99),
            st->n_lat ? st->lat_ms[st->n_lat - 1] : 0.0);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: loadgen --kind search|book|find | --template FILE\n"
            "  [--rate N (0 = as fast as allowed)] [--max-in-flight N] [--count N | --duration S]\n"
            "  [--warmup S] [--timeout S] [--brokers HOST:PORT] [--config FILE]\n"
            "  [--practitioner ID]... [--patient ID]... [--slots FILE] [--appointment-type T]\n"
            "  [--book-days N] [--book-step-min M] [--search-ahead-days N] [--sessions N]\n"
            "  [--phone P] [--birthdate D] [--tz ZONE] [--results-topic T] [--quiet]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    enum {
        O_KIND = 256,
        O_TEMPLATE,
        O_RATE,
        O_MIF,
        O_COUNT,
        O_DURATION,
        O_WARMUP,
        O_TIMEOUT,
        O_BROKERS,
        O_CONFIG,
        O_PRACT,
        O_PATIENT,
        O_SLOTS,
        O_TYPE,
        O_BOOK_DAYS,
        O_STEP,
        O_AHEAD,
        O_SESSIONS,
        O_PHONE,
        O_BIRTH,
        O_TZ,
        O_RESULTS,
        O_QUIET,
        O_DEADLINE,
        O_HELP
    };
    static const struct option lo[] = {{"kind", 1, NULL, O_KIND},
                                       {"template", 1, NULL, O_TEMPLATE},
                                       {"rate", 1, NULL, O_RATE},
                                       {"max-in-flight", 1, NULL, O_MIF},
                                       {"count", 1, NULL, O_COUNT},
                                       {"duration", 1, NULL, O_DURATION},
                                       {"warmup", 1, NULL, O_WARMUP},
                                       {"timeout", 1, NULL, O_TIMEOUT},
                                       {"brokers", 1, NULL, O_BROKERS},
                                       {"config", 1, NULL, O_CONFIG},
                                       {"practitioner", 1, NULL, O_PRACT},
                                       {"patient", 1, NULL, O_PATIENT},
                                       {"slots", 1, NULL, O_SLOTS},
                                       {"appointment-type", 1, NULL, O_TYPE},
                                       {"book-days", 1, NULL, O_BOOK_DAYS},
                                       {"book-step-min", 1, NULL, O_STEP},
                                       {"search-ahead-days", 1, NULL, O_AHEAD},
                                       {"sessions", 1, NULL, O_SESSIONS},
                                       {"phone", 1, NULL, O_PHONE},
                                       {"birthdate", 1, NULL, O_BIRTH},
                                       {"tz", 1, NULL, O_TZ},
                                       {"results-topic", 1, NULL, O_RESULTS},
                                       {"quiet", 0, NULL, O_QUIET},
                                       {"deadline-s", 1, NULL, O_DEADLINE},
                                       {"help", 0, NULL, O_HELP},
                                       {NULL, 0, NULL, 0}};
    long v;
    int c;
    *o = (struct opts){.rate = 500,
                       .max_in_flight = 1000,
                       .count = 0,
                       .duration = 0,
                       .warmup = 2,
                       .timeout = 10,
                       .tz = "America/New_York",
                       .results_topic = "scheduling.results",
                       .appointment_type = "routine",
                       .phone = "6175550101",
                       .birthdate = "1980-04-12",
                       .book_days = 21,
                       .book_step_min = 75,
                       .sessions = 64,
                       .search_ahead_days = 2};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_KIND:
            o->kind = optarg;
            break;
        case O_TEMPLATE:
            o->template_path = optarg;
            break;
        case O_RATE:
            ok = parse_double(optarg, 0, 1e7, &o->rate);
            break;
        case O_MIF:
            ok = parse_long(optarg, 1, 10000000, &o->max_in_flight);
            break;
        case O_COUNT:
            ok = parse_long(optarg, 1, (long)MAX_CHUNKS * CHUNK / 2, &o->count);
            break;
        case O_DURATION:
            ok = parse_double(optarg, 0.1, 86400, &o->duration);
            break;
        case O_WARMUP:
            ok = parse_double(optarg, 0, 3600, &o->warmup);
            break;
        case O_TIMEOUT:
            ok = parse_double(optarg, 0.1, 3600, &o->timeout);
            break;
        case O_BROKERS:
            o->brokers = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_PRACT:
            ok = o->n_practitioners < MAX_LIST;
            if (ok)
                o->practitioners[o->n_practitioners++] = optarg;
            break;
        case O_PATIENT:
            ok = o->n_patients < MAX_LIST;
            if (ok)
                o->patients[o->n_patients++] = optarg;
            break;
        case O_SLOTS:
            o->slots_path = optarg;
            break;
        case O_TYPE:
            o->appointment_type = optarg;
            break;
        case O_BOOK_DAYS:
            ok = parse_long(optarg, 1, 366, &v) && (o->book_days = (int)v);
            break;
        case O_STEP:
            ok = parse_long(optarg, 5, 600, &v) && (o->book_step_min = (int)v);
            break;
        case O_AHEAD:
            ok = parse_long(optarg, 0, 366, &v) && ((o->search_ahead_days = (int)v), 1);
            break;
        case O_SESSIONS:
            ok = parse_long(optarg, 1, 1000000, &v) && (o->sessions = (int)v);
            break;
        case O_PHONE:
            o->phone = optarg;
            break;
        case O_BIRTH:
            o->birthdate = optarg;
            break;
        case O_TZ:
            o->tz = optarg;
            break;
        case O_RESULTS:
            o->results_topic = optarg;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_DEADLINE:
            ok = parse_double(optarg, 1, 86400, &o->deadline_s);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "loadgen: bad value for --%s: %s\n", lo[c - O_KIND].name, optarg);
            return 2;
        }
    }
    if (optind < argc || (!o->kind == !o->template_path)) {
        fprintf(stderr, "loadgen: give exactly one of --kind and --template\n");
        usage(stderr);
        return 2;
    }
    if (!o->count && !o->duration) {
        fprintf(stderr, "loadgen: give --count or --duration\n");
        return 2;
    }
    /* The simulator's seed (tools/openemr-sim/seed.json): the worker names
     * practitioners and patients by their FHIR uuids. */
    static const char *def_pract[] = {
        "90cde167-7b9b-4ed1-bd55-533925cb2605", "90cde167-7b9b-4ed1-bd55-533925cb2606",
        "90cde167-7b9b-4ed1-bd55-533925cb2607", "90cde167-7b9b-4ed1-bd55-533925cb2608"};
    static const char *def_patient[] = {
        "946da61d-6b88-4d7a-9f6e-000000000001", "946da61d-6b88-4d7a-9f6e-000000000002",
        "946da61d-6b88-4d7a-9f6e-000000000003", "946da61d-6b88-4d7a-9f6e-000000000004",
        "946da61d-6b88-4d7a-9f6e-000000000005", "946da61d-6b88-4d7a-9f6e-000000000006",
        "946da61d-6b88-4d7a-9f6e-000000000007", "946da61d-6b88-4d7a-9f6e-000000000008"};
    if (!o->n_practitioners) {
        /* search: one practitioner, so the cache answers; book: all four. */
        int n = o->kind && !strcmp(o->kind, "book") ? 4 : 1;
        for (int i = 0; i < n; i++)
            o->practitioners[o->n_practitioners++] = def_pract[i];
    }
    if (!o->n_patients)
        for (int i = 0; i < 8; i++)
            o->patients[o->n_patients++] = def_patient[i];
    return 0;
}

/* Sends one command; false on a setup-grade failure. */
static bool send_one(struct state *st, rd_kafka_t *producer, struct generator *g, uint64_t seq,
                     bool measured)
{
    char rid[64], key[CMD_REF_MAX];
    snprintf(rid, sizeof(rid), "%s-%llu", st->run_id, (unsigned long long)seq);
    char *value = generator_make(g, seq, rid, key, sizeof(key));
    if (!value) {
        fprintf(stderr, "loadgen: cannot build command %llu\n", (unsigned long long)seq);
        return false;
    }
    pthread_mutex_lock(&st->mu);
    struct entry *e = entry_at(st, seq, true);
    if (!e) {
        pthread_mutex_unlock(&st->mu);
        free(value);
        fprintf(stderr, "loadgen: out of memory or sequence space\n");
        return false;
    }
    int64_t t = now_ns();
    e->sent_ns = t;
    e->state = measured ? E_MEASURED : E_WARM;
    if (measured) {
        if (st->sent_measured++ == 0)
            st->first_measured_ns = t;
    } else {
        st->sent_warm++;
    }
    pthread_mutex_unlock(&st->mu);
    struct auth_headers sig = {{0}};
    if (sign_keys) {
        struct auth_msg m = {g->topic, rid, NULL, NULL, NULL, value, strlen(value)};
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (auth_sign(sign_keys, sign_key_id, &m, at_ms, &sig) != SW_OK) {
            fprintf(stderr, "loadgen: cannot sign with key \"%s\"\n", sign_key_id);
            free(value);
            return false;
        }
    }
    for (;;) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
        rd_kafka_header_add(hdrs, "request_id", -1, rid, -1);
        if (sign_keys) {
            rd_kafka_header_add(hdrs, AUTH_HEADER_KEY_ID, -1, sig.key_id, -1);
            rd_kafka_header_add(hdrs, AUTH_HEADER_SIGNED_AT, -1, sig.signed_at, -1);
            rd_kafka_header_add(hdrs, AUTH_HEADER_SIGNATURE, -1, sig.signature, -1);
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(g->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err)
            break;
        rd_kafka_headers_destroy(hdrs); /* only a produced message owns them */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_flag) {
            fprintf(stderr, "loadgen: produce: %s\n", rd_kafka_err2str(err));
            free(value);
            return false;
        }
        rd_kafka_poll(producer, 5);
    }
    rd_kafka_poll(producer, 0);
    return true;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (setenv("TZ", o.tz, 1) != 0)
        return 1;
    tzset();

    struct sw_config cfg;
    struct state st = {.quiet = o.quiet};
    struct generator gen = {0};
    rd_kafka_t *producer = NULL;
    pthread_t consumer_thread;
    bool thread_started = false;
    rc = 1;
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    /* Only Kafka matters here: the worker's checks of its OpenEMR settings
     * (a plain http base URL from the stack's environment) must not stop us. */
    unsetenv("OPENEMR_BASE_URL");
    unsetenv("SCHED_OPENEMR_BASE_URL");
    if (sw_config_load(&cfg, o.config, stderr) != SW_OK)
        goto out_cfg;
    if (o.brokers) {
        char err[256];
        if (!sw_config_set(&cfg, "kafka.bootstrap.servers", o.brokers, err, sizeof(err))) {
            fprintf(stderr, "loadgen: --brokers: %s\n", err);
            goto out_cfg;
        }
    }
    const char *kf = getenv("SCHED_SIGN_KEY_FILE");
    if (kf && *kf) {
        char err[512];
        if (auth_keys_load(kf, &sign_keys, err, sizeof(err)) != SW_OK) {
            fprintf(stderr, "loadgen: %s\n", err);
            goto out_cfg;
        }
        sign_key_id = getenv("SCHED_SIGN_KEY_ID");
        if (!sign_key_id || !*sign_key_id)
            sign_key_id = auth_keys_first(sign_keys, AUTH_ROLE_AGENT);
    }
    if (!generator_init(&gen, &o, &cfg))
        goto out_clients;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(st.run_id, sizeof(st.run_id), "lg-%lx%04lx", (unsigned long)getpid() & 0xffff,
             (unsigned long)(wall.tv_nsec / 1000) & 0xffff);
    char group[64];
    snprintf(group, sizeof(group), "loadgen-%s", st.run_id);
    producer = client_new(&cfg, false, NULL);
    st.consumer = producer ? client_new(&cfg, true, group) : NULL;
    if (!st.consumer || !assign_at_end(st.consumer, o.results_topic))
        goto out_clients;
    st.t0_ns = now_ns();
    if (pthread_create(&consumer_thread, NULL, consume_results, &st) != 0)
        goto out_clients;
    thread_started = true;

    /* Send: warm-up, then the measured phase. */
    const int64_t warm_end = st.t0_ns + (int64_t)(o.warmup * 1e9);
    int64_t measure_end = 0;
    double tokens = 1, burst = o.rate > 0 ? 1 + o.rate / 1000 : 0;
    int64_t last_refill = now_ns();
    uint64_t seq = 0;
    long measured = 0;
    bool failed = false;
    while (!stop_flag) {
        int64_t t = now_ns();
        bool in_measure = t >= warm_end;
        if (in_measure && !measure_end)
            measure_end = o.duration > 0 ? t + (int64_t)(o.duration * 1e9) : INT64_MAX;
        if (in_measure && ((o.count && measured >= o.count) || t >= measure_end))
            break;
        /* in-flight bound */
        pthread_mutex_lock(&st.mu);
        long inflight = st.sent_warm + st.sent_measured - st.recv_warm - st.recv_measured;
        if (inflight >= o.max_in_flight) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 2000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&st.cv, &st.mu, &until);
            pthread_mutex_unlock(&st.mu);
            rd_kafka_poll(producer, 0);
            continue;
        }
        pthread_mutex_unlock(&st.mu);
        if (o.rate > 0) {
            tokens += (double)(t - last_refill) / 1e9 * o.rate;
            last_refill = t;
            if (tokens > burst)
                tokens = burst;
            if (tokens < 1) {
                int64_t wait = (int64_t)((1 - tokens) / o.rate * 1e9);
                rd_kafka_poll(producer, 0);
                sleep_ns(wait < 1000000 ? wait : 1000000);
                continue;
            }
            tokens -= 1;
        }
        if (!send_one(&st, producer, &gen, seq++, in_measure)) {
            failed = true;
            break;
        }
        if (in_measure)
            measured++;
    }
    int64_t send_end = now_ns();
    rd_kafka_flush(producer, 10000);

    /* Wait for the stragglers. */
    pthread_mutex_lock(&st.mu);
    st.done_sending = true;
    int64_t deadline = now_ns() + (int64_t)(o.timeout * 1e9);
    while (!stop_flag && now_ns() < deadline &&
           (st.recv_measured < st.sent_measured || st.recv_warm < st.sent_warm)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st.cv, &st.mu, &until);
    }
    pthread_mutex_unlock(&st.mu);
    stop_flag = 2;
    pthread_join(consumer_thread, NULL);
    thread_started = false;
    report(&st, &o, send_end);
    rc = failed ? 1 : st.recv_measured < st.sent_measured ? 3 : 0;

out_clients:
    if (thread_started) {
        stop_flag = 2;
        pthread_join(consumer_thread, NULL);
    }
    if (st.consumer) {
        rd_kafka_consumer_close(st.consumer);
        rd_kafka_destroy(st.consumer);
    }
    if (producer)
        rd_kafka_destroy(producer);
out_cfg:
    generator_fini(&gen);
    sw_config_free(&cfg);
    auth_keys_destroy(sign_keys);
    for (int i = 0; i < MAX_CHUNKS; i++)
        free(st.chunks[i]);
    free(st.lat_ms);
    return rc;
}
