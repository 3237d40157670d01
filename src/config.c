/* config.c - the settings table and its setters; loading in order
 * (defaults, file, environment, checks).  The file reader, the environment
 * overlay, the hours grammar, the reference writer and secret files are
 * config_*.c. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_table.h"
#include "log.h"

#define OFF(f) offsetof(struct sw_config, f)
#define STR(n, f, d, h)                                                                            \
    {                                                                                              \
        n, K_STR, OFF(f), d, 0, 0, h                                                               \
    }
#define INT(n, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        n, K_INT, OFF(f), d, lo, hi, h                                                             \
    }
#define BOOL(n, f, d, h)                                                                           \
    {                                                                                              \
        n, K_BOOL, OFF(f), d, 0, 0, h                                                              \
    }

static const struct setting settings[] = {
    STR("worker.id", worker_id, "",
        "Name of this replica in logs, audit and locks (default: host-pid)."),
    INT("worker.threads", worker_threads, "8", 1, 256,
        "Handler threads; commands of one Kafka key always run on the same one."),
    BOOL("worker.reads_any_lane", reads_any_lane, "true",
         "Read-only commands (topics.search) run on whichever read thread is free, not on "
         "their key's handler thread: they need no order, one busy key no longer queues them, "
         "and reads waiting for OpenEMR budget never hold up a booking's thread."),
    INT("worker.read_threads", read_threads, "8", 0, 256,
        "Threads of their own for read-only commands (with worker.reads_any_lane); 0: they share "
        "the worker.threads handler threads, taking whichever is free."),
    INT("worker.max_in_flight", max_in_flight, "2000", 1, 100000,
        "Commands consumed but not yet answered; above this the consumer pauses (a safety valve "
        "for overload)."),
    {"log.level", K_LOGLEVEL, OFF(log_level), "info", 0, 0,
     "debug, info, warn or error (any case); SIGHUP applies a new value at once."},
    INT("worker.shutdown_grace_s", shutdown_grace_s, "20", 1, 600,
        "On SIGTERM, how long in-flight commands may take before exit."),
    BOOL("worker.transactional_results", transactional_results, "false",
         "Publish each command's results and its consumed offset in one Kafka transaction (every "
         "100 ms): consumers reading read_committed see each answer once, even across a "
         "replica's crash. Needs a stable worker.id."),

    STR("topics.search", topic_search, "scheduling.commands.search", "Read-only commands."),
    STR("topics.book", topic_book, "scheduling.commands.book",
        "hold, release_hold, book, reschedule, join_waitlist."),
    STR("topics.cancel", topic_cancel, "scheduling.commands.cancel", "cancel, leave_waitlist."),
    STR("topics.results", topic_results, "scheduling.results", "Default reply topic."),
    STR("topics.events", topic_events, "scheduling.events", "CloudEvents change notifications."),
    STR("topics.dlq", topic_dlq, "scheduling.dlq", "Dead letters."),
    STR("topics.audit", topic_audit, "scheduling.audit", "HIPAA audit records."),
    STR("topics.ledger", topic_ledger, "scheduling.ledger",
        "Internal, not for agents: every write command's final result, from which the "
        "idempotency records are rebuilt when Redis lost its data (cleanup.policy=compact,delete, "
        "retention at least idempotency.ttl_s). Empty: no ledger, and no rebuild."),
    STR("topics.reply_allowlist", topic_reply_allowlist, "",
        "Further topics a command may name as reply_to, comma separated (besides topics.results)."),
    STR("topics.reply_prefix", topic_reply_prefix, "scheduling.results.",
        "A reply_to starting with this is allowed too (empty: none). The command, events, audit "
        "and dead-letter topics never are."),
    INT("topics.max_message_bytes", max_message_bytes, "65536", 256, 16777216,
        "Commands larger than this are dead-lettered unread."),

    STR("redis.url", redis_url, "redis://127.0.0.1:6379/0",
        "redis://[user@]host:port/db or unix:///path."),
    STR("redis.username", redis_username, "", "ACL user (Redis 6+); empty for the default user."),
    STR("redis.password_file", redis_password_file, "", "File holding the Redis password (AUTH)."),
    INT("redis.timeout_ms", redis_timeout_ms, "2000", 10, 60000, "Connect and command timeout."),
    STR("redis.prefix", redis_prefix, "sched:", "Prefix of every key the fleet writes."),

    STR("openemr.base_url", openemr_base_url, "https://127.0.0.1:9300",
        "Scheme, host and port of OpenEMR (no path)."),
    STR("openemr.site", openemr_site, "default", "OpenEMR site name in the URL paths."),
    {"openemr.surface", K_SURFACE, OFF(surface), "openemr", 0, 0,
     "openemr (real OpenEMR: /api writes, FHIR reads) or fhir-scheduling (FHIR Slot and "
     "Appointment write)."},
    STR("openemr.ca_file", openemr_ca_file, "",
        "PEM CA bundle to verify OpenEMR's certificate (default: system store)."),
    STR("openemr.pinned_pubkey", openemr_pinned_pubkey, "",
        "Optional public-key pin (curl format: sha256//BASE64)."),
    BOOL("openemr.allow_insecure_http", openemr_allow_insecure, "false",
         "Allow http:// base URLs; for local tests only."),
    INT("openemr.connect_timeout_ms", openemr_connect_timeout_ms, "2000", 10, 60000,
        "TCP+TLS connect timeout."),
    INT("openemr.timeout_ms", openemr_timeout_ms, "10000", 100, 120000,
        "Total time of one request."),
    INT("openemr.max_response_bytes", openemr_max_response_bytes, "8388608", 1024, 268435456,
        "Larger answers are refused."),
    INT("openemr.facility_id", openemr_facility_id, "3", 1, INT_MAX,
        "pc_facility and pc_billing_location of new appointments."),
    INT("openemr.max_search_rows", openemr_max_search_rows, "5000", 10, 1000000,
        "Most rows one OpenEMR search may answer; a search answering more fails with "
        "request_cap (OpenEMR does not page) instead of being read."),

    {"oauth.grant", K_GRANT, OFF(grant), "refresh_token", 0, 0,
     "refresh_token (after `schedworker auth login`), password, or client_credentials."},
    STR("oauth.client_id", oauth_client_id, "", "Registered client id."),
    STR("oauth.client_secret_file", oauth_client_secret_file, "",
        "File holding the client secret (confidential clients)."),
    STR("oauth.scope", oauth_scope, "",
        "Scopes of the user token; empty: what openemr.surface uses (openemr: openid "
        "offline_access api:oemr api:fhir user/Patient.read user/Appointment.read "
        "user/Practitioner.read user/patient.read user/practitioner.read user/appointment.read "
        "user/appointment.write; fhir-scheduling: openid offline_access api:fhir "
        "user/Patient.read user/Practitioner.read user/Appointment.read "
        "user/Appointment.write)."),
    STR("oauth.system_scope", oauth_system_scope,
        "openid api:fhir system/Appointment.read system/Patient.read system/Practitioner.read",
        "Scopes of the client_credentials token."),
    STR("oauth.username", oauth_username, "", "Password grant: OpenEMR user."),
    STR("oauth.password_file", oauth_password_file, "",
        "Password grant: file holding the password."),
    STR("oauth.private_key_file", oauth_private_key_file, "",
        "RSA private key (PEM) for the client_credentials JWT assertion."),
    STR("oauth.key_id", oauth_key_id, "", "kid of that key in the registered JWKS."),
    STR("oauth.refresh_token_file", oauth_refresh_token_file, "",
        "Refresh token written by `schedworker auth login`; seeds the fleet's Redis copy."),
    STR("oauth.redirect_uri", oauth_redirect_uri, "http://127.0.0.1:8765/callback",
        "Loopback redirect for `auth login`."),
    STR("oauth.token_key_file", oauth_token_key_file, "",
        "32-byte AES-256-GCM key (hex or raw) that encrypts tokens in Redis; SCHED_TOKEN_KEY "
        "overrides."),
    INT("oauth.refresh_margin_s", oauth_refresh_margin_s, "300", 0, 3600,
        "Refresh the shared token when less than this remains."),
    BOOL("oauth.revoke_on_shutdown", oauth_revoke_on_shutdown, "false",
         "Log out (revoke) the shared token when the last replica of the fleet stops."),
    BOOL("oauth.check_scopes", oauth_check_scopes, "true",
         "Before a grant that names scopes, a registration or a login, check each scope "
         "against OpenEMR's discovery documents (scopes_supported) and stop, naming the "
         "scopes it does not offer."),

    STR("clinic.timezone", clinic_timezone, "America/New_York", "IANA time zone of the clinic."),
    {"clinic.hours", K_HOURS, OFF(clinic_hours), "mon-fri 08:00-17:00", 0, 0,
     "Business hours: day ranges and times, comma separated."},
    INT("clinic.slot_minutes", slot_minutes, "15", 5, 240, "Granularity of offered start times."),
    INT("clinic.buffer_minutes", buffer_minutes, "10", 0, 120,
        "Free time kept around every appointment."),
    INT("clinic.search_limit", search_limit_default, "3", 1, 50,
        "Slots returned by search_slots when the command gives no limit."),
    STR("clinic.practitioners", clinic_practitioners, "",
        "Practitioner ids (comma separated) a search that names none looks at; empty: "
        "OpenEMR's FHIR Practitioner list, or without the admin/users ACL the configured "
        "practitioner.ID.* and the providers of /api appointment rows."),

    INT("cache.slot_ttl_s", slot_cache_ttl_s, "300", 1, 86400,
        "Lifetime of a cached practitioner day."),
    INT("cache.reference_ttl_s", ref_cache_ttl_s, "300", 1, 86400,
        "Lifetime of cached practitioners, facilities and id mappings."),
    INT("idempotency.ttl_s", idempotency_ttl_s, "604800", 60, 31536000,
        "How long a write command's result is kept for duplicates of its request_id."),
    INT("idempotency.read_ttl_s", idempotency_read_ttl_s, "3600", 60, 31536000,
        "How long a read-only command's result (topics.search) is kept for duplicates of its "
        "request_id. Later, a duplicate runs again and gets today's slots; Redis does not hold "
        "a week of search results and find_patient's names and birthdates."),
    INT("idempotency.lease_s", idempotency_lease_s, "30", 2, 3600,
        "An in-progress command is taken over after this (renewed while it works)."),
    INT("idempotency.outputs_ttl_s", idempotency_outputs_ttl_s, "3600", 60, 604800,
        "How long a finished command's events and audit records are kept, to produce them "
        "again if its message is delivered again."),
    INT("booking.write_margin_ms", write_margin_ms, "2000", 100, 60000,
        "Right before an OpenEMR write, the command's lease and locks are made to last "
        "openemr.timeout_ms plus this, so no other replica can take over during the write."),
    INT("booking.reconcile_settle_ms", reconcile_settle_ms, "2000", 0, 60000,
        "A replica taking over an interrupted write waits this long past the end of its cover "
        "before it concludes the write did not land (OpenEMR may commit a request late)."),
    INT("openemr.max_requests_per_command", max_requests_per_command, "40", 1, 1000,
        "Most OpenEMR requests one command may make; a command that needs more is answered "
        "error request_cap."),
    INT("test.pause_after_guard_ms", test_pause_after_guard_ms, "0", 0, 600000,
        "For tests only: sleep between the pre-write lease check and the write, on a "
        "command's first attempt only, once per command and replica."),
    STR("test.pause_after_guard_match", test_pause_after_guard_match, "",
        "For tests only: pause only the writes of commands whose request_id contains this "
        "text (empty: every command)."),
    INT("hold.default_ttl_s", hold_default_ttl_s, "120", 5, 3600,
        "Hold lifetime when the command names none."),
    INT("hold.max_ttl_s", hold_max_ttl_s, "600", 5, 86400, "Longest hold a command may ask for."),
    INT("limiter.rps", limiter_rps, "10", 1, 100000, "Fleet-wide OpenEMR requests per second."),
    INT("limiter.concurrency", limiter_concurrency, "5", 1, 1000,
        "Fleet-wide OpenEMR requests in flight."),
    INT("limiter.permit_ttl_ms", limiter_permit_ttl_ms, "30000", 100, 600000,
        "A permit of a dead holder frees itself after this."),
    INT("limiter.write_share", limiter_write_share, "20", 0, 90,
        "Percent of limiter.rps and of limiter.concurrency kept for writes (book, cancel, "
        "reschedule, hold...): while writes come in, reads and background requests together use "
        "at most the rest of the rate, and always leave that share of the permits; 0: no share "
        "kept (writes still go first when they wait)."),
    INT("retry.base_ms", retry_base_ms, "1000", 1, 60000,
        "First retry delay (doubles, with jitter)."),
    INT("retry.max_attempts", retry_max_attempts, "4", 1, 20,
        "Attempts per idempotent OpenEMR request."),
    INT("breaker.failures", breaker_failures, "5", 1, 1000,
        "Consecutive OpenEMR failures that open the fleet's circuit."),
    INT("breaker.open_s", breaker_open_s, "30", 1, 3600,
        "How long the circuit stays open before a probe."),

    BOOL("warm.enabled", warm_enabled, "false",
         "Refresh the slot cache of the coming days of every practitioner ahead of demand, with "
         "OpenEMR budget nobody else wants (the limiter's lowest priority), so that a caller's "
         "first search of a day is a cache hit (one replica at a time); and read each caller's "
         "own appointments as soon as find_patient found them."),
    INT("warm.days_ahead", warm_days_ahead, "7", 1, 62, "Days after today the warmer keeps fresh."),
    INT("warm.interval_s", warm_interval_s, "30", 1, 3600,
        "How often the warmer looks for days missing from the cache or past three quarters of "
        "cache.slot_ttl_s."),
    INT("poller.interval_s", poller_interval_s, "300", 1, 86400,
        "How often the leader polls OpenEMR for outside changes."),
    INT("poller.horizon_days", poller_horizon_days, "14", 1, 365,
        "How far ahead the poller looks."),
    INT("poller.lease_s", poller_lease_s, "10", 2, 3600,
        "Leader lease; a dead leader is replaced after this."),
    INT("waitlist.offer_ttl_s", waitlist_offer_ttl_s, "900", 10, 86400,
        "How long a freed slot is held for the offered patient."),

    STR("http.listen", http_listen, "127.0.0.1:9464",
        "host:port of /metrics, /healthz, /readyz; empty to disable."),
    INT("health.stall_s", health_stall_s, "120", 1, 3600,
        "/healthz fails (and the systemd watchdog is not fed) when a lane has run one command, "
        "or the consumer loop has not turned, for this long without progress."),
    BOOL("health.ready_requires_closed_circuit", health_ready_requires_closed_circuit, "true",
         "/readyz fails while the fleet's OpenEMR circuit is open."),
    STR("events.source", events_source, "",
        "CloudEvents source of every event, the same on every replica (default "
        "/schedworker/<kafka.group.id>)."),
    STR("auth.keys_file", auth_keys_file, "",
        "Producer keys, one `key_id = role hexsecret` per line (role: agent, reader, operator); "
        "required unless auth.allow_unsigned."),
    INT("auth.max_skew_s", auth_max_skew_s, "300", 5, 3600,
        "A command signed longer ago (or further ahead) than this is refused."),
    BOOL("auth.allow_unsigned", auth_allow_unsigned, "false",
         "DEVELOPMENT ONLY: accept commands that carry no signature (logged loudly, shown on "
         "/readyz)."),
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Defaults of the per-type rules: type.NAME.{duration_minutes,category,
 * min_notice_minutes,max_window_days,title}. */
