/* metrics.c - the registry: fixed metric families, label guards, and
 * lock-free recording.  The Prometheus page is metrics_render.c.
 *
 * Each family owns a fixed array of series.  A series is published by
 * filling it under the family mutex and then bumping the family's count with
 * a release store; recorders scan the published prefix after an acquire load
 * and touch only atomics, so the hot path never locks.  Histograms keep
 * per-bucket (not cumulative) counts and the sum in nanoseconds, both exact
 * under concurrency; the page makes the buckets cumulative. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "metrics_family.h"

#define WORD_MAX 48
#define OTHER    "other"

static const double command_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,  5,     10,   30,  60};
static const double http_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double wait_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,   1,    2.5,   5,    10};
static const double redis_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
static const char *const token_preset[] = {"ok", "failure", NULL};
static const char *const circuit_preset[] = {"closed", "open", "half-open", NULL};
static const char *const cache_preset[] = {"hit", "miss", "stale", NULL};

/* Taken only to add a series (a new label combination). */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum {
    F_COMMANDS,
    F_COMMAND_SECONDS,
    F_OPENEMR_SECONDS,
    F_OPENEMR_ERRORS,
    F_TOKEN_REFRESHES,
    F_BOOKINGS,
    F_CONFLICTS,
    F_CACHE,
    F_LIMITER_WAIT,
    F_LIMITER_HELD,
    F_CIRCUIT,
    F_LAG,
    F_IN_FLIGHT,
    F_DEAD_LETTERS,
    F_REDIS_ERRORS,
    F_DROPPED,
    F_BUILD_INFO,
    F_DELIVERY_FAILURES,
    F_REDIS_SECONDS,
    F_READY,
    F_LIVE,
    F_UNEXPLAINED,
    F_UNEXPLAINED_SEEN,
    F_LEDGER_REBUILDS,
    F_LEDGER_RESTORED,
    F__COUNT
};

