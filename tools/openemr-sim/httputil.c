/* httputil.c - the simulator's request/response helpers, a leaf that calls
 * nothing above it: response builders, query/form arguments, the JSON
 * body, the statistics of the main port and the injected faults.
 *
 * max_rps_1s is a sliding window: at each arrival, the number of arrivals
 * in the last 1,000,000 us (this one included) is compared to the maximum.
 * max_concurrency counts a request from its first callback (headers read,
 * stats_arrive) to MHD's "request completed" notification (stats_leave). */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- responses and request helpers ---- */

void resp_json(struct sim_resp *r, int status, json_t *body)
{
    free(r->body);
    r->status = status;
    r->body = json_dumps(body, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    r->ctype = "application/json";
    json_decref(body);
}

void resp_text(struct sim_resp *r, int status, const char *text)
{
    free(r->body);
    r->status = status;
    r->body = strdup(text);
    r->len = r->body ? strlen(r->body) : 0;
    r->ctype = "text/plain";
}

void resp_empty(struct sim_resp *r, int status)
{
    free(r->body);
    r->status = status;
    r->body = NULL;
    r->len = 0;
    r->ctype = NULL;
}

const char *args_get(const struct sim_arg *args, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(args[i].key, key) == 0)
            return args[i].value;
    return NULL;
}

const char *req_arg(const struct sim_req *q, const char *key)
{
    return args_get(q->args, q->nargs, key);
}

void args_free(struct sim_arg *args, int n)
{
    for (int i = 0; i < n; i++) {
        free(args[i].key);
        free(args[i].value);
    }
}

/* PHP's $_GET: a key given twice keeps the position of its first
 * occurrence and the value of its last. */
void args_last_wins(struct sim_req *q)
{
    int n = 0;
    for (int i = 0; i < q->nargs; i++) {
        int first = -1;
        for (int j = 0; j < n && first < 0; j++)
            if (strcmp(q->args[j].key, q->args[i].key) == 0)
                first = j;
        if (first < 0) {
            q->args[n++] = q->args[i];
            continue;
        }
        free(q->args[first].value);
        free(q->args[i].key);
        q->args[first].value = q->args[i].value;
    }
    q->nargs = n;
}

json_t *req_json(const struct sim_req *q)
{
    if (!q->body || !q->body_len)
        return NULL;
    return json_loadb(q->body, q->body_len, 0, NULL);
}

static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

int form_parse(const char *body, size_t len, struct sim_arg *args, int max)
{
    int n = 0;
    size_t i = 0;
    while (body && i < len && n < max) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && body[eq] != '=')
            eq++;
        if (j > i) {
            args[n].key = url_decode(body + i, eq - i);
            args[n].value = url_decode(body + eq + (eq < j), j - eq - (eq < j));
            if (!args[n].key || !args[n].value) {
                free(args[n].key);
                free(args[n].value);
                break;
            }
            n++;
        }
        i = j + 1;
    }
    return n;
}

/* ---- statistics ---- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void stats_arrive(struct sim *sim)
{
    struct sim_stats *s = &sim->stats;
    int64_t t = now_us();
    pthread_mutex_lock(&sim->stats_lock);
    s->requests_total++;
    if (++s->in_flight > s->max_concurrency)
        s->max_concurrency = s->in_flight;
    while (s->ring_len && s->ring[s->ring_head] <= t - 1000000) {
        s->ring_head = (s->ring_head + 1) % SIM_RPS_RING;
        s->ring_len--;
    }
    if (s->ring_len < SIM_RPS_RING) {
        s->ring[(s->ring_head + s->ring_len) % SIM_RPS_RING] = t;
        s->ring_len++;
    }
    if ((long)s->ring_len > s->max_rps_1s)
        s->max_rps_1s = (long)s->ring_len;
    pthread_mutex_unlock(&sim->stats_lock);
}

void stats_leave(struct sim *sim)
{
    pthread_mutex_lock(&sim->stats_lock);
    sim->stats.in_flight--;
    pthread_mutex_unlock(&sim->stats_lock);
}

static void stats_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}
void stats_answer(struct sim *sim, const char *method, const char *route, int status)
{
    char key[160], code[8];
    snprintf(key, sizeof(key), "%s %s", method, route ? route : "(unknown)");
    snprintf(code, sizeof(code), "%d", status);
    pthread_mutex_lock(&sim->stats_lock);
    stats_count(sim->stats.routes, key);
    if (status)
        stats_count(sim->stats.status_counts, code);
    else
        sim->stats.resets++;
    pthread_mutex_unlock(&sim->stats_lock);
}

void stats_reset(struct sim *sim)
{
    struct sim_stats *s = &sim->stats;
    pthread_mutex_lock(&sim->stats_lock);
    json_decref(s->routes);
    json_decref(s->status_counts);
    s->routes = json_object();
    s->status_counts = json_object();
    s->requests_total = s->resets = 0;
    s->ring_head = s->ring_len = 0;
    s->max_rps_1s = 0;
    s->max_concurrency = s->in_flight;
    pthread_mutex_unlock(&sim->stats_lock);
    pthread_mutex_lock(&sim->lock);
    memset(sim->oauth.grants, 0, sizeof(sim->oauth.grants));
    pthread_mutex_unlock(&sim->lock);
}

json_t *stats_json(struct sim *sim)
{
    struct sim_stats *s = &sim->stats;
    pthread_mutex_lock(&sim->lock);
    json_t *grants = json_pack("{s:I,s:I,s:I,s:I}", "password", (json_int_t)sim->oauth.grants[0],
                               "refresh_token", (json_int_t)sim->oauth.grants[1],
                               "client_credentials", (json_int_t)sim->oauth.grants[2],
                               "authorization_code", (json_int_t)sim->oauth.grants[3]);
    pthread_mutex_unlock(&sim->lock);
    pthread_mutex_lock(&sim->stats_lock);
    json_t *o = json_pack("{s:I,s:O,s:I,s:s,s:I,s:I,s:o,s:O,s:I}", "requests_total",
                          (json_int_t)s->requests_total, "routes", s->routes, "max_rps_1s",
                          (json_int_t)s->max_rps_1s, "max_rps_1s_method", "sliding",
                          "max_concurrency", (json_int_t)s->max_concurrency, "in_flight",
                          (json_int_t)s->in_flight, "token_grants", grants, "status_counts",
                          s->status_counts, "resets", (json_int_t)s->resets);
    json_t *copy = json_deep_copy(o); /* no shared references leave the lock */
    json_decref(o);
    pthread_mutex_unlock(&sim->stats_lock);
    return copy;
}

