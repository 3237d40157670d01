/* test_fleet_holds.c - slot holds and the waitlist.
 *
 * Against a real redis-server (redis_harness.h). */
#include "redis_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* ---- holds ----------------------------------------------------------------------- */

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

/* ---- read-ahead (fleet_prefetch) -------------------------------------------------- */

static char *cache_get_s(struct fleet *f, const char *key)
{
    char *v = NULL;
    sw_err err = fleet_cache_get(f, key, &v);
    if (err == SW_ERR_NOT_FOUND)
        return strdup("(none)");
    assert_int_equal(err, SW_OK);
    return v;
}

static void expect_cache(struct fleet *f, const char *key, const char *want)
{
    char *v = cache_get_s(f, key);
    assert_string_equal(v, want);
    free(v);
}

static size_t count_holds(struct fleet *f, const char *pract, int64_t from, int64_t to)
{
    struct fleet_hold *h = NULL;
    size_t n = 0;
    assert_int_equal(fleet_holds_list(f, pract, from, to, &h, &n), SW_OK);
    free(h);
    return n;
}

/* What was read ahead is what the command sees, even if Redis changes
 * meanwhile (it was read together with the command's first call); a write
 * through the same fleet forgets it; the end of the command forgets it all. */
static void test_prefetch(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-pf:");
    struct fleet *f = open_fleet(&cfg);
    const int64_t T = 1796112000;
    assert_int_equal(fleet_cache_put(f, "day:P1:a", "A1", 60), SW_OK);
    assert_int_equal(fleet_cache_put(f, "day:P1:b", "B1", 60), SW_OK);
    struct fleet_hold h1 = hold("P1", "s1", T, T + 1800);
    assert_int_equal(fleet_hold_place(f, &h1, 60), SW_OK);
    assert_int_equal(count_holds(f, "P1", T, T + 86400), 1); /* loads the script */

    const char *keys[] = {"day:P1:a", "day:P1:b", "day:P1:c"};
    const char *practs[] = {"P1"};
    fleet_prefetch(f, keys, 3, practs, 1, T - 3600, T + 86400);
    int64_t now;
    assert_int_equal(fleet_now_ms(f, &now), SW_OK); /* the command's first call: all go out */

    /* Redis changes behind the command's back */
    freeReplyObject(raw_cmd("SET t-pf:cache:day:P1:a A2"));
    freeReplyObject(raw_cmd("SET t-pf:cache:day:P1:c C2"));
    freeReplyObject(raw_cmd("DEL t-pf:hold:%s", h1.hold_id));
    expect_cache(f, "day:P1:a", "A1");
    expect_cache(f, "day:P1:b", "B1");
    expect_cache(f, "day:P1:c", "(none)");
    assert_int_equal(count_holds(f, "P1", T, T + 3600), 1);        /* inside the prefetched range */
    assert_int_equal(count_holds(f, "P1", T + 3600, T + 7200), 0); /* filtered by overlap */
    assert_int_equal(count_holds(f, "P1", T, T + 2 * 86400), 0);   /* outside: read now */
    expect_cache(f, "day:P1:x", "(none)");                         /* never prefetched: read */

    /* a write through the fleet: its key is read again */
    assert_int_equal(fleet_cache_put(f, "day:P1:b", "B3", 60), SW_OK);
    expect_cache(f, "day:P1:b", "B3");
    expect_cache(f, "day:P1:a", "A1");
    fleet_prefetch_clear(f);
    expect_cache(f, "day:P1:a", "A2");
    expect_cache(f, "day:P1:c", "C2");
    assert_int_equal(count_holds(f, "P1", T, T + 3600), 0);

    /* a prefetch left unread is read before the next command's answer */
    fleet_prefetch(f, keys, 3, practs, 1, T, T + 3600);
    expect_cache(f, "day:P1:c", "C2");
    fleet_prefetch(f, keys, 3, practs, 1, T, T + 3600);
    fleet_prefetch_clear(f);
    expect_cache(f, "day:P1:a", "A2");
    fleet_destroy(f);
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
    /* windows ahead of today: an entry lives until a day after its window
     * closes, so fixed dates would make this test expire with them */
    const int64_t day0 = (int64_t)time(NULL) / 86400 * 86400 + 2 * 86400;
    for (int i = 0; i < 4; i++) {
        snprintf(w[i].patient_id, sizeof(w[i].patient_id), "pat%d", i);
        snprintf(w[i].appointment_type, sizeof(w[i].appointment_type), "routine");
        if (i == 1)
            snprintf(w[i].practitioner_id, sizeof(w[i].practitioner_id), "P1");
        w[i].earliest = day0 + i;
        w[i].latest = day0 + 86400 + i;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holds),
        cmocka_unit_test(test_prefetch),
        cmocka_unit_test(test_waitlist),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
