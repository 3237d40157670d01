/* fleet_idem.c - idempotency records: one per request_id, so that a
 * command redelivered to any replica runs once and is answered with the
 * first run's result. */
#include "fleet_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- idempotency ---------------------------------------------------------
 *
 * One hash per request_id: state run|done, owner (the attempt), lease_until
 * (Redis ms), fence (grows with every attempt), takeovers (holders that
 * died), handover (1: the last holder let go on purpose), note,
 * write_until (until when a write was covered), digest (of the command),
 * and when done: result, source (the Kafka coordinates that produced it).
 * The hash lives idempotency.ttl_s while in progress, so a note survives
 * until someone takes over however late the redelivery.  The outputs of a
 * finished command live beside it ("idem-out:"), for a shorter time. */

#define NOW_MS                                                                                     \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS[1] record, KEYS[2] outputs; ARGV owner, lease_ms, keep_ms, digest.
 * {'mismatch', false, now} | {'done', result, now, source, outputs|false} |
 * {'new', false, now, fence} | {'busy', false, now} |
 * {'takeover', note|false, now, fence, takeovers, write_until}.  A live
 * lease is BUSY even for the same owner string: two threads (or a begin
 * whose reply was lost and is retried) must never both proceed.  With
 * KEYS[3] (the fleet's epoch), {'noepoch', false, now} while it is absent:
 * checked in the same step, so no record is begun on a Redis that lost its
 * data and was not rebuilt yet, however soon after the loss (ARGV[5] '1'
 * says KEYS[3] is the epoch).  With ARGV[6] (who), the replay guard's step
 * first, on the last key, ARGV[6..8] as replay()'s: {'refused', false,
 * now, v} and nothing begun for a replayed signature (v 3) or a new one
 * that may not be claimed (v 1, ARGV[8] '0'). */
