/* surface_openemr.c - the real OpenEMR (openemr-facts.md sections 2-4):
 * FHIR reads (Patient, Appointment by date), /api writes (POST create,
 * DELETE cancel), /api patient lists (the only place the comment
 * pc_hometext, which carries the confirmation number, can be read).
 * Numeric ids (pid, pc_aid, pc_eid) are mapped from uuids through the
 * fleet cache.  Request costs are listed in docs/openemr-client.md. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "ids.h"
#include "keys.h"
#include "surface.h"
#include "timeutil.h"

/* A pc_uuid never changes its pc_eid: keep the pair as long as the events
 * that name it matter (a short life made the poller name one appointment
 * by both ids in turn). */
#define EID_MAP_TTL_S (400 * 86400)

/* A JSON value that may be a string or a number, as text. */
static void json_text(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else
        buf[0] = '\0';
}

static int json_int(json_t *v)
{
    char t[32];
    json_text(v, t, sizeof(t));
    return (int)strtol(t, NULL, 10);
}

/* The standard API wraps single records in {"data": ...} (and sometimes
 * answers arrays); returns the record object. */
static json_t *record_of(json_t *ans)
{
    json_t *d = json_object_get(ans, "data");
    if (d)
        ans = d;
    if (json_is_array(ans))
        ans = json_array_get(ans, 0);
    return json_is_object(ans) ? ans : NULL;
}

/* ---- id pairs ---------------------------------------------------------------
 *
 * OpenEMR names a patient by pid on /api and by uuid on FHIR (the
 * contract's id), a provider by user id (pc_aid) and uuid.  The pairs never
 * change: each is learned from every /api row that carries both, kept for
 * MAP_TTL_S in both directions, and looked up in OpenEMR only when unknown.
 * A provider's user id can also be configured (practitioner.ID.user_id),
 * which is the only way without the admin/users ACL that /api/practitioner
 * needs. */
#define MAP_TTL_S (400 * 86400)

static bool key_of(enum id_kind kind, bool from_uuid, const char *id, char *key, size_t len)
{
    if (kind == ID_PATIENT)
        return from_uuid ? key_map_patient(key, len, id) : key_map_pid(key, len, id);
    return from_uuid ? key_map_practitioner(key, len, id) : key_map_user(key, len, id);
}

/* Remembers a pair, both ways (a pair written a moment ago is not written
 * again). */
static void learn(struct oe_client *c, enum id_kind kind, const char *num, const char *uuid)
{
    struct fleet *f = oe_fleet(c);
    char key[160];
    enum id_form form;
    char norm[ID_MAX];
    if (!f || !ids_is_digits(num) || ids_normalize(kind, uuid, norm, &form) || form != ID_FORM_UUID)
        return;
    if (key_of(kind, true, norm, key, sizeof(key)) && !oe_seen_lately(c, key))
        fleet_cache_put(f, key, num, MAP_TTL_S);
    if (key_of(kind, false, num, key, sizeof(key)) && !oe_seen_lately(c, key))
        fleet_cache_put(f, key, norm, MAP_TTL_S);
}

/* The other half of a pair from the cache: SW_OK or SW_ERR_NOT_FOUND. */
static sw_err cached_pair(struct oe_client *c, enum id_kind kind, bool from_uuid, const char *id,
                          char *out, size_t len)
{
    char key[160], *v = NULL;
    struct fleet *f = oe_fleet(c);
    sw_err err = SW_ERR_NOT_FOUND;
    if (f && key_of(kind, from_uuid, id, key, sizeof(key)) &&
        fleet_cache_get(f, key, &v) == SW_OK && v && strlen(v) < len &&
        (from_uuid ? ids_is_digits(v) : strlen(v) == 36)) {
        snprintf(out, len, "%s", v);
        err = SW_OK;
    } else if (f) {
        oe_seen_forget(c, key);
    }
    free(v);
    return err;
}

static sw_err api_get(struct oe_client *c, struct oe_call *call, const char *path,
                      const char *route, const char *patient_id, json_t **ans, long *statusp)
{
    long status = 0;
    struct oe_req r = {.method = "GET",
                       .path = path,
                       .patient_id = patient_id,
                       .route = route,
                       .idempotent = true};
    sw_err err = oe_send(c, call, &r, ans, &status);
    if (err == SW_ERR_FORBIDDEN)
        oe_detail(call, "%s: OpenEMR refused it (ACL)", route);
    if (statusp)
        *statusp = status;
    return err;
}

/* ---- provider ids without the admin/users ACL ------------------------------
 *
 * /api/practitioner and FHIR Practitioner need admin/users
 * (apis/routes/_rest_routes_standard.inc.php "GET /api/practitioner/:pruuid",
 * RestConfig::request_authorization_check), and /api/practitioner/:pruuid
 * finds only users with an NPI and a username (PractitionerService's
 * search).  Every /api appointment row carries the provider's user id and
 * uuid (AppointmentService::search selects pce.pc_aid and providers.uuid AS
 * pce_aid_uuid), and GET /api/appointment needs only patients/appt: one
 * read of it learns every provider pair the calendar knows.  It is read at
 * most once per cache.reference_ttl_s for the fleet (map:scanned). */
