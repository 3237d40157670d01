/* surface_fhir.c - the seed's FHIR scheduling surface (Slot search,
 * Appointment create / update / search by identifier), plus the FHIR
 * helpers the real-OpenEMR surface shares (Patient and Appointment
 * search and parsing). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "surface.h"
#include "timeutil.h"

#define CONF_SYSTEM "urn:schedworker:confirmation"

static const struct {
    const char *code;
    int catid;
} categories[] = {
    {"no_show", 1},      {"in_office", 2}, {"out_of_office", 3},       {"vacation", 4},
    {"office_visit", 5}, {"lunch", 8},     {"established_patient", 9}, {"new_patient", 10},
    {"reserved", 11},
};

static int category_of(const struct sw_config *cfg, const char *code)
{
    if (!code)
        return 0;
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (!strcmp(categories[i].code, code))
            return categories[i].catid;
    const struct sw_type_rule *t = cfg ? sw_config_type(cfg, code) : NULL;
    return t ? t->category : 0;
}

/* The appointmentType code of a category (the server's constants), else
 * the type name. */
static const char *code_of(const struct sw_type_rule *t)
{
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (categories[i].catid == t->category)
            return categories[i].code;
    return t->name;
}

/* The contract's type name for a category (first configured type). */
static void type_name(const struct sw_config *cfg, int catid, char *buf, size_t len)
{
    for (int i = 0; i < cfg->n_types; i++)
        if (cfg->types[i].category == catid) {
            snprintf(buf, len, "%s", cfg->types[i].name);
            return;
        }
}

static enum oe_appt_status status_of(const char *s)
{
    if (!s)
        return OE_APPT_BOOKED;
    if (!strcmp(s, "cancelled") || !strcmp(s, "entered-in-error"))
        return OE_APPT_CANCELLED;
    if (!strcmp(s, "noshow"))
        return OE_APPT_NOSHOW;
    if (!strcmp(s, "fulfilled"))
        return OE_APPT_FULFILLED;
    return OE_APPT_BOOKED;
}

void oe_fhir_date_query(int64_t from, int64_t to, char *buf, size_t len)
{
    char d1[11], d2[11];
    timeutil_format_local_date(from, d1, sizeof(d1));
    timeutil_format_local_date(to > from ? to - 1 : to, d2, sizeof(d2));
    /* One key only: OpenEMR keeps the last of a repeated one.  A DATE
     * search on pc_eventDate (FhirAppointmentService::loadSearchParameters)
     * with eq is "BETWEEN day AND day" (SearchFieldStatementResolver::
     * resolveDateField), so a one-day range is exact; a longer one asks
     * from its first day on and the end is applied here. */
    if (!strcmp(d1, d2))
        snprintf(buf, len, "date=eq%s", d1);
    else
        snprintf(buf, len, "date=ge%s", d1);
}

sw_err oe_parse_wall_iso(const char *s, int64_t *out)
{
    char local[40];
    if (!s || strlen(s) >= sizeof(local))
        return SW_ERR_INVALID;
    snprintf(local, sizeof(local), "%s", s);
    /* the offset starts after the time ("T" at 10): Z, +hh:mm or -hh:mm */
    if (strlen(local) > 11) {
        char *p = local + 11 + strcspn(local + 11, "Zz+-");
        *p = '\0';
    }
    return timeutil_parse_iso8601(local, out);
}

sw_err oe_parse_printed_iso(const char *s, int64_t *out)
{
    int64_t t, w;
    sw_err err = timeutil_parse_iso8601(s, &t);
    if (err != SW_OK || oe_parse_wall_iso(s, &w) != SW_OK || w == t) {
        if (err == SW_OK)
            *out = t;
        return err;
    }
    /* printed offset P: t = wall - P; the date's own: w = wall - own */
    time_t wt = (time_t)w, now = time(NULL);
    struct tm own, today;
    localtime_r(&wt, &own);
    localtime_r(&now, &today);
    long printed = own.tm_gmtoff + (long)(w - t);
    *out = printed == today.tm_gmtoff && printed != own.tm_gmtoff ? w : t;
    return SW_OK;
}

bool oe_fhir_appt_parse(json_t *res, struct oe_appt *out)
{
    return oe_fhir_appt_parse_as(res, false, out);
}