static struct family fams[F__COUNT] = {
    [F_COMMANDS] = {"schedworker_commands_total",
                    "Commands that reached a result, by type and status.",
                    K_COUNTER,
                    2,
                    {"type", "status"},
                    {L_CMD_TYPE, L_WORD}},
    [F_COMMAND_SECONDS] =
        {"schedworker_command_duration_seconds",
         "End-to-end command latency: Kafka message timestamp to result produced.",
         K_HISTOGRAM,
         1,
         {"type"},
         {L_CMD_TYPE},
         command_bounds,
         NB(command_bounds)},
    [F_OPENEMR_SECONDS] = {"schedworker_openemr_request_duration_seconds",
                           "OpenEMR HTTP request time by method, route template and HTTP status "
                           "(\"error\" when no response came).",
                           K_HISTOGRAM,
                           3,
                           {"method", "route", "status"},
                           {L_METHOD, L_ROUTE, L_WORD},
                           http_bounds,
                           NB(http_bounds)},
    [F_OPENEMR_ERRORS] = {"schedworker_openemr_errors_total",
                          "Failed OpenEMR requests by method, route template and error code.",
                          K_COUNTER,
                          3,
                          {"method", "route", "code"},
                          {L_METHOD, L_ROUTE, L_WORD}},
    [F_TOKEN_REFRESHES] = {"schedworker_token_refreshes_total",
                           "OAuth token refreshes by result.",
                           K_COUNTER,
                           1,
                           {"result"},
                           {L_WORD},
                           NULL,
                           0,
                           token_preset},
    [F_BOOKINGS] = {"schedworker_bookings_total",
                    "Book and reschedule attempts that reached the conflict check.", K_COUNTER},
    [F_CONFLICTS] = {"schedworker_booking_conflicts_total",
                     "Booking attempts that found the time already taken.", K_COUNTER},
    [F_CACHE] = {"schedworker_slot_cache_requests_total",
                 "Slot cache lookups by result (hit, miss, stale).",
                 K_COUNTER,
                 1,
                 {"result"},
                 {L_WORD},
                 NULL,
                 0,
                 cache_preset},
    [F_LIMITER_WAIT] = {"schedworker_limiter_wait_seconds",
                        "Time spent waiting for an OpenEMR rate-limiter permit, by priority.",
                        K_HISTOGRAM,
                        1,
                        {"priority"},
                        {L_WORD},
                        wait_bounds,
                        NB(wait_bounds)},
    [F_LIMITER_HELD] = {"schedworker_limiter_held_total",
                        "OpenEMR requests that had to wait for the rate limiter, by priority and "
                        "what first held them back (rate, reads_share, permits, write_waiting, "
                        "read_waiting, backoff).",
                        K_COUNTER,
                        2,
                        {"priority", "reason"},
                        {L_WORD, L_WORD}},
    [F_CIRCUIT] = {"schedworker_circuit_state",
                   "The fleet's OpenEMR circuit breaker: 1 for the state it is in (closed, open, "
                   "half-open), 0 for the others; all 0 until this replica has read it.",
                   K_GAUGE,
                   1,
                   {"state"},
                   {L_WORD},
                   NULL,
                   0,
                   circuit_preset},
    [F_LAG] = {"schedworker_consumer_lag",
               "Messages behind the partition's high watermark, per assigned partition.",
               K_GAUGE,
               2,
               {"topic", "partition"},
               {L_TOPIC, L_WORD}},
    [F_IN_FLIGHT] = {"schedworker_in_flight_commands", "Commands being handled now.", K_GAUGE},
    [F_DEAD_LETTERS] = {"schedworker_dead_letters_total",
                        "Commands sent to the dead-letter topic, by reason code.",
                        K_COUNTER,
                        1,
                        {"reason"},
                        {L_WORD}},
    [F_REDIS_ERRORS] = {"schedworker_redis_errors_total", "Failed Redis operations.", K_COUNTER},
    [F_DROPPED] = {"schedworker_metrics_series_dropped_total",
                   "Recordings folded into an \"other\" series because a family reached its "
                   "label cardinality cap.",
                   K_COUNTER},
    [F_BUILD_INFO] = {"schedworker_build_info",
                      "Always 1; the version label is the worker's build (git describe).",
                      K_GAUGE,
                      1,
                      {"version"},
                      {L_TOPIC}},
    [F_DELIVERY_FAILURES] = {"schedworker_kafka_delivery_failures_total",
                             "Messages the worker could not produce (refused when queued, or not "
                             "delivered), by topic and librdkafka error name.",
                             K_COUNTER,
                             2,
                             {"topic", "reason"},
                             {L_TOPIC, L_WORD}},
    [F_REDIS_SECONDS] = {"schedworker_redis_command_duration_seconds",
                         "Round-trip time of one Redis command, by command name; a failed "
                         "command counts too.",
                         K_HISTOGRAM,
                         1,
                         {"command"},
                         {L_WORD},
                         redis_bounds,
                         NB(redis_bounds)},
    [F_READY] = {"schedworker_ready", "1 while /readyz would answer 200, else 0.", K_GAUGE},
    [F_LIVE] = {"schedworker_live",
                "1 while /healthz would answer 200; 0 while a lane or the consumer loop hangs.",
                K_GAUGE},
    [F_UNEXPLAINED] = {"schedworker_unexplained_provider_events",
                       "Provider events in OpenEMR (In/Out Of Office, Lunch, Reserved) over the "
                       "poller's horizon that the worker's hours and break.* settings do not "
                       "explain, at the last check.",
                       K_GAUGE},
    [F_UNEXPLAINED_SEEN] = {"schedworker_unexplained_provider_events_total",
                            "Provider events found unexplained by the configuration, each counted "
                            "when a check first sees it.",
                            K_COUNTER},
    [F_LEDGER_REBUILDS] = {"schedworker_ledger_rebuilds_total",
                           "Rebuilds of the idempotency records from topics.ledger this replica "
                           "ran (Redis had no epoch: first start, or it lost its data), by result.",
                           K_COUNTER,
                           1,
                           {"result"},
                           {L_WORD}},
    [F_LEDGER_RESTORED] = {"schedworker_ledger_records_restored_total",
                           "Idempotency records those rebuilds wrote back into Redis.", K_COUNTER},
};

/* ---- label values ---------------------------------------------------- */

static bool word_ok(const char *s, const char *allowed, size_t max)
{
    size_t n = 0;
    if (!s || !*s)
        return false;
    for (; s[n]; n++) {
        if (n >= max || !strchr(allowed, s[n]))
            return false;
    }
    return true;
}

#define WORD_CHARS  "abcdefghijklmnopqrstuvwxyz0123456789_.-"
#define TOPIC_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define SEG_CHARS   TOPIC_CHARS

