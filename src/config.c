/* config.c - the settings table, the file parser and environment overrides. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum kind { K_STR, K_INT, K_BOOL, K_HOURS, K_SURFACE, K_GRANT, K_LOGLEVEL };

struct setting {
    const char *name;
    enum kind kind;
    size_t offset;
    const char *def;
    int min, max; /* K_INT only */
    const char *help;
};

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
    INT("worker.max_in_flight", max_in_flight, "2000", 1, 100000,
        "Commands consumed but not yet answered; above this the consumer pauses (a safety valve "
        "for overload)."),
    {"log.level", K_LOGLEVEL, OFF(log_level), "info", 0, 0, "debug, info, warn or error."},
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

    {"oauth.grant", K_GRANT, OFF(grant), "refresh_token", 0, 0,
     "refresh_token (after `schedworker auth login`), password, or client_credentials."},
    STR("oauth.client_id", oauth_client_id, "", "Registered client id."),
    STR("oauth.client_secret_file", oauth_client_secret_file, "",
        "File holding the client secret (confidential clients)."),
    STR("oauth.scope", oauth_scope,
        "openid offline_access api:oemr api:fhir user/appointment.read user/appointment.write "
        "user/patient.read user/practitioner.read user/Appointment.read user/Appointment.write "
        "user/Patient.read user/Practitioner.read",
        "Scopes of the user token."),
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

    STR("clinic.timezone", clinic_timezone, "America/New_York", "IANA time zone of the clinic."),
    {"clinic.hours", K_HOURS, OFF(clinic_hours), "mon-fri 08:00-17:00", 0, 0,
     "Business hours: day ranges and times, comma separated."},
    INT("clinic.slot_minutes", slot_minutes, "15", 5, 240, "Granularity of offered start times."),
    INT("clinic.buffer_minutes", buffer_minutes, "10", 0, 120,
        "Free time kept around every appointment."),
    INT("clinic.search_limit", search_limit_default, "3", 1, 50,
        "Slots returned by search_slots when the command gives no limit."),

    INT("cache.slot_ttl_s", slot_cache_ttl_s, "300", 1, 86400,
        "Lifetime of a cached practitioner day."),
    INT("cache.reference_ttl_s", ref_cache_ttl_s, "300", 1, 86400,
        "Lifetime of cached practitioners, facilities and id mappings."),
    INT("idempotency.ttl_s", idempotency_ttl_s, "604800", 60, 31536000,
        "How long a result is kept for duplicates of its request_id."),
    INT("idempotency.lease_s", idempotency_lease_s, "30", 2, 3600,
        "An in-progress command is taken over after this."),
    INT("hold.default_ttl_s", hold_default_ttl_s, "120", 5, 3600,
        "Hold lifetime when the command names none."),
    INT("hold.max_ttl_s", hold_max_ttl_s, "600", 5, 86400, "Longest hold a command may ask for."),
    INT("limiter.rps", limiter_rps, "10", 1, 100000, "Fleet-wide OpenEMR requests per second."),
    INT("limiter.concurrency", limiter_concurrency, "5", 1, 1000,
        "Fleet-wide OpenEMR requests in flight."),
    INT("limiter.permit_ttl_ms", limiter_permit_ttl_ms, "30000", 100, 600000,
        "A permit of a dead holder frees itself after this."),
    INT("retry.base_ms", retry_base_ms, "1000", 1, 60000,
        "First retry delay (doubles, with jitter)."),
    INT("retry.max_attempts", retry_max_attempts, "4", 1, 20,
        "Attempts per idempotent OpenEMR request."),
    INT("breaker.failures", breaker_failures, "5", 1, 1000,
        "Consecutive OpenEMR failures that open the fleet's circuit."),
    INT("breaker.open_s", breaker_open_s, "30", 1, 3600,
        "How long the circuit stays open before a probe."),

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
    STR("auth.keys_file", auth_keys_file, "",
        "Producer HMAC keys, one `producer = hexkey` per line."),
    BOOL("auth.require_signed_writes", auth_require_signed_writes, "false",
         "Reject book/cancel commands without a valid HMAC."),
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
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fputs("out of memory\n", stderr);
        exit(70);
    }
    return d;
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

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int day_index(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, day_names[i], 3) == 0)
            return i;
    return -1;
}

