/* worker.c - the handlers' context helpers (worker.h). */
#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"

/* Time a command may take when it names no deadline. */
#define DEFAULT_BUDGET_MS 15000
/* How often a waiting lock is tried again. */
#define LOCK_POLL_MS 20

enum outcome worker_outcome(struct result *r, sw_err err)
{
    if (err == SW_ERR_REDIS || err == SW_ERR_BUSY)
        return OUTCOME_RETRY;
    if (err == SW_ERR_CAPPED) {
        result_fail(r, RES_ERROR, "request_cap",
                    "The request needed more of the scheduling system than one command may use.");
        return OUTCOME_ANSWER;
    }
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
    call.requests_left = w->requests_left;
    return call;
}

static sw_err cover_check(void *ctx)
{
    struct write_cover *cv = ctx;
    const struct worker *w = cv->w;
    int64_t now = clock_mono_ms(w->clock);
    if (cv->checked_mono_ms && now - cv->checked_mono_ms <= w->cfg->write_margin_ms / 4)
        return SW_OK;
    sw_err err =
        store_guard(&w->store, cv->c->request_id, w->owner, w->fence,
                    w->cfg->openemr_timeout_ms + w->cfg->write_margin_ms, cv->locks, cv->n_locks);
    if (err == SW_ERR_BUSY)
        log_warn("worker", "lease of %s lost before a write: the write is not sent",
                 cv->c->request_id);
    cv->checked_mono_ms = err ? 0 : clock_mono_ms(w->clock);
    return err;
}

/* test.pause_after_guard_ms: whether this write of c pauses.  Only a
 * command's first attempt (fence 1), and only once per command in this
 * process: an attempt that lost its lease in the pause lets go of the
 * record (fence 1 again next time), and pausing again would never write. */
static bool test_pause_applies(const struct worker *w, const struct command *c)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char paused[64][sizeof(c->request_id)];
    static unsigned next;
    const char *match = w->cfg->test_pause_after_guard_match;
    if (w->cfg->test_pause_after_guard_ms <= 0 || w->fence != 1 ||
        (match && *match && !strstr(c->request_id, match)))
        return false;
    bool first = true;
    pthread_mutex_lock(&mu);
    for (unsigned i = 0; i < 64 && first; i++)
        first = strcmp(paused[i], c->request_id) != 0;
    if (first)
        snprintf(paused[next++ % 64], sizeof(paused[0]), "%s", c->request_id);
    pthread_mutex_unlock(&mu);
    return first;
}

struct oe_call worker_write_call(const struct worker *w, const struct command *c,
                                 struct write_cover *cover, const char *const *locks,
                                 size_t n_locks)
{
    struct oe_call call = worker_call(w, c);
    memset(cover, 0, sizeof(*cover));
    cover->w = w;
    cover->c = c;
    for (size_t i = 0; i < n_locks && i < 2; i++)
        cover->locks[cover->n_locks++] = locks[i];
    call.before_send = cover_check;
    call.before_send_ctx = cover;
    /* The test knob freezes a first attempt after its guard, so that
     * another attempt overtakes it and writes. */
    if (test_pause_applies(w, c))
        call.test_pause_ms = w->cfg->test_pause_after_guard_ms;
    return call;
}

sw_err worker_note(const struct worker *w, const struct command *c, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return SW_ERR_NOMEM;
    sw_err err =
        store_idem_note(&w->store, c->request_id, w->owner, text, w->cfg->idempotency_lease_s);
    free(text);
    return err;
}

bool worker_write_unapplied(sw_err err)
{
    return err != SW_ERR_TIMEOUT && err != SW_ERR_SERVER && err != SW_ERR_BAD_ANSWER;
}

sw_err worker_keep_lease(const struct worker *w, const struct command *c)
{
    return store_idem_note(&w->store, c->request_id, w->owner, NULL, w->cfg->idempotency_lease_s);
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
                        int ttl_ms)
{
    int64_t renewed = clock_mono_ms(w->clock);
    for (;;) {
        sw_err err = store_lock(&w->store, name, w->owner, ttl_ms);
        if (err != SW_ERR_BUSY)
            return err;
        if (worker_now_ms(w) + LOCK_POLL_MS > call->deadline_ms)
            return SW_ERR_EXPIRED;
        clock_sleep_ms(w->clock, LOCK_POLL_MS);
        /* a long wait must not let the command's lease run out under us */
        if (call->request_id && clock_mono_ms(w->clock) - renewed > 1000) {
            err = store_idem_note(&w->store, call->request_id, w->owner, NULL,
                                  w->cfg->idempotency_lease_s);
            if (err)
                return err;
            renewed = clock_mono_ms(w->clock);
        }
    }
}

void worker_audit_background(const struct sw_config *cfg, struct kafka *kafka,
                             const struct oe_audit *rec, const char *mod)
{
    if (!kafka)
        return;
    struct audit_fields a = {.method = rec->method,
                             .route = rec->route,
                             .patient_id = rec->patient_id,
                             .offset = -1,
                             .http_status = rec->http_status,
                             .error_code = rec->outcome == SW_OK ? NULL : sw_err_str(rec->outcome),
                             .at_ms = rec->at_ms,
                             .duration_ms = -1};
    char *text = audit_build(cfg, &a);
    struct outbox out = {0};
    if (text && outbox_add(&out, cfg->topic_audit, rec->patient_id, text, strlen(text)))
        for (int i = 0; i < out.n; i++)
            kafka_produce(kafka, &out.items[i]); /* takes the strings */
    else
        log_error(mod, "audit record could not be queued");
    outbox_clear(&out);
    free(text);
}
