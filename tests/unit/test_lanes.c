/* test_lanes.c - per-lane order, parallel lanes, draining on destroy. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lanes.h"

#define MAX_ITEMS 20000
#define N_LANES   4

/* What every run() saw, in the order it ran, per lane. */
struct record {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int seen[N_LANES][MAX_ITEMS];
    int n_seen[N_LANES];
    int total;
    int inits, finis;
    /* parallel test: a barrier the first items of two lanes both wait at */
    int arrived;
    bool both_ran_together;
    int slow_ms;
};

struct lane_state {
    struct record *rec;
    int lane;
};

struct item {
    int value;
    bool rendezvous;
};

static void *on_init(void *opaque, int lane)
{
    struct record *rec = opaque;
    struct lane_state *st = malloc(sizeof(*st));
    st->rec = rec;
    st->lane = lane;
    pthread_mutex_lock(&rec->lock);
    rec->inits++;
    pthread_mutex_unlock(&rec->lock);
    return st;
}

static void on_fini(void *state)
{
    struct lane_state *st = state;
    pthread_mutex_lock(&st->rec->lock);
    st->rec->finis++;
    pthread_mutex_unlock(&st->rec->lock);
    free(st);
}

static void on_run(void *state, void *payload)
{
    struct lane_state *st = state;
    struct record *rec = st->rec;
    struct item *it = payload;
    if (it->rendezvous) {
        /* wait (bounded) until another lane's item is running too */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&rec->lock);
        rec->arrived++;
        pthread_cond_broadcast(&rec->cond);
        while (rec->arrived < 2)
            if (pthread_cond_timedwait(&rec->cond, &rec->lock, &until) != 0)
                break;
        if (rec->arrived >= 2)
            rec->both_ran_together = true;
        pthread_mutex_unlock(&rec->lock);
    }
    if (rec->slow_ms)
        nanosleep(&(struct timespec){0, rec->slow_ms * 1000000L}, NULL);
    pthread_mutex_lock(&rec->lock);
    rec->seen[st->lane][rec->n_seen[st->lane]++] = it->value;
    rec->total++;
    pthread_mutex_unlock(&rec->lock);
    free(it);
}

static struct record *record_new(void)
{
    struct record *rec = calloc(1, sizeof(*rec));
    pthread_mutex_init(&rec->lock, NULL);
    pthread_cond_init(&rec->cond, NULL);
    return rec;
}

static void record_free(struct record *rec)
{
    pthread_mutex_destroy(&rec->lock);
    pthread_cond_destroy(&rec->cond);
    free(rec);
}

static void submit(struct lanes *l, uint64_t hash, int value, bool rendezvous)
{
    struct item *it = malloc(sizeof(*it));
    it->value = value;
    it->rendezvous = rendezvous;
    lanes_submit(l, hash, it);
}

static void test_same_hash_keeps_order(void **state)
{
    (void)state;
    struct record *rec = record_new();
    struct lanes_ops ops = {on_init, on_run, on_fini, rec};
    struct lanes *l = lanes_new(N_LANES, &ops);
    assert_non_null(l);
    /* three keys, interleaved; each key's values increase */
    static const char *const keys[] = {"practitioner-12", "practitioner-15", "patient-42"};
    int per_key = 3000;
    for (int i = 0; i < per_key; i++)
        for (int k = 0; k < 3; k++)
            submit(l, lanes_hash(keys[k], strlen(keys[k])), k * 100000 + i, false);
    lanes_destroy(l);
    assert_int_equal(rec->total, 3 * per_key);
    assert_int_equal(rec->inits, N_LANES);
    assert_int_equal(rec->finis, N_LANES);
    for (int k = 0; k < 3; k++) {
        int lane = (int)(lanes_hash(keys[k], strlen(keys[k])) % N_LANES);
        int next = 0;
        for (int i = 0; i < rec->n_seen[lane]; i++) {
            int v = rec->seen[lane][i];
            if (v / 100000 != k)
                continue;
            if (v % 100000 != next)
                fail_msg("key %s: saw %d after %d", keys[k], v % 100000, next - 1);
            next++;
        }
        assert_int_equal(next, per_key);
    }
    record_free(rec);
}

