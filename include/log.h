/* log.h - structured JSON log lines on stderr.
 *
 * One line per event: {"time","level","module","msg", then the Kafka
 * coordinates of the command this thread is handling, if any}.  The level
 * is checked before anything is formatted.  Strings registered with
 * sw_log_add_secret() are replaced by "[redacted]" wherever they would
 * appear: a second line of defence, callers never log secrets on purpose. */
#ifndef SW_LOG_H
#define SW_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum sw_log_level { SW_LOG_DEBUG, SW_LOG_INFO, SW_LOG_WARN, SW_LOG_ERROR };

/* Sets the threshold and the worker id put on every line. Not thread-safe:
 * call once at start. */
void sw_log_init(enum sw_log_level level, const char *worker_id);

/* Parses "debug", "info", "warn", "error" in any case ("INFO"); false if
 * unknown. */
bool sw_log_level_parse(const char *s, enum sw_log_level *out);
/* The lower-case name of a level. */
const char *sw_log_level_name(enum sw_log_level level);

/* The threshold now, and changing it while threads log (SIGHUP reload). */
enum sw_log_level sw_log_level(void);
void sw_log_set_level(enum sw_log_level level);

bool sw_log_enabled(enum sw_log_level level);

/* The Kafka coordinates of the command the calling thread handles now;
 * they go on every line this thread logs until cleared. Strings are
 * copied. */
void sw_log_set_context(const char *topic, int32_t partition, int64_t offset,
                        const char *request_id);
void sw_log_clear_context(void);

/* Never let this string reach a log line.  Two kinds, both copied, both
 * ignoring strings shorter than 8 bytes:
 *  - sw_log_add_secret: a long-lived secret (a password, a client secret, a
 *    key, a token read from a file), kept for the process's life (up to 256
 *    distinct ones: false when that is full, or out of memory);
 *  - sw_log_add_rotating_secret: a secret that is replaced as time goes on
 *    (issued access and refresh tokens): the most recent 64 are kept. */
bool sw_log_add_secret(const char *secret);
void sw_log_add_rotating_secret(const char *secret);

void sw_log_write(enum sw_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SW_LOG(level, module, ...)                                                                 \
    do {                                                                                           \
        if (sw_log_enabled(level))                                                                 \
            sw_log_write(level, module, __VA_ARGS__);                                              \
    } while (0)
#define log_debug(module, ...) SW_LOG(SW_LOG_DEBUG, module, __VA_ARGS__)
#define log_info(module, ...)  SW_LOG(SW_LOG_INFO, module, __VA_ARGS__)
#define log_warn(module, ...)  SW_LOG(SW_LOG_WARN, module, __VA_ARGS__)
#define log_error(module, ...) SW_LOG(SW_LOG_ERROR, module, __VA_ARGS__)

#endif
