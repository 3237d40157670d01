/* kafka.c - consumer group, lanes and producer (see kafka.h). */
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lanes.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"

struct kafka {
    const struct sw_config *cfg;
    struct kafka_handler handler;
    rd_kafka_t *consumer;
    rd_kafka_t *producer; /* transactional with worker.transactional_results */
    rd_kafka_t *plain;    /* = producer, or the poller's non-transactional one */
    struct lanes *lanes;
    struct offsets *offsets;
    pthread_t poller;
    atomic_bool stop_poller;
    atomic_int in_flight;
    atomic_int retrying; /* jobs waiting to run again (Redis down, lease busy) */
    atomic_bool shutting_down;
    int64_t drain_deadline_ms; /* set when shutting down */
    const char *ready_file;
    atomic_bool ready;

    /* worker.transactional_results: the producer always has a transaction
     * open; lanes produce into it holding `gate` for reading, and the
     * producer thread commits it with the consumed offsets (txn_offsets)
     * every TXN_INTERVAL_MS holding it for writing. */
    bool txn;
    pthread_rwlock_t gate;
    pthread_mutex_t txn_lock; /* txn_offsets, txn_jobs, txn_abort */
    rd_kafka_topic_partition_list_t *txn_offsets;
    int txn_jobs;
    bool txn_abort;         /* a result could not be produced: abort, redo */
    atomic_bool txn_failed; /* fatal: the producer was fenced or broke */
};

#define TXN_INTERVAL_MS 100

