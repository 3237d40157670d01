/* http_server.c - /metrics, /healthz and /readyz on libmicrohttpd's own
 * polling thread.  Requests have no body; every answer is built in one go. */
#include "http_server.h"

#include <netdb.h>
#include <pthread.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define MOD "http"

/* ms from now on the wall clock, as pthread_cond_timedwait wants it. */
static struct timespec wall_deadline(int64_t ms)
{
    int64_t at = clock_now_ms(NULL) + ms;
    return (struct timespec){(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
}

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_checks checks;
    int port;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn(MOD, "%s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *tf(bool b)
{
    return b ? "true" : "false";
}

/* A JSON string value: our reasons and states are plain text, but quote
 * and control characters are escaped anyway. */
static void json_text(char *out, size_t outlen, const char *in)
{
    size_t o = 0;
    for (; *in && o + 7 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static enum MHD_Result answer_live(struct http_server *srv, struct MHD_Connection *conn)
{
    char why[256] = "", esc[512], body[600];
    bool live = srv->checks.live ? srv->checks.live(srv->checks.opaque, why, sizeof(why)) : true;
    int n;
    if (live) {
        n = snprintf(body, sizeof(body), "{\"live\":true}\n");
    } else {
        json_text(esc, sizeof(esc), why[0] ? why : "unknown");
        n = snprintf(body, sizeof(body), "{\"live\":false,\"reason\":\"%s\"}\n", esc);
    }
    return reply(conn, live ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body,
                 (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result answer_ready(struct http_server *srv, struct MHD_Connection *conn)
{
    struct http_readiness r = {true, true, true, true, "unknown", true, false};
    if (srv->checks.ready)
        srv->checks.ready(srv->checks.opaque, &r);
    bool ready =
        r.kafka && r.broker && r.redis && r.token && r.circuit_ok && !r.draining && !r.token_key[0];
    char circuit[64], auth[128], token_key[256], body[768];
    json_text(circuit, sizeof(circuit), r.circuit ? r.circuit : "unknown");
    json_text(auth, sizeof(auth), r.auth ? r.auth : "");
    json_text(token_key, sizeof(token_key), r.token_key);
    int n = snprintf(body, sizeof(body),
                     "{\"ready\":%s,\"kafka\":%s,\"broker\":%s,\"redis\":%s,\"token\":%s,"
                     "\"circuit\":\"%s\",\"draining\":%s%s%s%s%s%s%s}\n",
                     tf(ready), tf(r.kafka), tf(r.broker), tf(r.redis), tf(r.token), circuit,
                     tf(r.draining), auth[0] ? ",\"auth\":\"" : "", auth, auth[0] ? "\"" : "",
                     token_key[0] ? ",\"token_key\":\"" : "", token_key, token_key[0] ? "\"" : "");
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)strlen(body);
    return reply(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body,
                 (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    static char text[] = "text/plain; charset=utf-8";

    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        if (*upload_data_size) { /* drain any body, answer at the end */
            *upload_data_size = 0;
            return MHD_YES;
        }
        static char msg[] = "method not allowed\n";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof(msg) - 1, msg, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return ret;
    }

    if (!strcmp(url, "/healthz"))
        return answer_live(srv, conn);
    if (!strcmp(url, "/metrics")) {
        char *page = NULL;
        size_t len = 0;
        if (metrics_render(&page, &len) != SW_OK) {
            static char msg[] = "metrics unavailable\n";
            return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, msg, sizeof(msg) - 1,
                         MHD_RESPMEM_PERSISTENT);
        }
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", page, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/readyz"))
        return answer_ready(srv, conn);
    static char nf[] = "not found\n";
    return reply(conn, MHD_HTTP_NOT_FOUND, text, nf, sizeof(nf) - 1, MHD_RESPMEM_PERSISTENT);
}

/* "host:port" or "[v6]:port" -> host and port strings. */
static bool split_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':')
            return false;
        if ((size_t)(end - listen - 1) >= hostlen)
            return false;
        snprintf(host, hostlen, "%.*s", (int)(end - listen - 1), listen + 1);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || colon == listen || (size_t)(colon - listen) >= hostlen)
            return false;
        if (memchr(listen, ':', (size_t)(colon - listen)))
            return false; /* bare IPv6 needs brackets */
        snprintf(host, hostlen, "%.*s", (int)(colon - listen), listen);
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n >= portlen || strspn(p, "0123456789") != n)
        return false;
    long v = strtol(p, NULL, 10);
    if (v < 0 || v > 65535)
        return false;
    snprintf(port, portlen, "%s", p);
    return true;
}

sw_err http_server_start(const char *listen, const struct http_checks *checks,
                         struct http_server **out, char *errstr, size_t errlen)
{
    sw_err err = SW_OK;
    struct addrinfo *ai = NULL;
    struct http_server *srv = NULL;
    char host[256], port[8];

    *out = NULL;
    if (!listen || !*listen)
        return SW_OK;
    if (!split_listen(listen, host, sizeof(host), port, sizeof(port))) {
        snprintf(errstr, errlen, "http.listen \"%s\": expected host:port or [v6]:port", listen);
        return SW_ERR_CONFIG;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(errstr, errlen, "http.listen \"%s\": %s", listen, gai_strerror(rc));
        err = SW_ERR_CONFIG;
        goto cleanup_ai;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        err = SW_ERR_NOMEM;
        goto cleanup_ai;
    }
    if (checks)
        srv->checks = *checks;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, handle, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(errstr, errlen,
                 "http.listen \"%s\": cannot listen there (in use, or not an "
                 "address of this host)",
                 listen);
        err = SW_ERR_UNAVAILABLE;
        goto cleanup_srv;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    log_info(MOD, "serving /metrics /healthz /readyz on %s (port %d)", listen, srv->port);
    *out = srv;
    srv = NULL;
    goto cleanup_ai;

cleanup_srv:
    free(srv);
cleanup_ai:
    if (ai)
        freeaddrinfo(ai);
    return err;
}

int http_server_port(const struct http_server *srv)
{
    return srv ? srv->port : 0;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv);
}

/* ---- one OAuth redirect (schedworker auth login) ---------------------- */

struct redirect {
    pthread_mutex_t lock;
    pthread_cond_t done;
    const char *path;
    char *code, *state, *error;
    bool got;      /* the redirect arrived */
    bool answered; /* and the browser got its page: the daemon may stop */
};

static void redirect_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct redirect *rd = cls;
    (void)conn;
    (void)con_cls;
    (void)toe;
    pthread_mutex_lock(&rd->lock);
    if (rd->got)
        rd->answered = true;
    pthread_cond_signal(&rd->done);
    pthread_mutex_unlock(&rd->lock);
}

