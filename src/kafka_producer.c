/* kafka_producer.c - what the worker produces: the outbox a handler fills,
 * producing it (retrying while librdkafka's queue is full), the delivery
 * callback (an undeliverable result goes to the dead-letter topic; the
 * last delivery of a command lets its offset be stored), flushing, and
 * with worker.transactional_results the transactions that publish each
 * command's results together with its consumed offset. */
#include "kafka_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "lanes.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"

/* ---- outbox --------------------------------------------------------------- */

bool outbox_add(struct outbox *ob, const char *topic, const char *key, const char *value,
                size_t len)
{
    struct kout *items =
        vec_grow(ob->items, &ob->cap, sizeof(*ob->items), (size_t)ob->n + 1, OUTBOX_MAX);
    if (!items)
        return false;
    ob->items = items;
    struct kout *m = &ob->items[ob->n];
    memset(m, 0, sizeof(*m));
    m->topic = strdup(topic);
    m->key = key ? strdup(key) : NULL;
    m->value = malloc(len + 1);
    if (!m->topic || (key && !m->key) || !m->value) {
        free(m->topic);
        free(m->key);
        free(m->value);
        return false;
    }
    memcpy(m->value, value, len);
    m->value[len] = '\0';
    m->len = len;
    ob->n++;
    return true;
}

/* Both strings are copied: a message is produced after its handler
 * returned, when a name it took from its own data (a restored output's
 * JSON) is gone. */
static void kout_header(struct kout *m, const char *name, const char *value)
{
    if (m->n_headers == KMSG_MAX_HEADERS || !name || !value)
        return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return;
    }
    m->headers[m->n_headers].name = n;
    m->headers[m->n_headers].value = v;
    m->n_headers++;
}

void outbox_header(struct outbox *ob, const char *name, const char *value)
{
    if (ob->n > 0)
        kout_header(&ob->items[ob->n - 1], name, value);
}

void kf_kout_free(struct kout *m)
{
    free(m->topic);
    free(m->key);
    free(m->value);
    for (int h = 0; h < m->n_headers; h++) {
        free(m->headers[h].name);
        free(m->headers[h].value);
    }
    memset(m, 0, sizeof(*m));
}

void outbox_clear(struct outbox *ob)
{
    for (int i = 0; i < ob->n; i++)
        kf_kout_free(&ob->items[i]);
    free(ob->items);
    ob->items = NULL;
    ob->n = 0;
    ob->cap = 0;
}

/* ---- producing ---------------------------------------------------------- */

void kf_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct kafka *k = opaque;
    struct job *j = rkm->_private;
    if (rkm->err) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        log_error("kafka", "delivery to %s failed: %s", topic, rd_kafka_err2str(rkm->err));
        metrics_delivery_failure(topic, rd_kafka_err2name(rkm->err));
        /* A result that cannot reach its reply topic (e.g. it does not
         * exist) goes to the dead-letter topic instead of vanishing. */
        if (j && strcmp(topic, k->cfg->topic_dlq) != 0) {
            struct kout dl = {0};
            dl.topic = strdup(k->cfg->topic_dlq);
            dl.value = malloc(rkm->len + 1);
            if (dl.topic && dl.value) {
                memcpy(dl.value, rkm->payload, rkm->len);
                dl.len = rkm->len;
                kout_header(&dl, "dlq_reason_code", "undeliverable");
                kout_header(&dl, "dlq_reason", rd_kafka_err2str(rkm->err));
                kout_header(&dl, "dlq_source_topic", topic);
                atomic_fetch_add(&j->pending, 1);
                if (kf_produce_one(k, &dl, j) != SW_OK)
                    atomic_fetch_sub(&j->pending, 1);
            }
            kf_kout_free(&dl);
        }
    }
    if (j && atomic_fetch_sub(&j->pending, 1) == 1)
        kf_job_done(j);
}