static bool parse_hhmm(const char *s, int *minutes)
{
    int h, m;
    char tail;
    if (sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
        (h == 24 && m != 0))
        return false;
    *minutes = h * 60 + m;
    return true;
}

bool sw_hours_parse(const char *text, struct sw_hours *out, char *err, size_t errlen)
{
    struct sw_hours h;
    memset(&h, 0, sizeof(h));
    char *copy = xstrdup(text), *save = NULL;
    bool ok = true;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char days[16], from[8], to[8];
        char extra;
        if (sscanf(part, " %15[a-zA-Z-] %5[0-9:]-%5[0-9:] %c", days, from, to, &extra) != 3) {
            snprintf(err, errlen, "hours \"%s\": expected like \"mon-fri 08:00-17:00\"", part);
            ok = false;
            break;
        }
        char *dash = strchr(days, '-');
        int d0 = day_index(days, dash ? (size_t)(dash - days) : strlen(days));
        int d1 = dash ? day_index(dash + 1, strlen(dash + 1)) : d0;
        int open, close;
        if (d0 < 0 || d1 < 0) {
            snprintf(err, errlen, "hours: unknown day in \"%s\" (use sun..sat)", days);
            ok = false;
            break;
        }
        if (!parse_hhmm(from, &open) || !parse_hhmm(to, &close) || close <= open) {
            snprintf(err, errlen, "hours: bad time range %s-%s", from, to);
            ok = false;
            break;
        }
        for (int d = d0;; d = (d + 1) % 7) {
            h.open_min[d] = open;
            h.close_min[d] = close;
            if (d == d1)
                break;
        }
    }
    free(copy);
    if (ok)
        *out = h;
    return ok;
}

