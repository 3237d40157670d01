/* dispatch.c - from a Kafka message to exactly one published result.
 *
 * size check -> parse -> topic check -> deadline -> idempotency ->
 * handler -> stored result -> outbox (result, audit, events, dead letter). */
#include "worker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "events.h"
#include "metrics.h"
#include "log.h"

static const handler_fn handlers[CMD__COUNT] = {
    [CMD_SEARCH_SLOTS] = handle_search_slots,
    [CMD_FIND_PATIENT] = handle_find_patient,
    [CMD_LIST_APPOINTMENTS] = handle_list_appointments,
    [CMD_HOLD] = handle_hold,
    [CMD_RELEASE_HOLD] = handle_release_hold,
    [CMD_BOOK] = handle_book,
    [CMD_RESCHEDULE] = handle_reschedule,
    [CMD_JOIN_WAITLIST] = handle_join_waitlist,
    [CMD_CANCEL] = handle_cancel,
    [CMD_LEAVE_WAITLIST] = handle_leave_waitlist,
};

/* Takeovers of one command after which it is dead-lettered as poison. */
#define POISON_TAKEOVERS 3
/* Time a command may take when it names no deadline. */
#define DEFAULT_BUDGET_MS 15000

int64_t worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t worker_random(struct worker *w)
{
    /* xorshift64*: fast, per lane, seeded from getrandom(). */
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
    call.deadline_ms = c->deadline_ms ? c->deadline_ms : worker_now_ms() + DEFAULT_BUDGET_MS;
    call.prio = cmd_type_is_write(c->type) ? FLEET_PRIO_WRITE : FLEET_PRIO_READ;
    call.request_id = c->request_id;
    (void)w;
    return call;
}

void worker_fail_openemr(struct result *r, sw_err err, const struct oe_call *call)
{
    switch (err) {
    case SW_ERR_EXPIRED:
        result_fail(r, SW_ERR_UNAVAILABLE, "deadline",
                    "The scheduling system did not answer in time; nothing was changed.");
        break;
    case SW_ERR_NOT_FOUND:
        result_fail(r, SW_ERR_NOT_FOUND, NULL, "No such record.");
        break;
    case SW_ERR_BAD_ANSWER:
        result_fail(r, SW_ERR_INTERNAL, "bad_answer",
                    "The scheduling system gave an answer the worker does not understand.");
        break;
    default:
        if (sw_err_status(err)[0] == 'u' || err == SW_ERR_BUSY)
            result_fail(r, SW_ERR_UNAVAILABLE, sw_err_str(err),
                        "The scheduling system is unavailable right now; please try again.");
        else
            result_fail(r, err, sw_err_str(err), "The scheduling system refused the request.");
    }
    if (call && call->detail[0])
        log_warn("dispatch", "openemr: %s: %s", sw_err_str(err), call->detail);
}

/* ---- lanes ----------------------------------------------------------------- */

static void audit_hook(void *opaque, const struct oe_audit *rec)
{
    struct worker *w = opaque;
    if (!w->out)
        return;
    struct audit_fields a = {
        .method = rec->method,
        .route = rec->route,
        .patient_id = rec->patient_id,
        .request_id = rec->request_id,
        .topic = w->in ? w->in->topic : NULL,
        .partition = w->in ? w->in->partition : 0,
        .offset = w->in ? w->in->offset : -1,
        .http_status = rec->http_status,
        .error_code = rec->outcome == SW_OK ? NULL : sw_err_str(rec->outcome),
        .at_ms = rec->at_ms,
        .duration_ms = -1,
    };
    char *text = audit_build(w->cfg, &a);
    if (!text || !outbox_add(w->out, w->cfg->topic_audit, rec->patient_id, text, strlen(text)))
        log_error("dispatch", "audit record for %s %s could not be queued", rec->method,
                  rec->route);
    free(text);
}

/* Connects what is missing (Redis may be down at start or come back). */
static bool worker_connect(struct worker *w)
{
    char err[256];
    if (!w->fleet && fleet_new(w->cfg, &w->fleet, err, sizeof(err)) != SW_OK) {
        log_warn("dispatch", "redis: %s", err);
        w->fleet = NULL;
        return false;
    }
    if (!w->oe &&
        oe_client_new(w->cfg, w->fleet, audit_hook, w, &w->oe, err, sizeof(err)) != SW_OK) {
        log_error("dispatch", "openemr client: %s", err);
        w->oe = NULL;
        return false;
    }
    return true;
}

