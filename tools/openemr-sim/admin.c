/* admin.c - the test-only admin surface (separate port, no auth): stats,
 * the clock, the stored calendar, front-desk edits that bypass OAuth (each
 * bumps pc_time), faults, token expiry/revocation, client enabling, reset. */
#include "sim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void not_found(struct sim_resp *r)
{
    resp_json(r, 404, json_pack("{s:s}", "error", "no such admin route"));
}

static void bad_request(struct sim_resp *r, const char *why)
{
    resp_json(r, 400, json_pack("{s:s}", "error", why));
}

static json_t *admin_row(struct sim_store *st, const struct sim_appt *a)
{
    json_t *o = store_appt_row(st, a, true);
    json_object_set_new(o, "pc_time_epoch", json_integer((json_int_t)a->updated));
    json_object_set_new(o, "start_epoch", json_integer((json_int_t)appt_start(a)));
    json_object_set_new(o, "end_epoch", json_integer((json_int_t)appt_end(a)));
    if (a->identifier)
        json_object_set(o, "identifier", a->identifier);
    json_object_set_new(o, "pc_alldayevent", json_string(a->allday ? "1" : "0"));
    /* recurring series: the API answers the base row (occurrence 0) only
     * when recurring-base-row-only is on */
    if (a->series)
        json_object_set_new(
            o, "recurrence",
            json_pack("{s:I,s:i}", "series", (json_int_t)a->series, "occurrence", a->occurrence));
    return o;
}

static bool num_field(json_t *body, const char *key, long *out)
{
    json_t *v = json_object_get(body, key);
    char *end;
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    *out = strtol(json_string_value(v), &end, 10);
    return *json_string_value(v) && !*end;
}

static void str_field(json_t *body, const char *key, char *out, size_t len)
{
    const char *v = json_string_value(json_object_get(body, key));
    if (v)
        snprintf(out, len, "%s", v);
}

/* Applies the pc_* fields present in body to a; NULL or a reason. */
static const char *apply_fields(struct sim_store *st, struct sim_appt *a, json_t *body)
{
    long n;
    if (!json_is_object(body))
        return "body must be a JSON object";
    if (num_field(body, "pid", &n) || num_field(body, "pc_pid", &n)) {
        if (n && !store_patient(st, n))
            return "unknown pid";
        a->pid = n;
    }
    if (num_field(body, "pc_aid", &n)) {
        if (n && !store_user(st, n))
            return "unknown pc_aid";
        a->aid = n;
    }
    if (num_field(body, "pc_catid", &n)) {
        a->catid = (int)n;
        const struct sim_category *c = store_category(st, a->catid);
        if (!a->duration && c)
            a->duration = c->duration;
    }
    if (num_field(body, "pc_duration", &n))
        a->duration = (int)n;
    if (num_field(body, "pc_facility", &n))
        a->facility = a->billing = n;
    if (num_field(body, "pc_billing_location", &n))
        a->billing = n;
    str_field(body, "pc_title", a->title, sizeof(a->title));
    str_field(body, "pc_hometext", a->hometext, sizeof(a->hometext));
    str_field(body, "pc_apptstatus", a->status, sizeof(a->status));
    const char *d = json_string_value(json_object_get(body, "pc_eventDate"));
    if (d) {
        if (local_epoch(d, 0) == (time_t)-1 || strlen(d) != 10)
            return "bad pc_eventDate";
        snprintf(a->date, sizeof(a->date), "%s", d);
    }
    const char *t = json_string_value(json_object_get(body, "pc_startTime"));
    if (t) {
        if (strlen(t) < 5 || t[2] != ':' || !isdigit((unsigned char)t[0]))
            return "bad pc_startTime";
        snprintf(a->start, sizeof(a->start), "%.5s", t);
    }
    if (json_is_array(json_object_get(body, "identifier"))) {
        json_decref(a->identifier);
        a->identifier = json_deep_copy(json_object_get(body, "identifier"));
    }
    if (!a->date[0] || !a->start[0])
        return "pc_eventDate and pc_startTime are required";
    return NULL;
}