/* True when a path segment may carry an identifier (and so maybe PHI). */
static bool segment_is_id(const char *seg, size_t len)
{
    size_t digits = 0, hexletters = 0;
    if (len == 0)
        return false;
    if (len > 32)
        return true;
    for (size_t i = 0; i < len; i++) {
        char c = seg[i];
        if (i == 0 && c == '$') /* FHIR operations: $export */
            continue;
        if (!strchr(SEG_CHARS, c) || c == '\0')
            return true;
        if (c >= '0' && c <= '9')
            digits++;
        else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            hexletters++;
    }
    if (digits == 0)
        return hexletters == len && len >= 16; /* a long token of hex letters */
    if (seg[0] >= '0' && seg[0] <= '9')
        return true;   /* 42, 9f1c2e..., 2024-05-01 */
    return digits > 2; /* oauth2, R4 and v1 stay; abc12345 goes */
}

void metrics_route_label(const char *route, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = route ? route : "";
    if (outlen == 0)
        return;
    out[0] = '\0';
#define PUT(str, n)                                                                                \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (o + n_ >= outlen)                                                                      \
            n_ = outlen - 1 - o;                                                                   \
        memcpy(out + o, (str), n_);                                                                \
        o += n_;                                                                                   \
        out[o] = '\0';                                                                             \
    } while (0)

    /* METHOD: upper-case letters, else OTHER */
    size_t m = 0;
    while (p[m] >= 'A' && p[m] <= 'Z')
        m++;
    if (m == 0 || m > 10 || p[m] != ' ') {
        PUT("OTHER", 5);
        const char *sp = strchr(p, ' ');
        p = sp ? sp : p + strlen(p);
    } else {
        PUT(p, m);
        p += m;
    }
    while (*p == ' ')
        p++;
    PUT(" ", 1);
    size_t plen = strcspn(p, "?# ");
    if (plen == 0 || p[0] != '/') {
        PUT("/:invalid", 9);
        return;
    }
    size_t i = 0;
    while (i < plen) {
        /* p[i] == '/' */
        PUT("/", 1);
        i++;
        size_t s = i;
        while (i < plen && p[i] != '/')
            i++;
        const char *seg = p + s;
        size_t len = i - s;
        if (len > 1 && seg[0] == ':') {
            bool ok = len <= 17;
            for (size_t k = 1; ok && k < len; k++)
                ok = (seg[k] >= 'a' && seg[k] <= 'z') || seg[k] == '_';
            if (ok) {
                PUT(seg, len); /* the caller's own placeholder */
                continue;
            }
        }
        if (segment_is_id(seg, len))
            PUT(":id", 3);
        else
            PUT(seg, len);
    }
#undef PUT
}

static void label_value(enum label_rule rule, const char *in, char *out, size_t outlen)
{
    enum cmd_type t;
    const char *v;
    switch (rule) {
    case L_CMD_TYPE:
        v = (in && cmd_type_parse(in, &t)) ? in : "unknown";
        break;
    case L_ROUTE: { /* the path part of "METHOD /path" */
        char full[METRICS_LABEL_MAX + 16];
        metrics_route_label(in, full, sizeof(full));
        const char *sp = strchr(full, ' ');
        snprintf(out, outlen, "%s", sp ? sp + 1 : "/:invalid");
        return;
    }
    case L_METHOD: {
        size_t m = 0;
        while (in && in[m] >= 'A' && in[m] <= 'Z')
            m++;
        if (m == 0 || m > 10 || in[m] != ' ')
            snprintf(out, outlen, "OTHER");
        else
            snprintf(out, outlen, "%.*s", (int)m, in);
        return;
    }
    case L_TOPIC:
        v = word_ok(in, TOPIC_CHARS, METRICS_LABEL_MAX - 1) ? in : "invalid";
        break;
    case L_WORD:
    default:
        v = word_ok(in, WORD_CHARS, WORD_MAX - 1) ? in : "invalid";
        break;
    }
    snprintf(out, outlen, "%s", v);
}

/* ---- series ---------------------------------------------------------- */

static uint64_t hash_labels(char vals[][METRICS_LABEL_MAX], int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        for (const unsigned char *c = (const unsigned char *)vals[i]; *c; c++)
            h = (h ^ *c) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull;
    }
    return h;
}

static struct series *find(struct family *f, size_t n, uint64_t h, char vals[][METRICS_LABEL_MAX])
{
    for (size_t i = 0; i < n; i++) {
        struct series *s = &f->series[i];
        if (s->hash != h)
            continue;
        bool same = true;
        for (int k = 0; same && k < f->n_labels; k++)
            same = !strcmp(s->labels[k], vals[k]);
        if (same)
            return s;
    }
    return NULL;
}

