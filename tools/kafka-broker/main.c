/* kafka-broker - an embedded Kafka broker for tests and the demo.
 *
 * Runs librdkafka's mock cluster (a real Kafka protocol server on
 * 127.0.0.1), creates the contract's topics, prints the bootstrap address
 * as the only line on stdout and runs until SIGTERM or SIGINT (exit 0).
 * SIGUSR1 takes broker 1 down, SIGUSR2 brings it back (outage tests).
 *
 *   kafka-broker [--partitions N] [--brokers N] [--topic NAME]...
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MAX_EXTRA_TOPICS 64

/* The contract's topics; command topics get --partitions, the others
 * fewer (results and events are read by few consumers). */
static const struct {
    const char *name;
    bool command;
} contract_topics[] = {
    {"scheduling.commands.search", true}, {"scheduling.commands.book", true},
    {"scheduling.commands.cancel", true}, {"scheduling.results", false},
    {"scheduling.events", false},         {"scheduling.dlq", false},
    {"scheduling.audit", false},          {"scheduling.ledger", false}, /* internal */
};

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t down_flag;
static volatile sig_atomic_t up_flag;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        down_flag = 1;
    else if (sig == SIGUSR2)
        up_flag = 1;
    else
        stop_flag = 1;
}

static bool parse_count(const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static void usage(FILE *f)
{
    fputs("usage: kafka-broker [--partitions N] [--brokers N] [--topic NAME]...\n"
          "  --partitions N  partitions of each command topic (default 4)\n"
          "  --brokers N     brokers in the mock cluster (default 1)\n"
          "  --topic NAME    create one more topic (may repeat)\n"
          "Prints the bootstrap address; SIGUSR1 takes broker 1 down, SIGUSR2 up.\n",
          f);
}

static bool create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int partitions,
                         int replication)
{
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, replication);
    if (err) {
        log_error("broker", "creating topic %s: %s", name, rd_kafka_err2str(err));
        return false;
    }
    return true;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    int partitions = 4, brokers = 1, n_extra = 0, rc = 1;
    const char *extra[MAX_EXTRA_TOPICS];
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char errstr[512];

    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:b:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!parse_count(optarg, 1, 1000, &partitions)) {
                fprintf(stderr, "kafka-broker: --partitions: 1..1000\n");
                return 2;
            }
            break;
        case 'b':
            if (!parse_count(optarg, 1, 16, &brokers)) {
                fprintf(stderr, "kafka-broker: --brokers: 1..16\n");
                return 2;
            }
            break;
        case 't':
            if (n_extra >= MAX_EXTRA_TOPICS || !*optarg || strlen(optarg) > 249) {
                fprintf(stderr, "kafka-broker: --topic: at most %d names of 1..249 chars\n",
                        MAX_EXTRA_TOPICS);
                return 2;
            }
            extra[n_extra++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    sw_log_init(SW_LOG_INFO, "kafka-broker");
    install_signals();

    /* The mock cluster is hosted by an rd_kafka_t that is used for nothing
     * else; it never connects anywhere. */
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "kafka-broker-host", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        log_error("broker", "conf: %s", errstr);
        goto cleanup_conf;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        log_error("broker", "rd_kafka_new: %s", errstr);
        goto cleanup_conf;
    }
    conf = NULL; /* owned by rk now */

    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        log_error("broker", "cannot start the mock cluster");
        goto cleanup_rk;
    }
    int replication = brokers < 3 ? brokers : 3;
    for (size_t i = 0; i < sizeof(contract_topics) / sizeof(contract_topics[0]); i++)
        if (!create_topic(mc, contract_topics[i].name, contract_topics[i].command ? partitions : 1,
                          replication))
            goto cleanup_mc;
    for (int i = 0; i < n_extra; i++)
        if (!create_topic(mc, extra[i], partitions, replication))
            goto cleanup_mc;

    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    printf("%s\n", bootstrap);
    fflush(stdout);
    log_info("broker", "listening on %s (%d broker(s), %d partitions per command topic)", bootstrap,
             brokers, partitions);

    while (!stop_flag) {
        if (down_flag) {
            down_flag = 0;
            rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(mc, 1);
            log_info("broker", "broker 1 down: %s", rd_kafka_err2str(err));
        }
        if (up_flag) {
            up_flag = 0;
            rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(mc, 1);
            log_info("broker", "broker 1 up: %s", rd_kafka_err2str(err));
        }
        rd_kafka_poll(rk, 0);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a signal cuts it short */
    }
    log_info("broker", "stopping");
    rc = 0;

cleanup_mc:
    rd_kafka_mock_cluster_destroy(mc);
cleanup_rk:
    rd_kafka_destroy(rk);
cleanup_conf:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}
