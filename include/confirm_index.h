/* confirm_index.h - confirmation numbers in the fleet: claiming a fresh
 * one, the index from a number to its appointment, and finding the
 * appointment a cancel or reschedule names.
 *
 * The index is a cache over what OpenEMR holds (the number is stored in
 * the appointment itself): a miss falls back on a search of OpenEMR. */
#ifndef SW_CONFIRM_INDEX_H
#define SW_CONFIRM_INDEX_H

#include <stddef.h>

#include "command.h"
#include "emr.h"
#include "worker.h"

/* How long a number stays claimed and indexed. */
#define CONFIRM_INDEX_TTL_S (400 * 86400)

/* A fresh number, claimed for request_id in the fleet (buf at least
 * CONFIRM_TEXT_LEN).  SW_ERR_REDIS; SW_ERR_INTERNAL after too many
 * collisions. */
sw_err confirm_index_claim(struct worker *w, const char *request_id, char *buf, size_t len);

/* Remembers where a booked number points (best effort: logged on failure). */
void confirm_index_put(const struct worker *w, const struct res_appointment *a,
                       const char *patient_id);
/* Forgets a number (the appointment was cancelled). */
void confirm_index_del(const struct worker *w, const char *confirmation);

/* How long a cancel or reschedule may hold its appointment's lock. */
#define CONFIRM_LOCK_TTL_MS 20000

/* The lock of appointment id without reading it (an attempt taking over
 * after a noted change: the appointment may be gone already).  SW_OK:
 * locked; SW_ERR_EXPIRED: r answered unavailable `busy`; SW_ERR_INVALID: an
 * id too long for a key. */
sw_err confirm_index_relock(const struct worker *w, const struct oe_call *call, const char *id,
                            char *lock, size_t len, struct result *r);

/* The appointment a cancel or reschedule names, locked (lock: its name,
 * for the write's cover and the unlock) and read under the lock: by
 * confirmation number (index, else a search of the named patient's
 * appointments) or, when confirmation is empty, by appointment_id; and only
 * if it is the named patient's (who: the patient id, or phone and birth
 * date) and an appointment of a bookable type.  Anything else is "not
 * found" (saying more would tell a stranger it exists), except a patient's
 * own appointment of a type the worker does not book, which is rejected.
 * The one read is under the lock: another cancel or reschedule of it may
 * have finished just before, and OpenEMR's DELETE says "deleted" for any
 * id, so a read before the lock would let two commands both move (or
 * cancel and move) one appointment and both answer ok.  SW_OK: locked, *out
 * read (its confirmation set from the number given when OpenEMR has none).
 * Otherwise not locked and r filled (SW_ERR_EXPIRED: answered unavailable
 * `busy`), except for SW_ERR_REDIS. */
sw_err confirm_index_find_locked(const struct worker *w, struct oe_call *call,
                                 const char *confirmation, const char *appointment_id,
                                 const struct cmd_patient *who, struct oe_appt *out, char *lock,
                                 size_t len, struct result *r);

#endif
