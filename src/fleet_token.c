/* fleet_token.c - the fleet's shared OAuth token record (an opaque blob the
 * oauth module seals), its metadata (version, sealing key id), the record
 * before it, and the refresh lock. */
#include "fleet_internal.h"

#include <string.h>

/* KEYS record, meta; the record and its metadata in one read. */
static const struct fl_script token_get_script = {"token_get", "\
return {redis.call('GET', KEYS[1]) or false,\n\
        redis.call('HGET', KEYS[2], 'version') or false,\n\
        redis.call('HGET', KEYS[2], 'key_id') or false}\n"};

/* KEYS record, prev, lock, meta; ARGV owner, expected version, key id,
 * blob.  Compare-and-set on the version: only if the record is still the
 * expected version (0: none yet) does it copy the current record to prev,
 * write the new one as version + 1 and release the lock if owner holds it
 * (1); otherwise nothing (0). */
static const struct fl_script token_put_script = {"token_put", "\
local v = tonumber(redis.call('HGET', KEYS[4], 'version') or '0')\n\
if v ~= tonumber(ARGV[2]) then return 0 end\n\
local cur = redis.call('GET', KEYS[1])\n\
if cur then redis.call('SET', KEYS[2], cur) end\n\
redis.call('SET', KEYS[1], ARGV[4])\n\
redis.call('HSET', KEYS[4], 'version', v + 1, 'key_id', ARGV[3])\n\
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end\n\
return 1\n"};

sw_err fleet_token_get(struct fleet *f, const char *name, char **blob, size_t *len,
                       struct fleet_token_meta *meta)
{
    char key[FL_KEY_MAX], mkey[FL_KEY_MAX];
    *blob = NULL;
    if (len)
        *len = 0;
    if (meta)
        memset(meta, 0, sizeof(*meta));
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN, name);
    if (!err)
        err = fl_key(f, mkey, sizeof(mkey), KEY_TOKEN_META, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, mkey);
    redisReply *r = NULL;
    err = fl_eval(f, &token_get_script, 2, &a, &r);
    if (err)
        return err;
    if (meta) {
        meta->version = fl_int(fl_elem(r, 1), 0);
        if (!fl_copy(fl_elem(r, 2), meta->key_id, sizeof(meta->key_id)))
            meta->key_id[0] = '\0';
    }
    *blob = fl_dup(fl_elem(r, 0), len);
    freeReplyObject(r);
    return *blob ? SW_OK : SW_ERR_NOT_FOUND;
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

sw_err fleet_token_put(struct fleet *f, const char *name, const char *owner, long long expect,
                       const char *key_id, const char *blob, size_t len)
{
    char key[FL_KEY_MAX], prev[FL_KEY_MAX], lock[FL_KEY_MAX], meta[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN, name);
    if (!err)
        err = fl_key(f, prev, sizeof(prev), KEY_TOKEN_PREV, name);
    if (!err)
        err = fl_key(f, lock, sizeof(lock), KEY_TOKEN_LOCK, name);
    if (!err)
        err = fl_key(f, meta, sizeof(meta), KEY_TOKEN_META, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, prev);
    fl_arg(&a, lock);
    fl_arg(&a, meta);
    fl_arg(&a, owner);
    fl_arg_int(&a, expect);
    fl_arg(&a, key_id ? key_id : "");
    fl_arg_bin(&a, blob, len);
    err = fl_eval_owned(f, &token_put_script, 4, &a);
    if (err == SW_ERR_BUSY)
        fl_err(f, "token record %s: not version %lld any more", name, expect);
    return err;
}

sw_err fleet_token_unlock(struct fleet *f, const char *name, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_TOKEN_LOCK, name);
    return err ? err : fl_unlock_key(f, key, owner);
}
