/* offsets.c - per-partition in-flight offsets and the committable position. */
#include "offsets.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    int64_t offset;
    bool done;
    void *payload; /* offsets_done_release: held until the entry is at the head */
};

struct partition {
    char *topic;
    int32_t partition;
    int64_t generation;
    bool assigned;
    struct entry *ring; /* arrival order, head .. head+count */
    size_t cap, head, count;
    struct partition *next;
};

struct offsets {
    pthread_mutex_t lock;
    struct partition *list;
    int64_t next_generation;
    void (*free_payload)(void *payload);
};

struct offsets *offsets_new(void)
{
    struct offsets *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    pthread_mutex_init(&o->lock, NULL);
    o->next_generation = 1;
    return o;
}

void offsets_set_free(struct offsets *o, void (*free_payload)(void *payload))
{
    pthread_mutex_lock(&o->lock);
    o->free_payload = free_payload;
    pthread_mutex_unlock(&o->lock);
}

/* Forgets a partition's entries, freeing the payloads they held. */
static void clear(struct offsets *o, struct partition *p)
{
    for (size_t i = 0; i < p->count; i++) {
        struct entry *e = &p->ring[(p->head + i) % p->cap];
        if (e->payload && o->free_payload)
            o->free_payload(e->payload);
        e->payload = NULL;
    }
    p->head = p->count = 0;
}

void offsets_destroy(struct offsets *o)
{
    if (!o)
        return;
    for (struct partition *p = o->list, *next; p; p = next) {
        next = p->next;
        clear(o, p);
        free(p->topic);
        free(p->ring);
        free(p);
    }
    pthread_mutex_destroy(&o->lock);
    free(o);
}

static struct partition *find(struct offsets *o, const char *topic, int32_t partition)
{
    for (struct partition *p = o->list; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return p;
    return NULL;
}

void offsets_assign(struct offsets *o, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (p)
            p->topic = strdup(topic);
        if (!p || !p->topic) {
            free(p);
            goto out;
        }
        p->partition = partition;
        p->next = o->list;
        o->list = p;
    }
    p->assigned = true;
    p->generation = o->next_generation++;
    clear(o, p);
out:
    pthread_mutex_unlock(&o->lock);
}

void offsets_revoke(struct offsets *o, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    if (p) {
        p->assigned = false;
        clear(o, p);
    }
    pthread_mutex_unlock(&o->lock);
}

int64_t offsets_add(struct offsets *o, const char *topic, int32_t partition, int64_t offset)
{
    int64_t gen = -1;
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    if (!p || !p->assigned)
        goto out;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct entry *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            goto out;
        for (size_t i = 0; i < p->count; i++)
            ring[i] = p->ring[(p->head + i) % p->cap];
        free(p->ring);
        p->ring = ring;
        p->cap = cap;
        p->head = 0;
    }
    p->ring[(p->head + p->count) % p->cap] = (struct entry){offset, false, NULL};
    p->count++;
    gen = p->generation;
out:
    pthread_mutex_unlock(&o->lock);
    return gen;
}

int offsets_done_release(struct offsets *o, const char *topic, int32_t partition,
                         int64_t generation, int64_t offset, void *payload,
                         void (*release)(void *ctx, void *payload), void *ctx, int64_t *commit)
{
    int moved = -1;
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    if (!p || !p->assigned || p->generation != generation)
        goto out;
    moved = 0;
    for (size_t i = 0; i < p->count; i++) {
        struct entry *e = &p->ring[(p->head + i) % p->cap];
        if (e->offset == offset) {
            e->done = true;
            e->payload = payload;
            payload = NULL;
            break;
        }
    }
    if (payload && o->free_payload) /* not in flight here: nothing to publish it after */
        o->free_payload(payload);
    while (p->count > 0 && p->ring[p->head].done) {
        struct entry *e = &p->ring[p->head];
        if (e->payload && release)
            release(ctx, e->payload);
        else if (e->payload && o->free_payload)
            o->free_payload(e->payload);
        e->payload = NULL;
        *commit = e->offset + 1;
        p->head = (p->head + 1) % p->cap;
        p->count--;
        moved = 1;
    }
out:
    pthread_mutex_unlock(&o->lock);
    return moved;
}

bool offsets_done(struct offsets *o, const char *topic, int32_t partition, int64_t generation,
                  int64_t offset, int64_t *commit)
{
    return offsets_done_release(o, topic, partition, generation, offset, NULL, NULL, NULL,
                                commit) == 1;
}

int offsets_pending(struct offsets *o, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    int n = p && p->assigned ? (int)p->count : 0;
    pthread_mutex_unlock(&o->lock);
    return n;
}

bool offsets_current(struct offsets *o, const char *topic, int32_t partition, int64_t generation)
{
    pthread_mutex_lock(&o->lock);
    struct partition *p = find(o, topic, partition);
    bool cur = p && p->assigned && p->generation == generation;
    pthread_mutex_unlock(&o->lock);
    return cur;
}
