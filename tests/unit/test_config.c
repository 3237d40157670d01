/* test_config.c - the settings table, the file parser, environment
 * overrides, hours, and secret files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "unit_util.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[] = "/tmp/test_config.XXXXXX";

/* Writes text to a fresh file in tmpdir; returns its path (static buffer). */
static const char *write_conf(const char *text)
{
    static char path[256];
    static int seq;
    snprintf(path, sizeof(path), "%s/c%d.conf", tmpdir, ++seq);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

struct loaded {
    struct sw_config cfg;
    sw_err rc;
    char *errs; /* what was printed to the error stream */
    size_t errs_len;
};

static void load_text(struct loaded *l, const char *text)
{
    FILE *errs = open_memstream(&l->errs, &l->errs_len);
    assert_non_null(errs);
    l->rc = sw_config_load(&l->cfg, text ? write_conf(text) : NULL, errs);
    fclose(errs);
}

static void loaded_free(struct loaded *l)
{
    sw_config_free(&l->cfg);
    free(l->errs);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const char *kafka_prop(const struct sw_config *cfg, const char *key)
{
    for (int i = 0; i < cfg->n_kafka; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            return cfg->kafka[i].value;
    return NULL;
}

static void clear_env(void)
{
    extern char **environ;
    static const char *const plain[] = {"KAFKA_BROKERS", "REDIS_URL", "OPENEMR_BASE_URL"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        unsetenv(plain[i]);
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (!strncmp(*e, "SCHED_", 6)) {
                const char *eq = strchr(*e, '=');
                snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - *e : 0), *e);
                break;
            }
        }
        if (!name[0])
            break;
        unsetenv(name);
    }
}

