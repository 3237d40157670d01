/* config.h - the worker's settings: one table, one read-only struct.
 *
 * File format (config/schedworker.conf): one `key = value` per line, `#`
 * starts a comment, blank lines are ignored, values may be quoted with "".
 * Every key is in the settings table (src/config.c) with a default; an
 * unknown key is an error.  `kafka.*` keys go to librdkafka unchanged.
 * Environment variables override the file: SCHED_<KEY> with dots and dashes
 * as underscores, upper case (SCHED_OPENEMR_BASE_URL), plus the short forms
 * KAFKA_BROKERS, REDIS_URL and OPENEMR_BASE_URL. */
#ifndef SW_CONFIG_H
#define SW_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "errors.h"
#include "recurrence.h"

#define SW_MAX_TYPES              8
#define SW_MAX_BREAKS             32
#define SW_MAX_PRACTITIONER_HOURS 32
#define SW_MAX_KAFKA_PROPS        64

/* Opening hours in minutes after local midnight, per weekday (0 = Sunday).
 * open == close means closed that day. */
struct sw_hours {
    int open_min[7];
    int close_min[7];
};

/* One appointment type and its booking rules. */
struct sw_type_rule {
    char name[32];       /* as in commands: "routine" */
    int duration_min;    /* length of the appointment */
    int category;        /* OpenEMR pc_catid */
    int min_notice_min;  /* earliest start, minutes from now */
    int max_window_days; /* latest start, days from now */
    char title[64];      /* pc_title for OpenEMR */
};

/* practitioner.ID.* settings of one practitioner. */
struct sw_practitioner {
    char practitioner_id[64];
    bool has_hours;
    struct sw_hours hours; /* replaces clinic.hours when has_hours */
    char user_id[24];      /* OpenEMR's numeric user id (pc_aid), "" unknown */
};

/* break.NAME.*: a recurring break or closure (config_breaks.c).  OpenEMR's
 * API gives a recurring calendar event as its first date only, so the
 * worker repeats them from here, as it takes working hours from
 * clinic.hours. */
struct sw_break {
    char name[32];
    char practitioner_id[64]; /* "": the whole clinic */
    struct recur_rule when;
    int start_min, end_min; /* local wall clock; 0-1440: all day (a closure) */
    int category;           /* pc_catid of the OpenEMR events it stands for; 0: any */
    bool has_time, has_repeat;
};

struct sw_kafka_prop {
    char *key; /* without the "kafka." prefix */
    char *value;
};

enum sw_surface { SW_SURFACE_OPENEMR, SW_SURFACE_FHIR_SCHEDULING };
enum sw_grant {
    SW_GRANT_REFRESH_TOKEN, /* authorization_code once, then refresh_token */
    SW_GRANT_PASSWORD,
    SW_GRANT_CLIENT_CREDENTIALS, /* FHIR reads only on the real OpenEMR */
};

struct sw_config {
    /* worker */
    char *worker_id;
    int worker_threads;
    bool reads_any_lane;
    int read_threads;
    int max_in_flight;
    char *log_level;
    int shutdown_grace_s;
    bool transactional_results;

    /* topics */
    char *topic_search, *topic_book, *topic_cancel;
    char *topic_results, *topic_events, *topic_dlq, *topic_audit;
    char *topic_ledger;          /* internal: results of write commands (ledger.h); "" none */
    char *topic_reply_allowlist; /* comma separated */
    char *topic_reply_prefix;
    int max_message_bytes;

    /* kafka.* passthrough */
    struct sw_kafka_prop kafka[SW_MAX_KAFKA_PROPS];
    int n_kafka;

    /* redis */
    char *redis_url;
    char *redis_username;
    char *redis_password_file;
    int redis_timeout_ms;
    char *redis_prefix;

    /* openemr */
    char *openemr_base_url;
    char *openemr_site;
    enum sw_surface surface;
    char *openemr_ca_file;
    char *openemr_pinned_pubkey;
    bool openemr_allow_insecure;
    int openemr_connect_timeout_ms;
    int openemr_timeout_ms;
    int openemr_max_response_bytes;
    int openemr_facility_id;
    int openemr_max_search_rows; /* most rows one search may answer */

    /* oauth */
    enum sw_grant grant;
    char *oauth_client_id;
    char *oauth_client_secret_file;
    char *oauth_scope;
    char *oauth_system_scope;
    char *oauth_username;
    char *oauth_password_file;
    char *oauth_private_key_file;
    char *oauth_key_id;
    char *oauth_refresh_token_file;
    char *oauth_redirect_uri;
    char *oauth_token_key_file;
    int oauth_refresh_margin_s;
    bool oauth_revoke_on_shutdown;
    bool oauth_check_scopes; /* against the server's discovery documents */

