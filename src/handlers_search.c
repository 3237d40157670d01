/* handlers_search.c - the read-only commands: find_patient, search_slots,
 * list_appointments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "availability.h"
#include "daycache.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "slot_id.h"
#include "timeutil.h"
#include "worker.h"

#define DAY 86400
/* A search looks at most this far; longer ranges are cut (the agent asks
 * for days or weeks, never months). */
#define MAX_SEARCH_DAYS 62
/* next_available looks ahead in steps of a week, up to the booking window. */
#define NEXT_STEP_DAYS 7

sw_err handle_find_patient(struct worker *w, const struct command *c, struct result *r,
                           const char *note)
{
    (void)note;
    struct oe_call call = worker_call(w, c);
    struct oe_patient *p = NULL;
    size_t n = 0;
    sw_err err = oe_find_patients(w->oe, &call, c->u.find.phone, c->u.find.birthdate, &p, &n);
    if (err) {
        worker_fail_openemr(r, err, &call);
        return SW_OK;
    }
    if (n == 0) {
        result_fail(r, SW_ERR_NOT_FOUND, "no_match",
                    "No patient has that phone number and birth date.");
        return SW_OK;
    }
    r->matches = calloc(n, sizeof(*r->matches));
    if (!r->matches) {
        free(p);
        result_fail(r, SW_ERR_NOMEM, NULL, "The worker ran out of memory.");
        return SW_OK;
    }
    /* Only what the agent needs to tell the matches apart. */
    for (size_t i = 0; i < n; i++) {
        struct res_patient *m = &r->matches[r->n_matches++];
        snprintf(m->patient_id, sizeof(m->patient_id), "%s", p[i].id);
        snprintf(m->given_name, sizeof(m->given_name), "%s", p[i].given);
        snprintf(m->family_name, sizeof(m->family_name), "%s", p[i].family);
        snprintf(m->birthdate, sizeof(m->birthdate), "%s", p[i].birthdate);
    }
    free(p);
    return SW_OK;
}

/* ---- busy time -------------------------------------------------------- */

/* Sorts an appointment into the busy lists of a day: provider events block
 * time as they are, appointments that still hold time are widened later
 * by the buffer, cancelled and no-show ones free their time. */
static bool add_busy(struct day_busy *d, const struct oe_appt *a)
{
    if (a->provider_event)
        return day_busy_add(&d->blocks, &d->n_blocks, a->start, a->end);
    if (a->status == OE_APPT_CANCELLED || a->status == OE_APPT_NOSHOW)
        return true;
    return day_busy_add(&d->appts, &d->n_appts, a->start, a->end);
}

static bool merge_into(struct day_busy *all, const struct day_busy *d)
{
    for (size_t i = 0; i < d->n_appts; i++)
        if (!day_busy_add(&all->appts, &all->n_appts, d->appts[i].start, d->appts[i].end))
            return false;
    for (size_t i = 0; i < d->n_blocks; i++)
        if (!day_busy_add(&all->blocks, &all->n_blocks, d->blocks[i].start, d->blocks[i].end))
            return false;
    if (d->has_free)
        all->has_free = true;
    for (size_t i = 0; i < d->n_free; i++)
        if (!day_busy_add(&all->free, &all->n_free, d->free[i].start, d->free[i].end))
            return false;
    return true;
}

struct day_span {
    struct tu_date first;
    int n; /* days */
};

static sw_err span_of(int64_t from, int64_t to, struct day_span *s)
{
    struct tu_date last;
    if (timeutil_local_date(from, &s->first) || timeutil_local_date(to - 1, &last))
        return SW_ERR_INVALID;
    s->n = (int)(timeutil_date_days(last) - timeutil_date_days(s->first)) + 1;
    return SW_OK;
}

/* Fetches [first, first + n days) of a practitioner from OpenEMR, puts
 * each day in the fleet's cache (empty days too: a repeated search then
 * costs no OpenEMR request) and hands them over in into[0..n). */
static sw_err fetch_days(struct worker *w, struct oe_call *call, const char *pract,
                         struct tu_date first, int n, int64_t now, struct day_busy *into)
{
    int64_t from, to;
    struct oe_appt *appts = NULL;
    struct oe_interval *free_slots = NULL;
    size_t n_appts = 0, n_free = 0;
    bool has_free = false;
    struct day_busy *days = NULL;
    sw_err err;

