/* http_server.h - the operations endpoints (libmicrohttpd; the only module
 * that includes microhttpd.h).
 *
 *   GET /metrics  Prometheus text 0.0.4 from metrics_render()
 *   GET /healthz  200 "ok\n" while the process runs
 *   GET /readyz   200 when every readiness check passes, else 503; the body
 *                 is JSON either way: {"ready":false,"kafka":true,
 *                 "redis":false,"token":true}, plus any notes the checks
 *                 add ("auth":"...", "token_key":"...")
 * Anything else is 404 (unknown path) or 405 (a method other than GET/HEAD).
 * The server runs its own thread and binds only the given address. */
#ifndef SW_HTTP_SERVER_H
#define SW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

/* Readiness checks, called from the server's thread on every /readyz (so
 * they must be thread-safe and quick: read a flag, do not do I/O that can
 * block for long).  A NULL callback counts as passing. */
struct http_checks {
    bool (*kafka_joined)(void *opaque); /* the consumer has its assignment */
    bool (*redis_ok)(void *opaque);     /* Redis answered recently */
    bool (*token_valid)(void *opaque);  /* an unexpired OpenEMR token exists */
    void *opaque;
    /* Optional: more members for the body, as JSON text without braces
     * (`"auth":"development mode"`), written into buf (a few hundred
     * bytes); returns false when they make the replica not ready. */
    bool (*notes)(void *opaque, char *buf, size_t len);
};

struct http_server;

/* Starts serving on listen ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:0";
 * port 0 picks a free port).  listen NULL or "" means off: SW_OK with
 * *out = NULL.  checks is copied (NULL: every check passes).  On failure
 * SW_ERR_CONFIG (bad address) or SW_ERR_UNAVAILABLE (cannot bind) with a
 * message in errstr.  Stop with http_server_stop(). */
sw_err http_server_start(const char *listen, const struct http_checks *checks,
                         struct http_server **out, char *errstr, size_t errlen);

/* The port actually bound (useful after port 0); 0 for NULL. */
int http_server_port(const struct http_server *srv);

/* Stops the thread, closes the socket, frees srv.  Accepts NULL. */
void http_server_stop(struct http_server *srv);

/* `schedworker auth login`: listens once on the loopback address and path
 * of redirect_uri ("http://127.0.0.1:8765/callback") until the browser is
 * redirected there or timeout_s passes; listening(arg) is called once the
 * port is open (to show the authorize URL only then); *code and *state
 * malloc'd. */
sw_err http_await_redirect(const char *redirect_uri, int timeout_s, void (*listening)(void *),
                           void *arg, char **code, char **state, char *errstr, size_t errlen);

#endif