/* ---- defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    struct loaded l = {0};
    load_text(&l, NULL);
    assert_int_equal(l.rc, SW_OK);
    assert_string_equal(l.errs, "");
    const struct sw_config *c = &l.cfg;
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    assert_true(strncmp(c->worker_id, host, strlen(host)) == 0); /* host-pid */
    assert_int_equal(c->worker_threads, 8);
    assert_int_equal(c->max_in_flight, 2000);
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->shutdown_grace_s, 20);
    assert_string_equal(c->topic_search, "scheduling.commands.search");
    assert_string_equal(c->topic_book, "scheduling.commands.book");
    assert_string_equal(c->topic_cancel, "scheduling.commands.cancel");
    assert_string_equal(c->topic_results, "scheduling.results");
    assert_string_equal(c->topic_events, "scheduling.events");
    assert_string_equal(c->topic_dlq, "scheduling.dlq");
    assert_string_equal(c->topic_audit, "scheduling.audit");
    assert_int_equal(c->max_message_bytes, 65536);
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(c->redis_username, "");
    assert_string_equal(c->redis_password_file, "");
    assert_int_equal(c->redis_timeout_ms, 2000);
    assert_string_equal(c->redis_prefix, "sched:");
    assert_string_equal(c->openemr_base_url, "https://127.0.0.1:9300");
    assert_string_equal(c->openemr_site, "default");
    assert_int_equal(c->surface, SW_SURFACE_OPENEMR);
    assert_string_equal(c->openemr_ca_file, "");
    assert_string_equal(c->openemr_pinned_pubkey, "");
    assert_false(c->openemr_allow_insecure);
    assert_int_equal(c->openemr_connect_timeout_ms, 2000);
    assert_int_equal(c->openemr_timeout_ms, 10000);
    assert_int_equal(c->openemr_max_response_bytes, 8388608);
    assert_int_equal(c->openemr_facility_id, 3);
    assert_int_equal(c->grant, SW_GRANT_REFRESH_TOKEN);
    assert_string_equal(c->oauth_client_id, "");
    assert_string_equal(c->oauth_client_secret_file, "");
    assert_string_equal(c->oauth_scope, ""); /* the surface's own (scopes.c) */
    assert_true(c->oauth_check_scopes);
    assert_int_equal(c->openemr_max_search_rows, 5000);
    assert_non_null(strstr(c->oauth_system_scope, "system/Appointment.read"));
    assert_string_equal(c->oauth_username, "");
    assert_string_equal(c->oauth_password_file, "");
    assert_string_equal(c->oauth_private_key_file, "");
    assert_string_equal(c->oauth_key_id, "");
    assert_string_equal(c->oauth_refresh_token_file, "");
    assert_string_equal(c->oauth_redirect_uri, "http://127.0.0.1:8765/callback");
    assert_string_equal(c->oauth_token_key_file, "");
    assert_int_equal(c->oauth_refresh_margin_s, 300);
    assert_false(c->oauth_revoke_on_shutdown);
    assert_string_equal(c->clinic_timezone, "America/New_York");
    for (int d = 0; d < 7; d++) {
        bool weekday = d >= 1 && d <= 5;
        assert_int_equal(c->clinic_hours.open_min[d], weekday ? 8 * 60 : 0);
        assert_int_equal(c->clinic_hours.close_min[d], weekday ? 17 * 60 : 0);
    }
    assert_int_equal(c->slot_minutes, 15);
    assert_int_equal(c->buffer_minutes, 10);
    assert_int_equal(c->search_limit_default, 3);
    assert_int_equal(c->slot_cache_ttl_s, 300);
    assert_int_equal(c->ref_cache_ttl_s, 300);
    assert_int_equal(c->idempotency_ttl_s, 604800);
    assert_int_equal(c->idempotency_lease_s, 30);
    assert_int_equal(c->hold_default_ttl_s, 120);
    assert_int_equal(c->hold_max_ttl_s, 600);
    assert_int_equal(c->limiter_rps, 10);
    assert_int_equal(c->limiter_concurrency, 5);
    assert_int_equal(c->limiter_permit_ttl_ms, 30000);
    assert_int_equal(c->retry_base_ms, 1000);
    assert_int_equal(c->retry_max_attempts, 4);
    assert_int_equal(c->breaker_failures, 5);
    assert_int_equal(c->breaker_open_s, 30);
    assert_int_equal(c->poller_interval_s, 300);
    assert_int_equal(c->poller_horizon_days, 14);
    assert_int_equal(c->poller_lease_s, 10);
    assert_int_equal(c->waitlist_offer_ttl_s, 900);
    assert_string_equal(c->http_listen, "127.0.0.1:9464");
    assert_string_equal(c->auth_keys_file, "");
    assert_false(c->auth_allow_unsigned);
    assert_int_equal(c->auth_max_skew_s, 300);
    assert_string_equal(c->topic_reply_prefix, "scheduling.results.");
    assert_string_equal(c->topic_reply_allowlist, "");

    /* appointment types and librdkafka defaults */
    assert_int_equal(c->n_types, 4);
    const struct sw_type_rule *t = sw_config_type(c, "routine");
    assert_non_null(t);
    assert_int_equal(t->duration_min, 60);
    assert_int_equal(t->category, 5);
    assert_int_equal(t->min_notice_min, 24 * 60);
    assert_int_equal(sw_config_type(c, "urgent")->min_notice_min, 120);
    assert_int_equal(sw_config_type(c, "follow_up")->duration_min, 30);
    assert_int_equal(sw_config_type(c, "consultation")->category, 10);
    assert_null(sw_config_type(c, "dental"));
    assert_string_equal(kafka_prop(c, "bootstrap.servers"), "127.0.0.1:9092");
    assert_string_equal(kafka_prop(c, "group.id"), "schedworker");
    assert_null(kafka_prop(c, "security.protocol"));
    assert_string_equal(kafka_prop(c, "partition.assignment.strategy"), "cooperative-sticky");
    loaded_free(&l);
}

/* ---- a sample file -------------------------------------------------------- */

static const char sample[] =
    "# a comment\n"
    "; also a comment\n"
    "\n"
    "   worker.id = replica-7   \n"
    "worker.threads=4\n"
    "log.level = \"debug\"\n"
    "openemr.site = \"my # site\"\n" /* a # inside quotes is data */
    "openemr.facility_id = 9 # trailing comment\n"
    "redis.prefix = \"t:\" # quoted, then a comment\n"
    "clinic.hours = mon-thu 07:30-16:00, fri 07:30-12:00   # short Friday\n"
    "oauth.grant = password\n"
    "openemr.surface = fhir-scheduling\n"
    "auth.allow_unsigned = yes\n"
    "kafka.security.protocol = SASL_SSL\n"
    "kafka.group.id = other-group\n"
    "type.dental.duration_minutes = 40\n"
    "type.dental.category = 12\n"
    "type.dental.title = \"Dental check\"\n"
    "type.urgent.min_notice_minutes = 30\n"
    "practitioner.12.hours = tue 10:00-14:00\n"
    "practitioner.dr.who.hours = sat 09:00-10:00\n";

