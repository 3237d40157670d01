/* loadgen - command load at a set rate, latency from produce to result.
 *
 *   loadgen --kind search|book|find | --template FILE
 *           [--rate N] [--max-in-flight N] [--count N | --duration S]
 *           [--warmup S] [--timeout S] [--brokers HOST:PORT]
 *           [--practitioner ID]... [--patient ID]... [--slots FILE]
 *           [--appointment-type T] [--book-days N] [--book-step-min M]
 *           [--sessions N] [--tz ZONE] [--config FILE] [--quiet]
 *           [--deadline-s S]
 *
 * Each command gets a unique request_id ("lg-<run>-<seq>").  Before the
 * first command, a consumer is assigned every partition of the results
 * topic at its current end (watermark), with no group membership, so it
 * sees every result of this run and nothing older.  Results are matched
 * by request_id; latency is from just before rd_kafka_producev() to the
 * moment the result is consumed.  Commands sent during --warmup seconds
 * are answered but not counted (the embedded broker is slow for the first
 * second after a consumer joins, and caches are cold).
 *
 * Pacing: --rate N is a token bucket (N tokens per second, a burst of one
 * millisecond's worth); --rate 0 sends as fast as --max-in-flight allows.
 * The in-flight bound holds in both modes.
 *
 * --deadline-s S gives every command a deadline S seconds after it is
 * made (to the second, as the contract has it): a worker sheds what it
 * cannot answer in time as `expired`, counted in status_counts.
 *
 * Kinds:
 *   search  search_slots for one practitioner and one fixed weekday two or
 *           more days ahead, no patient: after the warm-up every answer
 *           comes from the worker's cache.  With several --practitioner,
 *           command seq asks for practitioner seq % n (keys: --sessions).
 *   book    book on distinct candidate times: a grid per practitioner over
 *           the coming --book-days days (weekdays, clinic hours, lunch
 *           skipped), or "PRACTITIONER START [TYPE]" lines from --slots.
 *           Conflicts are expected and counted; keyed by practitioner.
 *   find    find_patient by phone and birth date.
 *
 * Kafka client settings: those of the worker (kafka_conf_new() over the
 * same config loader: src/config.c default_kafka[] and kafka.* from
 * --config or the environment), because the load generator stands in for
 * the voice agent, a conversational client: linger.ms=1 sends each command
 * at once instead of waiting to fill a batch, fetch.wait.max.ms=10 bounds
 * how long a result can sit on the broker before a fetch returns it (on
 * the embedded broker a fetch returns only when that wait runs out), and
 * fetch.error.backoff.ms=10 keeps a hiccup short.  Using the worker's
 * values for both ends also makes the echo floor and the worker runs
 * comparable.
 *
 * Output: a progress line per second on stderr; at the end one JSON line
 * on stdout {"sent","received","throughput","p50_ms","p90_ms","p99_ms",
 * "max_ms","status_counts":{...},...} and a readable summary on stderr.
 * Commands are signed (auth.h) with $SCHED_SIGN_KEY_FILE's key
 * $SCHED_SIGN_KEY_ID (its first agent key if unset), as tools/stack
 * exports them; unsigned without them.
 *
 * Exit 0 if every counted command got its result, 3 if some did not,
 * 1 on a setup error, 2 on bad usage. */
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "command.h"
#include "config.h"
#include "kafka.h"
#include "loadgen.h"

volatile sig_atomic_t stop_flag;

/* Signing (auth.h), as the voice agent signs: the keys file and key id of
 * $SCHED_SIGN_KEY_FILE and $SCHED_SIGN_KEY_ID (tools/stack exports both);
 * without them commands go unsigned (for kafka-echo, or a development
 * worker). */
static struct auth_keys *sign_keys;
static const char *sign_key_id;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stop_flag)
        ;
}

/* ---- Kafka --------------------------------------------------------------- */