    if (timeutil_day_start(first, &from) || timeutil_day_start(timeutil_date_add(first, n), &to))
        return SW_ERR_INVALID;
    err = oe_list_range(w->oe, call, pract, from, to, &appts, &n_appts);
    if (!err)
        err = oe_free_slots(w->oe, call, pract, from, to, &has_free, &free_slots, &n_free);
    if (err)
        goto out;
    days = calloc((size_t)n, sizeof(*days));
    if (!days) {
        err = SW_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        days[i].fetched_at = now;
        days[i].has_free = has_free;
    }
    /* An interval goes to every day it touches. */
    for (size_t i = 0; i < n_appts; i++) {
        struct day_span s;
        if (span_of(appts[i].start > from ? appts[i].start : from,
                    appts[i].end < to ? appts[i].end : to, &s))
            continue;
        int64_t off = timeutil_date_days(s.first) - timeutil_date_days(first);
        for (int64_t d = off; d < off + s.n && d < n; d++)
            if (d >= 0 && !add_busy(&days[d], &appts[i]))
                err = SW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n_free; i++) {
        struct tu_date day;
        if (timeutil_local_date(free_slots[i].start, &day))
            continue;
        int64_t d = timeutil_date_days(day) - timeutil_date_days(first);
        if (d >= 0 && d < n &&
            !day_busy_add(&days[d].free, &days[d].n_free, free_slots[i].start, free_slots[i].end))
            err = SW_ERR_NOMEM;
    }
    for (int i = 0; i < n && !err; i++)
        if (daycache_put(w->fleet, pract, timeutil_date_add(first, i), w->cfg->slot_cache_ttl_s,
                         &days[i]) == SW_ERR_REDIS)
            err = SW_ERR_REDIS;
out:
    /* Fetched days replace the caller's (stale or missing) ones. */
    for (int i = 0; days && i < n; i++) {
        if (!err) {
            day_busy_clear(&into[i]);
            into[i] = days[i];
        } else {
            day_busy_clear(&days[i]);
        }
    }
    free(days);
    free(appts);
    free(free_slots);
    return err;
}

/* The busy time of a practitioner over [from, to), merged into *all, from
 * the cache where fresh and from OpenEMR for the rest (one request for the
 * missing stretch).  While OpenEMR is unavailable, stale cache entries are
 * used and *stale is set. */
static sw_err load_busy(struct worker *w, struct oe_call *call, const char *pract, int64_t from,
                        int64_t to, int64_t now, struct day_busy *all, bool *stale)
{
    struct day_span span;
    if (span_of(from, to, &span))
        return SW_ERR_INVALID;
    struct day_busy *days = calloc((size_t)span.n, sizeof(*days));
    bool *have = calloc((size_t)span.n, sizeof(*have));
    int first_missing = -1, last_missing = -1;
    sw_err err = days && have ? SW_OK : SW_ERR_NOMEM;
    for (int i = 0; i < span.n && !err; i++) {
        bool fresh = false;
        err = daycache_get(w->fleet, pract, timeutil_date_add(span.first, i),
                           w->cfg->slot_cache_ttl_s, now, &days[i], &fresh);
        if (err == SW_ERR_REDIS)
            break;
        have[i] = err == SW_OK;
        metrics_cache(err ? "miss" : fresh ? "hit" : "stale");
        if (err || !fresh) {
            if (first_missing < 0)
                first_missing = i;
            last_missing = i;
        }
        err = SW_OK;
    }
    if (!err && first_missing >= 0) {
        err = fetch_days(w, call, pract, timeutil_date_add(span.first, first_missing),
                         last_missing - first_missing + 1, now, &days[first_missing]);
        if (!err) {
            for (int i = first_missing; i <= last_missing; i++)
                have[i] = true;
        } else if (err != SW_ERR_REDIS && err != SW_ERR_NOMEM && err != SW_ERR_INVALID &&
                   (sw_err_is_transient(err) || err == SW_ERR_UNAVAILABLE || err == SW_ERR_TOKEN)) {
            *stale = true; /* fall back on what the cache still has */
            err = SW_OK;
        }
    }
    for (int i = 0; i < span.n && !err; i++) {
        if (!have[i])
            err = SW_ERR_UNAVAILABLE; /* neither OpenEMR nor a stale copy */
        else if (!merge_into(all, &days[i]))
            err = SW_ERR_NOMEM;
    }
    for (int i = 0; days && i < span.n; i++)
        day_busy_clear(&days[i]);
    free(days);
    free(have);
    return err;
}

