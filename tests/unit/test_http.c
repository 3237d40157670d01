/* test_http.c - status classification, URL policy, escaping, and
 * http_perform against a local libmicrohttpd server (body cap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "http.h"

/* ---- a local server ------------------------------------------------------ */

/* Chunked bodies (no Content-Length, so only the sink's cap can stop them). */
static ssize_t chunk_of_x(void *cls, uint64_t pos, char *buf, size_t max)
{
    size_t total = (size_t)(uintptr_t)cls;
    if (pos >= total)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = total - (size_t)pos < max ? total - (size_t)pos : max;
    memset(buf, 'x', n);
    return (ssize_t)n;
}

/* Retry-After of /retry/WHAT: seconds, an HTTP date 30 s ahead or 60 s
 * past, junk, or more than a day. */
static void retry_value(const char *what, char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    if (!strcmp(what, "date") || !strcmp(what, "past")) {
        t += !strcmp(what, "date") ? 30 : -60;
        gmtime_r(&t, &tm);
        strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    } else {
        snprintf(out, len, "%s",
                 !strcmp(what, "seconds") ? "7"
                 : !strcmp(what, "huge")  ? "100000"
                                          : "soon");
    }
}

/* GET /small: "hello"; /fixed/N and /chunked/N: N bytes of x, with and
 * without a Content-Length; /retry/WHAT: 503 with a Retry-After header. */
static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_len, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_len, (void)con_cls;
    struct MHD_Response *r = NULL;
    unsigned status = 200;
    size_t n = 0;
    static char big[1 << 16], hello[] = "hello";
    if (!strcmp(url, "/small")) {
        r = MHD_create_response_from_buffer(5, hello, MHD_RESPMEM_PERSISTENT);
    } else if (sscanf(url, "/fixed/%zu", &n) == 1 && n <= sizeof(big)) {
        memset(big, 'x', sizeof(big));
        r = MHD_create_response_from_buffer(n, big, MHD_RESPMEM_PERSISTENT);
    } else if (sscanf(url, "/chunked/%zu", &n) == 1) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, chunk_of_x,
                                              (void *)(uintptr_t)n, NULL);
    } else if (!strncmp(url, "/retry/", 7)) {
        char value[64];
        retry_value(url + 7, value, sizeof value);
        status = 503;
        r = MHD_create_response_from_buffer(0, hello, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Retry-After", value);
    } else {
        status = 404;
        r = MHD_create_response_from_buffer(0, hello, MHD_RESPMEM_PERSISTENT);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

struct local {
    struct MHD_Daemon *d;
    struct sw_config cfg;
    struct http_client *h;
};

static void local_start(struct local *l, const char *max_bytes)
{
    l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            serve, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(l->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)info->port);
    FILE *devnull = fopen("/dev/null", "w");
    assert_int_equal(sw_config_load(&l->cfg, NULL, devnull), SW_OK);
    fclose(devnull);
    assert_true(sw_config_set(&l->cfg, "openemr.allow_insecure_http", "true", err, sizeof err));
    assert_true(sw_config_set(&l->cfg, "openemr.base_url", url, err, sizeof err));
    assert_true(sw_config_set(&l->cfg, "openemr.max_response_bytes", max_bytes, err, sizeof err));
    assert_int_equal(http_client_new(&l->cfg, &l->h, err, sizeof err), SW_OK);
}

static void local_stop(struct local *l)
{
    http_client_destroy(l->h);
    MHD_stop_daemon(l->d);
    sw_config_free(&l->cfg);
}

static sw_err local_get(struct local *l, const char *path, struct http_response *resp, char *err,
                        size_t errlen)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", l->cfg.openemr_base_url, path);
    struct http_request req = {.method = "GET", .url = url};
    return http_perform(l->h, &req, resp, err, errlen);
}