static bool set_setting(struct sw_config *cfg, const struct setting *s, const char *v, char *err,
                        size_t errlen)
{
    void *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case K_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return true;
    case K_LOGLEVEL: {
        enum sw_log_level lvl;
        if (!sw_log_level_parse(v, &lvl)) {
            snprintf(err, errlen, "%s: expected debug, info, warn or error", s->name);
            return false;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return true;
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

static bool set_kafka(struct sw_config *cfg, const char *key, const char *value, char *err,
                      size_t errlen)
{
    if (!*key) {
        snprintf(err, errlen, "kafka.: empty librdkafka property name");
        return false;
    }
    for (int i = 0; i < cfg->n_kafka; i++) {
        if (!strcmp(cfg->kafka[i].key, key)) {
            free(cfg->kafka[i].value);
            cfg->kafka[i].value = xstrdup(value);
            return true;
        }
    }
    if (cfg->n_kafka == SW_MAX_KAFKA_PROPS) {
        snprintf(err, errlen, "too many kafka.* settings (at most %d)", SW_MAX_KAFKA_PROPS);
        return false;
    }
    cfg->kafka[cfg->n_kafka].key = xstrdup(key);
    cfg->kafka[cfg->n_kafka].value = xstrdup(value);
    cfg->n_kafka++;
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
    const char *field = dot + 1;
    static const char *const fields[] = {"duration_minutes", "category", "min_notice_minutes",
                                         "max_window_days", "title"};
    bool known = false;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        known |= !strcmp(field, fields[i]);
    if (!known) {
        snprintf(err, errlen,
                 "type.%s: unknown field (duration_minutes, category, min_notice_minutes, "
                 "max_window_days, title)",
                 rest);
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
    bool ok = true;
    if (!strcmp(field, "duration_minutes"))
        ok = parse_int(value, 5, 24 * 60, &t->duration_min);
    else if (!strcmp(field, "category"))
        ok = parse_int(value, 1, INT_MAX, &t->category);
    else if (!strcmp(field, "min_notice_minutes"))
        ok = parse_int(value, 0, 365 * 24 * 60, &t->min_notice_min);
    else if (!strcmp(field, "max_window_days"))
        ok = parse_int(value, 1, 3650, &t->max_window_days);
    else if (!strcmp(field, "title")) {
        size_t len = strlen(value);
        ok = len >= 2 && len < sizeof(t->title);
        if (ok)
            snprintf(t->title, sizeof(t->title), "%s", value);
    }
    if (!ok)
        snprintf(err, errlen, "type.%s: bad value \"%s\"", rest, value);
    return ok;
}

/* practitioner.ID.hours */
static bool set_practitioner(struct sw_config *cfg, const char *rest, const char *value, char *err,
                             size_t errlen)
{
    const char *dot = strrchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : 0;
    if (!dot || strcmp(dot, ".hours") != 0 || n == 0 ||
        n >= sizeof(cfg->practitioner_hours[0].practitioner_id)) {
        snprintf(err, errlen, "practitioner.%s: expected practitioner.ID.hours", rest);
        return false;
    }
    struct sw_practitioner_hours *p = NULL;
    for (int i = 0; i < cfg->n_practitioner_hours; i++)
        if (strlen(cfg->practitioner_hours[i].practitioner_id) == n &&
            !strncmp(cfg->practitioner_hours[i].practitioner_id, rest, n))
            p = &cfg->practitioner_hours[i];
    if (!p) {
        if (cfg->n_practitioner_hours == SW_MAX_PRACTITIONER_HOURS) {
            snprintf(err, errlen, "too many practitioner overrides (at most %d)",
                     SW_MAX_PRACTITIONER_HOURS);
            return false;
        }
        p = &cfg->practitioner_hours[cfg->n_practitioner_hours++];
        snprintf(p->practitioner_id, sizeof(p->practitioner_id), "%.*s", (int)n, rest);
    }
    return sw_hours_parse(value, &p->hours, err, errlen);
}

bool sw_config_set(struct sw_config *cfg, const char *key, const char *value, char *err,
                   size_t errlen)
{
    if (!strncmp(key, "kafka.", 6))
        return set_kafka(cfg, key + 6, value, err, errlen);
    if (!strncmp(key, "type.", 5))
        return set_type(cfg, key + 5, value, err, errlen);
    if (!strncmp(key, "practitioner.", 13))
        return set_practitioner(cfg, key + 13, value, err, errlen);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].name, key))
            return set_setting(cfg, &settings[i], value, err, errlen);
    snprintf(err, errlen, "unknown setting \"%s\"", key);
    return false;
}

static void set_defaults(struct sw_config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!set_setting(cfg, &settings[i], settings[i].def, err, sizeof(err))) {
            fprintf(stderr, "bad default: %s\n", err); /* a bug in the table */
            exit(70);
        }
    for (size_t i = 0; i < sizeof(default_types) / sizeof(default_types[0]); i++)
        cfg->types[cfg->n_types++] = default_types[i];
    for (size_t i = 0; i < sizeof(default_kafka) / sizeof(default_kafka[0]); i++)
        set_kafka(cfg, default_kafka[i][0], default_kafka[i][1], err, sizeof(err));
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct sw_config *cfg, const char *path, FILE *errs)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    int errors = 0, lineno = 0;
    char line[4096], err[512];
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(errs, "%s:%d: line longer than %zu bytes\n", path, lineno, sizeof(line) - 2);
            errors++;
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(errs, "%s:%d: expected key = value\n", path, lineno);
            errors++;
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (value[0] == '"') {
            /* "quoted" value, then only blanks or a # comment */
            char *close = strchr(value + 1, '"');
            const char *rest = close ? close + 1 : "";
            while (isspace((unsigned char)*rest))
                rest++;
            if (!close || (*rest && *rest != '#')) {
                fprintf(errs, "%s:%d: expected \"value\" with only a # comment after it\n", path,
                        lineno);
                errors++;
                continue;
            }
            *close = '\0';
            value++;
        } else {
            /* an unquoted value may carry a trailing " # comment" */
            char *hash = strstr(value, " #");
            if (hash) {
                *hash = '\0';
                value = trim(value);
            }
        }
        if (!*key) {
            fprintf(errs, "%s:%d: empty key\n", path, lineno);
            errors++;
        } else if (!sw_config_set(cfg, key, value, err, sizeof(err))) {
            fprintf(errs, "%s:%d: %s\n", path, lineno, err);
            errors++;
        }
    }
    fclose(f);
    return errors;
}

