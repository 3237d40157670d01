/* test_ledger.c - the ledger's records (encode, decode, what is left of
 * their life), which commands go there, and its side in a real Redis:
 * the epoch that holds write commands back, a record restored only where
 * Redis has none, and the epoch set only under the rebuild lock. */
#include "redis_harness.h"

#include <jansson.h>

#include "keys.h"
#include "ledger.h"

#define RESULT                                                                                     \
    "{\"request_id\":\"r-1\",\"status\":\"ok\",\"result\":{\"note\":\"\\u00e9 \\\"q\\\"\"}}"

static void test_encode_decode(void **state)
{
    (void)state;
    char *v = ledger_record_encode("r-1", "d1g3st", RESULT, 1796190000123LL);
    assert_non_null(v);
    /* the four fields, the result as a string (answered again byte for byte) */
    json_t *o = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 4);
    assert_true(json_is_string(json_object_get(o, "result")));
    json_decref(o);

    struct ledger_record r;
    assert_true(ledger_record_decode(v, strlen(v), &r));
    assert_string_equal(r.request_id, "r-1");
    assert_string_equal(r.digest, "d1g3st");
    assert_string_equal(r.result, RESULT);
    assert_int_equal(r.done_ms, 1796190000123LL);
    ledger_record_clear(&r);
    assert_null(r.request_id);
    free(v);

    /* no digest: "" both ways */
    v = ledger_record_encode("r-2", NULL, RESULT, 5);
    assert_true(ledger_record_decode(v, strlen(v), &r));
    assert_string_equal(r.digest, "");
    ledger_record_clear(&r);
    free(v);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"digest\":\"d\",\"result\":\"{}\",\"done_ms\":1}",                     /* no id */
        "{\"request_id\":\"\",\"digest\":\"d\",\"result\":\"{}\",\"done_ms\":1}", /* empty id */
        "{\"request_id\":\"r\",\"digest\":\"d\",\"done_ms\":1}",                  /* no result */
        "{\"request_id\":\"r\",\"digest\":\"d\",\"result\":{},\"done_ms\":1}",    /* an object */
        "{\"request_id\":\"r\",\"digest\":\"d\",\"result\":\"{}\"}",              /* no time */
        "{\"request_id\":\"r\",\"digest\":\"d\",\"result\":\"{}\",\"done_ms\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ledger_record r;
        if (ledger_record_decode(bad[i], strlen(bad[i]), &r))
            fail_msg("decoded a value that is no ledger record: %s", bad[i]);
        assert_null(r.request_id);
        assert_null(r.result);
    }
    struct ledger_record r;
    assert_false(ledger_record_decode(NULL, 0, &r)); /* a tombstone has no value */
}

static void test_ttl_left(void **state)
{
    (void)state;
    const int64_t done = 1796190000000LL;
    const int day = 86400;
    assert_int_equal(ledger_ttl_left_ms(done, done, 7 * day), 7LL * day * 1000);
    assert_int_equal(ledger_ttl_left_ms(done, done + 1000, 7 * day), 7LL * day * 1000 - 1000);
    assert_int_equal(ledger_ttl_left_ms(done, done + 6LL * day * 1000, 7 * day), 1LL * day * 1000);
    /* exactly its life, or more: expired, not restored */
    assert_true(ledger_ttl_left_ms(done, done + 7LL * day * 1000, 7 * day) <= 0);
    assert_true(ledger_ttl_left_ms(done, done + 30LL * day * 1000, 7 * day) <= 0);
    /* a record from a clock ahead of Redis's counts as new, never longer */
    assert_int_equal(ledger_ttl_left_ms(done + 5000, done, 60), 60000);
}