static void test_sample_file(void **state)
{
    (void)state;
    struct loaded l = {0};
    load_text(&l, sample);
    if (l.rc != SW_OK)
        fail_msg("sample refused: %s", l.errs);
    const struct sw_config *c = &l.cfg;
    assert_string_equal(c->worker_id, "replica-7");
    assert_int_equal(c->worker_threads, 4);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->openemr_site, "my # site");
    assert_int_equal(c->openemr_facility_id, 9);
    assert_string_equal(c->redis_prefix, "t:");
    assert_int_equal(c->clinic_hours.open_min[1], 7 * 60 + 30);
    assert_int_equal(c->clinic_hours.close_min[4], 16 * 60);
    assert_int_equal(c->clinic_hours.close_min[5], 12 * 60);
    assert_int_equal(c->clinic_hours.close_min[6], 0);
    assert_int_equal(c->grant, SW_GRANT_PASSWORD);
    assert_int_equal(c->surface, SW_SURFACE_FHIR_SCHEDULING);
    assert_true(c->auth_allow_unsigned);
    assert_string_equal(kafka_prop(c, "security.protocol"), "SASL_SSL");
    assert_string_equal(kafka_prop(c, "group.id"), "other-group");
    int groups = 0;
    for (int i = 0; i < c->n_kafka; i++)
        groups += !strcmp(c->kafka[i].key, "group.id");
    assert_int_equal(groups, 1); /* replaced, not added twice */

    const struct sw_type_rule *t = sw_config_type(c, "dental");
    assert_non_null(t);
    assert_int_equal(t->duration_min, 40);
    assert_int_equal(t->category, 12);
    assert_string_equal(t->title, "Dental check");
    assert_int_equal(c->n_types, 5);
    assert_int_equal(sw_config_type(c, "urgent")->min_notice_min, 30);
    assert_int_equal(sw_config_type(c, "urgent")->duration_min, 45); /* untouched */

    const struct sw_hours *h = sw_config_hours(c, "12");
    assert_int_equal(h->open_min[2], 600);
    assert_int_equal(h->close_min[2], 840);
    assert_int_equal(h->close_min[1], 0); /* the override replaces the week */
    assert_int_equal(sw_config_hours(c, "dr.who")->open_min[6], 540);
    assert_ptr_equal(sw_config_hours(c, "99"), &c->clinic_hours);
    assert_ptr_equal(sw_config_hours(c, NULL), &c->clinic_hours);
    loaded_free(&l);
}

/* ---- errors ---------------------------------------------------------------- */

