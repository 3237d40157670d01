/* fleet_limit.c - the fleet-wide rate limiter, in-flight semaphore and
 * circuit breaker, shared by every replica through Redis.
 *
 * Keys: limit:* and breaker* (keys.h, docs/redis-keys.md).
 *
 * ---- Rate: a sliding log -------------------------------------------------
 *
 * P limit:grants is a zset of the grants of the last window W (member the
 * permit id, score the grant time on Redis's clock, us).  A request at t is
 * granted iff fewer than rps grants lie in (t - W, t]; else it waits until
 * the oldest one that matters leaves the window.
 *
 * Claim: no window of W holds more than rps grants.  Proof: take any rps
 * + 1 grants in time order; when the last was granted, the other rps were
 * in the log unless older than W, and the log held fewer than rps, so the
 * first is more than W older than the last.
 *
 * Grants are decided on Redis's clock, but OpenEMR sees the requests a
 * little later, each with its own delay (thread wake-up, a new TLS
 * connection, the network).  So W is 1 s stretched by LIMIT_SLACK_PERMILLE
 * (4 %): OpenEMR can only count rps + 1 in one second if the first of them
 * was delayed 40 ms more than the last.  The budget stays about 95 % used
 * under saturation (4 % slack plus the ~1 ms a waiter needs to notice its
 * turn); the issue asks for at least 90 %.
 *
 * A log, not GCRA: GCRA with no burst (the only one that keeps every 1 s
 * window inside rps) spaces grants 1/rps apart, so a command that needs
 * three requests at once waited for two intervals even in an idle fleet;
 * the log lets a quiet fleet's requests go at once and still keeps every
 * window inside the budget.
 *
 * ---- Concurrency ----------------------------------------------------------
 *
 * A zset of permit ids scored by expiry (grant + permit_ttl_ms).  Every
 * acquisition first deletes expired permits (holders that died), then
 * counts.  Rate and permit are checked and taken in one script, so a
 * request never holds one while waiting for the other.
 *
 * ---- Priority -------------------------------------------------------------
 *
 * Permits: a write may take every permit; a read leaves the writes' share
 * free and a background request one more (see below), so a write always
 * finds room quickly when the fleet is busy with searches.
 *
 * Share kept for writes (limiter.write_share, percent S): every read and
 * background grant is also logged in P limit:grants:reads, and while
 * writes are about (one asked within the last second: P limit:writes)
 * reads and background together may hold only floor(rps * (100 - S) /
 * 100) (at least 1) of any window; and they always leave
 * ceil(concurrency * S / 100) permits free (background one more).  A flood
 * of uncached searches therefore cannot fill the budget while bookings
 * come in: a booking finds a free grant at once, or the next one that
 * leaves the window, and a permit at once.  With no write about, reads
 * may use the whole rate (nothing is kept for writes nobody makes; the
 * first write of a quiet spell gets the next grant through the waiting
 * marks below).  S = 0 keeps no share (reads leave 1 permit and
 * background 2 when concurrency >= 3).
 *
 * Waiting: on top of the share, a refused write records itself for a short
 * while (LIMIT_WAITER_TTL_MS, refreshed at every poll) in
 * P limit:waiting:0, and a refused read in P limit:waiting:1.  A read is
 * refused while any write waits, and a background request while any write
 * or read waits: the next rate slot (and the next freed permit) goes to the
 * most urgent waiter.  Nothing is lost when nobody more urgent waits.
 *
 * ---- Back-off -------------------------------------------------------------
 *
 * fleet_limit_backoff() moves P limit:backoff forward (never back); every
 * acquisition waits until then. */
#include "fleet_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define MODULE "fleet"

#define LIMIT_SLACK_PERMILLE 40 /* W = 1 s * (1 + 4 %) */
#define LIMIT_WINDOW_US      (1000LL * (1000 + LIMIT_SLACK_PERMILLE))
#define LIMIT_POLL_MAX_MS    50   /* longest sleep while a permit may free up */
#define LIMIT_SURE_MAX_MS    1000 /* longest sleep for a wait known exactly */
#define LIMIT_WAITER_TTL_MS  250  /* a waiting write/read marks itself this long */

