/* monitor.c - health flags, token upkeep and gauges, once a second. */
#include "monitor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "openemr.h"

struct monitor {
    const struct sw_config *cfg;
    struct kafka *kafka;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool redis_ok, token_ok;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    struct fleet *f = NULL;
    struct oe_client *oe = NULL;
    char err[256];
    bool token_warned = false;

    if (fleet_new(m->cfg, &f, err, sizeof(err)) != SW_OK)
        log_error("monitor", "redis: %s", err);
    else if (oe_client_new(m->cfg, f, NULL, NULL, &oe, err, sizeof(err)) != SW_OK)
        log_error("monitor", "openemr client: %s", err);
    while (!atomic_load(&m->stop)) {
        bool redis = f && fleet_ping(f) == SW_OK;
        atomic_store(&m->redis_ok, redis);
        if (!redis)
            metrics_redis_error();
        if (redis && oe) {
            sw_err e = oe_ensure_token(oe, now_ms() + 5000);
            bool ok = e == SW_OK && oe_has_valid_token(oe);
            if (!ok && !token_warned)
                log_warn("monitor", "no valid OpenEMR token: %s", sw_err_str(e));
            token_warned = !ok;
            atomic_store(&m->token_ok, ok);
            metrics_circuit((int)fleet_breaker_state(f));
        }
        metrics_in_flight(kafka_in_flight(m->kafka));
        kafka_report_lag(m->kafka);
        for (int i = 0; i < 10 && !atomic_load(&m->stop); i++)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    oe_client_destroy(oe);
    fleet_destroy(f);
    return NULL;
}

sw_err monitor_start(const struct sw_config *cfg, struct kafka *k, struct monitor **out)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (!m)
        return SW_ERR_NOMEM;
    m->cfg = cfg;
    m->kafka = k;
    if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
        free(m);
        return SW_ERR_INTERNAL;
    }
    *out = m;
    return SW_OK;
}

void monitor_stop(struct monitor *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
    free(m);
}

bool monitor_redis_ok(void *m)
{
    return atomic_load(&((struct monitor *)m)->redis_ok);
}

bool monitor_token_ok(void *m)
{
    return atomic_load(&((struct monitor *)m)->token_ok);
}

bool monitor_kafka_ok(void *m)
{
    return kafka_is_ready(((struct monitor *)m)->kafka);
}
