/* ledger.c - topics.ledger: the records (encode, decode, what is left of
 * their life) and reading them back into Redis when it lost its data.
 *
 * The read-back is the one place outside kafka_*.c that talks to
 * librdkafka: a short-lived consumer of its own, with no group (assigned
 * partitions, nothing committed), made from kafka_conf_new() so that it
 * reaches the brokers with the worker's addresses and security settings. */
#include "ledger.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"

#define REBUILD_LOCK_MS  60000 /* renewed while the read-back makes progress */
#define READ_BACK_MS     30000 /* without a record read: give up, the next command tries again */
#define KAFKA_TIMEOUT_MS 10000

bool ledger_wanted(const struct sw_config *cfg, enum cmd_type t)
{
    return cfg->topic_ledger && cfg->topic_ledger[0] && cmd_type_topic(t) != CMD_TOPIC_SEARCH;
}

char *ledger_record_encode(const char *request_id, const char *digest, const char *result,
                           int64_t done_ms)
{
    /* The result as a string, not an object: answered again byte for
     * byte, whatever a round trip through a JSON library would change. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "request_id", request_id ? request_id : "",
                          "digest", digest ? digest : "", "result", result ? result : "", "done_ms",
                          (json_int_t)done_ms);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

void ledger_record_clear(struct ledger_record *r)
{
    if (!r)
        return;
    free(r->request_id);
    free(r->digest);
    free(r->result);
    memset(r, 0, sizeof(*r));
}

bool ledger_record_decode(const char *value, size_t len, struct ledger_record *r)
{
    memset(r, 0, sizeof(*r));
    json_t *o = value ? json_loadb(value, len, 0, NULL) : NULL;
    const char *rid = json_string_value(json_object_get(o, "request_id"));
    const char *dig = json_string_value(json_object_get(o, "digest"));
    const char *res = json_string_value(json_object_get(o, "result"));
    json_t *done = json_object_get(o, "done_ms");
    bool ok = rid && rid[0] && res && res[0] && json_is_integer(done);
    if (ok) {
        r->request_id = strdup(rid);
        r->digest = strdup(dig ? dig : "");
        r->result = strdup(res);
        r->done_ms = (int64_t)json_integer_value(done);
        ok = r->request_id && r->digest && r->result;
    }
    json_decref(o);
    if (!ok)
        ledger_record_clear(r);
    return ok;
}

int64_t ledger_ttl_left_ms(int64_t done_ms, int64_t now_ms, int ttl_s)
{
    int64_t age = now_ms > done_ms ? now_ms - done_ms : 0;
    return (int64_t)ttl_s * 1000 - age;
}

/* ---- reading back ---------------------------------------------------------- */

struct reader {
    rd_kafka_t *rk;
    const char *topic;
    int n;         /* partitions with something to read */
    int32_t *part; /* their numbers */
    int64_t *high; /* and their high watermarks */
    bool *done;    /* reached */
    int left;      /* not reached yet */
};

static void reader_free(struct reader *r)
{
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r->part);
    free(r->high);
    free(r->done);
}

/* A consumer of the worker's brokers and settings that commits nothing
 * and reads what was written, transactions aborted or not: the result it
 * holds was stored in Redis before it was produced, so Redis had it. */
