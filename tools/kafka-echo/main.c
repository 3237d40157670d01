/* kafka-echo - the physical floor of a command round trip.
 *
 * A bare librdkafka consumer on the search command topic that answers each
 * message with {"request_id": ..., "type": ..., "status": "ok"} on the
 * results topic, and does nothing else: no lanes, no Redis, no OpenEMR.
 * `make bench` runs the same load through it and through the worker; the
 * worker's latency is then read as a ratio to this one.
 *
 * It talks to Kafka exactly as the worker does: the client properties come
 * from kafka_conf_new() (the worker's defaults, the configured kafka.*,
 * the worker's fixed settings) over the same config loader, so a change of
 * the worker's settings moves the floor with it.  Only group.id differs
 * ("echo" by default), so that it never shares a group with a worker.
 * Like the worker it parses the message with jansson to read request_id.
 *
 *   kafka-echo [--config FILE] [--group ID] [--topic T] [--results T]
 *
 * KAFKA_BROKERS (or kafka.bootstrap.servers in FILE) names the broker.
 * Prints "ready" on stdout once partitions are assigned; runs until SIGTERM
 * or SIGINT (exit 0) and then prints how many messages it answered. */
#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kafka.h"

static volatile sig_atomic_t stop_flag;
static int ready_printed;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        if (parts->cnt > 0 && !ready_printed) {
            ready_printed = 1;
            printf("ready\n");
            fflush(stdout);
        }
    } else {
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

static rd_kafka_t *client_new(const struct sw_config *cfg, bool consumer, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, consumer, errstr, sizeof(errstr));
    if (conf && consumer &&
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    if (!conf) {
        fprintf(stderr, "kafka-echo: %s\n", errstr);
        return NULL;
    }
    if (consumer)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_t *rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                  sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka-echo: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Answers one command; false if the message had no request_id. */
static bool answer(rd_kafka_t *producer, const char *results, const rd_kafka_message_t *m)
{
    json_error_t jerr;
    json_t *cmd = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES, &jerr);
    const char *rid = json_string_value(json_object_get(cmd, "request_id"));
    const char *type = json_string_value(json_object_get(cmd, "type"));
    bool ok = false;
    char *reply = NULL;
    if (!rid)
        goto out_cmd;
    json_t *res =
        json_pack("{s:s,s:s,s:s}", "request_id", rid, "type", type ? type : "", "status", "ok");
    reply = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    if (!reply)
        goto out_cmd;
    for (int tries = 0; tries < 1000 && !stop_flag; tries++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(results), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(reply, strlen(reply)),
            RD_KAFKA_V_HEADER("request_id", rid, -1), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            ok = !err;
            break;
        }
        rd_kafka_poll(producer, 10);
    }
    free(reply);
out_cmd:
    json_decref(cmd);
    return ok;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"group", required_argument, NULL, 'g'},
        {"topic", required_argument, NULL, 't'},  {"results", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config = NULL, *group = "echo", *topic = "scheduling.commands.search",
               *results = "scheduling.results";
    int c, rc = 1;
    while ((c = getopt_long(argc, argv, "c:g:t:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'r':
            results = optarg;
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: kafka-echo [--config FILE] [--group ID] [--topic T] [--results T]\n");
            return c == 'h' ? 0 : 2;
        }
    }

    struct sw_config cfg;
    rd_kafka_t *producer = NULL, *consumer = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    long answered = 0, skipped = 0;
    /* Only Kafka matters here: the worker's checks of its OpenEMR settings
     * (a plain http base URL from the stack's environment) must not stop us. */
    unsetenv("OPENEMR_BASE_URL");
    unsetenv("SCHED_OPENEMR_BASE_URL");
    if (sw_config_load(&cfg, config, stderr) != SW_OK)
        goto out_cfg;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    producer = client_new(&cfg, false, NULL);
    consumer = producer ? client_new(&cfg, true, group) : NULL;
    if (!consumer)
        goto out_clients;
    rd_kafka_poll_set_consumer(consumer);
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    if (err) {
        fprintf(stderr, "kafka-echo: subscribe: %s\n", rd_kafka_err2str(err));
        goto out_clients;
    }

    while (!stop_flag) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        rd_kafka_poll(producer, 0);
        if (!m)
            continue;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                fprintf(stderr, "kafka-echo: fatal: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto out_clients;
            }
        } else if (answer(producer, results, m)) {
            answered++;
        } else {
            skipped++;
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;

out_clients:
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    if (producer) {
        if (rd_kafka_flush(producer, 5000))
            fprintf(stderr, "kafka-echo: %d replies not delivered\n", rd_kafka_outq_len(producer));
        rd_kafka_destroy(producer);
    }
    if (topics)
        rd_kafka_topic_partition_list_destroy(topics);
    fprintf(stderr, "kafka-echo: answered %ld, skipped %ld\n", answered, skipped);
out_cfg:
    sw_config_free(&cfg);
    return rc;
}
