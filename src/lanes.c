/* lanes.c - per-lane FIFO queues, one thread each, and one shared queue
 * that every lane drains when its own is empty.
 *
 * Locks: a lane's own lock, then (inside it) the shared queue's lock; never
 * the other way round.  A lane looks at the shared queue while holding its
 * own lock, and a submitter to the shared queue wakes a waiting lane under
 * that lane's lock, so no wake-up is lost. */
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
    bool waiting; /* in cond_wait, not yet woken for shared work */
    /* For liveness: whether an item runs now, and when the lane last
     * showed progress (took an item, finished one, or lanes_beat()). */
    atomic_bool busy;
    atomic_int_fast64_t beat_ms;
};

/* The lane the calling thread runs, for lanes_beat(). */
static _Thread_local struct lane *current;

struct lanes {
    int n;       /* every lane */
    int n_keyed; /* lanes [0, n_keyed) take keyed work (hash % n_keyed) */
    int shared0; /* lanes [shared0, n) take the shared queue's work */
    struct lanes_ops ops;
    struct lane *lane;
    pthread_mutex_t any_lock; /* the shared queue */
    struct item *any_head, *any_tail;
};

static struct item *pop(struct item **head, struct item **tail)
{
    struct item *it = *head;
    if (it) {
        *head = it->next;
        if (!*head)
            *tail = NULL;
    }
    return it;
}

static void push(struct item **head, struct item **tail, struct item *it)
{
    if (*tail)
        (*tail)->next = it;
    else
        *head = it;
    *tail = it;
}

/* The lane's next item: its own first, else the shared queue's.  Called
 * with the lane's lock held. */
static struct item *next_item(struct lane *ln)
{
    struct item *it = pop(&ln->head, &ln->tail);
    struct lanes *l = ln->owner;
    if (it || ln->index < l->shared0)
        return it;
    pthread_mutex_lock(&l->any_lock);
    it = pop(&l->any_head, &l->any_tail);
    pthread_mutex_unlock(&l->any_lock);
    return it;
}

static void *lane_main(void *arg)
{
    struct lane *ln = arg;
    const struct lanes_ops *ops = &ln->owner->ops;
    current = ln;
    void *state = ops->init ? ops->init(ops->opaque, ln->index) : NULL;
    for (;;) {
        pthread_mutex_lock(&ln->lock);
        struct item *it;
        while (!(it = next_item(ln)) && !ln->stopping) {
            ln->waiting = true;
            pthread_cond_wait(&ln->cond, &ln->lock);
            ln->waiting = false;
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
    return lanes_new_pools(n, 0, ops);
}

struct lanes *lanes_new_pools(int n_keyed, int n_shared, const struct lanes_ops *ops)
{
    int n = n_keyed + n_shared;
    struct lanes *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->lane = calloc((size_t)n, sizeof(*l->lane));
    if (!l->lane) {
        free(l);
        return NULL;
    }
    l->n = n;
    l->n_keyed = n_keyed;
    l->shared0 = n_shared > 0 ? n_keyed : 0;
    l->ops = *ops;
    pthread_mutex_init(&l->any_lock, NULL);
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
            l->shared0 = 0;
            lanes_destroy(l);
            return NULL;
        }
    }
    return l;
}

static struct item *new_item(void *payload)
{
    struct item *it;
    /* Never drop a command: wait out a transient allocation failure. */
    while (!(it = malloc(sizeof(*it))))
        clock_sleep_ms(NULL, 1);
    it->payload = payload;
    it->next = NULL;
    return it;
}

void lanes_submit(struct lanes *l, uint64_t hash, void *payload)
{
    struct lane *ln = &l->lane[hash % (uint64_t)l->n_keyed];
    struct item *it = new_item(payload);
    pthread_mutex_lock(&ln->lock);
    push(&ln->head, &ln->tail, it);
    pthread_cond_signal(&ln->cond);
    pthread_mutex_unlock(&ln->lock);
}

void lanes_submit_any(struct lanes *l, void *payload)
{
    struct item *it = new_item(payload);
    pthread_mutex_lock(&l->any_lock);
    push(&l->any_head, &l->any_tail, it);
    pthread_mutex_unlock(&l->any_lock);
    /* Wake one waiting lane (marked woken, so the next item wakes another);
     * when every lane is busy, the first to finish finds the item. */
    for (int i = l->shared0; i < l->n; i++) {
        struct lane *ln = &l->lane[i];
        pthread_mutex_lock(&ln->lock);
        bool woke = ln->waiting;
        if (woke) {
            ln->waiting = false;
            pthread_cond_signal(&ln->cond);
        }
        pthread_mutex_unlock(&ln->lock);
        if (woke)
            return;
    }
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
    pthread_mutex_destroy(&l->any_lock);
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
