/* oauth_internal.h - what the oauth_*.c files share: a token as issued, and
 * the client of OpenEMR's token endpoint (oauth_endpoint.c) that the fleet
 * refresh protocol (oauth.c) and the one-time commands (oauth_login.c) use.
 *
 * Not a public header: only src/oauth*.c include it.  Cross-file names
 * carry the oa_ prefix. */
#ifndef SW_OAUTH_INTERNAL_H
#define SW_OAUTH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "errors.h"
#include "fleet.h"
#include "http.h"

/* A token as the endpoint issued it (strings malloc'd, secret). */
struct oa_token {
    char *access;
    char *refresh;
    int64_t expires_at; /* epoch seconds */
    int64_t lifetime;   /* seconds, as issued */
    char seed[48];      /* fingerprint of the seed file token used, if any */
};

void oa_secret_free(char *s); /* wipes, then frees (NULL is fine) */
void oa_token_clear(struct oa_token *t);
void oa_token_copy(struct oa_token *dst, const struct oa_token *src);

/* The token endpoint as this client sees it. */
struct oa_endpoint {
    const struct sw_config *cfg;
    struct http_client *http;
    const struct sw_clock *clock; /* expiry times; NULL: system */
    char url[512];                /* .../oauth2/SITE/token */
    char *client_secret;          /* NULL: a public client */
    char *password;               /* password grant only */
    struct fleet *fleet;          /* its limiter counts token requests; NULL: none */
    struct fleet_permit permit;   /* held from oa_endpoint_permit() to the next request's end */
    bool permanent;               /* the last request failed TLS verification */
    char errstr[256];             /* the last failure (no secrets) */
};

/* Fills e from cfg: the token URL and the client secret (left NULL when
 * oauth.client_secret_file is unset or unreadable: the caller decides). */
void oa_endpoint_init(struct oa_endpoint *e, const struct sw_config *cfg, struct http_client *http,
                      const struct sw_clock *clock);
void oa_endpoint_fini(struct oa_endpoint *e);

/* Token requests count against OpenEMR's budget like any other: each one
 * takes a fleet limiter permit at write priority (nothing works without a
 * token), waiting at most openemr.timeout_ms.  oa_endpoint_permit() takes
 * it ahead of the request, for a caller that must know it will be sent
 * before it records so (the refresh spend marker); the next grant or
 * logout uses it and gives it back.  SW_ERR_UNAVAILABLE (nothing sent)
 * when no permit came in time; SW_OK at once without a fleet. */
sw_err oa_endpoint_permit(struct oa_endpoint *e);
void oa_endpoint_permit_release(struct oa_endpoint *e);

/* One grant each: POSTs the form, and on a 200 with an access token fills
 * *out (expiry on e->clock).  Errors (detail in e->errstr): SW_ERR_TOKEN
 * (refused: 4xx), SW_ERR_SERVER (5xx), SW_ERR_BAD_ANSWER, transport errors. */
sw_err oa_grant_refresh(struct oa_endpoint *e, const char *refresh, struct oa_token *out);
sw_err oa_grant_password(struct oa_endpoint *e, struct oa_token *out);
sw_err oa_grant_client_credentials(struct oa_endpoint *e, struct oa_token *out);
sw_err oa_grant_code(struct oa_endpoint *e, const char *code, const char *verifier,
                     struct oa_token *out);

/* Ends the OpenEMR session named by token (access or refresh). */
sw_err oa_logout(struct oa_endpoint *e, const char *token);

#endif
