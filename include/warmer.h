/* warmer.h - the slot cache refreshed ahead of demand.
 *
 * A caller hears the first search of a day: uncached, it waits for
 * OpenEMR (and for the fleet's 10 requests/s).  With warm.enabled, one
 * replica at a time (a leader lease, as the poller's) looks every
 * warm.interval_s at the coming warm.days_ahead days of every practitioner
 * and refreshes, one OpenEMR request per practitioner, the stretch of days
 * that is missing or past three quarters of cache.slot_ttl_s, so that a
 * caller's search finds them fresh.  Its requests are the limiter's lowest
 * priority (FLEET_PRIO_BACKGROUND: they yield to every waiting read and
 * write, keep within the reads' share and leave a permit more), and a
 * request that cannot get budget within WARM_WAIT_MS is given up until the
 * next round: the warmer only ever uses budget nobody else wants.
 *
 * Every replica also reads ahead, the same way, the own appointments of
 * each caller its find_patient just found (warmhint.h): the caller's
 * searches need them, and they are read while the caller still talks. */
#ifndef SW_WARMER_H
#define SW_WARMER_H

#include "config.h"
#include "errors.h"
#include "kafka.h"

struct warmer;

/* Starts the thread (nothing runs when warm.enabled is false); *out is
 * NULL then.  Its audit records go out through k. */
sw_err warmer_start(const struct sw_config *cfg, struct kafka *k, struct warmer **out);
void warmer_stop(struct warmer *w);

#endif
