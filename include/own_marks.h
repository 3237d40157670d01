/* own_marks.h - the worker's marks on its own OpenEMR writes, so the change
 * poller does not report them as outside changes.
 *
 * A write is marked by the appointment's id and by practitioner, patient
 * and start: on the standard API the worker knows the pc_eid while the
 * poller lists FHIR ids (pc_uuid), which map to an eid only once a row was
 * read through the standard API.  Marks live two days and are used up when
 * the poller takes them. */
#ifndef SW_OWN_MARKS_H
#define SW_OWN_MARKS_H

#include <stdbool.h>
#include <stdint.h>

#include "emr.h"
#include "store.h"

/* Marks a change the worker is about to make (a create, cancel or move). */
void own_mark(const struct store *st, const struct oe_appt *a);

/* Whether the worker made this change (by id, or by practitioner, patient
 * and start when the ids differ); the marks found are removed. */
bool own_take(const struct store *st, const char *appointment_id, const char *pract,
              const char *patient, int64_t start);

#endif
