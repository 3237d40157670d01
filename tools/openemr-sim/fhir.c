/* fhir.c - OpenEMR's FHIR R4 read/search surface (/apis/default/fhir):
 * metadata and SMART discovery without a token; Patient, Practitioner (users
 * with an NPI), Person (users without), Appointment.  Quirks kept: an
 * unknown or malformed search parameter gives 200 with an EMPTY bundle,
 * bundles are "collection" without paging, an unknown id reads 404 `[]`,
 * provider events are Appointments too. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static json_t *fhir_patient(const struct sim_patient *p)
{
    json_t *telecom = json_array();
    if (p->phone_home[0])
        json_array_append_new(telecom, json_pack("{s:s,s:s,s:s}", "system", "phone", "value",
                                                 p->phone_home, "use", "home"));
    if (p->phone_cell[0])
        json_array_append_new(telecom, json_pack("{s:s,s:s,s:s}", "system", "phone", "value",
                                                 p->phone_cell, "use", "mobile"));
    if (p->email[0])
        json_array_append_new(telecom, json_pack("{s:s,s:s,s:s}", "system", "email", "value",
                                                 p->email, "use", "home"));
    json_t *given = json_pack("[s]", p->fname);
    if (p->mname[0])
        json_array_append_new(given, json_string(p->mname));
    return json_pack("{s:s,s:s,s:{s:s},s:[{s:{s:[{s:s,s:s}]},s:s}],s:b,s:[{s:s,s:s,s:o}],"
                     "s:s,s:s,s:o}",
                     "resourceType", "Patient", "id", p->uuid, "meta", "versionId", "1",
                     "identifier", "type", "coding", "system",
                     "http://terminology.hl7.org/CodeSystem/v2-0203", "code", "PT", "value",
                     p->pubpid, "active", 1, "name", "use", "official", "family", p->lname, "given",
                     given, "gender", p->sex, "birthDate", p->dob, "telecom", telecom);
}

static json_t *fhir_user(const struct sim_user *u)
{
    bool npi = u->npi[0] != '\0';
    json_t *o =
        json_pack("{s:s,s:s,s:{s:s},s:b,s:[{s:s,s:s,s:[s]}]}", "resourceType",
                  npi ? "Practitioner" : "Person", "id", u->uuid, "meta", "versionId", "1",
                  "active", 1, "name", "use", "official", "family", u->lname, "given", u->fname);
    if (npi)
        json_object_set_new(
            o, "identifier",
            json_pack("[{s:s,s:s}]", "system", "http://hl7.org/fhir/sid/us-npi", "value", u->npi));
    return o;
}

/* ---- search matching ---- */

enum match { M_NO, M_YES, M_UNKNOWN }; /* M_UNKNOWN: unknown or malformed */

static bool prefix_ci(const char *s, const char *pre)
{
    return strncasecmp(s, pre, strlen(pre)) == 0;
}

static const char *after_bar(const char *v)
{
    const char *bar = strchr(v, '|');
    return bar ? bar + 1 : v;
}

/* FHIR date comparison of t against "[ge|le|gt|lt|eq]date[Ttime]". */
static enum match date_match(time_t t, const char *v)
{
    char op[3];
    v = fhir_date_prefix(v, op, "eq");
    time_t x, x_end;
    bool date_only;
    if (!parse_fhir_time(v, &x, &date_only))
        return M_UNKNOWN;
    x_end = date_only ? local_epoch(v, 24 * 60) : x + 1;
    if (strcmp(op, "ge") == 0)
        return t >= x ? M_YES : M_NO;
    if (strcmp(op, "gt") == 0)
        return t >= x_end ? M_YES : M_NO;
    if (strcmp(op, "le") == 0)
        return t < x_end ? M_YES : M_NO;
    if (strcmp(op, "lt") == 0)
        return t < x ? M_YES : M_NO;
    if (strcmp(op, "eq") == 0)
        return t >= x && t < x_end ? M_YES : M_NO;
    return M_UNKNOWN;
}

/* FhirAppointmentService maps date= to pc_eventDate as a DATE search:
 * SearchFieldStatementResolver::resolveDateField moves the value to the
 * server's zone (adjustTimezoneToLocalTime: today's offset) and formats
 * it Y-m-d, so only the day of the value counts, against the event's day. */