static const struct sw_type_rule default_types[] = {
    {"routine", 60, 5, 24 * 60, 60, "Routine exam"},
    {"follow_up", 30, 9, 24 * 60, 60, "Follow-up"},
    {"urgent", 45, 5, 2 * 60, 60, "Urgent visit"},
    {"consultation", 45, 10, 24 * 60, 60, "Consultation"},
};

/* librdkafka defaults chosen for a conversational workload (see README). */
static const char *const default_kafka[][2] = {
    {"bootstrap.servers", "127.0.0.1:9092"},
    {"group.id", "schedworker"},
    {"fetch.wait.max.ms", "10"},
    {"fetch.error.backoff.ms", "10"},
    {"linger.ms", "1"},
    {"session.timeout.ms", "10000"},
    {"heartbeat.interval.ms", "1000"},
    /* a rebalance moves only the partitions that change owner */
    {"partition.assignment.strategy", "cooperative-sticky"},
    /* A bounded prefetch: under a flood librdkafka would otherwise fetch
     * ahead up to 100,000 messages (64 MB), which a back-pressure pause
     * throws away and fetches again; the 2 MB keep RSS bounded.  The
     * count is no tighter than the bytes: librdkafka 2.0 stops fetching a
     * partition whose queue reached either, and nothing wakes its fetcher
     * when the queue drains but its 1 s idle timeout (rdkafka_broker.c,
     * rd_kafka_broker_consumer_serve; 2.2 added fetch.queue.backoff.ms
     * for it).  At 1000, one busy key on Apache Kafka (a fetch of 1000
     * commands at once) waited 1 s per round: 908/s, p50 1.0 s; at 10,000,
     * 3,705/s. */
    {"queued.min.messages", "10000"},
    {"queued.max.messages.kbytes", "2048"},
};

