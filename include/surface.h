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
    /* The practitioners this surface can name without FHIR Practitioner
     * (refused without the admin/users ACL): adds their ids to list (a JSON
     * array of strings, kept unique by oe_list_add). */
    sw_err (*practitioners)(struct oe_client *c, struct oe_call *call, json_t *list);
    /* Whether FHIR start/end are read as the clinic's wall-clock time (the
     * real OpenEMR prints today's UTC offset, not the date's). */
    bool fhir_wall_clock;
    /* The surface's own entries of the startup check (oe_check_access). */
    void (*check_access)(struct oe_client *c, json_t *report);
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
const struct oe_surface_ops *oe_surface_of(const struct oe_client *c);
struct fleet *oe_fleet(const struct oe_client *c);
/* "/apis/<site>/fhir" and "/apis/<site>/api" */
const char *oe_fhir_base(const struct oe_client *c);
const char *oe_api_base(const struct oe_client *c);

/* ---- refusals (ACL) ------------------------------------------------------
 * OpenEMR refuses a route the user's ACL does not cover: 8.x with 403,
 * 7.0.x with 401 and an empty body (RestConfig::authorization_check), which
 * oe_send has already met once with a fresh token.  A refused route is
 * remembered for the fleet (cache.reference_ttl_s) and not asked again. */
bool oe_is_refusal(sw_err err, long status, const json_t *answer);
bool oe_refused(struct oe_client *c, const char *what);
void oe_mark_refused(struct oe_client *c, const char *what, const char *why);
/* Appends id to a JSON array of strings unless it is there. */
void oe_list_add(json_t *list, const char *id);

/* ---- the startup check (oe_check_access) ----------------------------------- */
/* Appends {"check", "ok", "needed", "detail"} to report. */
void oe_report(json_t *report, const char *check, bool ok, bool needed, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* GETs path once and reports whether OpenEMR answers it: acl names the ACL
 * the route needs; a refusal is remembered as refused_key (oe_refused);
 * a 404 counts as answered when not_found_ok.  Returns the error of the
 * request. */
struct oe_check {
    const char *check; /* its name in the report */
    const char *path;
    const char *route;       /* audit: the route template */
    const char *patient_id;  /* audit: the patient id the path names, or NULL */
    const char *acl;         /* the ACL the route needs */
    const char *refused_key; /* remembered as refused under this (NULL: not) */
    bool needed;             /* the worker cannot do without it */
    bool not_found_ok;       /* a 404 (or 400) counts as answered */
};
sw_err oe_check_read(struct oe_client *c, json_t *report, const struct oe_check *k);

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
/* Parses a FHIR Appointment resource.  wall_clock: start, end and
 * meta.lastUpdated are the clinic's wall-clock time whatever UTC offset
 * they carry (the real OpenEMR's UtilsService::getLocalDateAsUTC prints
 * today's offset for every date); else as oe_parse_printed_iso. */
bool oe_fhir_appt_parse(json_t *res, struct oe_appt *out);
bool oe_fhir_appt_parse_as(json_t *res, bool wall_clock, struct oe_appt *out);
/* An ISO 8601 time read as the clinic's wall clock: its offset, if any, is
 * ignored. */
sw_err oe_parse_wall_iso(const char *s, int64_t *out);
/* An ISO 8601 time as printed, unless it carries the clinic's UTC offset of
 * today where its own date has another: that is OpenEMR's mistake (the
 * seed's scheduling surface serves OpenEMR's Appointment resources), read
 * as the wall clock.  A server printing UTC or the date's own offset is
 * read as printed. */
sw_err oe_parse_printed_iso(const char *s, int64_t *out);
/* Patient search by phone + birthdate, filtered here (digits compared). */
sw_err oe_fhir_find_patients(struct oe_client *c, struct oe_call *call, const char *phone,
                             const char *birthdate, struct oe_patient **out, size_t *n);
/* GET a FHIR Appointment search; keeps rows overlapping [from, to) of the
 * practitioner (NULL: all).  query is the part after "Appointment?". */
sw_err oe_fhir_appt_search(struct oe_client *c, struct oe_call *call, const char *query,
                           const char *patient_id, const char *practitioner_id, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n);
/* The query for [from, to) in local dates: "date=ge<from's day>" only.
 * OpenEMR keeps the last of a repeated query key (PHP's $_GET, read by
 * HttpRestRequest::createFromGlobals), so "date=ge..&date=le.." would be
 * "date=le..": one bound is sent and the other applied here, by
 * oe_fhir_appt_search's overlap filter. */
void oe_fhir_date_query(int64_t from, int64_t to, char *buf, size_t len);
/* Copies the id after "Type/" of a reference. */
void oe_ref_id(const char *ref, char *buf, size_t len);
/* Whether the category is a provider-only event (2, 3, 4, 8, 11). */
bool oe_provider_category(int catid);

#endif