static bool scanned_lately(struct oe_client *c)
{
    char *v = NULL;
    bool yes = oe_fleet(c) &&
               fleet_cache_get(oe_fleet(c), key_name(KEY_MAP_SCANNED), &v) == SW_OK && v &&
               !strcmp(v, "1");
    free(v);
    return yes;
}

/* Reads every /api appointment row: learns each provider pair, adds each
 * provider's uuid to uuids (may be NULL). */
static sw_err scan_provider_rows(struct oe_client *c, struct oe_call *call, json_t *uuids);

/* A provider's user id from the appointment rows (read once lately). */
static sw_err practitioner_from_rows(struct oe_client *c, struct oe_call *call, const char *uuid,
                                     char *out, size_t len)
{
    sw_err err = SW_OK;
    if (!scanned_lately(c))
        err = scan_provider_rows(c, call, NULL);
    if (err == SW_OK)
        err = cached_pair(c, ID_PRACTITIONER, true, uuid, out, len);
    if (err == SW_ERR_NOT_FOUND)
        oe_detail(call,
                  "no OpenEMR user id for %s (/api/practitioner: no admin/users ACL, or no "
                  "NPI/username; no appointment row): set practitioner.%s.user_id",
                  uuid, uuid);
    return err;
}

/* uuid -> numeric id, for /api paths and bodies. */
static sw_err numeric_of(struct oe_client *c, struct oe_call *call, enum id_kind kind,
                         const char *uuid, char *out, size_t len)
{
    const char *conf =
        kind == ID_PRACTITIONER ? sw_config_practitioner_user(oe_cfg(c), uuid) : NULL;
    if (conf) {
        snprintf(out, len, "%s", conf);
        return SW_OK;
    }
    if (cached_pair(c, kind, true, uuid, out, len) == SW_OK)
        return SW_OK;
    if (kind == ID_PRACTITIONER && oe_refused(c, "practitioner-api"))
        return practitioner_from_rows(c, call, uuid, out, len);
    char path[256];
    json_t *ans = NULL;
    long status = 0;
    char *e = http_escape(uuid);
    if (!e)
        return SW_ERR_NOMEM;
    bool patient = kind == ID_PATIENT;
    snprintf(path, sizeof(path), "%s/%s/%s", oe_api_base(c), patient ? "patient" : "practitioner",
             e);
    free(e);
    sw_err err =
        api_get(c, call, path, patient ? "GET /api/patient/:uuid" : "GET /api/practitioner/:uuid",
                patient ? uuid : NULL, &ans, &status);
    out[0] = '\0';
    if (!patient && oe_is_refusal(err, status, ans)) {
        json_decref(ans);
        oe_mark_refused(c, "practitioner-api",
                        "GET /api/practitioner refused (the user lacks the admin/users ACL): "
                        "provider ids come from practitioner.ID.user_id and appointment rows");
        return practitioner_from_rows(c, call, uuid, out, len);
    }
    if (!patient && (err == SW_ERR_NOT_FOUND || err == SW_ERR_INVALID)) {
        json_decref(ans); /* no NPI or no username, or not a user: the rows may know it */
        return practitioner_from_rows(c, call, uuid, out, len);
    }
    if (err == SW_OK) {
        json_t *rec = record_of(ans);
        json_text(json_object_get(rec, patient ? "pid" : "id"), out, len);
        if (!out[0] && patient)
            json_text(json_object_get(rec, "id"), out, len);
        if (!ids_is_digits(out)) {
            oe_detail(call, "OpenEMR has no numeric id for this %s", ids_kind_name(kind));
            err = rec ? SW_ERR_BAD_ANSWER : SW_ERR_NOT_FOUND;
        } else {
            learn(c, kind, out, uuid);
        }
    } else if (err == SW_ERR_INVALID) {
        err = SW_ERR_NOT_FOUND; /* 8.x: an unknown uuid is a 400 with validationErrors */
    }
    json_decref(ans);
    return err;
}