static void fill(struct family *f, struct series *s, uint64_t h, char vals[][METRICS_LABEL_MAX])
{
    s->hash = h;
    for (int k = 0; k < f->n_labels; k++)
        memcpy(s->labels[k], vals[k], METRICS_LABEL_MAX);
}

/* The series of already-checked label values, created on first use. */
static struct series *series_of(struct family *f, char vals[][METRICS_LABEL_MAX])
{
    uint64_t h = hash_labels(vals, f->n_labels);
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    struct series *s = find(f, n, h, vals);
    if (s)
        return s;

    bool dropped = false;
    pthread_mutex_lock(&create_lock);
    n = atomic_load_explicit(&f->n, memory_order_relaxed);
    s = find(f, n, h, vals);
    if (!s && n < METRICS_MAX_SERIES - 1) {
        s = &f->series[n];
        fill(f, s, h, vals);
        atomic_store_explicit(&f->n, n + 1, memory_order_release);
    } else if (!s) {
        /* cap reached: the last slot is the "other" series */
        char other[MAX_LABELS][METRICS_LABEL_MAX];
        for (int k = 0; k < f->n_labels; k++)
            snprintf(other[k], sizeof(other[k]), "%s", OTHER);
        uint64_t oh = hash_labels(other, f->n_labels);
        s = find(f, n, oh, other);
        if (!s) {
            s = &f->series[METRICS_MAX_SERIES - 1];
            fill(f, s, oh, other);
            atomic_store_explicit(&f->n, (size_t)METRICS_MAX_SERIES, memory_order_release);
        }
        dropped = true;
    }
    pthread_mutex_unlock(&create_lock);
    if (dropped) {
        char none[1][METRICS_LABEL_MAX];
        atomic_fetch_add_explicit(&series_of(&fams[F_DROPPED], none)->count, 1,
                                  memory_order_relaxed);
    }
    return s;
}

static struct series *get3(int fam, const char *a, const char *b, const char *c)
{
    struct family *f = &fams[fam];
    char vals[MAX_LABELS][METRICS_LABEL_MAX];
    const char *in[MAX_LABELS] = {a, b, c};
    for (int k = 0; k < f->n_labels; k++)
        label_value(f->rules[k], in[k], vals[k], sizeof(vals[k]));
    return series_of(f, vals);
}

static struct series *get(int fam, const char *a, const char *b)
{
    return get3(fam, a, b, NULL);
}

static void count(int fam, const char *a, const char *b)
{
    atomic_fetch_add_explicit(&get(fam, a, b)->count, 1, memory_order_relaxed);
}

static void set_gauge(struct series *s, int64_t v)
{
    atomic_store_explicit(&s->gauge, v, memory_order_relaxed);
    atomic_store_explicit(&s->hidden, false, memory_order_relaxed);
}

static void observe_series(struct family *f, struct series *s, double seconds)
{
    if (!(seconds > 0)) /* negative, zero, NaN */
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    int i = 0;
    while (i < f->n_bounds && seconds > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns, (uint64_t)llround(seconds * 1e9), memory_order_relaxed);
}

static void observe(int fam, const char *a, const char *b, double seconds)
{
    observe_series(&fams[fam], get(fam, a, b), seconds);
}

/* ---- recording API ---------------------------------------------------- */

void metrics_command(const char *type_name, const char *status_name, double seconds)
{
    count(F_COMMANDS, type_name, status_name);
    observe(F_COMMAND_SECONDS, type_name, NULL, seconds);
}

void metrics_openemr(const char *route, int http_status, double seconds)
{
    char st[16];
    if (http_status >= 100 && http_status <= 999)
        snprintf(st, sizeof(st), "%d", http_status);
    else
        snprintf(st, sizeof(st), "error");
    /* the method and the path are two labels of the same "METHOD /path" */
    observe_series(&fams[F_OPENEMR_SECONDS], get3(F_OPENEMR_SECONDS, route, route, st), seconds);
}

void metrics_openemr_error(const char *route, const char *code)
{
    atomic_fetch_add_explicit(&get3(F_OPENEMR_ERRORS, route, route, code)->count, 1,
                              memory_order_relaxed);
}

void metrics_token_refresh(bool ok)
{
    count(F_TOKEN_REFRESHES, ok ? "ok" : "failure", NULL);
}

