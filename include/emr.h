/* emr.h - what the scheduling code needs of the electronic health record:
 * one function table, and the plain data it speaks.
 *
 * The handlers call OpenEMR only through a `struct emr` (the real client,
 * openemr.h, provides one with oe_client_emr(); unit tests provide fakes),
 * so every booking branch can be tested without a server.
 *
 * Ids in and out are the public ids of the contract:
 *  - patient_id: the FHIR Patient id (uuid);
 *  - practitioner_id: the FHIR Practitioner id (uuid; Person id for a
 *    provider without NPI on the real surface);
 *  - appointment_id: pc_eid on the real surface, the FHIR id on the other.
 * Arrays handed out (*out) are malloc'd; the caller frees them. */
#ifndef SW_EMR_H
#define SW_EMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "errors.h"
#include "fleet.h"
#include "ids.h"

/* Per-command call context. */
struct oe_call {
    int64_t deadline_ms;      /* epoch ms; 0 = none: nothing starts after it */
    enum fleet_priority prio; /* writes before reads before background */
    const char *request_id;   /* for audit records; may be NULL */
    int *requests_left;       /* the command's budget of OpenEMR requests: each
                               * request takes one, none left is SW_ERR_CAPPED;
                               * NULL: no budget */
    /* Writes: called right before the request is sent (after the limiter's
     * wait) and may stop it (SW_ERR_BUSY: the command's lease was lost, the
     * write must not happen).  NULL for reads. */
    sw_err (*before_send)(void *ctx);
    void *before_send_ctx;
    int test_pause_ms; /* test.pause_after_guard_ms, when it applies to this write */
    bool offline;      /* no request may be sent: one that would be is
                        * SW_ERR_BUSY, nothing sent (a resolve that needs
                        * OpenEMR, before the command is admitted) */
    /* out */
    int retry_after_s; /* set with SW_ERR_RATE_LIMITED */
    int requests;      /* OpenEMR requests this call made (counts) */
    char detail[256];  /* readable reason of a failure: no token, no PHI */
};

/* One audit record: who/what/outcome of an OpenEMR request that touched
 * patient data.  The worker publishes it on the audit topic. */
struct oe_audit {
    const char *method, *route; /* route with ids as in the request path */
    const char *patient_id;     /* public id, or NULL */
    const char *request_id;
    int http_status; /* 0: no answer */
    sw_err outcome;
    int64_t at_ms;
};
typedef void (*oe_audit_fn)(void *opaque, const struct oe_audit *rec);

struct oe_patient {
    char id[64];
    char given[64];
    char family[64];
    char birthdate[11]; /* YYYY-MM-DD */
};

enum oe_appt_status {
    OE_APPT_BOOKED,    /* holds time: booked, pending, arrived, proposed ... */
    OE_APPT_CANCELLED, /* frees time: x, %, ! / FHIR cancelled */
    OE_APPT_NOSHOW,    /* frees time */
    OE_APPT_FULFILLED, /* past and done */
};

struct oe_appt {
    char id[64];         /* appointment_id (see above) */
    char patient_id[64]; /* "" for a provider event */
    char practitioner_id[64];
    int64_t start, end;  /* epoch seconds */
    int category;        /* pc_catid (0 when unknown) */
    bool provider_event; /* lunch, vacation, in/out of office, meeting */
    enum oe_appt_status status;
    char confirmation[24];     /* found in the comment / identifier; "" none */
    char appointment_type[32]; /* contract type when known, else "" */
    int64_t updated;           /* last change, epoch seconds (0 unknown) */
    char uuid[64];             /* the FHIR id (pc_uuid), the same under both id forms; "" unknown */
};

struct oe_new_appt {
    const char *patient_id;
    const char *practitioner_id;
    int64_t start, end; /* epoch seconds */
    const struct sw_type_rule *type;
    const char *confirmation; /* stored in the appointment (comment/identifier) */
    const char *reason;       /* free text, may be NULL */
};

struct oe_interval {
    int64_t start, end;
};