struct job {
    struct kafka *k;
    rd_kafka_message_t *rkm;
    struct kmsg in;
    int64_t generation;
    atomic_int pending; /* deliveries outstanding */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

/* ---- outbox --------------------------------------------------------------- */

bool outbox_add(struct outbox *ob, const char *topic, const char *key, const char *value,
                size_t len)
{
    if (ob->n == OUTBOX_MAX)
        return false;
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

void outbox_header(struct outbox *ob, const char *name, const char *value)
{
    if (ob->n == 0)
        return;
    struct kout *m = &ob->items[ob->n - 1];
    if (m->n_headers == KMSG_MAX_HEADERS || !value)
        return;
    char *v = strdup(value);
    if (!v)
        return;
    m->headers[m->n_headers].name = name;
    m->headers[m->n_headers].value = v;
    m->n_headers++;
}

static void kout_free(struct kout *m)
{
    free(m->topic);
    free(m->key);
    free(m->value);
    for (int h = 0; h < m->n_headers; h++)
        free(m->headers[h].value);
    memset(m, 0, sizeof(*m));
}

void outbox_clear(struct outbox *ob)
{
    for (int i = 0; i < ob->n; i++)
        kout_free(&ob->items[i]);
    ob->n = 0;
}

/* ---- configuration ---------------------------------------------------- */

/* Properties that only one side understands; not given to the other, so
 * librdkafka does not warn about them at every start. */
static bool consumer_only(const char *key)
{
    static const char *const keys[] = {"group.id",
                                       "group.instance.id",
                                       "session.timeout.ms",
                                       "heartbeat.interval.ms",
                                       "auto.offset.reset",
                                       "enable.auto.commit",
                                       "auto.commit.interval.ms",
                                       "partition.assignment.strategy",
                                       "max.poll.interval.ms",
                                       "fetch.wait.max.ms",
                                       "fetch.min.bytes",
                                       "fetch.error.backoff.ms",
                                       "isolation.level",
                                       NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key))
            return true;
    return false;
}

static bool producer_only(const char *key)
{
    static const char *const keys[] = {"linger.ms",
                                       "queue.buffering.max.ms",
                                       "acks",
                                       "enable.idempotence",
                                       "message.timeout.ms",
                                       "batch.size",
                                       "batch.num.messages",
                                       "compression.type",
                                       "retries",
                                       NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcmp(keys[i], key))
            return true;
    return false;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum sw_log_level l = level <= 3 ? SW_LOG_ERROR : level <= 5 ? SW_LOG_WARN : SW_LOG_DEBUG;
    SW_LOG(l, "rdkafka", "%s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        log_error("kafka", "fatal client error: %s", reason);
    else
        log_warn("kafka", "%s: %s", rd_kafka_err2name(err), reason);
}

/* Our settings around the user's kafka.*: defaults first (the user may
 * override them), fixed ones last (the user may not). */
static const char *const fixed_consumer[][2] = {
    {"enable.auto.offset.store", "false"}, /* stored only after the result is delivered */
    {"enable.auto.commit", "true"},
    {"enable.partition.eof", "false"},
};
static const char *const fixed_producer[][2] = {
    {"enable.idempotence", "true"},
};
static const char *const default_producer[][2] = {
    {"message.timeout.ms", "0"}, /* results wait for a broker that is down */
};
static const char *const default_consumer[][2] = {
    /* A replica killed between a result's delivery and the next commit
     * has that command redelivered and answered again: on Apache Kafka,
     * 1000 ms cost 6.7 repeated answers per SIGKILL in the chaos test,
     * 100 ms 2.7 (10 ms: 1.8).  librdkafka commits only when a stored
     * offset moved, so an idle replica sends nothing. */
    {"auto.commit.interval.ms", "100"},
    {"auto.offset.reset", "earliest"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Calls fn for every property of one side, in the order the worker sets
 * them; stops and returns false when fn does. */
static bool props_each(const struct sw_config *cfg, bool consumer,
                       bool (*fn)(void *arg, const char *key, const char *value), void *arg)
{
    const char *const(*defs)[2] = consumer ? default_consumer : default_producer;
    size_t ndefs = consumer ? NELEM(default_consumer) : NELEM(default_producer);
    for (size_t i = 0; i < ndefs; i++)
        if (!fn(arg, defs[i][0], defs[i][1]))
            return false;
    /* The broker's view of the group (members, quotas, request logs)
     * names each replica by its worker.id rather than "rdkafka". */
    if (cfg->worker_id && *cfg->worker_id && !fn(arg, "client.id", cfg->worker_id))
        return false;
    for (int i = 0; i < cfg->n_kafka; i++) {
        const char *key = cfg->kafka[i].key;
        if ((consumer && producer_only(key)) || (!consumer && consumer_only(key)))
            continue;
        if (!fn(arg, key, cfg->kafka[i].value))
            return false;
    }
    const char *const(*fixed)[2] = consumer ? fixed_consumer : fixed_producer;
    size_t nfixed = consumer ? NELEM(fixed_consumer) : NELEM(fixed_producer);
    for (size_t i = 0; i < nfixed; i++)
        if (!fn(arg, fixed[i][0], fixed[i][1]))
            return false;
    return true;
}

struct conf_set_ctx {
    rd_kafka_conf_t *conf;
    char *errstr;
    size_t errlen;
};

static bool conf_set_one(void *arg, const char *key, const char *value)
{
    struct conf_set_ctx *c = arg;
    char reason[256];
    if (rd_kafka_conf_set(c->conf, key, value, reason, sizeof(reason)) == RD_KAFKA_CONF_OK)
        return true;
    snprintf(c->errstr, c->errlen, "%s: %s", key, reason);
    return false;
}

rd_kafka_conf_t *kafka_conf_new(const struct sw_config *cfg, bool consumer, char *errstr,
                                size_t errlen)
{
    struct conf_set_ctx ctx = {rd_kafka_conf_new(), errstr, errlen};
    if (!props_each(cfg, consumer, conf_set_one, &ctx)) {
        rd_kafka_conf_destroy(ctx.conf);
        return NULL;
    }
    return ctx.conf;
}

static const char *kafka_prop(const struct sw_config *cfg, const char *key)
{
    for (int i = cfg->n_kafka - 1; i >= 0; i--)
        if (!strcmp(cfg->kafka[i].key, key))
            return cfg->kafka[i].value;
    return NULL;
}

/* worker.transactional_results: offsets go through the producer's
 * transactions, not the consumer's commits; the transactional.id is the
 * group's and this replica's name, so that a replica started again under
 * the same worker.id fences its dead predecessor and aborts what it left
 * open.  A replica that never comes back holds the results partitions'
 * read_committed position until transaction.timeout.ms: 10 s here (the
 * user may set another). */
static bool set_transactional(const struct sw_config *cfg, rd_kafka_conf_t *conf, bool consumer,
                              char *errstr, size_t errlen)
{
    if (consumer)
        return rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errlen) ==
               RD_KAFKA_CONF_OK;
    char id[512];
    const char *group = kafka_prop(cfg, "group.id");
    const char *tid = kafka_prop(cfg, "transactional.id");
    const char *timeout = kafka_prop(cfg, "transaction.timeout.ms");
    snprintf(id, sizeof(id), "%s-%s", group ? group : "schedworker", cfg->worker_id);
    return rd_kafka_conf_set(conf, "transactional.id", tid ? tid : id, errstr, errlen) ==
               RD_KAFKA_CONF_OK &&
           rd_kafka_conf_set(conf, "transaction.timeout.ms", timeout ? timeout : "10000", errstr,
                             errlen) == RD_KAFKA_CONF_OK;
}

/* The worker's own conf: kafka_conf_new(), our log and error hooks, and
 * the transactional settings when asked. */
static rd_kafka_conf_t *make_conf(const struct sw_config *cfg, bool consumer, bool transactional,
                                  char *errstr, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, consumer, errstr, errlen);
    if (conf && transactional && !set_transactional(cfg, conf, consumer, errstr, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (conf) {
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }
    return conf;
}

int kafka_check_config(const struct sw_config *cfg, char *errstr, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = 0;
    for (int i = 0; i < cfg->n_kafka && !bad; i++) {
        char e[256];
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, e, sizeof(e)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errlen, "kafka.%s: %s", cfg->kafka[i].key, e);
            bad = 1;
        }
    }
    rd_kafka_conf_destroy(conf);
    return bad;
}

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

static void job_done(struct job *j)
{
    struct kafka *k = j->k;
    int64_t commit;
    if (offsets_done(k->offsets, j->in.topic, j->in.partition, j->generation, j->in.offset,
                     &commit))
        store_offset(k, j->in.topic, j->in.partition, commit);
    rd_kafka_message_destroy(j->rkm);
    free(j);
    atomic_fetch_sub(&k->in_flight, 1);
}

static sw_err produce_on(rd_kafka_t *rk, struct kout *m, struct job *j);

static sw_err produce_one(struct kafka *k, struct kout *m, struct job *j)
{
    return produce_on(k->producer, m, j);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct kafka *k = opaque;
    struct job *j = rkm->_private;
    if (rkm->err) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        log_error("kafka", "delivery to %s failed: %s", topic, rd_kafka_err2str(rkm->err));
        /* A result that cannot reach its reply topic (e.g. it does not
         * exist) goes to the dead-letter topic instead of vanishing. */
        if (j && strcmp(topic, k->cfg->topic_dlq) != 0) {
            struct kout dl = {0};
            dl.topic = strdup(k->cfg->topic_dlq);
            dl.value = malloc(rkm->len + 1);
            if (dl.topic && dl.value) {
                memcpy(dl.value, rkm->payload, rkm->len);
                dl.len = rkm->len;
                dl.headers[0].name = "dlq_reason_code";
                dl.headers[0].value = strdup("undeliverable");
                dl.headers[1].name = "dlq_reason";
                dl.headers[1].value = strdup(rd_kafka_err2str(rkm->err));
                dl.headers[2].name = "dlq_source_topic";
                dl.headers[2].value = strdup(topic);
                dl.n_headers = 3;
                atomic_fetch_add(&j->pending, 1);
                if (produce_one(k, &dl, j) != SW_OK)
                    atomic_fetch_sub(&j->pending, 1);
            }
            kout_free(&dl);
        }
    }
    if (j && atomic_fetch_sub(&j->pending, 1) == 1)
        job_done(j);
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
        rd_kafka_headers_destroy(hdrs);
        return SW_ERR_KAFKA;
    }
}

