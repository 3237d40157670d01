/* fhirres.c - what the FHIR read surface (fhir.c) and the seed's
 * scheduling surface (scheduling.c) both need, so that neither calls the
 * other: resource shapes (Appointment, OperationOutcome, Bundle), the
 * status map, references, the token check of a FHIR route, and the
 * Appointment search parameters only the scheduling surface has. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- times ---- */

/* The UTC offset (seconds) of "today": --today's noon when given, else now. */
long fhir_today_gmtoff(const struct sim *sim)
{
    time_t now = time(NULL);
    if (sim->opts.today[0]) {
        time_t t = local_epoch(sim->opts.today, 12 * 60);
        if (t != (time_t)-1)
            now = t;
    }
    struct tm tm;
    localtime_r(&now, &tm);
    return tm.tm_gmtoff;
}

/* A FHIR instant of t.  With fhir-offset-of-today it is OpenEMR's
 * UtilsService::getLocalDateAsUTC: the local wall-clock time with the
 * offset date('P') gives now, not the offset of t's own date. */
void fhir_time(const struct sim *sim, time_t t, char *out, size_t len)
{
    if (!QUIRK(sim, Q_FHIR_OFFSET_TODAY)) {
        fmt_local(t, out, len, true);
        return;
    }
    struct tm tm;
    char base[32];
    localtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    long off = fhir_today_gmtoff(sim) / 60;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    snprintf(out, len, "%s%c%02ld:%02ld", base, sign, off / 60, off % 60);
}

/* ---- resource shapes ---- */

const char *fhir_status(const char *s)
{
    static const struct {
        const char *code, *fhir;
    } map[] = {{"-", "proposed"},  {"#", "pending"},    {"^", "pending"},    {"*", "booked"},
               {"AVM", "booked"},  {"SMS", "booked"},   {"EMAIL", "booked"}, {"x", "cancelled"},
               {"%", "cancelled"}, {"!", "cancelled"},  {"?", "noshow"},     {"@", "arrived"},
               {"~", "arrived"},   {"<", "checked-in"}, {"+", "checked-in"}, {">", "fulfilled"},
               {"$", "fulfilled"}, {"CALL", "waitlist"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].code, s) == 0)
            return map[i].fhir;
    return "pending";
}

static json_t *participant(const char *type, const char *uuid, const char *code)
{
    char ref[80];
    snprintf(ref, sizeof(ref), "%s/%s", type, uuid);
    json_t *p = json_pack("{s:{s:s,s:s},s:s,s:s}", "actor", "reference", ref, "type", type,
                          "required", "required", "status", "accepted");
    if (code)
        json_object_set_new(p, "type",
                            json_pack("[{s:[{s:s,s:s}]}]", "coding", "system",
                                      "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                      "code", code));
    return p;
}

json_t *fhir_appointment(struct sim *sim, const struct sim_appt *a)
{
    struct sim_store *st = &sim->store;
    char start[40], end[40], updated[40];
    fhir_time(sim, appt_start(a), start, sizeof(start));
    fhir_time(sim, appt_end(a), end, sizeof(end));
    fhir_time(sim, a->updated, updated, sizeof(updated));
    const struct sim_category *c = store_category(st, a->catid);
    json_t *o =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s}", "resourceType", "Appointment", "id",
                  a->uuid, "meta", "versionId", "1", "lastUpdated", updated, "status",
                  fhir_status(a->status), "description", a->title, "start", start, "end", end);
    if (c)
        json_object_set_new(o, "appointmentType",
                            json_pack("{s:[{s:s,s:s,s:s}]}", "coding", "system",
                                      "http://openemr.org/appointment-category", "code",
                                      c->constant, "display", c->name));
    json_t *parts = json_array();
    const struct sim_patient *p = a->pid ? store_patient(st, a->pid) : NULL;
    const struct sim_user *u = a->aid ? store_user(st, a->aid) : NULL;
    const struct sim_facility *f = store_facility(st, a->facility);
    if (p)
        json_array_append_new(parts, participant("Patient", p->uuid, "PART"));
    if (u)
        json_array_append_new(parts,
                              participant(u->npi[0] ? "Practitioner" : "Person", u->uuid, "PPRF"));
    if (f)
        json_array_append_new(parts, participant("Location", f->uuid, NULL));
    json_object_set_new(o, "participant", parts);
    if (a->identifier)
        json_object_set(o, "identifier", a->identifier);
    return o;
}

json_t *fhir_outcome(const char *severity, const char *code, const char *text)
{
    return json_pack("{s:s,s:[{s:s,s:s,s:s}]}", "resourceType", "OperationOutcome", "issue",
                     "severity", severity, "code", code, "diagnostics", text);
}

