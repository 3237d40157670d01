/* monitor.h - the worker's background thread for health and upkeep.
 *
 * Once a second: pings Redis, keeps the fleet's token fresh (refreshing
 * it for the whole fleet before it runs out, so commands rarely wait for
 * a refresh), publishes the circuit state, the consumer lag and the
 * in-flight count as metrics, and records what /readyz reports.  With
 * oauth.revoke_on_shutdown it keeps this replica in the fleet's list of
 * live replicas, and the last one to stop revokes the shared token.  It
 * owns its own Redis connection and OpenEMR client. */
#ifndef SW_MONITOR_H
#define SW_MONITOR_H

#include <stdbool.h>

#include "config.h"
#include "kafka.h"

struct monitor;

sw_err monitor_start(const struct sw_config *cfg, struct kafka *k, struct monitor **out);
void monitor_stop(struct monitor *m);

/* For /readyz; thread-safe. */
bool monitor_redis_ok(void *m);
bool monitor_token_ok(void *m);
bool monitor_kafka_ok(void *m);
/* http_checks.notes: development mode (auth.allow_unsigned), and a token
 * record sealed with another key than ours (then not ready). */
bool monitor_notes(void *m, char *buf, size_t len);

#endif
