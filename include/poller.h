/* poller.h - finding changes made in OpenEMR outside the worker.
 *
 * OpenEMR has no webhooks.  One replica at a time (a leader lease in
 * Redis, cfg->poller_lease_s; a dead leader's lease runs out and another
 * replica takes over) lists the coming cfg->poller_horizon_days every
 * cfg->poller_interval_s with ONE request (a FHIR Appointment date-range
 * search: it sees creations, edits and cancellations; a _lastUpdated query
 * would be smaller but cannot see hard deletes, which the real API does),
 * compares with the snapshot kept in Redis, and publishes
 * appointment.booked (caused_by external), appointment.changed,
 * appointment.cancelled and appointment.removed for what the worker did not
 * do itself (the worker marks its own writes: own_marks.h).  It invalidates the slot
 * cache of every day that changed and offers freed slots to the waitlist.
 * Events are delivered before the snapshot is written, and their ids come
 * from the appointment and its change, so a leader that dies in between
 * makes its successor publish the same ids again: consumers de-duplicate.
 * The same rows go through breakcheck.h: provider events that the
 * configured hours and breaks do not explain are logged and counted. */
#ifndef SW_POLLER_H
#define SW_POLLER_H

#include "config.h"
#include "fleet.h"
#include "openemr.h"
#include "kafka.h"

struct poller;

sw_err poller_start(const struct sw_config *cfg, struct kafka *k, struct poller **out);
void poller_stop(struct poller *p);

#endif
