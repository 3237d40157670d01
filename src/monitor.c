/* monitor.c - health flags, token upkeep and gauges, once a second; and
 * the watchdog thread, which only reads flags (so a slow Redis or OpenEMR
 * call of the monitor never starves systemd's watchdog). */
#include "monitor.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "auth.h"
#include "clock.h"
#include "events.h"
#include "fleet.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "openemr.h"
#include "sdnotify.h"
#include "worker.h"

#define WATCHDOG_TICK_MS 200

struct monitor {
    const struct sw_config *cfg;
    struct kafka *kafka;
    struct monitor_opts opts;
    pthread_t thread, watchdog;
    bool watchdog_started;
    atomic_bool stop;
    atomic_bool redis_ok, token_ok;
    atomic_int circuit; /* enum fleet_circuit, -1 before Redis said */
    atomic_bool stopping_sent;
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

/* The start-up access check reads patient routes (with arguments that match
 * no one): audited like every such request. */
static void audit_hook(void *opaque, const struct oe_audit *rec)
{
    struct monitor *m = opaque;
    worker_audit_background(m->cfg, m->kafka, rec, "monitor");
}

static void *monitor_main(void *arg)
{
    struct monitor *m = arg;
    struct fleet *f = NULL;
    struct oe_client *oe = NULL;
    char err[256];
    bool token_warned = false, access_checked = false;
    int64_t dev_next = clock_now_ms(NULL) + DEV_MODE_EVERY_MS;

    if (fleet_new(m->cfg, &f, err, sizeof(err)) != SW_OK)
        log_error("monitor", "redis: %s", err);
    else if (oe_client_new(m->cfg, f, audit_hook, m, &oe, err, sizeof(err)) != SW_OK)
        log_error("monitor", "openemr client: %s", err);
    while (!atomic_load(&m->stop)) {
        if (m->opts.reload && *m->opts.reload) {
            *m->opts.reload = 0;
            monitor_reload(m->cfg, m->opts.config_path);
        }
        kafka_probe_brokers(m->kafka, 1000);
        bool redis = f && fleet_ping(f) == SW_OK;
        if (atomic_exchange(&m->redis_ok, redis) != redis)
            log_info("monitor", "redis %s", redis ? "answers" : "does not answer: not ready");
        if (!redis)
            metrics_redis_error();
        if (redis && oe) {
            sw_err e = oe_ensure_token(oe, clock_now_ms(NULL) + 5000);
            bool ok = e == SW_OK && oe_has_valid_token(oe);
            if (!ok && !token_warned)
                log_warn("monitor", "no valid OpenEMR token: %s", sw_err_str(e));
            token_warned = !ok;
            atomic_store(&m->token_ok, ok);
            if (ok && !access_checked) { /* once: say which ACL, NPI or username is missing */
                access_checked = true;
                oe_log_access(oe);
            }
            int circuit = (int)fleet_breaker_state(f);
            if (atomic_exchange(&m->circuit, circuit) != circuit)
                log_info("monitor", "OpenEMR circuit %s", monitor_circuit_name(circuit));
            metrics_circuit(circuit);
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

const char *monitor_circuit_name(int state)
{
    switch (state) {
    case FLEET_CIRCUIT_CLOSED:
        return "closed";
    case FLEET_CIRCUIT_OPEN:
        return "open";
    case FLEET_CIRCUIT_HALF_OPEN:
        return "half-open";
    default:
        return "unknown";
    }
}

void monitor_readiness(void *opaque, struct http_readiness *r)
{
    struct monitor *m = opaque;
    int circuit = atomic_load(&m->circuit);
    r->kafka = kafka_is_ready(m->kafka);
    r->broker = kafka_broker_ok(m->kafka);
    r->redis = atomic_load(&m->redis_ok);
    r->token = atomic_load(&m->token_ok);
    r->circuit = monitor_circuit_name(circuit);
    r->circuit_ok =
        !(m->cfg->health_ready_requires_closed_circuit && circuit == FLEET_CIRCUIT_OPEN);
    r->draining = kafka_is_draining(m->kafka);
    r->auth = m->cfg->auth_allow_unsigned ? "DEVELOPMENT MODE: unsigned commands accepted" : NULL;
    char theirs[32], ours[32];
    r->token_key[0] = '\0';
    if (oauth_token_key_mismatch(theirs, sizeof(theirs), ours, sizeof(ours)))
        snprintf(r->token_key, sizeof(r->token_key),
                 "mismatch: the fleet's token record is sealed with key id %s, this replica has %s",
                 theirs, ours);
}

bool monitor_liveness(void *opaque, char *why, size_t whylen)
{
    struct monitor *m = opaque;
    return kafka_liveness(m->kafka, (int64_t)m->cfg->health_stall_s * 1000, why, whylen);
}

static bool all_ready(const struct http_readiness *r)
{
    return r->kafka && r->broker && r->redis && r->token && r->circuit_ok && !r->draining &&
           !r->token_key[0];
}

static void stopping(struct monitor *m)
{
    if (!atomic_exchange(&m->stopping_sent, true)) {
        sdnotify_stopping();
        sdnotify_status("draining in-flight commands");
    }
}

/* systemd: READY=1 when the consumer first joins its group (what
 * --ready-file marks), WATCHDOG=1 at a third of WatchdogSec= while the
 * lanes and the consumer loop make progress (never while wedged: then
 * systemd restarts us), STOPPING=1 when the drain begins, STATUS= on every
 * change of readiness. */
static void *watchdog_main(void *arg)
{
    struct monitor *m = arg;
    int64_t usec = (int64_t)sdnotify_watchdog_usec();
    int64_t every_ms = usec > 0 ? usec / 3000 : 0, last_ping = 0;
    bool ready_sent = false, was_live = true;
    char last_status[160] = "";
    if (every_ms > 0 && every_ms < WATCHDOG_TICK_MS)
        every_ms = WATCHDOG_TICK_MS;
    while (!atomic_load(&m->stop)) {
        struct http_readiness r;
        char why[256] = "", status[160];
        monitor_readiness(m, &r);
        if (!ready_sent && r.kafka) {
            sdnotify_ready();
            ready_sent = true;
        }
        if (r.draining)
            stopping(m);
        bool live = monitor_liveness(m, why, sizeof(why));
        metrics_health(all_ready(&r), live);
        if (live != was_live) {
            if (live)
                log_info("monitor", "live again");
            else
                log_error("monitor", "not live: %s%s", why,
                          every_ms ? "; the systemd watchdog is no longer fed" : "");
            was_live = live;
        }
        int64_t now = clock_mono_ms(NULL);
        if (live && every_ms > 0 && now - last_ping >= every_ms) {
            sdnotify_watchdog();
            last_ping = now;
        }
        if (!live)
            snprintf(status, sizeof(status), "not live: %.120s", why);
        else
            snprintf(status, sizeof(status),
                     "%s (kafka %s, broker %s, redis %s, token %s, circuit %s)",
                     r.draining      ? "draining"
                     : all_ready(&r) ? "ready"
                                     : "not ready",
                     r.kafka ? "ok" : "no", r.broker ? "ok" : "no", r.redis ? "ok" : "no",
                     r.token ? "ok" : "no", r.circuit);
        if (strcmp(status, last_status) != 0) {
            if (ready_sent || r.draining)
                sdnotify_status(status);
            snprintf(last_status, sizeof(last_status), "%s", status);
        }
        clock_sleep_ms(NULL, WATCHDOG_TICK_MS);
    }
    return NULL;
}

sw_err monitor_start(const struct sw_config *cfg, struct kafka *k, const struct monitor_opts *opts,
                     struct monitor **out)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (!m)
        return SW_ERR_NOMEM;
    m->cfg = cfg;
    m->kafka = k;
    if (opts)
        m->opts = *opts;
    atomic_init(&m->circuit, -1);
    if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
        free(m);
        return SW_ERR_INTERNAL;
    }
    if (pthread_create(&m->watchdog, NULL, watchdog_main, m) != 0) {
        atomic_store(&m->stop, true);
        pthread_join(m->thread, NULL);
        free(m);
        return SW_ERR_INTERNAL;
    }
    m->watchdog_started = true;
    *out = m;
    return SW_OK;
}

void monitor_stop(struct monitor *m)
{
    if (!m)
        return;
    stopping(m); /* a drain too quick for the watchdog thread to see */
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
    if (m->watchdog_started)
        pthread_join(m->watchdog, NULL);
    free(m);
}

/* ---- reload (SIGHUP) ---------------------------------------------------- */

static void report_change(void *arg, const char *key, const char *was, const char *now)
{
    int *restart = arg;
    if (!strcmp(key, "log.level"))
        return; /* applied below, against the level in force */
    log_warn("monitor", "reload: %s changed (%s -> %s); it takes effect after a restart", key, was,
             now);
    (*restart)++;
}

void monitor_reload(const struct sw_config *running, const char *path)
{
    struct sw_config fresh;
    char *text = NULL;
    size_t len = 0;
    FILE *errs = open_memstream(&text, &len);
    if (!errs)
        return;
    sw_err err = sw_config_load(&fresh, path, errs);
    fclose(errs);
    if (err != SW_OK) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            log_error("monitor", "reload: %s", line);
        log_error("monitor", "reload: %s does not load; nothing changed", path ? path : "config");
        free(text);
        sw_config_free(&fresh);
        return;
    }
    free(text);
    int restart = 0;
    sw_config_diff(running, &fresh, report_change, &restart);
    enum sw_log_level level = sw_log_level(), want = level;
    sw_log_level_parse(fresh.log_level, &want);
    if (want != level) {
        sw_log_set_level(want);
        /* whatever the new threshold, this line is written */
        sw_log_write(SW_LOG_WARN, "monitor", "reload: log.level changed (%s -> %s); applied",
                     sw_log_level_name(level), sw_log_level_name(want));
    }
    if (want == level && restart == 0)
        log_info("monitor", "reload: %s re-read; nothing changed", path ? path : "config");
    sw_config_free(&fresh);
}
