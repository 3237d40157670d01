/* warmhint.c - a bounded, process-wide queue of patient ids (warmhint.h). */
#include "warmhint.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HINTS   64
#define HINT_ID 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char ring[HINTS][HINT_ID];
static size_t head, count;
static bool enabled;

void warmhint_enable(bool on)
{
    pthread_mutex_lock(&mu);
    enabled = on;
    head = count = 0;
    pthread_mutex_unlock(&mu);
}

void warmhint_add(const char *patient_id)
{
    if (!patient_id || !patient_id[0] || strlen(patient_id) >= HINT_ID)
        return;
    pthread_mutex_lock(&mu);
    if (enabled && count < HINTS) {
        snprintf(ring[(head + count) % HINTS], HINT_ID, "%s", patient_id);
        count++;
        pthread_cond_signal(&cv);
    }
    pthread_mutex_unlock(&mu);
}

bool warmhint_take(char *id, size_t len, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (count == 0)
        if (pthread_cond_timedwait(&cv, &mu, &until) != 0)
            break;
    bool got = count > 0;
    if (got) {
        snprintf(id, len, "%s", ring[head]);
        head = (head + 1) % HINTS;
        count--;
    }
    pthread_mutex_unlock(&mu);
    return got;
}
