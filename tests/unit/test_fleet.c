/* test_fleet.c - the fleet module against a real redis-server that this
 * test starts itself (free port on 127.0.0.1, no persistence) and kills at
 * the end (and the kernel kills it if this process dies: PDEATHSIG).
 *
 * Each test uses its own key prefix, so tests do not see each other. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "fleet.h"
#include "keys.h"
#include "log.h"

static pid_t redis_pid = -1;
static int redis_port;
static char redis_sock[64];

/* ---- harness ----------------------------------------------------------- */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static bool raw_ping(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Runs one command on a fresh raw connection (test-only peeking). */
static redisReply *raw_cmd(const char *fmt, ...)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static bool redis_start(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", redis_port);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *devnull = freopen("/dev/null", "w", stdout);
        (void)devnull;
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", "--unixsocket", redis_sock,
               "--unixsocketperm", "700", (char *)NULL);
        fprintf(stderr, "test_fleet: cannot run redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    redis_pid = pid;
    for (int i = 0; i < 250; i++) { /* 5 s */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "test_fleet: redis-server exited (status %d): is it installed?\n",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            redis_pid = -1;
            return false;
        }
        if (raw_ping())
            return true;
        msleep(20);
    }
    fprintf(stderr, "test_fleet: redis-server did not answer PING within 5 s\n");
    return false;
}

static void redis_stop(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid) {
            redis_pid = -1;
            return;
        }
        msleep(20);
    }
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    redis_pid = -1;
}

static int group_setup(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_ERROR, "test");
    redis_port = free_port();
    snprintf(redis_sock, sizeof(redis_sock), "/tmp/test_fleet_%d.sock", (int)getpid());
    if (redis_port <= 0 || !redis_start()) {
        fprintf(stderr, "test_fleet: FAILED to start redis-server (needed by this test)\n");
        redis_stop();
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_stop();
    unlink(redis_sock);
    return 0;
}

/* A config for this test's server with its own prefix; free with
 * sw_config_free. */
static void make_cfg(struct sw_config *cfg, const char *prefix)
{
    assert_int_equal(sw_config_load(cfg, NULL, stderr), SW_OK);
    char url[64], err[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
    assert_true(sw_config_set(cfg, "redis.url", url, err, sizeof(err)));
    assert_true(sw_config_set(cfg, "redis.prefix", prefix, err, sizeof(err)));
}

static void set(struct sw_config *cfg, const char *key, const char *value)
{
    char err[128];
    if (!sw_config_set(cfg, key, value, err, sizeof(err)))
        fail_msg("config %s: %s", key, err);
}

static struct fleet *open_fleet(const struct sw_config *cfg)
{
    struct fleet *f = NULL;
    char err[256] = "";
    if (fleet_new(cfg, &f, err, sizeof(err)) != SW_OK)
        fail_msg("fleet_new: %s", err);
    return f;
}

/* ---- basics --------------------------------------------------------------- */

static void test_url_parsing(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-url:");
    const char *bad[] = {"http://x",
                         "rediss://127.0.0.1:6379",
                         "redis://:99999/0",
                         "redis://127.0.0.1:1/x",
                         "redis://127.0.0.1:1/2/3",
                         "redis://127.0.0.1:1/0?x=1",
                         "redis://u:p%00w@127.0.0.1:1/0",
                         "unix://relative",
                         "unix:///tmp/a%00b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set(&cfg, "redis.url", bad[i]);
        struct fleet *f = NULL;
        char err[256] = "";
        assert_int_equal(fleet_new(&cfg, &f, err, sizeof(err)), SW_ERR_CONFIG);
        assert_null(f);
        assert_true(err[0] != '\0');
    }
    /* nothing listening: fleet_new still succeeds, calls fail until it is up */
    char url0[64];
    snprintf(url0, sizeof(url0), "redis://127.0.0.1:%d/0", free_port());
    set(&cfg, "redis.url", url0);
    struct fleet *down = open_fleet(&cfg);
    assert_int_equal(fleet_ping(down), SW_ERR_REDIS);
    assert_non_null(strstr(fleet_errstr(down), "connect"));
    fleet_destroy(down);

    /* db from the URL: a key written through the fleet lands in db 3 */
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", redis_port);
    set(&cfg, "redis.url", url);
    struct fleet *f = open_fleet(&cfg);
    assert_int_equal(fleet_cache_put(f, "k", "in-db-3", 60), SW_OK);
    redisReply *r = raw_cmd("GET t-url:cache:k");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_NIL); /* not in db 0 */
    freeReplyObject(r);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    r = redisCommand(c, "GET t-url:cache:k");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "in-db-3");
    freeReplyObject(r);
    redisFree(c);
    fleet_destroy(f);

    /* a unix socket, db from ?db=; the path is percent-decoded */
    const char *under = strrchr(redis_sock, '_');
    assert_non_null(under);
    snprintf(url, sizeof(url), "unix://%.*s%%5F%s?db=2", (int)(under - redis_sock), redis_sock,
             under + 1);
    set(&cfg, "redis.url", url);
    f = open_fleet(&cfg);
    assert_int_equal(fleet_cache_put(f, "k", "in-db-2", 60), SW_OK);
    c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 2"));
    r = redisCommand(c, "GET t-url:cache:k");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "in-db-2");
    freeReplyObject(r);
    redisFree(c);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