static enum match event_date_match(struct sim *sim, const char *day, const char *v)
{
    char op[3], vday[11];
    v = fhir_date_prefix(v, op, "eq");
    time_t x;
    bool date_only;
    if (!parse_fhir_time(v, &x, &date_only))
        return M_UNKNOWN;
    if (date_only) {
        snprintf(vday, sizeof(vday), "%.10s", v);
    } else {
        time_t shifted = x + fhir_today_gmtoff(sim);
        struct tm tm;
        gmtime_r(&shifted, &tm);
        strftime(vday, sizeof(vday), "%Y-%m-%d", &tm);
    }
    int c = strcmp(day, vday);
    if (strcmp(op, "ge") == 0 || strcmp(op, "sa") == 0)
        return c >= 0 ? M_YES : M_NO;
    if (strcmp(op, "gt") == 0)
        return c > 0 ? M_YES : M_NO;
    if (strcmp(op, "le") == 0)
        return c <= 0 ? M_YES : M_NO;
    if (strcmp(op, "lt") == 0 || strcmp(op, "eb") == 0)
        return c < 0 ? M_YES : M_NO;
    if (strcmp(op, "ne") == 0)
        return c != 0 ? M_YES : M_NO;
    if (strcmp(op, "eq") == 0)
        return c == 0 ? M_YES : M_NO;
    return M_UNKNOWN;
}

static enum match yes(bool b)
{
    return b ? M_YES : M_NO;
}

static enum match patient_match(const struct sim_patient *p, const char *k, const char *v)
{
    if (strcmp(k, "_id") == 0)
        return yes(strcmp(p->uuid, v) == 0);
    if (strcmp(k, "identifier") == 0)
        return yes(strcmp(p->pubpid, after_bar(v)) == 0 || strcmp(p->uuid, after_bar(v)) == 0);
    if (strcmp(k, "name") == 0)
        return yes(prefix_ci(p->fname, v) || prefix_ci(p->lname, v) ||
                   (p->mname[0] && prefix_ci(p->mname, v)));
    if (strcmp(k, "family") == 0)
        return yes(prefix_ci(p->lname, v));
    if (strcmp(k, "given") == 0)
        return yes(prefix_ci(p->fname, v) || (p->mname[0] && prefix_ci(p->mname, v)));
    if (strcmp(k, "birthdate") == 0)
        return date_match(local_epoch(p->dob, 12 * 60), v);
    if (strcmp(k, "gender") == 0)
        return yes(strcasecmp(p->sex, v) == 0);
    if (strcmp(k, "phone") == 0 || strcmp(k, "telecom") == 0)
        return yes(digits_equal(p->phone_home, after_bar(v)) ||
                   digits_equal(p->phone_cell, after_bar(v)) ||
                   (strcmp(k, "telecom") == 0 && strcasecmp(p->email, after_bar(v)) == 0));
    if (strcmp(k, "email") == 0)
        return yes(strcasecmp(p->email, v) == 0);
    if (strcmp(k, "_lastUpdated") == 0)
        return date_match(time(NULL) - 86400, v);
    if (strncmp(k, "address", 7) == 0)
        return M_NO; /* the seed has no addresses */
    return M_UNKNOWN;
}

/* MySQL comparing the tinyint users.active with the bound string: the
 * string's leading number, 0 when it has none ("true" is 0). */
static long sql_number(const char *v)
{
    return strtol(v, NULL, 10);
}

static enum match user_match(struct sim *sim, const struct sim_user *u, const char *k,
                             const char *v)
{
    if (strcmp(k, "_id") == 0)
        return yes(strcmp(u->uuid, v) == 0);
    if (strcmp(k, "name") == 0)
        return yes(prefix_ci(u->fname, v) || prefix_ci(u->lname, v));
    if (strcmp(k, "family") == 0)
        return yes(prefix_ci(u->lname, v));
    if (strcmp(k, "given") == 0)
        return yes(prefix_ci(u->fname, v));
    if (strcmp(k, "identifier") == 0)
        return yes(u->npi[0] && strcmp(u->npi, after_bar(v)) == 0);
    if (strcmp(k, "active") == 0) /* FhirPractitionerService: TOKEN on users.active */
        return QUIRK(sim, Q_ACTIVE_SQL_STRING) ? yes(sql_number(v) == u->active)
                                               : yes(strcmp(v, "true") == 0);
    if (strcmp(k, "telecom") == 0 || strcmp(k, "email") == 0 || strcmp(k, "phone") == 0)
        return M_NO;
    return M_UNKNOWN;
}

static enum match appt_match(struct sim *sim, const struct sim_appt *a, const char *k,
                             const char *v)
{
    if (strcmp(k, "_id") == 0)
        return yes(strcmp(a->uuid, v) == 0);
    if (strcmp(k, "patient") == 0) {
        const struct sim_patient *p = a->pid ? store_patient(&sim->store, a->pid) : NULL;
        return yes(p && strcmp(p->uuid, fhir_strip_ref(v, "Patient")) == 0);
    }
    if (strcmp(k, "date") == 0)
        return QUIRK(sim, Q_FHIR_DATE_EVENT_DATE) ? event_date_match(sim, a->date, v)
                                                  : date_match(appt_start(a), v);
    if (strcmp(k, "_lastUpdated") == 0)
        return date_match(a->updated, v);
    if (sim->opts.fhir_scheduling) {
        bool known = false;
        bool m = fhir_appt_match_sched(sim, k, v, a, &known);
        if (known)
            return yes(m);
    }
    return M_UNKNOWN;
}

