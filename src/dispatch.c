/* dispatch.c - from a Kafka message to exactly one published result.
 *
 * signature -> size check -> parse -> topic check -> deadline -> ids ->
 * replay guard and idempotency (one round trip) -> handler -> stored
 * result -> outbox (result, audit, events, dead letter, ledger). */
#include "dispatch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "canon.h"
#include "events.h"
#include "handlers.h"
#include "ledger.h"
#include "metrics.h"
#include "log.h"
#include "openemr.h"
#include "store.h"
#include "worker.h"

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

/* What one lane (handler thread) owns: its connections, the handlers'
 * context over them, and the message being handled. */
struct lane {
    struct worker w;
    const struct dispatch_shared *shared;
    const struct sw_config *cfg;
    int index;
    struct fleet *fleet;   /* NULL while Redis is unreachable */
    struct oe_client *oe;  /* NULL until created (needs the fleet) */
    const struct kmsg *in; /* the current message */
    int requests_left;     /* the current command's OpenEMR budget */
    /* A good signature whose replay guard is not asked yet: asked inside
     * the idempotency begin (one round trip for both), or on its own
     * before anything else leaves the lane (settle()). */
    bool guard_pending;
    struct auth_check ck; /* the signature's check, while guard_pending */
    char guard_who[320];  /* the message: "topic/partition/offset" */
};

/* ---- lanes ----------------------------------------------------------------- */

static void audit_hook(void *opaque, const struct oe_audit *rec)
{
    struct lane *l = opaque;
    struct worker *w = &l->w;
    if (!w->out)
        return;
    struct audit_fields a = {
        .method = rec->method,
        .route = rec->route,
        .patient_id = rec->patient_id,
        .request_id = rec->request_id,
        .topic = l->in ? l->in->topic : NULL,
        .partition = l->in ? l->in->partition : 0,
        .offset = l->in ? l->in->offset : -1,
        .http_status = rec->http_status,
        .error_code = rec->outcome == SW_OK ? NULL : sw_err_str(rec->outcome),
        .at_ms = rec->at_ms,
        .duration_ms = -1,
    };
    char *text = audit_build(w->cfg, &a);
    if (!text || !outbox_add(w->out, w->cfg->topic_audit, rec->patient_id, text, strlen(text)))
        log_error("dispatch", "audit record for %s could not be queued", rec->route);
    free(text);
}

/* Connects what is missing (Redis may be down at start or come back). */
static bool lane_connect(struct lane *l)
{
    char err[256];
    if (!l->fleet && fleet_new(l->cfg, &l->fleet, err, sizeof(err)) != SW_OK) {
        log_warn("dispatch", "redis: %s", err);
        l->fleet = NULL;
        return false;
    }
    if (!l->oe &&
        oe_client_new(l->cfg, l->fleet, audit_hook, l, &l->oe, err, sizeof(err)) != SW_OK) {
        log_error("dispatch", "openemr client: %s", err);
        l->oe = NULL;
        return false;
    }
    l->w.store = store_of_fleet(l->fleet);
    l->w.emr = oe_client_emr(l->oe);
    return true;
}

void *dispatch_lane_init(void *opaque, int lane)
{
    struct lane *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->shared = opaque;
    l->cfg = l->shared->cfg;
    l->index = lane;
    l->w.cfg = l->cfg;
    l->w.confirm_key = l->shared->confirm_key;
    if (getrandom(&l->w.rng, sizeof(l->w.rng), 0) != sizeof(l->w.rng) || !l->w.rng)
        l->w.rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)clock_now_ms(NULL) ^ (uint64_t)lane;
    lane_connect(l);
    return l;
}

void dispatch_lane_fini(void *lane_state)
{
    struct lane *l = lane_state;
    if (!l)
        return;
    oe_client_destroy(l->oe);
    fleet_destroy(l->fleet);
    free(l);
}

/* ---- output ---------------------------------------------------------------- */

static void record_command(struct lane *l, const char *type, const char *status);