static void appt_create(struct sim *sim, json_t *body, struct sim_resp *r)
{
    struct sim_store *st = &sim->store;
    struct sim_appt draft = {.catid = 5, .facility = 3, .billing = 3};
    snprintf(draft.status, sizeof(draft.status), "-");
    const char *err = apply_fields(st, &draft, body);
    if (err) {
        json_decref(draft.identifier);
        bad_request(r, err);
        return;
    }
    if (!draft.title[0]) {
        const struct sim_category *c = store_category(st, draft.catid);
        snprintf(draft.title, sizeof(draft.title), "%s", c ? c->name : "Office Visit");
    }
    struct sim_appt *a = store_appt_add(st);
    if (!a) {
        json_decref(draft.identifier);
        resp_empty(r, 500);
        return;
    }
    draft.eid = a->eid;
    memcpy(draft.uuid, a->uuid, sizeof(draft.uuid));
    draft.updated = time(NULL);
    *a = draft;
    resp_json(r, 200, admin_row(st, a));
}

static void appt_edit(struct sim *sim, long eid, json_t *body, struct sim_resp *r)
{
    struct sim_store *st = &sim->store;
    struct sim_appt *a = store_appt(st, eid);
    if (!a) {
        not_found(r);
        return;
    }
    struct sim_appt draft = *a;
    draft.identifier = json_incref(a->identifier);
    const char *err = apply_fields(st, &draft, body);
    if (err) {
        json_decref(draft.identifier);
        bad_request(r, err);
        return;
    }
    json_decref(a->identifier);
    *a = draft;
    a->updated = time(NULL);
    resp_json(r, 200, admin_row(st, a));
}

