/* fleet_internal.h - what the fleet_*.c files share among themselves.
 *
 * Not a public header: only src/fleet*.c include it (and only they include
 * hiredis.h).  Cross-file helpers carry the fl_ prefix. */
#ifndef SW_FLEET_INTERNAL_H
#define SW_FLEET_INTERNAL_H

#include <hiredis/hiredis.h>

#include "fleet.h"
#include "keys.h"

#define FL_KEY_MAX     512 /* longest key we build */
#define FL_MAX_ARGS    24  /* arguments of one command or script call */
#define FL_MAX_SCRIPTS 24  /* distinct Lua scripts (sha cache per connection) */

/* A Lua script: the source is a string constant; its sha is learnt once per
 * connection with SCRIPT LOAD (see fl_eval). */
struct fl_script {
    const char *name; /* for error messages */
    const char *src;
};

/* The replay guard's step (fleet_replay.c), in Lua, shared by the scripts
 * that make it: replay(key, who, ttl_s, claim) is 1 for a new signature
 * (claimed for who when claim is '1'), 2 for the same message again, 3 for
 * a signature another message carried first. */
#define FL_REPLAY_LUA                                                                              \
    "local function replay(k, who, ttl, claim)\n"                                                  \
    "  local v = redis.call('GET', k)\n"                                                           \
    "  if v == who then return 2 end\n"                                                            \
    "  if v then return 3 end\n"                                                                   \
    "  if claim == '1' then redis.call('SET', k, who, 'EX', ttl) end\n"                            \
    "  return 1\n"                                                                                 \
    "end\n"

struct fl_sha {
    const struct fl_script *script;
    char sha[41];
};

/* Reads sent ahead of the command that needs them (fleet_prefetch): the
 * replies of FL_PF_* commands appended to the connection's output buffer
 * and not yet read go out with the next command, in one write, so they
 * cost no round trip of their own.  Kept until fleet_prefetch_clear() or a
 * write to the same data. */
#define FL_PF_KEYS  64
#define FL_PF_HOLDS 16
struct fl_prefetch {
    int deferred;              /* replies appended but not yet read */
    bool mget_deferred;        /* the first of them is the MGET of keys[] */
    int n_keys;                /* full Redis keys */
    char *keys[FL_PF_KEYS];
    char *vals[FL_PF_KEYS];    /* NULL: absent */
    bool have_vals;            /* the MGET's answer arrived */
    int n_holds;               /* practitioners whose holds were listed */
    char hold_pract[FL_PF_HOLDS][64];
    redisReply *holds[FL_PF_HOLDS]; /* holds_list replies (NULL: none came) */
    int64_t hold_from, hold_to;     /* the range they cover */
};

struct fleet {
    /* where and how to connect (parsed from cfg->redis_url at fleet_new) */
    char *host; /* NULL for a unix socket */
    int port;
    char *unix_path; /* NULL for TCP */
    int db;
    char *username; /* NULL: the default user */
    char *password; /* NULL: no AUTH */
    int timeout_ms;
    char *prefix;
    const struct sw_clock *clock; /* NULL: the system clock */

    /* limiter and breaker settings (copied: the config may be reloaded) */
    int limiter_rps;
    int limiter_concurrency;
    int limiter_permit_ttl_ms;
    int limiter_write_share; /* percent of rate and permits reads may not take */
    int breaker_failures;
    int breaker_open_s;
    int idem_keep_s; /* life of an in-progress idempotency record */

    redisContext *c; /* NULL: connect on the next call */
    struct fl_sha shas[FL_MAX_SCRIPTS];
    int n_shas;
    char err[256];
    struct fl_prefetch pf;
};

/* Arguments of one command: each a (pointer, length) pair, binary safe.
 * Integers are formatted into num[] so the pointers stay valid. */
struct fl_args {
    int n;
    bool overflow;
    const char *v[FL_MAX_ARGS];
    size_t len[FL_MAX_ARGS];
    char num[FL_MAX_ARGS][24];
};