static void test_wanted(void **state)
{
    (void)state;
    struct sw_config cfg;
    assert_int_equal(sw_config_load(&cfg, NULL, stderr), SW_OK);
    assert_string_equal(cfg.topic_ledger, "scheduling.ledger");
    const enum cmd_type writes[] = {CMD_HOLD,          CMD_RELEASE_HOLD, CMD_BOOK,
                                    CMD_CANCEL,        CMD_RESCHEDULE,   CMD_JOIN_WAITLIST,
                                    CMD_LEAVE_WAITLIST};
    const enum cmd_type reads[] = {CMD_SEARCH_SLOTS, CMD_FIND_PATIENT, CMD_LIST_APPOINTMENTS};
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
        assert_true(ledger_wanted(&cfg, writes[i]));
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        assert_false(ledger_wanted(&cfg, reads[i]));
    /* no ledger topic: nothing goes there, nothing waits for the epoch */
    set(&cfg, "topics.ledger", "");
    assert_false(ledger_wanted(&cfg, CMD_BOOK));
    /* and it is never a reply topic */
    set(&cfg, "topics.ledger", "scheduling.ledger");
    assert_false(sw_config_reply_allowed(&cfg, "scheduling.ledger"));
    sw_config_free(&cfg);
}

static long long pttl(const char *key)
{
    redisReply *r = raw_cmd("PTTL %s", key);
    long long v = r ? r->integer : -3;
    freeReplyObject(r);
    return v;
}

static void test_epoch_and_restore(void **state)
{
    (void)state;
    struct sw_config cfg;
    make_cfg(&cfg, "t-ledger:");
    struct fleet *f = open_fleet(&cfg);
    struct fleet_idem x;

    /* no epoch: a write command begins nothing */
    assert_int_equal(fleet_idem_begin_admit(f, "w1", "A", "dg", 5, true, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NO_EPOCH);
    redisReply *r = raw_cmd("EXISTS t-ledger:idem:w1");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* a read does not wait for it */
    assert_int_equal(fleet_idem_begin(f, "r1", "A", "dg", 5, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NEW);

    /* restored where Redis has nothing, for what is left of its life */
    bool restored = false;
    assert_int_equal(fleet_ledger_restore(f, "w1", "dg", RESULT, 90000, &restored), SW_OK);
    assert_true(restored);
    long long t = pttl("t-ledger:idem:w1");
    assert_true(t > 80000 && t <= 90000);
    /* never over a record Redis has (a live attempt, or the read above) */
    assert_int_equal(fleet_ledger_restore(f, "r1", "dg", RESULT, 90000, &restored), SW_OK);
    assert_false(restored);
    assert_int_equal(fleet_ledger_restore(f, "w1", "dg", "{\"other\":1}", 90000, &restored), SW_OK);
    assert_false(restored);

    /* the epoch only under the rebuild lock */
    const char *lock = key_name(KEY_LOCK_LEDGER);
    assert_non_null(lock);
    assert_int_equal(fleet_epoch_set(f, lock, "A", "e1"), SW_ERR_BUSY);
    assert_int_equal(fleet_lock(f, lock, "B", 5000), SW_OK);
    assert_int_equal(fleet_epoch_set(f, lock, "A", "e1"), SW_ERR_BUSY);
    assert_int_equal(fleet_epoch_set(f, lock, "B", "e1"), SW_OK);
    assert_int_equal(fleet_unlock(f, lock, "B"), SW_OK);
    assert_int_equal(pttl("t-ledger:epoch"), -1); /* no TTL */

    /* with the epoch: the restored record answers, digest and all */
    assert_int_equal(fleet_idem_begin_admit(f, "w1", "A", "dg", 5, true, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_DONE);
    assert_string_equal(x.result, RESULT);
    assert_string_equal(x.source, "");
    fleet_idem_clear(&x);
    assert_int_equal(fleet_idem_begin_admit(f, "w1", "A", "other", 5, true, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_MISMATCH);
    assert_int_equal(fleet_idem_begin_admit(f, "w2", "A", "dg", 5, true, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NEW);

    /* Redis loses its data: write commands wait again */
    freeReplyObject(raw_cmd("FLUSHALL"));
    assert_int_equal(fleet_idem_begin_admit(f, "w2", "A", "dg", 5, true, NULL, &x), SW_OK);
    assert_int_equal(x.state, FLEET_IDEM_NO_EPOCH);

    fleet_destroy(f);
    sw_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode),     cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_ttl_left),          cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_epoch_and_restore),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
