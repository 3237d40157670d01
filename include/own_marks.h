/* own_marks.h - the worker's marks on its own OpenEMR writes, so the change
 * poller does not report them as outside changes.
 *
 * A write is marked, before it is sent, with the kind of change it makes
 * (an appointment made, or gone: cancelled or deleted), by the
 * appointment's id and by practitioner, patient and start: on the
 * standard API the worker knows the pc_eid while the poller lists FHIR ids
 * (pc_uuid), which map to an eid only once a row was read through the
 * standard API.  Marks live two days.  A poll collects the marks it finds
 * and uses them up only once its snapshot is stored: a poll thrown away
 * (another replica polled meanwhile) leaves them for the poll that counts.
 * The kind keeps a cancel's mark from covering the booking a poll sees
 * appear while the cancel is on its way (that poll would use it up, and
 * the next one report the worker's cancel as external). */
#ifndef SW_OWN_MARKS_H
#define SW_OWN_MARKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emr.h"
#include "store.h"

enum own_kind {
    OWN_MADE = 1, /* created (a booking, a reschedule's new appointment) */
    OWN_GONE = 2, /* cancelled or deleted (a cancel, a reschedule's old one) */
    OWN_EITHER = OWN_MADE | OWN_GONE,
};

/* Marks a change the worker is about to make to a, by id and by slot. */
void own_mark(const struct store *st, enum own_kind kind, const struct oe_appt *a);
/* One of the two: a create is marked by slot before it is sent (a poll may
 * list the row before OpenEMR answers), by the id OpenEMR gave it once
 * answered.  An empty id or patient marks nothing. */
void own_mark_id(const struct store *st, enum own_kind kind, const char *appointment_id);
void own_mark_slot(const struct store *st, enum own_kind kind, const char *pract,
                   const char *patient, int64_t start);

/* The marks one poll found, with the values it saw. */
struct own_mark_seen {
    char *key, *value;
};
struct own_found {
    struct own_mark_seen *marks;
    size_t n, cap;
};

/* Whether the worker made a change of these kinds to this appointment (by
 * id, or by practitioner, patient and start when the ids differ; patient
 * NULL: by id only); the marks found are added to found. */
bool own_find(const struct store *st, struct own_found *found, unsigned kinds,
              const char *appointment_id, const char *pract, const char *patient, int64_t start);

/* Removes the marks found (the poll's snapshot is stored) unless one was
 * set again since (the next change of that appointment), and frees them. */
void own_found_use(const struct store *st, struct own_found *found);
/* Frees them and leaves the marks in place. */
void own_found_free(struct own_found *found);

#endif