static double fault_rate(json_t *o, const char *key)
{
    double v = json_number_value(json_object_get(o, key));
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* Each POST /faults replaces the whole fault set; {} clears it. */
static void set_faults(struct sim *sim, json_t *in, struct sim_resp *r)
{
    if (!json_is_object(in)) {
        bad_request(r, "body must be a JSON object");
        return;
    }
    struct sim_faults f = {0};
    json_t *lat = json_object_get(in, "latency_ms");
    f.latency_min = (int)json_integer_value(json_object_get(lat, "min"));
    f.latency_max = (int)json_integer_value(json_object_get(lat, "max"));
    if (json_is_integer(lat))
        f.latency_min = f.latency_max = (int)json_integer_value(lat);
    f.rate_401 = fault_rate(in, "rate_401");
    f.rate_429 = fault_rate(in, "rate_429");
    f.rate_500 = fault_rate(in, "rate_500");
    f.rate_502 = fault_rate(in, "rate_502");
    f.rate_503 = fault_rate(in, "rate_503");
    f.reset_rate = fault_rate(in, "reset_rate");
    f.retry_after = (int)json_integer_value(json_object_get(in, "retry_after"));
    f.slow_body_ms = (int)json_integer_value(json_object_get(in, "slow_body_ms"));
    str_field(in, "routes", f.routes, sizeof(f.routes));
    if (f.latency_min < 0 || f.latency_max > 600000 || f.slow_body_ms < 0 ||
        f.slow_body_ms > 600000) {
        bad_request(r, "latency/slow_body out of range");
        return;
    }
    faults_set(sim, &f);
    resp_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static int reload(struct sim *sim, char *errstr, size_t errlen)
{
    struct sim_store fresh;
    if (store_load(&fresh, sim->opts.seed, sim->opts.today, errstr, errlen) < 0)
        return -1;
    pthread_mutex_lock(&sim->lock);
    store_free(&sim->store);
    sim->store = fresh;
    int rc = oauth_init(sim);
    pthread_mutex_unlock(&sim->lock);
    stats_reset(sim);
    faults_clear(sim);
    return rc;
}

static json_t *list_people(struct sim *sim, bool patients)
{
    struct sim_store *st = &sim->store;
    json_t *arr = json_array();
    size_t n = patients ? st->npatients : st->nusers;
    for (size_t i = 0; i < n; i++) {
        json_t *o;
        if (patients) {
            o = store_patient_json(&st->patients[i]);
            json_object_set_new(o, "pid", json_integer(st->patients[i].pid));
        } else {
            o = store_user_json(&st->users[i]);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

void admin_handle(struct sim_req *q, struct sim_resp *r)
{
    struct sim *sim = q->sim;
    const char *p = q->path, *m = q->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    json_t *body = req_json(q);
    long eid = 0;
    char tail[8] = "", cid[96] = "", action[16] = "";
    if (get && strcmp(p, "/profile") == 0) {
        resp_json(r, 200, profile_json(&sim->opts.profile));
    } else if (get && strcmp(p, "/stats") == 0) {
        resp_json(r, 200, stats_json(sim));
    } else if (get && strcmp(p, "/clock") == 0) {
        /* the seed's day 0, its zone and this process's clock: tests derive
         * their days from the first two and compare the clock with theirs */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        resp_json(r, 200,
                  json_pack("{s:s,s:s,s:f}", "today", sim->opts.today, "tz", sim->opts.tz, "now",
                            (double)now.tv_sec + now.tv_nsec / 1e9));
    } else if (post && strcmp(p, "/stats/reset") == 0) {
        stats_reset(sim);
        resp_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (get && strcmp(p, "/faults") == 0) {
        resp_json(r, 200, faults_json(sim));
    } else if (post && strcmp(p, "/faults") == 0) {
        set_faults(sim, body, r);
    } else if (get && strcmp(p, "/tokens") == 0) {
        resp_json(r, 200, oauth_tokens_json(sim));
    } else if (post && (strcmp(p, "/tokens/expire") == 0 || strcmp(p, "/tokens/revoke") == 0)) {
        int n = oauth_admin(sim, p + 8, NULL);
        resp_json(r, 200, json_pack("{s:i}", "tokens", n));
    } else if (post && strcmp(p, "/reset") == 0) {
        char err[256] = "";
        if (reload(sim, err, sizeof(err)) < 0)
            resp_json(r, 500, json_pack("{s:s}", "error", err));
        else
            resp_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (get && strcmp(p, "/clients") == 0) {
        resp_json(r, 200, oauth_clients_json(sim));
    } else if (post && sscanf(p, "/clients/%95[^/]/%15s", cid, action) == 2 &&
               strcmp(action, "enable") == 0) {
        if (oauth_admin(sim, "enable", cid))
            resp_json(r, 200, json_pack("{s:b}", "ok", 1));
        else
            not_found(r);
    } else if (get && (strcmp(p, "/appointments") == 0 || strcmp(p, "/patients") == 0 ||
                       strcmp(p, "/practitioners") == 0)) {
        pthread_mutex_lock(&sim->lock);
        json_t *arr;
        if (p[1] == 'a') {
            arr = json_array();
            for (size_t i = 0; i < sim->store.nappts; i++)
                json_array_append_new(arr, admin_row(&sim->store, &sim->store.appts[i]));
        } else {
            arr = list_people(sim, p[2] == 'a');
        }
        pthread_mutex_unlock(&sim->lock);
        resp_json(r, 200, arr);
    } else if (post && strcmp(p, "/appointments") == 0) {
        pthread_mutex_lock(&sim->lock);
        appt_create(sim, body, r);
        pthread_mutex_unlock(&sim->lock);
    } else if ((post || strcmp(m, "DELETE") == 0) &&
               sscanf(p, "/appointments/%ld%1s", &eid, tail) == 1) {
        pthread_mutex_lock(&sim->lock);
        if (post) {
            appt_edit(sim, eid, body, r);
        } else if (store_appt(&sim->store, eid)) {
            store_appt_delete(&sim->store, eid);
            resp_json(r, 200, json_pack("{s:b}", "ok", 1));
        } else {
            not_found(r);
        }
        pthread_mutex_unlock(&sim->lock);
    } else {
        not_found(r);
    }
    json_decref(body);
}
