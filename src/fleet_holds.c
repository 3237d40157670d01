/* fleet_holds.c - slot holds and the waitlist, shared through Redis.
 *
 * Keys: hold:*, holds:*, wait:* and waitlist (keys.h, docs/redis-keys.md).
 *
 * The hold scripts reach the hashes of the ids in an index by name (the
 * prefix is passed in ARGV), which a Redis Cluster would not allow: the
 * fleet uses one Redis (or a primary with replicas), not a cluster. */
#include "fleet_internal.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 10000 /* most holds or waitlist entries returned at once */

/* KEYS index, hold; ARGV id, practitioner, session, patient, start, end,
 * ttl_ms, hold key prefix.  {1, expires_at_ms} or {0, conflicting id}. */
static const struct fl_script hold_place_script = {"hold_place", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local start, stop = tonumber(ARGV[5]), tonumber(ARGV[6])\n\
for _, hid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n\
  local h = redis.call('HMGET', ARGV[8] .. hid, 'session', 'start', 'end')\n\
  if not h[1] then\n\
    redis.call('ZREM', KEYS[1], hid)  -- expired: reap\n\
  elseif h[1] ~= ARGV[3] and tonumber(h[2]) < stop and tonumber(h[3]) > start then\n\
    return {0, hid}  -- another session holds an overlapping time\n\
  end\n\
end\n\
local ttl = tonumber(ARGV[7])\n\
local expires = string.format('%.0f', now + ttl)\n\
redis.call('HSET', KEYS[2], 'practitioner', ARGV[2], 'session', ARGV[3], 'patient', ARGV[4],\n\
           'start', ARGV[5], 'end', ARGV[6], 'expires_at', expires)\n\
redis.call('PEXPIRE', KEYS[2], ttl)\n\
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])\n\
-- the index lives as long as its longest hold\n\
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end\n\
return {1, tonumber(expires)}\n"};

/* KEYS hold; ARGV id, index key prefix.  1 released, 0 not found. */
static const struct fl_script hold_release_script = {"hold_release", "\
local p = redis.call('HGET', KEYS[1], 'practitioner')\n\
if not p then return 0 end\n\
redis.call('DEL', KEYS[1])\n\
redis.call('ZREM', ARGV[2] .. p, ARGV[1])\n\
return 1\n"};

/* KEYS index; ARGV from, to, hold key prefix.  Live holds overlapping
 * [from, to) in order of start, each {id, practitioner, session, patient,
 * start, end, expires_at}; reaps expired ids on the way. */
static const struct fl_script holds_list_script = {"holds_list", "\
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])\n\
local out = {}\n\
for _, hid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n\
  local h = redis.call('HMGET', ARGV[3] .. hid, 'practitioner', 'session', 'patient',\n\
                       'start', 'end', 'expires_at')\n\
  if not h[1] then\n\
    redis.call('ZREM', KEYS[1], hid)\n\
  elseif tonumber(h[4]) < to and tonumber(h[5]) > from then\n\
    out[#out + 1] = {hid, h[1], h[2], h[3], h[4], h[5], h[6]}\n\
  end\n\
end\n\
return out\n"};

/* Fills a hold from the 6 fields practitioner .. expires_at at r[first]. */
static bool hold_from_reply(const redisReply *r, size_t first, struct fleet_hold *h)
{
    if (!fl_copy(fl_elem(r, first), h->practitioner_id, sizeof(h->practitioner_id)) ||
        !fl_copy(fl_elem(r, first + 1), h->session_id, sizeof(h->session_id)))
        return false;
    fl_copy(fl_elem(r, first + 2), h->patient_id, sizeof(h->patient_id));
    h->start = fl_int(fl_elem(r, first + 3), 0);
    h->end = fl_int(fl_elem(r, first + 4), 0);
    h->expires_at_ms = fl_int(fl_elem(r, first + 5), 0);
    return true;
}