const struct setting *sw_config_setting(size_t i)
{
    return i < N_SETTINGS ? &settings[i] : NULL;
}

const struct sw_type_rule *sw_config_default_type(size_t i)
{
    return i < sizeof(default_types) / sizeof(default_types[0]) ? &default_types[i] : NULL;
}

const char *sw_config_default_kafka(size_t i, const char **value)
{
    if (i >= sizeof(default_kafka) / sizeof(default_kafka[0]))
        return NULL;
    *value = default_kafka[i][1];
    return default_kafka[i][0];
}

/* *field = a copy of v; false with a message when memory ran out. */
static bool set_str(char **field, const char *v, char *err, size_t errlen)
{
    char *copy = strdup(v);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    free(*field);
    *field = copy;
    return true;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = false;
    else
        return false;
    return true;
}

static bool set_setting(struct sw_config *cfg, const struct setting *s, const char *v, char *err,
                        size_t errlen)
{
    void *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case K_STR:
        return set_str((char **)field, v, err, errlen);
    case K_LOGLEVEL: {
        enum sw_log_level lvl;
        if (!sw_log_level_parse(v, &lvl)) {
            snprintf(err, errlen, "%s: expected debug, info, warn or error (any case)", s->name);
            return false;
        }
        return set_str((char **)field, sw_log_level_name(lvl), err, errlen);
    }
    case K_INT:
        if (!parse_int(v, s->min, s->max, (int *)field)) {
            snprintf(err, errlen, "%s: expected an integer from %d to %d, got \"%s\"", s->name,
                     s->min, s->max, v);
            return false;
        }
        return true;
    case K_BOOL:
        if (!parse_bool(v, (bool *)field)) {
            snprintf(err, errlen, "%s: expected true or false, got \"%s\"", s->name, v);
            return false;
        }
        return true;
    case K_HOURS:
        return sw_hours_parse(v, (struct sw_hours *)field, err, errlen);
    case K_SURFACE:
        if (!strcmp(v, "openemr"))
            *(enum sw_surface *)field = SW_SURFACE_OPENEMR;
        else if (!strcmp(v, "fhir-scheduling"))
            *(enum sw_surface *)field = SW_SURFACE_FHIR_SCHEDULING;
        else {
            snprintf(err, errlen, "%s: expected openemr or fhir-scheduling", s->name);
            return false;
        }
        return true;
    case K_GRANT:
        if (!strcmp(v, "refresh_token") || !strcmp(v, "authorization_code"))
            *(enum sw_grant *)field = SW_GRANT_REFRESH_TOKEN;
        else if (!strcmp(v, "password"))
            *(enum sw_grant *)field = SW_GRANT_PASSWORD;
        else if (!strcmp(v, "client_credentials"))
            *(enum sw_grant *)field = SW_GRANT_CLIENT_CREDENTIALS;
        else {
            snprintf(err, errlen, "%s: expected refresh_token, password or client_credentials",
                     s->name);
            return false;
        }
        return true;
    }
    return false;
}