bool oe_fhir_appt_parse_as(json_t *res, bool wall_clock, struct oe_appt *out)
{
    sw_err (*parse)(const char *, int64_t *) =
        wall_clock ? oe_parse_wall_iso : oe_parse_printed_iso;
    memset(out, 0, sizeof(*out));
    const char *id = json_string_value(json_object_get(res, "id"));
    const char *start = json_string_value(json_object_get(res, "start"));
    const char *end = json_string_value(json_object_get(res, "end"));
    if (!id || !start || parse(start, &out->start))
        return false;
    if (!end || parse(end, &out->end))
        out->end = out->start;
    /* An appointment that ends before it starts is not one: skipping it
     * beats treating its time as free (found by fuzz_openemr). */
    if (out->end < out->start)
        return false;
    snprintf(out->id, sizeof(out->id), "%s", id);
    snprintf(out->uuid, sizeof(out->uuid), "%s", id);
    out->status = status_of(json_string_value(json_object_get(res, "status")));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "participant"), i, p)
    {
        const char *ref =
            json_string_value(json_object_get(json_object_get(p, "actor"), "reference"));
        if (!ref)
            continue;
        if (!strncmp(ref, "Patient/", 8))
            oe_ref_id(ref, out->patient_id, sizeof(out->patient_id));
        else if (!strncmp(ref, "Practitioner/", 13) || !strncmp(ref, "Person/", 7))
            oe_ref_id(ref, out->practitioner_id, sizeof(out->practitioner_id));
    }
    json_t *coding =
        json_array_get(json_object_get(json_object_get(res, "appointmentType"), "coding"), 0);
    const char *code = json_string_value(json_object_get(coding, "code"));
    if (code) {
        snprintf(out->appointment_type, sizeof(out->appointment_type), "%s", code);
        out->category = category_of(NULL, code);
    }
    json_t *ident;
    json_array_foreach(json_object_get(res, "identifier"), i, ident)
    {
        const char *v = json_string_value(json_object_get(ident, "value"));
        const char *sys = json_string_value(json_object_get(ident, "system"));
        if (v && (!out->confirmation[0] || (sys && !strcmp(sys, CONF_SYSTEM))))
            snprintf(out->confirmation, sizeof(out->confirmation), "%s", v);
    }
    const char *upd =
        json_string_value(json_object_get(json_object_get(res, "meta"), "lastUpdated"));
    if (upd)
        parse(upd, &out->updated);
    out->provider_event = !out->patient_id[0] || oe_provider_category(out->category);
    return true;
}

static json_t *bundle_entries(json_t *bundle)
{
    return json_object_get(bundle, "entry");
}