/* numeric id -> uuid: the contract's id of a number OpenEMR's screens show. */
static sw_err uuid_of(struct oe_client *c, struct oe_call *call, enum id_kind kind, const char *num,
                      char *out, size_t len)
{
    const char *conf =
        kind == ID_PRACTITIONER ? sw_config_practitioner_of_user(oe_cfg(c), num) : NULL;
    if (conf && strlen(conf) < len) {
        snprintf(out, len, "%s", conf);
        return SW_OK;
    }
    if (cached_pair(c, kind, false, num, out, len) == SW_OK)
        return SW_OK;
    char path[256];
    json_t *ans = NULL, *row;
    size_t i;
    sw_err err;
    if (kind == ID_PATIENT) {
        /* No /api search takes a pid; the patient's own rows carry both. */
        snprintf(path, sizeof(path), "%s/patient/%s/appointment", oe_api_base(c), num);
        err = api_get(c, call, path, "GET /api/patient/:pid/appointment", NULL, &ans, NULL);
        if (err == SW_OK) {
            json_t *d = json_object_get(ans, "data");
            json_array_foreach(json_is_array(d) ? d : ans, i, row)
            {
                char pid[24], puuid[ID_MAX];
                json_text(json_object_get(row, "pid"), pid, sizeof(pid));
                json_text(json_object_get(row, "puuid"), puuid, sizeof(puuid));
                learn(c, ID_PATIENT, pid, puuid);
            }
        }
    } else if (oe_refused(c, "practitioner-api")) {
        err = scanned_lately(c) ? SW_OK : scan_provider_rows(c, call, NULL);
    } else {
        long status = 0;
        snprintf(path, sizeof(path), "%s/practitioner", oe_api_base(c));
        err = api_get(c, call, path, "GET /api/practitioner", NULL, &ans, &status);
        if (oe_is_refusal(err, status, ans)) {
            oe_mark_refused(c, "practitioner-api",
                            "GET /api/practitioner refused (the user lacks the admin/users "
                            "ACL): provider ids come from practitioner.ID.user_id and "
                            "appointment rows");
            call->detail[0] = '\0';
            err = scan_provider_rows(c, call, NULL);
        }
        if (err == SW_OK) {
            json_t *d = json_object_get(ans, "data");
            json_array_foreach(json_is_array(d) ? d : ans, i, row)
            {
                char id[24], uuid[ID_MAX];
                json_text(json_object_get(row, "id"), id, sizeof(id));
                json_text(json_object_get(row, "uuid"), uuid, sizeof(uuid));
                learn(c, ID_PRACTITIONER, id, uuid);
            }
        }
    }
    json_decref(ans);
    if (err == SW_OK || err == SW_ERR_NOT_FOUND || err == SW_ERR_FORBIDDEN || err == SW_ERR_INVALID)
        err = cached_pair(c, kind, false, num, out, len);
    if (err == SW_ERR_NOT_FOUND)
        oe_detail(call, "%s %s: OpenEMR does not say whose number this is", ids_kind_name(kind),
                  num);
    return err;
}

static sw_err oemr_resolve(struct oe_client *c, struct oe_call *call, enum id_kind kind,
                           const char *id, enum id_form form, char out[ID_MAX])
{
    switch (form) {
    case ID_FORM_UUID:
        snprintf(out, ID_MAX, "%s", id);
        return SW_OK;
    case ID_FORM_NUMERIC:
        return uuid_of(c, call, kind, id, out, ID_MAX);
    case ID_FORM_FHIR:
        break;
    }
    oe_detail(call, "OpenEMR's ids are uuids or numbers");
    return SW_ERR_INVALID;
}

static enum oe_appt_status status_of(const char *s)
{
    if (!strcmp(s, "x") || !strcmp(s, "%") || !strcmp(s, "!"))
        return OE_APPT_CANCELLED;
    if (!strcmp(s, "?"))
        return OE_APPT_NOSHOW;
    if (!strcmp(s, ">") || !strcmp(s, "$"))
        return OE_APPT_FULFILLED;
    return OE_APPT_BOOKED;
}

static void type_of(const struct sw_config *cfg, int catid, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < cfg->n_types; i++)
        if (cfg->types[i].category == catid) {
            snprintf(buf, len, "%s", cfg->types[i].name);
            return;
        }
}