bool sw_config_set_kafka(struct sw_config *cfg, const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (!*key) {
        snprintf(err, errlen, "kafka.: empty librdkafka property name");
        return false;
    }
    for (int i = 0; i < cfg->n_kafka; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            return set_str(&cfg->kafka[i].value, value, err, errlen);
    if (cfg->n_kafka == SW_MAX_KAFKA_PROPS) {
        snprintf(err, errlen, "too many kafka.* settings (at most %d)", SW_MAX_KAFKA_PROPS);
        return false;
    }
    struct sw_kafka_prop *p = &cfg->kafka[cfg->n_kafka];
    if (!set_str(&p->key, key, err, errlen) || !set_str(&p->value, value, err, errlen)) {
        free(p->key);
        p->key = NULL;
        return false;
    }
    cfg->n_kafka++;
    return true;
}

/* The fields of type.NAME.FIELD: an integer in lo..hi, or (text) a string
 * of lo..hi bytes. */
static const struct {
    const char *name;
    size_t offset;
    int lo, hi;
    bool text;
} type_fields[] = {
    {"duration_minutes", offsetof(struct sw_type_rule, duration_min), 5, 24 * 60, false},
    {"category", offsetof(struct sw_type_rule, category), 1, INT_MAX, false},
    {"min_notice_minutes", offsetof(struct sw_type_rule, min_notice_min), 0, 365 * 24 * 60, false},
    {"max_window_days", offsetof(struct sw_type_rule, max_window_days), 1, 3650, false},
    {"title", offsetof(struct sw_type_rule, title), 2,
     sizeof(((struct sw_type_rule *)0)->title) - 1, true},
};
#define N_TYPE_FIELDS (sizeof(type_fields) / sizeof(type_fields[0]))

static bool set_type_field(struct sw_type_rule *t, size_t f, const char *value)
{
    char *field = (char *)t + type_fields[f].offset;
    if (!type_fields[f].text)
        return parse_int(value, type_fields[f].lo, type_fields[f].hi, (int *)field);
    size_t len = strlen(value);
    if (len < (size_t)type_fields[f].lo || len > (size_t)type_fields[f].hi)
        return false;
    memcpy(field, value, len + 1);
    return true;
}

/* type.NAME.FIELD: creates the type on first mention. */
static bool set_type(struct sw_config *cfg, const char *rest, const char *value, char *err,
                     size_t errlen)
{
    const char *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : 0;
    if (!dot || n == 0 || n >= sizeof(cfg->types[0].name)) {
        snprintf(err, errlen, "type.%s: expected type.NAME.FIELD", rest);
        return false;
    }
    size_t f = 0;
    while (f < N_TYPE_FIELDS && strcmp(dot + 1, type_fields[f].name) != 0)
        f++;
    if (f == N_TYPE_FIELDS) {
        int o = snprintf(err, errlen, "type.%s: unknown field (", rest);
        for (size_t i = 0; i < N_TYPE_FIELDS && o >= 0 && (size_t)o < errlen; i++)
            o += snprintf(err + o, errlen - (size_t)o, "%s%s", i ? ", " : "", type_fields[i].name);
        if (o >= 0 && (size_t)o < errlen)
            snprintf(err + o, errlen - (size_t)o, ")");
        return false;
    }
    struct sw_type_rule *t = NULL;
    for (int i = 0; i < cfg->n_types; i++)
        if (strlen(cfg->types[i].name) == n && !strncmp(cfg->types[i].name, rest, n))
            t = &cfg->types[i];
    if (!t) {
        if (cfg->n_types == SW_MAX_TYPES) {
            snprintf(err, errlen, "too many appointment types (at most %d)", SW_MAX_TYPES);
            return false;
        }
        t = &cfg->types[cfg->n_types++];
        *t = default_types[0];
        snprintf(t->name, sizeof(t->name), "%.*s", (int)n, rest);
        snprintf(t->title, sizeof(t->title), "%.*s", (int)n, rest);
    }
    if (!set_type_field(t, f, value)) {
        snprintf(err, errlen, "type.%s: bad value \"%s\"", rest, value);
        return false;
    }
    return true;
}

/* practitioner.ID.hours, practitioner.ID.user_id */
static bool set_practitioner(struct sw_config *cfg, const char *rest, const char *value, char *err,
                             size_t errlen)
{
    const char *dot = strrchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : 0;
    bool hours = dot && !strcmp(dot, ".hours"), user = dot && !strcmp(dot, ".user_id");
    if ((!hours && !user) || n == 0 || n >= sizeof(cfg->practitioners[0].practitioner_id)) {
        snprintf(err, errlen, "practitioner.%s: expected practitioner.ID.hours or .user_id", rest);
        return false;
    }
    struct sw_practitioner *p = NULL;
    for (int i = 0; i < cfg->n_practitioners; i++)
        if (strlen(cfg->practitioners[i].practitioner_id) == n &&
            !strncmp(cfg->practitioners[i].practitioner_id, rest, n))
            p = &cfg->practitioners[i];
    if (!p) {
        if (cfg->n_practitioners == SW_MAX_PRACTITIONER_HOURS) {
            snprintf(err, errlen, "too many practitioner settings (at most %d practitioners)",
                     SW_MAX_PRACTITIONER_HOURS);
            return false;
        }
        p = &cfg->practitioners[cfg->n_practitioners++];
        snprintf(p->practitioner_id, sizeof(p->practitioner_id), "%.*s", (int)n, rest);
    }
    if (user) {
        size_t k = strlen(value);
        bool digits = k > 0 && k < sizeof(p->user_id) && value[0] != '0';
        for (size_t i = 0; digits && i < k; i++)
            digits = value[i] >= '0' && value[i] <= '9';
        if (!digits) {
            snprintf(err, errlen, "practitioner.%s: expected OpenEMR's numeric user id", rest);
            return false;
        }
        snprintf(p->user_id, sizeof(p->user_id), "%s", value);
        return true;
    }
    p->has_hours = true;
    return sw_hours_parse(value, &p->hours, err, errlen);
}

bool sw_config_set(struct sw_config *cfg, const char *key, const char *value, char *err,
                   size_t errlen)
{
    if (!strncmp(key, "kafka.", 6))
        return sw_config_set_kafka(cfg, key + 6, value, err, errlen);
    if (!strncmp(key, "type.", 5))
        return set_type(cfg, key + 5, value, err, errlen);
    if (!strncmp(key, "practitioner.", 13))
        return set_practitioner(cfg, key + 13, value, err, errlen);
    if (!strncmp(key, "break.", 6))
        return sw_breaks_set(cfg, key + 6, value, err, errlen);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].name, key))
            return set_setting(cfg, &settings[i], value, err, errlen);
    snprintf(err, errlen, "unknown setting \"%s\"", key);
    return false;
}