sw_err fleet_hold_place(struct fleet *f, struct fleet_hold *h, int ttl_s)
{
    fl_prefetch_drop_holds(f);
    if (!h->practitioner_id[0] || !h->session_id[0] || h->start >= h->end || ttl_s <= 0)
        return SW_ERR_INVALID;
    char id[33], k_index[FL_KEY_MAX], k_hold[FL_KEY_MAX], hold_prefix[FL_KEY_MAX];
    sw_err err = fl_random_id(id);
    if (err || (err = fl_key(f, k_index, sizeof(k_index), KEY_HOLDS, h->practitioner_id)) ||
        (err = fl_key(f, k_hold, sizeof(k_hold), KEY_HOLD, id)) ||
        (err = fl_key(f, hold_prefix, sizeof(hold_prefix), KEY_HOLD, "")))
        return err;
    struct fl_args a = {0};
    fl_arg(&a, k_index);
    fl_arg(&a, k_hold);
    fl_arg(&a, id);
    fl_arg(&a, h->practitioner_id);
    fl_arg(&a, h->session_id);
    fl_arg(&a, h->patient_id);
    fl_arg_int(&a, h->start);
    fl_arg_int(&a, h->end);
    fl_arg_int(&a, (long long)ttl_s * 1000);
    fl_arg(&a, hold_prefix);
    redisReply *r = NULL;
    err = fl_eval(f, &hold_place_script, 2, &a, &r);
    if (err)
        goto out;
    if (fl_int(fl_elem(r, 0), 0) != 1) {
        err = SW_ERR_CONFLICT;
        goto out;
    }
    memcpy(h->hold_id, id, sizeof(id));
    h->expires_at_ms = fl_int(fl_elem(r, 1), 0);
out:
    freeReplyObject(r);
    return err;
}

sw_err fleet_hold_get(struct fleet *f, const char *hold_id, struct fleet_hold *out)
{
    memset(out, 0, sizeof(*out));
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_HOLD, hold_id);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "HMGET");
    fl_arg(&a, key);
    fl_arg(&a, "practitioner");
    fl_arg(&a, "session");
    fl_arg(&a, "patient");
    fl_arg(&a, "start");
    fl_arg(&a, "end");
    fl_arg(&a, "expires_at");
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    if (err)
        goto out;
    const redisReply *p = fl_elem(r, 0);
    if (!p || p->type == REDIS_REPLY_NIL) {
        err = SW_ERR_NOT_FOUND;
        goto out;
    }
    if (!hold_from_reply(r, 0, out) ||
        strlen(hold_id) >= sizeof(out->hold_id)) { /* can't be: we made it */
        err = SW_ERR_INTERNAL;
        goto out;
    }
    memcpy(out->hold_id, hold_id, strlen(hold_id) + 1);
out:
    freeReplyObject(r);
    return err;
}

sw_err fleet_hold_release(struct fleet *f, const char *hold_id)
{
    fl_prefetch_drop_holds(f);
    char key[FL_KEY_MAX], index_prefix[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_HOLD, hold_id);
    if (!err)
        err = fl_key(f, index_prefix, sizeof(index_prefix), KEY_HOLDS, "");
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg(&a, hold_id);
    fl_arg(&a, index_prefix);
    redisReply *r = NULL;
    err = fl_eval(f, &hold_release_script, 1, &a, &r);
    if (!err && fl_int(r, 0) != 1)
        err = SW_ERR_NOT_FOUND;
    freeReplyObject(r);
    return err;
}

bool fl_holds_append(struct fleet *f, const char *practitioner_id, int64_t from, int64_t to)
{
    const char *sha = fl_script_sha(f, &holds_list_script);
    char k_index[FL_KEY_MAX], hold_prefix[FL_KEY_MAX], n_from[24], n_to[24];
    if (!sha || fl_key(f, k_index, sizeof(k_index), KEY_HOLDS, practitioner_id) ||
        fl_key(f, hold_prefix, sizeof(hold_prefix), KEY_HOLD, ""))
        return false;
    snprintf(n_from, sizeof(n_from), "%lld", (long long)from);
    snprintf(n_to, sizeof(n_to), "%lld", (long long)to);
    const char *argv[] = {"EVALSHA", sha, "1", k_index, n_from, n_to, hold_prefix};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    return redisAppendCommandArgv(f->c, 7, argv, lens) == REDIS_OK;
}