void faults_clear(struct sim *sim)
{
    pthread_mutex_lock(&sim->stats_lock);
    memset(&sim->faults, 0, sizeof(sim->faults));
    pthread_mutex_unlock(&sim->stats_lock);
}

void faults_set(struct sim *sim, const struct sim_faults *f)
{
    pthread_mutex_lock(&sim->stats_lock);
    sim->faults = *f;
    pthread_mutex_unlock(&sim->stats_lock);
}

json_t *faults_json(struct sim *sim)
{
    pthread_mutex_lock(&sim->stats_lock);
    struct sim_faults f = sim->faults;
    pthread_mutex_unlock(&sim->stats_lock);
    return json_pack("{s:{s:i,s:i},s:f,s:f,s:f,s:f,s:f,s:f,s:i,s:i,s:s}", "latency_ms", "min",
                     f.latency_min, "max", f.latency_max, "rate_401", f.rate_401, "rate_429",
                     f.rate_429, "rate_500", f.rate_500, "rate_502", f.rate_502, "rate_503",
                     f.rate_503, "reset_rate", f.reset_rate, "retry_after", f.retry_after,
                     "slow_body_ms", f.slow_body_ms, "routes", f.routes);
}

/* ---- faults ---- */

static double rnd(void)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)now_us() ^ (unsigned)(uintptr_t)&seed;
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

enum sim_fault faults_apply(struct sim *sim, struct sim_req *q, struct sim_resp *r, int *slow_ms)
{
    struct sim_faults f;
    pthread_mutex_lock(&sim->stats_lock);
    f = sim->faults;
    pthread_mutex_unlock(&sim->stats_lock);
    *slow_ms = 0;
    if (f.routes[0] && !strstr(q->path, f.routes))
        return FAULT_NONE;
    if (f.latency_max > 0) {
        int lo = f.latency_min, hi = f.latency_max < lo ? lo : f.latency_max;
        int ms = lo + (int)(rnd() * (hi - lo + 1));
        usleep((useconds_t)ms * 1000);
    }
    *slow_ms = f.slow_body_ms;
    if (f.reset_rate > 0 && rnd() < f.reset_rate)
        return FAULT_RESET;
    if (f.rate_401 > 0 && strncmp(q->path, "/apis/", 6) == 0 && rnd() < f.rate_401) {
        resp_json(r, 401,
                  json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message",
                            "Unauthorized", "code", 0));
        return FAULT_ANSWERED;
    }
    if (f.rate_429 > 0 && rnd() < f.rate_429) {
        resp_json(r, 429, json_pack("{s:s}", "error", "Too Many Requests"));
        r->retry_after = f.retry_after > 0 ? f.retry_after : 1;
        return FAULT_ANSWERED;
    }
    const struct {
        double rate;
        int status;
        const char *text;
    } errs[] = {{f.rate_500, 500, "Internal Server Error"},
                {f.rate_502, 502, "Bad Gateway"},
                {f.rate_503, 503, "Service Unavailable"}};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        if (errs[i].rate > 0 && rnd() < errs[i].rate) {
            resp_text(r, errs[i].status, errs[i].text);
            return FAULT_ANSWERED;
        }
    }
    return FAULT_NONE;
}