/* ---- handlers ---- */

static void not_found_read(struct sim_resp *r)
{
    resp_json(r, 404, json_array());
}

enum fhir_kind { K_PATIENT, K_PRACTITIONER, K_PERSON, K_APPOINTMENT };

/* With recurring-base-row-only, a series' later occurrences do not exist. */
static bool hidden(struct sim *sim, const struct sim_appt *a)
{
    return QUIRK(sim, Q_RECURRING_BASE_ONLY) && appt_later_occurrence(a);
}

/* Every row of `kind` matching all args; NULL (empty bundle) when any arg
 * is unknown or malformed. */
static json_t *search(struct sim_req *q, enum fhir_kind kind)
{
    struct sim *sim = q->sim;
    struct sim_store *st = &sim->store;
    json_t *out = json_array();
    size_t n = kind == K_PATIENT ? st->npatients : kind == K_APPOINTMENT ? st->nappts : st->nusers;
    for (size_t i = 0; i < n; i++) {
        if ((kind == K_PRACTITIONER && !st->users[i].npi[0]) ||
            (kind == K_PERSON && st->users[i].npi[0]) ||
            (kind == K_APPOINTMENT && hidden(sim, &st->appts[i])))
            continue;
        bool all = true;
        for (int j = 0; j < q->nargs && all; j++) {
            const char *k = q->args[j].key, *v = q->args[j].value;
            enum match m = kind == K_PATIENT       ? patient_match(&st->patients[i], k, v)
                           : kind == K_APPOINTMENT ? appt_match(sim, &st->appts[i], k, v)
                                                   : user_match(sim, &st->users[i], k, v);
            if (m == M_UNKNOWN) {
                json_decref(out);
                return json_array(); /* OpenEMR: unknown/malformed -> empty bundle */
            }
            all = m == M_YES;
        }
        if (!all)
            continue;
        json_t *res = kind == K_PATIENT       ? fhir_patient(&st->patients[i])
                      : kind == K_APPOINTMENT ? fhir_appointment(sim, &st->appts[i])
                                              : fhir_user(&st->users[i]);
        json_array_append_new(out, res);
    }
    return out;
}

static json_t *read_one(struct sim *sim, enum fhir_kind kind, const char *id)
{
    struct sim_store *st = &sim->store;
    if (kind == K_PATIENT) {
        const struct sim_patient *p = store_patient_uuid(st, id);
        return p ? fhir_patient(p) : NULL;
    }
    if (kind == K_APPOINTMENT) {
        const struct sim_appt *a = store_appt_uuid(st, id);
        return a && !hidden(sim, a) ? fhir_appointment(sim, a) : NULL;
    }
    const struct sim_user *u = store_user_uuid(st, id);
    if (!u || (kind == K_PRACTITIONER) != (u->npi[0] != '\0'))
        return NULL;
    return fhir_user(u);
}

static void capability(struct sim_req *q, struct sim_resp *r)
{
    char tok[300], auth[300];
    snprintf(tok, sizeof(tok), "%s%s/token", q->sim->base_url, SIM_SITE_OAUTH);
    snprintf(auth, sizeof(auth), "%s%s/authorize", q->sim->base_url, SIM_SITE_OAUTH);
    static const char *const types[] = {"Appointment", "Patient", "Practitioner",
                                        "Person",      "Slot",    "Schedule"};
    json_t *res = json_array();
    size_t ntypes = q->sim->opts.fhir_scheduling ? 6 : 4;
    for (size_t i = 0; i < ntypes; i++) {
        json_t *inter = json_pack("[{s:s},{s:s}]", "code", "read", "code", "search-type");
        if (q->sim->opts.fhir_scheduling && i == 0) {
            json_array_append_new(inter, json_pack("{s:s}", "code", "create"));
            json_array_append_new(inter, json_pack("{s:s}", "code", "update"));
        }
        json_array_append_new(res, json_pack("{s:s,s:o}", "type", types[i], "interaction", inter));
    }
    resp_json(r, 200,
              json_pack("{s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:{s:[{s:s,s:[{s:s,s:s},{s:s,s:s}]}]},"
                        "s:o}]}",
                        "resourceType", "CapabilityStatement", "status", "active", "kind",
                        "instance", "fhirVersion", "4.0.1", "format", "json", "rest", "mode",
                        "server", "security", "extension", "url",
                        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension", "url", "token", "valueUri", tok, "url", "authorize",
                        "valueUri", auth, "resource", res));
}

/* SMARTConfigurationController::getConfig.  Both versions nest the scope
 * list in a second array ("scopes_supported": [[...]]); 8.x adds issuer,
 * jwks_uri and the client auth methods, 7.0.x the registration endpoint. */
