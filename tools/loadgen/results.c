/* results.c - loadgen's results: matched to the commands sent by
 * request_id, their latencies and statuses, and the report. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "loadgen.h"

/* ---- bookkeeping --------------------------------------------------------- */

/* The entry of seq, allocating its chunk; NULL when out of range or memory.
 * Caller holds mu. */
struct entry *entry_at(struct state *st, uint64_t seq, bool create)
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
    /* from 65536 at once, then doubling, with no cap of our own */
    size_t need = st->n_lat < 65536 ? 65536 : st->n_lat + 1;
    double *p = vec_grow(st->lat_ms, &st->cap_lat, sizeof(*p), need, SIZE_MAX / sizeof(*p));
    if (!p)
        return; /* counted as received, latency dropped */
    st->lat_ms = p;
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

void *consume_results(void *arg)
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

/* ---- report -------------------------------------------------------------- */

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

void report(struct state *st, const struct opts *o, int64_t send_end_ns)
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
