/* http_server.h - the operations endpoints (libmicrohttpd; the only module
 * that includes microhttpd.h).
 *
 *   GET /metrics  Prometheus text 0.0.4 from metrics_render()
 *   GET /healthz  liveness: 200 {"live":true}, or 503 {"live":false,
 *                 "reason":"lane 3 has run one command for ..."} when the
 *                 check says the process is wedged
 *   GET /readyz   200 when every readiness check passes, else 503; the body
 *                 is JSON either way: {"ready":false,"kafka":true,
 *                 "broker":true,"redis":false,"token":true,
 *                 "circuit":"closed","draining":false}, plus "auth":"..."
 *                 in development mode and "token_key":"..." when the token
 *                 key does not open the fleet's token record
 * Anything else is 404 (unknown path) or 405 (a method other than GET/HEAD).
 * The server runs its own thread and binds only the given address. */
#ifndef SW_HTTP_SERVER_H
#define SW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

/* What /readyz reports.  Ready when kafka, broker, redis and token hold,
 * circuit_ok holds, the worker is not draining and token_key is empty. */
struct http_readiness {
    bool kafka;          /* in the consumer group */
    bool broker;         /* a Kafka broker answers */
    bool redis;          /* Redis answered recently */
    bool token;          /* an unexpired OpenEMR token exists */
    const char *circuit; /* "closed", "open", "half-open" or "unknown" (static) */
    bool circuit_ok;     /* false when the circuit's state makes the worker unready */
    bool draining;       /* SIGTERM: finishing in-flight commands, taking no new */
    const char *auth;    /* NULL, or what to say of the command check (development mode) */
    char token_key[160]; /* "", or why this replica's token key does not open the
                            fleet's token record (then not ready) */
};

/* The checks, called from the server's thread on every request (so they
 * must be thread-safe and quick: read flags, no I/O that can block).  A
 * NULL callback counts as passing (ready fills every field true). */
struct http_checks {
    void (*ready)(void *opaque, struct http_readiness *out);
    bool (*live)(void *opaque, char *why, size_t whylen); /* false: why says what hangs */
    void *opaque;
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