void *dispatch_lane_init(void *opaque, int lane)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->shared = opaque;
    w->cfg = w->shared->cfg;
    w->lane = lane;
    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || !w->rng)
        w->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)worker_now_ms() ^ (uint64_t)lane;
    worker_connect(w);
    return w;
}

void dispatch_lane_fini(void *lane_state)
{
    struct worker *w = lane_state;
    if (!w)
        return;
    oe_client_destroy(w->oe);
    fleet_destroy(w->fleet);
    free(w);
}

/* ---- output ---------------------------------------------------------------- */

static void record_command(struct worker *w, const char *type, const char *status);

static const char *reply_topic(const struct worker *w, const char *body_reply_to)
{
    if (body_reply_to && body_reply_to[0])
        return body_reply_to;
    if (w->in->reply_to[0])
        return w->in->reply_to;
    return w->cfg->topic_results;
}

static void publish_result(struct worker *w, struct outbox *out, const char *topic, const char *key,
                           const char *request_id, const char *json)
{
    if (!outbox_add(out, topic, key, json, strlen(json))) {
        log_error("dispatch", "outbox full: result not queued");
        return;
    }
    outbox_header(out, "request_id", request_id);
    if (w->in->correlation_id[0])
        outbox_header(out, "correlation_id", w->in->correlation_id);
}

static void dead_letter(struct worker *w, struct outbox *out, const char *code, const char *reason)
{
    const struct kmsg *in = w->in;
    char key[256] = "", num[32], when[40];
    if (in->key_len)
        snprintf(key, sizeof(key), "%.*s", (int)(in->key_len < 255 ? in->key_len : 255), in->key);
    if (!outbox_add(out, w->cfg->topic_dlq, in->key_len ? key : NULL, in->value, in->len)) {
        log_error("dispatch", "outbox full: dead letter not queued");
        return;
    }
    outbox_header(out, "dlq_reason_code", code);
    outbox_header(out, "dlq_reason", reason);
    outbox_header(out, "dlq_source_topic", in->topic);
    snprintf(num, sizeof(num), "%d", in->partition);
    outbox_header(out, "dlq_source_partition", num);
    snprintf(num, sizeof(num), "%lld", (long long)in->offset);
    outbox_header(out, "dlq_source_offset", num);
    format_time(worker_now_ms() / 1000, when, sizeof(when));
    outbox_header(out, "dlq_time", when);
    metrics_dead_letter(code);
    log_warn("dispatch", "dead letter: %s: %s", code, reason);
}

/* A message that is not a usable command: dead letter, and an invalid
 * result when we know whom to answer. */
static void reject_message(struct worker *w, struct outbox *out, struct cmd_parse_error *err)
{
    dead_letter(w, out, err->code, err->message);
    if (!err->have_request_id && w->in->request_id[0]) {
        err->have_request_id = true;
        snprintf(err->request_id, sizeof(err->request_id), "%s", w->in->request_id);
    }
    if (!err->have_request_id)
        return;
    char *json = result_serialize_parse_error(err, worker_now_ms());
    if (json)
        publish_result(w, out, reply_topic(w, err->reply_to), err->request_id, err->request_id,
                       json);
    free(json);
    record_command(w, err->type, "invalid");
}

/* An unsigned or wrongly signed write: a dead letter, and a `rejected`
 * result if the request_id can be read (parsing has no side effect). */
static void reject_unauthorized(struct worker *w, struct outbox *out, struct cmd_parse_error *perr)
{
    struct command cmd;
    struct cmd_parse_error ignored;
    dead_letter(w, out, perr->code, perr->message);
    log_warn("dispatch", "unauthorized write command from producer \"%.60s\"", w->in->producer);
    bool parsed = w->in->len <= (size_t)w->cfg->max_message_bytes &&
                  command_parse(w->in->value, w->in->len, &cmd, &ignored) == SW_OK;
    if (!parsed)
        return; /* no type to answer with: the dead letter says it all */
    const char *rid = cmd.request_id;
    struct result r;
    result_init(&r, &cmd);
    result_fail(&r, SW_ERR_REJECTED, "unauthorized", "%s", perr->message);
    r.processed_at_ms = worker_now_ms();
    char *json = result_serialize(&r);
    if (json)
        publish_result(w, out, reply_topic(w, cmd.reply_to), rid, rid, json);
    record_command(w, cmd_type_name(cmd.type), "rejected");
    free(json);
    result_clear(&r);
}