sw_err oe_fhir_appt_search(struct oe_client *c, struct oe_call *call, const char *query,
                           const char *patient_id, const char *practitioner_id, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n)
{
    char path[1024];
    json_t *ans = NULL;
    long status = 0;
    size_t cap = 0, i;
    json_t *e;
    snprintf(path, sizeof(path), "%s/Appointment?%s", oe_fhir_base(c), query);
    struct oe_req r = {.method = "GET",
                       .path = path,
                       .patient_id = patient_id,
                       .route = "GET /fhir/Appointment",
                       .idempotent = true};
    sw_err err = oe_send(c, call, &r, &ans, &status);
    if (err != SW_OK)
        goto cleanup;
    if (!json_is_object(ans)) {
        err = SW_ERR_BAD_ANSWER;
        oe_detail(call, "Appointment search: not a Bundle");
        goto cleanup;
    }
    size_t rows = json_array_size(bundle_entries(ans));
    int cap_rows = oe_cfg(c)->openemr_max_search_rows;
    if (cap_rows > 0 && rows > (size_t)cap_rows) {
        /* OpenEMR does not page: a longer answer is refused, not cut (a
         * cut list would show booked time as free). */
        err = SW_ERR_CAPPED;
        oe_detail(call,
                  "Appointment search answered %zu rows, more than openemr.max_search_rows (%d)",
                  rows, cap_rows);
        goto cleanup;
    }
    bool wall = oe_surface_of(c)->fhir_wall_clock;
    json_array_foreach(bundle_entries(ans), i, e)
    {
        json_t *res = json_object_get(e, "resource");
        struct oe_appt a;
        const char *rt = json_string_value(json_object_get(res, "resourceType"));
        if (!rt || strcmp(rt, "Appointment"))
            continue; /* an OperationOutcome entry, or another resource */
        if (!oe_fhir_appt_parse_as(res, wall, &a)) {
            /* Dropping it could make busy time look free: refuse the answer. */
            err = SW_ERR_BAD_ANSWER;
            oe_detail(call, "Appointment search: an entry without id, start or a sane end");
            goto cleanup;
        }
        if (!a.category && a.appointment_type[0])
            a.category = category_of(oe_cfg(c), a.appointment_type);
        if (a.category)
            type_name(oe_cfg(c), a.category, a.appointment_type, sizeof(a.appointment_type));
        if (oe_provider_category(a.category))
            a.provider_event = true;
        if (from || to) {
            int64_t aend = a.end > a.start ? a.end : a.start + 1;
            if (aend <= from || a.start >= to)
                continue;
        }
        if (practitioner_id && strcmp(a.practitioner_id, practitioner_id))
            continue;
        if (patient_id && strcmp(a.patient_id, patient_id))
            continue;
        err = oe_appt_push(out, n, &cap, &a);
        if (err != SW_OK)
            goto cleanup;
    }
cleanup:
    json_decref(ans);
    if (err != SW_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return err;
}

static void digits_of(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    for (; s && *s && j + 1 < len; s++)
        if (isdigit((unsigned char)*s))
            buf[j++] = *s;
    buf[j] = '\0';
}

static bool phone_match(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (!la || !lb)
        return false;
    if (la >= 10 && lb >= 10)
        return !strcmp(a + la - 10, b + lb - 10);
    return !strcmp(a, b);
}

sw_err oe_fhir_find_patients(struct oe_client *c, struct oe_call *call, const char *phone,
                             const char *birthdate, struct oe_patient **out, size_t *n)
{
    char path[512], want[32], got[32];
    json_t *ans = NULL, *e;
    long status = 0;
    size_t cap = 0, i;
    sw_err err = SW_OK;
    digits_of(phone, want, sizeof(want));
    if (strlen(want) < 7 || !birthdate || strlen(birthdate) != 10) {
        oe_detail(call, "phone or birthdate malformed");
        return SW_ERR_INVALID;
    }
    char *bd = http_escape(birthdate);
    if (!bd)
        return SW_ERR_NOMEM;
    /* birthdate only: servers store phones formatted ("(555) 123-4567") and
     * search them as strings, so the digits are compared here instead */
    snprintf(path, sizeof(path), "%s/Patient?birthdate=%s", oe_fhir_base(c), bd);
    free(bd);
    struct oe_req r = {
        .method = "GET", .path = path, .route = "GET /fhir/Patient", .idempotent = true};
    err = oe_send(c, call, &r, &ans, &status);
    if (err != SW_OK)
        goto cleanup;
    if (!json_is_object(ans)) {
        err = SW_ERR_BAD_ANSWER;
        goto cleanup;
    }
    json_array_foreach(bundle_entries(ans), i, e)
    {
        json_t *res = json_object_get(e, "resource"), *t;
        const char *id = json_string_value(json_object_get(res, "id"));
        const char *bdate = json_string_value(json_object_get(res, "birthDate"));
        if (!id || !bdate || strcmp(bdate, birthdate))
            continue;
        bool match = false;
        size_t k;
        json_array_foreach(json_object_get(res, "telecom"), k, t)
        {
            const char *sys = json_string_value(json_object_get(t, "system"));
            if (sys && strcmp(sys, "phone") && strcmp(sys, "sms"))
                continue;
            digits_of(json_string_value(json_object_get(t, "value")), got, sizeof(got));
            if (phone_match(want, got))
                match = true;
        }
        if (!match)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            struct oe_patient *np = realloc(*out, nc * sizeof(*np));
            if (!np) {
                err = SW_ERR_NOMEM;
                goto cleanup;
            }
            *out = np;
            cap = nc;
        }
        struct oe_patient *p = &(*out)[(*n)++];
        memset(p, 0, sizeof(*p));
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->birthdate, sizeof(p->birthdate), "%s", bdate);
        json_t *name = json_array_get(json_object_get(res, "name"), 0);
        const char *fam = json_string_value(json_object_get(name, "family"));
        const char *giv = json_string_value(json_array_get(json_object_get(name, "given"), 0));
        snprintf(p->family, sizeof(p->family), "%s", fam ? fam : "");
        snprintf(p->given, sizeof(p->given), "%s", giv ? giv : "");
    }
