/* test_oauth.c - the token endpoint client and the refresh timing, against
 * a small token endpoint this test serves on 127.0.0.1 (libmicrohttpd),
 * without Redis (the process keeps the token) and on a manual clock; then
 * the fleet protocol's failure cases against a real redis-server
 * (redis_harness.h): a replica with the wrong token key, and Redis refusing
 * writes during a refresh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "oauth.h"

/* The redis harness's names that this file defines its own way. */
#define group_setup    redis_group_setup
#define group_teardown redis_group_teardown
#define set            redis_set
#include "redis_harness.h"
#undef group_setup
#undef group_teardown
#undef set

/* ---- the token endpoint ------------------------------------------------- */

enum answer { ANSWER_TOKEN, ANSWER_REFUSED, ANSWER_DOWN, ANSWER_NO_TOKEN };

static struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    int port;
    enum answer answer;
    int requests;         /* token requests answered */
    char url[128];        /* of the last request */
    char body[2048];      /* of the last request */
    char bodies[32][256]; /* of the first 32 since answer() */
    void (*hook)(void);   /* runs once, before the next answer */
} ep = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct upload {
    char data[2048];
    size_t len;
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    struct upload *up = *con_cls;
    if (!up) {
        *con_cls = up = calloc(1, sizeof(*up));
        return up ? MHD_YES : MHD_NO;
    }
    if (*size) {
        size_t n = *size < sizeof(up->data) - 1 - up->len ? *size : sizeof(up->data) - 1 - up->len;
        memcpy(up->data + up->len, data, n);
        up->len += n;
        *size = 0;
        return MHD_YES;
    }
    char text[256];
    unsigned status = 200;
    pthread_mutex_lock(&ep.mu);
    void (*hook)(void) = ep.hook;
    ep.hook = NULL;
    pthread_mutex_unlock(&ep.mu);
    if (hook)
        hook();
    pthread_mutex_lock(&ep.mu);
    int n = ++ep.requests;
    snprintf(ep.url, sizeof(ep.url), "%s", url);
    snprintf(ep.body, sizeof(ep.body), "%s", up->data);
    if (n <= 32)
        snprintf(ep.bodies[n - 1], sizeof(ep.bodies[0]), "%.255s", up->data);
    switch (ep.answer) {
    case ANSWER_TOKEN:
        snprintf(text, sizeof(text),
                 "{\"access_token\":\"a%d\",\"refresh_token\":\"r%d\",\"expires_in\":3600}", n, n);
        break;
    case ANSWER_REFUSED:
        status = 400;
        snprintf(text, sizeof(text), "{\"error\":\"invalid_grant\"}");
        break;
    case ANSWER_DOWN:
        status = 503;
        snprintf(text, sizeof(text), "{\"error\":\"down\"}");
        break;
    case ANSWER_NO_TOKEN:
        snprintf(text, sizeof(text), "{\"token_type\":\"Bearer\"}");
        break;
    }
    pthread_mutex_unlock(&ep.mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static void done(void *cls, struct MHD_Connection *conn, void **con_cls,
                 enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    free(*con_cls);
    *con_cls = NULL;
}

static char password_file[] = "/tmp/test_oauth_pwXXXXXX";
/* The Redis ACL user's password file, made by the first replica that needs it. */
static char redis_password_file[] = "/tmp/test_oauth_redispwXXXXXX";

static int group_setup(void **state)
{
    if (redis_group_setup(state) != 0)
        return -1;
    sw_log_init(SW_LOG_ERROR, "test");
    setenv("SCHED_TOKEN_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
           1);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ep.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!ep.d)
        return -1;
    ep.port = MHD_get_daemon_info(ep.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    int fd = mkstemp(password_file);
    if (fd < 0 || write(fd, "p&w=\n", 5) != 5)
        return -1;
    close(fd);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(ep.d);
    unlink(password_file);
    if (redis_password_file[strlen(redis_password_file) - 1] != 'X')
        unlink(redis_password_file);
    return redis_group_teardown(state);
}

static void set(struct sw_config *cfg, const char *key, const char *value)
{
    char err[128];
    if (!sw_config_set(cfg, key, value, err, sizeof(err)))
        fail_msg("config %s: %s", key, err);
}

/* The password grant against our endpoint, on the manual clock m. */
struct client {
    struct sw_config cfg;
    struct http_client *http;
    struct oauth *o;
};

static void client_open(struct client *c, struct sw_manual_clock *m)
{
    char err[256] = "", url[64];
    assert_int_equal(sw_config_load(&c->cfg, NULL, stderr), SW_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ep.port);
    set(&c->cfg, "openemr.base_url", url);
    set(&c->cfg, "openemr.allow_insecure_http", "true");
    set(&c->cfg, "oauth.grant", "password");
    set(&c->cfg, "oauth.client_id", "cid");
    set(&c->cfg, "oauth.username", "u@x");
    set(&c->cfg, "oauth.password_file", password_file);
    set(&c->cfg, "oauth.check_scopes", "false"); /* this endpoint serves tokens only */
    if (http_client_new(&c->cfg, &c->http, err, sizeof(err)) != SW_OK)
        fail_msg("http_client_new: %s", err);
    struct oauth_options opts = {.clock = &m->clock};
    if (oauth_new_opts(&c->cfg, NULL, c->http, &opts, &c->o, err, sizeof(err)) != SW_OK)
        fail_msg("oauth_new_opts: %s", err);
}

static void client_close(struct client *c)
{
    oauth_destroy(c->o);
    http_client_destroy(c->http);
    sw_config_free(&c->cfg);
}

static void answer(enum answer a)
{
    pthread_mutex_lock(&ep.mu);
    ep.answer = a;
    ep.requests = 0;
    memset(ep.bodies, 0, sizeof(ep.bodies));
    pthread_mutex_unlock(&ep.mu);
}

/* How often refresh token rt was presented since answer(). */
static int presented(const char *rt)
{
    char want[64];
    snprintf(want, sizeof(want), "refresh_token=%s&", rt);
    int n = 0;
    pthread_mutex_lock(&ep.mu);
    for (int i = 0; i < 32; i++)
        n += strstr(ep.bodies[i], want) != NULL;
    pthread_mutex_unlock(&ep.mu);
    return n;
}

static int requests(void)
{
    pthread_mutex_lock(&ep.mu);
    int n = ep.requests;
    pthread_mutex_unlock(&ep.mu);
    return n;
}

#define T0_MS 1767225600000LL /* any fixed instant: the clock is ours */

/* Each test: a client on its own manual clock, the endpoint issuing tokens. */
struct fixture {
    struct sw_manual_clock m;
    struct client c;
};

static int fixture_open(void **state)
{
    struct fixture *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    clock_manual_init(&x->m, T0_MS);
    client_open(&x->c, &x->m);
    answer(ANSWER_TOKEN);
    *state = x;
    return 0;
}

static int fixture_close(void **state)
{
    struct fixture *x = *state;
    client_close(&x->c);
    free(x);
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

/* The grant is one form POST to .../oauth2/SITE/token, every value
 * percent-encoded. */
static void test_password_grant_form(void **state)
{
    struct fixture *x = *state;
    char tok[64];
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    assert_int_equal(requests(), 1);
    pthread_mutex_lock(&ep.mu);
    assert_string_equal(ep.url, "/oauth2/default/token");
    char body[2048];
    snprintf(body, sizeof(body), "%s", ep.body);
    pthread_mutex_unlock(&ep.mu);
    assert_non_null(strstr(body, "grant_type=password&user_role=users&username=u%40x"));
    assert_non_null(strstr(body, "&password=p%26w%3D&"));
    assert_non_null(strstr(body, "&client_id=cid"));
    assert_null(strstr(body, "client_secret")); /* a public client */
}

/* The token is renewed when less than the margin (min(300 s, lifetime /
 * 4)) remains, by the clock the client was given. */
static void test_refresh_follows_the_clock(void **state)
{
    struct fixture *x = *state;
    char tok[64];
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    clock_manual_advance(&x->m, 3290 * 1000LL); /* 310 s left */
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    assert_int_equal(requests(), 1);
    assert_true(oauth_has_valid_token(x->c.o));
    clock_manual_advance(&x->m, 20 * 1000LL); /* 290 s left: inside the margin */
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2");
    assert_int_equal(requests(), 2);
    clock_manual_advance(&x->m, 3700 * 1000LL); /* a2 has expired */
    assert_false(oauth_has_valid_token(x->c.o));
}

/* A 401 makes the next call fetch a new token; a 401 to that fresh token
 * within 10 s is a permission problem and refreshes nothing. */
static void test_rejected_token(void **state)
{
    struct fixture *x = *state;
    char tok[64];
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_true(oauth_token_rejected(x->c.o, "a1"));
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2");
    clock_manual_advance(&x->m, 5000);
    assert_false(oauth_token_rejected(x->c.o, "a2"));
    clock_manual_advance(&x->m, 6000); /* 11 s after a2 came */
    assert_true(oauth_token_rejected(x->c.o, "a2"));
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a3");
    assert_true(oauth_token_rejected(x->c.o, "old")); /* already replaced */
}

/* Refused, failing and incomplete answers each have their error. */
static void test_endpoint_errors(void **state)
{
    struct fixture *x = *state;
    char tok[64];
    static const struct {
        enum answer answer;
        sw_err err;
        const char *says;
    } cases[] = {
        {ANSWER_REFUSED, SW_ERR_TOKEN, "400: invalid_grant"},
        {ANSWER_DOWN, SW_ERR_SERVER, "503"},
        {ANSWER_NO_TOKEN, SW_ERR_BAD_ANSWER, "without access_token"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        answer(cases[i].answer);
        assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), cases[i].err);
        assert_non_null(strstr(oauth_errstr(x->c.o), cases[i].says));
        assert_false(oauth_failure_permanent(x->c.o));
    }
    assert_false(oauth_has_valid_token(x->c.o));
    answer(ANSWER_TOKEN);
    assert_int_equal(oauth_token(x->c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    char small[2];
    assert_int_equal(oauth_token(x->c.o, 0, small, sizeof(small)), SW_ERR_INTERNAL);
}

/* auth login's last step: the code for a refresh token (PKCE verifier
 * sent); no refresh token issued is an error. */
static void test_exchange_code(void **state)
{
    struct fixture *x = *state;
    char *refresh = NULL, err[256] = "";
    assert_int_equal(
        oauth_exchange_code(&x->c.cfg, x->c.http, "c0de", "v3r", &refresh, err, sizeof(err)),
        SW_OK);
    assert_string_equal(refresh, "r1");
    free(refresh);
    pthread_mutex_lock(&ep.mu);
    assert_non_null(strstr(ep.body, "grant_type=authorization_code&code=c0de&redirect_uri="));
    assert_non_null(strstr(ep.body, "&code_verifier=v3r&client_id=cid"));
    pthread_mutex_unlock(&ep.mu);
    answer(ANSWER_REFUSED);
    assert_int_equal(
        oauth_exchange_code(&x->c.cfg, x->c.http, "c0de", "v3r", &refresh, err, sizeof(err)),
        SW_ERR_TOKEN);
    assert_null(refresh);
    assert_non_null(strstr(err, "invalid_grant"));

    /* a confidential client sends its secret after its id */
    char secret[] = "/tmp/test_oauth_secretXXXXXX";
    int fd = mkstemp(secret);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s+cret\n", 7), 7);
    close(fd);
    set(&x->c.cfg, "oauth.client_secret_file", secret);
    answer(ANSWER_TOKEN);
    assert_int_equal(
        oauth_exchange_code(&x->c.cfg, x->c.http, "c0de", "v3r", &refresh, err, sizeof(err)),
        SW_OK);
    free(refresh);
    unlink(secret);
    pthread_mutex_lock(&ep.mu);
    assert_non_null(strstr(ep.body, "&client_id=cid&client_secret=s%2Bcret"));
    pthread_mutex_unlock(&ep.mu);
}

/* ---- the fleet protocol, with Redis ------------------------------------- */

#define KEY_1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_2 "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* A replica of a fleet under prefix, sealing with token key key (hex),
 * optionally as a Redis ACL user (password "pw"). */
struct replica {
    struct client c;
    struct fleet *f;
};

static void replica_open(struct replica *r, struct sw_manual_clock *m, const char *prefix,
                         const char *key, const char *acl_user)
{
    char err[256] = "", url[64];
    memset(r, 0, sizeof(*r));
    assert_int_equal(sw_config_load(&r->c.cfg, NULL, stderr), SW_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ep.port);
    set(&r->c.cfg, "openemr.base_url", url);
    set(&r->c.cfg, "openemr.allow_insecure_http", "true");
    set(&r->c.cfg, "oauth.grant", "password");
    set(&r->c.cfg, "oauth.client_id", "cid");
    set(&r->c.cfg, "oauth.username", "u@x");
    set(&r->c.cfg, "oauth.password_file", password_file);
    set(&r->c.cfg, "oauth.check_scopes", "false");
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
    set(&r->c.cfg, "redis.url", url);
    set(&r->c.cfg, "redis.prefix", prefix);
    if (acl_user) {
        char *pw = redis_password_file;
        if (pw[strlen(pw) - 1] == 'X') {
            int fd = mkstemp(pw);
            assert_true(fd >= 0 && write(fd, "pw\n", 3) == 3);
            close(fd);
        }
        set(&r->c.cfg, "redis.username", acl_user);
        set(&r->c.cfg, "redis.password_file", pw);
    }
    r->f = open_fleet(&r->c.cfg);
    if (http_client_new(&r->c.cfg, &r->c.http, err, sizeof(err)) != SW_OK)
        fail_msg("http_client_new: %s", err);
    setenv("SCHED_TOKEN_KEY", key, 1);
    struct oauth_options opts = {.clock = &m->clock};
    if (oauth_new_opts(&r->c.cfg, r->f, r->c.http, &opts, &r->c.o, err, sizeof(err)) != SW_OK)
        fail_msg("oauth_new_opts: %s", err);
    setenv("SCHED_TOKEN_KEY", KEY_1, 1);
}

static void replica_close(struct replica *r)
{
    client_close(&r->c);
    fleet_destroy(r->f);
}

static char *raw_get(const char *key)
{
    redisReply *r = raw_cmd("GET %s", key);
    assert_non_null(r);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static long long raw_version(const char *meta)
{
    redisReply *r = raw_cmd("HGET %s version", meta);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static void refuse_writes(void)
{
    freeReplyObject(raw_cmd("CONFIG SET min-replicas-to-write 1"));
}

static void allow_writes(void)
{
    freeReplyObject(raw_cmd("CONFIG SET min-replicas-to-write 0"));
}

/* A replica started with another token key finds the fleet's record
 * sealed with a key it does not have: it gets no token, asks OpenEMR for
 * none, says so (both key ids), and leaves the record exactly as it was,
 * logout included.  The same for a record from before key ids were kept. */
static void test_wrong_token_key(void **state)
{
    (void)state;
    struct sw_manual_clock m;
    clock_manual_init(&m, T0_MS);
    struct replica a, b;
    char tok[64], theirs[32] = "", ours[32] = "";
    answer(ANSWER_TOKEN);
    replica_open(&a, &m, "t-wk:", KEY_1, NULL);
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    assert_false(oauth_token_key_mismatch(theirs, sizeof(theirs), ours, sizeof(ours)));
    char *before = raw_get("t-wk:token:password");
    assert_non_null(before);
    assert_int_equal(raw_version("t-wk:token:password:meta"), 1);

    replica_open(&b, &m, "t-wk:", KEY_2, NULL);
    for (int i = 0; i < 3; i++) {
        sw_err e = oauth_token(b.c.o, 0, tok, sizeof(tok));
        assert_int_equal(e, SW_ERR_UNAVAILABLE);
        assert_non_null(strstr(oauth_errstr(b.c.o), "another key"));
        clock_manual_advance(&m, 4000 * 1000LL); /* even after a1 expired */
    }
    assert_false(oauth_has_valid_token(b.c.o));
    assert_true(oauth_token_key_mismatch(theirs, sizeof(theirs), ours, sizeof(ours)));
    assert_int_equal(strlen(theirs), 16);
    assert_int_equal(strlen(ours), 16);
    assert_string_not_equal(theirs, ours);
    assert_int_equal(oauth_logout(b.c.o), SW_OK); /* nothing it could revoke */
    assert_int_equal(requests(), 1);              /* B asked OpenEMR for nothing */
    char *after = raw_get("t-wk:token:password");
    assert_string_equal(before, after);
    assert_int_equal(raw_version("t-wk:token:password:meta"), 1);
    free(after);

    /* a record without metadata (an older worker's): the same */
    freeReplyObject(raw_cmd("DEL t-wk:token:password:meta"));
    assert_int_equal(oauth_token(b.c.o, 0, tok, sizeof(tok)), SW_ERR_UNAVAILABLE);
    assert_true(oauth_token_key_mismatch(theirs, sizeof(theirs), NULL, 0));
    assert_string_equal(theirs, "unknown");
    after = raw_get("t-wk:token:password");
    assert_string_equal(before, after);
    free(after);
    assert_int_equal(requests(), 1);

    /* the right key opens it again, and the report clears */
    assert_true(oauth_has_valid_token(a.c.o) || oauth_token(a.c.o, 0, tok, sizeof(tok)) == SW_OK);
    assert_false(oauth_token_key_mismatch(NULL, 0, NULL, 0));
    free(before);
    replica_close(&a);
    replica_close(&b);
}

static void pause_writes_hook(void)
{
    refuse_writes();
}

/* Redis refuses the store of a rotated token: the replica that rotated it
 * keeps using it from memory and stores it once Redis takes writes again
 * (compare-and-set on the version it read); nobody presents the spent
 * refresh token meanwhile. */
static void test_store_fails_then_lands(void **state)
{
    (void)state;
    struct sw_manual_clock m;
    clock_manual_init(&m, T0_MS);
    struct replica a, b;
    char tok[64];
    answer(ANSWER_TOKEN);
    replica_open(&a, &m, "t-sf:", KEY_1, NULL);
    replica_open(&b, &m, "t-sf:", KEY_1, NULL);
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK); /* a1 r1, version 1 */
    clock_manual_advance(&m, 3400 * 1000LL); /* inside the margin: refresh */
    ep.hook = pause_writes_hook;             /* Redis refuses writes while OpenEMR answers */
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2"); /* used from memory */
    assert_int_equal(presented("r1"), 1);
    assert_int_equal(raw_version("t-sf:token:password:meta"), 1); /* not stored */
    char *marker = raw_get("t-sf:cache:oauth-spend:password");
    assert_non_null(marker); /* r1 stays marked as presented */
    free(marker);

    /* B meanwhile: a1 is still valid, so B uses it; it presents nothing */
    assert_int_equal(oauth_token(b.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a1");
    assert_int_equal(requests(), 2);
    /* A retries at most once a second, and fails while Redis refuses */
    clock_manual_advance(&m, 1100);
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2");
    assert_int_equal(raw_version("t-sf:token:password:meta"), 1);

    allow_writes();
    clock_manual_advance(&m, 1100);
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2");
    assert_int_equal(raw_version("t-sf:token:password:meta"), 2); /* stored */
    marker = raw_get("t-sf:cache:oauth-spend:password");
    assert_null(marker); /* and the marker cleared */
    /* B now takes the stored rotation: no grant of its own */
    clock_manual_advance(&m, 400 * 1000LL); /* a1 has expired */
    assert_int_equal(oauth_token(b.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2");
    assert_int_equal(requests(), 2);
    assert_int_equal(presented("r1"), 1);
    replica_close(&a);
    replica_close(&b);
}

/* The store fails, and before it lands another replica refreshes on its
 * own (not with the spent refresh token: with the password grant) and
 * stores version 2: the late store finds the version moved and writes
 * nothing; the fleet keeps the other replica's record. */
static void test_late_store_loses_to_newer_record(void **state)
{
    (void)state;
    struct sw_manual_clock m;
    clock_manual_init(&m, T0_MS);
    struct replica a, b, c;
    char tok[64];
    answer(ANSWER_TOKEN);
    replica_open(&a, &m, "t-ls:", KEY_1, NULL);
    replica_open(&b, &m, "t-ls:", KEY_1, NULL);
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK); /* a1 r1 */
    clock_manual_advance(&m, 3400 * 1000LL);
    ep.hook = pause_writes_hook;
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a2"); /* r2 unsaved */
    allow_writes();
    clock_manual_advance(&m, 300 * 1000LL); /* a1 expired */
    /* A's lock (its release was refused too) runs out before A's retry */
    freeReplyObject(raw_cmd("DEL t-ls:token:password:lock"));
    /* B first: r1 is marked presented, so B runs the password grant */
    assert_int_equal(oauth_token(b.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a3");
    assert_int_equal(presented("r1"), 1);
    assert_int_equal(raw_version("t-ls:token:password:meta"), 2);
    char *rec = raw_get("t-ls:token:password");
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK); /* its retry: refused */
    assert_string_equal(tok, "a2");                                   /* still valid here */
    assert_int_equal(raw_version("t-ls:token:password:meta"), 2);
    char *now = raw_get("t-ls:token:password");
    assert_string_equal(rec, now); /* B's record stands */
    free(rec);
    free(now);
    replica_open(&c, &m, "t-ls:", KEY_1, NULL);
    assert_int_equal(oauth_token(c.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_string_equal(tok, "a3");
    assert_int_equal(requests(), 3);
    replica_close(&a);
    replica_close(&b);
    replica_close(&c);
}

/* A replica that cannot write the spend marker (here: an ACL user that
 * may read the cache but not write it) presents no refresh token at all. */
static void test_no_marker_no_refresh(void **state)
{
    (void)state;
    struct sw_manual_clock m;
    clock_manual_init(&m, T0_MS);
    struct replica a, d;
    char tok[64];
    redisReply *r = raw_cmd("ACL SETUSER nomark on >pw resetkeys ~t-nm:token:* %%R~t-nm:cache:* "
                            "+@all");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    answer(ANSWER_TOKEN);
    replica_open(&a, &m, "t-nm:", KEY_1, NULL);
    replica_open(&d, &m, "t-nm:", KEY_1, "nomark");
    assert_int_equal(oauth_token(a.c.o, 0, tok, sizeof(tok)), SW_OK); /* a1 r1 */
    clock_manual_advance(&m, 3700 * 1000LL);                          /* a1 expired */
    assert_int_not_equal(oauth_token(d.c.o, 0, tok, sizeof(tok)), SW_OK);
    assert_int_equal(presented("r1"), 0);
    assert_int_equal(requests(), 1);
    assert_int_equal(raw_version("t-nm:token:password:meta"), 1);
    replica_close(&a);
    replica_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_password_grant_form, fixture_open, fixture_close),
        cmocka_unit_test_setup_teardown(test_refresh_follows_the_clock, fixture_open,
                                        fixture_close),
        cmocka_unit_test_setup_teardown(test_rejected_token, fixture_open, fixture_close),
        cmocka_unit_test_setup_teardown(test_endpoint_errors, fixture_open, fixture_close),
        cmocka_unit_test_setup_teardown(test_exchange_code, fixture_open, fixture_close),
        cmocka_unit_test(test_wrong_token_key),
        cmocka_unit_test(test_store_fails_then_lands),
        cmocka_unit_test(test_late_store_loses_to_newer_record),
        cmocka_unit_test(test_no_marker_no_refresh),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