/* One /api appointment row. */
bool oe_api_row_parse(struct oe_client *c, json_t *row, struct oe_appt *a)
{
    char date[16], st[16], et[16], status[16], upd[32];
    memset(a, 0, sizeof(*a));
    json_text(json_object_get(row, "pc_eid"), a->id, sizeof(a->id));
    json_text(json_object_get(row, "pc_uuid"), a->uuid, sizeof(a->uuid));
    json_text(json_object_get(row, "puuid"), a->patient_id, sizeof(a->patient_id));
    json_text(json_object_get(row, "pce_aid_uuid"), a->practitioner_id, sizeof(a->practitioner_id));
    json_text(json_object_get(row, "pc_eventDate"), date, sizeof(date));
    json_text(json_object_get(row, "pc_startTime"), st, sizeof(st));
    json_text(json_object_get(row, "pc_endTime"), et, sizeof(et));
    json_text(json_object_get(row, "pc_apptstatus"), status, sizeof(status));
    if (!a->id[0] || timeutil_parse_wall(date, st, &a->start))
        return false;
    int dur = json_int(json_object_get(row, "pc_duration"));
    if (!et[0] || timeutil_parse_wall(date, et, &a->end) || a->end < a->start)
        a->end = a->start + (dur > 0 ? dur : 0);
    a->category = json_int(json_object_get(row, "pc_catid"));
    if (!strcmp(a->patient_id, "") || json_int(json_object_get(row, "pid")) == 0)
        a->patient_id[0] = '\0';
    a->provider_event = !a->patient_id[0] || oe_provider_category(a->category);
    a->status = status_of(status);
    type_of(oe_cfg(c), a->category, a->appointment_type, sizeof(a->appointment_type));
    json_text(json_object_get(row, "pc_time"), upd, sizeof(upd));
    if (upd[0] && strlen(upd) >= 19) {
        upd[10] = '\0';
        timeutil_parse_wall(upd, upd + 11, &a->updated);
    }
    const char *home = json_string_value(json_object_get(row, "pc_hometext"));
    if (home) {
        size_t k = 0;
        while (home[k] && !isspace((unsigned char)home[k]) && k + 1 < sizeof(a->confirmation))
            k++;
        if (k >= 4 && (!home[k] || isspace((unsigned char)home[k]))) {
            memcpy(a->confirmation, home, k);
            a->confirmation[k] = '\0';
        }
    }
    /* remember pc_uuid -> pc_eid for FHIR-sourced rows, and the id pairs */
    char uuid[64], num[24];
    json_text(json_object_get(row, "pc_uuid"), uuid, sizeof(uuid));
    if (uuid[0] && oe_fleet(c)) {
        char key[128];
        key_map_eid(key, sizeof(key), uuid);
        if (!oe_seen_lately(c, key))
            fleet_cache_put(oe_fleet(c), key, a->id, EID_MAP_TTL_S);
    }
    json_text(json_object_get(row, "pid"), num, sizeof(num));
    if (a->patient_id[0])
        learn(c, ID_PATIENT, num, a->patient_id);
    json_text(json_object_get(row, "pc_aid"), num, sizeof(num));
    if (a->practitioner_id[0])
        learn(c, ID_PRACTITIONER, num, a->practitioner_id);
    return true;
}

/* pc_uuid -> pc_eid, for rows read through FHIR (ids become pc_eid where
 * the mapping is known; else the FHIR id is kept). */
static void map_eids(struct oe_client *c, struct oe_appt *arr, size_t n)
{
    struct fleet *f = oe_fleet(c);
    for (size_t i = 0; f && i < n; i++) {
        char key[128], *v = NULL;
        if (arr[i].provider_event)
            continue;
        key_map_eid(key, sizeof(key), arr[i].id);
        if (fleet_cache_get(f, key, &v) == SW_OK && v && ids_is_digits(v))
            snprintf(arr[i].id, sizeof(arr[i].id), "%s", v);
        free(v);
    }
}

static sw_err api_rows(struct oe_client *c, struct oe_call *call, const char *path,
                       const char *route, const char *patient_id, json_t **rows)
{
    long status = 0;
    sw_err err = api_get(c, call, path, route, patient_id, rows, &status);
    if (err == SW_ERR_NOT_FOUND && status == 404 && (!*rows || json_is_array(*rows))) {
        json_decref(*rows);
        *rows = json_array(); /* empty result */
        return *rows ? SW_OK : SW_ERR_NOMEM;
    }
    if (err == SW_OK && json_is_object(*rows) && json_object_get(*rows, "data")) {
        json_t *d = json_incref(json_object_get(*rows, "data"));
        json_decref(*rows);
        *rows = d;
    }
    if (err == SW_OK && !json_is_array(*rows) && !json_is_object(*rows))
        err = SW_ERR_BAD_ANSWER;
    return err;
}

static sw_err scan_provider_rows(struct oe_client *c, struct oe_call *call, json_t *uuids)
{
    char path[256];
    json_t *rows = NULL, *row;
    size_t i;
    snprintf(path, sizeof(path), "%s/appointment", oe_api_base(c));
    sw_err err = api_rows(c, call, path, "GET /api/appointment", NULL, &rows);
    if (err == SW_ERR_FORBIDDEN)
        oe_detail(call, "GET /api/appointment refused: the user lacks the patients/appt ACL");
    json_array_foreach(err == SW_OK && json_is_array(rows) ? rows : NULL, i, row)
    {
        char aid[24], uuid[ID_MAX];
        json_text(json_object_get(row, "pc_aid"), aid, sizeof(aid));
        json_text(json_object_get(row, "pce_aid_uuid"), uuid, sizeof(uuid));
        learn(c, ID_PRACTITIONER, aid, uuid);
        if (uuids && ids_is_digits(aid) && strlen(uuid) == 36)
            oe_list_add(uuids, uuid);
    }
    json_decref(rows);
    if (err == SW_OK && oe_fleet(c))
        fleet_cache_put(oe_fleet(c), key_name(KEY_MAP_SCANNED), "1", oe_cfg(c)->ref_cache_ttl_s);
    return err;
}

