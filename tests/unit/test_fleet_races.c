/* test_fleet_races.c - N replicas at the same instant: whatever must have one winner
 * in the fleet has exactly one.
 *
 * Against a real redis-server (redis_harness.h). */
#include "redis_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

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

/* A begin in the shape these tests read: state, result, note, and the
 * takeover count in last_takeovers. */
static int last_takeovers;
static sw_err begin(struct fleet *f, const char *rid, const char *owner, int lease_s,
                    enum fleet_idem_state *st, char **result, char **note)
{
    struct fleet_idem x;
    sw_err err = fleet_idem_begin(f, rid, owner, "digest-1", lease_s, &x);
    if (err)
        return err;
    *st = x.state;
    last_takeovers = x.takeovers;
    if (result) {
        *result = x.result;
        x.result = NULL;
    }
    if (note) {
        *note = x.note;
        x.note = NULL;
    }
    fleet_idem_clear(&x);
    return SW_OK;
}

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
    return begin(f, "race", owner, 30, &st, NULL, NULL) == SW_OK ? (int)st : -1;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_races),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
