/* api.c - OpenEMR's standard API (/apis/default/api): the appointment
 * routes with OpenEMR's validation and answers, and the patient and
 * practitioner reads a client needs to map uuids to numeric ids.
 * Quirks kept on purpose: bare arrays of strings, 404 with an empty body,
 * no overlap check, DELETE says "record deleted" for any eid.  Version
 * quirks (profile.c): the route ACLs, 400 for an unknown uuid, practitioners
 * with an NPI and a username only, validation answered 200 on 8.x, a
 * recurring event as its base row only. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 6

static void route_not_found(struct sim_resp *r)
{
    resp_json(r, 404,
              json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message", "Route not found",
                        "code", 0));
}

static void unauthorized(struct sim_resp *r, int status, const char *msg)
{
    resp_json(r, status,
              json_pack("{s:s,s:s,s:i}", "error", "An error occurred", "message", msg, "code", 0));
}

static bool all_digits(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int split_path(const char *sub, char segs[MAX_SEGS][96])
{
    int n = 0;
    while (*sub == '/')
        sub++;
    while (*sub && n < MAX_SEGS) {
        const char *e = strchr(sub, '/');
        size_t len = e ? (size_t)(e - sub) : strlen(sub);
        snprintf(segs[n++], 96, "%.*s", (int)len, sub);
        sub += len;
        while (*sub == '/')
            sub++;
    }
    return *sub ? MAX_SEGS + 1 : n;
}

/* A body field as a string: strings as they are, numbers printed. */
static bool field_str(json_t *body, const char *key, char *out, size_t len)
{
    json_t *v = json_object_get(body, key);
    if (json_is_string(v))
        snprintf(out, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, len, "%g", json_real_value(v));
    else
        return false;
    return true;
}

static void add_error(json_t *errs, const char *field, const char *rule, const char *fmt)
{
    char msg[160];
    snprintf(msg, sizeof(msg), fmt, field);
    json_t *f = json_object_get(errs, field);
    if (!f) {
        f = json_object();
        json_object_set_new(errs, field, f);
    }
    json_object_set_new(f, rule, json_string(msg));
}

static bool valid_hhmm(const char *s)
{
    return strlen(s) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
           s[2] == ':' && isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]) &&
           (s[0] - '0') * 10 + (s[1] - '0') < 24 && s[3] < '6';
}

static bool valid_date(const char *s)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= (m == 2 && !leap ? 28 : mdays[m - 1]);
}

/* OpenEMR's AppointmentService::validate: field -> {rule: message}. */
static json_t *validate_create(struct sim_store *st, json_t *body, const char *pid)
{
    static const char *const required[] = {"pc_catid",     "pc_title",      "pc_duration",
                                           "pc_hometext",  "pc_apptstatus", "pc_eventDate",
                                           "pc_startTime", "pc_facility",   "pc_billing_location"};
    static const char *const numeric[] = {"pc_catid", "pc_duration", "pc_facility",
                                          "pc_billing_location"};
    json_t *errs = json_object();
    char v[512];
    if (!json_is_object(body)) {
        add_error(errs, "body", "Required::NON_EXISTENT_KEY", "%s must be a JSON object");
        return errs;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!field_str(body, required[i], v, sizeof(v)))
            add_error(errs, required[i], "Required::NON_EXISTENT_KEY",
                      "%s must be provided, but does not exist");
        else if (!v[0])
            add_error(errs, required[i], "NotEmpty::EMPTY_VALUE", "%s must not be empty");
    }
    for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
        if (field_str(body, numeric[i], v, sizeof(v)) && v[0] && !all_digits(v))
            add_error(errs, numeric[i], "Numeric::NOT_NUMERIC", "%s must be numeric");
    if (field_str(body, "pc_title", v, sizeof(v)) && v[0]) {
        size_t n = strlen(v);
        if (n < 2)
            add_error(errs, "pc_title", "LengthBetween::TOO_SHORT",
                      "%s must be 2 characters or longer");
        else if (n > 150)
            add_error(errs, "pc_title", "LengthBetween::TOO_LONG",
                      "%s must be 150 characters or shorter");
    }
    if (field_str(body, "pc_eventDate", v, sizeof(v)) && v[0] && !valid_date(v))
        add_error(errs, "pc_eventDate", "Datetime::INVALID_VALUE", "%s must be a valid date");
    if (field_str(body, "pc_startTime", v, sizeof(v)) && v[0] && !valid_hhmm(v))
        add_error(errs, "pc_startTime", "Datetime::INVALID_VALUE", "%s must be a valid date");
    if (field_str(body, "pc_aid", v, sizeof(v)) &&
        (!all_digits(v) || !store_user(st, strtol(v, NULL, 10))))
        add_error(errs, "pc_aid", "Callback::INVALID_VALUE", "%s must be an existing provider");
    if (!store_patient(st, strtol(pid, NULL, 10)))
        add_error(errs, "pid", "Callback::INVALID_VALUE", "%s must be an existing patient");
    return errs;
}