sw_err kafka_produce(struct kafka *k, struct kout *msg)
{
    sw_err err = produce_on(k->plain, msg, NULL);
    kout_free(msg);
    return err;
}

/* ---- transactional results (worker.transactional_results) -------------- */

static void job_drop(struct job *j);

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
    const char *own[] = {cfg->topic_results, cfg->topic_events, cfg->topic_dlq, cfg->topic_audit};
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
    const char *const hdrs[][2] = {{"dlq_reason_code", "undeliverable"},
                                   {"dlq_reason", "Broker: Unknown topic or partition"},
                                   {"dlq_source_topic", m->topic}};
    for (size_t i = 0; i < NELEM(hdrs) && m->n_headers < KMSG_MAX_HEADERS; i++) {
        char *v = strdup(hdrs[i][1]);
        if (!v)
            break;
        m->headers[m->n_headers].name = hdrs[i][0];
        m->headers[m->n_headers++].value = v;
    }
    free(m->topic);
    m->topic = dlq;
}

/* A finished command's results, parked until every earlier command of
 * its partition has finished. */
struct parked {
    struct kafka *k;
    bool failed; /* a produce failed: the transaction must not commit */
    int n;
    struct kout items[];
};

static void parked_free(void *payload)
{
    struct parked *pk = payload;
    for (int i = 0; i < pk->n; i++)
        kout_free(&pk->items[i]);
    free(pk);
}

