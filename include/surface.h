/* surface.h - internal to the OpenEMR client: the function table each API
 * surface implements (surface_openemr.c, surface_fhir.c), the request
 * helper of openemr.c they call, and shared FHIR/time helpers.  Nothing
 * outside src/openemr.c and src/surface_*.c includes this. */
#ifndef SW_SURFACE_H
#define SW_SURFACE_H

#include <jansson.h>

#include "openemr.h"

struct oe_surface_ops {
    const char *name;
    sw_err (*resolve)(struct oe_client *c, struct oe_call *call, enum id_kind kind, const char *id,
                      enum id_form form, char out[ID_MAX]);
    sw_err (*find_patients)(struct oe_client *c, struct oe_call *call, const char *phone,
                            const char *birthdate, struct oe_patient **out, size_t *n);
    sw_err (*list_range)(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                         int64_t from, int64_t to, struct oe_appt **out, size_t *n);
    sw_err (*list_patient)(struct oe_client *c, struct oe_call *call, const char *patient_id,
                           int64_t from, int64_t to, struct oe_appt **out, size_t *n);
    sw_err (*free_slots)(struct oe_client *c, struct oe_call *call, const char *practitioner_id,
                         int64_t from, int64_t to, bool *has_slots, struct oe_interval **out,
                         size_t *n);
    sw_err (*create)(struct oe_client *c, struct oe_call *call, const struct oe_new_appt *req,
                     struct oe_appt *out);
    sw_err (*cancel)(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                     const char *patient_id);
    sw_err (*get)(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                  struct oe_appt *out);
    sw_err (*find_by_confirmation)(struct oe_client *c, struct oe_call *call,
                                   const char *confirmation, const char *patient_id,
                                   const char *practitioner_id, int64_t from, int64_t to,
                                   struct oe_appt *out);
    sw_err (*list_changed)(struct oe_client *c, struct oe_call *call, int64_t since, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n);
};

extern const struct oe_surface_ops oe_surface_openemr;
extern const struct oe_surface_ops oe_surface_fhir;

/* One OpenEMR request through limiter, breaker, token, retries, audit. */
struct oe_req {
    const char *method;
    const char *path;       /* after the base URL: "/apis/default/fhir/Patient?..." */
    json_t *body;           /* JSON body or NULL (not stolen) */
    bool fhir_body;         /* Content-Type application/fhir+json */
    const char *patient_id; /* audit: public id of the patient it names, or NULL */
    const char *route;      /* audit: route template ("GET /fhir/Appointment") */
    bool idempotent;        /* may be retried on transient failures */
};

/* *answer: parsed JSON body (NULL when the body is empty); status: HTTP
 * status.  Returns the classified error (SW_OK for 2xx). */
sw_err oe_send(struct oe_client *c, struct oe_call *call, const struct oe_req *r, json_t **answer,
               long *status);

const struct sw_config *oe_cfg(const struct oe_client *c);
struct fleet *oe_fleet(const struct oe_client *c);
/* "/apis/<site>/fhir" and "/apis/<site>/api" */
const char *oe_fhir_base(const struct oe_client *c);
const char *oe_api_base(const struct oe_client *c);

/* Sets call->detail. */
void oe_detail(struct oe_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether key was seen by this client lately (and now remembers it): lets a
 * surface skip writing a mapping it wrote a moment ago. */
bool oe_seen_lately(struct oe_client *c, const char *key);
/* Forgets key (a cache miss showed the mapping is gone from Redis). */
void oe_seen_forget(struct oe_client *c, const char *key);

/* ---- growable arrays ------------------------------------------------------ */
sw_err oe_appt_push(struct oe_appt **arr, size_t *n, size_t *cap, const struct oe_appt *a);

/* One /api appointment row (values are strings; provider events carry
 * null patient columns); false if it is unusable.  surface_openemr.c. */
bool oe_api_row_parse(struct oe_client *c, json_t *row, struct oe_appt *a);

/* ---- FHIR helpers shared by both surfaces (surface_fhir.c) -------------- */
/* Parses a FHIR Appointment resource. */
bool oe_fhir_appt_parse(json_t *res, struct oe_appt *out);
/* Patient search by phone + birthdate, filtered here (digits compared). */
sw_err oe_fhir_find_patients(struct oe_client *c, struct oe_call *call, const char *phone,
                             const char *birthdate, struct oe_patient **out, size_t *n);
/* GET a FHIR Appointment search; keeps rows overlapping [from, to) of the
 * practitioner (NULL: all).  query is the part after "Appointment?". */
sw_err oe_fhir_appt_search(struct oe_client *c, struct oe_call *call, const char *query,
                           const char *patient_id, const char *practitioner_id, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n);
/* The query "date=ge..&date=le.." for [from, to) in local dates. */
void oe_fhir_date_query(int64_t from, int64_t to, char *buf, size_t len);
/* Copies the id after "Type/" of a reference. */
void oe_ref_id(const char *ref, char *buf, size_t len);
/* Whether the category is a provider-only event (2, 3, 4, 8, 11). */
bool oe_provider_category(int catid);

#endif
