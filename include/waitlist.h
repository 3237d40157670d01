/* waitlist.h - offering a freed slot to the longest-waiting patient.
 *
 * When a slot frees up (a cancellation by the worker, or one the poller
 * finds), the oldest waitlist entry that matches (practitioner, if the
 * entry names one; the slot inside [earliest, latest]; the slot at least as
 * long as the entry's appointment type) gets the slot held for it for
 * cfg->waitlist_offer_ttl_s and a waitlist.offered event.  The offer's
 * hold belongs to the session "waitlist:<waitlist_id>", so a book with
 * that hold_id converts it (and takes the entry off the waitlist); when it
 * runs out unbooked, the next matching entry is offered the slot. */
#ifndef SW_WAITLIST_H
#define SW_WAITLIST_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "kafka.h"

/* Offers [start, end) of pract; events go to out.  Returns whether an offer
 * was made. */
bool waitlist_offer(const struct store *st, const struct sw_config *cfg, struct outbox *out,
                    const char *pract, int64_t start, int64_t end, const char *cause, int64_t now);

/* A book converted this hold: if it was a waitlist offer, the offer is
 * taken and the patient leaves the waitlist. */
void waitlist_taken(const struct store *st, const struct fleet_hold *hold);

/* Offers whose hold ran out unbooked go to the next matching entry; run
 * by the poller's leader every few seconds.  Events go to out. */
void waitlist_expire_offers(const struct store *st, const struct sw_config *cfg, struct outbox *out,
                            int64_t now_ms);

#endif