static rd_kafka_t *reader_consumer(const struct sw_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, true, err, errlen);
    if (!conf)
        return NULL;
    static const char *const fixed[][2] = {{"enable.auto.commit", "false"},
                                           {"enable.auto.offset.store", "false"},
                                           {"enable.partition.eof", "true"},
                                           {"isolation.level", "read_uncommitted"}};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    /* librdkafka polls a consumer only with a group.id; this one never
     * joins it nor commits, so the worker's own (the one its ACLs allow) */
    char group[256] = "";
    size_t glen = sizeof(group);
    if ((rd_kafka_conf_get(conf, "group.id", group, &glen) != RD_KAFKA_CONF_OK || !group[0]) &&
        rd_kafka_conf_set(conf, "group.id", "schedworker", err, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* The partitions and their watermarks; r->n == 0 when the topic does not
 * exist or is empty. */
static sw_err reader_plan(struct reader *r, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->topic, NULL);
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(r->rk, 0, rkt, &md, KAFKA_TIMEOUT_MS)
                                : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e) {
        snprintf(err, errlen, "metadata of %s: %s", r->topic, rd_kafka_err2str(e));
        return SW_ERR_KAFKA;
    }
    sw_err out = SW_OK;
    const rd_kafka_metadata_topic_t *t = md->topic_cnt == 1 ? &md->topics[0] : NULL;
    if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t->partition_cnt == 0)
        goto out; /* nothing was ever written there */
    if (t->err) {
        snprintf(err, errlen, "metadata of %s: %s", r->topic, rd_kafka_err2str(t->err));
        out = SW_ERR_KAFKA;
        goto out;
    }
    int np = t->partition_cnt;
    r->part = calloc((size_t)np, sizeof(*r->part));
    r->high = calloc((size_t)np, sizeof(*r->high));
    r->done = calloc((size_t)np, sizeof(*r->done));
    if (!r->part || !r->high || !r->done) {
        out = SW_ERR_NOMEM;
        goto out;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np && !out; i++) {
        int64_t lo = 0, hi = 0;
        int32_t p = t->partitions[i].id;
        e = rd_kafka_query_watermark_offsets(r->rk, r->topic, p, &lo, &hi, KAFKA_TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "watermarks of %s/%d: %s", r->topic, (int)p, rd_kafka_err2str(e));
            out = SW_ERR_KAFKA;
        } else if (hi > lo) {
            rd_kafka_topic_partition_list_add(list, r->topic, p)->offset = lo;
            r->part[r->n] = p;
            r->high[r->n] = hi;
            r->n++;
        }
    }
    r->left = r->n;
    if (!out && r->n && (e = rd_kafka_assign(r->rk, list))) {
        snprintf(err, errlen, "assign %s: %s", r->topic, rd_kafka_err2str(e));
        out = SW_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_destroy(list);
out:
    rd_kafka_metadata_destroy(md);
    return out;
}

static void reader_reached(struct reader *r, int32_t partition)
{
    for (int i = 0; i < r->n; i++)
        if (r->part[i] == partition && !r->done[i]) {
            r->done[i] = true;
            r->left--;
        }
}

static int64_t high_of(const struct reader *r, int32_t partition)
{
    for (int i = 0; i < r->n; i++)
        if (r->part[i] == partition)
            return r->high[i];
    return 0;
}

/* One record: restored for what is left of its life, unless expired or
 * Redis has a record of that request_id already. */
static sw_err restore_one(const struct sw_config *cfg, struct fleet *f, const rd_kafka_message_t *m,
                          int64_t now_ms, struct ledger_stats *st)
{
    struct ledger_record rec;
    st->read++;
    if (!ledger_record_decode(m->payload, m->len, &rec)) {
        st->bad++; /* a compacted-away tombstone has no value either */
        return SW_OK;
    }
    sw_err err = SW_OK;
    int64_t ttl_ms = ledger_ttl_left_ms(rec.done_ms, now_ms, cfg->idempotency_ttl_s);
    bool restored = false;
    if (ttl_ms <= 0)
        st->expired++;
    else if ((err = fleet_ledger_restore(f, rec.request_id, rec.digest, rec.result, ttl_ms,
                                         &restored)) == SW_OK &&
             restored)
        st->restored++;
    ledger_record_clear(&rec);
    return err;
}

/* Every few seconds of progress: the rebuild lock lasts on (lock_name NULL:
 * no lock to renew). */