/* Where a result goes: the command's reply_to (body, else header) when
 * the configuration allows it as a reply topic (sw_config_reply_allowed),
 * else topics.results.  Never the events, audit, dead-letter or command
 * topics, whatever a command names. */
static const char *reply_topic(const struct lane *l, const char *body_reply_to)
{
    const char *want = body_reply_to && body_reply_to[0] ? body_reply_to : l->in->reply_to;
    if (want[0] && sw_config_reply_allowed(l->cfg, want))
        return want;
    if (want[0])
        log_warn("dispatch", "reply_to is not an allowed reply topic; answering on %s",
                 l->cfg->topic_results);
    return l->cfg->topic_results;
}

static void publish_result(struct lane *l, struct outbox *out, const char *topic, const char *key,
                           const char *request_id, const char *json)
{
    if (!outbox_add(out, topic, key, json, strlen(json))) {
        log_error("dispatch", "outbox full: result not queued");
        return;
    }
    outbox_header(out, "request_id", request_id);
    if (l->in->correlation_id[0])
        outbox_header(out, "correlation_id", l->in->correlation_id);
}

static void dead_letter(struct lane *l, struct outbox *out, const char *code, const char *reason)
{
    const struct kmsg *in = l->in;
    char key[256] = "", num[32], when[40];
    if (in->key_len)
        snprintf(key, sizeof(key), "%.*s", (int)(in->key_len < 255 ? in->key_len : 255), in->key);
    if (!outbox_add(out, l->cfg->topic_dlq, in->key_len ? key : NULL, in->value, in->len)) {
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
    format_time(clock_now_ms(NULL) / 1000, when, sizeof(when));
    outbox_header(out, "dlq_time", when);
    metrics_dead_letter(code);
    log_warn("dispatch", "dead letter: %s: %s", code, reason);
}

/* A message that is not a usable command: dead letter, and an invalid
 * result when we know whom to answer. */
static void reject_message(struct lane *l, struct outbox *out, struct cmd_parse_error *err)
{
    dead_letter(l, out, err->code, err->message);
    if (!err->have_request_id && l->in->request_id[0]) {
        err->have_request_id = true;
        snprintf(err->request_id, sizeof(err->request_id), "%s", l->in->request_id);
    }
    if (!err->have_request_id)
        return;
    char *json = result_serialize_parse_error(err, clock_now_ms(NULL));
    if (json)
        publish_result(l, out, reply_topic(l, err->reply_to), err->request_id, err->request_id,
                       json);
    free(json);
    record_command(l, err->type, "invalid");
}

/* A command whose signature does not prove its sender, or whose key may
 * not send it here: a dead letter and a log line, nothing else.  Its bytes
 * are not parsed and nobody is answered: an answer would let anyone who
 * can produce to a command topic put a result under another caller's
 * request_id (and would tell a prober what passed). */
static void reject_unauthorized(struct lane *l, struct outbox *out, struct cmd_parse_error *perr)
{
    dead_letter(l, out, perr->code, perr->message); /* which logs it, once */
}

/* A signed command naming a reply_to results may not go to: answered
 * `invalid` on topics.results and dead-lettered, before anything runs.
 * (A command that does not parse gets the parse error's answer, which
 * reply_topic() keeps on topics.results too.) */
static bool settled(struct lane *l, struct outbox *out, enum handler_outcome *outcome);

static bool reply_to_refused(struct lane *l, struct outbox *out, const struct command *c,
                             enum handler_outcome *outcome)
{
    const struct sw_config *cfg = l->cfg;
    const char *want = c->reply_to[0] ? c->reply_to : l->in->reply_to;
    if (!want[0] || sw_config_reply_allowed(cfg, want))
        return false;
    if (!settled(l, out, outcome))
        return true;
    dead_letter(l, out, "reply_to_not_allowed",
                "reply_to names a topic results may not go to; nothing was done");
    struct result r;
    result_init(&r, c);
    result_fail(&r, RES_INVALID, "reply_to_not_allowed",
                "reply_to must be %s, a topic named in topics.reply_allowlist or one starting with "
                "the reply prefix; nothing was done.",
                cfg->topic_results);
    r.processed_at_ms = clock_now_ms(NULL);
    char *json = result_serialize(&r);
    if (json)
        publish_result(l, out, cfg->topic_results, c->session_id[0] ? c->session_id : c->request_id,
                       c->request_id, json);
    record_command(l, cmd_type_name(c->type), "invalid");
    free(json);
    result_clear(&r);
    return true;
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
static void record_command(struct lane *l, const char *type, const char *status)
{
    int64_t now = clock_now_ms(NULL);
    int64_t since =
        l->in->timestamp_ms > 0 && l->in->timestamp_ms <= now ? l->in->timestamp_ms : now;
    metrics_command(type, status, (double)(now - since) / 1000.0);
}

enum admission {
    ADMITTED, /* go on */
    REFUSED,  /* answered or dead-lettered here: done */
    RECHECK,  /* Redis did not answer the replay guard: run again later */
};

static enum auth_topic auth_topic_of(const struct sw_config *cfg, const char *topic)
{
    if (!strcmp(topic, cfg->topic_search))
        return AUTH_TOPIC_SEARCH;
    if (!strcmp(topic, cfg->topic_book))
        return AUTH_TOPIC_BOOK;
    if (!strcmp(topic, cfg->topic_cancel))
        return AUTH_TOPIC_CANCEL;
    return AUTH_TOPIC_OTHER;
}

static void refuse(struct cmd_parse_error *perr, const char *code, const char *key_id,
                   const char *reason)
{
    memset(perr, 0, sizeof(*perr));
    snprintf(perr->code, sizeof(perr->code), "%s", code);
    if (key_id && key_id[0])
        snprintf(perr->message, sizeof(perr->message), "key %s: %s", key_id, reason);
    else
        snprintf(perr->message, sizeof(perr->message), "%s", reason);
}

/* Every command is signed (auth.h), checked before anything else is read:
 * the signature over the value and the headers that change its meaning,
 * the key's role on this topic, the replay window, and the replay guard (a
 * signature is good for one Kafka message: the guard's record, written
 * only for a good signature).  A redelivery of a message admitted before
 * (same topic, partition and offset) passes even when its time is out of
 * the window.  With auth.allow_unsigned (development only) a message with
 * no signature headers at all passes too; a signed one is still checked.
 *
 * The replay guard is asked later, so that a command costs one round trip
 * to Redis: a good signature leaves the lane with guard_pending, and the
 * guard is asked inside the idempotency begin (fleet_idem_begin_admit),
 * or on its own (settle()) before anything leaves the lane first: an
 * answer, a dead letter, a request to OpenEMR.  Until then the command is
 * only parsed and checked, which has no effect outside. */
static enum admission authorized(struct lane *l, struct cmd_parse_error *perr)
{
    const struct sw_config *cfg = l->cfg;
    const struct kmsg *in = l->in;
    struct auth_msg m = {in->topic,     in->request_id, in->reply_to, in->correlation_id,
                         in->replay_of, in->value,      in->len};
    struct auth_check *ck = &l->ck;
    auth_verify(l->shared->keys, &m, in->key_id, in->signed_at, in->signature, in->header_trouble,
                auth_topic_of(cfg, in->topic), clock_now_ms(NULL), cfg->auth_max_skew_s, ck);
    switch (ck->verdict) {
    case AUTH_UNSIGNED:
        if (cfg->auth_allow_unsigned) {
            auth_count_unsigned();
            return ADMITTED;
        }
        refuse(perr, "unauthenticated", NULL, ck->reason);
        return REFUSED;
    case AUTH_UNAUTHENTICATED:
        refuse(perr, "unauthenticated", NULL, ck->reason);
        return REFUSED;
    case AUTH_FORBIDDEN:
        refuse(perr, "forbidden", ck->key_id, ck->reason);
        return REFUSED;
    case AUTH_OK:
        break;
    }
    if (!l->fleet && !lane_connect(l))
        return RECHECK;
    snprintf(l->guard_who, sizeof(l->guard_who), "%s/%d/%lld", in->topic, (int)in->partition,
             (long long)in->offset);
    l->guard_pending = true;
    return ADMITTED;
}

/* The replay guard's arguments for the pending signature. */
static struct fleet_admit guard_of(const struct lane *l)
{
    return (struct fleet_admit){l->ck.digest, l->guard_who, 2 * l->cfg->auth_max_skew_s + 3600,
                                !l->ck.stale, FLEET_REPLAY_NEW};
}

/* What the replay guard found: true to go on; false when the message is
 * refused (dead-lettered here). */
static bool guard_admits(struct lane *l, struct outbox *out, enum fleet_replay seen)
{
    if (seen == FLEET_REPLAY_SAME)
        return true; /* this very message again: a redelivery */
    if (seen == FLEET_REPLAY_NEW && !l->ck.stale)
        return true;
    struct cmd_parse_error perr;
    refuse(&perr, "unauthenticated", l->ck.key_id,
           seen == FLEET_REPLAY_OTHER ? "replayed: another message carried this signature first"
                                      : l->ck.reason);
    reject_unauthorized(l, out, &perr);
    return false;
}

/* Before an answer, a dead letter or an OpenEMR request ahead of the
 * idempotency begin: the pending replay guard, asked on its own.  false:
 * refused there, or to run again (*outcome). */
static bool settled(struct lane *l, struct outbox *out, enum handler_outcome *outcome)
{
    if (!l->guard_pending)
        return true;
    struct fleet_admit g = guard_of(l);
    enum fleet_replay seen;
    if (fleet_replay_claim(l->fleet, g.digest, g.who, g.ttl_s, g.claim, &seen) != SW_OK) {
        log_warn("dispatch", "redis (replay guard): %s", fleet_errstr(l->fleet));
        metrics_redis_error();
        *outcome = HANDLER_RETRY;
        return false;
    }
    l->guard_pending = false;
    return guard_admits(l, out, seen);
}

/* The admission of one message: its signature (its reply_to is checked
 * once it is parsed). */
static enum admission admit(struct lane *l, struct outbox *out)
{
    struct cmd_parse_error perr;
    enum admission a = authorized(l, &perr);
    if (a == REFUSED)
        reject_unauthorized(l, out, &perr);
    return a;
}

/* The outputs of a command besides its result (audit records, events), as
 * JSON, so that a redelivery of its message can produce them again. */
static char *outputs_json(const struct outbox *out)
{
    json_t *a = json_array();
    for (int i = 0; a && i < out->n; i++) {
        const struct kout *m = &out->items[i];
        json_t *h = json_object();
        for (int k = 0; k < m->n_headers; k++)
            json_object_set_new(h, m->headers[k].name, json_string(m->headers[k].value));
        json_array_append_new(a, json_pack("{s:s, s:s?, s:s%, s:o}", "t", m->topic, "k", m->key,
                                           "v", m->value, m->len, "h", h));
    }
    char *s = a && json_array_size(a) ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static void outputs_restore(struct lane *l, struct outbox *out, const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m)
    {
        const char *topic = json_string_value(json_object_get(m, "t"));
        json_t *v = json_object_get(m, "v");
        if (!topic || !json_is_string(v) ||
            !outbox_add(out, topic, json_string_value(json_object_get(m, "k")),
                        json_string_value(v), json_string_length(v)))
            continue;
        const char *name;
        json_t *hv;
        json_object_foreach(json_object_get(m, "h"), name, hv)
            outbox_header(out, name, json_string_value(hv));
    }
    json_decref(a);
    log_info("dispatch", "message delivered again: its %zu events and audit records go out again",
             i);
    (void)l;
}

static void source_of(const struct kmsg *in, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%d/%lld", in->topic, in->partition, (long long)in->offset);
}

/* The ledger record of a write command's stored result, in the outbox of
 * its result (so in its transaction): what rebuilds the idempotency record
 * if Redis loses it (ledger.h). */
static void ledger_put(struct lane *l, struct outbox *out, const struct command *c,
                       const char *json)
{
    if (!ledger_wanted(l->cfg, c->type))
        return;
    char digest[CMD_DIGEST_LEN];
    command_digest(c, l->in->key_id, digest); /* as dispatch_handle made it */
    char *rec = ledger_record_encode(c->request_id, digest, json, clock_now_ms(NULL));
    if (!rec || !outbox_add(out, l->cfg->topic_ledger, c->request_id, rec, strlen(rec)))
        log_error("dispatch", "ledger record not queued");
    free(rec);
}

/* Stores the answer (unless it is unavailable: nothing was done, so a retry
 * is safe and nothing is kept), then publishes it.  false when it must not
 * be published: the lease was lost (another attempt answers) or Redis could
 * not store it; the command then runs again and answers from the record. */
static bool finish(struct lane *l, struct outbox *out, const struct command *c, struct result *r,
                   bool store)
{
    r->processed_at_ms = clock_now_ms(NULL);
    char *json = result_serialize(r);
    if (!json) {
        log_error("dispatch", "result could not be serialized");
        result_fail(r, RES_ERROR, "internal_error", "The worker failed to answer.");
        json = result_serialize(r);
        if (!json)
            return false;
    }
    if (store && l->fleet) {
        sw_err err;
        if (r->status == RES_UNAVAILABLE) {
            err = fleet_idem_abandon(l->fleet, c->request_id, l->w.owner);
            if (err == SW_ERR_REDIS)
                err = SW_OK; /* the lease runs out by itself */
        } else {
            char source[320], *outputs = outputs_json(out);
            source_of(l->in, source, sizeof(source));
            int keep_s = cmd_type_is_write(c->type) ? l->cfg->idempotency_ttl_s
                                                    : l->cfg->idempotency_read_ttl_s;
            err = fleet_idem_finish(l->fleet, c->request_id, l->w.owner, json, source, outputs,
                                    keep_s, l->cfg->idempotency_outputs_ttl_s);
            free(outputs);
        }
        if (err) {
            log_warn("dispatch", "answer not stored (%s): %s; the command runs again",
                     sw_err_str(err), fleet_errstr(l->fleet));
            free(json);
            return false;
        }
        if (r->status != RES_UNAVAILABLE)
            ledger_put(l, out, c, json);
    }
    publish_result(l, out, reply_topic(l, c->reply_to),
                   c->session_id[0] ? c->session_id : c->request_id, c->request_id, json);
    log_debug("dispatch", "%s -> %s", cmd_type_name(c->type), res_status_str(r->status));
    free(json);
    record_command(l, cmd_type_name(c->type), res_status_str(r->status));
    return true;
}

/* An answer given before the command's record exists (nothing done). */
static void answer_unstored(struct lane *l, struct outbox *out, const struct command *c,
                            struct result *r)
{
    finish(l, out, c, r, false);
}

bool dispatch_is_poison(int takeovers, bool noted_write)
{
    return takeovers > (noted_write ? 2 * POISON_TAKEOVERS : POISON_TAKEOVERS);
}

enum handler_outcome dispatch_handle(void *lane_state, const struct kmsg *in, int attempt,
                                     struct outbox *out)
{
    struct lane *l = lane_state;
    const struct sw_config *cfg = l->cfg;
    struct command cmd;
    struct cmd_parse_error perr;
    struct result res;
    struct fleet_idem rec = {0};
    enum handler_outcome outcome = HANDLER_DONE;
    char owner[200], digest[CMD_DIGEST_LEN];

    l->in = in;
    l->w.out = out;
    l->guard_pending = false;
    result_init(&res, NULL);

    switch (admit(l, out)) {
    case ADMITTED:
        break;
    case RECHECK:
        outcome = HANDLER_RETRY; /* no replay guard without Redis: wait */
        goto out;
    case REFUSED:
        goto out;
    }
    if (in->len > (size_t)cfg->max_message_bytes) {
        if (!settled(l, out, &outcome))
            goto out;
        memset(&perr, 0, sizeof(perr));
        snprintf(perr.code, sizeof(perr.code), "too_large");
        snprintf(perr.message, sizeof(perr.message),
                 "message of %zu bytes is larger than the limit of %d bytes", in->len,
                 cfg->max_message_bytes);
        reject_message(l, out, &perr);
        goto out;
    }
    if (command_parse(in->value, in->len, &cmd, &perr) != SW_OK) {
        if (settled(l, out, &outcome))
            reject_message(l, out, &perr);
        goto out;
    }
    if (reply_to_refused(l, out, &cmd, &outcome))
        goto out;
    sw_log_set_context(in->topic, in->partition, in->offset, cmd.request_id);
    if (strcmp(in->topic, topic_of(cfg, cmd.type)) != 0) {
        if (!settled(l, out, &outcome))
            goto out;
        snprintf(perr.code, sizeof(perr.code), "wrong_topic");
        snprintf(perr.message, sizeof(perr.message), "%s commands belong on %s, not %s",
                 cmd_type_name(cmd.type), topic_of(cfg, cmd.type), in->topic);
        reject_message(l, out, &perr);
        goto out;
    }
    result_init(&res, &cmd);
    if (cmd.deadline_ms && clock_now_ms(NULL) > cmd.deadline_ms) {
        if (!settled(l, out, &outcome))
            goto out;
        result_fail(&res, RES_EXPIRED, "deadline_passed",
                    "The request arrived after its deadline; nothing was done.");
        answer_unstored(l, out, &cmd, &res);
        goto out;
    }
    if (!lane_connect(l)) {
        outcome = HANDLER_RETRY; /* no idempotency without Redis: wait */
        goto out;
    }
    /* This attempt's own name: its lease and its locks are its alone, so a
     * paused earlier attempt of the same command holds nothing of ours. */
    snprintf(owner, sizeof(owner), "%s/%016llx", cfg->worker_id,
             (unsigned long long)worker_random(&l->w));
    l->w.owner = owner;
    l->requests_left = cfg->max_requests_per_command;
    l->w.requests_left = &l->requests_left;
    l->w.fence = 0;
    l->w.covered_until_ms = 0;

    /* One identity per patient and practitioner before anything keys on
     * an id: the idempotency record, locks, holds, caches.  An id that
     * needs OpenEMR to tell waits for the replay guard. */
    struct oe_call canon_call = worker_call(&l->w, &cmd);
    canon_call.offline = l->guard_pending;
    sw_err cerr = canon_command(&l->w, &canon_call, &cmd, &res);
    if (cerr == SW_ERR_BUSY && canon_call.offline) {
        if (!settled(l, out, &outcome))
            goto out;
        canon_call = worker_call(&l->w, &cmd);
        cerr = canon_command(&l->w, &canon_call, &cmd, &res);
    }
    if (cerr == SW_ERR_REDIS) {
        outcome = HANDLER_RETRY;
        goto out;
    }
    if (cerr) {
        if (settled(l, out, &outcome))
            answer_unstored(l, out, &cmd, &res);
        goto out;
    }

    /* A cached search's day reads and holds go out with the replay guard
     * and the idempotency check: one round trip for the four. */
    handlers_prefetch(&l->w, &cmd);
    command_digest(&cmd, in->key_id, digest); /* the key id the signature proved */
    /* A write command waits for the ledger to be read back into a Redis
     * that lost its data: checked inside the begin itself, so no window. */
    struct fleet_admit guard = guard_of(l);
    if (fleet_idem_begin_admit(l->fleet, cmd.request_id, owner, digest, cfg->idempotency_lease_s,
                               ledger_wanted(cfg, cmd.type), l->guard_pending ? &guard : NULL,
                               &rec) != SW_OK) {
        log_warn("dispatch", "redis: %s", fleet_errstr(l->fleet));
        metrics_redis_error();
        outcome = HANDLER_RETRY;
        goto out;
    }
    l->guard_pending = false;
    switch (rec.state) {
    case FLEET_IDEM_REFUSED:
        /* the replay guard's no: nothing was begun */
        if (guard_admits(l, out, guard.seen)) {
            log_error("dispatch", "replay guard: refused, yet its answer admits");
            outcome = HANDLER_RETRY;
        }
        goto out;
    case FLEET_IDEM_MISMATCH:
        /* never the other command's result, never run under its id */
        result_fail(&res, RES_INVALID, "request_id_reused",
                    "That request_id was already used for another command; use a new one.");
        answer_unstored(l, out, &cmd, &res);
        goto out;
    case FLEET_IDEM_DONE: {
        char source[320];
        source_of(in, source, sizeof(source));
        bool redelivered = rec.source && !strcmp(rec.source, source);
        log_info("dispatch", redelivered
                                 ? "message delivered again: answering from its record"
                                 : "duplicate request_id: answering with the stored result");
        if (redelivered && rec.outputs)
            outputs_restore(l, out, rec.outputs);
        if (redelivered && rec.result) /* its first transaction may have been aborted */
            ledger_put(l, out, &cmd, rec.result);
        record_command(l, cmd_type_name(cmd.type), "duplicate");
        if (rec.result)
            publish_result(l, out, reply_topic(l, cmd.reply_to),
                           cmd.session_id[0] ? cmd.session_id : cmd.request_id, cmd.request_id,
                           rec.result);
        goto out;
    }
    case FLEET_IDEM_BUSY:
        outcome = HANDLER_RETRY; /* another attempt is on it: wait for its result */
        goto out;
    case FLEET_IDEM_NO_EPOCH:
        ledger_rebuild(cfg, l->fleet, owner); /* or another replica does */
        outcome = HANDLER_RETRY;
        goto out;
    case FLEET_IDEM_NEW:
    case FLEET_IDEM_TAKEOVER:
        break;
    }
    l->w.fence = rec.fence;
    l->w.now_store_ms = rec.now_ms;
    l->w.covered_until_ms = rec.state == FLEET_IDEM_TAKEOVER ? rec.write_until_ms : 0;
    /* Every earlier holder died or hung on this command: it is a poison
     * message (it may crash the worker).  Bounded: dead-letter it and
     * answer, rather than take the next replica down too.  Hand-overs on
     * purpose (a write to reconcile) are not counted. */
    if (rec.state == FLEET_IDEM_TAKEOVER && dispatch_is_poison(rec.takeovers, rec.note != NULL)) {
        dead_letter(l, out, "poison",
                    "the command was taken over too often: its handlers kept dying");
        result_fail(&res, RES_ERROR, "poison_message",
                    rec.note ? "The worker could not finish this request and cannot tell whether "
                               "OpenEMR made the change; it was set aside for the operators."
                             : "The worker could not process this request; it was set aside for "
                               "the operators.");
        if (!finish(l, out, &cmd, &res, true))
            outcome = HANDLER_RETRY;
        goto out;
    }
    switch (
        handlers[cmd.type](&l->w, &cmd, &res, rec.state == FLEET_IDEM_TAKEOVER ? rec.note : NULL)) {
    case OUTCOME_RETRY:
        /* Redis trouble before any side effect, or our lease was taken
         * over meanwhile: let go and run again (a duplicate then gets the
         * other holder's result). */
        fleet_idem_abandon(l->fleet, cmd.request_id, owner);
        outcome = HANDLER_RETRY;
        break;
    case OUTCOME_RECONCILE:
        /* A write may have landed: no answer until a later attempt finds
         * out (its note is kept); this hand-over is not a crash. */
        fleet_idem_handover(l->fleet, cmd.request_id, owner);
        outcome = HANDLER_RETRY;
        break;
    case OUTCOME_ANSWER:
        if (!finish(l, out, &cmd, &res, true))
            outcome = HANDLER_RETRY;
        break;
    }
out:
    if (l->fleet)
        fleet_prefetch_clear(l->fleet); /* read for this command only */
    result_clear(&res);
    fleet_idem_clear(&rec);
    l->w.out = NULL;
    l->w.owner = NULL;
    l->w.requests_left = NULL;
    if (outcome == HANDLER_RETRY) {
        outbox_clear(out);
        if (attempt >= 20 && attempt % 20 == 0)
            log_warn("dispatch", "still waiting after %d attempts", attempt);
    }
    return outcome;
}