static void create_appt(struct sim_req *q, struct sim_resp *r, const char *pid)
{
    struct sim_store *st = &q->sim->store;
    json_t *body = req_json(q);
    json_t *errs = validate_create(st, body, pid);
    if (json_object_size(errs)) {
        /* RestControllerHelper::validationHandler sets 400 with
         * http_response_code() and returns the map; on 8.x the Symfony
         * kernel (ViewRendererListener) then answers it as a 200 */
        resp_json(r, QUIRK(q->sim, Q_VALIDATION_200) ? 200 : 400, errs);
        json_decref(body);
        return;
    }
    json_decref(errs);
    struct sim_appt *a = store_appt_add(st);
    if (!a) {
        resp_empty(r, 500);
        json_decref(body);
        return;
    }
    char v[32];
    a->pid = strtol(pid, NULL, 10);
    field_str(body, "pc_catid", v, sizeof(v));
    a->catid = (int)strtol(v, NULL, 10);
    field_str(body, "pc_duration", v, sizeof(v));
    a->duration = (int)strtol(v, NULL, 10);
    field_str(body, "pc_facility", v, sizeof(v));
    a->facility = strtol(v, NULL, 10);
    field_str(body, "pc_billing_location", v, sizeof(v));
    a->billing = strtol(v, NULL, 10);
    if (field_str(body, "pc_aid", v, sizeof(v)))
        a->aid = strtol(v, NULL, 10);
    field_str(body, "pc_title", a->title, sizeof(a->title));
    field_str(body, "pc_hometext", a->hometext, sizeof(a->hometext));
    field_str(body, "pc_apptstatus", a->status, sizeof(a->status));
    field_str(body, "pc_eventDate", a->date, sizeof(a->date));
    field_str(body, "pc_startTime", a->start, sizeof(a->start));
    resp_json(r, 200, json_pack("{s:I}", "id", (json_int_t)a->eid));
    json_decref(body);
}

/* With recurring-base-row-only, a series' later occurrences do not exist. */
static bool api_visible(struct sim *sim, const struct sim_appt *a)
{
    return !(QUIRK(sim, Q_RECURRING_BASE_ONLY) && appt_later_occurrence(a));
}

static void list_rows(struct sim_req *q, struct sim_resp *r, long pid)
{
    struct sim_store *st = &q->sim->store;
    json_t *arr = json_array();
    for (size_t i = 0; i < st->nappts; i++)
        if ((pid < 0 || st->appts[i].pid == pid) && api_visible(q->sim, &st->appts[i]))
            json_array_append_new(arr, store_appt_row(st, &st->appts[i], false));
    if (!json_array_size(arr)) {
        json_decref(arr);
        resp_empty(r, 404);
        return;
    }
    resp_json(r, 200, arr);
}

static void one_row(struct sim_req *q, struct sim_resp *r, const char *eid)
{
    struct sim_appt *a = store_appt(&q->sim->store, strtol(eid, NULL, 10));
    if (!a || !api_visible(q->sim, a)) {
        resp_empty(r, 404);
        return;
    }
    resp_json(r, 200, json_pack("[o]", store_appt_row(&q->sim->store, a, true)));
}

/* RestControllerHelper::createProcessingResultResponse: the envelope. */
static void envelope(struct sim_resp *r, int status, json_t *errors, json_t *data)
{
    resp_json(r, status,
              json_pack("{s:o,s:[],s:o,s:[]}", "validationErrors", errors ? errors : json_array(),
                        "internalErrors", "data", data ? data : json_array(), "links"));
}

/* PatientService::getOne / PractitionerService::getOne on an unknown uuid:
 * a validation message on "uuid" (400), or the kind simulator's 404. */
static void unknown_uuid(struct sim_req *q, struct sim_resp *r, const char *uuid)
{
    if (!QUIRK(q->sim, Q_UNKNOWN_UUID_400)) {
        envelope(r, 404, NULL, NULL);
        return;
    }
    char v[160];
    snprintf(v, sizeof(v), " value %s", uuid);
    envelope(r, 400, json_pack("{s:{s:s}}", "uuid", "invalid or nonexisting value", v), NULL);
}

static void patient_get(struct sim_req *q, struct sim_resp *r, const char *puuid)
{
    const struct sim_patient *p = store_patient_uuid(&q->sim->store, puuid);
    if (!p) {
        unknown_uuid(q, r, puuid);
        return;
    }
    json_t *d = store_patient_json(p);
    char n[24];
    snprintf(n, sizeof(n), "%ld", p->pid);
    json_object_set_new(d, "id", json_string(n));
    json_object_set_new(d, "pid", json_string(n));
    envelope(r, 200, NULL, d);
}