static void test_lanes_run_in_parallel(void **state)
{
    (void)state;
    struct record *rec = record_new();
    struct lanes_ops ops = {on_init, on_run, on_fini, rec};
    struct lanes *l = lanes_new(N_LANES, &ops);
    /* lanes 0 and 1: each item waits until the other lane's item runs */
    submit(l, 0, 1, true);
    submit(l, 1, 2, true);
    lanes_destroy(l);
    assert_true(rec->both_ran_together);
    assert_int_equal(rec->total, 2);
    record_free(rec);
}

static void test_destroy_drains(void **state)
{
    (void)state;
    struct record *rec = record_new();
    rec->slow_ms = 1; /* so the queue is still long when destroy is called */
    struct lanes_ops ops = {on_init, on_run, on_fini, rec};
    struct lanes *l = lanes_new(2, &ops);
    for (int i = 0; i < 200; i++)
        submit(l, (uint64_t)i, i, false);
    lanes_destroy(l);
    assert_int_equal(rec->total, 200);
    assert_int_equal(rec->n_seen[0] + rec->n_seen[1], 200);
    assert_int_equal(rec->finis, 2);
    record_free(rec);

    /* no init/fini at all; destroy(NULL) is a no-op */
    rec = record_new();
    struct lanes_ops bare = {NULL, on_run, NULL, rec};
    l = lanes_new(1, &bare);
    lanes_destroy(l);
    lanes_destroy(NULL);
    record_free(rec);
}

/* Liveness: a lane whose item neither finishes nor beats is stalled after
 * the stall time; one that beats is not; idle lanes never are. */
struct stall {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int mode;     /* 0 block silently, 1 beat while blocked */
    bool release; /* let the item finish */
    bool running;
};

static void stall_run(void *state, void *item)
{
    (void)state;
    struct stall *s = item;
    pthread_mutex_lock(&s->lock);
    s->running = true;
    pthread_cond_broadcast(&s->cond);
    while (!s->release) {
        pthread_mutex_unlock(&s->lock);
        if (s->mode == 1)
            lanes_beat();
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_stalled(void **state)
{
    (void)state;
    struct lanes_ops ops = {NULL, stall_run, NULL, NULL};
    struct lanes *l = lanes_new(3, &ops);
    assert_non_null(l);
    int64_t idle = -1;
    assert_int_equal(lanes_stalled(l, now_ms() + 100000, 1000, &idle), -1); /* all idle */
    assert_int_equal(idle, 0);
    for (int mode = 0; mode < 2; mode++) {
        struct stall s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, mode, false, false};
        lanes_submit(l, 1, &s); /* lane 1 */
        pthread_mutex_lock(&s.lock);
        while (!s.running)
            pthread_cond_wait(&s.cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        int lane = lanes_stalled(l, now_ms(), 200, &idle);
        if (mode == 0) {
            assert_int_equal(lane, 1); /* busy 300 ms without progress */
            assert_true(idle >= 200);
        } else {
            assert_int_equal(lane, -1); /* beating: progress */
        }
        assert_int_equal(lanes_stalled(l, now_ms(), 60000, NULL), -1); /* under the limit */
        pthread_mutex_lock(&s.lock);
        s.release = true;
        pthread_mutex_unlock(&s.lock);
        nanosleep(&ts, NULL);
        assert_int_equal(lanes_stalled(l, now_ms() + 100000, 200, NULL), -1); /* done: idle */
    }
    lanes_beat(); /* not a lane thread: nothing happens */
    lanes_destroy(l);
}

/* Work with no order: a gate that blocks one lane's item, and items that
 * count which lane ran them. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open, blocked;
    int ran, on_lane[4];
};

struct gate_item {
    struct gate *g;
    bool block;
};

static void *gate_init(void *opaque, int lane)
{
    (void)opaque;
    return (void *)(intptr_t)(lane + 1);
}

static void gate_run(void *state, void *payload)
{
    struct gate_item *it = payload;
    struct gate *g = it->g;
    pthread_mutex_lock(&g->lock);
    if (it->block) {
        g->blocked = true;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
            pthread_cond_wait(&g->cond, &g->lock);
    } else {
        g->ran++;
        g->on_lane[(intptr_t)state - 1]++;
        pthread_cond_broadcast(&g->cond);
    }
    pthread_mutex_unlock(&g->lock);
    free(it);
}

static void gate_submit(struct lanes *l, struct gate *g, bool any, uint64_t hash, bool block)
{
    struct gate_item *it = malloc(sizeof(*it));
    it->g = g;
    it->block = block;
    if (any)
        lanes_submit_any(l, it);
    else
        lanes_submit(l, hash, it);
}

/* Work for any lane runs on a free lane while another lane is stuck, and
 * the stuck lane's own queue is not bypassed by it. */
static void test_any_lane_runs_beside_a_stuck_lane(void **state)
{
    (void)state;
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, {0}};
    struct lanes_ops ops = {gate_init, gate_run, NULL, NULL};
    struct lanes *l = lanes_new(2, &ops);
    assert_non_null(l);
    gate_submit(l, &g, false, 0, true); /* lane 0 is stuck */
    pthread_mutex_lock(&g.lock);
    while (!g.blocked)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    gate_submit(l, &g, false, 0, false); /* queued behind the stuck item */
    for (int i = 0; i < 50; i++)
        gate_submit(l, &g, true, 0, false);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g.lock);
    while (g.ran < 50)
        if (pthread_cond_timedwait(&g.cond, &g.lock, &until) != 0)
            break;
    int ran = g.ran, on0 = g.on_lane[0], on1 = g.on_lane[1];
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    assert_int_equal(ran, 50); /* all of them, lane 0 still stuck */
    assert_int_equal(on0, 0);
    assert_int_equal(on1, 50);
    lanes_destroy(l);
    assert_int_equal(g.ran, 51);
    assert_int_equal(g.on_lane[0], 1); /* lane 0's own item ran on lane 0 */
}