static void test_each_error(void **state)
{
    (void)state;
    static const struct {
        const char *line, *says;
    } cases[] = {
        {"no.such.key = 1", "unknown setting \"no.such.key\""},
        {"worker.threads = many", "worker.threads: expected an integer"},
        {"worker.threads = 4x", "worker.threads: expected an integer"},
        {"worker.threads = 0", "from 1 to 256"},
        {"worker.threads = 257", "from 1 to 256"},
        {"worker.threads = 99999999999999999999", "worker.threads"},
        {"openemr.allow_insecure_http = maybe", "expected true or false"},
        {"clinic.hours = mon-fri 8-17", "hours"},
        {"clinic.hours = xyz 08:00-09:00", "unknown day"},
        {"clinic.hours = mon 17:00-08:00", "bad time range"},
        {"clinic.hours = mon 09:00-09:00", "bad time range"},
        {"log.level = verbose", "log.level"},
        {"openemr.surface = soap", "openemr.surface"},
        {"oauth.grant = implicit", "oauth.grant"},
        {"worker.threads 4", "expected key = value"},
        {"= 4", "empty key"},
        {"type.dental = 4", "expected type.NAME.FIELD"},
        {"type.dental.colour = red", "unknown field"},
        {"type.dental.duration_minutes = 2", "bad value"},
        {"practitioner.12.days = mon 08:00-09:00", "practitioner.ID.hours"},
        {"kafka. = x", "empty librdkafka property"},
        {"openemr.site = \"abc", "expected \"value\""},
        {"openemr.site = \"abc\" junk", "expected \"value\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "# line 1\n%s\n", cases[i].line);
        struct loaded l = {0};
        load_text(&l, text);
        if (l.rc != SW_ERR_CONFIG)
            fail_msg("\"%s\" was accepted", cases[i].line);
        /* "path:2: message" */
        const char *colon = strstr(l.errs, ".conf:2: ");
        if (!colon || !strstr(colon, cases[i].says) || count_lines(l.errs) != 1)
            fail_msg("\"%s\": expected \"file:2: ...%s...\", got \"%s\"", cases[i].line,
                     cases[i].says, l.errs);
        loaded_free(&l);
    }
}

static void test_long_line_and_many_errors(void **state)
{
    (void)state;
    size_t big = 5000;
    char *text = malloc(big + 400);
    int n = snprintf(text, 400, "worker.threads = x\nopenemr.site = \"");
    memset(text + n, 's', big);
    snprintf(text + n + big, 400,
             "\"\nworker.threads = 4\nbogus = 1\nredis.timeout_ms = 5\nworker.id = ok\n");
    struct loaded l = {0};
    load_text(&l, text);
    free(text);
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    /* every error, each with its own line number; the good lines still apply */
    assert_non_null(strstr(l.errs, ".conf:1: worker.threads"));
    assert_non_null(strstr(l.errs, ".conf:2: line longer than"));
    assert_non_null(strstr(l.errs, ".conf:4: unknown setting \"bogus\""));
    assert_non_null(strstr(l.errs, ".conf:5: redis.timeout_ms"));
    assert_int_equal(count_lines(l.errs), 4);
    assert_int_equal(l.cfg.worker_threads, 4);
    assert_string_equal(l.cfg.worker_id, "ok");
    loaded_free(&l);

    /* a missing file */
    FILE *errs;
    char *out = NULL;
    size_t len;
    struct sw_config c;
    errs = open_memstream(&out, &len);
    assert_int_equal(sw_config_load(&c, "/nonexistent/x.conf", errs), SW_ERR_CONFIG);
    fclose(errs);
    assert_non_null(strstr(out, "/nonexistent/x.conf: cannot open"));
    sw_config_free(&c);
    free(out);
}

static void test_checks_after_load(void **state)
{
    (void)state;
    struct loaded l = {0};
    load_text(&l, "openemr.base_url = http://127.0.0.1:9300\n");
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "plain http"));
    loaded_free(&l);

    memset(&l, 0, sizeof(l));
    load_text(&l, "openemr.base_url = http://127.0.0.1:9300\nopenemr.allow_insecure_http = true\n");
    assert_int_equal(l.rc, SW_OK);
    assert_true(l.cfg.openemr_allow_insecure);
    loaded_free(&l);

    memset(&l, 0, sizeof(l));
    load_text(&l, "openemr.base_url = ftp://x\n");
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "https://"));
    loaded_free(&l);

    memset(&l, 0, sizeof(l));
    load_text(&l, "hold.default_ttl_s = 700\n");
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "hold.default_ttl_s"));
    loaded_free(&l);
}

/* reply_to: the results topic, the allowlist and the prefix pass; the
 * command, events, audit and dead-letter topics never do, and a list or
 * prefix that would let one through is a configuration error. */