/* KEYS grants, permits, backoff, waiting:0, waiting:1, grants:reads, writes
 * ARGV prio, permit id, rps, concurrency, permit_ttl_ms,
 *      waiter_ttl_ms, deadline_ms (0 none), longest sure sleep (ms),
 *      reads' grants per window (0: no share), permits kept for writes,
 *      window_us
 * Returns {1, 0, now_ms} granted, {0, wait_ms, now_ms, sure, why} not yet,
 * {-1, 0, now_ms} deadline passed (nothing taken).  sure = 1 when nothing
 * can end the wait early (back-off, the rate slot): the caller may sleep
 * it all; 0 when a permit may be released any moment.  why: what held it
 * back (backoff, rate, reads_share, write_waiting, read_waiting, permits). */
static const struct fl_script acquire_script = {"limit_acquire", "\
local t = redis.call('TIME')\n\
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])\n\
local now = math.floor(now_us / 1000)\n\
local prio = tonumber(ARGV[1])\n\
local id = ARGV[2]\n\
local function fmt(x) return string.format('%.0f', x) end\n\
local deadline = tonumber(ARGV[7])\n\
if deadline > 0 and now >= deadline then return {-1, 0, now} end\n\
\n\
-- not granted: a waiting write or read says so (until a little after\n\
-- its next try), so that less urgent callers yield to it\n\
local function refuse(ms, sure, why)\n\
  if ms < 1 then ms = 1 end\n\
  if prio <= 1 then\n\
    local mark = tonumber(ARGV[6])\n\
    if sure == 1 then mark = mark + math.min(ms, tonumber(ARGV[8])) end\n\
    redis.call('ZADD', KEYS[4 + prio], fmt(now + mark), id)\n\
    if redis.call('PTTL', KEYS[4 + prio]) < mark then\n\
      redis.call('PEXPIRE', KEYS[4 + prio], fmt(mark))\n\
    end\n\
  end\n\
  return {0, math.ceil(ms), now, sure, why}\n\
end\n\
\n\
-- 1. fleet-wide back-off after a 429/503\n\
local backoff = tonumber(redis.call('GET', KEYS[3]) or '0')\n\
if backoff > now then return refuse(backoff - now, 1, 'backoff') end\n\
\n\
-- 2. the rate: fewer than max grants in the window (now - W, now] of\n\
-- the log (see the proof in fleet_limit.c); else the wait until enough\n\
-- of them have left it\n\
local window = tonumber(ARGV[11])\n\
local function rate_wait_of(key, max)\n\
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now_us - window))\n\
  local n = redis.call('ZCARD', key)\n\
  if n < max then return 0 end\n\
  local oldest = redis.call('ZRANGE', key, n - max, n - max, 'WITHSCORES')\n\
  return (tonumber(oldest[2]) + window - now_us) / 1000\n\
end\n\
local rate_wait = rate_wait_of(KEYS[1], tonumber(ARGV[3]))\n\
local rate_why = 'rate'\n\
-- reads and background: also their share of the rate, while writes are\n\
-- about (a write asked within the last second: KEYS[7])\n\
local rmax = tonumber(ARGV[9])\n\
if prio == 0 and rmax > 0 then redis.call('SET', KEYS[7], '1', 'PX', 1000) end\n\
if prio >= 1 and rmax > 0 and redis.call('EXISTS', KEYS[7]) == 1 then\n\
  local w = rate_wait_of(KEYS[6], rmax)\n\
  if w > rate_wait then rate_wait, rate_why = w, 'reads_share' end\n\
end\n\
\n\
-- 3. priority: yield to more urgent waiters\n\
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n\
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)\n\
if prio >= 1 and redis.call('ZCARD', KEYS[4]) > 0 then\n\
  return refuse(math.max(rate_wait, 10), 0, 'write_waiting')\n\
end\n\
if prio >= 2 and redis.call('ZCARD', KEYS[5]) > 0 then\n\
  return refuse(math.max(rate_wait, 10), 0, 'read_waiting')\n\
end\n\
\n\
-- 4. an in-flight permit; expired permits belong to dead holders\n\
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n\
local conc = tonumber(ARGV[4])\n\
local reserve = 0\n\
local wres = tonumber(ARGV[10])\n\
if wres < 0 then\n\
  if conc >= 3 then reserve = prio end\n\
elseif prio >= 1 then\n\
  reserve = math.min(wres + prio - 1, conc - 1)\n\
end\n\
if redis.call('ZCARD', KEYS[2]) + reserve >= conc then\n\
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n\
  local ms = 50\n\
  if first[2] then ms = tonumber(first[2]) - now end\n\
  return refuse(math.max(ms, rate_wait), 0, 'permits')\n\
end\n\
if rate_wait > 0 then return refuse(rate_wait, 1, rate_why) end\n\
\n\
-- 5. granted: take both\n\
local keep = fmt(window / 1000 + 1000)\n\
redis.call('ZADD', KEYS[1], fmt(now_us), id)\n\
redis.call('PEXPIRE', KEYS[1], keep)\n\
if prio >= 1 and rmax > 0 then\n\
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', fmt(now_us - window))\n\
  redis.call('ZADD', KEYS[6], fmt(now_us), id)\n\
  redis.call('PEXPIRE', KEYS[6], keep)\n\
end\n\
redis.call('ZADD', KEYS[2], fmt(now + tonumber(ARGV[5])), id)\n\
redis.call('PEXPIRE', KEYS[2], ARGV[5])\n\
if prio <= 1 then redis.call('ZREM', KEYS[4 + prio], id) end\n\
return {1, 0, now}\n"};