/* Every default; a failure is a bug in the tables or no memory. */
static sw_err set_defaults(struct sw_config *cfg, FILE *errs)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (!set_setting(cfg, &settings[i], settings[i].def, err, sizeof(err))) {
            fprintf(errs, "default of %s: %s\n", settings[i].name, err);
            return SW_ERR_INTERNAL;
        }
    }
    for (size_t i = 0; i < sizeof(default_types) / sizeof(default_types[0]); i++)
        cfg->types[cfg->n_types++] = default_types[i];
    for (size_t i = 0; i < sizeof(default_kafka) / sizeof(default_kafka[0]); i++) {
        if (!sw_config_set_kafka(cfg, default_kafka[i][0], default_kafka[i][1], err, sizeof(err))) {
            fprintf(errs, "default of kafka.%s: %s\n", default_kafka[i][0], err);
            return SW_ERR_INTERNAL;
        }
    }
    return SW_OK;
}

/* worker.id defaults to host-pid. */
static int finish(struct sw_config *cfg, FILE *errs)
{
    if (*cfg->worker_id)
        return 0;
    char host[64] = "worker", id[96], err[64];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(id, sizeof(id), "%s-%d", host, (int)getpid());
    if (set_str(&cfg->worker_id, id, err, sizeof(err)))
        return 0;
    fprintf(errs, "worker.id: %s\n", err);
    return 1;
}