void metrics_booking(bool conflict)
{
    count(F_BOOKINGS, NULL, NULL);
    if (conflict)
        count(F_CONFLICTS, NULL, NULL);
}

void metrics_cache(const char *result)
{
    count(F_CACHE, result, NULL);
}

void metrics_limiter_wait(const char *prio_name, double seconds)
{
    observe(F_LIMITER_WAIT, prio_name, NULL, seconds);
}

void metrics_limiter_held(const char *prio_name, const char *reason)
{
    count(F_LIMITER_HELD, prio_name, reason);
}

void metrics_circuit(int state)
{
    for (int i = 0; circuit_preset[i]; i++)
        set_gauge(get(F_CIRCUIT, circuit_preset[i], NULL), i == state);
}

void metrics_health(bool ready, bool live)
{
    set_gauge(get(F_READY, NULL, NULL), ready);
    set_gauge(get(F_LIVE, NULL, NULL), live);
}

void metrics_build_info(const char *version)
{
    set_gauge(get(F_BUILD_INFO, version && *version ? version : "unknown", NULL), 1);
}

void metrics_delivery_failure(const char *topic, const char *reason)
{
    char low[WORD_MAX];
    size_t i = 0;
    for (; reason && reason[i] && i + 1 < sizeof(low); i++)
        low[i] = (reason[i] >= 'A' && reason[i] <= 'Z') ? (char)(reason[i] - 'A' + 'a') : reason[i];
    low[i] = '\0';
    count(F_DELIVERY_FAILURES, topic, i ? low : "unknown");
}

void metrics_redis_command(const char *command, size_t len, double seconds)
{
    char low[24];
    size_t i = 0;
    for (; command && i < len && i + 1 < sizeof(low); i++)
        low[i] =
            (command[i] >= 'A' && command[i] <= 'Z') ? (char)(command[i] - 'A' + 'a') : command[i];
    low[i] = '\0';
    observe(F_REDIS_SECONDS, i ? low : "unknown", NULL, seconds);
}

void metrics_lag(const char *topic, int32_t partition, int64_t lag)
{
    char p[16];
    snprintf(p, sizeof(p), "%" PRId32, partition < 0 ? -1 : partition);
    set_gauge(get(F_LAG, topic, partition < 0 ? "invalid" : p), lag);
}

void metrics_lag_forget(const char *topic, int32_t partition)
{
    char p[16];
    snprintf(p, sizeof(p), "%" PRId32, partition);
    atomic_store_explicit(&get(F_LAG, topic, partition < 0 ? "invalid" : p)->hidden, true,
                          memory_order_relaxed);
}

void metrics_in_flight(int n)
{
    set_gauge(get(F_IN_FLIGHT, NULL, NULL), n);
}

void metrics_unexplained_events(int now_unexplained, int newly_seen)
{
    set_gauge(get(F_UNEXPLAINED, NULL, NULL), now_unexplained);
    for (int i = 0; i < newly_seen; i++)
        count(F_UNEXPLAINED_SEEN, NULL, NULL);
}

void metrics_dead_letter(const char *reason)
{
    count(F_DEAD_LETTERS, reason, NULL);
}

void metrics_redis_error(void)
{
    count(F_REDIS_ERRORS, NULL, NULL);
}

void metrics_ledger_rebuild(bool ok, long restored)
{
    count(F_LEDGER_REBUILDS, ok ? "ok" : "failure", NULL);
    if (restored > 0)
        atomic_fetch_add_explicit(&get(F_LEDGER_RESTORED, NULL, NULL)->count, (uint64_t)restored,
                                  memory_order_relaxed);
}

void metrics_reset(void)
{
    for (int i = 0; i < F__COUNT; i++) {
        struct family *f = &fams[i];
        pthread_mutex_lock(&create_lock);
        atomic_store(&f->n, 0);
        memset(f->series, 0, sizeof(f->series));
        pthread_mutex_unlock(&create_lock);
    }
}

struct family *metrics_families(int *n)
{
    *n = F__COUNT;
    return fams;
}

void metrics_touch_fixed(void)
{
    for (int i = 0; i < F__COUNT; i++) {
        struct family *f = &fams[i];
        if (f->n_labels == 0)
            (void)get(i, NULL, NULL);
        for (const char *const *v = f->preset; v && *v; v++)
            (void)get(i, *v, NULL);
    }
}