/* Destroy drains the shared queue too, every lane taking part. */
static void test_any_lane_drains(void **state)
{
    (void)state;
    struct record *rec = record_new();
    rec->slow_ms = 1;
    struct lanes_ops ops = {on_init, on_run, on_fini, rec};
    struct lanes *l = lanes_new(3, &ops);
    for (int i = 0; i < 300; i++) {
        struct item *it = malloc(sizeof(*it));
        it->value = i;
        it->rendezvous = false;
        lanes_submit_any(l, it);
    }
    lanes_destroy(l);
    assert_int_equal(rec->total, 300);
    assert_int_equal(rec->n_seen[0] + rec->n_seen[1] + rec->n_seen[2], 300);
    /* 1 ms each: no single lane can have taken them all before the others woke */
    assert_true(rec->n_seen[0] > 0 && rec->n_seen[1] > 0 && rec->n_seen[2] > 0);
    record_free(rec);
}

/* Two pools: shared work that blocks every shared lane holds up no keyed
 * lane, and keyed work never runs on a shared lane. */
static void test_pools_keep_keyed_lanes_free(void **state)
{
    (void)state;
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, {0}};
    struct lanes_ops ops = {gate_init, gate_run, NULL, NULL};
    struct lanes *l = lanes_new_pools(2, 1, &ops); /* lanes 0, 1 keyed; 2 shared */
    assert_non_null(l);
    gate_submit(l, &g, true, 0, true); /* the shared lane is stuck */
    pthread_mutex_lock(&g.lock);
    while (!g.blocked)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 5; i++)
        gate_submit(l, &g, true, 0, false); /* wait behind it */
    for (int i = 0; i < 40; i++)
        gate_submit(l, &g, false, (uint64_t)i, false);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g.lock);
    while (g.ran < 40)
        if (pthread_cond_timedwait(&g.cond, &g.lock, &until) != 0)
            break;
    int ran = g.ran, on0 = g.on_lane[0], on1 = g.on_lane[1], on2 = g.on_lane[2];
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    assert_int_equal(ran, 40); /* every keyed item, the shared lane still stuck */
    assert_int_equal(on0, 20);
    assert_int_equal(on1, 20);
    assert_int_equal(on2, 0);
    lanes_destroy(l);
    assert_int_equal(g.ran, 45);
    assert_int_equal(g.on_lane[2], 5); /* the shared items ran on the shared lane only */
}

static void test_hash(void **state)
{
    (void)state;
    /* FNV-1a 64 test vectors */
    assert_true(lanes_hash("", 0) == 0xcbf29ce484222325ULL);
    assert_true(lanes_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(lanes_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_hash_keeps_order),
        cmocka_unit_test(test_lanes_run_in_parallel),
        cmocka_unit_test(test_destroy_drains),
        cmocka_unit_test(test_any_lane_runs_beside_a_stuck_lane),
        cmocka_unit_test(test_any_lane_drains),
        cmocka_unit_test(test_pools_keep_keyed_lanes_free),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_stalled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