static void test_reply_allowlist(void **state)
{
    (void)state;
    struct loaded l = {0};
    load_text(&l, "topics.reply_allowlist = agent.replies, other.team.inbox ,\n");
    if (l.rc != SW_OK)
        fail_msg("refused: %s", l.errs);
    const struct sw_config *c = &l.cfg;
    assert_true(sw_config_reply_allowed(c, "scheduling.results"));
    assert_true(sw_config_reply_allowed(c, "scheduling.results.agent-7"));
    assert_true(sw_config_reply_allowed(c, "agent.replies"));
    assert_true(sw_config_reply_allowed(c, "other.team.inbox"));
    assert_false(sw_config_reply_allowed(c, "scheduling.results.")); /* the bare prefix */
    assert_false(sw_config_reply_allowed(c, "agent.replies.x"));
    assert_false(sw_config_reply_allowed(c, "agent.replie"));
    assert_false(sw_config_reply_allowed(c, "billing.invoices"));
    assert_false(sw_config_reply_allowed(c, ""));
    assert_false(sw_config_reply_allowed(c, NULL));
    const char *never[] = {"scheduling.events",        "scheduling.audit",
                           "scheduling.dlq",           "scheduling.commands.search",
                           "scheduling.commands.book", "scheduling.commands.cancel"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        assert_false(sw_config_reply_allowed(c, never[i]));
    loaded_free(&l);

    static const char *const bad[][2] = {
        {"topics.reply_allowlist = a.b, scheduling.events\n", "scheduling.events"},
        {"topics.reply_allowlist = scheduling.dlq\n", "scheduling.dlq"},
        {"topics.reply_prefix = scheduling.\n", "would allow"},
        {"topics.reply_prefix = \"\"\ntopics.results = scheduling.audit\n", "topics.results"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&l, 0, sizeof(l));
        load_text(&l, bad[i][0]);
        assert_int_equal(l.rc, SW_ERR_CONFIG);
        if (!strstr(l.errs, bad[i][1]))
            fail_msg("%s: %s", bad[i][0], l.errs);
        loaded_free(&l);
    }
    /* an empty prefix allows only the named topics */
    memset(&l, 0, sizeof(l));
    load_text(&l, "topics.reply_prefix = \"\"\n");
    assert_int_equal(l.rc, SW_OK);
    assert_false(sw_config_reply_allowed(&l.cfg, "scheduling.results.agent-7"));
    assert_true(sw_config_reply_allowed(&l.cfg, "scheduling.results"));
    loaded_free(&l);
}

/* A NUL byte inside a line is refused (the line after it still counts);
 * the list of type fields in the message comes from the fields table; a
 * path that cannot be read as a file is an error, not an empty config. */
static void test_line_edges(void **state)
{
    (void)state;
    static const char text[] = "worker.id = a\0b\nworker.threads = 5\ntype.x.colour = red\n";
    const char *p = write_conf(""); /* then overwrite it with the NUL inside */
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fwrite(text, 1, sizeof(text) - 1, f);
    fclose(f);
    char *out = NULL;
    size_t len = 0;
    FILE *errs = open_memstream(&out, &len);
    struct sw_config c;
    assert_int_equal(sw_config_load(&c, p, errs), SW_ERR_CONFIG);
    fclose(errs);
    assert_non_null(strstr(out, ".conf:1: a NUL byte in the line"));
    assert_non_null(strstr(out, ".conf:3: type.x.colour: unknown field (duration_minutes, "
                                "category, min_notice_minutes, max_window_days, title)"));
    assert_int_equal(count_lines(out), 2);
    assert_int_equal(c.worker_threads, 5);
    sw_config_free(&c);
    free(out);

    out = NULL;
    errs = open_memstream(&out, &len);
    assert_int_equal(sw_config_load(&c, tmpdir, errs), SW_ERR_CONFIG);
    fclose(errs);
    assert_non_null(strstr(out, "read error"));
    sw_config_free(&c);
    free(out);
}

/* ---- environment ------------------------------------------------------------ */

static void test_environment_wins(void **state)
{
    (void)state;
    const char *text = "openemr.base_url = https://file.example\n"
                       "redis.url = redis://file:6379/0\n"
                       "kafka.bootstrap.servers = file:9092\n"
                       "kafka.security.protocol = PLAINTEXT\n"
                       "worker.threads = 3\n";
    setenv("SCHED_OPENEMR_BASE_URL", "https://env.example", 1);
    setenv("KAFKA_BROKERS", "env1:9092,env2:9092", 1);
    setenv("REDIS_URL", "redis://env:6380/1", 1);
    setenv("SCHED_KAFKA_SECURITY_PROTOCOL", "SSL", 1);
    setenv("SCHED_WORKER_THREADS", "6", 1);
    setenv("SCHED_CLINIC_HOURS", "sat 09:00-12:00", 1);
    struct loaded l = {0};
    load_text(&l, text);
    if (l.rc != SW_OK)
        fail_msg("%s", l.errs);
    assert_string_equal(l.cfg.openemr_base_url, "https://env.example");
    assert_string_equal(l.cfg.redis_url, "redis://env:6380/1");
    assert_string_equal(kafka_prop(&l.cfg, "bootstrap.servers"), "env1:9092,env2:9092");
    assert_string_equal(kafka_prop(&l.cfg, "security.protocol"), "SSL");
    assert_int_equal(l.cfg.worker_threads, 6);
    assert_int_equal(l.cfg.clinic_hours.open_min[6], 540);
    assert_int_equal(l.cfg.clinic_hours.close_min[1], 0);
    loaded_free(&l);

    /* a bad environment value is reported as "env NAME: ..." */
    setenv("SCHED_WORKER_THREADS", "lots", 1);
    memset(&l, 0, sizeof(l));
    load_text(&l, text);
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "env SCHED_WORKER_THREADS: worker.threads"));
    loaded_free(&l);

    /* the http check applies to the environment's value too */
    clear_env();
    setenv("OPENEMR_BASE_URL", "http://10.0.0.1", 1);
    memset(&l, 0, sizeof(l));
    load_text(&l, NULL);
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "plain http"));
    loaded_free(&l);
    setenv("SCHED_OPENEMR_ALLOW_INSECURE_HTTP", "true", 1);
    memset(&l, 0, sizeof(l));
    load_text(&l, NULL);
    assert_int_equal(l.rc, SW_OK);
    assert_string_equal(l.cfg.openemr_base_url, "http://10.0.0.1");
    loaded_free(&l);
    clear_env();
}