cleanup:
    json_decref(ans);
    if (err != SW_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return err;
}

/* ---- the FHIR scheduling surface ------------------------------------- */

static sw_err fhir_list_range(struct oe_client *c, struct oe_call *call,
                              const char *practitioner_id, int64_t from, int64_t to,
                              struct oe_appt **out, size_t *n)
{
    char q[512];
    oe_fhir_date_query(from, to, q, sizeof(q));
    if (practitioner_id) {
        char *p = http_escape(practitioner_id);
        if (!p)
            return SW_ERR_NOMEM;
        size_t l = strlen(q);
        snprintf(q + l, sizeof(q) - l, "&practitioner=Practitioner/%s", p);
        free(p);
    }
    return oe_fhir_appt_search(c, call, q, NULL, practitioner_id, from, to, out, n);
}

static sw_err fhir_list_patient(struct oe_client *c, struct oe_call *call, const char *patient_id,
                                int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    char q[512], dq[128] = "";
    char *p = http_escape(patient_id);
    if (!p)
        return SW_ERR_NOMEM;
    if (from || to)
        oe_fhir_date_query(from, to, dq, sizeof(dq));
    snprintf(q, sizeof(q), "patient=Patient/%s%s%s", p, dq[0] ? "&" : "", dq);
    free(p);
    return oe_fhir_appt_search(c, call, q, patient_id, NULL, from, to, out, n);
}

static sw_err fhir_free_slots(struct oe_client *c, struct oe_call *call,
                              const char *practitioner_id, int64_t from, int64_t to,
                              bool *has_slots, struct oe_interval **out, size_t *n)
{
    char path[1024], t1[40], t2[40], actor[200] = "";
    json_t *ans = NULL, *e;
    long status = 0;
    size_t cap = 0, i;
    timeutil_format_rfc3339(from, t1, sizeof(t1));
    timeutil_format_rfc3339(to, t2, sizeof(t2));
    char *e1 = http_escape(t1), *e2 = http_escape(t2);
    char *pe = practitioner_id ? http_escape(practitioner_id) : NULL;
    if (pe)
        snprintf(actor, sizeof(actor), "&schedule.actor=Practitioner/%s", pe);
    snprintf(path, sizeof(path), "%s/Slot?start=ge%s&start=le%s&status=free%s", oe_fhir_base(c),
             e1 ? e1 : "", e2 ? e2 : "", actor);
    free(e1);
    free(e2);
    free(pe);
    struct oe_req r = {
        .method = "GET", .path = path, .route = "GET /fhir/Slot", .idempotent = true};
    sw_err err = oe_send(c, call, &r, &ans, &status);
    if (err != SW_OK)
        goto cleanup;
    if (!json_is_object(ans)) {
        err = SW_ERR_BAD_ANSWER;
        goto cleanup;
    }
    *has_slots = true;
    json_array_foreach(bundle_entries(ans), i, e)
    {
        json_t *res = json_object_get(e, "resource");
        const char *st = json_string_value(json_object_get(res, "status"));
        struct oe_interval iv;
        if ((st && strcmp(st, "free")) ||
            timeutil_parse_iso8601(json_string_value(json_object_get(res, "start")), &iv.start) ||
            timeutil_parse_iso8601(json_string_value(json_object_get(res, "end")), &iv.end) ||
            iv.end <= iv.start || iv.start < from || iv.start >= to)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct oe_interval *ni = realloc(*out, nc * sizeof(*ni));
            if (!ni) {
                err = SW_ERR_NOMEM;
                goto cleanup;
            }
            *out = ni;
            cap = nc;
        }
        (*out)[(*n)++] = iv;
    }
cleanup:
    json_decref(ans);
    if (err != SW_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return err;
}

