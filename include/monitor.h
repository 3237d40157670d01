/* monitor.h - the worker's background threads for health and upkeep.
 *
 * Once a second: applies a requested reload (SIGHUP), probes the Kafka
 * brokers, pings Redis, keeps the fleet's token fresh (refreshing it for
 * the whole fleet before it runs out, so commands rarely wait for a
 * refresh), publishes the circuit state, the consumer lag and the
 * in-flight count as metrics, and records what /readyz reports.  With
 * oauth.revoke_on_shutdown it keeps this replica in the fleet's list of
 * live replicas, and the last one to stop revokes the shared token.  It
 * owns its own Redis connection and OpenEMR client.
 *
 * A second thread tells systemd (sdnotify.h) READY=1, WATCHDOG=1 while
 * live, STOPPING=1 and STATUS=; it only reads flags. */
#ifndef SW_MONITOR_H
#define SW_MONITOR_H

#include <stdbool.h>

#include <signal.h>

#include "config.h"
#include "http_server.h"
#include "kafka.h"

struct monitor;

struct monitor_opts {
    const char *config_path;       /* re-read on a reload request */
    volatile sig_atomic_t *reload; /* set (by SIGHUP) to ask for one; cleared here */
};

sw_err monitor_start(const struct sw_config *cfg, struct kafka *k, const struct monitor_opts *opts,
                     struct monitor **out);
/* Sends STOPPING=1 if not yet sent, stops and joins both threads. */
void monitor_stop(struct monitor *m);

/* For /readyz and /healthz (struct http_checks); thread-safe.  Readiness
 * includes development mode (auth.allow_unsigned, said, still ready) and a
 * token record sealed with another key than ours (not ready). */
void monitor_readiness(void *m, struct http_readiness *out);
bool monitor_liveness(void *m, char *why, size_t whylen);
bool monitor_redis_ok(void *m);
bool monitor_token_ok(void *m);
bool monitor_kafka_ok(void *m);

/* "closed", "open", "half-open" for enum fleet_circuit, else "unknown". */
const char *monitor_circuit_name(int state);

/* Re-reads path (and the environment) and applies what can change while
 * running: log.level.  Logs every setting that changed, saying which need
 * a restart; a file that does not load changes nothing (its problems are
 * logged).  Called on the monitor thread. */
void monitor_reload(const struct sw_config *running, const char *path);

#endif
