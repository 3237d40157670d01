/* scheduling.c - the seed's FHIR scheduling surface (--fhir-scheduling),
 * which a real OpenEMR does not have: Slot and Schedule search computed
 * from working hours (Mon-Fri 08:00-17:00 local) minus every event that
 * blocks the practitioner's time, Appointment create (409 on overlap) and
 * update (status cancelled frees the time), search by practitioner, status
 * and identifier, errors as OperationOutcome. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORK_START_MIN (8 * 60)
#define WORK_END_MIN   (17 * 60)
#define SLOT_DEFAULT_S 900
#define MAX_RANGE_S    (31 * 86400)

static void outcome(struct sim_resp *r, int status, const char *code, const char *text)
{
    resp_json(r, status, fhir_outcome("error", code, text));
}

/* Whether [s, e) overlaps a blocking event of practitioner aid (skip eid);
 * a Holidays or Closed event blocks every practitioner. */
static bool busy(struct sim_store *st, long aid, time_t s, time_t e, long skip_eid)
{
    for (size_t i = 0; i < st->nappts; i++) {
        const struct sim_appt *a = &st->appts[i];
        if ((a->aid != aid && !appt_clinic_wide(st, a)) || a->eid == skip_eid || !appt_blocks(a))
            continue;
        if (appt_start(a) < e && s < appt_end(a))
            return true;
    }
    return false;
}

/* ---- Slot and Schedule ---- */

static void schedule_id(const struct sim_user *u, char *out, size_t len)
{
    snprintf(out, len, "schedule-%s", u->uuid);
}

static json_t *slot_json(const struct sim_user *u, time_t s, time_t e, const char *type)
{
    char id[80], sid[64], ref[80], start[40], end[40];
    snprintf(id, sizeof(id), "slot-%ld-%lld", u->id, (long long)s);
    schedule_id(u, sid, sizeof(sid));
    snprintf(ref, sizeof(ref), "Schedule/%s", sid);
    fmt_local(s, start, sizeof(start), true);
    fmt_local(e, end, sizeof(end), true);
    json_t *o =
        json_pack("{s:s,s:s,s:{s:s},s:s,s:s,s:s}", "resourceType", "Slot", "id", id, "schedule",
                  "reference", ref, "status", "free", "start", start, "end", end);
    if (type)
        json_object_set_new(o, "appointmentType",
                            json_pack("{s:[{s:s,s:s}]}", "coding", "system",
                                      "http://openemr.org/appointment-category", "code", type));
    return o;
}

/* Narrows [*from, *to) by one "start" value; false if malformed. */
static bool start_bound(const char *v, time_t *from, time_t *to)
{
    char op[3];
    v = fhir_date_prefix(v, op, "ge");
    time_t t;
    bool date_only;
    if (!parse_fhir_time(v, &t, &date_only))
        return false;
    time_t t_end = date_only ? local_epoch(v, 24 * 60) : t;
    if (strcmp(op, "ge") == 0 || strcmp(op, "gt") == 0)
        *from = strcmp(op, "gt") == 0 ? t_end : t;
    else if (strcmp(op, "le") == 0 || strcmp(op, "lt") == 0)
        *to = strcmp(op, "lt") == 0 ? t : t_end;
    else
        return false;
    return true;
}

static void slot_search(struct sim_req *q, struct sim_resp *r)
{
    struct sim_store *st = &q->sim->store;
    time_t from = time(NULL), to = 0;
    const char *actor = NULL, *type = NULL;
    bool ok = true, free_only = true;
    for (int i = 0; i < q->nargs && ok; i++) {
        const char *k = q->args[i].key, *v = q->args[i].value;
        if (strcmp(k, "start") == 0)
            ok = start_bound(v, &from, &to);
        else if (strcmp(k, "status") == 0)
            free_only = strcmp(v, "free") == 0;
        else if (strcmp(k, "schedule.actor") == 0 || strcmp(k, "actor") == 0)
            actor = v;
        else if (strcmp(k, "schedule") == 0)
            actor = v; /* Schedule/schedule-<uuid>: matched on the uuid below */
        else if (strcmp(k, "appointment-type") == 0)
            type = v;
        else if (strcmp(k, "_count") != 0)
            ok = false;
    }
    if (!to)
        to = from + 7 * 86400;
    if (to - from > MAX_RANGE_S)
        to = from + MAX_RANGE_S;
    const struct sim_category *cat = type ? store_category_const(st, type) : NULL;
    int len = cat && cat->duration > 0 ? cat->duration : SLOT_DEFAULT_S;
    json_t *out = json_array();
    if (!ok || !free_only || (type && !cat)) {
        resp_json(r, 200, fhir_bundle(q, out));
        return;
    }
    for (size_t u = 0; u < st->nusers; u++) {
        const struct sim_user *pr = &st->users[u];
        if (actor && !strstr(actor, pr->uuid))
            continue;
        for (time_t day = from - 86400; day < to + 86400; day += 86400) {
            struct tm tm;
            char date[11];
            localtime_r(&day, &tm);
            if (tm.tm_wday == 0 || tm.tm_wday == 6)
                continue;
            strftime(date, sizeof(date), "%Y-%m-%d", &tm);
            for (int m = WORK_START_MIN; m + len / 60 <= WORK_END_MIN; m += len / 60) {
                time_t s = local_epoch(date, m), e = local_epoch(date, m + len / 60);
                if (s < from || s > to || busy(st, pr->id, s, e, -1))
                    continue;
                json_array_append_new(out, slot_json(pr, s, e, type));
            }
        }
    }
    resp_json(r, 200, fhir_bundle(q, out));
}