/* Without FHIR Practitioner: every provider an appointment row names. */
static sw_err oemr_practitioners(struct oe_client *c, struct oe_call *call, json_t *list)
{
    return scan_provider_rows(c, call, list);
}

static sw_err oemr_list_patient(struct oe_client *c, struct oe_call *call, const char *patient_id,
                                int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    char pid[24], path[256];
    json_t *rows = NULL, *row;
    size_t cap = 0, i;
    sw_err err = numeric_of(c, call, ID_PATIENT, patient_id, pid, sizeof(pid));
    if (err != SW_OK)
        return err;
    snprintf(path, sizeof(path), "%s/patient/%s/appointment", oe_api_base(c), pid);
    err = api_rows(c, call, path, "GET /api/patient/:pid/appointment", patient_id, &rows);
    if (err != SW_OK)
        goto cleanup;
    if (json_is_object(rows)) { /* a single row */
        json_t *arr = json_array();
        json_array_append(arr, rows);
        json_decref(rows);
        rows = arr;
    }
    json_array_foreach(rows, i, row)
    {
        struct oe_appt a;
        if (!oe_api_row_parse(c, row, &a))
            continue;
        if (!a.patient_id[0])
            snprintf(a.patient_id, sizeof(a.patient_id), "%s", patient_id);
        if ((from || to) && ((a.end > a.start ? a.end : a.start + 1) <= from || a.start >= to))
            continue;
        err = oe_appt_push(out, n, &cap, &a);
        if (err != SW_OK)
            goto cleanup;
    }
cleanup:
    json_decref(rows);
    if (err != SW_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return err;
}

/* Whether a row belongs to the whole clinic: no provider (pc_aid 0) and
 * no patient, as OpenEMR's Holidays (6) and Closed (7) days are
 * (sql/database.sql: pc_cattype 2; src/Services/HolidayService.php writes
 * pc_aid 0).  Such a row closes the clinic for every practitioner.  FHIR
 * names those two categories by their appointmentType code only: the
 * category is set from it. */
static bool clinic_wide(struct oe_appt *a)
{
    if (!strcmp(a->appointment_type, "holidays"))
        a->category = 6;
    else if (!strcmp(a->appointment_type, "closed"))
        a->category = 7;
    return !a->practitioner_id[0] && !a->patient_id[0];
}

static sw_err oemr_list_range(struct oe_client *c, struct oe_call *call,
                              const char *practitioner_id, int64_t from, int64_t to,
                              struct oe_appt **out, size_t *n)
{
    char q[256];
    oe_fhir_date_query(from, to, q, sizeof(q));
    /* every row, then the practitioner's and the clinic-wide ones */
    sw_err err = oe_fhir_appt_search(c, call, q, NULL, NULL, from, to, out, n);
    size_t k = 0;
    for (size_t i = 0; err == SW_OK && i < *n; i++)
        if (clinic_wide(&(*out)[i]) || !practitioner_id ||
            !strcmp((*out)[i].practitioner_id, practitioner_id))
            (*out)[k++] = (*out)[i];
    if (err == SW_OK) {
        *n = k;
        map_eids(c, *out, *n);
    }
    return err;
}

static sw_err oemr_free_slots(struct oe_client *c, struct oe_call *call,
                              const char *practitioner_id, int64_t from, int64_t to,
                              bool *has_slots, struct oe_interval **out, size_t *n)
{
    (void)c;
    (void)call;
    (void)practitioner_id;
    (void)from;
    (void)to;
    *has_slots = false; /* OpenEMR has no free-slot API */
    *out = NULL;
    *n = 0;
    return SW_OK;
}

static sw_err oemr_create(struct oe_client *c, struct oe_call *call, const struct oe_new_appt *req,
                          struct oe_appt *out)
{
    const struct sw_config *cfg = oe_cfg(c);
    char pid[24], aid[24], date[11], hhmm[6], path[256], num[5][24], home[512];
    json_t *body = NULL, *ans = NULL;
    long status = 0;
    sw_err err = numeric_of(c, call, ID_PATIENT, req->patient_id, pid, sizeof(pid));
    if (err == SW_OK)
        err = numeric_of(c, call, ID_PRACTITIONER, req->practitioner_id, aid, sizeof(aid));
    if (err != SW_OK)
        return err;
    timeutil_format_local_date(req->start, date, sizeof(date));
    timeutil_format_hhmm(req->start, hhmm, sizeof(hhmm));
    snprintf(num[0], sizeof(num[0]), "%d", req->type->category);
    snprintf(num[1], sizeof(num[1]), "%lld", (long long)(req->end - req->start));
    snprintf(num[2], sizeof(num[2]), "%d", cfg->openemr_facility_id);
    snprintf(home, sizeof(home), "%s%s%s", req->confirmation, req->reason ? " " : "",
             req->reason ? req->reason : "");
    const char *title = req->type->title[0] ? req->type->title : req->type->name;
    body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "pc_catid", num[0],
                     "pc_title", title, "pc_duration", num[1], "pc_hometext", home, "pc_apptstatus",
                     "-", "pc_eventDate", date, "pc_startTime", hhmm, "pc_facility", num[2],
                     "pc_billing_location", num[2], "pc_aid", aid);
    if (!body)
        return SW_ERR_NOMEM;
    snprintf(path, sizeof(path), "%s/patient/%s/appointment", oe_api_base(c), pid);
    struct oe_req r = {.method = "POST",
                       .path = path,
                       .body = body,
                       .patient_id = req->patient_id,
                       .route = "POST /api/patient/:pid/appointment",
                       .idempotent = false};
    err = oe_send(c, call, &r, &ans, &status);
    if (err == SW_OK) {
        json_t *id = json_object_get(ans, "id");
        if (!id && json_object_get(ans, "data"))
            id = json_object_get(json_object_get(ans, "data"), "id");
        json_text(id, out->id, sizeof(out->id));
        if (!ids_is_digits(out->id)) {
            oe_detail(call, "create refused by OpenEMR validation (HTTP %ld)", status);
            err = SW_ERR_INVALID;
        }
    } else if (err == SW_ERR_INVALID) {
        oe_detail(call, "create refused by OpenEMR validation (HTTP %ld)", status);
    }
    if (err == SW_OK) {
        snprintf(out->patient_id, sizeof(out->patient_id), "%s", req->patient_id);
        snprintf(out->practitioner_id, sizeof(out->practitioner_id), "%s", req->practitioner_id);
        out->start = req->start;
        out->end = req->end;
        out->category = req->type->category;
        out->status = OE_APPT_BOOKED;
        snprintf(out->confirmation, sizeof(out->confirmation), "%s", req->confirmation);
        snprintf(out->appointment_type, sizeof(out->appointment_type), "%s", req->type->name);
    }
    json_decref(body);
    json_decref(ans);
    return err;
}

