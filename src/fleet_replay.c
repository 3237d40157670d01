/* fleet_replay.c - the replay guard of signed commands: a signature is good
 * for one Kafka message only (see fleet.h). */
#include "fleet_internal.h"

#include <string.h>

/* KEYS[1] replay:<digest>; ARGV who, ttl_s, claim (1/0).  1: first sight
 * (claimed when claim = 1), 2: the same message again (a redelivery),
 * 3: another message carried this signature first. */
static const struct fl_script replay_script = {"replay", "\
local v = redis.call('GET', KEYS[1])\n\
if v == ARGV[1] then return 2 end\n\
if v then return 3 end\n\
if ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end\n\
return 1\n"};

sw_err fleet_replay_claim(struct fleet *f, const char *digest, const char *who, int ttl_s,
                          bool claim, enum fleet_replay *out)
{
    char key[FL_KEY_MAX];
    *out = FLEET_REPLAY_NEW;
    sw_err err = fl_key(f, key, sizeof(key), KEY_REPLAY, digest);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, who);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    fl_arg(&a, claim ? "1" : "0");
    redisReply *r = NULL;
    err = fl_eval(f, &replay_script, 1, &a, &r);
    if (err)
        return err;
    long long v = fl_int(r, 0);
    freeReplyObject(r);
    if (v == 2)
        *out = FLEET_REPLAY_SAME;
    else if (v == 3)
        *out = FLEET_REPLAY_OTHER;
    else if (v != 1) {
        fl_err(f, "replay guard: unexpected answer %lld", v);
        return SW_ERR_REDIS;
    }
    return SW_OK;
}
