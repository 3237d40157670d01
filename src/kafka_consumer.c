/* kafka_consumer.c - the consumer side: joining the group, the rebalance
 * (finishing or abandoning the revoked partitions' work), handing each
 * message to the lane of its key, running the handler there, pausing
 * above max_in_flight, the run loop and its drain (see kafka.h). */
#include "kafka_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lanes.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"

/* ---- delivery -------------------------------------------------------------- */

static void store_offset(struct kafka *k, const char *topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(k->consumer, l);
    if (err)
        log_debug("kafka", "offset store %s[%d]@%lld: %s", topic, partition, (long long)offset,
                  rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

void kf_job_free(struct job *j)
{
    struct kafka *k = j->k;
    rd_kafka_message_destroy(j->rkm);
    free(j);
    atomic_fetch_sub(&k->in_flight, 1);
}

void kf_job_done(struct job *j)
{
    struct kafka *k = j->k;
    int64_t commit;
    if (offsets_done(k->offsets, j->in.topic, j->in.partition, j->generation, j->in.offset,
                     &commit))
        store_offset(k, j->in.topic, j->in.partition, commit);
    kf_job_free(j);
}

/* ---- lanes: running the handler --------------------------------------- */

/* What each lane thread keeps: the handler's own state, and us. */
struct lane_state {
    struct kafka *k;
    void *handler_state;
};

static void *lane_init(void *opaque, int lane)
{
    struct kafka *k = opaque;
    struct lane_state *ls = calloc(1, sizeof(*ls));
    if (!ls)
        return NULL;
    ls->k = k;
    ls->handler_state = k->handler.lane_init ? k->handler.lane_init(k->handler.opaque, lane) : NULL;
    return ls;
}

static void lane_fini(void *state)
{
    struct lane_state *ls = state;
    if (ls && ls->k->handler.lane_fini)
        ls->k->handler.lane_fini(ls->handler_state);
    free(ls);
}

static bool past_drain_deadline(struct kafka *k)
{
    return atomic_load(&k->shutting_down) && clock_mono_ms(NULL) > k->drain_deadline_ms;
}

static void lane_run(void *state, void *item)
{
    struct lane_state *ls = state;
    struct job *j = item;
    struct kafka *k = j->k;
    struct outbox out = {0};
    sw_log_set_context(j->in.topic, j->in.partition, j->in.offset, j->in.request_id);
    for (int attempt = 0;; attempt++) {
        /* Revoked and given to another replica meanwhile: it will redo it. */
        if (!offsets_current(k->offsets, j->in.topic, j->in.partition, j->generation) ||
            past_drain_deadline(k)) {
            log_info("kafka", "abandoning command of a revoked partition or past the grace time");
            sw_log_clear_context();
            kf_job_free(j); /* not stored: it will be consumed again */
            return;
        }
        lanes_beat(); /* each attempt is progress: waiting for Redis is not a hang */
        if (k->handler.handle(ls ? ls->handler_state : NULL, &j->in, attempt, &out) == HANDLER_DONE)
            break;
        outbox_clear(&out);
        int backoff = attempt < 5 ? 100 << attempt : 2000;
        atomic_fetch_add(&k->retrying, 1);
        clock_sleep_ms(NULL, backoff);
        atomic_fetch_sub(&k->retrying, 1);
    }
    sw_log_clear_context();
    if (k->txn) {
        kf_txn_finish(k, j, &out); /* takes the outputs */
        return;
    }
    atomic_store(&j->pending, out.n + 1); /* +1 until every produce is queued */
    for (int i = 0; i < out.n; i++)
        if (kf_produce_one(k, &out.items[i], j) != SW_OK)
            atomic_fetch_sub(&j->pending, 1); /* logged; nothing will be delivered */
    outbox_clear(&out);
    if (atomic_fetch_sub(&j->pending, 1) == 1)
        kf_job_done(j);
}

/* ---- consumer ----------------------------------------------------------- */

static void touch_ready(struct kafka *k)
{
    if (atomic_exchange(&k->ready, true))
        return;
    if (k->ready_file && !atomic_exchange(&k->ready_once, true)) {
        FILE *f = fopen(k->ready_file, "w");
        if (f) {
            fputs("ready\n", f);
            fclose(f);
        }
    }
    log_info("kafka", "joined consumer group; ready");
}

static void beat(struct kafka *k)
{
    atomic_store(&k->loop_beat_ms, clock_mono_ms(NULL));
}

bool kafka_is_ready(struct kafka *k)
{
    return atomic_load(&k->ready);
}

bool kafka_is_draining(struct kafka *k)
{
    return atomic_load(&k->shutting_down);
}

bool kafka_probe_brokers(struct kafka *k, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->producer, 0, NULL, &md, timeout_ms);
    bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (atomic_exchange(&k->broker_ok, ok) != ok) {
        if (ok)
            log_info("kafka", "brokers answer again");
        else
            log_warn("kafka", "no broker answers: %s", rd_kafka_err2str(err));
    }
    return ok;
}

bool kafka_broker_ok(struct kafka *k)
{
    return atomic_load(&k->broker_ok);
}

bool kafka_liveness(struct kafka *k, int64_t stall_ms, char *why, size_t whylen)
{
    int64_t now = clock_mono_ms(NULL), idle = 0;
    if (atomic_load(&k->loop_running)) {
        idle = now - atomic_load(&k->loop_beat_ms);
        if (idle > stall_ms) {
            snprintf(why, whylen, "the consumer loop has not turned for %lld ms", (long long)idle);
            return false;
        }
    }
    int lane = lanes_stalled(k->lanes, now, stall_ms, &idle);
    if (lane >= 0) {
        snprintf(why, whylen, "lane %d has run one command for %lld ms without progress", lane,
                 (long long)idle);
        return false;
    }
    return true;
}

int kafka_in_flight(struct kafka *k)
{
    return atomic_load(&k->in_flight);
}

void kafka_report_lag(struct kafka *k)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(k->consumer, &parts) || !parts)
        return;
    rd_kafka_position(k->consumer, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t low, high;
        if (rd_kafka_get_watermark_offsets(k->consumer, p->topic, p->partition, &low, &high))
            continue;
        int64_t pos = p->offset >= 0 ? p->offset : low;
        metrics_lag(p->topic, p->partition, high > pos ? high - pos : 0);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void wait_revoked(struct kafka *k, rd_kafka_topic_partition_list_t *parts)
{
    int64_t deadline = atomic_load(&k->shutting_down)
                           ? k->drain_deadline_ms
                           : clock_mono_ms(NULL) + (int64_t)k->cfg->shutdown_grace_s * 1000;
    for (;;) {
        int pending = 0;
        for (int i = 0; i < parts->cnt; i++)
            pending +=
                offsets_pending(k->offsets, parts->elems[i].topic, parts->elems[i].partition);
        /* Commands that only wait to run again (for Redis, or for another
         * replica's lease on their request_id) have done nothing: they
         * need not hold the hand-over up; the new owner runs them.  (The
         * count is the whole replica's, so this may let go a little early:
         * then a command is redelivered and its request_id answers it.) */
        if (pending <= atomic_load(&k->retrying))
            break;
        beat(k); /* waiting for the lanes, not stuck */
        if (clock_mono_ms(NULL) > deadline) {
            log_warn("kafka",
                     "revocation: abandoning %d unfinished commands (redelivered to the "
                     "new owner)",
                     pending);
            break;
        }
        clock_sleep_ms(NULL, 5);
    }
    for (int i = 0; i < parts->cnt; i++)
        offsets_revoke(k->offsets, parts->elems[i].topic, parts->elems[i].partition);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka *k = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            offsets_assign(k->offsets, parts->elems[i].topic, parts->elems[i].partition);
        log_info("kafka", "assigned %d partitions", parts->cnt);
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        touch_ready(k);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        log_info("kafka", "revoking %d partitions", parts->cnt);
        if (rd_kafka_assignment_lost(rk) && atomic_exchange(&k->ready, false))
            log_warn("kafka", "assignment lost (out of the group): not ready until rejoined");
        for (int i = 0; i < parts->cnt; i++)
            metrics_lag_forget(parts->elems[i].topic, parts->elems[i].partition);
        wait_revoked(k, parts);
        if (k->txn)
            kf_txn_cycle(k); /* the finished commands' offsets, with their results */
        else
            rd_kafka_commit(rk, NULL, 0); /* the stored offsets, synchronously */
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    } else {
        log_error("kafka", "rebalance failed: %s", rd_kafka_err2str(err));
        atomic_store(&k->ready, false);
        rd_kafka_assign(rk, NULL);
    }
}