/* The /api row of an appointment by pc_eid. */
static sw_err get_row(struct oe_client *c, struct oe_call *call, const char *eid,
                      const char *patient_id, struct oe_appt *out, char *pid, size_t pidlen)
{
    char path[256];
    json_t *rows = NULL;
    snprintf(path, sizeof(path), "%s/appointment/%s", oe_api_base(c), eid);
    sw_err err = api_rows(c, call, path, "GET /api/appointment/:eid", patient_id, &rows);
    if (err != SW_OK)
        return err;
    json_t *row = json_is_array(rows) ? json_array_get(rows, 0) : rows;
    if (!row) {
        err = SW_ERR_NOT_FOUND;
    } else if (!oe_api_row_parse(c, row, out)) {
        err = SW_ERR_BAD_ANSWER;
    } else if (pid) {
        json_text(json_object_get(row, "pid"), pid, pidlen);
    }
    json_decref(rows);
    return err;
}

/* A FHIR appointment id (uuid) -> pc_eid: the cache, else the patient's rows. */
static sw_err eid_of(struct oe_client *c, struct oe_call *call, const char *id, char *eid,
                     size_t len)
{
    char key[128], *v = NULL, path[256];
    json_t *ans = NULL;
    long status = 0;
    if (ids_is_digits(id)) {
        snprintf(eid, len, "%s", id);
        return SW_OK;
    }
    key_map_eid(key, sizeof(key), id);
    if (oe_fleet(c) && fleet_cache_get(oe_fleet(c), key, &v) == SW_OK && v && ids_is_digits(v)) {
        snprintf(eid, len, "%s", v);
        free(v);
        return SW_OK;
    }
    free(v);
    char *e = http_escape(id);
    if (!e)
        return SW_ERR_NOMEM;
    snprintf(path, sizeof(path), "%s/Appointment/%s", oe_fhir_base(c), e);
    free(e);
    struct oe_req r = {
        .method = "GET", .path = path, .route = "GET /fhir/Appointment/:id", .idempotent = true};
    sw_err err = oe_send(c, call, &r, &ans, &status);
    struct oe_appt a;
    if (err == SW_OK && !oe_fhir_appt_parse_as(ans, true, &a))
        err = SW_ERR_BAD_ANSWER;
    json_decref(ans);
    if (err != SW_OK)
        return err;
    if (!a.patient_id[0])
        return SW_ERR_NOT_FOUND;
    struct oe_appt *rows = NULL;
    size_t n = 0;
    err = oemr_list_patient(c, call, a.patient_id, 0, 0, &rows, &n); /* fills the cache */
    free(rows);
    if (err != SW_OK)
        return err;
    if (oe_fleet(c) && fleet_cache_get(oe_fleet(c), key, &v) == SW_OK && v && ids_is_digits(v)) {
        snprintf(eid, len, "%s", v);
        free(v);
        return SW_OK;
    }
    free(v);
    return SW_ERR_NOT_FOUND;
}

