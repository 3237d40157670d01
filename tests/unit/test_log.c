/* test_log.c - logging hygiene: one JSON object per line, the level
 * threshold, Kafka context fields, secrets never printed. */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* ---- capturing stderr ------------------------------------------------------ */

static FILE *cap_file;
static int cap_saved = -1;

static void capture_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    assert_non_null(cap_file);
    cap_saved = dup(2);
    assert_true(cap_saved >= 0);
    assert_true(dup2(fileno(cap_file), 2) >= 0);
}

/* Restores stderr; returns what was written (malloc'd). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    cap_saved = -1;
    long n = ftell(cap_file);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(cap_file);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, cap_file) : 0;
    buf[got] = '\0';
    fclose(cap_file);
    cap_file = NULL;
    return buf;
}

/* Checks that every line of out is one JSON object with the four fields;
 * returns the number of lines, and the objects in lines[] (to decref). */
static int parse_lines(const char *out, json_t **lines, int max)
{
    int n = 0;
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            fail_msg("last line has no newline: %s", p);
        json_error_t jerr;
        json_t *o = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &jerr);
        if (!o || !json_is_object(o))
            fail_msg("not one JSON object: %.*s (%s)", (int)(nl - p), p, jerr.text);
        static const char *const required[] = {"time", "level", "module", "msg"};
        for (size_t i = 0; i < 4; i++)
            if (!json_is_string(json_object_get(o, required[i])))
                fail_msg("no %s in %.*s", required[i], (int)(nl - p), p);
        if (n < max)
            lines[n] = o;
        else
            json_decref(o);
        n++;
        p = nl + 1;
    }
    return n;
}

static void free_lines(json_t **lines, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(lines[i]);
}

static const char *field(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- tests ----------------------------------------------------------------- */

static void test_line_shape(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_DEBUG, "w-1");
    capture_begin();
    log_info("kafka", "consumer started on %d partitions", 3);
    log_error("openemr", "HTTP %d from %s", 503, "/api/appointment");
    char *out = capture_end();
    json_t *l[4];
    assert_int_equal(parse_lines(out, l, 4), 2);
    assert_string_equal(field(l[0], "level"), "info");
    assert_string_equal(field(l[0], "module"), "kafka");
    assert_string_equal(field(l[0], "msg"), "consumer started on 3 partitions");
    assert_string_equal(field(l[1], "level"), "error");
    assert_string_equal(field(l[1], "msg"), "HTTP 503 from /api/appointment");
    /* 2026-11-29T01:02:03.456Z */
    const char *t = field(l[0], "time");
    assert_int_equal(strlen(t), 24);
    assert_true(t[10] == 'T' && t[19] == '.' && t[23] == 'Z');
    assert_null(json_object_get(l[0], "topic"));
    free_lines(l, 2);
    free(out);
}

