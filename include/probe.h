/* probe.h - `schedworker health`: asks a running worker's /readyz (or
 * /healthz) whether it is ready (alive), for container healthchecks and
 * scripts.  Only 127.0.0.1-style local URLs are expected, over plain HTTP
 * (the endpoints carry no secret and bind a private address). */
#ifndef SW_PROBE_H
#define SW_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* The base URL ("http://127.0.0.1:9464") of the endpoints http.listen
 * serves: a wildcard host (0.0.0.0, ::, empty) becomes the loopback
 * address of its family.  false when http.listen is off or not host:port. */
bool probe_base_url(const char *listen, char *out, size_t outlen);

/* GET base + path (timeout_ms at most); the body goes to out.  Returns 0
 * when the answer is 200, else 1 with the reason printed to err (1 is what
 * a Docker HEALTHCHECK must exit with for "unhealthy"; 2 is reserved). */
int probe_get(const char *base, const char *path, int timeout_ms, FILE *out, FILE *err);

#endif
