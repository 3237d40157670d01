/* test_fleet_limit.c - the fleet-wide rate limiter, in-flight permits, priorities,
 * back-off and the circuit breaker.
 *
 * Against a real redis-server (redis_harness.h). */
#include "redis_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

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
    /* limiter.write_share as by default: with no write about, reads use
     * the whole rate */
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
    assert_true(worst >= 9); /* and the budget is used */
    /* five windows of ten: the last ten leave after four windows of 1.04 s */
    assert_true(span_ms >= 4000);
    assert_true(span_ms <= 4700); /* >= 90 % of the budget used */
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
    struct fleet_permit p1, p2, p3;
    int64_t waited = -1;
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p1, &waited), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p2, &waited), SW_OK);
    assert_int_equal(rc.sleeps, 0); /* two a second: both go at once */
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, 0, &p3, &waited), SW_OK);
    /* the third waits until the first leaves the window (1 s + 4 %), all
     * of it in our clock's sleeps, and reports the wait on our clock */
    print_message("third grant after %d sleeps of %lld ms in all, waited %lld ms\n", rc.sleeps,
                  (long long)rc.slept_ms, (long long)waited);
    assert_true(rc.sleeps >= 1);
    assert_true(rc.slept_ms >= 900);
    assert_true(waited >= rc.slept_ms);
    /* and says what held it back: the rate, not the permits */
    assert_string_equal(p1.waited_for, "");
    assert_string_equal(p2.waited_for, "");
    assert_string_equal(p3.waited_for, "rate");
    fleet_limit_release(f, &p1);
    fleet_limit_release(f, &p2);
    fleet_limit_release(f, &p3);
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
    assert_string_equal(p.waited_for, "permits");
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
 * a read that waited longer (concurrency 2, no write share: no static
 * reserve). */
static void test_limiter_priority_waiting_write(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-prio2:");
    set(&cfg, "limiter.write_share", "0");
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

/* The busiest half-open 1 s window of sorted grant times (us). */
static int busiest_second(const int64_t *t, int n)
{
    int worst = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        for (int j = i; j < n && t[j] - t[i] < 1000000; j++)
            k++;
        if (k > worst)
            worst = k;
    }
    return worst;
}

/* limiter.write_share: while writes come in, a flood of reads gets at most
 * its share of the rate, with the whole fleet inside the rate. */
static void test_limiter_write_share_rate(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-share:");
    set(&cfg, "limiter.rps", "20");
    set(&cfg, "limiter.concurrency", "100");
    set(&cfg, "limiter.write_share", "25"); /* reads: 15 of 20 a second */
    struct limit_run run = {.cfg = &cfg, .prio = FLEET_PRIO_READ};
    atomic_init(&run.remaining, 45);
    atomic_init(&run.inflight, 0);
    atomic_init(&run.max_inflight, 0);
    atomic_init(&run.errors, 0);
    pthread_mutex_init(&run.mu, NULL);
    pthread_t t[3];
    /* a few writes all through the flood (one every ~400 ms): without the
     * share the reads would take the 17 or so slots a second they leave */
    struct fleet *f = open_fleet(&cfg);
    int64_t wtimes[12];
    int64_t worst_wait = 0;
    for (int i = 0; i < 12; i++) {
        if (i == 1)
            for (int k = 0; k < 3; k++)
                assert_int_equal(pthread_create(&t[k], NULL, limit_worker, &run), 0);
        struct fleet_permit p;
        int64_t now = 0, waited = 0;
        assert_int_equal(fleet_now_ms(f, &now), SW_OK);
        assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 5000, &p, &waited), SW_OK);
        wtimes[i] = mono_us();
        if (waited > worst_wait)
            worst_wait = waited;
        fleet_limit_release(f, &p);
        msleep(400);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&run.mu);
    assert_int_equal(atomic_load(&run.errors), 0);
    assert_int_equal(run.n, 45);
    int64_t all[64];
    int n = 0;
    for (int i = 0; i < run.n; i++)
        all[n++] = run.times[i];
    for (int i = 0; i < 12; i++)
        all[n++] = wtimes[i];
    qsort(run.times, (size_t)run.n, sizeof(run.times[0]), cmp_i64);
    qsort(all, (size_t)n, sizeof(all[0]), cmp_i64);
    int reads = busiest_second(run.times, run.n), total = busiest_second(all, n);
    print_message("share: busiest second %d reads (share 15), %d in all (rate 20); slowest write "
                  "waited %lld ms\n",
                  reads, total, (long long)worst_wait);
    assert_true(reads <= 15);
    assert_true(reads >= 12); /* most of the reads' share is used */
    assert_true(total <= 20);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* limiter.write_share of the permits: 40 % of 5 = 2 kept for writes, reads
 * stop at 3 and background at 2. */
static void test_limiter_write_share_permits(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-sharep:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "5");
    set(&cfg, "limiter.write_share", "40");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_permit r[4], b, w[2];
    int64_t now, waited;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_READ, now + 2000, &r[i], &waited),
                         SW_OK);
    /* 2 in use: background leaves 3 free, so it waits */
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_BACKGROUND, now + 200, &b, &waited),
                     SW_ERR_EXPIRED);
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_READ, now + 2000, &r[2], &waited), SW_OK);
    /* 3 in use: the 4th read waits, the two kept permits go to writes */
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_READ, now + 200, &r[3], &waited),
                     SW_ERR_EXPIRED);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fleet_now_ms(f, &now), SW_OK);
        assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 1000, &w[i], &waited),
                         SW_OK);
    }
    for (int i = 0; i < 2; i++)
        fleet_limit_release(f, &w[i]);
    for (int i = 0; i < 3; i++)
        fleet_limit_release(f, &r[i]);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* A permit given back "after" stays taken that long, then frees itself. */
static void test_limiter_release_after(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-after:");
    set(&cfg, "limiter.rps", "1000");
    set(&cfg, "limiter.concurrency", "1");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_permit p, q;
    int64_t now, waited;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 1000, &p, &waited), SW_OK);
    fleet_limit_release_after(f, &p, 600);
    assert_true(p.id[0] == '\0');
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 200, &q, &waited),
                     SW_ERR_EXPIRED); /* still taken */
    assert_int_equal(fleet_now_ms(f, &now), SW_OK);
    assert_int_equal(fleet_limit_acquire(f, FLEET_PRIO_WRITE, now + 3000, &q, &waited), SW_OK);
    fleet_limit_release(f, &q);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_rate),
        cmocka_unit_test(test_limiter_clock),
        cmocka_unit_test(test_limiter_concurrency),
        cmocka_unit_test(test_limiter_dead_holder),
        cmocka_unit_test(test_limiter_backoff),
        cmocka_unit_test(test_limiter_priority_reserve),
        cmocka_unit_test(test_limiter_priority_waiting_write),
        cmocka_unit_test(test_limiter_priority_after_backoff),
        cmocka_unit_test(test_limiter_write_share_rate),
        cmocka_unit_test(test_limiter_write_share_permits),
        cmocka_unit_test(test_limiter_release_after),
        cmocka_unit_test(test_breaker),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