/* KEYS backoff; ARGV ms.  Moves "no request before" to now + ms unless it
 * is already later.  Returns the time in force. */
static const struct fl_script backoff_script = {"limit_backoff", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local want = now + tonumber(ARGV[1])\n\
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n\
if want > cur then\n\
  redis.call('SET', KEYS[1], string.format('%.0f', want), 'PX', ARGV[1])\n\
  return want\n\
end\n\
return cur\n"};

/* What limiter.write_share keeps for writes: the grants reads may hold
 * of one window (0: no share) and the permits they leave free (-1: no
 * share, the old reserve of one permit per priority step). */
struct limit_share {
    long long read_grants;
    long long permits;
};

static struct limit_share limit_share_of(const struct fleet *f)
{
    struct limit_share s = {0, -1};
    int pct = f->limiter_write_share;
    if (pct <= 0 || pct >= 100)
        return s;
    s.read_grants = (long long)f->limiter_rps * (100 - pct) / 100;
    if (s.read_grants < 1)
        s.read_grants = 1;
    s.permits = ((long long)f->limiter_concurrency * pct + 99) / 100;
    if (s.permits > f->limiter_concurrency - 1)
        s.permits = f->limiter_concurrency - 1;
    return s;
}

sw_err fleet_limit_acquire(struct fleet *f, enum fleet_priority prio, int64_t deadline_ms,
                           struct fleet_permit *permit, int64_t *waited_ms)
{
    permit->id[0] = '\0';
    permit->waited_for[0] = '\0';
    if (waited_ms)
        *waited_ms = 0;
    if (prio < FLEET_PRIO_WRITE || prio > FLEET_PRIO_BACKGROUND)
        prio = FLEET_PRIO_BACKGROUND;
    char id[33];
    sw_err err = fl_random_id(id);
    if (err)
        return err;
    char k_grants[FL_KEY_MAX], k_permits[FL_KEY_MAX], k_backoff[FL_KEY_MAX], k_w0[FL_KEY_MAX],
        k_w1[FL_KEY_MAX], k_rgrants[FL_KEY_MAX], k_writes[FL_KEY_MAX];
    if ((err = fl_key(f, k_grants, sizeof(k_grants), KEY_LIMIT_GRANTS, NULL)) ||
        (err = fl_key(f, k_writes, sizeof(k_writes), KEY_LIMIT_WRITES, NULL)) ||
        (err = fl_key(f, k_rgrants, sizeof(k_rgrants), KEY_LIMIT_GRANTS_READS, NULL)) ||
        (err = fl_key(f, k_permits, sizeof(k_permits), KEY_LIMIT_PERMITS, NULL)) ||
        (err = fl_key(f, k_backoff, sizeof(k_backoff), KEY_LIMIT_BACKOFF, NULL)) ||
        (err = fl_key(f, k_w0, sizeof(k_w0), KEY_LIMIT_WAITING_WRITE, NULL)) ||
        (err = fl_key(f, k_w1, sizeof(k_w1), KEY_LIMIT_WAITING_READ, NULL)))
        return err;
    struct limit_share share = limit_share_of(f);
    struct fl_args a = {0};
    fl_arg(&a, k_grants);
    fl_arg(&a, k_permits);
    fl_arg(&a, k_backoff);
    fl_arg(&a, k_w0);
    fl_arg(&a, k_w1);
    fl_arg(&a, k_rgrants);
    fl_arg(&a, k_writes);
    fl_arg_int(&a, (long long)prio);
    fl_arg(&a, id);
    fl_arg_int(&a, f->limiter_rps);
    fl_arg_int(&a, f->limiter_concurrency);
    fl_arg_int(&a, f->limiter_permit_ttl_ms);
    fl_arg_int(&a, LIMIT_WAITER_TTL_MS);
    fl_arg_int(&a, (long long)(deadline_ms > 0 ? deadline_ms : 0));
    fl_arg_int(&a, LIMIT_SURE_MAX_MS);
    fl_arg_int(&a, share.read_grants);
    fl_arg_int(&a, share.permits);
    fl_arg_int(&a, LIMIT_WINDOW_US);

    int64_t start = clock_mono_ms(f->clock);
    for (;;) {
        redisReply *r = NULL;
        err = fl_eval(f, &acquire_script, 7, &a, &r);
        if (err)
            return err;
        long long granted = fl_int(fl_elem(r, 0), -2);
        long long wait = fl_int(fl_elem(r, 1), LIMIT_POLL_MAX_MS);
        long long now = fl_int(fl_elem(r, 2), 0);
        bool sure = fl_int(fl_elem(r, 3), 0) == 1;
        if (granted == 0 && !permit->waited_for[0] &&
            !fl_copy(fl_elem(r, 4), permit->waited_for, sizeof(permit->waited_for)))
            snprintf(permit->waited_for, sizeof(permit->waited_for), "unknown");
        freeReplyObject(r);
        if (waited_ms)
            *waited_ms = clock_mono_ms(f->clock) - start;
        if (granted == 1) {
            snprintf(permit->id, sizeof(permit->id), "%s", id);
            return SW_OK;
        }
        if (granted == -1)
            return SW_ERR_EXPIRED;
        if (granted != 0) {
            fl_err(f, "limit_acquire: unexpected reply");
            return SW_ERR_REDIS;
        }
        int64_t cap = sure ? LIMIT_SURE_MAX_MS : LIMIT_POLL_MAX_MS;
        int64_t nap = wait < cap ? wait : cap;
        if (deadline_ms > 0 && deadline_ms - now < nap)
            nap = deadline_ms - now;
        clock_sleep_ms(f->clock, nap > 0 ? nap : 1);
    }
}

void fleet_limit_release(struct fleet *f, struct fleet_permit *permit)
{
    if (!permit || !permit->id[0])
        return;
    char key[FL_KEY_MAX];
    if (fl_key(f, key, sizeof(key), KEY_LIMIT_PERMITS, NULL) == SW_OK) {
        struct fl_args a = {0};
        fl_arg(&a, "ZREM");
        fl_arg(&a, key);
        fl_arg(&a, permit->id);
        redisReply *r = NULL;
        if (fl_command(f, &a, &r) != SW_OK)
            log_warn(MODULE, "permit release failed (it expires by itself): %s", f->err);
        freeReplyObject(r);
    }
    permit->id[0] = '\0';
}

/* KEYS permits; ARGV id, ms.  The permit (if still there) expires ms from
 * now on Redis's clock. */
static const struct fl_script release_after_script = {"limit_release_after", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then\n\
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])\n\
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n\
end\n\
return 1\n"};

