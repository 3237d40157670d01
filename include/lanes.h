/* lanes.h - a fixed pool of threads, each draining its own FIFO queue.
 *
 * Work submitted with the same lane number runs in submission order on one
 * thread; different lanes run in parallel.  The Kafka module puts all the
 * commands of one message key on one lane, so they keep their order; work
 * that needs no order goes to a shared queue any lane drains. */
#ifndef SW_LANES_H
#define SW_LANES_H

#include <stddef.h>
#include <stdint.h>

struct lanes;

/* run(lane_state, item) is called on the lane's thread for each item.
 * lane_state comes from init(opaque, lane) once on that thread at start
 * (NULL allowed) and goes to fini(lane_state) at the end. */
struct lanes_ops {
    void *(*init)(void *opaque, int lane);
    void (*run)(void *lane_state, void *item);
    void (*fini)(void *lane_state);
    void *opaque;
};

/* n lanes that each take both keyed and shared work. */
struct lanes *lanes_new(int n, const struct lanes_ops *ops);
/* Two pools: n_keyed lanes for keyed work only and n_shared lanes for the
 * shared queue only, so shared work (reads that wait for OpenEMR budget)
 * can never hold up a key's lane (a booking).  n_shared 0: lanes_new. */
struct lanes *lanes_new_pools(int n_keyed, int n_shared, const struct lanes_ops *ops);
/* Queues item on keyed lane hash % n_keyed. */
void lanes_submit(struct lanes *l, uint64_t hash, void *item);
/* Queues item for whichever lane is free first: for work that needs no
 * order (read-only commands).  A lane takes its own queue's items before
 * these, so the work that keeps its order is never held up by it; an idle
 * lane is woken for it at once. */
void lanes_submit_any(struct lanes *l, void *item);
/* Finishes the queued work, stops and joins every thread, frees. */
void lanes_destroy(struct lanes *l);

/* Liveness.  A lane shows progress when it takes an item, finishes one,
 * or its item calls lanes_beat() (from the lane's own thread; elsewhere
 * it does nothing), e.g. between attempts of a command that waits to run
 * again.  lanes_stalled() returns the lane whose item has run longest
 * without progress, if longer than stall_ms (its idle time in *idle_ms),
 * else -1.  Idle lanes are never stalled.  Times: clock_mono_ms(). */
void lanes_beat(void);
int lanes_stalled(struct lanes *l, int64_t now_ms, int64_t stall_ms, int64_t *idle_ms);

/* FNV-1a of bytes, for choosing a lane. */
uint64_t lanes_hash(const void *bytes, size_t len);

#endif
