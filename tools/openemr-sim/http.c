/* http.c - libmicrohttpd glue: one daemon for OpenEMR's surfaces, one for
 * the admin surface.  Turns MHD callbacks into sim_req/sim_resp, applies
 * the injected faults and keeps the statistics of the main port.
 *
 * max_rps_1s is a sliding window: at each arrival, the number of arrivals
 * in the last 1,000,000 us (this one included) is compared to the maximum.
 * max_concurrency counts a request from its first callback (headers read)
 * to MHD's "request completed" notification (response sent). */
#include "sim.h"

#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct server {
    struct sim *sim;
    bool admin;
    struct MHD_Daemon *daemon;
};

struct conn_ctx {
    char *body;
    size_t len;
    bool too_big, counted;
};

static struct server main_srv, admin_srv;
static char *tls_key, *tls_cert; /* MHD keeps pointers to these: live until http_stop */

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

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct sim_req *q = cls;
    (void)kind;
    if (q->nargs >= SIM_MAX_ARGS)
        return MHD_NO;
    q->args[q->nargs].key = strdup(key);
    q->args[q->nargs].value = strdup(value ? value : "");
    q->nargs++;
    return MHD_YES;
}

/* ---- statistics ---- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void stats_arrive(struct sim *sim)
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

static void stats_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static void stats_answer(struct sim *sim, const char *method, const char *route, int status)
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

/* ---- faults ---- */

static double rnd(void)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)now_us() ^ (unsigned)(uintptr_t)&seed;
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

enum fault { FAULT_NONE, FAULT_RESET, FAULT_ANSWERED };

static enum fault apply_faults(struct sim *sim, struct sim_req *q, struct sim_resp *r, int *slow_ms)
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

struct drip {
    char *body;
    size_t len;
    int pause_ms;
};

static ssize_t drip_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct drip *d = cls;
    if (pos >= d->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    usleep((useconds_t)d->pause_ms * 1000);
    size_t chunk = d->len / 10 + 1;
    if (chunk > max)
        chunk = max;
    if (chunk > d->len - pos)
        chunk = d->len - (size_t)pos;
    memcpy(buf, d->body + pos, chunk);
    return (ssize_t)chunk;
}

static void drip_free(void *cls)
{
    struct drip *d = cls;
    free(d->body);
    free(d);
}

/* ---- dispatch ---- */

