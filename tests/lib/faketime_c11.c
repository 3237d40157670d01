/* faketime_c11.c - C11 timed waits under libfaketime (make test-dates).
 *
 * libfaketime moves CLOCK_REALTIME for the programs it is preloaded into
 * and corrects the absolute deadlines of pthread_cond_timedwait, but not of
 * C11's cnd_timedwait, which glibc implements without passing through the
 * interposable pthread function.  librdkafka (the worker, the embedded
 * broker, the tests' Kafka clients) computes its deadlines from the faked
 * clock and waits with cnd_timedwait: the kernel, on the real clock, would
 * then wait the whole fake offset (weeks) instead of milliseconds.  This
 * library, preloaded after libfaketime, moves each such deadline back onto
 * the real clock.  Test-only; never linked into anything. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/syscall.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

typedef int (*cnd_timedwait_fn)(cnd_t *, mtx_t *, const struct timespec *);

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    static cnd_timedwait_fn real;
    if (!real)
        real = (cnd_timedwait_fn)dlsym(RTLD_NEXT, "cnd_timedwait");
    if (!real)
        return thrd_error;
    struct timespec fake, kernel;
    if (clock_gettime(CLOCK_REALTIME, &fake) != 0 || /* libfaketime's clock */
        syscall(SYS_clock_gettime, CLOCK_REALTIME, &kernel) != 0)
        return real(cond, mtx, ts);
    long long ns = ((long long)ts->tv_sec - fake.tv_sec + kernel.tv_sec) * 1000000000LL +
                   ts->tv_nsec - fake.tv_nsec + kernel.tv_nsec;
    struct timespec moved = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    if (moved.tv_nsec < 0) {
        moved.tv_nsec += 1000000000L;
        moved.tv_sec--;
    }
    return real(cond, mtx, &moved);
}