static void test_auth_acl_user(void **state)
{
    (void)state;
    redisReply *r = raw_cmd("ACL SETUSER tfleet on >s3cret-pw ~* &* +@all");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    char path[] = "/tmp/test_fleet_pwXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret-pw\n", 10), 10);
    close(fd);

    struct sw_config cfg;
    make_cfg(&cfg, "t-auth:");
    set(&cfg, "redis.username", "tfleet");
    set(&cfg, "redis.password_file", path);
    struct fleet *f = open_fleet(&cfg);
    assert_int_equal(fleet_ping(f), SW_OK);
    r = raw_cmd("CLIENT LIST");
    assert_non_null(r);
    assert_non_null(strstr(r->str, "user=tfleet"));
    freeReplyObject(r);
    fleet_destroy(f);

    /* user and password from the URL, percent-decoded ("p%40ss" is "p@ss") */
    r = raw_cmd("ACL SETUSER tfleet2 on >p@ss ~* &* +@all");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    struct sw_config ucfg;
    make_cfg(&ucfg, "t-auth-url:");
    char url[128];
    snprintf(url, sizeof(url), "redis://tfleet2:p%%40ss@127.0.0.1:%d/2", redis_port);
    set(&ucfg, "redis.url", url);
    f = open_fleet(&ucfg);
    assert_int_equal(fleet_cache_put(f, "k", "by-url-user", 60), SW_OK);
    r = raw_cmd("CLIENT LIST");
    assert_non_null(r);
    assert_non_null(strstr(r->str, "user=tfleet2"));
    freeReplyObject(r);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 2"));
    r = redisCommand(c, "GET t-auth-url:cache:k");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "by-url-user");
    freeReplyObject(r);
    redisFree(c);
    fleet_destroy(f);
    /* the same password not decoded is refused */
    snprintf(url, sizeof(url), "redis://tfleet2:p%%2540ss@127.0.0.1:%d/2", redis_port);
    set(&ucfg, "redis.url", url);
    f = open_fleet(&ucfg);
    assert_int_equal(fleet_ping(f), SW_ERR_REDIS);
    fleet_destroy(f);
    sw_config_free(&ucfg);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "wrong", 5), 5);
    close(fd);
    f = open_fleet(&cfg);
    assert_int_equal(fleet_ping(f), SW_ERR_REDIS);
    assert_non_null(strstr(fleet_errstr(f), "AUTH"));
    fleet_destroy(f);
    unlink(path);
    sw_config_free(&cfg);
}

