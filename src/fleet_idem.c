/* fleet_idem.c - idempotency records: one per request_id, so that a
 * command redelivered to any replica runs once and is answered with the
 * first run's result. */
#include "fleet_internal.h"

#include <string.h>

/* ---- idempotency ---------------------------------------------------------
 *
 * One hash per request_id.  While in progress: state=run, owner, lease_until
 * (Redis ms), and the note if the owner recorded one; the hash itself lives
 * for idempotency.ttl_s so that the note survives until someone takes over,
 * however late the redelivery.  When done: state=done, result, expiring
 * after the caller's ttl. */

/* KEYS[1] record; ARGV owner, lease_ms, keep_ms.
 * Returns {state, payload}: {'new'}, {'done', result}, {'busy'},
 * {'takeover', note|false}.  A live lease is BUSY even for the same owner
 * string: two threads (or a begin whose reply was lost and is retried) must
 * never both proceed, so the worst case is waiting out one lease. */
static const struct fl_script idem_begin_script = {"idem_begin", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until', 'note', 'result')\n\
if rec[1] == 'done' then return {'done', rec[5]} end\n\
local lease_until = string.format('%.0f', now + tonumber(ARGV[2]))\n\
if not rec[1] then\n\
  redis.call('HSET', KEYS[1], 'state', 'run', 'owner', ARGV[1], 'lease_until', lease_until)\n\
  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
  return {'new', false}\n\
end\n\
if tonumber(rec[3] or '0') > now then return {'busy', false} end\n\
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', lease_until)\n\
redis.call('PEXPIRE', KEYS[1], ARGV[3])\n\
local n = redis.call('HINCRBY', KEYS[1], 'takeovers', 1)\n\
return {'takeover', rec[4], n}\n"};

/* KEYS[1] record; ARGV owner, lease_ms, note (absent: only renew).  1 if
 * done, 0 if the record is not ours (or not in progress). */
static const struct fl_script idem_note_script = {"idem_note", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] ~= 'run' or rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('HSET', KEYS[1], 'lease_until', string.format('%.0f', now + tonumber(ARGV[2])))\n\
if ARGV[3] then redis.call('HSET', KEYS[1], 'note', ARGV[3]) end\n\
return 1\n"};

/* KEYS[1] record; ARGV owner, result, ttl_s.  Stores the result unless the
 * record is already done or in progress under another owner (0). A record
 * that vanished (Redis lost it) is written anyway: better late than never. */
static const struct fl_script idem_finish_script = {"idem_finish", "\
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')\n\
if rec[1] == 'done' then return 0 end\n\
if rec[1] == 'run' and rec[2] ~= ARGV[1] then return 0 end\n\
redis.call('DEL', KEYS[1])\n\
redis.call('HSET', KEYS[1], 'state', 'done', 'owner', ARGV[1], 'result', ARGV[2])\n\
redis.call('EXPIRE', KEYS[1], ARGV[3])\n\
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

sw_err fleet_idem_begin(struct fleet *f, const char *request_id, const char *owner, int lease_s,
                        enum fleet_idem_state *state, char **result, char **note)
{
    if (result)
        *result = NULL;
    if (note)
        *note = NULL;
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = idem_args(f, request_id, owner, key, &a);
    if (err)
        return err;
    fl_arg_int(&a, (long long)(lease_s > 0 ? lease_s : 1) * 1000);
    fl_arg_int(&a, (long long)f->idem_keep_s * 1000);
    redisReply *r = NULL;
    err = fl_eval(f, &idem_begin_script, 1, &a, &r);
    if (err)
        goto out;
    char word[16];
    if (!fl_copy(fl_elem(r, 0), word, sizeof(word))) {
        fl_err(f, "idem_begin: unexpected reply");
        err = SW_ERR_REDIS;
        goto out;
    }
    const redisReply *payload = fl_elem(r, 1);
    f->last_takeovers = 0;
    if (strcmp(word, "new") == 0) {
        *state = FLEET_IDEM_NEW;
    } else if (strcmp(word, "busy") == 0) {
        *state = FLEET_IDEM_BUSY;
    } else if (strcmp(word, "done") == 0) {
        *state = FLEET_IDEM_DONE;
        if (result && payload && payload->type == REDIS_REPLY_STRING &&
            !(*result = fl_dup(payload, NULL)))
            err = SW_ERR_NOMEM;
    } else if (strcmp(word, "takeover") == 0) {
        *state = FLEET_IDEM_TAKEOVER;
        f->last_takeovers = (int)fl_int(fl_elem(r, 2), 1);
        if (note && payload && payload->type == REDIS_REPLY_STRING &&
            !(*note = fl_dup(payload, NULL)))
            err = SW_ERR_NOMEM;
    } else {
        fl_err(f, "idem_begin: unexpected state %s", word);
        err = SW_ERR_REDIS;
    }
out:
    freeReplyObject(r);
    return err;
}

int fleet_idem_takeovers(const struct fleet *f)
{
    return f->last_takeovers;
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

sw_err fleet_idem_finish(struct fleet *f, const char *request_id, const char *owner,
                         const char *result, int ttl_s)
{
    char key[FL_KEY_MAX];
    struct fl_args a = {0};
    sw_err err = idem_args(f, request_id, owner, key, &a);
    if (err)
        return err;
    fl_arg(&a, result);
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    return fl_eval_owned(f, &idem_finish_script, 1, &a);
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