static sw_err fhir_create(struct oe_client *c, struct oe_call *call, const struct oe_new_appt *req,
                          struct oe_appt *out)
{
    char t1[40], t2[40], pref[96], prref[96], path[256];
    json_t *body = NULL, *ans = NULL;
    long status = 0;
    timeutil_format_rfc3339(req->start, t1, sizeof(t1));
    timeutil_format_rfc3339(req->end, t2, sizeof(t2));
    snprintf(pref, sizeof(pref), "Patient/%s", req->patient_id);
    snprintf(prref, sizeof(prref), "Practitioner/%s", req->practitioner_id);
    body = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:{s:[{s:s, s:s}]}, s:s, s:s, s:I,"
                     " s:[{s:{s:s}, s:s}, {s:{s:s}, s:s}], s:s?}",
                     "resourceType", "Appointment", "status", "booked", "identifier", "system",
                     CONF_SYSTEM, "value", req->confirmation, "appointmentType", "coding", "code",
                     code_of(req->type), "display", req->type->title, "start", t1, "end", t2,
                     "minutesDuration", (json_int_t)((req->end - req->start) / 60), "participant",
                     "actor", "reference", pref, "status", "accepted", "actor", "reference", prref,
                     "status", "accepted", "description", req->reason);
    if (!body)
        return SW_ERR_NOMEM;
    snprintf(path, sizeof(path), "%s/Appointment", oe_fhir_base(c));
    struct oe_req r = {.method = "POST",
                       .path = path,
                       .body = body,
                       .fhir_body = true,
                       .patient_id = req->patient_id,
                       .route = "POST /fhir/Appointment",
                       .idempotent = false};
    sw_err err = oe_send(c, call, &r, &ans, &status);
    if (err == SW_OK && !oe_fhir_appt_parse(ans, out)) {
        oe_detail(call, "Appointment create answered without an Appointment");
        err = SW_ERR_BAD_ANSWER;
    }
    if (err == SW_OK) {
        out->category = req->type->category;
        snprintf(out->appointment_type, sizeof(out->appointment_type), "%s", req->type->name);
        if (!out->confirmation[0])
            snprintf(out->confirmation, sizeof(out->confirmation), "%s", req->confirmation);
    }
    json_decref(body);
    json_decref(ans);
    return err;
}

static sw_err get_resource(struct oe_client *c, struct oe_call *call, const char *id,
                           const char *patient_id, json_t **ans)
{
    char path[256];
    long status = 0;
    char *e = http_escape(id);
    if (!e)
        return SW_ERR_NOMEM;
    snprintf(path, sizeof(path), "%s/Appointment/%s", oe_fhir_base(c), e);
    free(e);
    struct oe_req r = {.method = "GET",
                       .path = path,
                       .patient_id = patient_id,
                       .route = "GET /fhir/Appointment/:id",
                       .idempotent = true};
    return oe_send(c, call, &r, ans, &status);
}

static sw_err fhir_get(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                       struct oe_appt *out)
{
    json_t *ans = NULL;
    sw_err err = get_resource(c, call, appointment_id, NULL, &ans);
    if (err == SW_OK && !oe_fhir_appt_parse(ans, out))
        err = SW_ERR_BAD_ANSWER;
    if (err == SW_OK && !out->category && out->appointment_type[0])
        out->category = category_of(oe_cfg(c), out->appointment_type);
    if (err == SW_OK && out->category)
        type_name(oe_cfg(c), out->category, out->appointment_type, sizeof(out->appointment_type));
    json_decref(ans);
    return err;
}

static sw_err fhir_cancel(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                          const char *patient_id)
{
    json_t *res = NULL, *ans = NULL;
    char path[256];
    long status = 0;
    sw_err err = get_resource(c, call, appointment_id, patient_id, &res);
    if (err != SW_OK)
        goto cleanup;
    const char *st = json_string_value(json_object_get(res, "status"));
    if (st && !strcmp(st, "cancelled"))
        goto cleanup; /* already */
    json_object_set_new(res, "status", json_string("cancelled"));
    char *e = http_escape(appointment_id);
    if (!e) {
        err = SW_ERR_NOMEM;
        goto cleanup;
    }
    snprintf(path, sizeof(path), "%s/Appointment/%s", oe_fhir_base(c), e);
    free(e);
    struct oe_req r = {.method = "PUT",
                       .path = path,
                       .body = res,
                       .fhir_body = true,
                       .patient_id = patient_id,
                       .route = "PUT /fhir/Appointment/:id",
                       .idempotent = true};
    err = oe_send(c, call, &r, &ans, &status);
cleanup:
    json_decref(res);
    json_decref(ans);
    return err;
}