/* The topics a result never goes to. */
static bool never_reply(const struct sw_config *cfg, const char *topic, size_t n)
{
    const char *const never[] = {cfg->topic_search, cfg->topic_book,  cfg->topic_cancel,
                                 cfg->topic_events, cfg->topic_audit, cfg->topic_dlq,
                                 cfg->topic_ledger};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (strlen(never[i]) == n && !strncmp(never[i], topic, n))
            return true;
    return false;
}

/* Does the comma-separated list hold topic (blanks around names ignored)? */
static bool list_has(const char *list, const char *topic)
{
    size_t tl = strlen(topic);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t k = n;
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
            k--;
        if (k && k == tl && !strncmp(p, topic, k))
            return true;
        p += n;
    }
    return false;
}

bool sw_config_reply_allowed(const struct sw_config *cfg, const char *topic)
{
    size_t n = topic ? strlen(topic) : 0;
    if (n == 0 || never_reply(cfg, topic, n))
        return false;
    if (!strcmp(topic, cfg->topic_results) || list_has(cfg->topic_reply_allowlist, topic))
        return true;
    size_t pl = strlen(cfg->topic_reply_prefix);
    return pl > 0 && n > pl && !strncmp(topic, cfg->topic_reply_prefix, pl);
}

/* Neither list may open a way to a topic that is never a reply topic. */
static int check_reply_lists(const struct sw_config *cfg, const char *where, FILE *errs)
{
    int errors = 0;
    const char *const never[] = {cfg->topic_search, cfg->topic_book,  cfg->topic_cancel,
                                 cfg->topic_events, cfg->topic_audit, cfg->topic_dlq,
                                 cfg->topic_ledger};
    size_t pl = strlen(cfg->topic_reply_prefix);
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (list_has(cfg->topic_reply_allowlist, never[i])) {
            fprintf(errs, "%s: topics.reply_allowlist names %s, which is never a reply topic\n",
                    where, never[i]);
            errors++;
        }
        if (pl && !strncmp(never[i], cfg->topic_reply_prefix, pl)) {
            fprintf(errs,
                    "%s: topics.reply_prefix \"%s\" would allow %s, which is never a reply "
                    "topic\n",
                    where, cfg->topic_reply_prefix, never[i]);
            errors++;
        }
    }
    if (never_reply(cfg, cfg->topic_results, strlen(cfg->topic_results))) {
        fprintf(errs,
                "%s: topics.results must differ from the command, events, audit and dlq "
                "topics\n",
                where);
        errors++;
    }
    return errors;
}

