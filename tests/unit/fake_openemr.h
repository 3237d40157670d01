/* fake_openemr.h - a scripted OpenEMR on 127.0.0.1 for unit tests of the
 * client (libmicrohttpd, one thread).
 *
 * Each answer is set per method and path (the query is not part of the
 * match; it is recorded): status and body, an empty body for none.  An
 * unscripted path answers 404 with no body, except the token endpoint
 * (POST /oauth2/default/token), which hands out a new access token each
 * time.  Every request is recorded as "METHOD /path?query" with its body,
 * so tests count what the client asked. */
#ifndef SW_FAKE_OPENEMR_H
#define SW_FAKE_OPENEMR_H

#include <stdbool.h>

#define FAKE_OE_MAX_LOG 256

/* Starts the server (once per process); its base URL. */
const char *fake_oe_start(void);
void fake_oe_stop(void);
/* Forgets every answer and the log. */
void fake_oe_reset(void);
/* Answers METHOD path with status and body (NULL: empty). */
void fake_oe_answer(const char *method, const char *path, int status, const char *body);
/* How many requests started with this "METHOD /path" (query included when
 * given). */
int fake_oe_count(const char *prefix);
/* The nth request (0 first) as "METHOD /path?query", or NULL. */
const char *fake_oe_request(int n);
/* The body of the last request starting with prefix, or NULL. */
const char *fake_oe_last_body(const char *prefix);

#endif