sw_err kafka_new(const struct sw_config *cfg, const struct kafka_handler *h, struct kafka **out,
                 char *errstr, size_t errlen)
{
    struct kafka *k = calloc(1, sizeof(*k));
    rd_kafka_conf_t *cconf = NULL, *pconf = NULL;
    if (!k)
        return SW_ERR_NOMEM;
    k->cfg = cfg;
    k->handler = *h;
    k->txn = cfg->transactional_results;
    k->offsets = offsets_new();
    if (!k->offsets)
        goto fail;
    atomic_init(&k->broker_ok, true); /* until a probe says otherwise */
    beat(k);

    /* With transactional results, two producers: the transactional one
     * for what commands produce, a plain one for the poller's events. */
    for (int i = 0; i < (k->txn ? 2 : 1); i++) {
        pconf = kf_make_conf(cfg, false, k->txn && i == 0, errstr, errlen);
        if (!pconf)
            goto fail;
        rd_kafka_conf_set_dr_msg_cb(pconf, kf_dr_cb);
        rd_kafka_conf_set_opaque(pconf, k);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, errlen);
        if (!rk)
            goto fail; /* pconf is still ours on failure */
        pconf = NULL;
        *(i == 0 ? &k->producer : &k->plain) = rk;
    }
    if (!k->txn)
        k->plain = k->producer;
    if (k->txn && !kf_txn_init(k, errstr, errlen))
        goto fail;

    cconf = kf_make_conf(cfg, true, k->txn, errstr, errlen);
    if (!cconf)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(cconf, rebalance_cb);
    rd_kafka_conf_set_opaque(cconf, k);
    k->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, errlen);
    if (!k->consumer)
        goto fail;
    cconf = NULL;
    rd_kafka_poll_set_consumer(k->consumer);

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_search, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_book, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_cancel, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(k->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errlen, "subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    if (pthread_create(&k->poller, NULL, kf_producer_main, k) != 0) {
        snprintf(errstr, errlen, "cannot start the producer thread");
        goto fail;
    }
    struct lanes_ops ops = {lane_init, lane_run, lane_fini, k};
    /* Read-only commands on a pool of their own: reads waiting for OpenEMR
     * budget then never hold up a key's lane (a booking). */
    k->lanes = cfg->reads_any_lane ? lanes_new_pools(cfg->worker_threads, cfg->read_threads, &ops)
                                   : lanes_new(cfg->worker_threads, &ops);
    if (!k->lanes) {
        snprintf(errstr, errlen, "cannot start %d handler threads", cfg->worker_threads);
        atomic_store(&k->stop_poller, true);
        pthread_join(k->poller, NULL);
        goto fail;
    }
    *out = k;
    return SW_OK;