/* PractitionerService::search adds "npi is not missing" and "username is
 * not missing" to every search: a user without them is not found (404). */
static void practitioner_get(struct sim_req *q, struct sim_resp *r, const char *uuid)
{
    const struct sim_user *u = store_user_uuid(&q->sim->store, uuid);
    if (!u) {
        unknown_uuid(q, r, uuid);
        return;
    }
    if (QUIRK(q->sim, Q_PRACT_NPI_USERNAME) && (!u->npi[0] || !u->username[0])) {
        envelope(r, 404, NULL, NULL);
        return;
    }
    envelope(r, 200, NULL, store_user_json(u));
}

/* Token checks in OpenEMR's order: 401 no/expired token, 403 system token or
 * no api:oemr, 401 missing resource scope, then the route's ACL (when the
 * acl quirk is on). Returns false when answered. */
static bool authorize(struct sim_req *q, struct sim_resp *r, const char *scope, const char *acl)
{
    struct sim_token t;
    if (!oauth_check(q->sim, q->authz, &t)) {
        unauthorized(r, 401, "Unauthorized");
        return false;
    }
    if (t.system || !scope_has(t.scope, "api:oemr")) {
        unauthorized(r, 403, "Forbidden");
        return false;
    }
    if (!scope_has(t.scope, scope)) {
        unauthorized(r, 401, "Unauthorized");
        return false;
    }
    return !acl || acl_check(q->sim, &t, acl, r);
}

void api_handle(struct sim_req *q, struct sim_resp *r, const char *sub)
{
    char s[MAX_SEGS][96];
    int n = split_path(sub, s);
    const char *m = q->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    bool del = strcmp(m, "DELETE") == 0;
    const char *scope = NULL, *acl = "patients/appt"; /* _rest_routes_standard.inc.php */
    enum { R_LIST, R_ONE, R_PLIST, R_CREATE, R_PONE, R_PDEL, R_PATIENT, R_PRACT } route;

    if (n == 1 && get && strcmp(s[0], "appointment") == 0)
        route = R_LIST, scope = "user/appointment.read", q->route = "/api/appointment";
    else if (n == 2 && get && strcmp(s[0], "appointment") == 0 && all_digits(s[1]))
        route = R_ONE, scope = "user/appointment.read", q->route = "/api/appointment/:eid";
    else if (n == 3 && (get || post) && strcmp(s[0], "patient") == 0 && all_digits(s[1]) &&
             strcmp(s[2], "appointment") == 0)
        route = get ? R_PLIST : R_CREATE,
        scope = get ? "user/appointment.read" : "user/appointment.write",
        q->route = "/api/patient/:pid/appointment";
    else if (n == 4 && (get || del) && strcmp(s[0], "patient") == 0 && all_digits(s[1]) &&
             strcmp(s[2], "appointment") == 0 && all_digits(s[3]))
        route = get ? R_PONE : R_PDEL,
        scope = get ? "user/appointment.read" : "user/appointment.write",
        q->route = "/api/patient/:pid/appointment/:eid";
    else if (n == 2 && get && strcmp(s[0], "patient") == 0)
        route = R_PATIENT, scope = "user/patient.read", acl = "patients/demo",
        q->route = "/api/patient/:puuid";
    else if (n == 2 && get && strcmp(s[0], "practitioner") == 0)
        route = R_PRACT, scope = "user/practitioner.read", acl = "admin/users",
        q->route = "/api/practitioner/:pruuid";
    else {
        q->route = "/api/(unknown)";
        if (authorize(q, r, "api:oemr", NULL))
            route_not_found(r);
        return;
    }
    if (!authorize(q, r, scope, acl))
        return;

    pthread_mutex_lock(&q->sim->lock);
    switch (route) {
    case R_LIST:
        list_rows(q, r, -1);
        break;
    case R_ONE:
        one_row(q, r, s[1]);
        break;
    case R_PLIST:
        list_rows(q, r, strtol(s[1], NULL, 10));
        break;
    case R_CREATE:
        create_appt(q, r, s[1]);
        break;
    case R_PONE:
        one_row(q, r, s[3]);
        break;
    case R_PDEL:
        store_appt_delete(&q->sim->store, strtol(s[3], NULL, 10));
        resp_json(r, 200, json_pack("{s:s}", "message", "record deleted"));
        break;
    case R_PATIENT:
        patient_get(q, r, s[1]);
        break;
    case R_PRACT:
        practitioner_get(q, r, s[1]);
        break;
    }
    pthread_mutex_unlock(&q->sim->lock);
}