static void test_now_and_cache(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-cache:");
    struct fleet *f = open_fleet(&cfg);
    int64_t now = 0;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    int64_t local = (int64_t)time(NULL) * 1000;
    assert_true(now > local - 5000 && now < local + 5000);

    char *v = NULL;
    assert_int_equal(fleet_cache_get(f, "day:P1:2026-12-01", &v), SW_ERR_NOT_FOUND);
    assert_null(v);
    assert_int_equal(fleet_cache_put(f, "day:P1:2026-12-01", "{\"slots\":[1,2]}", 60), SW_OK);
    assert_int_equal(fleet_cache_get(f, "day:P1:2026-12-01", &v), SW_OK);
    assert_string_equal(v, "{\"slots\":[1,2]}");
    free(v);
    redisReply *r = raw_cmd("TTL t-cache:cache:day:P1:2026-12-01");
    assert_true(r->integer > 55 && r->integer <= 60);
    freeReplyObject(r);
    assert_int_equal(fleet_cache_del(f, "day:P1:2026-12-01"), SW_OK);
    assert_int_equal(fleet_cache_get(f, "day:P1:2026-12-01", &v), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_cache_put(f, "short", "x", 1), SW_OK);
    msleep(1100);
    assert_int_equal(fleet_cache_get(f, "short", &v), SW_ERR_NOT_FOUND);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- idempotency ------------------------------------------------------------ */

static void test_idempotency(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-idem:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    enum fleet_idem_state st;
    char *result = NULL, *note = NULL;

    assert_int_equal(fleet_idem_begin(a, "r1", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_null(result);
    assert_null(note);
    assert_int_equal(fleet_idem_begin(b, "r1", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);
    assert_int_equal(fleet_idem_note(b, "r1", "B", "{\"x\":1}", 1), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_note(a, "r1", "A", "{\"confirmation\":\"K7Q2M\"}", 1), SW_OK);
    /* the same owner string beginning again is BUSY too: never two at once */
    assert_int_equal(fleet_idem_begin(a, "r1", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);
    /* NULL renews the lease and keeps the note */
    assert_int_equal(fleet_idem_note(a, "r1", "A", NULL, 1), SW_OK);

    /* A dies: after its lease B takes over and sees A's note */
    msleep(1150);
    assert_int_equal(fleet_idem_begin(b, "r1", "B", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_non_null(note);
    assert_string_equal(note, "{\"confirmation\":\"K7Q2M\"}");
    free(note);
    note = NULL;
    /* A is no longer the owner */
    assert_int_equal(fleet_idem_note(a, "r1", "A", "{}", 5), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_finish(a, "r1", "A", "{\"late\":1}", 60), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_abandon(a, "r1", "A"), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_begin(a, "r1", "A", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);

    /* B finishes; everybody gets the stored result */
    assert_int_equal(fleet_idem_finish(b, "r1", "B", "{\"status\":\"ok\"}", 60), SW_OK);
    assert_int_equal(fleet_idem_begin(a, "r1", "A", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_DONE);
    assert_string_equal(result, "{\"status\":\"ok\"}");
    free(result);
    result = NULL;
    assert_int_equal(fleet_idem_finish(b, "r1", "B", "{\"again\":1}", 60), SW_ERR_BUSY);
    redisReply *r = raw_cmd("TTL t-idem:idem:r1");
    assert_true(r->integer > 55 && r->integer <= 60);
    freeReplyObject(r);

    /* takeover without a note */
    assert_int_equal(fleet_idem_begin(a, "r2", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    msleep(1100);
    assert_int_equal(fleet_idem_begin(b, "r2", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_null(note);
    assert_int_equal(fleet_idem_takeovers(b), 1);
    /* B dies too: the count goes on (a poison message is recognised) */
    msleep(1100);
    assert_int_equal(fleet_idem_begin(a, "r2", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_int_equal(fleet_idem_takeovers(a), 2);
    assert_int_equal(fleet_idem_begin(b, "r9", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_int_equal(fleet_idem_takeovers(b), 0);

    /* abandon: only the owner's, and then it starts over */
    assert_int_equal(fleet_idem_begin(a, "r3", "A", 30, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_int_equal(fleet_idem_abandon(b, "r3", "B"), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_abandon(a, "r3", "A"), SW_OK);
    assert_int_equal(fleet_idem_begin(b, "r3", "B", 30, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);

    /* the in-progress record outlives the lease (note kept for a late
     * redelivery): it expires after idempotency.ttl_s, not lease_s */
    r = raw_cmd("PTTL t-idem:idem:r3");
    assert_true(r->integer > 600000);
    freeReplyObject(r);

    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

/* ---- limiter ----------------------------------------------------------------- */

struct limit_run {
    const struct sw_config *cfg;
    atomic_int remaining;
    atomic_int inflight, max_inflight, errors;
    int hold_ms;
    enum fleet_priority prio;
    pthread_mutex_t mu;
    int64_t times[256];
    int n;
};

static void *limit_worker(void *arg)
{
    struct limit_run *run = arg;
    struct fleet *f = NULL;
    char err[256];
    if (fleet_new(run->cfg, &f, err, sizeof(err)) != SW_OK) {
        atomic_fetch_add(&run->errors, 1);
        return NULL;
    }
    while (atomic_fetch_sub(&run->remaining, 1) > 0) {
        struct fleet_permit p;
        int64_t now = 0, waited = 0;
        if (fleet_now_ms(f, &now) != SW_OK ||
            fleet_limit_acquire(f, run->prio, now + 20000, &p, &waited) != SW_OK) {
            atomic_fetch_add(&run->errors, 1);
            continue;
        }
        int64_t t = mono_us();
        int in = atomic_fetch_add(&run->inflight, 1) + 1;
        int max = atomic_load(&run->max_inflight);
        while (in > max && !atomic_compare_exchange_weak(&run->max_inflight, &max, in))
            ;
        pthread_mutex_lock(&run->mu);
        if (run->n < 256)
            run->times[run->n++] = t;
        pthread_mutex_unlock(&run->mu);
        if (run->hold_ms)
            msleep(run->hold_ms);
        atomic_fetch_sub(&run->inflight, 1);
        fleet_limit_release(f, &p);
    }
    fleet_destroy(f);
    return NULL;
}

static void run_limit(struct limit_run *run, int threads, int total)
{
    atomic_init(&run->remaining, total);
    atomic_init(&run->inflight, 0);
    atomic_init(&run->max_inflight, 0);
    atomic_init(&run->errors, 0);
    pthread_mutex_init(&run->mu, NULL);
    pthread_t t[8];
    for (int i = 0; i < threads; i++)
        assert_int_equal(pthread_create(&t[i], NULL, limit_worker, run), 0);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&run->mu);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_limiter_rate(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-rate:");
    set(&cfg, "limiter.rps", "10");
    set(&cfg, "limiter.concurrency", "100");
    struct limit_run run = {.cfg = &cfg, .prio = FLEET_PRIO_READ};
    run_limit(&run, 3, 50);
    assert_int_equal(atomic_load(&run.errors), 0);
    assert_int_equal(run.n, 50);
    qsort(run.times, (size_t)run.n, sizeof(run.times[0]), cmp_i64);
    int worst = 0;
    for (int i = 0; i < run.n; i++) {
        int k = 0;
        for (int j = i; j < run.n && run.times[j] - run.times[i] < 1000000; j++)
            k++;
        if (k > worst)
            worst = k;
    }
    int64_t span_ms = (run.times[run.n - 1] - run.times[0]) / 1000;
    print_message("rate: 50 grants over %lld ms, busiest 1 s window %d\n", (long long)span_ms,
                  worst);
    assert_true(worst <= 10);
    assert_true(worst >= 9);      /* and the budget is used */
    assert_true(span_ms >= 4800); /* 49 intervals of >= 100 ms */
    assert_true(span_ms <= 5400); /* >= 90 % of the budget used */
    sw_config_free(&cfg);
}

/* A clock that tells the system's time and records the sleeps asked of it. */
struct rec_clock {
    struct sw_clock clock;
    int64_t slept_ms;
    int sleeps;
};

static int64_t rec_now(void *opaque)
{
    (void)opaque;
    return clock_now_ms(NULL);
}

static int64_t rec_mono(void *opaque)
{
    (void)opaque;
    return clock_mono_ms(NULL);
}

static void rec_sleep(void *opaque, int64_t ms)
{
    struct rec_clock *c = opaque;
    c->slept_ms += ms;
    c->sleeps++;
    clock_sleep_ms(NULL, ms);
}

/* The limiter waits with the clock it was given (fleet_options). */
static void test_limiter_clock(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-lclock:");
    set(&cfg, "limiter.rps", "2");
    set(&cfg, "limiter.concurrency", "10");
    struct rec_clock rc = {{rec_now, rec_mono, rec_sleep, NULL}, 0, 0};
    rc.clock.opaque = &rc;
    struct fleet_options opts = {.clock = &rc.clock};
    struct fleet *f = NULL;
    char err[256] = "";
    if (fleet_new_opts(&cfg, &opts, &f, err, sizeof(err)) != SW_OK)
        fail_msg("fleet_new_opts: %s", err);
    struct fleet_permit p1, p2;
    int64_t waited = -1;
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p1, &waited), SW_OK);
    assert_int_equal(rc.sleeps, 0); /* the first rate slot is free */
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p2, &waited), SW_OK);
    /* the second waits out the interval (1 s / 2 + 4 %), all of it in our
     * clock's sleeps, and reports the wait on our clock */
    print_message("second grant after %d sleeps of %lld ms in all, waited %lld ms\n", rc.sleeps,
                  (long long)rc.slept_ms, (long long)waited);
    assert_true(rc.sleeps >= 1);
    assert_true(rc.slept_ms >= 400);
    assert_true(waited >= rc.slept_ms);
    fleet_limit_release(f, &p1);
    fleet_limit_release(f, &p2);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

static void test_limiter_concurrency(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-conc:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "3");
    struct limit_run run = {.cfg = &cfg, .prio = FLEET_PRIO_WRITE, .hold_ms = 30};
    run_limit(&run, 6, 60);
    assert_int_equal(atomic_load(&run.errors), 0);
    assert_int_equal(run.n, 60);
    print_message("concurrency: max in flight %d (limit 3)\n", atomic_load(&run.max_inflight));
    assert_true(atomic_load(&run.max_inflight) <= 3);
    assert_int_equal(atomic_load(&run.max_inflight), 3);
    sw_config_free(&cfg);
}

static void test_limiter_dead_holder(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-dead:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "2");
    set(&cfg, "limiter.permit_ttl_ms", "400");
    struct fleet *dead = open_fleet(&cfg), *f = open_fleet(&cfg);
    struct fleet_permit p1, p2, p3;
    int64_t now, waited;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(dead, FLEET_PRIO_WRITE, now + 1000, &p1, &waited), SW_OK);
    assert_int_equal(fleet_limit_acquire(dead, FLEET_PRIO_WRITE, now + 1000, &p2, &waited), SW_OK);
    fleet_destroy(dead); /* dies holding both */
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 150, &p3, &waited),
                     SW_ERR_EXPIRED);
    assert_true(p3.id[0] == '\0');
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 3000, &p3, &waited), SW_OK);
    print_message("dead holder's permit reclaimed after %lld ms more\n", (long long)waited);
    assert_true(waited >= 100 && waited < 1000);
    assert_true(p3.id[0] != '\0');
    fleet_limit_release(f, &p3);
    assert_true(p3.id[0] == '\0');
    fleet_destroy(f);
    sw_config_free(&cfg);
}

static void test_limiter_backoff(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-backoff:");
    set(&cfg, "limiter.rps", "1000");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    struct fleet_permit p;
    int64_t now, waited;
    assert_int_equal(fleet_limit_backoff(a, 1), SW_OK);
    assert_int_equal(fleet_now_ms(b, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(b, FLEET_PRIO_WRITE, now + 300, &p, &waited),
                     SW_ERR_EXPIRED);
    assert_int_equal(fleet_limit_acquire(b, FLEET_PRIO_WRITE, now + 3000, &p, &waited), SW_OK);
    assert_int_equal(fleet_now_ms(b, &waited), SW_OK);
    /* a deadline already past takes nothing */
    struct fleet_permit late;
    int64_t ignored;
    assert_int_equal(fleet_limit_acquire(b, FLEET_PRIO_WRITE, now, &late, &ignored),
                     SW_ERR_EXPIRED);
    assert_true(late.id[0] == '\0');
    redisReply *z = raw_cmd("ZCARD t-backoff:limit:permits");
    assert_int_equal(z->integer, 1);
    freeReplyObject(z);
    print_message("backoff: granted %lld ms after the 1 s back-off began\n",
                  (long long)(waited - now));
    assert_true(waited - now >= 900);
    fleet_limit_release(b, &p);
    /* a shorter back-off never shortens a longer one */
    assert_int_equal(fleet_limit_backoff(a, 2), SW_OK);
    assert_int_equal(fleet_limit_backoff(a, 1), SW_OK);
    redisReply *r = raw_cmd("PTTL t-backoff:limit:backoff");
    assert_true(r->integer > 1500);
    freeReplyObject(r);
    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

static void test_limiter_priority_reserve(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-prio:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "5");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_permit held[5], p, q;
    int64_t now, waited;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 2000, &held[i], &waited),
                         SW_OK);
    /* 4 of 5 in use: reads and background wait, a write gets through */
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_READ, now + 200, &p, &waited),
                     SW_ERR_EXPIRED);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_BACKGROUND, now + 400, &p, &waited),
                     SW_ERR_EXPIRED);
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 1000, &held[4], &waited),
                     SW_OK);
    assert_true(waited < 200);
    /* 3 in use: a read may take the 4th, background still leaves 2 */
    fleet_limit_release(f, &held[4]);
    fleet_limit_release(f, &held[3]);
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_READ, now + 1000, &p, &waited), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_BACKGROUND, now + 300, &q, &waited),
                     SW_ERR_EXPIRED);
    fleet_limit_release(f, &p);
    for (int i = 0; i < 3; i++)
        fleet_limit_release(f, &held[i]);
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_BACKGROUND, now + 1000, &q, &waited), SW_OK);
    fleet_limit_release(f, &q);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

