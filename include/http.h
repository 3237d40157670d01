/* http.h - the HTTP client to OpenEMR; the only module that uses libcurl.
 *
 * One http_client = one CURL easy handle, so connections are reused
 * (keep-alive) across requests.  Not thread-safe: one per thread.
 * TLS 1.2 at least, peer and host verification always on, a CA file and
 * an optional public-key pin from the config; http:// is refused unless
 * openemr.allow_insecure_http is set.  Answers larger than
 * openemr.max_response_bytes are cut off (SW_ERR_BAD_ANSWER). */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "errors.h"

struct http_client;

struct http_response {
    long status; /* HTTP status; 0 when nothing came back */
    char *body;  /* NUL-terminated, malloc'd (may be ""); free with http_response_free */
    size_t len;
    int retry_after_s; /* from a Retry-After header (seconds or HTTP date), else 0 */
    bool tls_refused;  /* certificate or pin verification failed: retrying cannot help */
};

struct http_request {
    const char *method;     /* "GET", "POST", "PUT", "DELETE" */
    const char *url;        /* absolute */
    const char *bearer;     /* access token or NULL */
    const char *basic_user; /* HTTP basic auth (client_secret_basic) or NULL */
    const char *basic_pass;
    const char *content_type; /* of body; NULL with no body */
    const char *body;
    size_t body_len;
    int timeout_ms; /* 0: openemr.timeout_ms; else the smaller of both */
};

sw_err http_client_new(const struct sw_config *cfg, struct http_client **out, char *errstr,
                       size_t errlen);
void http_client_destroy(struct http_client *h);

/* Performs one request.  SW_OK when an answer came back (whatever its
 * status: classify it with http_status_err()); SW_ERR_TIMEOUT,
 * SW_ERR_CONNECT (refused, reset, TLS or certificate failure),
 * SW_ERR_BAD_ANSWER (answer too large), SW_ERR_CONFIG (URL refused:
 * plain http not allowed).  resp is always initialised; free it. */
sw_err http_perform(struct http_client *h, const struct http_request *req,
                    struct http_response *resp, char *errstr, size_t errlen);
void http_response_free(struct http_response *resp);

/* The project's error for an HTTP status: 2xx SW_OK, 400/422 INVALID,
 * 401 TOKEN, 403 FORBIDDEN, 404/410 NOT_FOUND, 409/412 CONFLICT,
 * 429 RATE_LIMITED, 5xx SERVER, anything else BAD_ANSWER. */
sw_err http_status_err(long status);

/* Whether the URL may be used under this config (https, or http when
 * allowed). */
bool http_url_allowed(const struct sw_config *cfg, const char *url);

/* Percent-encodes s for a query value or form field; malloc'd. */
char *http_escape(const char *s);
/* Percent-decodes s (a "%00" is refused: NULL); malloc'd, or NULL. */
char *http_unescape(const char *s);

/* An absolute URL taken apart by libcurl's URL parser, any scheme
 * ("redis://user:p%40ss@[::1]:6380/2"): user, password and path are
 * percent-decoded, the host has no IPv6 brackets.  Absent parts are NULL
 * (port 0); path is at least "/".  Not for unix:// paths (no host). */
struct http_url {
    char *scheme, *user, *password, *host, *path, *query;
    int port;
};
sw_err http_url_parse(const char *url, struct http_url *out, char *errstr, size_t errlen);
void http_url_free(struct http_url *u);

#endif
