/* test_http_server.c - the operations endpoints over real HTTP on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "http_server.h"
#include "metrics.h"

struct body {
    char data[65536];
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n;
    if (b->len + len >= sizeof(b->data))
        return 0;
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* method NULL: GET.  Returns the HTTP status; body and content type filled. */
static long request(int port, const char *method, const char *path, struct body *b, char *ctype,
                    size_t ctlen)
{
    char url[128];
    long status = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    b->len = 0;
    b->data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ctype) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(ctype, ctlen, "%s", ct ? ct : "");
    }
    curl_easy_cleanup(c);
    return status;
}

static atomic_bool kafka_up, redis_up, token_up;

static bool kafka_cb(void *o)
{
    assert_ptr_equal(o, &kafka_up);
    return atomic_load(&kafka_up);
}
static bool redis_cb(void *o)
{
    (void)o;
    return atomic_load(&redis_up);
}
static bool token_cb(void *o)
{
    (void)o;
    return atomic_load(&token_up);
}

static atomic_bool notes_ready;
static bool notes_cb(void *o, char *buf, size_t len)
{
    (void)o;
    snprintf(buf, len, "\"auth\":\"development mode\"");
    return atomic_load(&notes_ready);
}

static void test_endpoints(void **state)
{
    (void)state;
    struct http_checks checks = {kafka_cb, redis_cb, token_cb, &kafka_up};
    struct http_server *srv = NULL;
    char err[256] = "";
    atomic_store(&kafka_up, false);
    atomic_store(&redis_up, true);
    atomic_store(&token_up, false);
    metrics_reset();

    assert_int_equal(http_server_start("127.0.0.1:0", &checks, &srv, err, sizeof err), SW_OK);
    assert_non_null(srv);
    int port = http_server_port(srv);
    assert_true(port > 0 && port < 65536);

    struct body b;
    char ct[128];
    assert_int_equal(request(port, NULL, "/healthz", &b, NULL, 0), 200);
    assert_string_equal(b.data, "ok\n");

    assert_int_equal(request(port, NULL, "/readyz", &b, ct, sizeof ct), 503);
    assert_string_equal(ct, "application/json");
    assert_string_equal(b.data,
                        "{\"ready\":false,\"kafka\":false,\"redis\":true,\"token\":false}\n");
    atomic_store(&kafka_up, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_string_equal(b.data,
                        "{\"ready\":false,\"kafka\":true,\"redis\":true,\"token\":false}\n");
    atomic_store(&token_up, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);
    assert_string_equal(b.data, "{\"ready\":true,\"kafka\":true,\"redis\":true,\"token\":true}\n");
    atomic_store(&redis_up, false); /* Redis goes away: not ready again */
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_non_null(strstr(b.data, "\"redis\":false"));
    atomic_store(&redis_up, true);
    http_server_stop(srv);

    /* notes: shown as further members, and able to make it not ready */
    checks.notes = notes_cb;
    assert_int_equal(http_server_start("127.0.0.1:0", &checks, &srv, err, sizeof err), SW_OK);
    port = http_server_port(srv);
    atomic_store(&notes_ready, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);
    assert_string_equal(b.data, "{\"ready\":true,\"kafka\":true,\"redis\":true,\"token\":true,"
                                "\"auth\":\"development mode\"}\n");
    atomic_store(&notes_ready, false);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_non_null(strstr(b.data, "\"ready\":false"));

    metrics_command("book", "ok", 0.1);
    metrics_command("book", "ok", 0.1);
    assert_int_equal(request(port, NULL, "/metrics", &b, ct, sizeof ct), 200);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(b.data, "# TYPE schedworker_commands_total counter\n"));
    assert_non_null(strstr(b.data, "schedworker_commands_total{type=\"book\",status=\"ok\"} 2\n"));
    metrics_command("book", "ok", 0.1); /* the next scrape sees the counter move */
    assert_int_equal(request(port, NULL, "/metrics", &b, NULL, 0), 200);
    assert_non_null(strstr(b.data, "schedworker_commands_total{type=\"book\",status=\"ok\"} 3\n"));

    assert_int_equal(request(port, NULL, "/nope", &b, NULL, 0), 404);
    assert_int_equal(request(port, "POST", "/metrics", &b, NULL, 0), 405);
    assert_int_equal(request(port, "DELETE", "/healthz", &b, NULL, 0), 405);

    http_server_stop(srv);
    /* stopped: nothing listens there any more */
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    assert_int_not_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
}

static void test_no_checks_means_ready(void **state)
{
    (void)state;
    struct http_server *srv = NULL;
    char err[256] = "";
    assert_int_equal(http_server_start("127.0.0.1:0", NULL, &srv, err, sizeof err), SW_OK);
    struct body b;
    assert_int_equal(request(http_server_port(srv), NULL, "/readyz", &b, NULL, 0), 200);
    http_server_stop(srv);
}

static void test_start_errors(void **state)
{
    (void)state;
    struct http_server *srv = (struct http_server *)1;
    char err[256] = "";
    assert_int_equal(http_server_start("", NULL, &srv, err, sizeof err), SW_OK);
    assert_null(srv); /* off */
    assert_int_equal(http_server_start(NULL, NULL, &srv, err, sizeof err), SW_OK);
    assert_null(srv);

    static const char *const bad[] = {"9464",          "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                                      "127.0.0.1:80x", "::1:9464",  "[::1]9464",  ":9464"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(http_server_start(bad[i], NULL, &srv, err, sizeof err), SW_ERR_CONFIG);
        assert_null(srv);
        assert_non_null(strstr(err, "http.listen"));
    }

    /* the port is taken: a clear error, not a crash */
    struct http_server *first = NULL;
    assert_int_equal(http_server_start("127.0.0.1:0", NULL, &first, err, sizeof err), SW_OK);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", http_server_port(first));
    err[0] = '\0';
    assert_int_equal(http_server_start(taken, NULL, &srv, err, sizeof err), SW_ERR_UNAVAILABLE);
    assert_null(srv);
    assert_non_null(strstr(err, "cannot listen"));
    http_server_stop(first);
    http_server_stop(NULL);
    assert_int_equal(http_server_port(NULL), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_no_checks_means_ready),
        cmocka_unit_test(test_start_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
