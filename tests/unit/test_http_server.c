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

static atomic_bool kafka_up, broker_up, redis_up, token_up, draining, live_ok;
static atomic_int circuit; /* 0 closed, 1 open (counts against readiness), 2 half-open */
static atomic_bool dev_mode, key_mismatch; /* the command check's and the token key's notes */

static void ready_cb(void *o, struct http_readiness *r)
{
    assert_ptr_equal(o, &kafka_up);
    static const char *const names[] = {"closed", "open", "half-open"};
    r->kafka = atomic_load(&kafka_up);
    r->broker = atomic_load(&broker_up);
    r->redis = atomic_load(&redis_up);
    r->token = atomic_load(&token_up);
    r->circuit = names[atomic_load(&circuit)];
    r->circuit_ok = atomic_load(&circuit) != 1;
    r->draining = atomic_load(&draining);
    r->auth = atomic_load(&dev_mode) ? "DEVELOPMENT MODE" : NULL;
    if (atomic_load(&key_mismatch))
        snprintf(r->token_key, sizeof(r->token_key), "mismatch: key id \"a\" vs b");
}

static bool live_cb(void *o, char *why, size_t n)
{
    (void)o;
    if (!atomic_load(&live_ok))
        snprintf(why, n, "lane 3 has run one command for 9000 ms without \"progress\"");
    return atomic_load(&live_ok);
}

#define READY_BODY(ready, kafka, broker, redis, token, circ, drain)                                \
    "{\"ready\":" ready ",\"kafka\":" kafka ",\"broker\":" broker ",\"redis\":" redis              \
    ",\"token\":" token ",\"circuit\":\"" circ "\",\"draining\":" drain "}\n"

static void test_endpoints(void **state)
{
    (void)state;
    struct http_checks checks = {ready_cb, live_cb, &kafka_up};
    struct http_server *srv = NULL;
    char err[256] = "";
    atomic_store(&kafka_up, false);
    atomic_store(&broker_up, true);
    atomic_store(&redis_up, true);
    atomic_store(&token_up, false);
    atomic_store(&draining, false);
    atomic_store(&circuit, 0);
    atomic_store(&live_ok, true);
    metrics_reset();

    assert_int_equal(http_server_start("127.0.0.1:0", &checks, &srv, err, sizeof err), SW_OK);
    assert_non_null(srv);
    int port = http_server_port(srv);
    assert_true(port > 0 && port < 65536);

    struct body b;
    char ct[128];
    assert_int_equal(request(port, NULL, "/healthz", &b, ct, sizeof ct), 200);
    assert_string_equal(ct, "application/json");
    assert_string_equal(b.data, "{\"live\":true}\n");
    atomic_store(&live_ok, false); /* a wedged lane: not live, and the reason says why */
    assert_int_equal(request(port, NULL, "/healthz", &b, NULL, 0), 503);
    assert_string_equal(b.data, "{\"live\":false,\"reason\":\"lane 3 has run one command for 9000 "
                                "ms without \\\"progress\\\"\"}\n");
    atomic_store(&live_ok, true);
    assert_int_equal(request(port, NULL, "/healthz", &b, NULL, 0), 200);

    assert_int_equal(request(port, NULL, "/readyz", &b, ct, sizeof ct), 503);
    assert_string_equal(ct, "application/json");
    assert_string_equal(b.data,
                        READY_BODY("false", "false", "true", "true", "false", "closed", "false"));
    atomic_store(&kafka_up, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_string_equal(b.data,
                        READY_BODY("false", "true", "true", "true", "false", "closed", "false"));
    atomic_store(&token_up, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);
    assert_string_equal(b.data,
                        READY_BODY("true", "true", "true", "true", "true", "closed", "false"));
    atomic_store(&redis_up, false); /* Redis goes away: not ready again */
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_non_null(strstr(b.data, "\"redis\":false"));
    atomic_store(&redis_up, true);
    atomic_store(&broker_up, false); /* the brokers are gone */
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_non_null(strstr(b.data, "\"ready\":false,\"kafka\":true,\"broker\":false"));
    atomic_store(&broker_up, true);
    atomic_store(&circuit, 2); /* half-open probes OpenEMR: still ready */
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);
    assert_non_null(strstr(b.data, "\"circuit\":\"half-open\""));
    atomic_store(&circuit, 1);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_string_equal(b.data,
                        READY_BODY("false", "true", "true", "true", "true", "open", "false"));
    atomic_store(&circuit, 0);
    atomic_store(&draining, true); /* SIGTERM: no longer ready while it drains */
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_string_equal(b.data,
                        READY_BODY("false", "true", "true", "true", "true", "closed", "true"));
    assert_int_equal(request(port, NULL, "/healthz", &b, NULL, 0), 200); /* but alive */
    atomic_store(&draining, false);
    /* development mode is said, and still ready; a token key that does not
     * open the fleet's record is said, and not ready */
    atomic_store(&dev_mode, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);
    assert_non_null(strstr(b.data, ",\"draining\":false,\"auth\":\"DEVELOPMENT MODE\"}\n"));
    atomic_store(&key_mismatch, true);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 503);
    assert_non_null(strstr(b.data, "\"ready\":false"));
    assert_non_null(strstr(b.data, ",\"token_key\":\"mismatch: key id \\\"a\\\" vs b\"}\n"));
    atomic_store(&dev_mode, false);
    atomic_store(&key_mismatch, false);
    assert_int_equal(request(port, NULL, "/readyz", &b, NULL, 0), 200);

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
