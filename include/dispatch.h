/* dispatch.h - from a Kafka message to exactly one published result: the
 * kafka module's handler hooks (struct kafka_handler).
 *
 * size check -> parse -> topic check -> deadline -> idempotency -> the
 * handler of the command's type (handlers.h) -> stored result -> outbox
 * (result, audit, events, dead letter).  Each lane (handler thread) owns
 * its Redis connection and OpenEMR client and the handlers' context over
 * them (worker.h). */
#ifndef SW_DISPATCH_H
#define SW_DISPATCH_H

#include <stdbool.h>

#include "config.h"
#include "kafka.h"

struct auth_keys;

/* What every lane shares, read-only after start. */
struct dispatch_shared {
    const struct sw_config *cfg;
    const struct auth_keys *keys;  /* producer HMAC keys; NULL if none configured */
    unsigned char confirm_key[32]; /* keys confirmation numbers (confirm_derive) */
};

/* A command every earlier holder died or hung on is set aside as poison
 * (dead-lettered and answered) rather than take the next replica down too.
 * One that noted an OpenEMR write first gets POISON_TAKEOVERS more chances
 * to find it: answering "could not process" when the booking was made is
 * a lie (the handler's takeover path looks the write up before anything
 * else).  takeovers: holders that lost the lease without answering. */
#define POISON_TAKEOVERS 3
bool dispatch_is_poison(int takeovers, bool noted_write);

/* opaque is a struct dispatch_shared that outlives the lanes. */
void *dispatch_lane_init(void *opaque, int lane);
void dispatch_lane_fini(void *lane_state);
enum handler_outcome dispatch_handle(void *lane_state, const struct kmsg *in, int attempt,
                                     struct outbox *out);

#endif