void fl_arg(struct fl_args *a, const char *s);
void fl_arg_bin(struct fl_args *a, const char *s, size_t len);
void fl_arg_int(struct fl_args *a, long long v);

/* Sets the detail fleet_errstr() shows. */
void fl_err(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Builds redis.prefix + the key id (keys.h) with its one field arg (NULL
 * for a key without fields; "" gives the stem Lua scripts append ids to)
 * into buf; SW_ERR_INVALID if it does not fit. */
sw_err fl_key(struct fleet *f, char *buf, size_t len, enum key_id id, const char *arg);

/* Runs a command (connecting first if needed).  On success *out is the
 * reply (caller frees with freeReplyObject); an error reply or a lost
 * connection gives SW_ERR_REDIS with the reason in f->err (a lost
 * connection is dropped, so the next call reconnects). */
sw_err fl_command(struct fleet *f, const struct fl_args *a, redisReply **out);

/* The SHA1 of a script this connection has loaded, or NULL. */
const char *fl_script_sha(struct fleet *f, const struct fl_script *s);

/* Prefetch (fleet_cache.c): reads the deferred replies, in order, into
 * f->pf (called by fl_command after appending its own command); false if
 * the connection failed.  fl_prefetch_drop_key forgets a prefetched value
 * (its key is written); fl_prefetch_drop_holds forgets the holds. */
bool fl_prefetch_collect(struct fleet *f);
/* FL_REPLAY_LUA's answer v as an enum fleet_replay (SW_ERR_REDIS if it is
 * none of 1, 2, 3). */
sw_err fl_replay_answer(struct fleet *f, long long v, enum fleet_replay *out);
void fl_prefetch_drop_key(struct fleet *f, const char *key);
void fl_prefetch_drop_holds(struct fleet *f);
/* Appends the holds_list of a practitioner over [from, to) to the
 * connection's output buffer (fleet_holds.c); false if the script is not
 * loaded yet (nothing appended). */
bool fl_holds_append(struct fleet *f, const char *practitioner_id, int64_t from, int64_t to);
/* The holds of a prefetched holds_list reply overlapping [from, to). */
sw_err fl_holds_parse(const redisReply *r, int64_t from, int64_t to, struct fleet_hold **out,
                      size_t *n);

/* Runs a script with the first nkeys arguments of a as KEYS and the rest as
 * ARGV: EVALSHA, falling back to EVAL on NOSCRIPT. */
sw_err fl_eval(struct fleet *f, const struct fl_script *s, int nkeys, const struct fl_args *a,
               redisReply **out);

/* fl_eval of a script that answers 1 (done) or 0 (not ours: SW_ERR_BUSY). */
sw_err fl_eval_owned(struct fleet *f, const struct fl_script *s, int nkeys,
                     const struct fl_args *a);

/* GET of a full key: a malloc'd copy of the value (*len may be NULL),
 * SW_ERR_NOT_FOUND if none. */
sw_err fl_get(struct fleet *f, const char *key, char **value, size_t *len);

/* Deletes a lock key if owner holds it (or it is gone); SW_ERR_BUSY if
 * another owner does (fleet_lock.c). */
sw_err fl_unlock_key(struct fleet *f, const char *key, const char *owner);

/* Reply accessors: element i of an array reply (NULL if out of range). */
const redisReply *fl_elem(const redisReply *r, size_t i);
/* Integer value of an integer or numeric string reply; def otherwise. */
long long fl_int(const redisReply *r, long long def);
/* Copies a string reply into buf (always terminated); false if it is not
 * a string or does not fit. */
bool fl_copy(const redisReply *r, char *buf, size_t len);
/* malloc'd copy of a string reply (NUL added); NULL if not a string. */
char *fl_dup(const redisReply *r, size_t *len);

/* 128 random bits as 32 hex digits (+ NUL) into out[33]. */
sw_err fl_random_id(char out[33]);

#endif