static const char *topic_of(const struct sw_config *cfg, enum cmd_type t)
{
    switch (cmd_type_topic(t)) {
    case CMD_TOPIC_SEARCH:
        return cfg->topic_search;
    case CMD_TOPIC_BOOK:
        return cfg->topic_book;
    case CMD_TOPIC_CANCEL:
        return cfg->topic_cancel;
    }
    return "";
}

/* End-to-end latency: from the message's Kafka timestamp to its result. */
static void record_command(struct worker *w, const char *type, const char *status)
{
    int64_t now = worker_now_ms();
    int64_t since =
        w->in->timestamp_ms > 0 && w->in->timestamp_ms <= now ? w->in->timestamp_ms : now;
    metrics_command(type, status, (double)(now - since) / 1000.0);
}

/* Write topics take only commands signed by a producer the config names
 * (HMAC over the exact bytes), checked before anything else is read. */
static bool authorized(struct worker *w, struct cmd_parse_error *perr)
{
    const struct sw_config *cfg = w->cfg;
    if (!cfg->auth_require_signed_writes || (strcmp(w->in->topic, cfg->topic_book) != 0 &&
                                             strcmp(w->in->topic, cfg->topic_cancel) != 0))
        return true;
    char reason[160];
    if (auth_verify(w->shared->keys, w->in->producer[0] ? w->in->producer : NULL,
                    w->in->signature[0] ? w->in->signature : NULL, w->in->value, w->in->len, reason,
                    sizeof(reason)) == SW_OK)
        return true;
    memset(perr, 0, sizeof(*perr));
    snprintf(perr->code, sizeof(perr->code), "unauthorized");
    snprintf(perr->message, sizeof(perr->message), "command rejected: %s", reason);
    return false;
}

static void finish(struct worker *w, struct outbox *out, const struct command *c, struct result *r,
                   bool store)
{
    r->processed_at_ms = worker_now_ms();
    char *json = result_serialize(r);
    if (!json) {
        log_error("dispatch", "result could not be serialized");
        result_fail(r, SW_ERR_INTERNAL, "internal_error", "The worker failed to answer.");
        json = result_serialize(r);
        if (!json)
            return;
    }
    /* "unavailable" promises that a retry with the same request_id is safe
     * and may succeed: it is not stored.  If nothing was attempted the lease
     * is dropped; after an attempted write it is left to expire, so the retry
     * takes over with the note and reconciles instead of writing twice. */
    if (store && w->fleet) {
        sw_err err = SW_OK;
        if (r->status == SW_ERR_UNAVAILABLE && !r->write_attempted)
            err = fleet_idem_abandon(w->fleet, c->request_id, w->cfg->worker_id);
        else if (r->status != SW_ERR_UNAVAILABLE)
            err = fleet_idem_finish(w->fleet, c->request_id, w->cfg->worker_id, json,
                                    w->cfg->idempotency_ttl_s);
        if (err)
            log_error("dispatch", "idempotency record not updated: %s", fleet_errstr(w->fleet));
    }
    publish_result(w, out, reply_topic(w, c->reply_to),
                   c->session_id[0] ? c->session_id : c->request_id, c->request_id, json);
    log_debug("dispatch", "%s -> %s", cmd_type_name(c->type), sw_err_status(r->status));
    free(json);
    record_command(w, cmd_type_name(c->type), sw_err_status(r->status));
}

enum handler_outcome dispatch_handle(void *lane_state, const struct kmsg *in, int attempt,
                                     struct outbox *out)
{
    struct worker *w = lane_state;
    const struct sw_config *cfg = w->cfg;
    struct command cmd;
    struct cmd_parse_error perr;
    struct result res;
    enum handler_outcome outcome = HANDLER_DONE;
    char *stored = NULL, *note = NULL;

    w->in = in;
    w->out = out;
    result_init(&res, NULL);