struct waiter {
    const struct sw_config *cfg;
    enum fleet_priority prio;
    int hold_ms;
    sw_err result;
    int64_t granted_us;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    struct fleet *f = NULL;
    char err[256];
    w->result = SW_ERR_INTERNAL;
    if (fleet_new(w->cfg, &f, err, sizeof(err)) != SW_OK)
        return NULL;
    struct fleet_permit p;
    int64_t now, waited;
    if (fleet_now_ms(f, &now) == SW_OK)
        w->result = fleet_limit_acquire(f, w->prio, now + 5000, &p, &waited);
    w->granted_us = mono_us();
    if (w->result == SW_OK) {
        msleep(w->hold_ms);
        fleet_limit_release(f, &p);
    }
    fleet_destroy(f);
    return NULL;
}

/* With everything in use, a waiting write gets the next free permit before
 * a read that waited longer (concurrency 2: no static reserve). */
static void test_limiter_priority_waiting_write(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-prio2:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "2");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_permit held[2];
    int64_t now, waited;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 2000, &held[i], &waited),
                         SW_OK);
    struct waiter rd = {&cfg, FLEET_PRIO_READ, 0, SW_OK, 0};
    struct waiter wr = {&cfg, FLEET_PRIO_WRITE, 300, SW_OK, 0};
    pthread_t tr, tw;
    assert_int_equal(pthread_create(&tr, NULL, waiter_main, &rd), 0);
    msleep(150);
    assert_int_equal(pthread_create(&tw, NULL, waiter_main, &wr), 0);
    msleep(150);
    int64_t released = mono_us();
    fleet_limit_release(f, &held[0]);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(wr.result, SW_OK);
    assert_int_equal(rd.result, SW_OK);
    print_message("write granted %lld ms after the release, read %lld ms\n",
                  (long long)(wr.granted_us - released) / 1000,
                  (long long)(rd.granted_us - released) / 1000);
    assert_true(wr.granted_us < rd.granted_us);
    /* the read only got the write's permit once the write gave it back */
    assert_true(rd.granted_us - released >= 280000);
    fleet_limit_release(f, &held[1]);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* A write that waits out a back-off still goes first when it ends, though
 * a read waited longer (rps 1: there is one slot, then none for ~1 s). */