static sw_err keep_lock(struct fleet *f, const char *lock_name, const char *owner,
                        int64_t *renewed_ms)
{
    int64_t now = clock_now_ms(NULL);
    if (!lock_name || now - *renewed_ms < 5000)
        return SW_OK;
    *renewed_ms = now;
    return fleet_lock(f, lock_name, owner, REBUILD_LOCK_MS);
}

static sw_err read_back(const struct sw_config *cfg, struct fleet *f, const char *lock_name,
                        const char *owner, struct ledger_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    int64_t t0 = clock_now_ms(NULL), now_ms = 0, progress_ms = t0, renewed_ms = t0;
    struct reader r = {.topic = cfg->topic_ledger};
    sw_err out = fleet_now_ms(f, &now_ms);
    if (out) {
        snprintf(err, errlen, "redis: %s", fleet_errstr(f));
        return out;
    }
    if (!(r.rk = reader_consumer(cfg, err, errlen)))
        return SW_ERR_KAFKA;
    out = reader_plan(&r, err, errlen);
    while (!out && r.left > 0) {
        if (clock_now_ms(NULL) - progress_ms > READ_BACK_MS) {
            snprintf(err, errlen, "%s: %d partitions not read to their end, nothing read for %d s",
                     r.topic, r.left, READ_BACK_MS / 1000);
            out = SW_ERR_TIMEOUT;
            break;
        }
        if ((out = keep_lock(f, lock_name, owner, &renewed_ms))) {
            snprintf(err, errlen, "the rebuild lock was lost: %s", fleet_errstr(f));
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r.rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            reader_reached(&r, m->partition);
        } else if (m->err) {
            log_warn("ledger", "reading %s: %s", r.topic, rd_kafka_message_errstr(m));
        } else {
            progress_ms = clock_now_ms(NULL);
            out = restore_one(cfg, f, m, now_ms, st);
            if (out)
                snprintf(err, errlen, "redis: %s", fleet_errstr(f));
            else if (m->offset + 1 >= high_of(&r, m->partition))
                reader_reached(&r, m->partition);
        }
        rd_kafka_message_destroy(m);
    }
    reader_free(&r);
    st->seconds = (double)(clock_now_ms(NULL) - t0) / 1000.0;
    return out;
}

sw_err ledger_read_back(const struct sw_config *cfg, struct fleet *f, struct ledger_stats *st,
                        char *err, size_t errlen)
{
    return read_back(cfg, f, NULL, NULL, st, err, errlen);
}

sw_err ledger_rebuild(const struct sw_config *cfg, struct fleet *f, const char *owner)
{
    const char *lock = key_name(KEY_LOCK_LEDGER);
    sw_err err = fleet_lock(f, lock, owner, REBUILD_LOCK_MS);
    if (err)
        return err; /* SW_ERR_BUSY: another replica rebuilds */
    log_warn("ledger", "no epoch in Redis (first start, or Redis lost its data): reading %s back",
             cfg->topic_ledger);
    struct ledger_stats st;
    char why[512] = "";
    err = read_back(cfg, f, lock, owner, &st, why, sizeof(why));
    if (!err) {
        char value[256];
        snprintf(value, sizeof(value), "%s %lld read=%ld restored=%ld", cfg->worker_id,
                 (long long)clock_now_ms(NULL), st.read, st.restored);
        err = fleet_epoch_set(f, lock, owner, value);
        if (err)
            snprintf(why, sizeof(why), "the rebuild lock was lost: %s", fleet_errstr(f));
    }
    if (err)
        log_error("ledger",
                  "rebuild failed (%s): %s; write commands wait, the next one tries "
                  "again",
                  sw_err_str(err), why);
    else
        log_info("ledger",
                 "rebuilt from %s: %ld records read, %ld restored, %ld expired, %ld unreadable, "
                 "%.3f s",
                 cfg->topic_ledger, st.read, st.restored, st.expired, st.bad, st.seconds);
    metrics_ledger_rebuild(!err, err ? 0 : st.restored);
    fleet_unlock(f, lock, owner);
    return err;
}
