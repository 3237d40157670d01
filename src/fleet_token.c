/* fleet_token.c - the fleet's shared OAuth token record (an opaque blob the
 * oauth module seals), the record before it, and the refresh lock. */
#include "fleet_internal.h"

/* KEYS record, prev, lock; ARGV owner, blob.  Only while the lock is ours:
 * copies the current record to prev, writes the new one, releases the
 * lock (1); otherwise 0. */
static const struct fl_script token_put_script = {"token_put", "\
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end\n\
local cur = redis.call('GET', KEYS[1])\n\
if cur then redis.call('SET', KEYS[2], cur) end\n\
redis.call('SET', KEYS[1], ARGV[2])\n\
redis.call('DEL', KEYS[3])\n\
return 1\n"};

sw_err fleet_token_get(struct fleet *f, const char *name, char **blob, size_t *len)
{
    *blob = NULL;
    if (len)
        *len = 0;
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN, name);
    return err ? err : fl_get(f, key, blob, len);
}

sw_err fleet_token_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN_LOCK, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "SET");
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg(&a, "NX");
    fl_arg(&a, "PX");
    fl_arg_int(&a, ttl_ms > 0 ? ttl_ms : 1);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    if (!err && r->type == REDIS_REPLY_NIL) {
        fl_err(f, "token lock %s: held by another owner", name);
        err = SW_ERR_BUSY;
    }
    freeReplyObject(r);
    return err;
}

sw_err fleet_token_put(struct fleet *f, const char *name, const char *owner, const char *blob,
                       size_t len)
{
    char key[FL_KEY_MAX], prev[FL_KEY_MAX], lock[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN, name);
    if (!err)
        err = fl_key(f, prev, sizeof(prev), KEY_TOKEN_PREV, name);
    if (!err)
        err = fl_key(f, lock, sizeof(lock), KEY_TOKEN_LOCK, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, prev);
    fl_arg(&a, lock);
    fl_arg(&a, owner);
    fl_arg_bin(&a, blob, len);
    return fl_eval_owned(f, &token_put_script, 3, &a);
}

sw_err fleet_token_unlock(struct fleet *f, const char *name, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN_LOCK, name);
    return err ? err : fl_unlock_key(f, key, owner);
}