/* An unknown SCHED_* variable is an error naming the closest real one;
 * SCHED_KAFKA_* (librdkafka), SCHED_TEST_* (the suite's) and SCHED_TOKEN_KEY
 * are not settings but pass. */
static void test_environment_unknown(void **state)
{
    (void)state;
    clear_env();
    setenv("SCHED_OPENEMR_BASEURL", "https://typo.example", 1);
    setenv("SCHED_LOG_LEVL", "debug", 1);
    setenv("SCHED_COMPLETELY_UNRELATED_THING_HERE", "1", 1);
    setenv("SCHED_KAFKA_SESSION_TIMEOUT_MS", "7000", 1);
    setenv("SCHED_TEST_KAFKA", "apache", 1);
    setenv("SCHED_TOKEN_KEY", "00", 1);
    struct loaded l = {0};
    load_text(&l, NULL);
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(
        l.errs,
        "env SCHED_OPENEMR_BASEURL: no such setting; did you mean SCHED_OPENEMR_BASE_URL?\n"));
    assert_non_null(
        strstr(l.errs, "env SCHED_LOG_LEVL: no such setting; did you mean SCHED_LOG_LEVEL?\n"));
    assert_non_null(strstr(l.errs, "env SCHED_COMPLETELY_UNRELATED_THING_HERE: no such setting ("));
    assert_int_equal(count_lines(l.errs), 3); /* the passthrough ones are not reported */
    assert_string_equal(kafka_prop(&l.cfg, "session.timeout.ms"), "7000");
    loaded_free(&l);
    clear_env();
    setenv("SCHED_TEST_KAFKA", "apache", 1);
    setenv("SCHED_TOKEN_KEY", "00", 1);
    setenv("SCHED_SIGN_KEY_FILE", "/x/auth.keys", 1); /* a signing client's, not ours */
    setenv("SCHED_SIGN_KEY_ID", "stack-agent", 1);
    memset(&l, 0, sizeof(l));
    load_text(&l, NULL);
    if (l.rc != SW_OK)
        fail_msg("%s", l.errs);
    loaded_free(&l);
    clear_env();
}

/* Log levels in any case; stored in lower case. */
static void test_log_level_case(void **state)
{
    (void)state;
    clear_env();
    setenv("SCHED_LOG_LEVEL", "INFO", 1);
    struct loaded l = {0};
    load_text(&l, "log.level = Debug\n");
    if (l.rc != SW_OK)
        fail_msg("%s", l.errs);
    assert_string_equal(l.cfg.log_level, "info"); /* the environment wins, lower-cased */
    loaded_free(&l);
    clear_env();
    memset(&l, 0, sizeof(l));
    load_text(&l, "log.level = WARN\n");
    assert_int_equal(l.rc, SW_OK);
    assert_string_equal(l.cfg.log_level, "warn");
    loaded_free(&l);
    memset(&l, 0, sizeof(l));
    load_text(&l, "log.level = loud\n");
    assert_int_equal(l.rc, SW_ERR_CONFIG);
    assert_non_null(strstr(l.errs, "log.level: expected debug, info, warn or error"));
    loaded_free(&l);
}

