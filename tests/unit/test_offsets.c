/* test_offsets.c - the committable position of a partition. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "offsets.h"

#define T "scheduling.commands.book"

/* Marks offset done; returns the new commit position or -1 if it did not move. */
static int64_t done(struct offsets *o, int32_t part, int64_t gen, int64_t off)
{
    int64_t commit = -1;
    return offsets_done(o, T, part, gen, off, &commit) ? commit : -1;
}

static void test_out_of_order(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    offsets_assign(o, T, 0);
    int64_t gen = 0;
    for (int64_t off = 100; off < 105; off++)
        gen = offsets_add(o, T, 0, off);
    assert_true(gen > 0);
    assert_int_equal(offsets_pending(o, T, 0), 5);

    /* table: which offset finishes, and where the commit position goes */
    static const struct {
        int64_t finished, commit;
    } steps[] = {
        {103, -1},  /* 100..102 still running */
        {101, -1},  /* 100 still running */
        {100, 102}, /* 100, 101 done: store 102 */
        {104, -1},  /* 102 still running */
        {102, 105}, /* everything done */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int64_t got = done(o, 0, gen, steps[i].finished);
        if (got != steps[i].commit)
            fail_msg("step %zu (done %lld): commit %lld, expected %lld", i,
                     (long long)steps[i].finished, (long long)got, (long long)steps[i].commit);
    }
    assert_int_equal(offsets_pending(o, T, 0), 0);
    /* a second done mark for a finished offset changes nothing */
    assert_int_equal(done(o, 0, gen, 104), -1);
    /* offsets with gaps (compacted topic): the position is the last + 1 */
    offsets_add(o, T, 0, 200);
    offsets_add(o, T, 0, 250);
    assert_int_equal(done(o, 0, gen, 250), -1);
    assert_int_equal(done(o, 0, gen, 200), 251);
    offsets_destroy(o);
}

static void test_partitions_apart(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    offsets_assign(o, T, 0);
    offsets_assign(o, T, 1);
    offsets_assign(o, "other", 0);
    int64_t g0 = offsets_add(o, T, 0, 10);
    int64_t g1 = offsets_add(o, T, 1, 10);
    int64_t g2 = offsets_add(o, "other", 0, 10);
    assert_true(g0 != g1 && g1 != g2);
    assert_int_equal(done(o, 1, g1, 10), 11);
    assert_int_equal(offsets_pending(o, T, 0), 1);
    assert_int_equal(offsets_pending(o, "other", 0), 1);
    /* not assigned: not tracked */
    assert_int_equal(offsets_add(o, T, 7, 1), -1);
    assert_int_equal(offsets_pending(o, T, 7), 0);
    offsets_destroy(o);
}

static void test_revoke_and_reassign(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    offsets_assign(o, T, 3);
    int64_t old = offsets_add(o, T, 3, 40);
    offsets_add(o, T, 3, 41);
    assert_true(offsets_current(o, T, 3, old));

    offsets_revoke(o, T, 3);
    assert_false(offsets_current(o, T, 3, old));
    assert_int_equal(offsets_pending(o, T, 3), 0);
    assert_int_equal(offsets_add(o, T, 3, 42), -1); /* revoked: not tracked */
    assert_int_equal(done(o, 3, old, 40), -1);      /* a late done mark is ignored */

    offsets_assign(o, T, 3); /* back again, maybe after another replica had it */
    int64_t now = offsets_add(o, T, 3, 41);
    assert_true(now != old);
    assert_false(offsets_current(o, T, 3, old));
    assert_true(offsets_current(o, T, 3, now));
    /* the stale generation's mark for the same offset must not count */
    assert_int_equal(done(o, 3, old, 41), -1);
    assert_int_equal(offsets_pending(o, T, 3), 1);
    assert_int_equal(done(o, 3, now, 41), 42);

    /* assign while already assigned resets too (eager rebalance) */
    offsets_add(o, T, 3, 50);
    offsets_assign(o, T, 3);
    assert_false(offsets_current(o, T, 3, now));
    assert_int_equal(offsets_pending(o, T, 3), 0);
    offsets_destroy(o);
}

static void test_growth(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    offsets_assign(o, T, 0);
    int64_t gen = 0;
    /* 10 in, 5 out, so the ring wraps before it grows past 64 */
    for (int64_t off = 0; off < 10; off++)
        gen = offsets_add(o, T, 0, off);
    for (int64_t off = 0; off < 5; off++)
        assert_int_equal(done(o, 0, gen, off), off + 1);
    const int64_t last = 1000;
    for (int64_t off = 10; off < last; off++)
        assert_int_equal(offsets_add(o, T, 0, off), gen);
    assert_int_equal(offsets_pending(o, T, 0), last - 5);
    /* finish all but offset 5, from the newest down */
    for (int64_t off = last - 1; off > 5; off--)
        assert_int_equal(done(o, 0, gen, off), -1);
    assert_int_equal(done(o, 0, gen, 5), last);
    assert_int_equal(offsets_pending(o, T, 0), 0);
    offsets_destroy(o);
}