fail:
    if (pconf)
        rd_kafka_conf_destroy(pconf);
    if (cconf)
        rd_kafka_conf_destroy(cconf);
    if (k->consumer)
        rd_kafka_destroy(k->consumer);
    if (k->plain && k->plain != k->producer)
        rd_kafka_destroy(k->plain);
    if (k->producer)
        rd_kafka_destroy(k->producer);
    kf_txn_fini(k);
    offsets_destroy(k->offsets);
    free(k);
    return SW_ERR_KAFKA;
}

static void set_paused(struct kafka *k, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(k->consumer, &parts) || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(k->consumer, parts);
    else
        rd_kafka_resume_partitions(k->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* The headers a command may carry, every one of them part of its signature
 * (auth.h signs request_id, reply_to, correlation_id and dlq_replayed_from;
 * the rest are the signature's own).  One that is repeated, too long or
 * holds NUL sets header_trouble and is left out, so nothing downstream can
 * read another copy of a header than the one the signature covers. */
static void read_headers(const rd_kafka_message_t *rkm, struct kmsg *in)
{
    static const struct {
        const char *name;
        size_t off, size;
    } wanted[] = {
        {"request_id", offsetof(struct kmsg, request_id), sizeof(in->request_id)},
        {"reply_to", offsetof(struct kmsg, reply_to), sizeof(in->reply_to)},
        {"correlation_id", offsetof(struct kmsg, correlation_id), sizeof(in->correlation_id)},
        {"x-key-id", offsetof(struct kmsg, key_id), sizeof(in->key_id)},
        {"x-signed-at", offsetof(struct kmsg, signed_at), sizeof(in->signed_at)},
        {"x-signature", offsetof(struct kmsg, signature), sizeof(in->signature)},
        {"dlq_replayed_from", offsetof(struct kmsg, replay_of), sizeof(in->replay_of)},
    };
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
        return;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        const void *v;
        size_t n;
        if (rd_kafka_header_get_last(hdrs, wanted[i].name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        if (rd_kafka_header_get(hdrs, 1, wanted[i].name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            in->header_trouble = true; /* a second one: which did the signer mean? */
            continue;
        }
        if (!v || n >= wanted[i].size || memchr(v, '\0', n)) {
            in->header_trouble = n > 0;
            continue;
        }
        char *dst = (char *)in + wanted[i].off;
        memcpy(dst, v, n);
        dst[n] = '\0';
    }
}

static void submit(struct kafka *k, rd_kafka_message_t *rkm)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        log_error("kafka", "out of memory; message left for redelivery");
        rd_kafka_message_destroy(rkm);
        return;
    }
    j->k = k;
    j->rkm = rkm;
    j->in.topic = rd_kafka_topic_name(rkm->rkt);
    j->in.partition = rkm->partition;
    j->in.offset = rkm->offset;
    j->in.key = rkm->key;
    j->in.key_len = rkm->key_len;
    j->in.value = rkm->payload ? rkm->payload : "";
    j->in.len = rkm->len;
    j->in.timestamp_ms = rd_kafka_message_timestamp(rkm, NULL);
    read_headers(rkm, &j->in);
    j->generation = offsets_add(k->offsets, j->in.topic, j->in.partition, j->in.offset);
    if (j->generation < 0) {
        rd_kafka_message_destroy(rkm);
        free(j);
        return;
    }
    atomic_fetch_add(&k->in_flight, 1);
    /* Read-only commands need no order (only topics.search carries them:
     * dispatch refuses any other command there): any free lane.  The
     * offset tracker still stores an offset only once everything before
     * it is done, whatever lane ran it. */
    if (k->cfg->reads_any_lane && !strcmp(j->in.topic, k->cfg->topic_search)) {
        lanes_submit_any(k->lanes, j);
        return;
    }
    /* One key, one lane: its commands keep their order.  No key: the
     * partition decides (order within a partition is kept as well). */
    uint64_t h = rkm->key_len ? lanes_hash(rkm->key, rkm->key_len)
                              : lanes_hash(&rkm->partition, sizeof(rkm->partition)) ^
                                    lanes_hash(j->in.topic, strlen(j->in.topic));
    lanes_submit(k->lanes, h, j);
}

/* Above max_in_flight the loop first just stops polling, for up to
 * HOLD_MAX_MS: librdkafka keeps what it fetched (queued.max.messages.kbytes
 * bounds it) and the lanes catch up within milliseconds under a flood.
 * Pausing instead threw the prefetched messages away and fetched them
 * again after the resume: under a 10x flood that refetching halved what a
 * replica answered.  Only a hold that lasts (lanes stuck: Redis down) ends
 * in a pause, during which polling goes on and keeps the group membership. */
#define HOLD_MAX_MS 2000

static bool hold_off(int64_t *held_since)
{
    int64_t now = clock_mono_ms(NULL);
    if (!*held_since)
        *held_since = now;
    return now - *held_since < HOLD_MAX_MS;
}

sw_err kafka_run(struct kafka *k, volatile sig_atomic_t *stop, const char *ready_file)
{
    k->ready_file = ready_file;
    bool paused = false;
    sw_err result = SW_OK;
    /* Back-pressure: above max_in_flight the assigned partitions are paused
     * (librdkafka stops fetching, nothing piles up here), and resumed at
     * three quarters of it.  A pause drops librdkafka's prefetched
     * messages, which it fetches again after the resume: costly, so the
     * limit is a safety valve for overload, far above the in-flight count
     * of a normal load (throughput x latency: 500/s x 20 ms = 10).  While
     * paused the loop polls every few milliseconds so that it resumes as
     * soon as the lanes have caught up. */
    int high = k->cfg->max_in_flight, low = high - high / 4;
    int64_t held_since = 0;
    beat(k);
    atomic_store(&k->loop_running, true);
    while (!*stop) {
        beat(k);
        if (atomic_load(&k->txn_failed)) {
            log_error("kafka", "the transactional producer failed; stopping");
            result = SW_ERR_KAFKA;
            break;
        }
        int n = atomic_load(&k->in_flight);
        if (!paused && n >= high && hold_off(&held_since)) {
            clock_sleep_ms(NULL, 1);
            continue;
        }
        if (n < high)
            held_since = 0;
        if (!paused && n >= high) {
            set_paused(k, true);
            paused = true;
            log_debug("kafka", "paused at %d commands in flight", n);
        } else if (paused && n <= low) {
            set_paused(k, false);
            paused = false;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(k->consumer, paused ? 5 : 100);
        if (!rkm)
            continue;
        if (rkm->err) {
            if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
                char reason[256];
                rd_kafka_fatal_error(k->consumer, reason, sizeof(reason));
                log_error("kafka", "fatal: %s", reason);
                rd_kafka_message_destroy(rkm);
                result = SW_ERR_KAFKA;
                break;
            }
            log_warn("kafka", "consumer: %s", rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        submit(k, rkm);
    }

    /* Drain: no new work, let the in-flight commands finish. */
    log_info("kafka", "stopping: draining %d commands in flight", atomic_load(&k->in_flight));
    k->drain_deadline_ms = clock_mono_ms(NULL) + (int64_t)k->cfg->shutdown_grace_s * 1000;
    atomic_store(&k->shutting_down, true);
    set_paused(k, true);
    while (atomic_load(&k->in_flight) > 0 && clock_mono_ms(NULL) < k->drain_deadline_ms) {
        beat(k);
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(k->consumer, 10);
        if (rkm)
            rd_kafka_message_destroy(rkm); /* paused; not stored, so redelivered */
    }
    if (k->txn)
        kf_txn_cycle(k);
    else
        rd_kafka_commit(k->consumer, NULL, 0);
    rd_kafka_consumer_close(k->consumer);
    atomic_store(&k->ready, false);
    atomic_store(&k->loop_running, false);
    return result;
}

void kafka_destroy(struct kafka *k)
{
    if (!k)
        return;
    lanes_destroy(k->lanes);
    if (k->txn)
        kf_txn_cycle(k); /* whatever finished after the drain */
    if (rd_kafka_flush(k->producer, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_error("kafka", "%d messages not delivered at exit", rd_kafka_outq_len(k->producer));
    if (k->plain != k->producer && rd_kafka_flush(k->plain, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_error("kafka", "%d events not delivered at exit", rd_kafka_outq_len(k->plain));
    atomic_store(&k->stop_poller, true);
    pthread_join(k->poller, NULL);
    rd_kafka_destroy(k->consumer);
    if (k->plain != k->producer)
        rd_kafka_destroy(k->plain);
    rd_kafka_destroy(k->producer);
    kf_txn_fini(k);
    offsets_destroy(k->offsets);
    free(k);
}