static int check(const struct sw_config *cfg, const char *where, FILE *errs)
{
    int errors = 0;
    if (cfg->hold_default_ttl_s > cfg->hold_max_ttl_s) {
        fprintf(errs, "%s: hold.default_ttl_s is longer than hold.max_ttl_s\n", where);
        errors++;
    }
    const char *url = cfg->openemr_base_url;
    if (strncmp(url, "https://", 8) != 0) {
        if (strncmp(url, "http://", 7) != 0) {
            fprintf(errs, "%s: openemr.base_url must start with https://\n", where);
            errors++;
        } else if (!cfg->openemr_allow_insecure) {
            fprintf(errs,
                    "%s: openemr.base_url is plain http; set openemr.allow_insecure_http = "
                    "true for local tests only\n",
                    where);
            errors++;
        }
    }
    if (cfg->n_types == 0) {
        fprintf(errs, "%s: no appointment types\n", where);
        errors++;
    }
    errors += check_reply_lists(cfg, where, errs);
    errors += sw_breaks_check(cfg, where, errs);
    return errors;
}

sw_err sw_config_load(struct sw_config *cfg, const char *path, FILE *errs)
{
    sw_err err = set_defaults(cfg, errs);
    if (err != SW_OK)
        return err;
    int errors = 0;
    if (path)
        errors += sw_config_read_file(cfg, path, errs);
    errors += sw_config_read_env(cfg, errs);
    errors += finish(cfg, errs);
    if (!errors)
        errors += check(cfg, path ? path : "config", errs);
    return errors ? SW_ERR_CONFIG : SW_OK;
}

