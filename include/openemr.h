/* openemr.h - the worker's one door to OpenEMR.
 *
 * Two surfaces behind one interface, chosen by cfg->surface:
 *  - SW_SURFACE_OPENEMR: the real OpenEMR (openemr-facts.md): FHIR reads,
 *    /api create (POST) and cancel (DELETE), numeric ids mapped to uuids.
 *  - SW_SURFACE_FHIR_SCHEDULING: the seed's FHIR surface (Slot, Appointment
 *    create/update, search by identifier).
 * The scheduling code never knows which one is behind it.
 *
 * Ids in and out are the public ids of the contract:
 *  - patient_id: the FHIR Patient id (uuid);
 *  - practitioner_id: the FHIR Practitioner id (uuid; Person id for a
 *    provider without NPI on the real surface);
 *  - appointment_id: pc_eid on the real surface, the FHIR id on the other.
 *
 * Every call goes through the fleet's rate limiter and circuit breaker, uses
 * the fleet's shared token (refreshed once for the fleet; a 401 refreshes
 * and retries once), retries idempotent reads with backoff within the
 * call's deadline, and writes one audit record per request that names a
 * patient (via the audit hook).  One client per thread. */
#ifndef SW_OPENEMR_H
#define SW_OPENEMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "emr.h"
#include "errors.h"
#include "fleet.h"

struct oe_client;

sw_err oe_client_new(const struct sw_config *cfg, struct fleet *fleet, oe_audit_fn audit,
                     void *audit_opaque, struct oe_client **out, char *errstr, size_t errlen);
void oe_client_destroy(struct oe_client *c);
/* The client as the scheduling code's function table (emr.h). */
struct emr oe_client_emr(struct oe_client *c);

/* The canonical id of a patient or practitioner (emr.h's resolve). */
sw_err oe_resolve(struct oe_client *c, struct oe_call *call, enum id_kind kind, const char *id,
                  enum id_form form, char out[ID_MAX]);

/* Patients with this phone (any format; digits compared) and birthdate. */
sw_err oe_find_patients(struct oe_client *c, struct oe_call *call, const char *phone,
                        const char *birthdate, struct oe_patient **out, size_t *n);

/* Every appointment and provider event overlapping [from, to), of every
 * practitioner (practitioner_id NULL) or of one.  Fresh from OpenEMR, never
 * cached here.  *out malloc'd. */
sw_err oe_list_range(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                     int64_t from, int64_t to, struct oe_appt **out, size_t *n);

/* A patient's appointments overlapping [from, to) (0, 0: all). */
sw_err oe_list_patient(struct oe_client *c, struct oe_call *call, const char *patient_id,
                       int64_t from, int64_t to, struct oe_appt **out, size_t *n);

/* The server's own free slots (FHIR scheduling surface).  On the real
 * surface *has_slots is false and nothing is requested: free time comes
 * from configured hours minus oe_list_range(). */
sw_err oe_free_slots(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                     int64_t from, int64_t to, bool *has_slots, struct oe_interval **out,
                     size_t *n);

/* Creates the appointment; out gets its id and fields.  Never retried
 * blindly: see the idempotency protocol in handlers. */
sw_err oe_create(struct oe_client *c, struct oe_call *call, const struct oe_new_appt *req,
                 struct oe_appt *out);

/* Cancels (DELETE on the real surface, status cancelled on FHIR).
 * patient_id may be NULL. */
sw_err oe_cancel(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                 const char *patient_id);

/* One appointment by id; SW_ERR_NOT_FOUND if gone. */
sw_err oe_get(struct oe_client *c, struct oe_call *call, const char *appointment_id,
              struct oe_appt *out);

/* The appointment carrying this confirmation number, looked for among the
 * practitioner's appointments in [from, to) (the real surface has no
 * search by comment); SW_ERR_NOT_FOUND if none. */
sw_err oe_find_by_confirmation(struct oe_client *c, struct oe_call *call, const char *confirmation,
                               const char *patient_id, const char *practitioner_id, int64_t from,
                               int64_t to, struct oe_appt *out);

/* Appointments changed since `since` (epoch seconds) in [from, to), for the
 * change poller (FHIR _lastUpdated on both surfaces). */
sw_err oe_list_changed(struct oe_client *c, struct oe_call *call, int64_t since, int64_t from,
                       int64_t to, struct oe_appt **out, size_t *n);

/* Every practitioner's public id (for a search that names none); cached
 * for cfg->ref_cache_ttl_s.  *ids is malloc'd: n entries of 64 bytes. */
sw_err oe_list_practitioners(struct oe_client *c, struct oe_call *call, char (**ids)[64],
                             size_t *n);

/* The startup check: one read-only request of each kind the worker makes,
 * and each practitioner's mapping to OpenEMR's user id; *report gets an
 * array of {"check", "ok", "needed", "detail"} naming the ACL, NPI or
 * username that is missing and what the worker does without it.  SW_OK
 * when every needed check passed. */
sw_err oe_check_access(struct oe_client *c, json_t **report);
/* Runs oe_check_access and logs each entry (warnings for failures). */
void oe_log_access(struct oe_client *c);

/* Makes sure the fleet holds a fresh token, refreshing it once for the
 * whole fleet when less than the margin remains (the monitor thread calls
 * it, so refreshes rarely fall on a command's path). */
sw_err oe_ensure_token(struct oe_client *c, int64_t deadline_ms);

/* Whether the client holds a valid token now (for /readyz). */
bool oe_has_valid_token(struct oe_client *c);

/* Revokes the token (logout), for shutdown when configured. */
sw_err oe_logout(struct oe_client *c);

#endif
