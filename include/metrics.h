/* metrics.h - the worker's Prometheus metrics (text format 0.0.4).
 *
 * One process-wide registry of fixed metric families, every name prefixed
 * schedworker_.  Recording is thread-safe and lock-free once a label
 * combination exists (atomic adds on a series found by a lock-free scan);
 * the first use of a new combination takes a mutex to append it.  Every
 * family holds at most METRICS_MAX_SERIES combinations; past that, values
 * go to one series whose labels all read "other" and
 * schedworker_metrics_series_dropped_total counts them.
 *
 * Label values are never PHI: no patient id, no name, no free text.  Callers
 * pass constant names (command type, result status, route template); the
 * registry enforces it as a second line of defence:
 *   - command type: one of the contract's command names, else "unknown";
 *   - route: callers pass "METHOD /path"; the method becomes its own label
 *     (upper-case letters, else "OTHER") and the route label is the path
 *     with the query string dropped and every segment that looks like an
 *     id (digits, a UUID, long hex, mixed letters and several digits,
 *     anything outside [A-Za-z0-9_.-]) replaced by ":id", e.g.
 *     "GET /apis/default/api/patient/9f1c.../appointment" -> method "GET",
 *     route "/apis/default/api/patient/:id/appointment";
 *   - every other word label (status, code, reason, result, priority):
 *     [a-z0-9_.-] only, at most 47 bytes, else "invalid";
 *   - topic: [A-Za-z0-9._-] only (Kafka's own rule), partition a number.
 * Values are still escaped on output (\\, \", \n).
 *
 * Families (see the HELP lines in src/metrics.c):
 *   commands_total{type,status}                    counter
 *   command_duration_seconds{type}                 histogram, Kafka message
 *                                                  timestamp -> result produced
 *   openemr_request_duration_seconds{method,route,status} histogram, status =
 *                                                  HTTP code or "error"
 *   openemr_errors_total{method,route,code}        counter
 *   token_refreshes_total{result="ok|failure"}     counter
 *   bookings_total                                 counter, book/reschedule
 *                                                  attempts that reached the
 *                                                  conflict check
 *   booking_conflicts_total                        counter, those that found
 *                                                  the time taken (subset)
 *   slot_cache_requests_total{result=hit|miss|stale} counter
 *   limiter_wait_seconds{priority}                 histogram
 *   limiter_held_total{priority,reason}            counter, requests that
 *                                                  waited, by what first
 *                                                  held them back
 *   circuit_state{state=closed|open|half-open}    gauge, 1 for the current state
 *   consumer_lag{topic,partition}                  gauge
 *   in_flight_commands                             gauge
 *   dead_letters_total{reason}                     counter
 *   redis_errors_total                             counter
 *   metrics_series_dropped_total                   counter (cardinality cap hit)
 *   build_info{version}                            gauge, always 1
 *   kafka_delivery_failures_total{topic,reason}    counter, produce refused or
 *                                                  message not delivered
 *   redis_command_duration_seconds{command}        histogram, one round trip
 *   ready, live                                    gauges 1/0: /readyz, /healthz
 *   unexplained_provider_events                    gauge, at the last check
 *   unexplained_provider_events_total              counter, newly seen ones
 *   ledger_rebuilds_total{result="ok|failure"}     counter, Redis rebuilt from
 *                                                  topics.ledger
 *   ledger_records_restored_total                  counter, records it wrote */
#ifndef SW_METRICS_H
#define SW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define METRICS_MAX_SERIES 200        /* label combinations per family, "other" included */
#define METRICS_LABEL_MAX  96         /* bytes of one stored label value, NUL included */
#define METRICS_RENDER_MAX (8u << 20) /* cap of one /metrics page */

/* A command reached its result. type_name: cmd_type_name() (or anything:
 * unknown names count as "unknown"); status_name: the result's status
 * ("ok", "conflict", ...); seconds: from the Kafka message timestamp to the
 * result produced (negative or NaN counts as 0). */
void metrics_command(const char *type_name, const char *status_name, double seconds);

/* One OpenEMR HTTP exchange. route: "GET /fhir/Patient" (a template; ids are
 * replaced anyway); http_status: the HTTP code, or 0 when no response came
 * (counted as status "error"). */
void metrics_openemr(const char *route, int http_status, double seconds);

/* One failed OpenEMR exchange by error word (sw_err_str(): "timeout",
 * "server", "token", ...). */
void metrics_openemr_error(const char *route, const char *code);

void metrics_token_refresh(bool ok);

/* A booking attempt reached the conflict check; conflict = the time was
 * taken.  bookings_total counts every call, booking_conflicts_total the
 * conflicting ones, so the conflict rate is their ratio. */
void metrics_booking(bool conflict);

/* result: "hit", "miss" or "stale". */
void metrics_cache(const char *result);

/* Time spent waiting for a rate-limiter permit; prio_name: "write", "read",
 * "background". */
void metrics_limiter_wait(const char *prio_name, double seconds);
void metrics_limiter_held(const char *prio_name, const char *reason);

/* 0 closed, 1 open, 2 half-open (enum fleet_circuit): that state's series
 * becomes 1, the others 0. */
void metrics_circuit(int state);

/* What /readyz and /healthz would answer now, as schedworker_ready and
 * schedworker_live (1 or 0), for alert rules. */
void metrics_health(bool ready, bool live);

/* The build's version (git describe), as schedworker_build_info{version}. */
void metrics_build_info(const char *version);

/* A message could not be produced or was not delivered; reason: librdkafka's
 * error name (rd_kafka_err2name, lower-cased here). */
void metrics_delivery_failure(const char *topic, const char *reason);

/* One Redis round trip; command: its first word (len bytes, lower-cased
 * here: "get", "evalsha"). */
void metrics_redis_command(const char *command, size_t len, double seconds);

/* Sets the lag of one assigned partition; metrics_lag_forget() hides it
 * again (on revoke) until the next metrics_lag() for it. */
void metrics_lag(const char *topic, int32_t partition, int64_t lag);
void metrics_lag_forget(const char *topic, int32_t partition);

/* Sets the number of commands being handled now. */
void metrics_in_flight(int n);

/* The last check of OpenEMR's provider events against the configuration
 * (breakcheck.h): how many it could not explain, and how many of those it
 * had not seen unexplained before. */
void metrics_unexplained_events(int now_unexplained, int newly_seen);

/* reason: the dlq_reason_code word ("bad_json", "too_large", ...). */
void metrics_dead_letter(const char *reason);

void metrics_redis_error(void);
/* One rebuild of the idempotency records from the ledger (ledger.c). */
void metrics_ledger_rebuild(bool ok, long restored);

/* Renders every family as Prometheus text 0.0.4.  *out is malloc'd and
 * NUL-terminated (the caller frees it), *len its length without the NUL.
 * SW_ERR_NOMEM if allocation fails or the page would pass
 * METRICS_RENDER_MAX. */
sw_err metrics_render(char **out, size_t *len);

/* Forgets every series and value.  For tests only: not safe while other
 * threads record. */
void metrics_reset(void);

/* "METHOD /path" with ids replaced: the method and route labels
 * metrics_openemr() stores, joined by a space (for tests and for callers
 * that log the route). */
void metrics_route_label(const char *route, char *out, size_t outlen);

#endif