static sw_err oemr_get(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                       struct oe_appt *out)
{
    char eid[32];
    sw_err err = eid_of(c, call, appointment_id, eid, sizeof(eid));
    if (err != SW_OK)
        return err;
    return get_row(c, call, eid, NULL, out, NULL, 0);
}

static sw_err oemr_cancel(struct oe_client *c, struct oe_call *call, const char *appointment_id,
                          const char *patient_id)
{
    char eid[32], pid[24] = "", path[256];
    struct oe_appt a;
    json_t *ans = NULL;
    long status = 0;
    sw_err err = eid_of(c, call, appointment_id, eid, sizeof(eid));
    if (err == SW_OK) /* DELETE says 200 even for an unknown eid: look first */
        err = get_row(c, call, eid, patient_id, &a, pid, sizeof(pid));
    if (err != SW_OK)
        return err;
    if (!ids_is_digits(pid))
        snprintf(pid, sizeof(pid), "0");
    snprintf(path, sizeof(path), "%s/patient/%s/appointment/%s", oe_api_base(c), pid, eid);
    struct oe_req r = {.method = "DELETE",
                       .path = path,
                       .patient_id =
                           patient_id ? patient_id : (a.patient_id[0] ? a.patient_id : NULL),
                       .route = "DELETE /api/patient/:pid/appointment/:eid",
                       .idempotent = true};
    err = oe_send(c, call, &r, &ans, &status);
    json_decref(ans);
    return err;
}

/* The number among one patient's /api rows in [from, to): the rows the
 * list gives carry no pc_hometext, so each candidate row is read by eid
 * (a patient has few rows in a range). */
static sw_err patient_confirmation(struct oe_client *c, struct oe_call *call,
                                   const char *confirmation, const char *patient_id,
                                   const char *practitioner_id, int64_t from, int64_t to,
                                   struct oe_appt *out)
{
    struct oe_appt *rows = NULL;
    size_t nr = 0;
    sw_err err = oemr_list_patient(c, call, patient_id, from, to, &rows, &nr);
    if (err != SW_OK)
        return err;
    err = SW_ERR_NOT_FOUND;
    for (size_t k = 0; k < nr && err == SW_ERR_NOT_FOUND; k++) {
        if (practitioner_id && strcmp(rows[k].practitioner_id, practitioner_id))
            continue;
        if (!rows[k].confirmation[0]) { /* row without pc_hometext: read it */
            struct oe_appt full;
            sw_err gerr = get_row(c, call, rows[k].id, rows[k].patient_id, &full, NULL, 0);
            if (gerr == SW_OK)
                rows[k] = full;
            else if (gerr != SW_ERR_NOT_FOUND)
                err = gerr; /* cannot tell: not "not found" */
        }
        if (err == SW_ERR_NOT_FOUND && !strcmp(rows[k].confirmation, confirmation)) {
            *out = rows[k];
            err = SW_OK;
        }
    }
    free(rows);
    return err;
}

static sw_err oemr_find_by_confirmation(struct oe_client *c, struct oe_call *call,
                                        const char *confirmation, const char *patient_id,
                                        const char *practitioner_id, int64_t from, int64_t to,
                                        struct oe_appt *out)
{
    if (patient_id) /* bounded: one patient's rows */
        return patient_confirmation(c, call, confirmation, patient_id, practitioner_id, from, to,
                                    out);
    /* Anyone's: every patient seen in the range, each once. */
    struct oe_appt *cand = NULL;
    size_t nc = 0;
    char q[256];
    oe_fhir_date_query(from, to, q, sizeof(q));
    sw_err err = oe_fhir_appt_search(c, call, q, NULL, practitioner_id, from, to, &cand, &nc);
    if (err != SW_OK)
        return err;
    err = SW_ERR_NOT_FOUND;
    for (size_t i = 0; i < nc && err == SW_ERR_NOT_FOUND; i++) {
        bool seen = !cand[i].patient_id[0];
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(cand[k].patient_id, cand[i].patient_id);
        if (!seen)
            err = patient_confirmation(c, call, confirmation, cand[i].patient_id, practitioner_id,
                                       from, to, out);
    }
    free(cand);
    return err;
}

static sw_err oemr_list_changed(struct oe_client *c, struct oe_call *call, int64_t since,
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
    sw_err err = oe_fhir_appt_search(c, call, q, NULL, NULL, from, to, out, n);
    if (err == SW_OK)
        map_eids(c, *out, *n);
    return err;
}

/* ---- the startup check ----------------------------------------------------- */