/* Live holds of other sessions block time like appointments. */
static sw_err add_holds(struct worker *w, const char *pract, const char *session, int64_t from,
                        int64_t to, struct day_busy *all)
{
    struct fleet_hold *h = NULL;
    size_t n = 0;
    sw_err err = fleet_holds_list(w->fleet, pract, from, to, &h, &n);
    if (err)
        return err;
    for (size_t i = 0; i < n && !err; i++)
        if ((!session[0] || strcmp(h[i].session_id, session) != 0) &&
            !day_busy_add(&all->appts, &all->n_appts, h[i].start, h[i].end))
            err = SW_ERR_NOMEM;
    free(h);
    return err;
}

/* The patient's own appointments, with anyone, block their time. */
static sw_err add_patient(struct worker *w, struct oe_call *call, const char *patient, int64_t from,
                          int64_t to, int64_t now, struct day_busy *all)
{
    struct day_busy p;
    sw_err err =
        daycache_get_patient(w->fleet, patient, w->cfg->slot_cache_ttl_s, now, from, to, &p);
    if (err == SW_ERR_REDIS)
        return err;
    if (err) {
        struct oe_appt *a = NULL;
        size_t n = 0;
        memset(&p, 0, sizeof(p));
        err = oe_list_patient(w->oe, call, patient, from, to, &a, &n);
        if (err)
            return err;
        for (size_t i = 0; i < n; i++)
            if (a[i].status != OE_APPT_CANCELLED && a[i].status != OE_APPT_NOSHOW)
                day_busy_add(&p.blocks, &p.n_blocks, a[i].start, a[i].end);
        free(a);
        p.fetched_at = now;
        p.range_from = from;
        p.range_to = to;
        daycache_put_patient(w->fleet, patient, w->cfg->slot_cache_ttl_s, &p);
    }
    for (size_t i = 0; i < p.n_blocks; i++)
        day_busy_add(&all->blocks, &all->n_blocks, p.blocks[i].start, p.blocks[i].end);
    day_busy_clear(&p);
    return SW_OK;
}

/* Free slots of one practitioner in [from, to), appended to *slots. */
static sw_err practitioner_slots(struct worker *w, const struct slot_query *q, struct oe_call *call,
                                 int tag, const char *pract, int64_t from, int64_t to, int64_t now,
                                 struct av_slot **slots, size_t *n_slots, bool *stale)
{
    const struct sw_type_rule *type = q->type;
    struct day_busy busy = {0};
    struct av_slot *found = NULL;
    size_t n_found = 0;
    sw_err err = load_busy(w, call, pract, from, to, now, &busy, stale);
    if (!err)
        err = add_holds(w, pract, q->session_id, from, to, &busy);
    if (!err && q->patient_id[0])
        err = add_patient(w, call, q->patient_id, from, to, now, &busy);
    if (err)
        goto out;
    struct av_request req = {
        .tag = tag,
        .type = type,
        .hours = sw_config_hours(w->cfg, pract), /* with server Slots too */
        .slot_minutes = w->cfg->slot_minutes,
        .buffer_minutes = w->cfg->buffer_minutes,
        .now = now,
        .from = from,
        .to = to,
        .appts = busy.appts,
        .n_appts = busy.n_appts,
        .blocks = busy.blocks,
        .n_blocks = busy.n_blocks,
        .use_server_free = busy.has_free,
        .server_free = busy.free,
        .n_server_free = busy.n_free,
    };
    err = avail_compute(&req, &found, &n_found);
    if (err || n_found == 0)
        goto out;
    struct av_slot *all = realloc(*slots, (*n_slots + n_found) * sizeof(**slots));
    if (!all) {
        err = SW_ERR_NOMEM;
        goto out;
    }
    memcpy(all + *n_slots, found, n_found * sizeof(*found));
    *slots = all;
    *n_slots += n_found;
out:
    free(found);
    day_busy_clear(&busy);
    return err;
}