/* offsets_done_release's callback: publishes one command's results into
 * the open transaction (the caller holds the gate). */
static void txn_release(void *ctx, void *payload)
{
    struct parked *pk = payload;
    bool *failed = ctx;
    for (int i = 0; i < pk->n; i++)
        *failed |= produce_one(pk->k, &pk->items[i], NULL) != SW_OK;
    parked_free(pk);
}

/* A command's results go into the open transaction in offset order, and
 * the partition's committable offset with them: a result is visible
 * exactly when the offsets up to its command are committed, so after a
 * crash nothing that was answered is consumed again.  (The price: a
 * result waits for the slower commands consumed before it on its
 * partition.) */
static void txn_finish(struct kafka *k, struct job *j, struct outbox *out)
{
    for (int i = 0; i < out->n; i++)
        txn_check_topic(k, &out->items[i]);
    struct parked *pk = malloc(sizeof(*pk) + (size_t)out->n * sizeof(pk->items[0]));
    if (!pk) {
        log_error("kafka", "out of memory; the command runs again");
        outbox_clear(out);
        job_drop(j);
        return;
    }
    pk->k = k;
    pk->n = out->n;
    memcpy(pk->items, out->items, (size_t)out->n * sizeof(pk->items[0]));
    out->n = 0; /* the strings are the parked copy's now */
    bool failed = false;
    int64_t commit;
    pthread_rwlock_rdlock(&k->gate);
    /* Not current: a failed transaction rewound the partition meanwhile, or
     * it was revoked; the command will be consumed again (pk is freed). */
    int r = offsets_done_release(k->offsets, j->in.topic, j->in.partition, j->generation,
                                 j->in.offset, pk, txn_release, &failed, &commit);
    if (r < 0) {
        pthread_rwlock_unlock(&k->gate);
        parked_free(pk);
        job_drop(j);
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
    rd_kafka_message_destroy(j->rkm);
    free(j);
    atomic_fetch_sub(&k->in_flight, 1);
}

/* After an aborted transaction: every assigned partition starts a new
 * generation (running commands of the old one produce nothing) and the
 * consumer goes back to the committed offsets, so the commands of the
 * aborted transaction are consumed again; their request_ids answer them
 * the same way. */
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
static void txn_cycle(struct kafka *k)
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

static void *poller_main(void *arg)
{
    struct kafka *k = arg;
    int64_t next = now_ms() + TXN_INTERVAL_MS;
    while (!atomic_load(&k->stop_poller)) {
        rd_kafka_poll(k->producer, k->txn ? 10 : 100);
        if (k->plain != k->producer)
            rd_kafka_poll(k->plain, 0);
        if (k->txn && now_ms() >= next) {
            txn_cycle(k);
            next = now_ms() + TXN_INTERVAL_MS;
        }
    }
    return NULL;
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

/* Drops a job without storing its offset: it will be consumed again. */
static void job_drop(struct job *j)
{
    struct kafka *k = j->k;
    rd_kafka_message_destroy(j->rkm);
    free(j);
    atomic_fetch_sub(&k->in_flight, 1);
}

static bool past_drain_deadline(struct kafka *k)
{
    return atomic_load(&k->shutting_down) && now_ms() > k->drain_deadline_ms;
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
            job_drop(j);
            return;
        }
        if (k->handler.handle(ls ? ls->handler_state : NULL, &j->in, attempt, &out) == HANDLER_DONE)
            break;
        outbox_clear(&out);
        int backoff = attempt < 5 ? 100 << attempt : 2000;
        atomic_fetch_add(&k->retrying, 1);
        sleep_ms(backoff);
        atomic_fetch_sub(&k->retrying, 1);
    }
    sw_log_clear_context();
    if (k->txn) {
        txn_finish(k, j, &out);
        return;
    }
    atomic_store(&j->pending, out.n + 1); /* +1 until every produce is queued */
    for (int i = 0; i < out.n; i++)
        if (produce_one(k, &out.items[i], j) != SW_OK)
            atomic_fetch_sub(&j->pending, 1); /* logged; nothing will be delivered */
    outbox_clear(&out);
    if (atomic_fetch_sub(&j->pending, 1) == 1)
        job_done(j);
}

