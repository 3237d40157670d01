/* fleet_ledger.c - the ledger's side in Redis: idempotency records read
 * back from topics.ledger, and the fleet's epoch that says they were. */
#include "fleet_internal.h"

/* KEYS[1] record; ARGV result, digest, ttl_ms.  Writes a done record only
 * when none exists (a live attempt or a newer answer wins): 1 written,
 * 0 not. */
static const struct fl_script ledger_restore_script = {"ledger_restore", "\
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n\
redis.call('HSET', KEYS[1], 'state', 'done', 'owner', 'ledger', 'result', ARGV[1],\n\
           'source', '')\n\
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'digest', ARGV[2]) end\n\
redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
return 1\n"};

/* KEYS[1] epoch, KEYS[2] lock; ARGV owner, value.  Only the rebuild that
 * still holds the lock sets the epoch: a Redis that lost its data again
 * during the rebuild lost the lock too, and is rebuilt again. */
static const struct fl_script epoch_set_script = {"epoch_set", "\
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[2])\n\
return 1\n"};

sw_err fleet_ledger_restore(struct fleet *f, const char *request_id, const char *digest,
                            const char *result, int64_t ttl_ms, bool *restored)
{
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    *restored = false;
    sw_err err = fl_key(f, key, sizeof(key), KEY_IDEM, request_id);
    if (err)
        return err;
    fl_arg(&a, key);
    fl_arg(&a, result);
    fl_arg(&a, digest ? digest : "");
    fl_arg_int(&a, ttl_ms > 0 ? ttl_ms : 1);
    redisReply *r = NULL;
    err = fl_eval(f, &ledger_restore_script, 1, &a, &r);
    if (!err)
        *restored = fl_int(r, 0) == 1;
    freeReplyObject(r);
    return err;
}

sw_err fleet_epoch_set(struct fleet *f, const char *lock_name, const char *owner, const char *value)
{
    char ekey[FL_KEY_MAX], lkey[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = fl_key(f, ekey, sizeof(ekey), KEY_EPOCH, NULL);
    if (!err)
        err = fl_key(f, lkey, sizeof(lkey), KEY_LOCK, lock_name);
    if (err)
        return err;
    fl_arg(&a, ekey);
    fl_arg(&a, lkey);
    fl_arg(&a, owner);
    fl_arg(&a, value);
    return fl_eval_owned(f, &epoch_set_script, 2, &a);
}