/* Every requested practitioner's free slots in [from, to), sorted. */
static sw_err range_slots(struct worker *w, const struct slot_query *q, struct oe_call *call,
                          char (*practs)[64], size_t n_practs, int64_t from, int64_t to,
                          int64_t now, struct av_slot **slots, size_t *n, bool *stale)
{
    for (size_t i = 0; i < n_practs; i++) {
        sw_err err =
            practitioner_slots(w, q, call, (int)i, practs[i], from, to, now, slots, n, stale);
        if (err)
            return err;
    }
    avail_sort(*slots, *n);
    return SW_OK;
}

static void to_result_slot(const struct av_slot *s, const char *pract, const char *type,
                           struct res_slot *out)
{
    out->start = s->start;
    out->end = s->end;
    snprintf(out->practitioner_id, sizeof(out->practitioner_id), "%s", pract);
    snprintf(out->appointment_type, sizeof(out->appointment_type), "%s", type);
    struct slot_ref ref = {.start = s->start};
    snprintf(ref.practitioner_id, sizeof(ref.practitioner_id), "%s", pract);
    snprintf(ref.appointment_type, sizeof(ref.appointment_type), "%s", type);
    if (slot_id_encode(&ref, out->slot_id, sizeof(out->slot_id)) != SW_OK)
        out->slot_id[0] = '\0';
}