static rd_kafka_t *client_new(const struct sw_config *cfg, bool consumer, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, consumer, errstr, sizeof(errstr));
    /* the voice agent's side: its own group, no commits; no infinite retry */
    const char *extra[][2] = {{"group.id", group}, {"enable.auto.commit", "false"}};
    const char *extra_producer[][2] = {{"message.timeout.ms", "30000"}};
    const char *(*set)[2] = consumer ? extra : extra_producer;
    size_t n = consumer ? 2 : 1;
    for (size_t i = 0; conf && i < n; i++) {
        if (rd_kafka_conf_set(conf, set[i][0], set[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            conf = NULL;
        }
    }
    if (!conf) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                  sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Assigns every partition of topic at its current high watermark. */
static bool assign_at_end(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    bool ok = false;
    if (!t)
        return false;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "loadgen: no metadata for %s: %s\n", topic,
                rd_kafka_err2str(err             ? err
                                 : md->topic_cnt ? md->topics[0].err
                                                 : err));
        goto out;
    }
    int n = md->topics[0].partition_cnt;
    if (n > MAX_PARTITIONS)
        n = MAX_PARTITIONS;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "loadgen: watermarks of %s[%d]: %s\n", topic, p, rd_kafka_err2str(err));
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = hi;
    }
    err = rd_kafka_assign(rk, parts);
    if (err) {
        fprintf(stderr, "loadgen: assign: %s\n", rd_kafka_err2str(err));
        goto out;
    }
    ok = true;
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return ok;
}