struct marker {
    struct offsets *o;
    int64_t gen;
    int first, step, count;
    int64_t max_commit;
};

static void *mark_thread(void *arg)
{
    struct marker *m = arg;
    for (int i = 0; i < m->count; i++) {
        int64_t c = done(m->o, 0, m->gen, m->first + (int64_t)i * m->step);
        if (c > m->max_commit)
            m->max_commit = c;
    }
    return NULL;
}

static void test_concurrent_done(void **state)
{
    (void)state;
    enum { THREADS = 8, PER = 5000 };
    struct offsets *o = offsets_new();
    offsets_assign(o, T, 0);
    int64_t gen = 0;
    for (int64_t off = 0; off < THREADS * PER; off++)
        gen = offsets_add(o, T, 0, off);
    pthread_t th[THREADS];
    struct marker m[THREADS];
    for (int i = 0; i < THREADS; i++) {
        /* thread i marks offsets i, i+8, i+16, ... (interleaved) */
        m[i] = (struct marker){o, gen, i, THREADS, PER, -1};
        assert_int_equal(pthread_create(&th[i], NULL, mark_thread, &m[i]), 0);
    }
    int64_t best = -1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (m[i].max_commit > best)
            best = m[i].max_commit;
    }
    assert_int_equal(best, THREADS * PER);
    assert_int_equal(offsets_pending(o, T, 0), 0);
    offsets_destroy(o);
}

static void test_destroy_null(void **state)
{
    (void)state;
    offsets_destroy(NULL);
}

/* offsets_done_release: payloads come out in offset order, only once
 * every earlier offset is finished; a revocation frees the held ones. */
static int64_t released[16];
static int n_released, n_freed;

static void release_cb(void *ctx, void *payload)
{
    (void)ctx;
    released[n_released++] = *(int64_t *)payload;
    free(payload);
}

static void free_cb(void *payload)
{
    n_freed++;
    free(payload);
}

static int64_t *boxed(int64_t v)
{
    int64_t *p = malloc(sizeof(*p));
    assert_non_null(p);
    *p = v;
    return p;
}

static void test_release_in_order(void **state)
{
    (void)state;
    struct offsets *o = offsets_new();
    offsets_set_free(o, free_cb);
    n_released = n_freed = 0;
    offsets_assign(o, T, 0);
    int64_t gen = 0, commit = -1;
    for (int64_t off = 10; off < 14; off++)
        gen = offsets_add(o, T, 0, off);
    /* 12 and 11 finish first: held */
    assert_int_equal(offsets_done_release(o, T, 0, gen, 12, boxed(12), release_cb, NULL, &commit),
                     0);
    assert_int_equal(offsets_done_release(o, T, 0, gen, 11, boxed(11), release_cb, NULL, &commit),
                     0);
    assert_int_equal(n_released, 0);
    /* 10 finishes: 10, 11, 12 come out in that order; commit 13 */
    assert_int_equal(offsets_done_release(o, T, 0, gen, 10, boxed(10), release_cb, NULL, &commit),
                     1);
    assert_int_equal(n_released, 3);
    assert_int_equal(released[0], 10);
    assert_int_equal(released[1], 11);
    assert_int_equal(released[2], 12);
    assert_int_equal(commit, 13);
    /* a stale generation keeps its payload the caller's */
    int64_t *stale = boxed(13);
    assert_int_equal(offsets_done_release(o, T, 0, gen + 100, 13, stale, release_cb, NULL, &commit),
                     -1);
    free(stale);
    /* 14 arrives and finishes while 13 runs; the revocation frees it unpublished */
    offsets_add(o, T, 0, 14);
    assert_int_equal(offsets_done_release(o, T, 0, gen, 14, boxed(14), release_cb, NULL, &commit),
                     0);
    offsets_revoke(o, T, 0);
    assert_int_equal(n_freed, 1);
    assert_int_equal(n_released, 3);
    offsets_destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order),        cmocka_unit_test(test_partitions_apart),
        cmocka_unit_test(test_revoke_and_reassign), cmocka_unit_test(test_growth),
        cmocka_unit_test(test_concurrent_done),     cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_release_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