json_t *fhir_bundle(const struct sim_req *q, json_t *resources)
{
    char self[2048], uuid[40];
    size_t used = (size_t)snprintf(self, sizeof(self), "%s%s", q->sim->base_url, q->path);
    for (int i = 0; i < q->nargs && used < sizeof(self); i++)
        used += (size_t)snprintf(self + used, sizeof(self) - used, "%c%s=%s", i ? '&' : '?',
                                 q->args[i].key, q->args[i].value);
    uuid_new(uuid);
    json_t *entries = json_array(), *res;
    size_t i;
    json_array_foreach(resources, i, res)
    {
        char full[512];
        snprintf(full, sizeof(full), "%s%s/%s/%s", q->sim->base_url, SIM_SITE_FHIR,
                 json_string_value(json_object_get(res, "resourceType")),
                 json_string_value(json_object_get(res, "id")));
        json_array_append_new(entries, json_pack("{s:s,s:O}", "fullUrl", full, "resource", res));
    }
    json_t *b = json_pack("{s:s,s:s,s:s,s:I,s:[{s:s,s:s}],s:o}", "resourceType", "Bundle", "id",
                          uuid, "type", "collection", "total", (json_int_t)json_array_size(entries),
                          "link", "relation", "self", "url", self, "entry", entries);
    json_decref(resources);
    return b;
}

/* ---- search values ---- */

/* A FHIR date search value's two-letter prefix (ge, lt, ...) into op, or
 * dflt when it has none; returns the value after it. */
const char *fhir_date_prefix(const char *v, char op[3], const char *dflt)
{
    if (isalpha((unsigned char)v[0]) && isalpha((unsigned char)v[1])) {
        op[0] = v[0], op[1] = v[1], op[2] = '\0';
        return v + 2;
    }
    snprintf(op, 3, "%s", dflt);
    return v;
}

/* ---- references ---- */

/* "Type/uuid" -> "uuid"; anything else as it is. */
const char *fhir_strip_ref(const char *v, const char *type)
{
    size_t n = strlen(type);
    return strncmp(v, type, n) == 0 && v[n] == '/' ? v + n + 1 : v;
}

const struct sim_user *fhir_practitioner_ref(const struct sim_store *st, const char *ref)
{
    ref = fhir_strip_ref(fhir_strip_ref(ref, "Practitioner"), "Person");
    return store_user_uuid(st, ref);
}

/* ---- token check ---- */

/* 401 bad token, 403 no api:fhir, 401 missing the resource's scope, then
 * the route's ACL (_rest_routes_fhir_r4_us_core_3_1_0.inc.php: patients/appt
 * for Appointment, patients/demo for Patient, admin/users for Practitioner
 * and Person). */
bool fhir_authorize(struct sim_req *q, struct sim_resp *r, const char *resource, const char *action)
{
    struct sim_token t;
    char want[96];
    if (!oauth_check(q->sim, q->authz, &t)) {
        resp_json(r, 401, fhir_outcome("error", "login", "Unauthorized"));
        return false;
    }
    if (!scope_has(t.scope, "api:fhir")) {
        resp_json(r, 403, fhir_outcome("error", "forbidden", "Forbidden"));
        return false;
    }
    snprintf(want, sizeof(want), "%s/%s.%s", t.system ? "system" : "user", resource, action);
    if (!scope_has(t.scope, want)) {
        resp_json(r, 401, fhir_outcome("error", "forbidden", "Unauthorized"));
        return false;
    }
    const char *acl = strcmp(resource, "Appointment") == 0 ? "patients/appt"
                      : strcmp(resource, "Patient") == 0   ? "patients/demo"
                                                           : "admin/users";
    return acl_check(q->sim, &t, acl, r);
}

/* ---- the scheduling surface's Appointment search parameters ---- */

bool fhir_appt_match_sched(struct sim *sim, const char *key, const char *val,
                           const struct sim_appt *a, bool *known)
{
    *known = true;
    if (strcmp(key, "practitioner") == 0) {
        const struct sim_user *u = fhir_practitioner_ref(&sim->store, val);
        return u && u->id == a->aid;
    }
    if (strcmp(key, "status") == 0) {
        const char *mine = fhir_status(a->status), *p = val;
        size_t n = strlen(mine);
        while (p && *p) {
            if (strncmp(p, mine, n) == 0 && (p[n] == ',' || !p[n]))
                return true;
            p = strchr(p, ',');
            p = p ? p + 1 : NULL;
        }
        return false;
    }
    if (strcmp(key, "identifier") == 0) {
        const char *bar = strchr(val, '|');
        const char *value = bar ? bar + 1 : val;
        size_t slen = bar ? (size_t)(bar - val) : 0;
        json_t *id;
        size_t i;
        json_array_foreach(a->identifier, i, id)
        {
            const char *sys = json_string_value(json_object_get(id, "system"));
            const char *v = json_string_value(json_object_get(id, "value"));
            if (!v || strcmp(v, value) != 0)
                continue;
            if (!slen || (sys && strlen(sys) == slen && strncmp(sys, val, slen) == 0))
                return true;
        }
        return false;
    }
    *known = false;
    return false;
}