struct emr_ops {
    /* The canonical id of a patient or practitioner named by id (already
     * normalised, ids.h, in the form given): SW_ERR_NOT_FOUND when it
     * cannot be resolved (a number the EHR cannot map), SW_ERR_INVALID for
     * a form this EHR never uses. */
    sw_err (*resolve)(void *ctx, struct oe_call *call, enum id_kind kind, const char *id,
                      enum id_form form, char out[ID_MAX]);
    /* Patients with this phone (any format; digits compared) and birthdate. */
    sw_err (*find_patients)(void *ctx, struct oe_call *call, const char *phone,
                            const char *birthdate, struct oe_patient **out, size_t *n);
    /* Every appointment and provider event overlapping [from, to), of every
     * practitioner (NULL) or of one; fresh, never cached. */
    sw_err (*list_range)(void *ctx, struct oe_call *call, const char *practitioner_id, int64_t from,
                         int64_t to, struct oe_appt **out, size_t *n);
    /* A patient's appointments overlapping [from, to) (0, 0: all). */
    sw_err (*list_patient)(void *ctx, struct oe_call *call, const char *patient_id, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n);
    /* The server's own free slots; *has_slots false where it has none (the
     * real OpenEMR: free time is configured hours minus list_range). */
    sw_err (*free_slots)(void *ctx, struct oe_call *call, const char *practitioner_id, int64_t from,
                         int64_t to, bool *has_slots, struct oe_interval **out, size_t *n);
    /* Creates the appointment; never retried blindly (see handlers_book.c). */
    sw_err (*create)(void *ctx, struct oe_call *call, const struct oe_new_appt *req,
                     struct oe_appt *out);
    /* Cancels (patient_id may be NULL). */
    sw_err (*cancel)(void *ctx, struct oe_call *call, const char *appointment_id,
                     const char *patient_id);
    /* One appointment by id; SW_ERR_NOT_FOUND if gone. */
    sw_err (*get)(void *ctx, struct oe_call *call, const char *appointment_id, struct oe_appt *out);
    /* The appointment carrying this confirmation number among the
     * patient's (NULL: anyone's: costly on OpenEMR, which cannot search its
     * comments) and the practitioner's (NULL: anyone's) in [from, to);
     * SW_ERR_NOT_FOUND. */
    sw_err (*find_by_confirmation)(void *ctx, struct oe_call *call, const char *confirmation,
                                   const char *patient_id, const char *practitioner_id,
                                   int64_t from, int64_t to, struct oe_appt *out);
    /* Every practitioner's public id: n entries of 64 bytes. */
    sw_err (*list_practitioners)(void *ctx, struct oe_call *call, char (**ids)[64], size_t *n);
};

struct emr {
    const struct emr_ops *ops;
    void *ctx;
};

/* Each wrapper clears the call's outputs and the out parameters first. */
/* Normalises raw (ids.h) and resolves it: SW_ERR_INVALID for a form the
 * contract does not accept, else as the resolve operation. */
sw_err emr_resolve(const struct emr *e, struct oe_call *call, enum id_kind kind, const char *raw,
                   char out[ID_MAX]);
sw_err emr_find_patients(const struct emr *e, struct oe_call *call, const char *phone,
                         const char *birthdate, struct oe_patient **out, size_t *n);
sw_err emr_list_range(const struct emr *e, struct oe_call *call, const char *practitioner_id,
                      int64_t from, int64_t to, struct oe_appt **out, size_t *n);
sw_err emr_list_patient(const struct emr *e, struct oe_call *call, const char *patient_id,
                        int64_t from, int64_t to, struct oe_appt **out, size_t *n);
sw_err emr_free_slots(const struct emr *e, struct oe_call *call, const char *practitioner_id,
                      int64_t from, int64_t to, bool *has_slots, struct oe_interval **out,
                      size_t *n);
sw_err emr_create(const struct emr *e, struct oe_call *call, const struct oe_new_appt *req,
                  struct oe_appt *out);
sw_err emr_cancel(const struct emr *e, struct oe_call *call, const char *appointment_id,
                  const char *patient_id);
sw_err emr_get(const struct emr *e, struct oe_call *call, const char *appointment_id,
               struct oe_appt *out);
sw_err emr_find_by_confirmation(const struct emr *e, struct oe_call *call, const char *confirmation,
                                const char *patient_id, const char *practitioner_id, int64_t from,
                                int64_t to, struct oe_appt *out);
sw_err emr_list_practitioners(const struct emr *e, struct oe_call *call, char (**ids)[64],
                              size_t *n);

/* An appointment as JSON (an attempt's note), and back: the id, patient,
 * practitioner, times, category, type and number.  false if incomplete. */
json_t *emr_appt_json(const struct oe_appt *a);
bool emr_appt_parse(json_t *o, struct oe_appt *a);

#endif
