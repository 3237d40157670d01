/* kafka_producer.c - what the worker produces: the outbox a handler fills,
 * producing it (retrying while librdkafka's queue is full), the delivery
 * callback (an undeliverable result goes to the dead-letter topic; the
 * last delivery of a command lets its offset be stored), and flushing. */
#include "kafka_internal.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"

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

void kf_kout_free(struct kout *m)
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
                dl.headers[0].name = "dlq_reason_code";
                dl.headers[0].value = strdup("undeliverable");
                dl.headers[1].name = "dlq_reason";
                dl.headers[1].value = strdup(rd_kafka_err2str(rkm->err));
                dl.headers[2].name = "dlq_source_topic";
                dl.headers[2].value = strdup(topic);
                dl.n_headers = 3;
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

sw_err kf_produce_one(struct kafka *k, struct kout *m, struct job *j)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)m->n_headers + 1);
    for (int h = 0; h < m->n_headers; h++)
        rd_kafka_header_add(hdrs, m->headers[h].name, -1, m->headers[h].value, -1);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key ? strlen(m->key) : 0), RD_KAFKA_V_VALUE(m->value, m->len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
        if (!err)
            return SW_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(k->producer, 50);
            continue;
        }
        log_error("kafka", "produce to %s failed: %s", m->topic, rd_kafka_err2str(err));
        metrics_delivery_failure(m->topic, rd_kafka_err2name(err));
        rd_kafka_headers_destroy(hdrs);
        return SW_ERR_KAFKA;
    }
}

sw_err kafka_produce(struct kafka *k, struct kout *msg)
{
    sw_err err = kf_produce_one(k, msg, NULL);
    kf_kout_free(msg);
    return err;
}

void *kf_producer_main(void *arg)
{
    struct kafka *k = arg;
    while (!atomic_load(&k->stop_poller))
        rd_kafka_poll(k->producer, 100);
    return NULL;
}

sw_err kafka_flush(struct kafka *k, int timeout_ms)
{
    return rd_kafka_flush(k->producer, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? SW_OK
                                                                                 : SW_ERR_KAFKA;
}