/* How one practitioner maps to OpenEMR's user id, and why not. */
static void check_practitioner(struct oe_client *c, json_t *report, const char *id)
{
    char check[96], path[256], num[24] = "", why[256] = "";
    struct oe_call call = {.deadline_ms = clock_now_ms(NULL) + oe_cfg(c)->openemr_timeout_ms * 2,
                           .prio = FLEET_PRIO_BACKGROUND};
    snprintf(check, sizeof(check), "practitioner %s", id);
    const char *conf = sw_config_practitioner_user(oe_cfg(c), id);
    if (conf) {
        oe_report(report, check, true, true, "user id %s (practitioner.%s.user_id)", conf, id);
        return;
    }
    if (!oe_refused(c, "practitioner-api")) {
        json_t *ans = NULL;
        long status = 0;
        char *e = http_escape(id);
        if (!e)
            return;
        snprintf(path, sizeof(path), "%s/practitioner/%s", oe_api_base(c), e);
        free(e);
        sw_err err = api_get(c, &call, path, "GET /api/practitioner/:uuid", NULL, &ans, &status);
        if (err == SW_OK) {
            json_text(json_object_get(record_of(ans), "id"), num, sizeof(num));
            if (ids_is_digits(num)) {
                learn(c, ID_PRACTITIONER, num, id);
                oe_report(report, check, true, true, "user id %s (/api/practitioner)", num);
                json_decref(ans);
                return;
            }
        }
        if (oe_is_refusal(err, status, ans)) {
            snprintf(why, sizeof(why), "/api/practitioner refused: the user lacks admin/users");
            oe_mark_refused(c, "practitioner-api",
                            "GET /api/practitioner refused (the user lacks the admin/users "
                            "ACL): provider ids come from practitioner.ID.user_id and "
                            "appointment rows");
        } else if (err == SW_ERR_NOT_FOUND || err == SW_ERR_INVALID)
            snprintf(why, sizeof(why),
                     "/api/practitioner finds no user with an NPI and a username for it");
        else
            snprintf(why, sizeof(why), "/api/practitioner: %s (HTTP %ld)", sw_err_str(err), status);
        json_decref(ans);
    } else {
        snprintf(why, sizeof(why), "/api/practitioner refused: the user lacks admin/users");
    }
    call.detail[0] = '\0';
    if (numeric_of(c, &call, ID_PRACTITIONER, id, num, sizeof(num)) == SW_OK)
        oe_report(report, check, true, true, "user id %s from appointment rows (%s)", num, why);
    else
        oe_report(report, check, false, true, "%s; %s", why, call.detail);
}

#define NIL_UUID "00000000-0000-4000-8000-000000000000"

static void oemr_check_access(struct oe_client *c, json_t *report)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/appointment/0", oe_api_base(c));
    oe_check_read(c, report,
                  &(struct oe_check){.check = "/api appointment read",
                                     .path = path,
                                     .route = "GET /api/appointment/:eid",
                                     .acl = "patients/appt",
                                     .needed = true,
                                     .not_found_ok = true});
    snprintf(path, sizeof(path), "%s/patient/" NIL_UUID, oe_api_base(c));
    oe_check_read(c, report,
                  &(struct oe_check){.check = "/api patient uuid -> pid",
                                     .path = path,
                                     .route = "GET /api/patient/:uuid",
                                     .patient_id = NIL_UUID,
                                     .acl = "patients/demo",
                                     .needed = true,
                                     .not_found_ok = true});
    snprintf(path, sizeof(path), "%s/Practitioner?_id=" NIL_UUID, oe_fhir_base(c));
    oe_check_read(c, report,
                  &(struct oe_check){.check = "FHIR Practitioner (the practitioner list)",
                                     .path = path,
                                     .route = "GET /fhir/Practitioner",
                                     .acl = "admin/users",
                                     .refused_key = "fhir-practitioner"});
    struct oe_call call = {.deadline_ms = clock_now_ms(NULL) + oe_cfg(c)->openemr_timeout_ms * 4,
                           .prio = FLEET_PRIO_BACKGROUND};
    char(*ids)[64] = NULL;
    size_t n = 0;
    sw_err err = oe_list_practitioners(c, &call, &ids, &n);
    if (err != SW_OK)
        oe_report(report, "practitioner list", false, true, "%s: %s", sw_err_str(err), call.detail);
    else if (n == 0)
        oe_report(report, "practitioner list", false, true,
                  "no practitioner found: set clinic.practitioners and practitioner.ID.user_id");
    else
        oe_report(report, "practitioner list", true, true, "%zu practitioner(s)", n);
    for (size_t i = 0; i < n; i++)
        check_practitioner(c, report, ids[i]);
    free(ids);
}

const struct oe_surface_ops oe_surface_openemr = {
    .name = "openemr",
    .resolve = oemr_resolve,
    .find_patients = oe_fhir_find_patients,
    .list_range = oemr_list_range,
    .list_patient = oemr_list_patient,
    .free_slots = oemr_free_slots,
    .create = oemr_create,
    .cancel = oemr_cancel,
    .get = oemr_get,
    .find_by_confirmation = oemr_find_by_confirmation,
    .list_changed = oemr_list_changed,
    .practitioners = oemr_practitioners,
    .fhir_wall_clock = true,
    .check_access = oemr_check_access,
};