sw_err fl_holds_parse(const redisReply *r, int64_t from, int64_t to, struct fleet_hold **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return SW_ERR_REDIS;
    size_t count = r->elements < LIST_MAX ? r->elements : LIST_MAX;
    if (count == 0)
        return SW_OK;
    struct fleet_hold *list = calloc(count, sizeof(*list));
    if (!list)
        return SW_ERR_NOMEM;
    size_t got = 0;
    for (size_t i = 0; i < count; i++) {
        const redisReply *e = fl_elem(r, i);
        if (fl_copy(fl_elem(e, 0), list[got].hold_id, sizeof(list[got].hold_id)) &&
            hold_from_reply(e, 1, &list[got]) && list[got].start < to && list[got].end > from)
            got++;
    }
    *out = list;
    *n = got;
    return SW_OK;
}

/* The practitioner's prefetched holds reply covering [from, to), if any. */
static const redisReply *prefetched_holds(const struct fleet *f, const char *practitioner_id,
                                          int64_t from, int64_t to)
{
    const struct fl_prefetch *p = &f->pf;
    if (p->deferred || from < p->hold_from || to > p->hold_to)
        return NULL;
    for (int i = 0; i < p->n_holds; i++)
        if (p->holds[i] && !strcmp(p->hold_pract[i], practitioner_id))
            return p->holds[i];
    return NULL;
}

sw_err fleet_holds_list(struct fleet *f, const char *practitioner_id, int64_t from, int64_t to,
                        struct fleet_hold **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const redisReply *pre = prefetched_holds(f, practitioner_id, from, to);
    if (pre)
        return fl_holds_parse(pre, from, to, out, n);
    char k_index[FL_KEY_MAX], hold_prefix[FL_KEY_MAX];
    sw_err err = fl_key(f, k_index, sizeof(k_index), KEY_HOLDS, practitioner_id);
    if (!err)
        err = fl_key(f, hold_prefix, sizeof(hold_prefix), KEY_HOLD, "");
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, k_index);
    fl_arg_int(&a, from);
    fl_arg_int(&a, to);
    fl_arg(&a, hold_prefix);
    redisReply *r = NULL;
    err = fl_eval(f, &holds_list_script, 1, &a, &r);
    if (!err)
        err = fl_holds_parse(r, from, to, out, n);
    freeReplyObject(r);
    return err;
}

/* ---- waitlist ------------------------------------------------------------ */

/* KEYS entry, waitlist; ARGV id, patient, type, practitioner, earliest,
 * latest, expire_at_s (0: never).  Returns joined_ms.  Adding an id that
 * is already there updates it but keeps its place in the queue (a retried
 * join must not send the patient to the back). */
static const struct fl_script wait_add_script = {"waitlist_add", "\
local t = redis.call('TIME')\n\
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])\n\
local joined = math.floor(now_us / 1000)\n\
local old = redis.call('HGET', KEYS[1], 'joined_ms')\n\
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])\n\
if old and score then joined = tonumber(old) else\n\
  -- scored in microseconds so that entries of one millisecond keep order\n\
  score = string.format('%.0f', now_us)\n\
end\n\
redis.call('DEL', KEYS[1])\n\
redis.call('HSET', KEYS[1], 'patient', ARGV[2], 'type', ARGV[3], 'practitioner', ARGV[4],\n\
           'earliest', ARGV[5], 'latest', ARGV[6], 'joined_ms', string.format('%.0f', joined))\n\
if tonumber(ARGV[7]) > 0 then redis.call('EXPIREAT', KEYS[1], ARGV[7]) end\n\
redis.call('ZADD', KEYS[2], score, ARGV[1])\n\
return joined\n"};

/* KEYS entry, waitlist; ARGV id.  1 removed, 0 not found. */
static const struct fl_script wait_remove_script = {"waitlist_remove", "\
local n = redis.call('DEL', KEYS[1])\n\
redis.call('ZREM', KEYS[2], ARGV[1])\n\
return n\n"};

/* KEYS waitlist; ARGV entry key prefix, max.  Entries oldest first, each
 * {id, patient, type, practitioner, earliest, latest, joined_ms}; ids whose
 * hash expired are reaped. */
static const struct fl_script wait_list_script = {"waitlist_list", "\
local out = {}\n\
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do\n\
  local h = redis.call('HMGET', ARGV[1] .. id, 'patient', 'type', 'practitioner',\n\
                       'earliest', 'latest', 'joined_ms')\n\
  if not h[1] then\n\
    redis.call('ZREM', KEYS[1], id)\n\
  else\n\
    out[#out + 1] = {id, h[1], h[2], h[3], h[4], h[5], h[6]}\n\
  end\n\
end\n\
return out\n"};

