/* test_fleet.c - the Redis connection (URL, AUTH, db, reconnecting), idempotency
 * records, the token record, the cache, locks and leases, and the key space
 * as the fleet writes it.
 *
 * Against a real redis-server (redis_harness.h). */
#include "redis_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "keys.h"

/* ---- basics --------------------------------------------------------------- */

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
    raw_expect_in_db(3, "t-url:cache:k", "in-db-3");
    fleet_destroy(f);

    /* a unix socket, db from ?db=; the path is percent-decoded */
    const char *under = strrchr(redis_sock, '_');
    assert_non_null(under);
    snprintf(url, sizeof(url), "unix://%.*s%%5F%s?db=2", (int)(under - redis_sock), redis_sock,
             under + 1);
    set(&cfg, "redis.url", url);
    f = open_fleet(&cfg);
    assert_int_equal(fleet_cache_put(f, "k", "in-db-2", 60), SW_OK);
    raw_expect_in_db(2, "t-url:cache:k", "in-db-2");
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
    raw_expect_in_db(2, "t-auth-url:cache:k", "by-url-user");
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

/* Fencing: every attempt a new number; the guard before an OpenEMR write
 * passes only for the current attempt holding its locks, and stretches
 * them; a hand-over is not a crash; a record is bound to its command. */
