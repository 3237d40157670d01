/* errors.c - names and result statuses of the project's error codes. */
#include "errors.h"

static const struct {
    const char *name;
    const char *status;
} table[SW_ERR__COUNT] = {
    [SW_OK] = {"ok", "ok"},
    [SW_ERR_INVALID] = {"invalid", "invalid"},
    [SW_ERR_NOT_FOUND] = {"not_found", "not_found"},
    [SW_ERR_CONFLICT] = {"conflict", "conflict"},
    [SW_ERR_REJECTED] = {"rejected", "rejected"},
    [SW_ERR_EXPIRED] = {"expired", "expired"},
    [SW_ERR_UNAVAILABLE] = {"unavailable", "unavailable"},
    [SW_ERR_TOKEN] = {"invalid_token", "unavailable"},
    [SW_ERR_FORBIDDEN] = {"forbidden", "error"},
    [SW_ERR_RATE_LIMITED] = {"rate_limited", "unavailable"},
    [SW_ERR_SERVER] = {"server_error", "unavailable"},
    [SW_ERR_TIMEOUT] = {"timeout", "unavailable"},
    [SW_ERR_CONNECT] = {"connect_failed", "unavailable"},
    [SW_ERR_BAD_ANSWER] = {"bad_answer", "error"},
    [SW_ERR_REDIS] = {"redis_unavailable", "unavailable"},
    [SW_ERR_KAFKA] = {"kafka_error", "error"},
    [SW_ERR_CONFIG] = {"config_error", "error"},
    [SW_ERR_NOMEM] = {"out_of_memory", "error"},
    [SW_ERR_BUSY] = {"busy", "unavailable"},
    [SW_ERR_INTERNAL] = {"internal_error", "error"},
};

const char *sw_err_str(sw_err err)
{
    if ((unsigned)err >= SW_ERR__COUNT)
        return "unknown_error";
    return table[err].name;
}

const char *sw_err_status(sw_err err)
{
    if ((unsigned)err >= SW_ERR__COUNT)
        return "error";
    return table[err].status;
}

bool sw_err_is_transient(sw_err err)
{
    switch (err) {
    case SW_ERR_RATE_LIMITED:
    case SW_ERR_SERVER:
    case SW_ERR_TIMEOUT:
    case SW_ERR_CONNECT:
    case SW_ERR_UNAVAILABLE:
        return true;
    default:
        return false;
    }
}