/* The practitioners a search is about: those named, or every one. */
static sw_err search_practitioners(struct worker *w, const struct command *c, struct oe_call *call,
                                   char (**out)[64], size_t *n)
{
    const struct cmd_search_slots *s = &c->u.search;
    if (s->n_practitioners == 0)
        return oe_list_practitioners(w->oe, call, out, n);
    *out = calloc((size_t)s->n_practitioners, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (int i = 0; i < s->n_practitioners; i++)
        snprintf((*out)[i], sizeof((*out)[i]), "%s", s->practitioners[i]);
    *n = (size_t)s->n_practitioners;
    return SW_OK;
}

sw_err handle_search_slots(struct worker *w, const struct command *c, struct result *r,
                           const char *note)
{
    (void)note;
    const struct cmd_search_slots *s = &c->u.search;
    const struct sw_type_rule *type = sw_config_type(w->cfg, s->appointment_type);
    struct oe_call call = worker_call(w, c);
    int64_t now = worker_now_ms() / 1000, earliest, latest;
    char(*practs)[64] = NULL;
    size_t n_practs = 0, n_slots = 0;
    struct av_slot *slots = NULL;
    bool stale = false;
    sw_err err = SW_OK;

    if (!type) {
        result_fail(r, SW_ERR_INVALID, "unknown_appointment_type",
                    "Unknown appointment type \"%s\".", s->appointment_type);
        return SW_OK;
    }
    if (rules_earliest_start(type, now, &earliest) || rules_latest_start(type, now, &latest)) {
        result_fail(r, SW_ERR_INTERNAL, NULL, "The booking rules could not be applied.");
        return SW_OK;
    }
    /* Only the part of the range where a booking is allowed at all. */
    int64_t from = s->from > earliest ? s->from : earliest;
    int64_t window_end = latest + (int64_t)type->duration_min * 60;
    int64_t to = s->to < window_end ? s->to : window_end;
    if (to > from + (int64_t)MAX_SEARCH_DAYS * DAY)
        to = from + (int64_t)MAX_SEARCH_DAYS * DAY;

    err = search_practitioners(w, c, &call, &practs, &n_practs);
    if (err)
        goto fail;
    struct slot_query q = {type, c->session_id, s->patient_id};
    if (from < to)
        err = range_slots(w, &q, &call, practs, n_practs, from, to, now, &slots, &n_slots, &stale);
    if (err)
        goto fail;

    int limit = s->limit ? s->limit : w->cfg->search_limit_default;
    struct av_slot picked[CMD_MAX_SLOTS];
    size_t n_picked = avail_select(slots, n_slots, (size_t)limit, picked);
    for (size_t i = 0; i < n_picked; i++)
        to_result_slot(&picked[i], practs[picked[i].tag], type->name, &r->slots[r->n_slots++]);

    /* Nothing in the range: the first free slot after it, a week at a time
     * up to the booking window. */
    for (int64_t start = to > from ? to : from; n_picked == 0 && start < window_end;
         start += (int64_t)NEXT_STEP_DAYS * DAY) {
        int64_t end = start + (int64_t)NEXT_STEP_DAYS * DAY;
        free(slots);
        slots = NULL;
        n_slots = 0;
        err = range_slots(w, &q, &call, practs, n_practs, start,
                          end < window_end ? end : window_end, now, &slots, &n_slots, &stale);
        if (err)
            goto fail;
        if (n_slots > 0) {
            r->has_next_available = true;
            to_result_slot(&slots[0], practs[slots[0].tag], type->name, &r->next_available);
            break;
        }
    }
    r->stale = stale;
    free(slots);
    free(practs);
    return SW_OK;
fail:
    free(slots);
    free(practs);
    if (err == SW_ERR_REDIS)
        return err;
    worker_fail_openemr(r, err, &call);
    return SW_OK;
}

sw_err slots_alternatives(struct worker *w, struct oe_call *call, const struct slot_query *q,
                          const char *pract, int64_t around, struct result *r)
{
    int64_t now = worker_now_ms() / 1000, earliest, latest;
    struct av_slot *slots = NULL;
    size_t n = 0;
    bool stale = false;
    char practs[1][64];
    if (rules_earliest_start(q->type, now, &earliest) || rules_latest_start(q->type, now, &latest))
        return SW_ERR_INTERNAL;
    /* From the start of the wanted day for a week, within the window. */
    struct tu_date day;
    int64_t from;
    if (timeutil_local_date(around, &day) || timeutil_day_start(day, &from))
        return SW_ERR_INVALID;
    if (from < earliest)
        from = earliest;
    int64_t to = from + (int64_t)NEXT_STEP_DAYS * DAY;
    int64_t window_end = latest + (int64_t)q->type->duration_min * 60;
    if (to > window_end)
        to = window_end;
    snprintf(practs[0], sizeof(practs[0]), "%s", pract);
    r->n_slots = 0;
    if (from >= to)
        return SW_OK;
    sw_err err = range_slots(w, q, call, practs, 1, from, to, now, &slots, &n, &stale);
    if (!err) {
        struct av_slot picked[3];
        size_t k = avail_select(slots, n, 3, picked);
        for (size_t i = 0; i < k; i++)
            to_result_slot(&picked[i], pract, q->type->name, &r->slots[r->n_slots++]);
    }
    free(slots);
    return err;
}

sw_err slots_day_busy(struct worker *w, struct oe_call *call, const char *pract, int64_t from,
                      int64_t to, struct day_busy *busy)
{
    bool stale = false;
    return load_busy(w, call, pract, from, to, worker_now_ms() / 1000, busy, &stale);
}

sw_err handle_list_appointments(struct worker *w, const struct command *c, struct result *r,
                                const char *note)
{
    (void)note;
    const struct cmd_list_appointments *l = &c->u.list;
    struct oe_call call = worker_call(w, c);
    struct oe_appt *a = NULL;
    size_t n = 0;
    sw_err err = oe_list_patient(w->oe, &call, l->patient_id, l->from, l->to, &a, &n);
    if (err) {
        worker_fail_openemr(r, err, &call);
        return SW_OK;
    }
    r->appointments = calloc(n ? n : 1, sizeof(*r->appointments));
    if (!r->appointments) {
        free(a);
        result_fail(r, SW_ERR_NOMEM, NULL, "The worker ran out of memory.");
        return SW_OK;
    }
    static const char *const status_names[] = {
        [OE_APPT_BOOKED] = "booked",
        [OE_APPT_CANCELLED] = "cancelled",
        [OE_APPT_NOSHOW] = "noshow",
        [OE_APPT_FULFILLED] = "fulfilled",
    };
    for (size_t i = 0; i < n; i++) {
        if (a[i].provider_event)
            continue;
        struct res_appointment *o = &r->appointments[r->n_appointments++];
        snprintf(o->appointment_id, sizeof(o->appointment_id), "%s", a[i].id);
        snprintf(o->confirmation_number, sizeof(o->confirmation_number), "%s", a[i].confirmation);
        o->start = a[i].start;
        o->end = a[i].end;
        snprintf(o->practitioner_id, sizeof(o->practitioner_id), "%s", a[i].practitioner_id);
        snprintf(o->appointment_type, sizeof(o->appointment_type), "%s",
                 a[i].appointment_type[0] ? a[i].appointment_type : "other");
        snprintf(o->status, sizeof(o->status), "%s", status_names[a[i].status]);
    }
    free(a);
    return SW_OK;
}