/* An entry is useless a day after its window closed. */
#define WAIT_KEEP_AFTER_S 86400

sw_err fleet_waitlist_add(struct fleet *f, struct fleet_wait *w)
{
    if (!w->patient_id[0])
        return SW_ERR_INVALID;
    sw_err err = SW_OK;
    if (!w->waitlist_id[0]) {
        char id[33];
        if ((err = fl_random_id(id)))
            return err;
        memcpy(w->waitlist_id, id, sizeof(id));
    }
    char k_entry[FL_KEY_MAX], k_list[FL_KEY_MAX];
    if ((err = fl_key(f, k_entry, sizeof(k_entry), KEY_WAIT, w->waitlist_id)) ||
        (err = fl_key(f, k_list, sizeof(k_list), KEY_WAITLIST, NULL)))
        return err;
    struct fl_args a = {0};
    fl_arg(&a, k_entry);
    fl_arg(&a, k_list);
    fl_arg(&a, w->waitlist_id);
    fl_arg(&a, w->patient_id);
    fl_arg(&a, w->appointment_type);
    fl_arg(&a, w->practitioner_id);
    fl_arg_int(&a, w->earliest);
    fl_arg_int(&a, w->latest);
    fl_arg_int(&a, w->latest > 0 ? w->latest + WAIT_KEEP_AFTER_S : 0);
    redisReply *r = NULL;
    err = fl_eval(f, &wait_add_script, 2, &a, &r);
    if (!err)
        w->joined_ms = fl_int(r, 0);
    freeReplyObject(r);
    return err;
}

sw_err fleet_waitlist_remove(struct fleet *f, const char *waitlist_id)
{
    char k_entry[FL_KEY_MAX], k_list[FL_KEY_MAX];
    sw_err err;
    if ((err = fl_key(f, k_entry, sizeof(k_entry), KEY_WAIT, waitlist_id)) ||
        (err = fl_key(f, k_list, sizeof(k_list), KEY_WAITLIST, NULL)))
        return err;
    struct fl_args a = {0};
    fl_arg(&a, k_entry);
    fl_arg(&a, k_list);
    fl_arg(&a, waitlist_id);
    redisReply *r = NULL;
    err = fl_eval(f, &wait_remove_script, 2, &a, &r);
    if (!err && fl_int(r, 0) != 1)
        err = SW_ERR_NOT_FOUND;
    freeReplyObject(r);
    return err;
}

sw_err fleet_waitlist_list(struct fleet *f, struct fleet_wait **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char k_list[FL_KEY_MAX], entry_prefix[FL_KEY_MAX];
    sw_err err;
    if ((err = fl_key(f, k_list, sizeof(k_list), KEY_WAITLIST, NULL)) ||
        (err = fl_key(f, entry_prefix, sizeof(entry_prefix), KEY_WAIT, "")))
        return err;
    struct fl_args a = {0};
    fl_arg(&a, k_list);
    fl_arg(&a, entry_prefix);
    fl_arg_int(&a, LIST_MAX);
    redisReply *r = NULL;
    struct fleet_wait *list = NULL;
    err = fl_eval(f, &wait_list_script, 1, &a, &r);
    if (err)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY) {
        err = SW_ERR_REDIS;
        goto out;
    }
    if (r->elements == 0)
        goto out;
    list = calloc(r->elements, sizeof(*list));
    if (!list) {
        err = SW_ERR_NOMEM;
        goto out;
    }
    size_t got = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = fl_elem(r, i);
        struct fleet_wait *w = &list[got];
        if (!fl_copy(fl_elem(e, 0), w->waitlist_id, sizeof(w->waitlist_id)) ||
            !fl_copy(fl_elem(e, 1), w->patient_id, sizeof(w->patient_id)))
            continue;
        fl_copy(fl_elem(e, 2), w->appointment_type, sizeof(w->appointment_type));
        fl_copy(fl_elem(e, 3), w->practitioner_id, sizeof(w->practitioner_id));
        w->earliest = fl_int(fl_elem(e, 4), 0);
        w->latest = fl_int(fl_elem(e, 5), 0);
        w->joined_ms = fl_int(fl_elem(e, 6), 0);
        got++;
    }
    *out = list;
    *n = got;
    list = NULL;
out:
    free(list);
    freeReplyObject(r);
    return err;
}