static void test_limiter_priority_after_backoff(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-prio3:");
    set(&cfg, "limiter.rps", "1");
    set(&cfg, "limiter.concurrency", "5");
    struct fleet *f = open_fleet(&cfg);
    assert_int_equal(fleet_limit_backoff(f, 1), SW_OK);
    struct waiter rd = {&cfg, FLEET_PRIO_READ, 0, SW_OK, 0};
    struct waiter wr = {&cfg, FLEET_PRIO_WRITE, 0, SW_OK, 0};
    pthread_t tr, tw;
    int64_t t0 = mono_us();
    assert_int_equal(pthread_create(&tr, NULL, waiter_main, &rd), 0);
    msleep(100);
    assert_int_equal(pthread_create(&tw, NULL, waiter_main, &wr), 0);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(wr.result, SW_OK);
    assert_int_equal(rd.result, SW_OK);
    print_message("after a 1 s back-off: write at %lld ms, read at %lld ms\n",
                  (long long)(wr.granted_us - t0) / 1000, (long long)(rd.granted_us - t0) / 1000);
    assert_true(wr.granted_us - t0 >= 900000);
    assert_true(rd.granted_us - wr.granted_us >= 900000); /* the next rate slot */
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- breaker ------------------------------------------------------------------ */

static void test_breaker(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-breaker:");
    set(&cfg, "breaker.failures", "3");
    set(&cfg, "breaker.open_s", "1");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    bool probe = true;
    assert_true(fleet_breaker_allow(a, &probe));
    assert_false(probe);
    /* a success resets the count */
    fleet_breaker_record(a, false);
    fleet_breaker_record(b, false);
    fleet_breaker_record(a, true);
    fleet_breaker_record(a, false);
    fleet_breaker_record(b, false);
    assert_int_equal(fleet_breaker_state(a), FLEET_CIRCUIT_CLOSED);
    fleet_breaker_record(a, false); /* 3 in a row */
    assert_int_equal(fleet_breaker_state(b), FLEET_CIRCUIT_OPEN);
    assert_false(fleet_breaker_allow(b, &probe));
    assert_false(probe);
    /* stragglers while open change nothing */
    fleet_breaker_record(b, true);
    assert_int_equal(fleet_breaker_state(b), FLEET_CIRCUIT_OPEN);

    msleep(1100);
    assert_int_equal(fleet_breaker_state(a), FLEET_CIRCUIT_HALF_OPEN);
    assert_true(fleet_breaker_allow(a, &probe));
    assert_true(probe);
    assert_false(fleet_breaker_allow(b, &probe)); /* only one probe */
    assert_false(probe);
    assert_false(fleet_breaker_allow(a, &probe));
    fleet_breaker_record(a, false); /* the probe failed: open again */
    assert_int_equal(fleet_breaker_state(b), FLEET_CIRCUIT_OPEN);
    assert_false(fleet_breaker_allow(b, &probe));

    msleep(1100);
    assert_true(fleet_breaker_allow(b, &probe));
    assert_true(probe);
    fleet_breaker_record(b, true); /* the probe succeeded */
    assert_int_equal(fleet_breaker_state(a), FLEET_CIRCUIT_CLOSED);
    assert_true(fleet_breaker_allow(a, &probe));
    assert_false(probe);
    /* and the count starts from zero */
    fleet_breaker_record(a, false);
    fleet_breaker_record(a, false);
    assert_int_equal(fleet_breaker_state(a), FLEET_CIRCUIT_CLOSED);
    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

/* ---- token ---------------------------------------------------------------------- */

static void test_token(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-token:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    char *blob = NULL;
    size_t len = 0;
    const char v1[] = "enc\0rypted-1", v2[] = "enc\0rypted-2";
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_token_put(a, "oauth", "A", v1, sizeof(v1)), SW_ERR_BUSY);
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len), SW_ERR_NOT_FOUND);

    assert_int_equal(fleet_token_lock(a, "oauth", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_ERR_BUSY);
    assert_int_equal(fleet_token_put(b, "oauth", "B", v2, sizeof(v2)), SW_ERR_BUSY);
    assert_int_equal(fleet_token_unlock(b, "oauth", "B"), SW_ERR_BUSY);
    assert_int_equal(fleet_token_put(a, "oauth", "A", v1, sizeof(v1)), SW_OK);
    assert_int_equal(fleet_token_get(b, "oauth", &blob, &len), SW_OK);
    assert_int_equal(len, sizeof(v1));
    assert_memory_equal(blob, v1, sizeof(v1));
    free(blob);
    /* put released the lock */
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_OK);
    assert_int_equal(fleet_token_put(b, "oauth", "B", v2, sizeof(v2)), SW_OK);
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len), SW_OK);
    assert_memory_equal(blob, v2, sizeof(v2));
    free(blob);
    /* the previous record is kept under NAME:prev */
    assert_int_equal(fleet_token_get(a, "oauth:prev", &blob, &len), SW_OK);
    assert_int_equal(len, sizeof(v1));
    assert_memory_equal(blob, v1, sizeof(v1));
    free(blob);
    /* unlock and a lock that expires by itself */
    assert_int_equal(fleet_token_lock(a, "oauth", "A", 100), SW_OK);
    msleep(150);
    assert_int_equal(fleet_token_put(a, "oauth", "A", v1, sizeof(v1)), SW_ERR_BUSY);
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_OK);
    assert_int_equal(fleet_token_unlock(b, "oauth", "B"), SW_OK);
    assert_int_equal(fleet_token_lock(a, "oauth", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_unlock(a, "oauth", "A"), SW_OK);
    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

/* ---- holds ----------------------------------------------------------------------- */

static struct fleet_hold hold(const char *pract, const char *session, int64_t start, int64_t end)
{
    struct fleet_hold h;
    memset(&h, 0, sizeof(h));
    snprintf(h.practitioner_id, sizeof(h.practitioner_id), "%s", pract);
    snprintf(h.session_id, sizeof(h.session_id), "%s", session);
    snprintf(h.patient_id, sizeof(h.patient_id), "pat-%s", session);
    h.start = start;
    h.end = end;
    return h;
}

static void test_holds(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-holds:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    const int64_t T = 1796112000; /* 10:00 some day */
    int64_t now;
    assert_int_equal(fleet_now_ms(a, &now), SW_OK);

    struct fleet_hold h1 = hold("P1", "s1", T, T + 1800);
    assert_int_equal(fleet_hold_place(a, &h1, 60), SW_OK);
    assert_int_equal(strlen(h1.hold_id), 32);
    assert_true(h1.expires_at_ms >= now + 59000 && h1.expires_at_ms <= now + 61000);

    struct fleet_hold h2 = hold("P1", "s2", T + 900, T + 2700);
    assert_int_equal(fleet_hold_place(b, &h2, 60), SW_ERR_CONFLICT);
    assert_true(h2.hold_id[0] == '\0');
    struct fleet_hold h3 = hold("P1", "s1", T + 900, T + 2700); /* same session: fine */
    assert_int_equal(fleet_hold_place(b, &h3, 60), SW_OK);
    struct fleet_hold h4 = hold("P1", "s2", T + 2700, T + 3600); /* touching, not overlapping */
    assert_int_equal(fleet_hold_place(b, &h4, 60), SW_OK);
    struct fleet_hold h5 = hold("P2", "s2", T, T + 1800); /* another practitioner */
    assert_int_equal(fleet_hold_place(b, &h5, 60), SW_OK);
    struct fleet_hold bad = hold("P1", "s3", T + 100, T + 100);
    assert_int_equal(fleet_hold_place(b, &bad, 60), SW_ERR_INVALID);

    struct fleet_hold got;
    assert_int_equal(fleet_hold_get(b, h1.hold_id, &got), SW_OK);
    assert_string_equal(got.hold_id, h1.hold_id);
    assert_string_equal(got.practitioner_id, "P1");
    assert_string_equal(got.session_id, "s1");
    assert_string_equal(got.patient_id, "pat-s1");
    assert_int_equal(got.start, T);
    assert_int_equal(got.end, T + 1800);
    assert_int_equal(got.expires_at_ms, h1.expires_at_ms);
    assert_int_equal(fleet_hold_get(b, "nope", &got), SW_ERR_NOT_FOUND);

    struct fleet_hold *list = NULL;
    size_t n = 0;
    assert_int_equal(fleet_holds_list(a, "P1", T, T + 1000, &list, &n), SW_OK);
    assert_int_equal(n, 2); /* h1 and h3 */
    assert_string_equal(list[0].hold_id, h1.hold_id);
    assert_string_equal(list[1].hold_id, h3.hold_id);
    free(list);
    assert_int_equal(fleet_holds_list(a, "P1", T + 2700, T + 9999, &list, &n), SW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].hold_id, h4.hold_id);
    assert_string_equal(list[0].session_id, "s2");
    free(list);
    assert_int_equal(fleet_holds_list(a, "P9", 0, T * 2, &list, &n), SW_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    /* release frees the time for other sessions */
    assert_int_equal(fleet_hold_release(a, h1.hold_id), SW_OK);
    assert_int_equal(fleet_hold_release(a, h1.hold_id), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_hold_release(a, h3.hold_id), SW_OK);
    assert_int_equal(fleet_hold_get(a, h1.hold_id, &got), SW_ERR_NOT_FOUND);
    h2 = hold("P1", "s2", T + 900, T + 2700);
    assert_int_equal(fleet_hold_place(b, &h2, 1), SW_OK);

    /* expiry frees it too */
    struct fleet_hold h6 = hold("P1", "s3", T + 1000, T + 1200);
    assert_int_equal(fleet_hold_place(a, &h6, 60), SW_ERR_CONFLICT);
    msleep(1100);
    assert_int_equal(fleet_hold_get(a, h2.hold_id, &got), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_holds_list(a, "P1", T, T + 2000, &list, &n), SW_OK);
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(fleet_hold_place(a, &h6, 60), SW_OK);
    redisReply *r = raw_cmd("ZRANGE t-holds:holds:P1 0 -1");
    assert_int_equal(r->elements, 2); /* the expired id was reaped: h4, h6 */
    freeReplyObject(r);
    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

/* ---- races: N replicas at the same instant ---------------------------------------- */

#define RACERS 8

struct race {
    const struct sw_config *cfg;
    pthread_barrier_t barrier;
    int (*op)(struct fleet *f, int i);
    int outcome[RACERS];
};

struct racer {
    struct race *race;
    int i;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    struct fleet *f = NULL;
    char err[256];
    r->race->outcome[r->i] = -1;
    bool ok = fleet_new(r->race->cfg, &f, err, sizeof(err)) == SW_OK && fleet_ping(f) == SW_OK;
    pthread_barrier_wait(&r->race->barrier); /* connected: now all at once */
    if (ok)
        r->race->outcome[r->i] = r->race->op(f, r->i);
    fleet_destroy(f);
    return NULL;
}

/* Runs op on RACERS threads with their own connections; returns how many
 * answered `want`, failing if any answered something other than want or
 * other. */
static int race(const struct sw_config *cfg, int (*op)(struct fleet *, int), int want, int other)
{
    struct race rc = {.cfg = cfg, .op = op};
    struct racer rs[RACERS];
    pthread_t t[RACERS];
    pthread_barrier_init(&rc.barrier, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        rs[i] = (struct racer){&rc, i};
        assert_int_equal(pthread_create(&t[i], NULL, racer_main, &rs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&rc.barrier);
    int n = 0;
    for (int i = 0; i < RACERS; i++) {
        if (rc.outcome[i] == want)
            n++;
        else if (rc.outcome[i] != other)
            fail_msg("racer %d answered %d", i, rc.outcome[i]);
    }
    return n;
}

static int race_idem(struct fleet *f, int i)
{
    char owner[16];
    snprintf(owner, sizeof(owner), "T%d", i);
    enum fleet_idem_state st;
    return fleet_idem_begin(f, "race", owner, 30, &st, NULL, NULL) == SW_OK ? (int)st : -1;
}

static int race_probe(struct fleet *f, int i)
{
    (void)i;
    bool probe = false;
    bool allow = fleet_breaker_allow(f, &probe);
    return probe ? 2 : allow ? 1 : 0;
}

static int race_hold(struct fleet *f, int i)
{
    char session[16];
    snprintf(session, sizeof(session), "s%d", i);
    struct fleet_hold h = hold("P1", session, 1796112000 + i * 60, 1796113800 + i * 60);
    return (int)fleet_hold_place(f, &h, 60);
}

static int race_claim(struct fleet *f, int i)
{
    char rid[16];
    snprintf(rid, sizeof(rid), "r%d", i);
    return (int)fleet_confirmation_claim(f, "RACE1", rid, 60);
}

static int race_lock(struct fleet *f, int i)
{
    char owner[16];
    snprintf(owner, sizeof(owner), "T%d", i);
    return (int)fleet_lock(f, "book:P1", owner, 5000);
}

static void test_races(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-race:");
    set(&cfg, "breaker.failures", "1");
    set(&cfg, "breaker.open_s", "1");
    assert_int_equal(race(&cfg, race_idem, FLEET_IDEM_NEW, FLEET_IDEM_BUSY), 1);
    assert_int_equal(race(&cfg, race_hold, SW_OK, SW_ERR_CONFLICT), 1);
    assert_int_equal(race(&cfg, race_claim, SW_OK, SW_ERR_CONFLICT), 1);
    assert_int_equal(race(&cfg, race_lock, SW_OK, SW_ERR_BUSY), 1);
    struct fleet *f = open_fleet(&cfg);
    fleet_breaker_record(f, false);
    assert_int_equal(fleet_breaker_state(f), FLEET_CIRCUIT_OPEN);
    assert_int_equal(race(&cfg, race_probe, 2, 0), 0); /* open: nobody */
    msleep(1100);
    assert_int_equal(race(&cfg, race_probe, 2, 0), 1); /* half-open: one probe */
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- locks, leases, confirmation claims -------------------------------------------- */

static void test_locks_and_leases(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-locks:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    assert_int_equal(fleet_lock(a, "book:P1", "A", 5000), SW_OK);
    assert_int_equal(fleet_lock(b, "book:P1", "B", 5000), SW_ERR_BUSY);
    assert_int_equal(fleet_lock(a, "book:P1", "A", 5000), SW_OK); /* renew */
    assert_int_equal(fleet_unlock(b, "book:P1", "B"), SW_ERR_BUSY);
    assert_int_equal(fleet_unlock(a, "book:P1", "A"), SW_OK);
    assert_int_equal(fleet_lock(b, "book:P1", "B", 100), SW_OK);
    msleep(150);
    assert_int_equal(fleet_lock(a, "book:P1", "A", 5000), SW_OK);
    assert_int_equal(fleet_unlock(b, "book:P1", "B"), SW_ERR_BUSY);

    bool leader = false;
    assert_int_equal(fleet_lease(a, "poller", "A", 300, &leader), SW_OK);
    assert_true(leader);
    assert_int_equal(fleet_lease(b, "poller", "B", 300, &leader), SW_OK);
    assert_false(leader);
    msleep(200);
    assert_int_equal(fleet_lease(a, "poller", "A", 300, &leader), SW_OK); /* renews */
    assert_true(leader);
    msleep(200);
    assert_int_equal(fleet_lease(b, "poller", "B", 300, &leader), SW_OK);
    assert_false(leader); /* renewed above, still A's */
    msleep(400);
    assert_int_equal(fleet_lease(b, "poller", "B", 300, &leader), SW_OK);
    assert_true(leader);
    assert_int_equal(fleet_lease(a, "poller", "A", 300, &leader), SW_OK);
    assert_false(leader);

    assert_int_equal(fleet_confirmation_claim(a, "K7Q2M", "r1", 60), SW_OK);
    assert_int_equal(fleet_confirmation_claim(b, "K7Q2M", "r2", 60), SW_ERR_CONFLICT);
    assert_int_equal(fleet_confirmation_claim(b, "K7Q2M", "r1", 60), SW_OK);
    assert_int_equal(fleet_confirmation_claim(b, "K7Q2N", "r2", 1), SW_OK);
    msleep(1100);
    assert_int_equal(fleet_confirmation_claim(a, "K7Q2N", "r3", 60), SW_OK);
    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

/* ---- waitlist ----------------------------------------------------------------------- */

static void test_waitlist(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-wait:");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_wait w[4];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 4; i++) {
        snprintf(w[i].patient_id, sizeof(w[i].patient_id), "pat%d", i);
        snprintf(w[i].appointment_type, sizeof(w[i].appointment_type), "routine");
        if (i == 1)
            snprintf(w[i].practitioner_id, sizeof(w[i].practitioner_id), "P1");
        w[i].earliest = 1796112000 + i;
        w[i].latest = 1796198400 + i;
        assert_int_equal(fleet_waitlist_add(f, &w[i]), SW_OK);
        assert_int_equal(strlen(w[i].waitlist_id), 32);
        assert_true(w[i].joined_ms > 0);
        if (i > 0)
            assert_true(w[i].joined_ms >= w[i - 1].joined_ms);
    }
    /* re-adding an entry updates it but keeps its place */
    w[0].latest += 100;
    int64_t joined0 = w[0].joined_ms;
    assert_int_equal(fleet_waitlist_add(f, &w[0]), SW_OK);
    assert_int_equal(w[0].joined_ms, joined0);
    assert_int_equal(fleet_waitlist_remove(f, w[2].waitlist_id), SW_OK);
    assert_int_equal(fleet_waitlist_remove(f, w[2].waitlist_id), SW_ERR_NOT_FOUND);
    struct fleet_wait *list = NULL;
    size_t n = 0;
    assert_int_equal(fleet_waitlist_list(f, &list, &n), SW_OK);
    assert_int_equal(n, 3);
    const int order[3] = {0, 1, 3};
    for (size_t i = 0; i < n; i++) {
        const struct fleet_wait *e = &list[i], *want = &w[order[i]];
        assert_string_equal(e->waitlist_id, want->waitlist_id);
        assert_string_equal(e->patient_id, want->patient_id);
        assert_string_equal(e->appointment_type, "routine");
        assert_string_equal(e->practitioner_id, want->practitioner_id);
        assert_int_equal(e->earliest, want->earliest);
        assert_int_equal(e->latest, want->latest);
        assert_int_equal(e->joined_ms, want->joined_ms);
    }
    free(list);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- Redis restarts ----------------------------------------------------------------- */

static void test_reconnect(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-reconnect:");
    set(&cfg, "redis.timeout_ms", "500");
    struct fleet *f = open_fleet(&cfg);
    enum fleet_idem_state st;
    assert_int_equal(fleet_idem_begin(f, "r1", "A", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);

    /* the server's script cache is flushed: EVALSHA falls back to EVAL */
    redisReply *r = raw_cmd("SCRIPT FLUSH");
    freeReplyObject(r);
    assert_int_equal(fleet_idem_begin(f, "r1", "B", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);

    /* the server goes away: calls fail, quickly */
    redis_stop();
    int64_t t0 = mono_us();
    assert_int_equal(fleet_ping(f), SW_ERR_REDIS);
    struct fleet_permit p;
    int64_t waited;
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p, &waited), SW_ERR_REDIS);
    assert_true(p.id[0] == '\0');
    bool probe = true;
    assert_true(fleet_breaker_allow(f, &probe)); /* unknown: let the limiter decide */
    assert_false(probe);
    assert_int_equal(fleet_idem_begin(f, "r2", "A", 30, &st, NULL, NULL), SW_ERR_REDIS);
    assert_true(fleet_errstr(f)[0] != '\0');
    assert_true(mono_us() - t0 < 3000000);

    /* it comes back (empty): the next call reconnects and works */
    if (!redis_start())
        fail_msg("could not restart redis-server");
    assert_int_equal(fleet_idem_begin(f, "r2", "A", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_int_equal(fleet_ping(f), SW_OK);

    /* a restart between two calls: that call fails, the next one works */
    redis_stop();
    if (!redis_start())
        fail_msg("could not restart redis-server");
    sw_err first = fleet_ping(f);
    assert_int_equal(first, SW_ERR_REDIS);
    assert_int_equal(fleet_ping(f), SW_OK);
    int64_t now;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- the key space ---------------------------------------------------------- */

/* Does key match pattern, where each <field> stands for one or more bytes? */
static bool key_matches(const char *key, const char *pattern)
{
    if (!*pattern)
        return !*key;
    if (*pattern != '<')
        return *key == *pattern && key_matches(key + 1, pattern + 1);
    const char *rest = strchr(pattern, '>') + 1;
    for (const char *k = key + 1; k <= key + strlen(key); k++)
        if (key_matches(k, rest))
            return true;
    return false;
}

/* Every key the fleet writes is one of the key space's (keys.h), and the
 * names other modules pass in land where the table says. */
static void test_key_space(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-ks:");
    set(&cfg, "breaker.failures", "5");
    struct fleet *f = open_fleet(&cfg);
    enum fleet_idem_state st;
    char name[128];
    assert_int_equal(fleet_idem_begin(f, "r1", "A", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(fleet_token_lock(f, "password", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_put(f, "password", "A", "one", 3), SW_OK);
    assert_int_equal(fleet_token_lock(f, "password", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_put(f, "password", "A", "two", 3), SW_OK);
    assert_int_equal(fleet_token_lock(f, "password", "A", 5000), SW_OK);
    assert_true(key_day(name, sizeof(name), "P1", "2026-12-01"));
    assert_int_equal(fleet_cache_put(f, name, "{}", 60), SW_OK);
    assert_true(key_lock_book_practitioner(name, sizeof(name), "P1"));
    assert_int_equal(fleet_lock(f, name, "A", 5000), SW_OK);
    bool leader = false;
    assert_int_equal(fleet_lease(f, key_name(KEY_LEASE_POLLER), "A", 5000, &leader), SW_OK);
    assert_int_equal(fleet_confirmation_claim(f, "K7Q2M", "r1", 60), SW_OK);
    struct fleet_permit permit;
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &permit, NULL), SW_OK);
    assert_int_equal(fleet_limit_backoff(f, 1), SW_OK);
    fleet_breaker_record(f, false);
    struct fleet_hold h = hold("P1", "s1", 1000, 2000);
    assert_int_equal(fleet_hold_place(f, &h, 60), SW_OK);
    struct fleet_wait w = {.earliest = 1000, .latest = (int64_t)time(NULL) + 3600};
    snprintf(w.waitlist_id, sizeof(w.waitlist_id), "w1");
    snprintf(w.patient_id, sizeof(w.patient_id), "pat1");
    snprintf(w.appointment_type, sizeof(w.appointment_type), "checkup");
    assert_int_equal(fleet_waitlist_add(f, &w), SW_OK);

    bool seen[KEY_COUNT] = {false};
    int keys = 0;
    redisReply *r = raw_cmd("KEYS t-ks:*");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        const char *key = r->element[i]->str + strlen("t-ks:");
        bool known = false;
        for (int id = 0; id < KEY_COUNT; id++) {
            char pat[256];
            assert_true(key_stored_pattern((enum key_id)id, pat, sizeof(pat)));
            if (key_matches(key, pat))
                known = seen[id] = true;
        }
        if (!known)
            fail_msg("the fleet wrote %s, which is not in the key space", key);
        keys++;
    }
    freeReplyObject(r);
    const enum key_id expected[] = {KEY_IDEM,
                                    KEY_TOKEN,
                                    KEY_TOKEN_PREV,
                                    KEY_TOKEN_LOCK,
                                    KEY_DAY,
                                    KEY_CACHE,
                                    KEY_LOCK_BOOK_PRACTITIONER,
                                    KEY_LEASE_POLLER,
                                    KEY_CONFIRMATION_CLAIM,
                                    KEY_LIMIT_TAT,
                                    KEY_LIMIT_PERMITS,
                                    KEY_LIMIT_BACKOFF,
                                    KEY_BREAKER,
                                    KEY_HOLD,
                                    KEY_HOLDS,
                                    KEY_WAIT,
                                    KEY_WAITLIST};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (!seen[expected[i]])
            fail_msg("no key of the form %s was written", key_def(expected[i])->pattern);
    assert_true(keys >= (int)(sizeof(expected) / sizeof(expected[0])) - 1);
    fleet_limit_release(f, &permit);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parsing),
        cmocka_unit_test(test_auth_acl_user),
        cmocka_unit_test(test_now_and_cache),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_limiter_rate),
        cmocka_unit_test(test_limiter_clock),
        cmocka_unit_test(test_limiter_concurrency),
        cmocka_unit_test(test_limiter_dead_holder),
        cmocka_unit_test(test_limiter_backoff),
        cmocka_unit_test(test_limiter_priority_reserve),
        cmocka_unit_test(test_limiter_priority_waiting_write),
        cmocka_unit_test(test_limiter_priority_after_backoff),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_holds),
        cmocka_unit_test(test_locks_and_leases),
        cmocka_unit_test(test_waitlist),
        cmocka_unit_test(test_races),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_key_space),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
