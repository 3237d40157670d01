/* monitor.c - health flags, token upkeep and gauges, once a second. */
#include "monitor.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "auth.h"
#include "clock.h"
#include "fleet.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "openemr.h"

struct monitor {
    const struct sw_config *cfg;
    struct kafka *kafka;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool redis_ok, token_ok;
};

/* The fleet's live replicas: {worker_id: alive_until_ms} in the cache,
 * changed under a lock.  With oauth.revoke_on_shutdown the last replica to
 * stop logs the shared token out (an earlier one would cut the others off). */
#define REPLICA_TTL_MS 5000

/* Marks this replica alive (or gone); returns how many others are alive,
 * or -1 if Redis could not say. */
static int replicas_update(struct fleet *f, const char *id, bool alive)
{
    char *text = NULL;
    int others = -1;
    int64_t now = clock_now_ms(NULL);
    if (fleet_lock(f, key_name(KEY_LOCK_REPLICAS), id, 2000) != SW_OK)
        return -1;
    json_t *map = NULL;
    if (fleet_cache_get(f, key_name(KEY_REPLICAS), &text) == SW_OK)
        map = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(map)) {
        json_decref(map);
        map = json_object();
    }
    if (alive)
        json_object_set_new(map, id, json_integer(now + REPLICA_TTL_MS));
    else
        json_object_del(map, id);
    const char *key;
    json_t *v, *tmp;
    others = 0;
    json_object_foreach_safe(map, tmp, key, v)
    {
        if (json_integer_value(v) < now)
            json_object_del(map, key);
        else if (strcmp(key, id) != 0)
            others++;
    }
    char *out = json_dumps(map, JSON_COMPACT);
    if (!out || fleet_cache_put(f, key_name(KEY_REPLICAS), out, 3600) != SW_OK)
        others = -1;
    free(out);
    json_decref(map);
    fleet_unlock(f, key_name(KEY_LOCK_REPLICAS), id);
    return others;
}

/* Development mode (auth.allow_unsigned) says so every minute, with how
 * many unsigned commands it let through. */
#define DEV_MODE_EVERY_MS 60000

static void dev_mode_warning(const struct sw_config *cfg, int64_t *next)
{
    int64_t now = clock_now_ms(NULL);
    if (!cfg->auth_allow_unsigned || now < *next)
        return;
    *next = now + DEV_MODE_EVERY_MS;
    log_error("monitor",
              "DEVELOPMENT MODE (auth.allow_unsigned): %llu unsigned commands accepted in the last "
              "minute; anyone who can write to a command topic can read and change appointments",
              (unsigned long long)auth_unsigned_taken());
}

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    struct fleet *f = NULL;
    struct oe_client *oe = NULL;
    char err[256];
    bool token_warned = false;
    int64_t dev_next = clock_now_ms(NULL) + DEV_MODE_EVERY_MS;

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
            sw_err e = oe_ensure_token(oe, clock_now_ms(NULL) + 5000);
            bool ok = e == SW_OK && oe_has_valid_token(oe);
            if (!ok && !token_warned)
                log_warn("monitor", "no valid OpenEMR token: %s", sw_err_str(e));
            token_warned = !ok;
            atomic_store(&m->token_ok, ok);
            metrics_circuit((int)fleet_breaker_state(f));
        }
        if (redis && m->cfg->oauth_revoke_on_shutdown)
            replicas_update(f, m->cfg->worker_id, true);
        dev_mode_warning(m->cfg, &dev_next);
        metrics_in_flight(kafka_in_flight(m->kafka));
        kafka_report_lag(m->kafka);
        for (int i = 0; i < 10 && !atomic_load(&m->stop); i++)
            clock_sleep_ms(NULL, 100);
    }
    if (f && oe && m->cfg->oauth_revoke_on_shutdown) {
        int others = replicas_update(f, m->cfg->worker_id, false);
        if (others == 0) {
            sw_err e = oe_logout(oe);
            log_info("monitor", "last replica: OpenEMR token revoked (%s)", sw_err_str(e));
        } else {
            log_info("monitor", "token kept: %d other replica(s) still run", others);
        }
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

bool monitor_notes(void *opaque, char *buf, size_t len)
{
    const struct monitor *m = opaque;
    char theirs[32], ours[32];
    bool mismatch = oauth_token_key_mismatch(theirs, sizeof(theirs), ours, sizeof(ours));
    int n = 0;
    buf[0] = '\0';
    if (m->cfg->auth_allow_unsigned)
        n = snprintf(buf, len, "\"auth\":\"DEVELOPMENT MODE: unsigned commands accepted\"");
    if (mismatch && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n,
                 "%s\"token_key\":\"mismatch: the fleet's token record is sealed with key id %s, "
                 "this replica has %s\"",
                 n ? "," : "", theirs, ours);
    return !mismatch;
}
