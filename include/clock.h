/* clock.h - the one clock of the worker: wall time, monotonic time, sleep.
 *
 * Modules that read time or wait take a `const struct sw_clock *` (NULL
 * means the system clock), so tests can drive time with a fake: a clock is
 * three functions and an opaque pointer.  Wall time (epoch ms) is for what
 * is compared across processes (deadlines, appointment times, tokens'
 * expiry); monotonic time for intervals inside one process (backoff,
 * timeouts, rates).  Sleeps resume after a signal and never exceed the
 * asked time by more than the OS adds. */
#ifndef SW_CLOCK_H
#define SW_CLOCK_H

#include <stdint.h>

struct sw_clock {
    int64_t (*now_ms)(void *opaque);  /* wall clock, epoch milliseconds */
    int64_t (*mono_ms)(void *opaque); /* monotonic milliseconds, any origin */
    void (*sleep_ms)(void *opaque, int64_t ms);
    void *opaque;
};

/* The operating system's clocks (CLOCK_REALTIME, CLOCK_MONOTONIC, nanosleep). */
extern const struct sw_clock sw_clock_system;

/* Each accepts NULL for the system clock. */
int64_t clock_now_ms(const struct sw_clock *c);
int64_t clock_now_s(const struct sw_clock *c);
int64_t clock_mono_ms(const struct sw_clock *c);
/* Sleeps ms milliseconds (nothing when ms <= 0). */
void clock_sleep_ms(const struct sw_clock *c, int64_t ms);

/* A manual clock for tests: time moves only when asked (sleep advances it). */
struct sw_manual_clock {
    struct sw_clock clock; /* pass &m.clock */
    int64_t now_ms;        /* wall */
    int64_t mono_ms;
};
void clock_manual_init(struct sw_manual_clock *m, int64_t now_ms);
void clock_manual_advance(struct sw_manual_clock *m, int64_t ms);

#endif
