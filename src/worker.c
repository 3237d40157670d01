/* worker.c - the handlers' context helpers (worker.h). */
#include "worker.h"

#include <string.h>

#include "log.h"

/* Time a command may take when it names no deadline. */
#define DEFAULT_BUDGET_MS 15000
/* How often a waiting lock is tried again. */
#define LOCK_POLL_MS 20

enum outcome worker_outcome(struct result *r, sw_err err)
{
    if (err == SW_ERR_REDIS || err == SW_ERR_BUSY)
        return OUTCOME_RETRY;
    if (err != SW_OK && r->status == RES_OK)
        result_fail(r, RES_ERROR, sw_err_str(err), "The worker failed to process the request.");
    return OUTCOME_ANSWER;
}

int64_t worker_now_ms(const struct worker *w)
{
    return clock_now_ms(w->clock);
}

int64_t worker_now_s(const struct worker *w)
{
    return clock_now_s(w->clock);
}

uint64_t worker_random(struct worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 2685821657736338717ULL;
}

struct oe_call worker_call(const struct worker *w, const struct command *c)
{
    struct oe_call call;
    memset(&call, 0, sizeof(call));
    call.deadline_ms = c->deadline_ms ? c->deadline_ms : worker_now_ms(w) + DEFAULT_BUDGET_MS;
    call.prio = cmd_type_is_write(c->type) ? FLEET_PRIO_WRITE : FLEET_PRIO_READ;
    call.request_id = c->request_id;
    return call;
}

void worker_fail_emr(struct result *r, sw_err err, const struct oe_call *call)
{
    switch (err) {
    case SW_ERR_EXPIRED:
        result_fail(r, RES_UNAVAILABLE, "deadline",
                    "The scheduling system did not answer in time; nothing was changed.");
        break;
    case SW_ERR_NOT_FOUND:
        result_fail(r, RES_NOT_FOUND, "not_found", "No such record.");
        break;
    case SW_ERR_BAD_ANSWER:
        result_fail(r, RES_ERROR, "bad_answer",
                    "The scheduling system gave an answer the worker does not understand.");
        break;
    default:
        if (sw_err_is_transient(err))
            result_fail(r, RES_UNAVAILABLE, sw_err_str(err),
                        "The scheduling system is unavailable right now; please try again.");
        else
            result_fail_err(r, err, "The scheduling system refused the request.");
    }
    if (call && call->detail[0])
        log_warn("worker", "openemr: %s: %s", sw_err_str(err), call->detail);
}

sw_err worker_lock_wait(const struct worker *w, const struct oe_call *call, const char *name,
                        const char *owner, int ttl_ms)
{
    for (;;) {
        sw_err err = store_lock(&w->store, name, owner, ttl_ms);
        if (err != SW_ERR_BUSY)
            return err;
        if (worker_now_ms(w) + LOCK_POLL_MS > call->deadline_ms)
            return SW_ERR_EXPIRED;
        clock_sleep_ms(w->clock, LOCK_POLL_MS);
    }
}