/* SCHED_OPENEMR_BASE_URL -> openemr.base_url; kafka keys map _ to . */
static void env_name(const char *key, char *out, size_t n)
{
    size_t j = snprintf(out, n, "SCHED_");
    for (const char *p = key; *p && j + 1 < n; p++)
        out[j++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[j] = '\0';
}

static int load_env(struct sw_config *cfg, FILE *errs)
{
    static const char *const aliases[][2] = {
        {"KAFKA_BROKERS", "kafka.bootstrap.servers"},
        {"REDIS_URL", "redis.url"},
        {"OPENEMR_BASE_URL", "openemr.base_url"},
    };
    int errors = 0;
    char err[512], name[160];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        const char *v = getenv(aliases[i][0]);
        if (v && *v && !sw_config_set(cfg, aliases[i][1], v, err, sizeof(err))) {
            fprintf(errs, "env %s: %s\n", aliases[i][0], err);
            errors++;
        }
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        env_name(settings[i].name, name, sizeof(name));
        const char *v = getenv(name);
        if (v && !sw_config_set(cfg, settings[i].name, v, err, sizeof(err))) {
            fprintf(errs, "env %s: %s\n", name, err);
            errors++;
        }
    }
    /* SCHED_KAFKA_SECURITY_PROTOCOL=SSL -> kafka.security.protocol */
    extern char **environ;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "SCHED_KAFKA_", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[160];
        size_t j = 0;
        for (const char *p = *e + 12; p < eq && j + 1 < sizeof(key); p++)
            key[j++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[j] = '\0';
        if (!set_kafka(cfg, key, eq + 1, err, sizeof(err))) {
            fprintf(errs, "env %.*s: %s\n", (int)(eq - *e), *e, err);
            errors++;
        }
    }
    return errors;
}

static void finish(struct sw_config *cfg)
{
    if (!*cfg->worker_id) {
        char host[64] = "worker";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        char id[96];
        snprintf(id, sizeof(id), "%s-%d", host, (int)getpid());
        free(cfg->worker_id);
        cfg->worker_id = xstrdup(id);
    }
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
    return errors;
}

sw_err sw_config_load(struct sw_config *cfg, const char *path, FILE *errs)
{
    set_defaults(cfg);
    int errors = 0;
    if (path)
        errors += load_file(cfg, path, errs);
    errors += load_env(cfg, errs);
    finish(cfg);
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
    for (int i = 0; practitioner_id && i < cfg->n_practitioner_hours; i++)
        if (!strcmp(cfg->practitioner_hours[i].practitioner_id, practitioner_id))
            return &cfg->practitioner_hours[i].hours;
    return &cfg->clinic_hours;
}

void sw_config_write_reference(FILE *out)
{
    char env[160];
    fprintf(out, "| key | default | environment | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        env_name(settings[i].name, env, sizeof(env));
        fprintf(out, "| `%s` | `%s` | `%s` | %s |\n", settings[i].name, settings[i].def, env,
                settings[i].help);
    }
    fprintf(out, "| `type.NAME.FIELD` | see below | | duration_minutes, category (pc_catid), "
                 "min_notice_minutes, max_window_days, title of an appointment type |\n");
    fprintf(out, "| `practitioner.ID.hours` | clinic.hours | | working hours of one "
                 "practitioner |\n");
    fprintf(out, "| `kafka.*` | see below | `SCHED_KAFKA_*` | passed to librdkafka as is |\n");
    fprintf(out, "\nAppointment types by default:\n\n| type | minutes | category | notice "
                 "(min) | window (days) |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(default_types) / sizeof(default_types[0]); i++)
        fprintf(out, "| %s | %d | %d | %d | %d |\n", default_types[i].name,
                default_types[i].duration_min, default_types[i].category,
                default_types[i].min_notice_min, default_types[i].max_window_days);
    fprintf(out, "\nlibrdkafka defaults set by the worker:\n\n");
    for (size_t i = 0; i < sizeof(default_kafka) / sizeof(default_kafka[0]); i++)
        fprintf(out, "- `kafka.%s = %s`\n", default_kafka[i][0], default_kafka[i][1]);
}

char *sw_read_secret_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    bool more = n == sizeof(buf) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (more) { /* never hand back a secret cut short */
        explicit_bzero(buf, sizeof(buf));
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    char *s = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return s;
}