/* ---- consumer ----------------------------------------------------------- */

static void touch_ready(struct kafka *k)
{
    if (atomic_load(&k->ready))
        return;
    if (k->ready_file) {
        FILE *f = fopen(k->ready_file, "w");
        if (f) {
            fputs("ready\n", f);
            fclose(f);
        }
    }
    atomic_store(&k->ready, true);
    log_info("kafka", "joined consumer group; ready");
}

sw_err kafka_flush(struct kafka *k, int timeout_ms)
{
    return rd_kafka_flush(k->plain, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? SW_OK
                                                                              : SW_ERR_KAFKA;
}

bool kafka_is_ready(struct kafka *k)
{
    return atomic_load(&k->ready);
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
                           : now_ms() + (int64_t)k->cfg->shutdown_grace_s * 1000;
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
        if (now_ms() > deadline) {
            log_warn("kafka",
                     "revocation: abandoning %d unfinished commands (redelivered to the "
                     "new owner)",
                     pending);
            break;
        }
        sleep_ms(5);
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
        for (int i = 0; i < parts->cnt; i++)
            metrics_lag_forget(parts->elems[i].topic, parts->elems[i].partition);
        wait_revoked(k, parts);
        if (k->txn)
            txn_cycle(k); /* the finished commands' offsets, with their results */
        else
            rd_kafka_commit(rk, NULL, 0); /* the stored offsets, synchronously */
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    } else {
        log_error("kafka", "rebalance failed: %s", rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
    }
}

/* The transactional producer's first transaction; a predecessor with the
 * same transactional.id is fenced and its open transaction aborted. */
static bool txn_init(struct kafka *k, char *errstr, size_t errlen)
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

static void txn_fini(struct kafka *k)
{
    if (!k->txn || !k->txn_offsets)
        return;
    rd_kafka_topic_partition_list_destroy(k->txn_offsets);
    k->txn_offsets = NULL;
    pthread_rwlock_destroy(&k->gate);
    pthread_mutex_destroy(&k->txn_lock);
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

    for (int i = 0; i < (k->txn ? 2 : 1); i++) {
        pconf = make_conf(cfg, false, k->txn && i == 0, errstr, errlen);
        if (!pconf)
            goto fail;
        rd_kafka_conf_set_dr_msg_cb(pconf, dr_cb);
        rd_kafka_conf_set_opaque(pconf, k);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, errlen);
        if (!rk)
            goto fail; /* pconf is still ours on failure */
        pconf = NULL;
        *(i == 0 ? &k->producer : &k->plain) = rk;
    }
    if (!k->txn)
        k->plain = k->producer;
    if (k->txn && !txn_init(k, errstr, errlen))
        goto fail;

    cconf = make_conf(cfg, true, k->txn, errstr, errlen);
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
    if (pthread_create(&k->poller, NULL, poller_main, k) != 0) {
        snprintf(errstr, errlen, "cannot start the producer thread");
        goto fail;
    }
    struct lanes_ops ops = {lane_init, lane_run, lane_fini, k};
    k->lanes = lanes_new(cfg->worker_threads, &ops);
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
    txn_fini(k);
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

static void read_headers(const rd_kafka_message_t *rkm, struct kmsg *in)
{
    static const struct {
        const char *name;
        size_t off, size;
    } wanted[] = {
        {"request_id", offsetof(struct kmsg, request_id), sizeof(in->request_id)},
        {"reply_to", offsetof(struct kmsg, reply_to), sizeof(in->reply_to)},
        {"correlation_id", offsetof(struct kmsg, correlation_id), sizeof(in->correlation_id)},
        {"x-signature", offsetof(struct kmsg, signature), sizeof(in->signature)},
        {"x-producer", offsetof(struct kmsg, producer), sizeof(in->producer)},
    };
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) || !hdrs)
        return;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        const void *v;
        size_t n;
        if (rd_kafka_header_get_last(hdrs, wanted[i].name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            v && n < wanted[i].size && !memchr(v, '\0', n)) {
            char *dst = (char *)in + wanted[i].off;
            memcpy(dst, v, n);
            dst[n] = '\0';
        }
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
    /* One key, one lane: its commands keep their order.  No key: the
     * partition decides (order within a partition is kept as well). */
    uint64_t h = rkm->key_len ? lanes_hash(rkm->key, rkm->key_len)
                              : lanes_hash(&rkm->partition, sizeof(rkm->partition)) ^
                                    lanes_hash(j->in.topic, strlen(j->in.topic));
    lanes_submit(k->lanes, h, j);
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
    while (!*stop) {
        if (atomic_load(&k->txn_failed)) {
            log_error("kafka", "the transactional producer failed; stopping");
            result = SW_ERR_KAFKA;
            break;
        }
        int n = atomic_load(&k->in_flight);
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
    k->drain_deadline_ms = now_ms() + (int64_t)k->cfg->shutdown_grace_s * 1000;
    atomic_store(&k->shutting_down, true);
    set_paused(k, true);
    while (atomic_load(&k->in_flight) > 0 && now_ms() < k->drain_deadline_ms) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(k->consumer, 10);
        if (rkm)
            rd_kafka_message_destroy(rkm); /* paused; not stored, so redelivered */
    }
    if (k->txn)
        txn_cycle(k);
    else
        rd_kafka_commit(k->consumer, NULL, 0);
    rd_kafka_consumer_close(k->consumer);
    return result;
}

void kafka_destroy(struct kafka *k)
{
    if (!k)
        return;
    lanes_destroy(k->lanes);
    if (k->txn)
        txn_cycle(k); /* whatever finished after the drain */
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
    txn_fini(k);
    offsets_destroy(k->offsets);
    free(k);
}