struct change {
    char lines[1024];
};

static void on_change(void *arg, const char *key, const char *was, const char *now)
{
    struct change *c = arg;
    size_t n = strlen(c->lines);
    snprintf(c->lines + n, sizeof(c->lines) - n, "%s: %s -> %s\n", key, was, now);
}

/* What SIGHUP reports: every setting that differs, and nothing else. */
static void test_diff(void **state)
{
    (void)state;
    clear_env();
    struct loaded a = {0}, b = {0};
    load_text(&a, "log.level = info\nworker.threads = 4\nkafka.linger.ms = 5\n");
    load_text(&b, "log.level = debug\nworker.threads = 4\nkafka.linger.ms = 7\n"
                  "kafka.client.id = x\nclinic.hours = mon 09:00-10:00\n"
                  "type.routine.duration_minutes = 50\n");
    assert_int_equal(a.rc, SW_OK);
    assert_int_equal(b.rc, SW_OK);
    struct change c = {""};
    int n = sw_config_diff(&a.cfg, &a.cfg, on_change, &c);
    assert_int_equal(n, 0);
    assert_string_equal(c.lines, "");
    n = sw_config_diff(&a.cfg, &b.cfg, on_change, &c);
    assert_string_equal(c.lines, "log.level: info -> debug\n"
                                 "clinic.hours: (hours) -> (new hours)\n"
                                 "kafka.linger.ms: 5 -> 7\n"
                                 "kafka.client.id: (unset) -> x\n"
                                 "type.*: (appointment types) -> (changed)\n");
    assert_int_equal(n, 5);
    c.lines[0] = '\0';
    n = sw_config_diff(&b.cfg, &a.cfg, on_change, &c);
    assert_non_null(strstr(c.lines, "kafka.client.id: x -> (unset)\n"));
    assert_int_equal(n, 5);
    loaded_free(&a);
    loaded_free(&b);
}

/* ---- sw_config_set ------------------------------------------------------------ */

static void test_config_set(void **state)
{
    (void)state;
    struct loaded l = {0};
    load_text(&l, NULL);
    char err[256] = "";
    assert_true(sw_config_set(&l.cfg, "worker.threads", "256", err, sizeof(err)));
    assert_int_equal(l.cfg.worker_threads, 256);
    assert_false(sw_config_set(&l.cfg, "worker.threads", "", err, sizeof(err)));
    assert_int_equal(l.cfg.worker_threads, 256);
    assert_true(sw_config_set(&l.cfg, "log.level", "warn", err, sizeof(err)));
    assert_string_equal(l.cfg.log_level, "warn");
    /* a failed type.* setting does not leave a half-made type behind */
    int n = l.cfg.n_types;
    assert_false(sw_config_set(&l.cfg, "type.ghost.colour", "red", err, sizeof(err)));
    assert_null(sw_config_type(&l.cfg, "ghost"));
    assert_int_equal(l.cfg.n_types, n);
    /* at most SW_MAX_TYPES types */
    char key[64];
    for (int i = n; i < SW_MAX_TYPES; i++) {
        snprintf(key, sizeof(key), "type.t%d.duration_minutes", i);
        assert_true(sw_config_set(&l.cfg, key, "30", err, sizeof(err)));
    }
    assert_false(sw_config_set(&l.cfg, "type.onemore.duration_minutes", "30", err, sizeof(err)));
    assert_non_null(strstr(err, "too many"));
    loaded_free(&l);
}

/* ---- hours ---------------------------------------------------------------------- */