void fleet_limit_release_after(struct fleet *f, struct fleet_permit *permit, int ms)
{
    if (!permit || !permit->id[0])
        return;
    char key[FL_KEY_MAX];
    if (ms > 0 && fl_key(f, key, sizeof(key), KEY_LIMIT_PERMITS, NULL) == SW_OK) {
        struct fl_args a = {0};
        fl_arg(&a, key);
        fl_arg(&a, permit->id);
        fl_arg_int(&a, ms);
        redisReply *r = NULL;
        if (fl_eval(f, &release_after_script, 1, &a, &r) != SW_OK)
            log_warn(MODULE, "permit hold failed (it expires by itself): %s", f->err);
        freeReplyObject(r);
    }
    permit->id[0] = '\0';
}

sw_err fleet_limit_backoff(struct fleet *f, int seconds)
{
    if (seconds <= 0)
        return SW_OK;
    char key[FL_KEY_MAX];
    sw_err err = fl_key(f, key, sizeof(key), KEY_LIMIT_BACKOFF, NULL);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, key);
    fl_arg_int(&a, (long long)seconds * 1000);
    redisReply *r = NULL;
    err = fl_eval(f, &backoff_script, 1, &a, &r);
    freeReplyObject(r);
    if (!err)
        log_warn(MODULE, "fleet backs off OpenEMR for %d s", seconds);
    return err;
}