    /* clinic and booking rules */
    char *clinic_timezone;
    struct sw_hours clinic_hours;
    int slot_minutes;
    int buffer_minutes;
    int search_limit_default;
    char *clinic_practitioners; /* comma separated ids offered when none is named */
    struct sw_type_rule types[SW_MAX_TYPES];
    int n_types;
    struct sw_practitioner practitioners[SW_MAX_PRACTITIONER_HOURS];
    int n_practitioners;
    struct sw_break breaks[SW_MAX_BREAKS];
    int n_breaks;

    /* fleet (Redis-shared state) */
    int slot_cache_ttl_s;
    int ref_cache_ttl_s;
    int idempotency_ttl_s;
    int idempotency_read_ttl_s;
    int idempotency_lease_s;
    int idempotency_outputs_ttl_s;
    int write_margin_ms;
    int reconcile_settle_ms;
    int max_requests_per_command;
    int test_pause_after_guard_ms;
    char *test_pause_after_guard_match;
    int hold_default_ttl_s;
    int hold_max_ttl_s;
    int limiter_rps;
    int limiter_concurrency;
    int limiter_permit_ttl_ms;
    int limiter_write_share;
    bool warm_enabled;
    int warm_days_ahead, warm_interval_s;
    int retry_base_ms;
    int retry_max_attempts;
    int breaker_failures;
    int breaker_open_s;

    /* poller and waitlist */
    int poller_interval_s;
    int poller_horizon_days;
    int poller_lease_s;
    int waitlist_offer_ttl_s;

    /* operations and security */
    char *http_listen;
    int health_stall_s;
    bool health_ready_requires_closed_circuit;
    char *events_source;
    char *auth_keys_file;
    bool auth_allow_unsigned; /* development only: unsigned commands pass */
    int auth_max_skew_s;      /* the replay window: |now - x-signed-at| */
};

/* Fills cfg with every default, then reads path (NULL: defaults only), then
 * the environment.  Each problem is printed to errs as "file:line: message"
 * (or "env NAME: message"); returns SW_ERR_CONFIG if there was any.  Free
 * with sw_config_free() in every case. */
sw_err sw_config_load(struct sw_config *cfg, const char *path, FILE *errs);

/* Applies one key = value (as from the file).  false and a message in err
 * if the key is unknown or the value bad. */
bool sw_config_set(struct sw_config *cfg, const char *key, const char *value, char *err,
                   size_t errlen);

void sw_config_free(struct sw_config *cfg);

/* The rule of an appointment type by name, NULL if unknown. */
const struct sw_type_rule *sw_config_type(const struct sw_config *cfg, const char *name);

/* The working hours of a practitioner (its override, or the clinic's). */
const struct sw_hours *sw_config_hours(const struct sw_config *cfg, const char *practitioner_id);

/* May a result go to this topic (a command's reply_to)?  Yes for
 * topics.results, the names in topics.reply_allowlist and those under
 * topics.reply_prefix; never for the command, events, audit or dead-letter
 * topics, whatever the lists say. */
bool sw_config_reply_allowed(const struct sw_config *cfg, const char *topic);

/* practitioner.ID.user_id: OpenEMR's user id of a practitioner id, and the
 * practitioner id of a user id; NULL when not configured. */
const char *sw_config_practitioner_user(const struct sw_config *cfg, const char *practitioner_id);
const char *sw_config_practitioner_of_user(const struct sw_config *cfg, const char *user_id);

/* Parses "mon-fri 08:00-17:00, sat 09:00-12:00" into hours. */
bool sw_hours_parse(const char *text, struct sw_hours *out, char *err, size_t errlen);

/* The repeat grammar of break.NAME.repeat ("every day", "every 2 weeks",
 * "mon,wed,fri", "2nd tue of every month", "last fri of every 3 months",
 * "once", ...; docs/configuration.md) into out's kind, unit, interval,
 * nth, weekday and weekdays (its dates are left alone). */
bool sw_repeat_parse(const char *text, struct recur_rule *out, char *err, size_t errlen);

/* Calls each(arg, key, was, now) for every setting whose value differs
 * between two loaded configurations (kafka.* one by one; appointment
 * types and practitioner hours as "type.*" and "practitioner.*"); returns
 * how many.  For SIGHUP: the caller decides what it can apply. */
typedef void (*sw_config_diff_fn)(void *arg, const char *key, const char *was, const char *now);
int sw_config_diff(const struct sw_config *was, const struct sw_config *now, sw_config_diff_fn each,
                   void *arg);

/* Writes the settings table as a Markdown reference (for docs/). */
void sw_config_write_reference(FILE *out);

/* Reads a whole small file (secrets); trailing whitespace is removed.
 * Returns a malloc'd string or NULL with errno set (EFBIG above 8 KB). */
char *sw_read_secret_file(const char *path);

#endif