static void schedule_search(struct sim_req *q, struct sim_resp *r)
{
    struct sim_store *st = &q->sim->store;
    const char *actor = req_arg(q, "actor");
    json_t *out = json_array();
    for (int i = 0; i < q->nargs; i++) {
        if (strcmp(q->args[i].key, "actor") != 0 && strcmp(q->args[i].key, "_id") != 0) {
            resp_json(r, 200, fhir_bundle(q, out));
            return;
        }
    }
    for (size_t u = 0; u < st->nusers; u++) {
        const struct sim_user *pr = &st->users[u];
        if (actor && fhir_practitioner_ref(st, actor) != pr)
            continue;
        char sid[64], ref[80], loc[80];
        schedule_id(pr, sid, sizeof(sid));
        if (req_arg(q, "_id") && strcmp(req_arg(q, "_id"), sid) != 0)
            continue;
        const struct sim_facility *f = store_facility(st, pr->facility_id);
        snprintf(ref, sizeof(ref), "%s/%s", pr->npi[0] ? "Practitioner" : "Person", pr->uuid);
        snprintf(loc, sizeof(loc), "Location/%s", f ? f->uuid : "");
        json_array_append_new(out,
                              json_pack("{s:s,s:s,s:b,s:[{s:s},{s:s}],s:s}", "resourceType",
                                        "Schedule", "id", sid, "active", 1, "actor", "reference",
                                        ref, "reference", loc, "comment", "Mon-Fri 08:00-17:00"));
    }
    resp_json(r, 200, fhir_bundle(q, out));
}

/* ---- Appointment create / update ---- */

