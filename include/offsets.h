/* offsets.h - which offset of a partition may be committed.
 *
 * Commands of one partition finish out of order (different keys run in
 * parallel), but an offset may be stored only when every command up to it
 * has a delivered result.  A tracker keeps, per partition, the offsets in
 * flight in arrival order; offsets_done() marks one finished and tells the
 * next offset to store once the oldest ones are all finished.  Thread-safe. */
#ifndef SW_OFFSETS_H
#define SW_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

struct offsets;

struct offsets *offsets_new(void);
void offsets_destroy(struct offsets *o);

/* Starts tracking a partition (on assignment); resets it if known. */
void offsets_assign(struct offsets *o, const char *topic, int32_t partition);
/* Stops tracking it (on revocation); later done marks for it are ignored. */
void offsets_revoke(struct offsets *o, const char *topic, int32_t partition);

/* Records a consumed offset (offsets of one partition arrive increasing).
 * Returns the partition's generation, to be handed back to offsets_done;
 * -1 if the partition is not assigned. */
int64_t offsets_add(struct offsets *o, const char *topic, int32_t partition, int64_t offset);

/* Marks an offset finished.  True, with *commit = the offset to store
 * (last finished contiguous + 1), when the committable position moved. */
bool offsets_done(struct offsets *o, const char *topic, int32_t partition, int64_t generation,
                  int64_t offset, int64_t *commit);

/* As offsets_done, for results that may be published only in offset
 * order (worker.transactional_results): the finished offset keeps
 * `payload` until every earlier offset of the partition is finished; then
 * release(ctx, payload) is called, in offset order and under the tracker's
 * lock, for it and each later finished one now at the head.  Returns -1
 * when the partition is not current with this generation (payload stays
 * the caller's), 1 when the committable position moved (*commit), else 0.
 * Payloads a revocation or reassignment drops go to the function set by
 * offsets_set_free. */
int offsets_done_release(struct offsets *o, const char *topic, int32_t partition,
                         int64_t generation, int64_t offset, void *payload,
                         void (*release)(void *ctx, void *payload), void *ctx, int64_t *commit);
void offsets_set_free(struct offsets *o, void (*free_payload)(void *payload));

/* Offsets consumed but not finished in this partition (0 if unknown). */
int offsets_pending(struct offsets *o, const char *topic, int32_t partition);

/* True while the partition is assigned with this generation. */
bool offsets_current(struct offsets *o, const char *topic, int32_t partition, int64_t generation);

#endif
