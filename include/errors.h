/* errors.h - the project's two status words, shared by every module.
 *
 * sw_err says whether a call worked, and why not.  enum res_status is the
 * contract's status of a command's answer (docs/contract.md).  One table
 * (errors.c) gives each sw_err its name, the answer status it stands for
 * when it decides a command's answer, and so whether a retry later may
 * succeed (exactly the failures whose answer is "unavailable"). */
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
    SW_ERR_CAPPED,       /* the command used up its budget of OpenEMR requests */
    SW_ERR__COUNT
} sw_err;

/* The contract's result statuses. */
enum res_status {
    RES_OK,
    RES_INVALID,     /* malformed, or breaks a booking rule */
    RES_NOT_FOUND,   /* no such patient, appointment, hold ... */
    RES_CONFLICT,    /* the time is no longer free */
    RES_REJECTED,    /* a clinic rule or policy forbids it */
    RES_EXPIRED,     /* the deadline passed; nothing done */
    RES_UNAVAILABLE, /* OpenEMR or the fleet cannot answer now; safe to retry */
    RES_ERROR,       /* anything else */
    RES__COUNT
};

/* Stable lower-case machine word for the code ("not_found"). */
const char *sw_err_str(sw_err err);

/* The answer status a failure stands for (SW_OK: RES_OK). */
enum res_status sw_err_status(sw_err err);

/* Whether a later retry may succeed: the failure's status is unavailable
 * (OpenEMR down, slow, rate-limited or refusing the token; Redis down; a
 * lock or lease held elsewhere). */
bool sw_err_is_transient(sw_err err);

/* "ok", "invalid", ... as the contract writes them. */
const char *res_status_str(enum res_status status);

#endif