static sw_err produce_on(rd_kafka_t *rk, struct kout *m, struct job *j)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)m->n_headers + 1);
    for (int h = 0; h < m->n_headers; h++)
        rd_kafka_header_add(hdrs, m->headers[h].name, -1, m->headers[h].value, -1);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key ? strlen(m->key) : 0), RD_KAFKA_V_VALUE(m->value, m->len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
        if (!err)
            return SW_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        log_error("kafka", "produce to %s failed: %s", m->topic, rd_kafka_err2str(err));
        metrics_delivery_failure(m->topic, rd_kafka_err2name(err));
        rd_kafka_headers_destroy(hdrs);
        return SW_ERR_KAFKA;
    }
}

/* A command's outputs: on the producer, in its open transaction when
 * there is one. */
sw_err kf_produce_one(struct kafka *k, struct kout *m, struct job *j)
{
    return produce_on(k->producer, m, j);
}

/* Outside any command (the poller's events): on the plain producer, so
 * that they never wait for, or abort with, a transaction. */
sw_err kafka_produce(struct kafka *k, struct kout *msg)
{
    sw_err err = produce_on(k->plain, msg, NULL);
    kf_kout_free(msg);
    return err;
}

sw_err kafka_flush(struct kafka *k, int timeout_ms)
{
    return rd_kafka_flush(k->plain, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? SW_OK
                                                                              : SW_ERR_KAFKA;
}

/* ---- transactional results (worker.transactional_results) -------------- */

/* Puts a committable position into the open transaction's offsets. */
static void txn_offset_set(struct kafka *k, const char *topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(k->txn_offsets, topic, partition);
    if (!p)
        p = rd_kafka_topic_partition_list_add(k->txn_offsets, topic, partition);
    p->offset = offset;
}

static bool own_topic(const struct sw_config *cfg, const char *topic)
{
    const char *own[] = {cfg->topic_results, cfg->topic_events, cfg->topic_dlq, cfg->topic_audit,
                         cfg->topic_ledger};
    for (size_t i = 0; i < NELEM(own); i++)
        if (!strcmp(own[i], topic))
            return true;
    return false;
}

/* A result for a reply_to topic the broker does not have would fail inside
 * the transaction and abort it, and every retry with it: it goes to the
 * dead-letter topic instead (as a failed delivery does without
 * transactions). */
static void txn_check_topic(struct kafka *k, struct kout *m)
{
    if (own_topic(k->cfg, m->topic))
        return;
    bool unknown = false;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->producer, m->topic, NULL);
    if (rkt && rd_kafka_metadata(k->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        unknown =
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    char *dlq = unknown ? strdup(k->cfg->topic_dlq) : NULL;
    if (!dlq)
        return;
    log_error("kafka", "result topic %s does not exist; dead-lettered", m->topic);
    metrics_delivery_failure(m->topic, rd_kafka_err2name(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    kout_header(m, "dlq_reason_code", "undeliverable");
    kout_header(m, "dlq_reason", rd_kafka_err2str(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    kout_header(m, "dlq_source_topic", m->topic);
    free(m->topic);
    m->topic = dlq;
}

/* A finished command's outputs, parked until every earlier command of its
 * partition has finished. */
struct parked {
    struct kafka *k;
    struct outbox out;
};

static void parked_free(void *payload)
{
    struct parked *pk = payload;
    outbox_clear(&pk->out);
    free(pk);
}

/* offsets_done_release's callback: publishes one command's results into
 * the open transaction (the caller holds the gate). */
static void txn_release(void *ctx, void *payload)
{
    struct parked *pk = payload;
    bool *failed = ctx;
    for (int i = 0; i < pk->out.n; i++)
        *failed |= kf_produce_one(pk->k, &pk->out.items[i], NULL) != SW_OK;
    parked_free(pk);
}

/* Holds the gate for reading.  While the producer thread commits (it holds
 * the gate for writing, a bounded wait on the broker) the lane beats: it
 * waits for Kafka, as a command waiting for Redis does, and is not hung. */
static void gate_enter(struct kafka *k)
{
    for (;;) {
        int64_t until = clock_mono_ms(NULL) + 1000;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
        if (pthread_rwlock_clockrdlock(&k->gate, CLOCK_MONOTONIC, &ts) == 0)
            return;
        lanes_beat();
    }
}

/* A command's results go into the open transaction in offset order, and
 * the partition's committable offset with them: a result is visible
 * exactly when the offsets up to its command are committed, so after a
 * crash nothing that was answered is consumed again.  (The price: a
 * result waits for the slower commands consumed before it on its
 * partition.) */
void kf_txn_finish(struct kafka *k, struct job *j, struct outbox *out)
{
    for (int i = 0; i < out->n; i++)
        txn_check_topic(k, &out->items[i]);
    struct parked *pk = malloc(sizeof(*pk));
    if (!pk) {
        /* Its offset stays unfinished: abort and rewind, so it runs again. */
        log_error("kafka", "out of memory; the command runs again");
        outbox_clear(out);
        pthread_mutex_lock(&k->txn_lock);
        k->txn_abort = true;
        pthread_mutex_unlock(&k->txn_lock);
        kf_job_free(j);
        return;
    }
    pk->k = k;
    pk->out = *out;
    *out = (struct outbox){0}; /* the outputs are the parked copy's now */
    bool failed = false;
    int64_t commit;
    gate_enter(k);
    /* Not current: a failed transaction rewound the partition meanwhile, or
     * it was revoked; the command will be consumed again (pk is ours). */
    int r = offsets_done_release(k->offsets, j->in.topic, j->in.partition, j->generation,
                                 j->in.offset, pk, txn_release, &failed, &commit);
    if (r < 0) {
        pthread_rwlock_unlock(&k->gate);
        parked_free(pk);
        kf_job_free(j);
        return;
    }
    pthread_mutex_lock(&k->txn_lock);
    if (failed)
        k->txn_abort = true; /* redo them rather than commit offsets without results */
    else if (r > 0)
        txn_offset_set(k, j->in.topic, j->in.partition, commit);
    k->txn_jobs++;
    pthread_mutex_unlock(&k->txn_lock);
    pthread_rwlock_unlock(&k->gate);
    kf_job_free(j); /* its offset is the transaction's */
}

/* After an aborted transaction: every assigned partition starts a new
 * generation (running commands of the old one produce nothing) and the
 * consumer goes back to the committed offsets, so the commands of the
 * aborted transaction are consumed again; their request_ids answer them
 * the same way (dispatch stored each answer before it was published). */
static void txn_rewind(struct kafka *k)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(k->consumer, &parts) || !parts)
        return;
    for (int i = 0; i < parts->cnt; i++)
        offsets_assign(k->offsets, parts->elems[i].topic, parts->elems[i].partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(k->consumer, parts, 10000);
    if (!err) {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(k->consumer, parts, 10000);
        if (e) {
            log_error("kafka", "rewinding after an aborted transaction: %s",
                      rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        log_error("kafka", "reading committed offsets after an aborted transaction: %s",
                  rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static rd_kafka_error_t *txn_commit(struct kafka *k, rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_error_t *e = NULL;
    for (int attempt = 0; attempt < 10; attempt++) {
        if (e)
            rd_kafka_error_destroy(e);
        e = NULL;
        if (offsets->cnt > 0) {
            rd_kafka_consumer_group_metadata_t *g = rd_kafka_consumer_group_metadata(k->consumer);
            e = rd_kafka_send_offsets_to_transaction(k->producer, offsets, g, 30000);
            rd_kafka_consumer_group_metadata_destroy(g);
        }
        if (!e)
            e = rd_kafka_commit_transaction(k->producer, 30000);
        if (!e || !rd_kafka_error_is_retriable(e))
            break;
        log_warn("kafka", "committing the transaction: %s; again", rd_kafka_error_string(e));
    }
    return e;
}

/* Ends the open transaction (commit, or abort and rewind) if anything is
 * in it, and opens the next.  Any thread may call it: the gate keeps the
 * lanes out and the transactional calls one at a time. */
void kf_txn_cycle(struct kafka *k)
{
    pthread_rwlock_wrlock(&k->gate);
    pthread_mutex_lock(&k->txn_lock);
    rd_kafka_topic_partition_list_t *offsets = k->txn_offsets;
    int jobs = k->txn_jobs;
    bool abort = k->txn_abort;
    k->txn_offsets = rd_kafka_topic_partition_list_new(8);
    k->txn_jobs = 0;
    k->txn_abort = false;
    pthread_mutex_unlock(&k->txn_lock);
    if ((jobs > 0 || abort) && !atomic_load(&k->txn_failed)) {
        rd_kafka_error_t *e = abort ? NULL : txn_commit(k, offsets);
        if (abort || (e && rd_kafka_error_txn_requires_abort(e))) {
            log_warn("kafka", "aborting a transaction of %d commands (%s); they run again", jobs,
                     e ? rd_kafka_error_string(e) : "a result could not be produced");
            rd_kafka_error_t *a = rd_kafka_abort_transaction(k->producer, 30000);
            if (a) {
                log_error("kafka", "abort: %s", rd_kafka_error_string(a));
                atomic_store(&k->txn_failed, true);
                rd_kafka_error_destroy(a);
            }
            txn_rewind(k);
        } else if (e) {
            log_error("kafka", "transaction: %s", rd_kafka_error_string(e));
            atomic_store(&k->txn_failed, true);
        }
        if (e)
            rd_kafka_error_destroy(e);
        if (!atomic_load(&k->txn_failed)) {
            rd_kafka_error_t *b = rd_kafka_begin_transaction(k->producer);
            if (b) {
                log_error("kafka", "begin transaction: %s", rd_kafka_error_string(b));
                atomic_store(&k->txn_failed, true);
                rd_kafka_error_destroy(b);
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    pthread_rwlock_unlock(&k->gate);
}

/* The transactional producer's first transaction; a predecessor with the
 * same transactional.id is fenced and its open transaction aborted. */
bool kf_txn_init(struct kafka *k, char *errstr, size_t errlen)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* The commit must not wait behind a stream of lanes. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&k->gate, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&k->txn_lock, NULL);
    k->txn_offsets = rd_kafka_topic_partition_list_new(8);
    offsets_set_free(k->offsets, parked_free);
    rd_kafka_error_t *e = rd_kafka_init_transactions(k->producer, 60000);
    if (!e)
        e = rd_kafka_begin_transaction(k->producer);
    if (e) {
        snprintf(errstr, errlen, "transactions: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return false;
    }
    log_info("kafka", "transactional results: each command's results and offset commit together");
    return true;
}

void kf_txn_fini(struct kafka *k)
{
    if (!k->txn || !k->txn_offsets)
        return;
    rd_kafka_topic_partition_list_destroy(k->txn_offsets);
    k->txn_offsets = NULL;
    pthread_rwlock_destroy(&k->gate);
    pthread_mutex_destroy(&k->txn_lock);
}

/* The producer thread: delivery callbacks of both producers; with
 * transactional results, the open transaction's commit every
 * KF_TXN_INTERVAL_MS (the latency an answer waits for at most, besides
 * the commit itself). */
void *kf_producer_main(void *arg)
{
    struct kafka *k = arg;
    int64_t next = clock_mono_ms(NULL) + KF_TXN_INTERVAL_MS;
    while (!atomic_load(&k->stop_poller)) {
        rd_kafka_poll(k->producer, k->txn ? 10 : 100);
        if (k->plain != k->producer)
            rd_kafka_poll(k->plain, 0);
        if (k->txn && clock_mono_ms(NULL) >= next) {
            kf_txn_cycle(k);
            next = clock_mono_ms(NULL) + KF_TXN_INTERVAL_MS;
        }
    }
    return NULL;
}