static void test_threshold(void **state)
{
    (void)state;
    static const struct {
        enum sw_log_level threshold;
        int lines; /* of debug, info, warn, error */
    } cases[] = {
        {SW_LOG_DEBUG, 4},
        {SW_LOG_INFO, 3},
        {SW_LOG_WARN, 2},
        {SW_LOG_ERROR, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sw_log_init(cases[i].threshold, "w-1");
        capture_begin();
        log_debug("t", "d");
        log_info("t", "i");
        log_warn("t", "w");
        log_error("t", "e");
        char *out = capture_end();
        json_t *l[4];
        int n = parse_lines(out, l, 4);
        assert_int_equal(n, cases[i].lines);
        assert_string_equal(field(l[n - 1], "level"), "error");
        free_lines(l, n);
        free(out);
    }
    sw_log_init(SW_LOG_WARN, NULL);
    assert_false(sw_log_enabled(SW_LOG_INFO));
    assert_true(sw_log_enabled(SW_LOG_ERROR));

    enum sw_log_level lvl;
    assert_true(sw_log_level_parse("warn", &lvl));
    assert_int_equal(lvl, SW_LOG_WARN);
    lvl = SW_LOG_DEBUG;
    assert_true(sw_log_level_parse("WARN", &lvl)); /* any case: SCHED_LOG_LEVEL=WARN */
    assert_int_equal(lvl, SW_LOG_WARN);
    assert_true(sw_log_level_parse("Error", &lvl));
    assert_int_equal(lvl, SW_LOG_ERROR);
    assert_string_equal(sw_log_level_name(lvl), "error");
    assert_false(sw_log_level_parse("trace", &lvl));
    assert_false(sw_log_level_parse("", &lvl));

    /* the threshold changes while running (SIGHUP) */
    sw_log_init(SW_LOG_WARN, NULL);
    sw_log_set_level(SW_LOG_DEBUG);
    assert_int_equal(sw_log_level(), SW_LOG_DEBUG);
    assert_true(sw_log_enabled(SW_LOG_DEBUG));
    sw_log_set_level(SW_LOG_ERROR);
    assert_false(sw_log_enabled(SW_LOG_WARN));
    sw_log_init(SW_LOG_INFO, NULL);
}

static void test_context(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_INFO, "w-2");
    capture_begin();
    sw_log_set_context("scheduling.commands.book", 4, 1234567890123LL, "req-77");
    log_info("dispatch", "handling");
    sw_log_clear_context();
    log_info("dispatch", "idle");
    sw_log_set_context("scheduling.commands.search", 0, 0, NULL);
    log_info("dispatch", "no request id");
    sw_log_clear_context();
    char *out = capture_end();
    json_t *l[3];
    assert_int_equal(parse_lines(out, l, 3), 3);
    assert_string_equal(field(l[0], "topic"), "scheduling.commands.book");
    assert_int_equal(json_integer_value(json_object_get(l[0], "partition")), 4);
    assert_true(json_integer_value(json_object_get(l[0], "offset")) == 1234567890123LL);
    assert_string_equal(field(l[0], "request_id"), "req-77");
    for (const char *const *k =
             (const char *const[]){"topic", "partition", "offset", "request_id", NULL};
         *k; k++)
        assert_null(json_object_get(l[1], *k));
    assert_string_equal(field(l[2], "topic"), "scheduling.commands.search");
    assert_null(json_object_get(l[2], "request_id"));
    free_lines(l, 3);
    free(out);
}

#define SECRET  "tok-9f8e7d6c5b4a39281706"
#define SECRET2 "client-secret-ABCDEFGH"

static void test_secret_never_printed(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_DEBUG, "w-3");
    sw_log_add_secret(SECRET);
    sw_log_add_secret(SECRET2);
    sw_log_add_secret("short"); /* < 8 bytes: ignored */
    capture_begin();
    log_info("auth", "token %s", SECRET);
    log_info("auth", "Authorization: Bearer %sXYZ and again %s", SECRET, SECRET);
    log_info("auth", "%s%s", SECRET2, SECRET);
    log_info("auth", "short is fine");
    char *out = capture_end();
    assert_null(strstr(out, SECRET));
    assert_null(strstr(out, SECRET2));
    json_t *l[4];
    assert_int_equal(parse_lines(out, l, 4), 4);
    /* the text around the secret survives; the header promises "[redacted]" */
    assert_non_null(strstr(field(l[1], "msg"), "Authorization: Bearer "));
    assert_non_null(strstr(field(l[1], "msg"), "XYZ and again "));
    assert_non_null(strstr(field(l[0], "msg"), "[redacted]"));
    assert_string_equal(field(l[3], "msg"), "short is fine");
    free_lines(l, 4);
    free(out);
}

/* Long-lived secrets (the client secret, a password) stay redacted after
 * any number of token refreshes; the rotating set keeps the recent tokens
 * and lets the oldest go (it is bounded). */
static void test_long_lived_secrets_outlive_rotation(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_DEBUG, "w-4");
    assert_true(sw_log_add_secret("long-lived-client-secret-1"));
    assert_true(sw_log_add_secret("long-lived-client-secret-1")); /* once is enough */
    char tok[64];
    for (int i = 0; i < 1000; i++) { /* 500 refreshes: access + refresh each */
        snprintf(tok, sizeof(tok), "rotating-token-%06d", i);
        sw_log_add_rotating_secret(tok);
    }
    capture_begin();
    log_info("auth", "secret long-lived-client-secret-1 and " SECRET2);
    log_info("auth", "newest rotating-token-000999 oldest rotating-token-000000");
    char *out = capture_end();
    assert_null(strstr(out, "long-lived-client-secret-1"));
    assert_null(strstr(out, SECRET2)); /* registered by an earlier test: still there */
    assert_null(strstr(out, "rotating-token-000999"));
    assert_non_null(strstr(out, "rotating-token-000000")); /* gone from the ring */
    free(out);
}

