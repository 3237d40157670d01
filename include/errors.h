/* errors.h - the project's one error code, shared by every module. */
#ifndef SW_ERRORS_H
#define SW_ERRORS_H

#include <stdbool.h>

typedef enum sw_err {
    SW_OK = 0,
    SW_ERR_INVALID,      /* malformed input or a broken booking rule */
    SW_ERR_NOT_FOUND,    /* the thing asked for does not exist */
    SW_ERR_CONFLICT,     /* the time is no longer free */
    SW_ERR_REJECTED,     /* a clinic rule forbids it (notice, window, auth) */
    SW_ERR_EXPIRED,      /* the command's deadline passed */
    SW_ERR_UNAVAILABLE,  /* OpenEMR down / circuit open; safe to retry */
    SW_ERR_TOKEN,        /* OpenEMR said the token is invalid (401) */
    SW_ERR_FORBIDDEN,    /* OpenEMR said 403 */
    SW_ERR_RATE_LIMITED, /* 429 (retry_after on the response) */
    SW_ERR_SERVER,       /* OpenEMR 5xx */
    SW_ERR_TIMEOUT,      /* connect or total timeout */
    SW_ERR_CONNECT,      /* connection refused / reset / TLS failure */
    SW_ERR_BAD_ANSWER,   /* OpenEMR answered with an unexpected shape */
    SW_ERR_REDIS,        /* Redis unreachable or answered an error */
    SW_ERR_KAFKA,        /* Kafka client error */
    SW_ERR_CONFIG,       /* configuration error */
    SW_ERR_NOMEM,        /* allocation failed */
    SW_ERR_BUSY,         /* a lock or lease is held by someone else */
    SW_ERR_INTERNAL,     /* a bug or an unexpected state */
    SW_ERR__COUNT
} sw_err;

/* Stable lower-case machine word for the code ("not_found"). */
const char *sw_err_str(sw_err err);

/* The contract's result status for an error ("conflict", "unavailable",
 * "error", ...). SW_OK maps to "ok". */
const char *sw_err_status(sw_err err);

/* True for failures where repeating an idempotent request may succeed. */
bool sw_err_is_transient(sw_err err);

#endif
