/* redis_harness.h - a real redis-server for the fleet tests (header only).
 *
 * group_setup() starts one on a free port of 127.0.0.1 and a unix socket,
 * without persistence; group_teardown() stops it, and the kernel kills it
 * if the test dies (PDEATHSIG).  Each test uses its own key prefix
 * (make_cfg), so tests do not see each other.  raw_cmd() peeks at Redis
 * beside the fleet. */
#ifndef SW_REDIS_HARNESS_H
#define SW_REDIS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "config.h"
#include "fleet.h"
#include "log.h"

static pid_t redis_pid = -1;
static int redis_port;
static char redis_sock[64];

static inline int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void msleep(int ms)
{
    clock_sleep_ms(NULL, ms);
}

static inline int free_port(void)
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

static inline bool raw_ping(void)
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
static inline redisReply *raw_cmd(const char *fmt, ...)
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

/* Asserts that key holds the string value in Redis database db. */
static inline void raw_expect_in_db(int db, const char *key, const char *value)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT %d", db));
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, value);
    freeReplyObject(r);
    redisFree(c);
}

static inline bool redis_start(void)
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
        fprintf(stderr, "redis harness: cannot run redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    redis_pid = pid;
    for (int i = 0; i < 250; i++) { /* 5 s */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "redis harness: redis-server exited (status %d): is it installed?\n",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            redis_pid = -1;
            return false;
        }
        if (raw_ping())
            return true;
        msleep(20);
    }
    fprintf(stderr, "redis harness: redis-server did not answer PING within 5 s\n");
    return false;
}

static inline void redis_stop(void)
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

static inline int group_setup(void **state)
{
    (void)state;
    sw_log_init(SW_LOG_ERROR, "test");
    redis_port = free_port();
    snprintf(redis_sock, sizeof(redis_sock), "/tmp/test_fleet_%d.sock", (int)getpid());
    if (redis_port <= 0 || !redis_start()) {
        fprintf(stderr, "redis harness: FAILED to start redis-server (needed by this test)\n");
        redis_stop();
        return -1;
    }
    return 0;
}

static inline int group_teardown(void **state)
{
    (void)state;
    redis_stop();
    unlink(redis_sock);
    return 0;
}

/* A config for this test's server with its own prefix; free with
 * sw_config_free. */
static inline void make_cfg(struct sw_config *cfg, const char *prefix)
{
    assert_int_equal(sw_config_load(cfg, NULL, stderr), SW_OK);
    char url[64], err[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
    assert_true(sw_config_set(cfg, "redis.url", url, err, sizeof(err)));
    assert_true(sw_config_set(cfg, "redis.prefix", prefix, err, sizeof(err)));
}

static inline void set(struct sw_config *cfg, const char *key, const char *value)
{
    char err[128];
    if (!sw_config_set(cfg, key, value, err, sizeof(err)))
        fail_msg("config %s: %s", key, err);
}

static inline struct fleet *open_fleet(const struct sw_config *cfg)
{
    struct fleet *f = NULL;
    char err[256] = "";
    if (fleet_new(cfg, &f, err, sizeof(err)) != SW_OK)
        fail_msg("fleet_new: %s", err);
    return f;
}

/* A hold of session for pract over [start, end) (epoch s). */
static inline struct fleet_hold hold(const char *pract, const char *session, int64_t start,
                                     int64_t end)
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

#endif