static void smart_config(struct sim_req *q, struct sim_resp *r)
{
    char b[300], fhir[300];
    const char *site = q->sim->opts.site_addr[0] ? q->sim->opts.site_addr : q->sim->base_url;
    snprintf(b, sizeof(b), "%s%s", site, SIM_SITE_OAUTH);
    snprintf(fhir, sizeof(fhir), "%s%s", site, SIM_SITE_FHIR);
    json_t *o = json_pack(
        "{s:s+,s:s+,s:s+,s:[s,s],s:[s],s:[o],s:[s,s,s,s,s,s,s],s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,"
        "s,s]}",
        "authorization_endpoint", b, "/authorize", "token_endpoint", b, "/token",
        "introspection_endpoint", b, "/introspect", "grant_types_supported", "client_credentials",
        "authorization_code", "code_challenge_methods_supported", "S256", "scopes_supported",
        scopes_supported(q->sim), "response_types_supported", "code", "token", "id_token",
        "code token", "code id_token", "token id_token", "code token id_token", "capabilities",
        "launch-ehr", "launch-standalone", "client-confidential-symmetric",
        "client-confidential-asymmetric", "client-public", "context-banner", "context-ehr-patient",
        "context-style", "context-standalone-patient", "sso-openid-connect", "permission-user",
        "permission-patient", "permission-offline", "permission-v1", "permission-v2",
        "authorize-post", "context-ehr-encounter");
    if (q->sim->opts.profile.version == SIM_OE_703) {
        json_object_set_new(o, "registration_endpoint", json_pack("s+", b, "/registration"));
    } else {
        json_object_set_new(o, "issuer", json_string(fhir));
        json_object_set_new(o, "jwks_uri", json_pack("s+", b, "/jwk"));
        json_object_set_new(o, "token_endpoint_auth_methods_supported",
                            json_pack("[s,s]", "client_secret_basic", "private_key_jwt"));
    }
    resp_json(r, 200, o);
}

/* FhirAppointmentService::parseOpenEMRRecord asks the category of every
 * row (AppointmentService::getOneCalendarCategory): per-row-latency-ms
 * costs that, outside the lock. */
static void row_latency(struct sim *sim, size_t rows)
{
    long ms = (long)QUIRK(sim, Q_ROW_LATENCY_MS) * (long)rows;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

void fhir_handle(struct sim_req *q, struct sim_resp *r, const char *sub)
{
    static const struct {
        const char *name;
        enum fhir_kind kind;
        const char *search_route, *read_route, *scope;
    } res[] = {
        {"Patient", K_PATIENT, "/fhir/Patient", "/fhir/Patient/:id", "Patient"},
        {"Practitioner", K_PRACTITIONER, "/fhir/Practitioner", "/fhir/Practitioner/:id",
         "Practitioner"},
        {"Person", K_PERSON, "/fhir/Person", "/fhir/Person/:id", "Practitioner"},
        {"Appointment", K_APPOINTMENT, "/fhir/Appointment", "/fhir/Appointment/:id", "Appointment"},
    };
    bool get = strcmp(q->method, "GET") == 0;
    if (get && strcmp(sub, "/metadata") == 0) {
        q->route = "/fhir/metadata";
        capability(q, r);
        return;
    }
    if (get && strcmp(sub, "/.well-known/smart-configuration") == 0) {
        q->route = "/fhir/.well-known/smart-configuration";
        smart_config(q, r);
        return;
    }
    for (size_t i = 0; get && i < sizeof(res) / sizeof(res[0]); i++) {
        size_t n = strlen(res[i].name);
        if (sub[0] != '/' || strncmp(sub + 1, res[i].name, n) != 0)
            continue;
        const char *rest = sub + 1 + n;
        if (*rest && (*rest != '/' || !rest[1] || strchr(rest + 1, '/')))
            continue;
        q->route = *rest ? res[i].read_route : res[i].search_route;
        if (!fhir_authorize(q, r, res[i].scope, "read"))
            return;
        size_t rows = 0;
        pthread_mutex_lock(&q->sim->lock);
        if (*rest) {
            json_t *one = read_one(q->sim, res[i].kind, rest + 1);
            rows = one != NULL;
            if (one)
                resp_json(r, 200, one);
            else
                not_found_read(r);
        } else {
            json_t *found = search(q, res[i].kind);
            rows = json_array_size(found);
            resp_json(r, 200, fhir_bundle(q, found));
        }
        pthread_mutex_unlock(&q->sim->lock);
        if (res[i].kind == K_APPOINTMENT)
            row_latency(q->sim, rows);
        return;
    }
    q->route = "/fhir/(unknown)";
    resp_json(r, 404,
              json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message", "Route not found",
                        "code", 0));
}