static enum MHD_Result take_redirect(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct redirect *rd = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    static char text[] = "text/plain; charset=utf-8";
    if (strcmp(method, "GET") != 0 || strcmp(url, rd->path) != 0) {
        static char nf[] = "not found\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, text, nf, strlen(nf), MHD_RESPMEM_PERSISTENT);
    }
    const char *code = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
    const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
    const char *error = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "error");
    pthread_mutex_lock(&rd->lock);
    if (!rd->got) {
        rd->code = code ? strdup(code) : NULL;
        rd->state = state ? strdup(state) : NULL;
        rd->error = error ? strdup(error) : NULL;
        rd->got = true;
        pthread_cond_signal(&rd->done);
    }
    pthread_mutex_unlock(&rd->lock);
    static char ok[] = "schedworker received the authorization; you may close this window.\n";
    return reply(conn, MHD_HTTP_OK, text, ok, strlen(ok), MHD_RESPMEM_PERSISTENT);
}

sw_err http_await_redirect(const char *redirect_uri, int timeout_s, void (*listening)(void *),
                           void *arg, char **code, char **state, char *errstr, size_t errlen)
{
    char host[256], port[8], path[256] = "/";
    const char *p = redirect_uri;
    sw_err err = SW_OK;
    *code = *state = NULL;
    if (strncmp(p, "http://", 7) != 0) {
        snprintf(errstr, errlen, "oauth.redirect_uri must be a loopback http:// URL");
        return SW_ERR_CONFIG;
    }
    p += 7;
    const char *slash = strchr(p, '/');
    char hostport[300];
    snprintf(hostport, sizeof(hostport), "%.*s", (int)(slash ? slash - p : (long)strlen(p)), p);
    if (slash)
        snprintf(path, sizeof(path), "%s", slash);
    if (!split_listen(hostport, host, sizeof(host), port, sizeof(port)) ||
        (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0 &&
         strcmp(host, "::1") != 0)) {
        snprintf(errstr, errlen, "oauth.redirect_uri must name a loopback host and a port");
        return SW_ERR_CONFIG;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        snprintf(errstr, errlen, "cannot resolve %s", hostport);
        return SW_ERR_CONFIG;
    }
    struct redirect rd = {.path = path};
    pthread_mutex_init(&rd.lock, NULL);
    pthread_cond_init(&rd.done, NULL);
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, take_redirect, &rd, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_NOTIFY_COMPLETED, redirect_done, &rd, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        snprintf(errstr, errlen, "cannot listen on %s for the redirect", hostport);
        err = SW_ERR_UNAVAILABLE;
        goto out;
    }
    if (listening)
        listening(arg); /* only now may the browser be sent to us */
    struct timespec until = wall_deadline((int64_t)timeout_s * 1000);
    pthread_mutex_lock(&rd.lock);
    while (!rd.got)
        if (pthread_cond_timedwait(&rd.done, &rd.lock, &until) != 0)
            break;
    /* Let the page reach the browser before the daemon goes (2 s at most). */
    until = wall_deadline(2000);
    while (rd.got && !rd.answered)
        if (pthread_cond_timedwait(&rd.done, &rd.lock, &until) != 0)
            break;
    pthread_mutex_unlock(&rd.lock);
    MHD_stop_daemon(d);
    if (!rd.got) {
        snprintf(errstr, errlen, "no redirect within %d seconds", timeout_s);
        err = SW_ERR_EXPIRED;
    } else if (rd.error || !rd.code) {
        snprintf(errstr, errlen, "authorization refused: %s", rd.error ? rd.error : "no code");
        err = SW_ERR_REJECTED;
    } else {
        *code = rd.code;
        *state = rd.state;
        rd.code = rd.state = NULL;
    }
out:
    free(rd.code);
    free(rd.state);
    free(rd.error);
    pthread_mutex_destroy(&rd.lock);
    pthread_cond_destroy(&rd.done);
    return err;
}