static sw_err fhir_find_by_confirmation(struct oe_client *c, struct oe_call *call,
                                        const char *confirmation, const char *patient_id,
                                        const char *practitioner_id, int64_t from, int64_t to,
                                        struct oe_appt *out)
{
    char q[256];
    struct oe_appt *arr = NULL;
    size_t n = 0;
    (void)practitioner_id;
    (void)from;
    (void)to;
    char *e = http_escape(confirmation);
    if (!e)
        return SW_ERR_NOMEM;
    snprintf(q, sizeof(q), "identifier=%s", e);
    free(e);
    sw_err err = oe_fhir_appt_search(c, call, q, NULL, NULL, 0, 0, &arr, &n);
    if (err == SW_OK) {
        err = SW_ERR_NOT_FOUND;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(arr[i].confirmation, confirmation) &&
                (!patient_id || !strcmp(arr[i].patient_id, patient_id))) {
                *out = arr[i];
                err = SW_OK;
                break;
            }
    }
    free(arr);
    return err;
}

static sw_err fhir_list_changed(struct oe_client *c, struct oe_call *call, int64_t since,
                                int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    char q[512], t[40], dq[128];
    timeutil_format_rfc3339(since, t, sizeof(t));
    char *e = http_escape(t);
    if (!e)
        return SW_ERR_NOMEM;
    oe_fhir_date_query(from, to, dq, sizeof(dq));
    snprintf(q, sizeof(q), "_lastUpdated=gt%s&%s", e, dq);
    free(e);
    return oe_fhir_appt_search(c, call, q, NULL, NULL, from, to, out, n);
}

/* Every FHIR id is its own canonical form here (numeric ids included:
 * servers such as HAPI use them). */
static sw_err fhir_resolve(struct oe_client *c, struct oe_call *call, enum id_kind kind,
                           const char *id, enum id_form form, char out[ID_MAX])
{
    (void)c;
    (void)call;
    (void)kind;
    (void)form;
    snprintf(out, ID_MAX, "%s", id);
    return SW_OK;
}

/* Without FHIR Practitioner: the actor of every Schedule. */
static sw_err fhir_practitioners(struct oe_client *c, struct oe_call *call, json_t *list)
{
    char path[256], id[64];
    json_t *ans = NULL, *e, *a;
    long status = 0;
    size_t i, k;
    snprintf(path, sizeof(path), "%s/Schedule", oe_fhir_base(c));
    struct oe_req r = {
        .method = "GET", .path = path, .route = "GET /fhir/Schedule", .idempotent = true};
    sw_err err = oe_send(c, call, &r, &ans, &status);
    json_array_foreach(err == SW_OK ? bundle_entries(ans) : NULL, i, e)
    {
        json_array_foreach(json_object_get(json_object_get(e, "resource"), "actor"), k, a)
        {
            const char *ref = json_string_value(json_object_get(a, "reference"));
            if (ref && (!strncmp(ref, "Practitioner/", 13) || !strncmp(ref, "Person/", 7))) {
                oe_ref_id(ref, id, sizeof(id));
                oe_list_add(list, id);
            }
        }
    }
    json_decref(ans);
    return err;
}

const struct oe_surface_ops oe_surface_fhir = {
    .name = "fhir-scheduling",
    .resolve = fhir_resolve,
    .find_patients = oe_fhir_find_patients,
    .list_range = fhir_list_range,
    .list_patient = fhir_list_patient,
    .free_slots = fhir_free_slots,
    .create = fhir_create,
    .cancel = fhir_cancel,
    .get = fhir_get,
    .find_by_confirmation = fhir_find_by_confirmation,
    .list_changed = fhir_list_changed,
    .practitioners = fhir_practitioners,
};
