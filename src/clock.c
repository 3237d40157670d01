/* clock.c - the system clock and a manual clock for tests (clock.h). */
#include "clock.h"

#include <errno.h>
#include <time.h>

static int64_t ts_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_now_ms(void *opaque)
{
    (void)opaque;
    return ts_ms(CLOCK_REALTIME);
}

static int64_t sys_mono_ms(void *opaque)
{
    (void)opaque;
    return ts_ms(CLOCK_MONOTONIC);
}

static void sys_sleep_ms(void *opaque, int64_t ms)
{
    (void)opaque;
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const struct sw_clock sw_clock_system = {sys_now_ms, sys_mono_ms, sys_sleep_ms, NULL};

static const struct sw_clock *or_system(const struct sw_clock *c)
{
    return c ? c : &sw_clock_system;
}

int64_t clock_now_ms(const struct sw_clock *c)
{
    c = or_system(c);
    return c->now_ms(c->opaque);
}

int64_t clock_now_s(const struct sw_clock *c)
{
    int64_t ms = clock_now_ms(c);
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int64_t clock_mono_ms(const struct sw_clock *c)
{
    c = or_system(c);
    return c->mono_ms(c->opaque);
}

void clock_sleep_ms(const struct sw_clock *c, int64_t ms)
{
    c = or_system(c);
    c->sleep_ms(c->opaque, ms);
}

static int64_t man_now(void *opaque)
{
    return ((struct sw_manual_clock *)opaque)->now_ms;
}

static int64_t man_mono(void *opaque)
{
    return ((struct sw_manual_clock *)opaque)->mono_ms;
}

static void man_sleep(void *opaque, int64_t ms)
{
    if (ms > 0)
        clock_manual_advance(opaque, ms);
}

void clock_manual_init(struct sw_manual_clock *m, int64_t now_ms)
{
    m->clock = (struct sw_clock){man_now, man_mono, man_sleep, m};
    m->now_ms = now_ms;
    m->mono_ms = 1000000;
}

void clock_manual_advance(struct sw_manual_clock *m, int64_t ms)
{
    m->now_ms += ms;
    m->mono_ms += ms;
}