static void test_hours_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        /* expected open/close per day sun..sat in minutes, when ok */
        int open[7], close[7];
    } cases[] = {
        {"mon-fri 08:00-17:00, sat 09:00-12:00",
         true,
         {0, 480, 480, 480, 480, 480, 540},
         {0, 1020, 1020, 1020, 1020, 1020, 720}},
        {"MON 08:15-09:45", true, {0, 495, 0, 0, 0, 0, 0}, {0, 585, 0, 0, 0, 0, 0}},
        {"fri-mon 10:00-11:00", /* wraps over the weekend */
         true,
         {600, 600, 0, 0, 0, 600, 600},
         {660, 660, 0, 0, 0, 660, 660}},
        {"sun 00:00-24:00", true, {0}, {1440}},
        {"tue 8:00-9:30", true, {0, 0, 480}, {0, 0, 570}},
        {"", true, {0}, {0}}, /* closed every day */
        {"mon-fri 8-17", false, {0}, {0}},
        {"xyz 08:00-09:00", false, {0}, {0}},
        {"mon 10:00-09:00", false, {0}, {0}},
        {"mon 10:00-10:00", false, {0}, {0}},
        {"mon 24:30-25:00", false, {0}, {0}},
        {"mon 08:60-09:00", false, {0}, {0}},
        {"mon- 08:00-09:00", false, {0}, {0}},
        {"mon 08:00-09:00 extra", false, {0}, {0}},
        {"monday 08:00-09:00", false, {0}, {0}},
        {"mon 08:00", false, {0}, {0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sw_hours h;
        memset(&h, 0x55, sizeof(h));
        struct sw_hours before = h;
        char err[256] = "";
        bool ok = sw_hours_parse(cases[i].text, &h, err, sizeof(err));
        if (ok != cases[i].ok)
            fail_msg("\"%s\": expected %s (%s)", cases[i].text, cases[i].ok ? "ok" : "error", err);
        if (!ok) {
            assert_true(err[0] != '\0');
            assert_memory_equal(&h, &before, sizeof(h)); /* untouched on error */
            continue;
        }
        for (int d = 0; d < 7; d++) {
            if (h.open_min[d] != cases[i].open[d] || h.close_min[d] != cases[i].close[d])
                fail_msg("\"%s\" day %d: %d-%d, expected %d-%d", cases[i].text, d, h.open_min[d],
                         h.close_min[d], cases[i].open[d], cases[i].close[d]);
        }
    }
}

/* ---- secret files ----------------------------------------------------------------- */

static void test_read_secret_file(void **state)
{
    (void)state;
    const char *p = write_conf("s3cr3t-value \n\n");
    char *s = sw_read_secret_file(p);
    assert_non_null(s);
    assert_string_equal(s, "s3cr3t-value");
    free(s);

    p = write_conf("");
    s = sw_read_secret_file(p);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    errno = 0;
    assert_null(sw_read_secret_file("/nonexistent/secret"));
    assert_int_equal(errno, ENOENT);

    /* a secret larger than the reader's buffer is refused, not cut short */
    char *big = malloc(20001);
    memset(big, 'k', 20000);
    big[20000] = '\0';
    p = write_conf(big);
    free(big);
    errno = 0;
    s = sw_read_secret_file(p);
    if (s) {
        size_t n = strlen(s);
        free(s);
        fail_msg("a 20000-byte secret came back as %zu bytes", n);
    }
    assert_int_equal(errno, EFBIG);
}

static void test_reference(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    sw_config_write_reference(f);
    fclose(f);
    assert_non_null(strstr(out, "| `openemr.base_url` | `https://127.0.0.1:9300` | "
                                "`SCHED_OPENEMR_BASE_URL` |"));
    assert_non_null(strstr(out, "`kafka.*`"));
    free(out);
}

static int setup(void **state)
{
    (void)state;
    return util_tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
    (void)state;
    return util_tmpdir_remove(tmpdir);
}

int main(void)
{
    clear_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_sample_file),
        cmocka_unit_test(test_each_error),        cmocka_unit_test(test_long_line_and_many_errors),
        cmocka_unit_test(test_checks_after_load), cmocka_unit_test(test_environment_wins),
        cmocka_unit_test(test_config_set),        cmocka_unit_test(test_hours_parse),
        cmocka_unit_test(test_read_secret_file),  cmocka_unit_test(test_reference),
        cmocka_unit_test(test_line_edges),        cmocka_unit_test(test_environment_unknown),
        cmocka_unit_test(test_log_level_case),    cmocka_unit_test(test_diff),
        cmocka_unit_test(test_reply_allowlist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