static const struct fl_script idem_begin_script = {"idem_begin", NOW_MS FL_REPLAY_LUA "\
if ARGV[6] then\n\
  local v = replay(KEYS[#KEYS], ARGV[6], ARGV[7], ARGV[8])\n\
  if v == 3 or (v == 1 and ARGV[8] ~= '1') then return {'refused', false, now, v} end\n\
end\n\
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return {'noepoch', false, now} end\n\
local rec = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'note', 'result', 'digest',\n\
                       'takeovers', 'handover', 'write_until', 'source')\n\
if rec[1] and rec[5] and ARGV[4] ~= '' and rec[5] ~= ARGV[4] then return {'mismatch', false, now} end\n\
if rec[1] == 'done' then\n\
  return {'done', rec[4], now, rec[9] or '', redis.call('GET', KEYS[2]) or false}\n\
end\n\
local lease_until = string.format('%.0f', now + tonumber(ARGV[2]))\n\
if not rec[1] then\n\
  redis.call('HSET', KEYS[1], 'state', 'run', 'owner', ARGV[1], 'lease_until', lease_until,\n\
             'fence', 1, 'digest', ARGV[4])\n\
  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
  return {'new', false, now, 1}\n\
end\n\
if tonumber(rec[2] or '0') > now then return {'busy', false, now} end\n\
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', lease_until)\n\
redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)\n\
local n = tonumber(rec[6] or '0')\n\
if rec[7] == '1' then redis.call('HDEL', KEYS[1], 'handover')\n\
else n = redis.call('HINCRBY', KEYS[1], 'takeovers', 1) end\n\
return {'takeover', rec[3] or false, now, fence, n, rec[8] or '0'}\n"};

/* KEYS[1] record; ARGV owner, lease_ms, note (absent: only renew).  1 if
 * done, 0 if the record is not ours (or not in progress). */
static const struct fl_script idem_note_script = {"idem_note", NOW_MS "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] ~= 'run' or rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.0f', now + tonumber(ARGV[2])))\n\
if ARGV[3] then redis.call('HSET', KEYS[1], 'note', ARGV[3]) end\n\
return 1\n"};

/* KEYS[1] record, KEYS[2..] locks; ARGV owner, fence, need_ms.  1 when the
 * lease is ours, live, of this fence, and every lock ours: all then last
 * need_ms more, and write_until records until when; else 0. */
static const struct fl_script idem_guard_script = {"idem_guard", NOW_MS "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner', 'fence', 'lease_until')\n\
if rec[1] ~= 'run' or rec[2] ~= ARGV[1] or rec[3] ~= ARGV[2] then return 0 end\n\
local lease = tonumber(rec[4] or '0')\n\
if lease <= now then return 0 end\n\
for i = 2, #KEYS do\n\
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end\n\
end\n\
local need = tonumber(ARGV[3])\n\
local upto = math.max(lease, now + need)\n\
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.0f', upto),\n\
           'write_until', string.format('%.0f', upto))\n\
for i = 2, #KEYS do\n\
  if redis.call('PTTL', KEYS[i]) < need then redis.call('PEXPIRE', KEYS[i], need) end\n\
end\n\
return 1\n"};

/* KEYS[1] record; ARGV owner.  Ends our lease now, marked as a hand-over. */
static const struct fl_script idem_handover_script = {"idem_handover", NOW_MS "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] ~= 'run' or rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.0f', now), 'handover', 1)\n\
return 1\n"};

/* KEYS[1] record, KEYS[2] outputs; ARGV owner, result, ttl_s, source,
 * outputs, outputs_ttl_s.  Stores the result unless the record is already
 * done or in progress under another owner (0).  A record that vanished
 * (Redis lost it) is written anyway: better late than never. */
static const struct fl_script idem_finish_script = {"idem_finish", "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner', 'digest')\n\
if rec[1] == 'done' then return 0 end\n\
if rec[1] == 'run' and rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('DEL', KEYS[1])\n\
redis.call('HSET', KEYS[1], 'state', 'done', 'owner', ARGV[1], 'result', ARGV[2],\n\
           'source', ARGV[4])\n\
if rec[3] then redis.call('HSET', KEYS[1], 'digest', rec[3]) end\n\
redis.call('EXPIRE', KEYS[1], ARGV[3])\n\
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[6])\n\
else redis.call('DEL', KEYS[2]) end\n\
return 1\n"};

/* KEYS[1] record; ARGV owner.  Deletes an in-progress record of ours (1),
 * nothing to do (1), someone else's or done (0). */
static const struct fl_script idem_abandon_script = {"idem_abandon", "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if not rec[1] then return 1 end\n\
if rec[1] == 'run' and rec[2] == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end\n\
return 0\n"};

/* KEYS[1] the record of request_id and ARGV[1] owner, the first
 * arguments of every idempotency script (key holds the key's name). */
static sw_err idem_args(struct fleet *f, const char *request_id, const char *owner,
                        char key[FL_KEY_MAX], struct fl_args *a)
{
    sw_err err = fl_key(f, key, FL_KEY_MAX, KEY_IDEM, request_id);
    if (!err) {
        fl_arg(a, key);
        fl_arg(a, owner);
    }
    return err;
}

static sw_err outputs_key(struct fleet *f, const char *request_id, char key[FL_KEY_MAX],
                          struct fl_args *a)
{
    sw_err err = fl_key(f, key, FL_KEY_MAX, KEY_IDEM_OUTPUTS, request_id);
    if (!err)
        fl_arg(a, key);
    return err;
}

void fleet_idem_clear(struct fleet_idem *x)
{
    if (!x)
        return;
    free(x->note);
    free(x->result);
    free(x->source);
    free(x->outputs);
    memset(x, 0, sizeof(*x));
}

/* A string element of a reply, malloc'd; NULL when absent.  false when
 * memory ran out. */
static bool dup_elem(const redisReply *r, size_t i, char **out)
{
    const redisReply *e = fl_elem(r, i);
    *out = NULL;
    if (!e || e->type != REDIS_REPLY_STRING)
        return true;
    return (*out = fl_dup(e, NULL)) != NULL;
}

static sw_err idem_begin(struct fleet *f, const char *request_id, const char *owner,
                         const char *digest, int lease_s, bool epoch, struct fleet_admit *g,
                         struct fleet_idem *x)
{
    char key[FL_KEY_MAX], okey[FL_KEY_MAX], ekey[FL_KEY_MAX], rkey[FL_KEY_MAX];
    struct fl_args a = {0};
    int n_keys = 2;
    memset(x, 0, sizeof(*x));
    sw_err err = fl_key(f, key, sizeof(key), KEY_IDEM, request_id);
    if (!err) {
        fl_arg(&a, key);
        err = outputs_key(f, request_id, okey, &a);
    }
    if (!err && epoch && !(err = fl_key(f, ekey, sizeof(ekey), KEY_EPOCH, NULL))) {
        fl_arg(&a, ekey);
        n_keys++;
    }
    if (!err && g && !(err = fl_key(f, rkey, sizeof(rkey), KEY_REPLAY, g->digest))) {
        fl_arg(&a, rkey);
        n_keys++;
    }
    if (err)
        return err;
    fl_arg(&a, owner);
    fl_arg_int(&a, (long long)(lease_s > 0 ? lease_s : 1) * 1000);
    fl_arg_int(&a, (long long)f->idem_keep_s * 1000);
    fl_arg(&a, digest ? digest : "");
    fl_arg(&a, epoch ? "1" : "0");
    if (g) {
        fl_arg(&a, g->who);
        fl_arg_int(&a, g->ttl_s > 0 ? g->ttl_s : 1);
        fl_arg(&a, g->claim ? "1" : "0");
        g->seen = FLEET_REPLAY_NEW;
    }
    redisReply *r = NULL;
    err = fl_eval(f, &idem_begin_script, n_keys, &a, &r);
    if (err)
        goto out;
    char word[16];
    if (!fl_copy(fl_elem(r, 0), word, sizeof(word))) {
        fl_err(f, "idem_begin: unexpected reply");
        err = SW_ERR_REDIS;
        goto out;
    }
    x->now_ms = fl_int(fl_elem(r, 2), 0);
    bool ok = true;
    if (strcmp(word, "new") == 0) {
        x->state = FLEET_IDEM_NEW;
        x->fence = fl_int(fl_elem(r, 3), 1);
    } else if (strcmp(word, "busy") == 0) {
        x->state = FLEET_IDEM_BUSY;
    } else if (strcmp(word, "noepoch") == 0) {
        x->state = FLEET_IDEM_NO_EPOCH;
    } else if (strcmp(word, "refused") == 0 && g) {
        x->state = FLEET_IDEM_REFUSED;
        err = fl_replay_answer(f, fl_int(fl_elem(r, 3), 0), &g->seen);
    } else if (strcmp(word, "mismatch") == 0) {
        x->state = FLEET_IDEM_MISMATCH;
    } else if (strcmp(word, "done") == 0) {
        x->state = FLEET_IDEM_DONE;
        ok =
            dup_elem(r, 1, &x->result) && dup_elem(r, 3, &x->source) && dup_elem(r, 4, &x->outputs);
    } else if (strcmp(word, "takeover") == 0) {
        x->state = FLEET_IDEM_TAKEOVER;
        x->fence = fl_int(fl_elem(r, 3), 1);
        x->takeovers = (int)fl_int(fl_elem(r, 4), 1);
        char wu[32] = "";
        if (fl_copy(fl_elem(r, 5), wu, sizeof(wu)))
            x->write_until_ms = strtoll(wu, NULL, 10);
        ok = dup_elem(r, 1, &x->note);
    } else {
        fl_err(f, "idem_begin: unexpected state %s", word);
        err = SW_ERR_REDIS;
    }
    if (!ok)
        err = SW_ERR_NOMEM;
out:
    freeReplyObject(r);
    if (err)
        fleet_idem_clear(x);
    return err;
}

sw_err fleet_idem_begin(struct fleet *f, const char *request_id, const char *owner,
                        const char *digest, int lease_s, struct fleet_idem *x)
{
    return idem_begin(f, request_id, owner, digest, lease_s, false, NULL, x);
}

sw_err fleet_idem_begin_admit(struct fleet *f, const char *request_id, const char *owner,
                              const char *digest, int lease_s, bool epoch, struct fleet_admit *g,
                              struct fleet_idem *x)
{
    return idem_begin(f, request_id, owner, digest, lease_s, epoch, g, x);
}

sw_err fleet_idem_note(struct fleet *f, const char *request_id, const char *owner, const char *note,
                       int lease_s)
{
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = idem_args(f, request_id, owner, key, &a);
    if (err)
        return err;
    fl_arg_int(&a, (long long)(lease_s > 0 ? lease_s : 1) * 1000);
    if (note) /* NULL: renew the lease, keep the note */
        fl_arg(&a, note);
    return fl_eval_owned(f, &idem_note_script, 1, &a);
}

sw_err fleet_idem_guard(struct fleet *f, const char *request_id, const char *owner, int64_t fence,
                        int need_ms, const char *const *locks, size_t n_locks)
{
    char key[FL_KEY_MAX], lkeys[8][FL_KEY_MAX];
    struct fl_args a = {0};
    if (n_locks > 8)
        return SW_ERR_INTERNAL;
    sw_err err = fl_key(f, key, sizeof(key), KEY_IDEM, request_id);
    if (err)
        return err;
    fl_arg(&a, key);
    for (size_t i = 0; i < n_locks; i++) {
        if ((err = fl_key(f, lkeys[i], sizeof(lkeys[i]), KEY_LOCK, locks[i])))
            return err;
        fl_arg(&a, lkeys[i]);
    }
    fl_arg(&a, owner);
    fl_arg_int(&a, (long long)fence);
    fl_arg_int(&a, need_ms > 0 ? need_ms : 1);
    return fl_eval_owned(f, &idem_guard_script, (int)(1 + n_locks), &a);
}

sw_err fleet_idem_handover(struct fleet *f, const char *request_id, const char *owner)
{
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = idem_args(f, request_id, owner, key, &a);
    return err ? err : fl_eval_owned(f, &idem_handover_script, 1, &a);
}

sw_err fleet_idem_finish(struct fleet *f, const char *request_id, const char *owner,
                         const char *result, const char *source, const char *outputs, int ttl_s,
                         int outputs_ttl_s)
{
    char key[FL_KEY_MAX], okey[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = fl_key(f, key, sizeof(key), KEY_IDEM, request_id);
    if (!err) {
        fl_arg(&a, key);
        err = outputs_key(f, request_id, okey, &a);
    }
    if (err)
        return err;
    fl_arg(&a, owner);
    fl_arg(&a, result);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    fl_arg(&a, source ? source : "");
    fl_arg(&a, outputs ? outputs : "");
    fl_arg_int(&a, outputs_ttl_s > 0 ? outputs_ttl_s : 1);
    return fl_eval_owned(f, &idem_finish_script, 2, &a);
}

sw_err fleet_idem_abandon(struct fleet *f, const char *request_id, const char *owner)
{
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = idem_args(f, request_id, owner, key, &a);
    if (err)
        return err;
    return fl_eval_owned(f, &idem_abandon_script, 1, &a);
}
