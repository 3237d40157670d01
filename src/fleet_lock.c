/* fleet_lock.c - exclusive claims in Redis: short locks, leader leases and
 * confirmation numbers, each owned by a string and expiring by itself. */
#include "fleet_internal.h"

#include <openssl/evp.h>
#include <string.h>

#include "buf.h"

/* KEYS[1] lock; ARGV owner.  Deletes the key if it holds owner (1), nothing
 * if it is gone (1), 0 if another owner holds it. */
static const struct fl_script compare_del_script = {"compare_del", "\
local v = redis.call('GET', KEYS[1])\n\
if not v then return 1 end\n\
if v == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end\n\
return 0\n"};

/* KEYS[1] lock; ARGV owner, ttl_ms.  Acquires (SET NX PX) or, if already
 * ours, renews (PEXPIRE): 1; held by another: 0. */
static const struct fl_script lock_script = {"lock", "\
local v = redis.call('GET', KEYS[1])\n\
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return 1 end\n\
if v then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n\
return 1\n"};

/* Deletes a lock key if owner holds it (SW_ERR_BUSY if another does). */
sw_err fl_unlock_key(struct fleet *f, const char *key, const char *owner)
{
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    return fl_eval_owned(f, &compare_del_script, 1, &a);
}

static sw_err lock_or_renew(struct fleet *f, enum key_id space, const char *name, const char *owner,
                            int ttl_ms)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), space, name);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, owner);
    fl_arg_int(&a, ttl_ms > 0 ? ttl_ms : 1);
    return fl_eval_owned(f, &lock_script, 1, &a);
}

sw_err fleet_lock(struct fleet *f, const char *name, const char *owner, int ttl_ms)
{
    return lock_or_renew(f, KEY_LOCK, name, owner, ttl_ms);
}

sw_err fleet_unlock(struct fleet *f, const char *name, const char *owner)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_LOCK, name);
    return err ? err : fl_unlock_key(f, key, owner);
}

sw_err fleet_lease(struct fleet *f, const char *name, const char *owner, int ttl_ms, bool *leader)
{
    *leader = false;
    sw_err err = lock_or_renew(f, KEY_LEASE, name, owner, ttl_ms);
    if (err == SW_OK)
        *leader = true;
    return err == SW_ERR_BUSY ? SW_OK : err;
}

/* KEYS[1] value, KEYS[2] lease; ARGV sha1 of the value read ("" absent),
 * value, ttl_s, owner.  1 written; 0 lease not ours or value changed. */
static const struct fl_script leased_put_script = {"leased_put", "\
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end\n\
local v = redis.call('GET', KEYS[1])\n\
if (v and redis.sha1hex(v) or '') ~= ARGV[1] then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n\
return 1\n"};

void fleet_sha1_hex(const char *value, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (value && EVP_Digest(value, strlen(value), md, &n, EVP_sha1(), NULL) && n == 20)
        hex_encode(md, 20, out);
}

sw_err fleet_cache_put_leased(struct fleet *f, const char *key, const char *expect_sha1,
                              const char *value, int ttl_s, const char *lease, const char *owner)
{
    char k[FL_KEY_MAX], l[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (!err)
        err = fl_key(f, l, sizeof(l), KEY_LEASE, lease);
    if (err)
        return err;
    fl_prefetch_drop_key(f, k);
    struct fl_args a = {0};
    fl_arg(&a, k);
    fl_arg(&a, l);
    fl_arg(&a, expect_sha1);
    fl_arg(&a, value);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    fl_arg(&a, owner);
    return fl_eval_owned(f, &leased_put_script, 2, &a);
}

/* KEYS[1] claim; ARGV request_id, ttl_s.  1 if the code is ours now (new,
 * or already claimed by the same request: ttl renewed), 0 if another
 * request has it. */
static const struct fl_script claim_script = {"confirmation_claim", "\
local v = redis.call('GET', KEYS[1])\n\
if v == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]); return 1 end\n\
if v then return 0 end\n\
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n\
return 1\n"};

sw_err fleet_confirmation_claim(struct fleet *f, const char *code, const char *request_id,
                                int ttl_s)
{
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_CONFIRMATION_CLAIM, code);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, request_id);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    err = fl_eval_owned(f, &claim_script, 1, &a);
    return err == SW_ERR_BUSY ? SW_ERR_CONFLICT : err;
}
