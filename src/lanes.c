/* lanes.c - per-lane FIFO queues, one thread each. */
#include "lanes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "clock.h"

struct item {
    void *payload;
    struct item *next;
};

struct lane {
    struct lanes *owner;
    int index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct item *head, *tail;
    bool stopping;
    /* For liveness: whether an item runs now, and when the lane last
     * showed progress (took an item, finished one, or lanes_beat()). */
    atomic_bool busy;
    atomic_int_fast64_t beat_ms;
};

/* The lane the calling thread runs, for lanes_beat(). */
static _Thread_local struct lane *current;

struct lanes {
    int n;
    struct lanes_ops ops;
    struct lane *lane;
};

static void *lane_main(void *arg)
{
    struct lane *ln = arg;
    const struct lanes_ops *ops = &ln->owner->ops;
    current = ln;
    void *state = ops->init ? ops->init(ops->opaque, ln->index) : NULL;
    for (;;) {
        pthread_mutex_lock(&ln->lock);
        while (!ln->head && !ln->stopping)
            pthread_cond_wait(&ln->cond, &ln->lock);
        struct item *it = ln->head;
        if (it) {
            ln->head = it->next;
            if (!ln->head)
                ln->tail = NULL;
        }
        pthread_mutex_unlock(&ln->lock);
        if (!it)
            break; /* stopping and drained */
        atomic_store(&ln->beat_ms, clock_mono_ms(NULL));
        atomic_store(&ln->busy, true);
        ops->run(state, it->payload);
        atomic_store(&ln->busy, false);
        atomic_store(&ln->beat_ms, clock_mono_ms(NULL));
        free(it);
    }
    if (ops->fini)
        ops->fini(state);
    return NULL;
}

struct lanes *lanes_new(int n, const struct lanes_ops *ops)
{
    struct lanes *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->lane = calloc((size_t)n, sizeof(*l->lane));
    if (!l->lane) {
        free(l);
        return NULL;
    }
    l->n = n;
    l->ops = *ops;
    for (int i = 0; i < n; i++) {
        struct lane *ln = &l->lane[i];
        ln->owner = l;
        ln->index = i;
        pthread_mutex_init(&ln->lock, NULL);
        pthread_cond_init(&ln->cond, NULL);
        atomic_init(&ln->busy, false);
        atomic_init(&ln->beat_ms, clock_mono_ms(NULL));
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&l->lane[i].thread, NULL, lane_main, &l->lane[i]) != 0) {
            l->n = i; /* destroy joins only the started ones */
            lanes_destroy(l);
            return NULL;
        }
    }
    return l;
}

void lanes_submit(struct lanes *l, uint64_t hash, void *payload)
{
    struct lane *ln = &l->lane[hash % (uint64_t)l->n];
    struct item *it;
    /* Never drop a command: wait out a transient allocation failure. */
    while (!(it = malloc(sizeof(*it))))
        clock_sleep_ms(NULL, 1);
    it->payload = payload;
    it->next = NULL;
    pthread_mutex_lock(&ln->lock);
    if (ln->tail)
        ln->tail->next = it;
    else
        ln->head = it;
    ln->tail = it;
    pthread_cond_signal(&ln->cond);
    pthread_mutex_unlock(&ln->lock);
}

void lanes_destroy(struct lanes *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++) {
        struct lane *ln = &l->lane[i];
        pthread_mutex_lock(&ln->lock);
        ln->stopping = true;
        pthread_cond_signal(&ln->cond);
        pthread_mutex_unlock(&ln->lock);
    }
    for (int i = 0; i < l->n; i++)
        pthread_join(l->lane[i].thread, NULL);
    free(l->lane);
    free(l);
}

uint64_t lanes_hash(const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    uint64_t h = 14695981039346656037ULL; /* FNV offset basis */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void lanes_beat(void)
{
    if (current)
        atomic_store(&current->beat_ms, clock_mono_ms(NULL));
}

int lanes_stalled(struct lanes *l, int64_t now_ms, int64_t stall_ms, int64_t *idle_ms)
{
    int worst = -1;
    int64_t most = 0;
    for (int i = 0; l && i < l->n; i++) {
        struct lane *ln = &l->lane[i];
        if (!atomic_load(&ln->busy))
            continue;
        int64_t idle = now_ms - atomic_load(&ln->beat_ms);
        if (idle > stall_ms && idle > most) {
            most = idle;
            worst = i;
        }
    }
    if (idle_ms)
        *idle_ms = most;
    return worst;
}