static void test_status_classes(void **state)
{
    (void)state;
    static const struct {
        long status;
        sw_err want;
    } cases[] = {
        {200, SW_OK},
        {201, SW_OK},
        {204, SW_OK},
        {400, SW_ERR_INVALID},
        {401, SW_ERR_TOKEN},
        {403, SW_ERR_FORBIDDEN},
        {404, SW_ERR_NOT_FOUND},
        {409, SW_ERR_CONFLICT},
        {412, SW_ERR_CONFLICT},
        {422, SW_ERR_INVALID},
        {429, SW_ERR_RATE_LIMITED},
        {500, SW_ERR_SERVER},
        {502, SW_ERR_SERVER},
        {503, SW_ERR_SERVER},
        {599, SW_ERR_SERVER},
        {302, SW_ERR_BAD_ANSWER},
        {418, SW_ERR_BAD_ANSWER},
        {0, SW_ERR_BAD_ANSWER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(http_status_err(cases[i].status), cases[i].want);
}

static void test_url_policy(void **state)
{
    (void)state;
    struct sw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_true(http_url_allowed(&cfg, "https://emr.example/x"));
    assert_true(http_url_allowed(&cfg, "HTTPS://emr.example/x"));
    assert_false(http_url_allowed(&cfg, "http://emr.example/x"));
    assert_false(http_url_allowed(&cfg, "ftp://emr.example/x"));
    assert_false(http_url_allowed(&cfg, NULL));
    cfg.openemr_allow_insecure = true;
    assert_true(http_url_allowed(&cfg, "http://127.0.0.1:1/x"));
    assert_false(http_url_allowed(&cfg, "file:///etc/passwd"));
}

static void test_escape(void **state)
{
    (void)state;
    char *e = http_escape("2026-12-01T09:00:00+01:00 a&b=c/é");
    assert_string_equal(e, "2026-12-01T09%3A00%3A00%2B01%3A00%20a%26b%3Dc%2F%C3%A9");
    free(e);
}

static void test_url_parse(void **state)
{
    (void)state;
    struct http_url u;
    char err[128];
    assert_int_equal(http_url_parse("redis://us%40er:p%3Ass@[::1]:6380/2", &u, err, sizeof err),
                     SW_OK);
    assert_string_equal(u.scheme, "redis");
    assert_string_equal(u.user, "us@er"); /* percent-decoded */
    assert_string_equal(u.password, "p:ss");
    assert_string_equal(u.host, "::1"); /* no brackets */
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.path, "/2");
    assert_null(u.query);
    http_url_free(&u);

    assert_int_equal(http_url_parse("redis://localhost", &u, err, sizeof err), SW_OK);
    assert_null(u.user);
    assert_null(u.password);
    assert_int_equal(u.port, 0);
    assert_string_equal(u.path, "/");
    http_url_free(&u);

    assert_int_equal(http_url_parse("redis://:secret@h:99999/1", &u, err, sizeof err),
                     SW_ERR_CONFIG); /* port out of range */
    assert_int_equal(http_url_parse("redis://h:1/%00x", &u, err, sizeof err), SW_ERR_CONFIG);
    assert_int_equal(http_url_parse("no scheme here", &u, err, sizeof err), SW_ERR_CONFIG);
    http_url_free(NULL);

    char *d = http_unescape("a%20b%2Fc");
    assert_string_equal(d, "a b/c");
    free(d);
    assert_null(http_unescape("x%00y"));
}

/* The body is kept up to openemr.max_response_bytes and refused past it,
 * with or without a Content-Length. */
static void test_response_cap(void **state)
{
    (void)state;
    struct local l;
    local_start(&l, "2048");
    static const struct {
        const char *path;
        sw_err want;
        size_t len;
    } cases[] = {
        {"/small", SW_OK, 5},
        {"/fixed/2048", SW_OK, 2048},
        {"/chunked/2048", SW_OK, 2048},
        {"/fixed/2049", SW_ERR_BAD_ANSWER, 0},
        {"/chunked/2049", SW_ERR_BAD_ANSWER, 0},
        {"/chunked/100000", SW_ERR_BAD_ANSWER, 0},
        {"/fixed/0", SW_OK, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_response resp;
        char err[256] = "";
        sw_err got = local_get(&l, cases[i].path, &resp, err, sizeof err);
        if (got != cases[i].want)
            fail_msg("%s: got %s (%s)", cases[i].path, sw_err_str(got), err);
        if (got == SW_OK) {
            assert_int_equal(resp.status, 200);
            assert_non_null(resp.body);
            assert_int_equal(resp.len, cases[i].len);
            assert_int_equal(strlen(resp.body), cases[i].len);
        } else {
            assert_non_null(strstr(err, "answer too large"));
            assert_null(resp.body);
        }
        http_response_free(&resp);
    }
    local_stop(&l);
}

/* Both forms of Retry-After: an HTTP date 30 s ahead is about 30 s (it
 * was 1 s when only the seconds form was read); a past date, junk and no
 * header give 0; more than a day is 1 s. */
static void test_retry_after(void **state)
{
    (void)state;
    struct local l;
    local_start(&l, "2048");
    static const struct {
        const char *path;
        int lo, hi;
    } cases[] = {
        {"/retry/seconds", 7, 7}, {"/small", 0, 0},      {"/retry/date", 20, 30},
        {"/retry/past", 0, 0},    {"/retry/junk", 0, 0}, {"/retry/huge", 1, 1},
        {"/retry/date", 20, 30},  {"/fixed/10", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_response resp;
        char err[256] = "";
        assert_int_equal(local_get(&l, cases[i].path, &resp, err, sizeof err), SW_OK);
        assert_int_equal(resp.status, strncmp(cases[i].path, "/retry/", 7) ? 200 : 503);
        if (resp.retry_after_s < cases[i].lo || resp.retry_after_s > cases[i].hi)
            fail_msg("%s: Retry-After %d s, expected %d..%d", cases[i].path, resp.retry_after_s,
                     cases[i].lo, cases[i].hi);
        http_response_free(&resp);
    }
    local_stop(&l);
}

/* Every byte but the unreserved ones becomes %XX (upper-case hex). */
static void test_escape_every_byte(void **state)
{
    (void)state;
    char in[256], want[256 * 3 + 1];
    size_t o = 0;
    for (int c = 1; c < 256; c++) {
        in[c - 1] = (char)c;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (keep)
            want[o++] = (char)c;
        else
            o += (size_t)snprintf(want + o, sizeof(want) - o, "%%%02X", c);
    }
    in[255] = '\0';
    want[o] = '\0';
    char *e = http_escape(in);
    assert_non_null(e);
    assert_string_equal(e, want);
    free(e);
    e = http_escape("");
    assert_string_equal(e, "");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_escape_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