static const char *status_code(const char *fhir)
{
    static const struct {
        const char *fhir, *code;
    } map[] = {{"proposed", "-"}, {"pending", "^"},    {"booked", "*"},
               {"arrived", "@"},  {"fulfilled", ">"},  {"cancelled", "x"},
               {"noshow", "?"},   {"checked-in", "<"}, {"waitlist", "CALL"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (fhir && strcmp(map[i].fhir, fhir) == 0)
            return map[i].code;
    return NULL;
}

/* Reads start/end/participants/type of a FHIR Appointment body into a. */
static const char *appt_from_fhir(struct sim_store *st, json_t *in, struct sim_appt *a,
                                  bool creating)
{
    const char *status = json_string_value(json_object_get(in, "status"));
    if (status && !status_code(status))
        return "unknown status";
    if (status)
        snprintf(a->status, sizeof(a->status), "%s", status_code(status));
    else if (creating)
        snprintf(a->status, sizeof(a->status), "*");
    const char *s = json_string_value(json_object_get(in, "start"));
    const char *e = json_string_value(json_object_get(in, "end"));
    time_t ts, te;
    bool d1, d2;
    if (creating || s || e) {
        if (!s || !e || !parse_fhir_time(s, &ts, &d1) || !parse_fhir_time(e, &te, &d2) || d1 ||
            d2 || te <= ts)
            return "start and end must be date-times with start < end";
        struct tm tm;
        localtime_r(&ts, &tm);
        strftime(a->date, sizeof(a->date), "%Y-%m-%d", &tm);
        strftime(a->start, sizeof(a->start), "%H:%M", &tm);
        a->duration = (int)(te - ts);
    }
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(in, "participant"), i, p)
    {
        const char *ref =
            json_string_value(json_object_get(json_object_get(p, "actor"), "reference"));
        if (!ref)
            continue;
        if (strncmp(ref, "Patient/", 8) == 0) {
            const struct sim_patient *pt = store_patient_uuid(st, ref + 8);
            if (!pt)
                return "unknown patient";
            a->pid = pt->pid;
        } else if (strncmp(ref, "Practitioner/", 13) == 0 || strncmp(ref, "Person/", 7) == 0) {
            const struct sim_user *u = fhir_practitioner_ref(st, ref);
            if (!u)
                return "unknown practitioner";
            a->aid = u->id;
            a->facility = a->billing = u->facility_id;
        }
    }
    if (creating && !a->aid)
        return "a Practitioner participant is required";
    /* appointmentType: a coding whose code is a category constant
     * ("office_visit") or a category id ("5"); codings of other systems
     * are ignored, as a FHIR server ignores what it does not know. */
    const struct sim_category *c = NULL;
    bool typed = false;
    json_t *coding;
    size_t k;
    json_array_foreach(json_object_get(json_object_get(in, "appointmentType"), "coding"), k, coding)
    {
        const char *code = json_string_value(json_object_get(coding, "code"));
        const char *system = json_string_value(json_object_get(coding, "system"));
        if (!code || (system && strcmp(system, "http://openemr.org/appointment-category")))
            continue;
        typed = true;
        c = store_category_const(st, code);
        char *end;
        long id = strtol(code, &end, 10);
        if (!c && *code && !*end)
            c = store_category(st, id);
        if (c)
            break;
    }
    if (typed && !c)
        return "unknown appointmentType";
    if (c)
        a->catid = c->id;
    else if (creating)
        a->catid = 5;
    const char *desc = json_string_value(json_object_get(in, "description"));
    const char *comment = json_string_value(json_object_get(in, "comment"));
    if (desc)
        snprintf(a->title, sizeof(a->title), "%s", desc);
    else if (creating)
        snprintf(a->title, sizeof(a->title), "%s", c ? c->name : "Office Visit");
    if (comment)
        snprintf(a->hometext, sizeof(a->hometext), "%s", comment);
    json_t *ident = json_object_get(in, "identifier");
    if (json_is_array(ident)) {
        json_decref(a->identifier);
        a->identifier = json_deep_copy(ident);
    }
    return NULL;
}

static void appt_write(struct sim_req *q, struct sim_resp *r, const char *id)
{
    struct sim_store *st = &q->sim->store;
    json_t *in = req_json(q);
    const char *rt = json_string_value(json_object_get(in, "resourceType"));
    if (!json_is_object(in) || !rt || strcmp(rt, "Appointment") != 0) {
        outcome(r, 400, "invalid", "body must be an Appointment resource");
        goto cleanup_in;
    }
    struct sim_appt *old = id ? store_appt_uuid(st, id) : NULL;
    if (id && !old) {
        outcome(r, 404, "not-found", "no such Appointment");
        goto cleanup_in;
    }
    struct sim_appt draft;
    if (old) {
        draft = *old;
        draft.identifier = json_incref(old->identifier);
    } else {
        memset(&draft, 0, sizeof(draft));
    }
    const char *err = appt_from_fhir(st, in, &draft, !old);
    if (!err && appt_blocks(&draft) &&
        busy(st, draft.aid, appt_start(&draft), appt_end(&draft), old ? old->eid : -1)) {
        json_decref(draft.identifier);
        outcome(r, 409, "conflict", "the practitioner is not free at that time");
        goto cleanup_in;
    }
    if (err) {
        json_decref(draft.identifier);
        outcome(r, 400, "invalid", err);
        goto cleanup_in;
    }
    struct sim_appt *a = old ? old : store_appt_add(st);
    if (!a) {
        json_decref(draft.identifier);
        outcome(r, 500, "exception", "out of memory");
        goto cleanup_in;
    }
    long eid = a->eid;
    char uuid[40];
    snprintf(uuid, sizeof(uuid), "%s", a->uuid);
    json_decref(a->identifier);
    *a = draft;
    a->eid = eid;
    snprintf(a->uuid, sizeof(a->uuid), "%s", uuid);
    a->updated = time(NULL);
    snprintf(r->location, sizeof(r->location), "%s%s/Appointment/%s", q->sim->base_url,
             SIM_SITE_FHIR, a->uuid);
    resp_json(r, old ? 200 : 201, fhir_appointment(q->sim, a));
cleanup_in:
    json_decref(in);
}

/* The routes of the scheduling surface; false for any other (fhir.c's). */
bool sched_handle(struct sim_req *q, struct sim_resp *r, const char *sub)
{
    bool get = strcmp(q->method, "GET") == 0, post = strcmp(q->method, "POST") == 0;
    bool put = strcmp(q->method, "PUT") == 0;
    enum { S_SLOT, S_SCHEDULE, S_WRITE } what;
    const char *action = "read", *id = NULL;
    if (get && strcmp(sub, "/Slot") == 0) {
        what = S_SLOT, q->route = "/fhir/Slot";
    } else if (get && strcmp(sub, "/Schedule") == 0) {
        what = S_SCHEDULE, q->route = "/fhir/Schedule";
    } else if (post && strcmp(sub, "/Appointment") == 0) {
        what = S_WRITE, action = "write", q->route = "/fhir/Appointment";
    } else if (put && strncmp(sub, "/Appointment/", 13) == 0 && sub[13] && !strchr(sub + 13, '/')) {
        what = S_WRITE, action = "write", id = sub + 13, q->route = "/fhir/Appointment/:id";
    } else {
        return false;
    }
    if (!fhir_authorize(q, r, "Appointment", action))
        return true;
    pthread_mutex_lock(&q->sim->lock);
    if (what == S_SLOT)
        slot_search(q, r);
    else if (what == S_SCHEDULE)
        schedule_search(q, r);
    else
        appt_write(q, r, id);
    pthread_mutex_unlock(&q->sim->lock);
    return true;
}