static bool send_one(struct state *st, rd_kafka_t *producer, struct generator *g, uint64_t seq,
                     bool measured)
{
    char rid[64], key[CMD_REF_MAX];
    snprintf(rid, sizeof(rid), "%s-%llu", st->run_id, (unsigned long long)seq);
    char *value = generator_make(g, seq, rid, key, sizeof(key));
    if (!value) {
        fprintf(stderr, "loadgen: cannot build command %llu\n", (unsigned long long)seq);
        return false;
    }
    pthread_mutex_lock(&st->mu);
    struct entry *e = entry_at(st, seq, true);
    if (!e) {
        pthread_mutex_unlock(&st->mu);
        free(value);
        fprintf(stderr, "loadgen: out of memory or sequence space\n");
        return false;
    }
    int64_t t = now_ns();
    e->sent_ns = t;
    e->state = measured ? E_MEASURED : E_WARM;
    if (measured) {
        if (st->sent_measured++ == 0)
            st->first_measured_ns = t;
    } else {
        st->sent_warm++;
    }
    pthread_mutex_unlock(&st->mu);
    struct auth_headers sig = {{0}};
    if (sign_keys) {
        struct auth_msg m = {g->topic, rid, NULL, NULL, NULL, value, strlen(value)};
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (auth_sign(sign_keys, sign_key_id, &m, at_ms, &sig) != SW_OK) {
            fprintf(stderr, "loadgen: cannot sign with key \"%s\"\n", sign_key_id);
            free(value);
            return false;
        }
    }
    for (;;) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
        rd_kafka_header_add(hdrs, "request_id", -1, rid, -1);
        if (sign_keys) {
            rd_kafka_header_add(hdrs, AUTH_HEADER_KEY_ID, -1, sig.key_id, -1);
            rd_kafka_header_add(hdrs, AUTH_HEADER_SIGNED_AT, -1, sig.signed_at, -1);
            rd_kafka_header_add(hdrs, AUTH_HEADER_SIGNATURE, -1, sig.signature, -1);
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(g->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err)
            break;
        rd_kafka_headers_destroy(hdrs); /* only a produced message owns them */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_flag) {
            fprintf(stderr, "loadgen: produce: %s\n", rd_kafka_err2str(err));
            free(value);
            return false;
        }
        rd_kafka_poll(producer, 5);
    }
    rd_kafka_poll(producer, 0);
    return true;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (setenv("TZ", o.tz, 1) != 0)
        return 1;
    tzset();

    struct sw_config cfg;
    struct state st = {.quiet = o.quiet};
    struct generator gen = {0};
    rd_kafka_t *producer = NULL;
    pthread_t consumer_thread;
    bool thread_started = false;
    rc = 1;
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    /* Only Kafka matters here: the worker's checks of its OpenEMR settings
     * (a plain http base URL from the stack's environment) must not stop us. */
    unsetenv("OPENEMR_BASE_URL");
    unsetenv("SCHED_OPENEMR_BASE_URL");
    if (sw_config_load(&cfg, o.config, stderr) != SW_OK)
        goto out_cfg;
    if (o.brokers) {
        char err[256];
        if (!sw_config_set(&cfg, "kafka.bootstrap.servers", o.brokers, err, sizeof(err))) {
            fprintf(stderr, "loadgen: --brokers: %s\n", err);
            goto out_cfg;
        }
    }
    const char *kf = getenv("SCHED_SIGN_KEY_FILE");
    if (kf && *kf) {
        char err[512];
        if (auth_keys_load(kf, &sign_keys, err, sizeof(err)) != SW_OK) {
            fprintf(stderr, "loadgen: %s\n", err);
            goto out_cfg;
        }
        sign_key_id = getenv("SCHED_SIGN_KEY_ID");
        if (!sign_key_id || !*sign_key_id)
            sign_key_id = auth_keys_first(sign_keys, AUTH_ROLE_AGENT);
    }
    if (!generator_init(&gen, &o, &cfg))
        goto out_clients;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(st.run_id, sizeof(st.run_id), "lg-%lx%04lx", (unsigned long)getpid() & 0xffff,
             (unsigned long)(wall.tv_nsec / 1000) & 0xffff);
    char group[64];
    snprintf(group, sizeof(group), "loadgen-%s", st.run_id);
    producer = client_new(&cfg, false, NULL);
    st.consumer = producer ? client_new(&cfg, true, group) : NULL;
    if (!st.consumer || !assign_at_end(st.consumer, o.results_topic))
        goto out_clients;
    st.t0_ns = now_ns();
    if (pthread_create(&consumer_thread, NULL, consume_results, &st) != 0)
        goto out_clients;
    thread_started = true;

    /* Send: warm-up, then the measured phase. */
    const int64_t warm_end = st.t0_ns + (int64_t)(o.warmup * 1e9);
    int64_t measure_end = 0;
    double tokens = 1, burst = o.rate > 0 ? 1 + o.rate / 1000 : 0;
    int64_t last_refill = now_ns();
    uint64_t seq = 0;
    long measured = 0;
    bool failed = false;
    while (!stop_flag) {
        int64_t t = now_ns();
        bool in_measure = t >= warm_end;
        if (in_measure && !measure_end)
            measure_end = o.duration > 0 ? t + (int64_t)(o.duration * 1e9) : INT64_MAX;
        if (in_measure && ((o.count && measured >= o.count) || t >= measure_end))
            break;
        /* in-flight bound */
        pthread_mutex_lock(&st.mu);
        long inflight = st.sent_warm + st.sent_measured - st.recv_warm - st.recv_measured;
        if (inflight >= o.max_in_flight) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 2000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&st.cv, &st.mu, &until);
            pthread_mutex_unlock(&st.mu);
            rd_kafka_poll(producer, 0);
            continue;
        }
        pthread_mutex_unlock(&st.mu);
        if (o.rate > 0) {
            tokens += (double)(t - last_refill) / 1e9 * o.rate;
            last_refill = t;
            if (tokens > burst)
                tokens = burst;
            if (tokens < 1) {
                int64_t wait = (int64_t)((1 - tokens) / o.rate * 1e9);
                rd_kafka_poll(producer, 0);
                sleep_ns(wait < 1000000 ? wait : 1000000);
                continue;
            }
            tokens -= 1;
        }
        if (!send_one(&st, producer, &gen, seq++, in_measure)) {
            failed = true;
            break;
        }
        if (in_measure)
            measured++;
    }
    int64_t send_end = now_ns();
    rd_kafka_flush(producer, 10000);

    /* Wait for the stragglers. */
    pthread_mutex_lock(&st.mu);
    st.done_sending = true;
    int64_t deadline = now_ns() + (int64_t)(o.timeout * 1e9);
    while (!stop_flag && now_ns() < deadline &&
           (st.recv_measured < st.sent_measured || st.recv_warm < st.sent_warm)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st.cv, &st.mu, &until);
    }
    pthread_mutex_unlock(&st.mu);
    stop_flag = 2;
    pthread_join(consumer_thread, NULL);
    thread_started = false;
    report(&st, &o, send_end);
    rc = failed ? 1 : st.recv_measured < st.sent_measured ? 3 : 0;

out_clients:
    if (thread_started) {
        stop_flag = 2;
        pthread_join(consumer_thread, NULL);
    }
    if (st.consumer) {
        rd_kafka_consumer_close(st.consumer);
        rd_kafka_destroy(st.consumer);
    }
    if (producer)
        rd_kafka_destroy(producer);
out_cfg:
    generator_fini(&gen);
    sw_config_free(&cfg);
    auth_keys_destroy(sign_keys);
    for (int i = 0; i < MAX_CHUNKS; i++)
        free(st.chunks[i]);
    free(st.lat_ms);
    return rc;
}
