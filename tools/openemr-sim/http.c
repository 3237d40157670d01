/* http.c - the router: libmicrohttpd glue for the two daemons (OpenEMR's
 * surfaces on the main port, the admin surface on the second), turning MHD
 * callbacks into sim_req/sim_resp and dispatching each request to its route
 * module (oauth.c, api.c, scheduling.c, fhir.c, admin.c).  Statistics and
 * faults are kept by the helpers (httputil.c); this file only calls them at
 * the right moments and sends what they decide. */
#include "sim.h"

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

/* ---- MHD to sim_req / sim_resp ---- */

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

static void route_not_found(struct sim_resp *r)
{
    resp_json(r, 404,
              json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message", "Route not found",
                        "code", 0));
}

/* OpenEMR's own routes read their query through PHP
 * (HttpRestRequest::createFromGlobals): with repeated-query-last-wins, a
 * repeated key keeps only its last value.  The seed's scheduling surface
 * is another server and keeps every value. */
static void openemr_query(struct sim_req *q)
{
    if (QUIRK(q->sim, Q_REPEATED_LAST_WINS))
        args_last_wins(q);
}

/* The main port: OAuth, the standard API, the seed's FHIR scheduling
 * surface (when on; it answers what it knows first), FHIR. */
static void dispatch_main(struct sim_req *q, struct sim_resp *r)
{
    const char *p = q->path;
    size_t napi = strlen(SIM_SITE_API), nfhir = strlen(SIM_SITE_FHIR);
    if (strncmp(p, SIM_SITE_OAUTH "/", strlen(SIM_SITE_OAUTH) + 1) == 0) {
        openemr_query(q);
        oauth_handle(q, r, p + strlen(SIM_SITE_OAUTH));
    } else if (strncmp(p, SIM_SITE_API, napi) == 0 && (p[napi] == '/' || !p[napi])) {
        openemr_query(q);
        api_handle(q, r, p + napi);
    } else if (strncmp(p, SIM_SITE_FHIR, nfhir) == 0 && (p[nfhir] == '/' || !p[nfhir])) {
        if (!q->sim->opts.fhir_scheduling || !sched_handle(q, r, p + nfhir)) {
            openemr_query(q);
            fhir_handle(q, r, p + nfhir);
        }
    } else {
        route_not_found(r);
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
    enum sim_fault f = faults_apply(srv->sim, &q, &r, &slow_ms);
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
    if (ctx->counted)
        stats_leave(srv->sim);
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