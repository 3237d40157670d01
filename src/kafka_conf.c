/* kafka_conf.c - the worker's librdkafka configuration: which kafka.*
 * properties go to the consumer and which to the producer, our defaults
 * and fixed settings around them (kafka_conf_new), the log and error
 * hooks, and checking kafka.* without connecting (kafka_check_config). */
#include "kafka_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

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
                                       "queued.min.messages",
                                       "queued.max.messages.kbytes",
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

/* The last value the user gave kafka.KEY, or NULL. */
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
rd_kafka_conf_t *kf_make_conf(const struct sw_config *cfg, bool consumer, bool transactional,
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
