/* fleet_replay.c - the replay guard of signed commands: a signature is good
 * for one Kafka message only (see fleet.h). */
#include "fleet_internal.h"

#include <string.h>

/* KEYS[1] replay:<digest>; ARGV who, ttl_s, claim (1/0): FL_REPLAY_LUA's
 * answer. */
static const struct fl_script replay_script = {
    "replay", FL_REPLAY_LUA "return replay(KEYS[1], ARGV[1], ARGV[2], ARGV[3])\n"};

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
    return fl_replay_answer(f, v, out);
}

sw_err fl_replay_answer(struct fleet *f, long long v, enum fleet_replay *out)
{
    switch (v) {
    case 1:
        *out = FLEET_REPLAY_NEW;
        return SW_OK;
    case 2:
        *out = FLEET_REPLAY_SAME;
        return SW_OK;
    case 3:
        *out = FLEET_REPLAY_OTHER;
        return SW_OK;
    }
    fl_err(f, "replay guard: unexpected answer %lld", v);
    return SW_ERR_REDIS;
}