/* ---- circuit breaker ------------------------------------------------------
 *
 * CLOSED: no open_until.  Failures count up (any success resets them);
 * breaker.failures in a row set open_until = now + breaker.open_s: OPEN.
 * When open_until has passed (HALF_OPEN) the first caller that wins
 * SET NX on the probe key gets the one probe; the key's TTL (open_s) lets
 * another caller probe if that one vanishes.  A success in HALF_OPEN closes
 * the circuit; a failure re-opens it for another open_s.  Outcomes of
 * requests that started before the circuit opened and end while it is
 * still OPEN (not yet half-open) change nothing. */

/* KEYS hash, probe; ARGV probe_ttl_ms.  {allow, probe}. */
static const struct fl_script breaker_allow_script = {"breaker_allow", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')\n\
if open_until == 0 then return {1, 0} end\n\
if now < open_until then return {0, 0} end\n\
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {1, 1} end\n\
return {0, 0}\n"};

/* KEYS hash, probe; ARGV success (1|0), failures threshold, open_ms.
 * Returns what happened: closed, opened, reopened, or unchanged. */
static const struct fl_script breaker_record_script = {"breaker_record", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')\n\
local reopen = string.format('%.0f', now + tonumber(ARGV[3]))\n\
if ARGV[1] == '1' then\n\
  if open_until == 0 then redis.call('HDEL', KEYS[1], 'fails'); return 'unchanged' end\n\
  if now < open_until then return 'unchanged' end\n\
  redis.call('DEL', KEYS[1], KEYS[2])\n\
  return 'closed'\n\
end\n\
if open_until ~= 0 then\n\
  if now < open_until then return 'unchanged' end\n\
  redis.call('HSET', KEYS[1], 'open_until', reopen)\n\
  redis.call('DEL', KEYS[2])\n\
  return 'reopened'\n\
end\n\
local n = redis.call('HINCRBY', KEYS[1], 'fails', 1)\n\
if n >= tonumber(ARGV[2]) then\n\
  redis.call('HSET', KEYS[1], 'open_until', reopen, 'fails', 0)\n\
  redis.call('DEL', KEYS[2])\n\
  return 'opened'\n\
end\n\
return 'unchanged'\n"};

/* KEYS hash.  0 closed, 1 open, 2 half-open. */
static const struct fl_script breaker_state_script = {"breaker_state", "\
local t = redis.call('TIME')\n\
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n\
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')\n\
if open_until == 0 then return 0 end\n\
if now < open_until then return 1 end\n\
return 2\n"};

static sw_err breaker_keys(struct fleet *f, char *hash, char *probe)
{
    sw_err err = fl_key(f, hash, FL_KEY_MAX, KEY_BREAKER, NULL);
    if (!err)
        err = fl_key(f, probe, FL_KEY_MAX, KEY_BREAKER_PROBE, NULL);
    return err;
}

/* When Redis cannot answer, the breaker lets requests through: the limiter
 * (which then fails too) and the idempotency rules decide instead. */
bool fleet_breaker_allow(struct fleet *f, bool *probe)
{
    if (probe)
        *probe = false;
    char hash[FL_KEY_MAX], pk[FL_KEY_MAX];
    if (breaker_keys(f, hash, pk))
        return true;
    struct fl_args a = {0};
    fl_arg(&a, hash);
    fl_arg(&a, pk);
    fl_arg_int(&a, (long long)f->breaker_open_s * 1000);
    redisReply *r = NULL;
    if (fl_eval(f, &breaker_allow_script, 2, &a, &r) != SW_OK) {
        log_warn(MODULE, "breaker state unknown (%s): allowing", f->err);
        return true;
    }
    bool allow = fl_int(fl_elem(r, 0), 1) == 1;
    bool is_probe = fl_int(fl_elem(r, 1), 0) == 1;
    freeReplyObject(r);
    if (probe)
        *probe = is_probe;
    if (is_probe)
        log_info(MODULE, "circuit half-open: this request is the probe");
    return allow;
}

void fleet_breaker_record(struct fleet *f, bool success)
{
    char hash[FL_KEY_MAX], pk[FL_KEY_MAX];
    if (breaker_keys(f, hash, pk))
        return;
    struct fl_args a = {0};
    fl_arg(&a, hash);
    fl_arg(&a, pk);
    fl_arg(&a, success ? "1" : "0");
    fl_arg_int(&a, f->breaker_failures);
    fl_arg_int(&a, (long long)f->breaker_open_s * 1000);
    redisReply *r = NULL;
    if (fl_eval(f, &breaker_record_script, 2, &a, &r) != SW_OK) {
        log_warn(MODULE, "breaker outcome not recorded: %s", f->err);
        return;
    }
    char what[16];
    if (fl_copy(r, what, sizeof(what))) {
        if (strcmp(what, "opened") == 0)
            log_warn(MODULE, "circuit opened after %d failures, for %d s", f->breaker_failures,
                     f->breaker_open_s);
        else if (strcmp(what, "reopened") == 0)
            log_warn(MODULE, "probe failed: circuit open again for %d s", f->breaker_open_s);
        else if (strcmp(what, "closed") == 0)
            log_info(MODULE, "probe succeeded: circuit closed");
    }
    freeReplyObject(r);
}

enum fleet_circuit fleet_breaker_state(struct fleet *f)
{
    char hash[FL_KEY_MAX], pk[FL_KEY_MAX];
    if (breaker_keys(f, hash, pk))
        return FLEET_CIRCUIT_CLOSED;
    struct fl_args a = {0};
    fl_arg(&a, hash);
    redisReply *r = NULL;
    if (fl_eval(f, &breaker_state_script, 1, &a, &r) != SW_OK)
        return FLEET_CIRCUIT_CLOSED;
    long long s = fl_int(r, 0);
    freeReplyObject(r);
    return s == 1 ? FLEET_CIRCUIT_OPEN : s == 2 ? FLEET_CIRCUIT_HALF_OPEN : FLEET_CIRCUIT_CLOSED;
}
