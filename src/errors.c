/* errors.c - the one table of the project's error codes (errors.h). */
#include "errors.h"

static const struct {
    const char *name;
    enum res_status status;
} table[SW_ERR__COUNT] = {
    [SW_OK] = {"ok", RES_OK},
    [SW_ERR_INVALID] = {"invalid", RES_INVALID},
    [SW_ERR_NOT_FOUND] = {"not_found", RES_NOT_FOUND},
    [SW_ERR_CONFLICT] = {"conflict", RES_CONFLICT},
    [SW_ERR_REJECTED] = {"rejected", RES_REJECTED},
    [SW_ERR_EXPIRED] = {"expired", RES_EXPIRED},
    [SW_ERR_UNAVAILABLE] = {"unavailable", RES_UNAVAILABLE},
    [SW_ERR_TOKEN] = {"invalid_token", RES_UNAVAILABLE},
    [SW_ERR_FORBIDDEN] = {"forbidden", RES_ERROR},
    [SW_ERR_RATE_LIMITED] = {"rate_limited", RES_UNAVAILABLE},
    [SW_ERR_SERVER] = {"server_error", RES_UNAVAILABLE},
    [SW_ERR_TIMEOUT] = {"timeout", RES_UNAVAILABLE},
    [SW_ERR_CONNECT] = {"connect_failed", RES_UNAVAILABLE},
    [SW_ERR_BAD_ANSWER] = {"bad_answer", RES_ERROR},
    [SW_ERR_REDIS] = {"redis_unavailable", RES_UNAVAILABLE},
    [SW_ERR_KAFKA] = {"kafka_error", RES_ERROR},
    [SW_ERR_CONFIG] = {"config_error", RES_ERROR},
    [SW_ERR_NOMEM] = {"out_of_memory", RES_ERROR},
    [SW_ERR_BUSY] = {"busy", RES_UNAVAILABLE},
    [SW_ERR_INTERNAL] = {"internal_error", RES_ERROR},
    [SW_ERR_CAPPED] = {"request_cap", RES_ERROR},
};

const char *sw_err_str(sw_err err)
{
    if ((unsigned)err >= SW_ERR__COUNT)
        return "unknown_error";
    return table[err].name;
}

enum res_status sw_err_status(sw_err err)
{
    if ((unsigned)err >= SW_ERR__COUNT)
        return RES_ERROR;
    return table[err].status;
}

bool sw_err_is_transient(sw_err err)
{
    return err != SW_OK && sw_err_status(err) == RES_UNAVAILABLE;
}

const char *res_status_str(enum res_status status)
{
    static const char *const names[RES__COUNT] = {
        [RES_OK] = "ok",
        [RES_INVALID] = "invalid",
        [RES_NOT_FOUND] = "not_found",
        [RES_CONFLICT] = "conflict",
        [RES_REJECTED] = "rejected",
        [RES_EXPIRED] = "expired",
        [RES_UNAVAILABLE] = "unavailable",
        [RES_ERROR] = "error",
    };
    return (unsigned)status < RES__COUNT ? names[status] : "error";
}