static void dispatch_main(struct sim_req *q, struct sim_resp *r)
{
    const char *p = q->path;
    size_t napi = strlen(SIM_SITE_API), nfhir = strlen(SIM_SITE_FHIR);
    if (strncmp(p, SIM_SITE_OAUTH "/", strlen(SIM_SITE_OAUTH) + 1) == 0) {
        oauth_handle(q, r);
    } else if (strncmp(p, SIM_SITE_API, napi) == 0 && (p[napi] == '/' || !p[napi])) {
        api_handle(q, r, p + napi);
    } else if (strncmp(p, SIM_SITE_FHIR, nfhir) == 0 && (p[nfhir] == '/' || !p[nfhir])) {
        fhir_handle(q, r, p + nfhir);
    } else {
        resp_json(r, 404,
                  json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message",
                            "Route not found", "code", 0));
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct sim_resp *r, int slow_ms)
{
    struct MHD_Response *resp;
    if (slow_ms > 0 && r->len > 0) {
        struct drip *d = malloc(sizeof(*d));
        if (!d)
            return MHD_NO;
        d->body = r->body;
        d->len = r->len;
        d->pause_ms = slow_ms / 10 + 1;
        r->body = NULL;
        resp = MHD_create_response_from_callback(d->len, 4096, drip_read, d, drip_free);
    } else {
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
        r->body = NULL;
    }
    if (!resp)
        return MHD_NO;
    if (r->ctype)
        MHD_add_response_header(resp, "Content-Type", r->ctype);
    if (r->location[0])
        MHD_add_response_header(resp, "Location", r->location);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void reset_connection(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0}; /* close with RST */
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct server *srv = cls;
    struct conn_ctx *ctx = *con_cls;
    (void)version;
    if (!ctx) {
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
            return MHD_NO;
        *con_cls = ctx;
        if (!srv->admin) {
            stats_arrive(srv->sim);
            ctx->counted = true;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (ctx->len + *upload_size > SIM_MAX_BODY) {
            ctx->too_big = true;
        } else {
            char *nb = realloc(ctx->body, ctx->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            ctx->body = nb;
            memcpy(ctx->body + ctx->len, upload_data, *upload_size);
            ctx->len += *upload_size;
            ctx->body[ctx->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }

    struct sim_req q = {
        .sim = srv->sim, .method = method, .path = url, .body = ctx->body, .body_len = ctx->len};
    struct sim_resp r = {.status = 500};
    q.authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    q.ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    int slow_ms = 0;
    enum MHD_Result ret;
    if (srv->admin) {
        if (ctx->too_big)
            resp_text(&r, 413, "body too large");
        else
            admin_handle(&q, &r);
        ret = send_resp(conn, &r, 0);
        goto cleanup_req;
    }
    enum fault f = apply_faults(srv->sim, &q, &r, &slow_ms);
    if (f == FAULT_RESET) {
        stats_answer(srv->sim, method, "(reset)", 0);
        reset_connection(conn);
        ret = MHD_NO;
        goto cleanup_req;
    }
    if (f == FAULT_NONE) {
        if (ctx->too_big)
            resp_text(&r, 413, "body too large");
        else
            dispatch_main(&q, &r);
    }
    stats_answer(srv->sim, method, f == FAULT_ANSWERED ? "(fault)" : q.route, r.status);
    ret = send_resp(conn, &r, slow_ms);
cleanup_req:
    free(r.body);
    args_free(q.args, q.nargs);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct conn_ctx *ctx = *con_cls;
    (void)conn, (void)toe;
    if (!ctx)
        return;
    if (ctx->counted) {
        pthread_mutex_lock(&srv->sim->stats_lock);
        srv->sim->stats.in_flight--;
        pthread_mutex_unlock(&srv->sim->stats_lock);
    }
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

static int start_one(struct server *srv, const char *host, int port, int threads, bool tls,
                     const char *key, const char *cert, char *url, size_t urllen, char *errstr,
                     size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(errstr, errlen, "bad listen address %s", host);
        return -1;
    }
    /* threads 0: one thread per connection, so that a request sleeping in
     * injected latency delays no other connection (in a pool, the
     * connections of a sleeping thread are not even read, which bunches
     * their arrivals and skews max_rps_1s and max_concurrency). */
    unsigned flags = threads > 0 ? MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL
                                 : MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                       MHD_USE_POLL;
    flags |= MHD_USE_ERROR_LOG;
    if (tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        /* no pool option at all with threads 0 (MHD warns about a zero size) */
        {threads > 0 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_TIMEOUT,
         threads > 0 ? threads : 60, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 4000, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(errstr, errlen, "cannot listen on %s:%d", host, port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, urllen, "%s://%s:%u", tls ? "https" : "http", host,
             di ? (unsigned)di->port : (unsigned)port);
    return 0;
}

int http_start(struct sim *sim, char *errstr, size_t errlen)
{
    if (sim->opts.tls && tls_make(sim->opts.cert_dir, sim->opts.tls_expired, &tls_key, &tls_cert,
                                  errstr, errlen) < 0)
        return -1;
    main_srv = (struct server){.sim = sim, .admin = false};
    admin_srv = (struct server){.sim = sim, .admin = true};
    if (start_one(&main_srv, sim->opts.listen_host, sim->opts.listen_port, sim->opts.threads,
                  sim->opts.tls, tls_key, tls_cert, sim->base_url, sizeof(sim->base_url), errstr,
                  errlen) < 0)
        return -1;
    return start_one(&admin_srv, sim->opts.admin_host, sim->opts.admin_port, 2, false, NULL, NULL,
                     sim->admin_url, sizeof(sim->admin_url), errstr, errlen);
}

void http_stop(void)
{
    if (main_srv.daemon)
        MHD_stop_daemon(main_srv.daemon);
    if (admin_srv.daemon)
        MHD_stop_daemon(admin_srv.daemon);
    main_srv.daemon = admin_srv.daemon = NULL;
    free(tls_key);
    free(tls_cert);
    tls_key = tls_cert = NULL;
}
