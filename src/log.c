/* log.c - JSON log lines on stderr, with per-thread Kafka context. */
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"

/* Two sets: long-lived secrets (passwords, client secrets, keys, a seed
 * token file) are kept for the process's life, so no number of token
 * refreshes pushes them out; rotating ones (issued tokens) in a ring of the
 * most recent ones, so a long run does not grow without bound. */
#define MAX_LONG_LIVED 256
#define MAX_ROTATING   64

static atomic_int threshold = SW_LOG_INFO; /* changed at run time by a reload */
static char worker[64];

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *long_lived[MAX_LONG_LIVED];
static unsigned n_long_lived;
static char *rotating[MAX_ROTATING];
static unsigned rotating_next;

struct log_context {
    bool set;
    char topic[128];
    int32_t partition;
    int64_t offset;
    char request_id[129];
};
static _Thread_local struct log_context ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sw_log_init(enum sw_log_level level, const char *worker_id)
{
    atomic_store(&threshold, (int)level);
    snprintf(worker, sizeof(worker), "%s", worker_id ? worker_id : "");
}

void sw_log_set_level(enum sw_log_level level)
{
    atomic_store(&threshold, (int)level);
}

enum sw_log_level sw_log_level(void)
{
    return (enum sw_log_level)atomic_load(&threshold);
}

const char *sw_log_level_name(enum sw_log_level level)
{
    return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level]
                                                                          : "info";
}

bool sw_log_level_parse(const char *s, enum sw_log_level *out)
{
    for (unsigned i = 0; s && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum sw_log_level)i;
            return true;
        }
    }
    return false;
}

bool sw_log_enabled(enum sw_log_level level)
{
    return (int)level >= atomic_load_explicit(&threshold, memory_order_relaxed);
}

void sw_log_set_context(const char *topic, int32_t partition, int64_t offset,
                        const char *request_id)
{
    ctx.set = true;
    snprintf(ctx.topic, sizeof(ctx.topic), "%s", topic ? topic : "");
    ctx.partition = partition;
    ctx.offset = offset;
    snprintf(ctx.request_id, sizeof(ctx.request_id), "%s", request_id ? request_id : "");
}

void sw_log_clear_context(void)
{
    ctx.set = false;
}

static bool known_secret(const char *secret)
{
    for (unsigned i = 0; i < n_long_lived; i++)
        if (!strcmp(long_lived[i], secret))
            return true;
    for (unsigned i = 0; i < MAX_ROTATING; i++)
        if (rotating[i] && !strcmp(rotating[i], secret))
            return true;
    return false;
}

bool sw_log_add_secret(const char *secret)
{
    bool ok = true;
    if (!secret || strlen(secret) < 8)
        return true;
    pthread_mutex_lock(&secrets_lock);
    if (!known_secret(secret)) {
        char *copy = n_long_lived < MAX_LONG_LIVED ? strdup(secret) : NULL;
        if (copy)
            long_lived[n_long_lived++] = copy;
        ok = copy != NULL;
    }
    pthread_mutex_unlock(&secrets_lock);
    return ok;
}

void sw_log_add_rotating_secret(const char *secret)
{
    if (!secret || strlen(secret) < 8)
        return;
    pthread_mutex_lock(&secrets_lock);
    if (!known_secret(secret)) {
        unsigned slot = rotating_next++ % MAX_ROTATING;
        if (rotating[slot])
            explicit_bzero(rotating[slot], strlen(rotating[slot]));
        free(rotating[slot]);
        rotating[slot] = strdup(secret);
    }
    pthread_mutex_unlock(&secrets_lock);
}

/* The length of the registered secret that in[0..avail) begins with, or
 * (cut) of the secret whose beginning in runs out in; 0 if none. */
static size_t secret_at(const char *in, size_t avail, bool cut, const char *secret)
{
    if (!secret || secret[0] != in[0])
        return 0;
    size_t n = strlen(secret);
    if (avail >= n && memcmp(in, secret, n) == 0)
        return n;
    if (avail < n && cut && memcmp(in, secret, avail) == 0)
        return avail;
    return 0;
}

#define REDACTED "[redacted]"

/* Copies in to out (at most cap bytes), replacing every registered secret
 * by "[redacted]".  When in was cut short, a secret's beginning at its very
 * end goes too, so no piece of one survives the cut. */
static size_t redact(const char *in, size_t len, bool cut, char *out, size_t cap)
{
    size_t o = 0;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < len && o < cap;) {
        size_t hit = 0;
        for (unsigned s = 0; s < n_long_lived && !hit; s++)
            hit = secret_at(in + i, len - i, cut, long_lived[s]);
        for (unsigned s = 0; s < MAX_ROTATING && !hit; s++)
            hit = secret_at(in + i, len - i, cut, rotating[s]);
        if (hit) {
            size_t r = sizeof(REDACTED) - 1 < cap - o ? sizeof(REDACTED) - 1 : cap - o;
            memcpy(out + o, REDACTED, r);
            o += r;
            i += hit;
        } else {
            out[o++] = in[i++];
        }
    }
    pthread_mutex_unlock(&secrets_lock);
    return o;
}

/* Replaces each byte that does not begin a well-formed UTF-8 sequence
 * (stray, overlong, surrogate, or cut short at the end) by '?', so one bad
 * byte does not cost the whole message. */
static void utf8_sanitize(char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && n >= 3) {
            unsigned char d = (unsigned char)s[i + 1];
            ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d > 0x9F) && !(c == 0xF0 && d < 0x90) &&
                 !(c == 0xF4 && d > 0x8F);
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
}

void sw_log_write(enum sw_log_level level, const char *module, const char *fmt, ...)
{
    char msg[2048], clean[2048 + 64];
    va_list ap;
    va_start(ap, fmt);
    int full = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = strnlen(msg, sizeof(msg));
    len = redact(msg, len, full >= (int)sizeof(msg), clean, sizeof(clean));
    explicit_bzero(msg, sizeof(msg));
    utf8_sanitize(clean, len);

    int64_t now = clock_now_ms(NULL); /* wall time: log lines are read across hosts */
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[96];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));

    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(when));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "module", json_string(module));
    if (worker[0])
        json_object_set_new(line, "worker", json_string(worker));
    json_t *text_msg = json_stringn(clean, len);
    json_object_set_new(line, "msg", text_msg ? text_msg : json_string("(message not UTF-8)"));
    if (ctx.set) {
        json_object_set_new(line, "topic", json_string(ctx.topic));
        json_object_set_new(line, "partition", json_integer(ctx.partition));
        json_object_set_new(line, "offset", json_integer(ctx.offset));
        if (ctx.request_id[0])
            json_object_set_new(line, "request_id", json_string(ctx.request_id));
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text) {
        /* One write per line so concurrent threads never interleave. */
        size_t n = strlen(text);
        text[n] = '\n';
        fwrite(text, 1, n + 1, stderr);
        free(text);
    }
}