static void test_idempotency_fencing(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-fence:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    struct fleet_idem x;
    const char *locks[] = {"book:practitioner:p1", "book:patient:q1"};

    assert_int_equal(fleet_idem_begin(a, "f1", "A/1", "d1", 1, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NEW);
    assert_int_equal(x.fence, 1);
    assert_true(x.now_ms > 1700000000000LL);
    fleet_idem_clear(&x);
    /* the guard wants the locks too */
    assert_int_equal(fleet_idem_guard(a, "f1", "A/1", 1, 5000, locks, 2), SW_ERR_BUSY);
    assert_int_equal(fleet_lock(a, locks[0], "A/1", 1000), SW_OK);
    assert_int_equal(fleet_lock(a, locks[1], "A/1", 1000), SW_OK);
    assert_int_equal(fleet_idem_guard(a, "f1", "A/1", 2, 5000, locks, 2), SW_ERR_BUSY); /* fence */
    assert_int_equal(fleet_idem_guard(a, "f1", "B/1", 1, 5000, locks, 2), SW_ERR_BUSY); /* owner */
    assert_int_equal(fleet_idem_guard(a, "f1", "A/1", 1, 5000, locks, 2), SW_OK);
    /* stretched: the lease (1 s) and the locks (1 s) now cover 5 s */
    redisReply *r = raw_cmd("PTTL t-fence:lock:%s", locks[0]);
    assert_true(r->integer > 4000);
    freeReplyObject(r);
    msleep(1200); /* past the 1 s lease: still ours, covered by the guard */
    assert_int_equal(fleet_idem_begin(b, "f1", "B/1", "d1", 1, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_BUSY);
    fleet_idem_clear(&x);
    r = raw_cmd("HGET t-fence:idem:f1 write_until");
    assert_non_null(r->str);
    freeReplyObject(r);

    /* A hands the command over on purpose: B takes over at once, with the
     * next number, and it does not count as a crash */
    assert_int_equal(fleet_idem_handover(b, "f1", "B/1"), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_handover(a, "f1", "A/1"), SW_OK);
    assert_int_equal(fleet_idem_begin(b, "f1", "B/1", "d1", 30, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_TAKEOVER);
    assert_int_equal(x.fence, 2);
    assert_int_equal(x.takeovers, 0);
    assert_true(x.write_until_ms > x.now_ms); /* A's write was covered until then */
    fleet_idem_clear(&x);
    /* A, awake again, can write nothing */
    assert_int_equal(fleet_idem_guard(a, "f1", "A/1", 1, 5000, NULL, 0), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_guard(b, "f1", "B/1", 2, 5000, NULL, 0), SW_OK);

    /* the same request_id for another command: never its result */
    assert_int_equal(fleet_idem_begin(a, "f1", "A/2", "d2", 30, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_MISMATCH);
    fleet_idem_clear(&x);
    assert_int_equal(fleet_idem_finish(b, "f1", "B/1", "{\"status\":\"ok\"}", "t/0/7",
                                       "[{\"t\":\"events\"}]", 60, 60),
                     SW_OK);
    assert_int_equal(fleet_idem_begin(a, "f1", "A/3", "d2", 30, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_MISMATCH);
    assert_null(x.result);
    fleet_idem_clear(&x);
    /* the right command gets the result, its source and its outputs */
    assert_int_equal(fleet_idem_begin(a, "f1", "A/4", "d1", 30, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_DONE);
    assert_string_equal(x.result, "{\"status\":\"ok\"}");
    assert_string_equal(x.source, "t/0/7");
    assert_string_equal(x.outputs, "[{\"t\":\"events\"}]");
    fleet_idem_clear(&x);

    fleet_destroy(a);
    fleet_destroy(b);
    sw_config_free(&cfg);
}

static void test_idempotency(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-idem:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    enum fleet_idem_state st;
    char *result = NULL, *note = NULL;

    assert_int_equal(begin(a, "r1", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_null(result);
    assert_null(note);
    assert_int_equal(begin(b, "r1", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);
    assert_int_equal(fleet_idem_note(b, "r1", "B", "{\"x\":1}", 1), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_note(a, "r1", "A", "{\"confirmation\":\"K7Q2M\"}", 1), SW_OK);
    /* the same owner string beginning again is BUSY too: never two at once */
    assert_int_equal(begin(a, "r1", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);
    /* NULL renews the lease and keeps the note */
    assert_int_equal(fleet_idem_note(a, "r1", "A", NULL, 1), SW_OK);

    /* A dies: after its lease B takes over and sees A's note */
    msleep(1150);
    assert_int_equal(begin(b, "r1", "B", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_non_null(note);
    assert_string_equal(note, "{\"confirmation\":\"K7Q2M\"}");
    free(note);
    note = NULL;
    /* A is no longer the owner */
    assert_int_equal(fleet_idem_note(a, "r1", "A", "{}", 5), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_finish(a, "r1", "A", "{\"late\":1}", "", NULL, 60, 60),
                     SW_ERR_BUSY);
    assert_int_equal(fleet_idem_abandon(a, "r1", "A"), SW_ERR_BUSY);
    assert_int_equal(begin(a, "r1", "A", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_BUSY);

    /* B finishes; everybody gets the stored result */
    assert_int_equal(fleet_idem_finish(b, "r1", "B", "{\"status\":\"ok\"}", "", NULL, 60, 60),
                     SW_OK);
    assert_int_equal(begin(a, "r1", "A", 5, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_DONE);
    assert_string_equal(result, "{\"status\":\"ok\"}");
    free(result);
    result = NULL;
    assert_int_equal(fleet_idem_finish(b, "r1", "B", "{\"again\":1}", "", NULL, 60, 60),
                     SW_ERR_BUSY);
    redisReply *r = raw_cmd("TTL t-idem:idem:r1");
    assert_true(r->integer > 55 && r->integer <= 60);
    freeReplyObject(r);

    /* takeover without a note */
    assert_int_equal(begin(a, "r2", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    msleep(1100);
    assert_int_equal(begin(b, "r2", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_null(note);
    assert_int_equal(last_takeovers, 1);
    /* B dies too: the count goes on (a poison message is recognised) */
    msleep(1100);
    assert_int_equal(begin(a, "r2", "A", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_TAKEOVER);
    assert_int_equal(last_takeovers, 2);
    assert_int_equal(begin(b, "r9", "B", 1, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_int_equal(last_takeovers, 0);

    /* abandon: only the owner's, and then it starts over */
    assert_int_equal(begin(a, "r3", "A", 30, &st, &result, &note), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);
    assert_int_equal(fleet_idem_abandon(b, "r3", "B"), SW_ERR_BUSY);
    assert_int_equal(fleet_idem_abandon(a, "r3", "A"), SW_OK);
    assert_int_equal(begin(b, "r3", "B", 30, &st, &result, &note), SW_OK);
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

/* The replay guard inside the begin: a refused signature begins nothing
 * (no record, no lease taken from a live attempt); an admitted one claims
 * its record as fleet_replay_claim would, then begins. */
static void test_replay_guard_in_begin(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-admit:");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_idem x;
    const char *d = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
    struct fleet_admit stale = {d, "t/0/5", 60, false, FLEET_REPLAY_OTHER};
    /* a new signature out of its window: refused, nothing written */
    assert_int_equal(fleet_idem_begin_admit(f, "r1", "A", "dg", 5, false, &stale, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_REFUSED);
    assert_int_equal(stale.seen, FLEET_REPLAY_NEW);
    redisReply *r = raw_cmd("EXISTS t-admit:replay:%s t-admit:idem:r1", d);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* the first message: claimed and begun in one step */
    struct fleet_admit first = {d, "t/0/5", 60, true, FLEET_REPLAY_OTHER};
    assert_int_equal(fleet_idem_begin_admit(f, "r1", "A", "dg", 5, false, &first, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NEW);
    fleet_idem_clear(&x);
    r = raw_cmd("GET t-admit:replay:%s", d);
    assert_string_equal(r->str, "t/0/5");
    freeReplyObject(r);
    /* another message with that signature: refused; A's lease untouched */
    struct fleet_admit other = {d, "t/1/9", 60, true, FLEET_REPLAY_NEW};
    assert_int_equal(fleet_idem_begin_admit(f, "r1", "B", "dg", 5, true, &other, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_REFUSED);
    assert_int_equal(other.seen, FLEET_REPLAY_OTHER);
    r = raw_cmd("HMGET t-admit:idem:r1 owner fence");
    assert_string_equal(r->element[0]->str, "A");
    assert_string_equal(r->element[1]->str, "1");
    freeReplyObject(r);
    /* the same message again, even out of its window: a redelivery, which
     * meets A's live lease */
    assert_int_equal(fleet_idem_begin_admit(f, "r1", "C", "dg", 5, false, &stale, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_BUSY);
    /* with the epoch asked too: the guard comes first, then the epoch */
    const char *d2 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
    struct fleet_admit fresh = {d2, "t/0/6", 60, true, FLEET_REPLAY_OTHER};
    assert_int_equal(fleet_idem_begin_admit(f, "w1", "A", "dg", 5, true, &fresh, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NO_EPOCH);
    r = raw_cmd("GET t-admit:replay:%s", d2);
    assert_string_equal(r->str, "t/0/6"); /* claimed before the epoch was asked */
    freeReplyObject(r);
    struct fleet_admit again = {d2, "t/0/7", 60, true, FLEET_REPLAY_NEW};
    assert_int_equal(fleet_idem_begin_admit(f, "w1", "A", "dg", 5, true, &again, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_REFUSED);
    assert_int_equal(again.seen, FLEET_REPLAY_OTHER);
    /* no guard: the plain begin */
    assert_int_equal(fleet_idem_begin_admit(f, "r2", "A", "dg", 5, false, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NEW);
    fleet_idem_clear(&x);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* ---- token ---------------------------------------------------------------------- */

/* The replay guard: a look writes nothing; a claim is the first message's;
 * the same message again is a redelivery, another one a replay; the record
 * expires. */
static void test_replay_guard(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-replay:");
    struct fleet *f = open_fleet(&cfg);
    enum fleet_replay seen;
    const char *d = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_int_equal(fleet_replay_claim(f, d, "t/0/5", 60, false, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_NEW);
    redisReply *r = raw_cmd("EXISTS t-replay:replay:%s", d);
    assert_int_equal(r->integer, 0); /* looking wrote nothing */
    freeReplyObject(r);
    assert_int_equal(fleet_replay_claim(f, d, "t/0/5", 60, true, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_NEW);
    assert_int_equal(fleet_replay_claim(f, d, "t/0/5", 60, true, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_SAME);
    assert_int_equal(fleet_replay_claim(f, d, "t/0/5", 60, false, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_SAME);
    assert_int_equal(fleet_replay_claim(f, d, "t/0/6", 60, true, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_OTHER);
    assert_int_equal(fleet_replay_claim(f, d, "t/1/5", 60, false, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_OTHER);
    r = raw_cmd("GET t-replay:replay:%s", d);
    assert_string_equal(r->str, "t/0/5"); /* the first claim stays */
    freeReplyObject(r);
    r = raw_cmd("TTL t-replay:replay:%s", d);
    assert_true(r->integer > 50 && r->integer <= 60);
    freeReplyObject(r);
    assert_int_equal(fleet_replay_claim(f, "e3", "t/0/7", 1, true, &seen), SW_OK);
    msleep(1100);
    assert_int_equal(fleet_replay_claim(f, "e3", "t/0/8", 1, false, &seen), SW_OK);
    assert_int_equal(seen, FLEET_REPLAY_NEW);
    fleet_destroy(f);
    sw_config_free(&cfg);
}

/* The token record: compare-and-set on its version (a store that read an
 * older version writes nothing), the key id beside it, the previous
 * record kept, the lock released by a put and expiring by itself. */
static void test_token(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-token:");
    struct fleet *a = open_fleet(&cfg), *b = open_fleet(&cfg);
    char *blob = NULL;
    size_t len = 0;
    struct fleet_token_meta meta;
    const char v1[] = "enc\0rypted-1", v2[] = "enc\0rypted-2", v3[] = "enc\0rypted-3";
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len, &meta), SW_ERR_NOT_FOUND);
    assert_int_equal(meta.version, 0);
    assert_string_equal(meta.key_id, "");

    assert_int_equal(fleet_token_lock(a, "oauth", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_ERR_BUSY);
    assert_int_equal(fleet_token_unlock(b, "oauth", "B"), SW_ERR_BUSY);
    /* a store that expects a version the record is not at writes nothing */
    assert_int_equal(fleet_token_put(b, "oauth", "B", 3, "kB", v2, sizeof(v2)), SW_ERR_BUSY);
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len, NULL), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_token_put(a, "oauth", "A", 0, "kA", v1, sizeof(v1)), SW_OK);
    assert_int_equal(fleet_token_get(b, "oauth", &blob, &len, &meta), SW_OK);
    assert_int_equal(len, sizeof(v1));
    assert_memory_equal(blob, v1, sizeof(v1));
    assert_int_equal(meta.version, 1);
    assert_string_equal(meta.key_id, "kA");
    free(blob);
    /* put released A's lock */
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_OK);
    /* two writers that both read version 1: the first wins, the second is refused */
    assert_int_equal(fleet_token_put(b, "oauth", "B", 1, "kA", v2, sizeof(v2)), SW_OK);
    assert_int_equal(fleet_token_put(a, "oauth", "A", 1, "kA", v3, sizeof(v3)), SW_ERR_BUSY);
    assert_int_equal(fleet_token_get(a, "oauth", &blob, &len, &meta), SW_OK);
    assert_memory_equal(blob, v2, sizeof(v2));
    assert_int_equal(meta.version, 2);
    free(blob);
    /* the previous record is kept under NAME:prev */
    assert_int_equal(fleet_token_get(a, "oauth:prev", &blob, &len, NULL), SW_OK);
    assert_int_equal(len, sizeof(v1));
    assert_memory_equal(blob, v1, sizeof(v1));
    free(blob);
    /* a put by someone else leaves a held lock alone */
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_OK);
    assert_int_equal(fleet_token_put(a, "oauth", "A", 2, "kA", v3, sizeof(v3)), SW_OK);
    assert_int_equal(fleet_token_lock(a, "oauth", "A", 5000), SW_ERR_BUSY);
    assert_int_equal(fleet_token_unlock(b, "oauth", "B"), SW_OK);
    /* unlock and a lock that expires by itself */
    assert_int_equal(fleet_token_lock(a, "oauth", "A", 100), SW_OK);
    msleep(150);
    assert_int_equal(fleet_token_lock(b, "oauth", "B", 5000), SW_OK);
    assert_int_equal(fleet_token_unlock(b, "oauth", "B"), SW_OK);
    assert_int_equal(fleet_token_lock(a, "oauth", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_unlock(a, "oauth", "A"), SW_OK);
    fleet_destroy(a);
    fleet_destroy(b);
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

    /* The leader's compare-and-set: only the lease holder, only over the
     * value it read. */
    char none[41], v1[41], *got = NULL;
    fleet_sha1_hex(NULL, none);
    assert_string_equal(none, "");
    fleet_sha1_hex("abc", v1);
    assert_string_equal(v1, "a9993e364706816aba3e25717850c26c9cd0d89d"); /* FIPS 180 */
    assert_int_equal(fleet_cache_put_leased(a, "snap", none, "abc", 60, "poller", "A"),
                     SW_ERR_BUSY); /* B leads */
    assert_int_equal(fleet_cache_get(a, "snap", &got), SW_ERR_NOT_FOUND);
    assert_int_equal(fleet_cache_put_leased(b, "snap", none, "abc", 60, "poller", "B"), SW_OK);
    assert_int_equal(fleet_cache_put_leased(b, "snap", none, "xyz", 60, "poller", "B"),
                     SW_ERR_BUSY); /* it is no longer absent */
    assert_int_equal(fleet_cache_put_leased(b, "snap", v1, "xyz", 60, "poller", "B"), SW_OK);
    assert_int_equal(fleet_cache_put_leased(b, "snap", v1, "abc", 60, "poller", "B"),
                     SW_ERR_BUSY); /* written meanwhile: the old view is not put back */
    assert_int_equal(fleet_cache_get(a, "snap", &got), SW_OK);
    assert_string_equal(got, "xyz");
    free(got);

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

/* ---- Redis restarts ----------------------------------------------------------------- */

static void test_reconnect(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-reconnect:");
    set(&cfg, "redis.timeout_ms", "500");
    struct fleet *f = open_fleet(&cfg);
    enum fleet_idem_state st;
    assert_int_equal(begin(f, "r1", "A", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(st, FLEET_IDEM_NEW);

    /* the server's script cache is flushed: EVALSHA falls back to EVAL */
    redisReply *r = raw_cmd("SCRIPT FLUSH");
    freeReplyObject(r);
    assert_int_equal(begin(f, "r1", "B", 30, &st, NULL, NULL), SW_OK);
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
    assert_int_equal(begin(f, "r2", "A", 30, &st, NULL, NULL), SW_ERR_REDIS);
    assert_true(fleet_errstr(f)[0] != '\0');
    assert_true(mono_us() - t0 < 3000000);

    /* it comes back (empty): the next call reconnects and works */
    if (!redis_start())
        fail_msg("could not restart redis-server");
    assert_int_equal(begin(f, "r2", "A", 30, &st, NULL, NULL), SW_OK);
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
    assert_int_equal(begin(f, "r1", "A", 30, &st, NULL, NULL), SW_OK);
    assert_int_equal(fleet_token_lock(f, "password", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_put(f, "password", "A", 0, "k", "one", 3), SW_OK);
    assert_int_equal(fleet_token_lock(f, "password", "A", 5000), SW_OK);
    assert_int_equal(fleet_token_put(f, "password", "A", 1, "k", "two", 3), SW_OK);
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
    enum fleet_replay replay;
    assert_int_equal(fleet_replay_claim(f, "ab12", "t/0/1", 60, true, &replay), SW_OK);

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
    const enum key_id expected[] = {KEY_IDEM,          KEY_TOKEN,
                                    KEY_TOKEN_PREV,    KEY_TOKEN_LOCK,
                                    KEY_TOKEN_META,    KEY_DAY,
                                    KEY_CACHE,         KEY_LOCK_BOOK_PRACTITIONER,
                                    KEY_LEASE_POLLER,  KEY_CONFIRMATION_CLAIM,
                                    KEY_REPLAY,        KEY_LIMIT_GRANTS,
                                    KEY_LIMIT_PERMITS, KEY_LIMIT_BACKOFF,
                                    KEY_BREAKER,       KEY_HOLD,
                                    KEY_HOLDS,         KEY_WAIT,
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
        cmocka_unit_test(test_idempotency_fencing),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_locks_and_leases),
        cmocka_unit_test(test_replay_guard),
        cmocka_unit_test(test_replay_guard_in_begin),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_key_space),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