/* A secret that straddles the end of the 2 KB message buffer must not leak
 * its beginning either. */
static void test_secret_at_truncation(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_DEBUG, NULL);
    sw_log_add_secret(SECRET);
    char pad[3000];
    for (int cut = 2030; cut < 2050; cut++) {
        memset(pad, 'p', (size_t)cut);
        pad[cut] = '\0';
        capture_begin();
        log_info("auth", "%s%s", pad, SECRET);
        char *out = capture_end();
        json_t *l[1];
        assert_int_equal(parse_lines(out, l, 1), 1);
        const char *msg = field(l[0], "msg");
        /* no 8-byte piece of the secret anywhere */
        for (size_t k = 0; k + 8 <= strlen(SECRET); k++)
            if (memmem(msg, strlen(msg), SECRET + k, 8))
                fail_msg("pad %d: part of the secret leaked: ...%s", cut,
                         msg + (strlen(msg) > 40 ? strlen(msg) - 40 : 0));
        free_lines(l, 1);
        free(out);
    }
}

struct writer {
    int id;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    sw_log_set_context("scheduling.commands.book", w->id, w->id, NULL);
    for (int i = 0; i < 200; i++)
        log_info("thread", "writer %d line %d uses %s now \"quoted\"\n", w->id, i, SECRET);
    sw_log_clear_context();
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_INFO, "w-4");
    sw_log_add_secret(SECRET);
    enum { N = 6 };
    pthread_t th[N];
    struct writer w[N];
    capture_begin();
    for (int i = 0; i < N; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    char *out = capture_end();
    assert_null(strstr(out, SECRET));
    json_t *l[1];
    int n = parse_lines(out, l, 1); /* every line whole: no interleaving */
    free_lines(l, n < 1 ? n : 1);
    assert_int_equal(n, N * 200);
    free(out);
}

static void test_nasty_messages(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_DEBUG, NULL);
    static const char *const msgs[] = {
        "quote \" backslash \\ slash /",
        "two\nlines\r\nand a tab\t",
        "bell \a escape \x1b[31m del \x7f",
        "invalid utf-8 \xff\xfe and a lone \xc3 byte",
        "overlong \xc0\xaf surrogate \xed\xa0\x80",
        "fine: \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x85",
        "",
    };
    size_t n = sizeof(msgs) / sizeof(msgs[0]);
    capture_begin();
    for (size_t i = 0; i < n; i++)
        log_info("nasty", "%s", msgs[i]);
    char *out = capture_end();
    /* one line per message, each valid JSON (only ASCII on the wire) */
    json_t *l[8];
    assert_int_equal(parse_lines(out, l, 8), (int)n);
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p < 0x80 && (*p >= 0x20 || *p == '\n'));
    assert_string_equal(field(l[0], "msg"), msgs[0]);
    assert_string_equal(field(l[1], "msg"), msgs[1]);
    assert_string_equal(field(l[2], "msg"), msgs[2]);
    /* invalid bytes are replaced, the rest of the message kept */
    assert_non_null(strstr(field(l[3], "msg"), "invalid utf-8 "));
    assert_non_null(strstr(field(l[3], "msg"), " byte"));
    assert_non_null(strstr(field(l[4], "msg"), " surrogate "));
    assert_string_equal(field(l[5], "msg"), msgs[5]);
    free_lines(l, (int)n);
    free(out);

    /* a long message cut inside a multi-byte character keeps its text */
    char big[5000];
    size_t k = 0;
    while (k + 2 < sizeof(big)) {
        big[k++] = '\xc3';
        big[k++] = '\xa9';
    }
    big[k] = '\0';
    capture_begin();
    log_info("nasty", "%s", big); /* 2047 bytes end inside a character */
    out = capture_end();
    assert_int_equal(parse_lines(out, l, 1), 1);
    assert_true(strlen(field(l[0], "msg")) > 1000);
    free_lines(l, 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_shape),
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_secret_never_printed),
        cmocka_unit_test(test_secret_at_truncation),
        cmocka_unit_test(test_long_lived_secrets_outlive_rotation),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_nasty_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