void sw_config_free(struct sw_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].kind == K_STR || settings[i].kind == K_LOGLEVEL) {
            char **field = (char **)((char *)cfg + settings[i].offset);
            free(*field);
            *field = NULL;
        }
    }
    for (int i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    cfg->n_kafka = 0;
}

const struct sw_type_rule *sw_config_type(const struct sw_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_types; i++)
        if (!strcmp(cfg->types[i].name, name))
            return &cfg->types[i];
    return NULL;
}

const struct sw_hours *sw_config_hours(const struct sw_config *cfg, const char *practitioner_id)
{
    for (int i = 0; practitioner_id && i < cfg->n_practitioners; i++)
        if (cfg->practitioners[i].has_hours &&
            !strcmp(cfg->practitioners[i].practitioner_id, practitioner_id))
            return &cfg->practitioners[i].hours;
    return &cfg->clinic_hours;
}

const char *sw_config_practitioner_user(const struct sw_config *cfg, const char *practitioner_id)
{
    for (int i = 0; practitioner_id && i < cfg->n_practitioners; i++)
        if (cfg->practitioners[i].user_id[0] &&
            !strcmp(cfg->practitioners[i].practitioner_id, practitioner_id))
            return cfg->practitioners[i].user_id;
    return NULL;
}

const char *sw_config_practitioner_of_user(const struct sw_config *cfg, const char *user_id)
{
    for (int i = 0; user_id && i < cfg->n_practitioners; i++)
        if (!strcmp(cfg->practitioners[i].user_id, user_id))
            return cfg->practitioners[i].practitioner_id;
    return NULL;
}