    if (!authorized(w, &perr)) {
        reject_unauthorized(w, out, &perr);
        goto out;
    }
    if (in->len > (size_t)cfg->max_message_bytes) {
        memset(&perr, 0, sizeof(perr));
        snprintf(perr.code, sizeof(perr.code), "too_large");
        snprintf(perr.message, sizeof(perr.message),
                 "message of %zu bytes is larger than the limit of %d bytes", in->len,
                 cfg->max_message_bytes);
        reject_message(w, out, &perr);
        goto out;
    }
    if (command_parse(in->value, in->len, &cmd, &perr) != SW_OK) {
        reject_message(w, out, &perr);
        goto out;
    }
    sw_log_set_context(in->topic, in->partition, in->offset, cmd.request_id);
    if (strcmp(in->topic, topic_of(cfg, cmd.type)) != 0) {
        snprintf(perr.code, sizeof(perr.code), "wrong_topic");
        snprintf(perr.message, sizeof(perr.message), "%s commands belong on %s, not %s",
                 cmd_type_name(cmd.type), topic_of(cfg, cmd.type), in->topic);
        reject_message(w, out, &perr);
        goto out;
    }
    result_init(&res, &cmd);
    if (cmd.deadline_ms && worker_now_ms() > cmd.deadline_ms) {
        result_fail(&res, SW_ERR_EXPIRED, "deadline_passed",
                    "The request arrived after its deadline; nothing was done.");
        finish(w, out, &cmd, &res, false);
        goto out;
    }
    if (!worker_connect(w)) {
        outcome = HANDLER_RETRY; /* no idempotency without Redis: wait */
        goto out;
    }

    enum fleet_idem_state state;
    if (fleet_idem_begin(w->fleet, cmd.request_id, cfg->worker_id, cfg->idempotency_lease_s, &state,
                         &stored, &note) != SW_OK) {
        log_warn("dispatch", "redis: %s", fleet_errstr(w->fleet));
        metrics_redis_error();
        outcome = HANDLER_RETRY;
        goto out;
    }
    if (state == FLEET_IDEM_DONE) {
        log_info("dispatch", "duplicate request_id: answering with the stored result");
        record_command(w, cmd_type_name(cmd.type), "duplicate");
        publish_result(w, out, reply_topic(w, cmd.reply_to),
                       cmd.session_id[0] ? cmd.session_id : cmd.request_id, cmd.request_id, stored);
        goto out;
    }
    if (state == FLEET_IDEM_BUSY) {
        outcome = HANDLER_RETRY; /* another replica is on it: wait for its result */
        goto out;
    }
    /* Every earlier holder died or hung on this command: it is a poison
     * message (it may crash the worker).  Bounded: dead-letter it and
     * answer, rather than take the next replica down too. */
    if (state == FLEET_IDEM_TAKEOVER && fleet_idem_takeovers(w->fleet) > POISON_TAKEOVERS) {
        dead_letter(w, out, "poison",
                    "the command was taken over too often: its handlers kept dying");
        result_fail(&res, SW_ERR_INTERNAL, "poison_message",
                    "The worker could not process this request; it was set aside for the "
                    "operators.");
        res.write_attempted = note != NULL;
        finish(w, out, &cmd, &res, true);
        goto out;
    }
    sw_err err = handlers[cmd.type](w, &cmd, &res, state == FLEET_IDEM_TAKEOVER ? note : NULL);
    if (err == SW_ERR_REDIS || err == SW_ERR_BUSY) {
        /* Redis trouble before any side effect, or our lease was taken
         * over meanwhile: let go and run again (a duplicate then gets the
         * other holder's result). */
        fleet_idem_abandon(w->fleet, cmd.request_id, cfg->worker_id);
        outcome = HANDLER_RETRY;
        goto out;
    }
    if (err != SW_OK && res.status == SW_OK) {
        /* A handler failed without saying how: never answer "ok" for it. */
        result_clear(&res);
        result_fail(&res, SW_ERR_INTERNAL, sw_err_str(err),
                    "The worker failed to process the request.");
    }
    finish(w, out, &cmd, &res, true);
out:
    result_clear(&res);
    free(stored);
    free(note);
    w->out = NULL;
    if (outcome == HANDLER_RETRY) {
        outbox_clear(out);
        if (attempt >= 20 && attempt % 20 == 0)
            log_warn("dispatch", "still waiting after %d attempts", attempt);
    }
    return outcome;
}
