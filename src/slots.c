/* slots.c - busy time and free slots of practitioners, shared by search,
 * hold and book: each day's busy time from the fleet's cache where fresh
 * and from OpenEMR for the rest (one request for the missing stretch, every
 * fetched day cached), other calls' holds, the patient's own appointments,
 * then availability.c's arithmetic. */
#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "daycache.h"
#include "metrics.h"
#include "rules.h"
#include "slot_id.h"
#include "timeutil.h"

#define DAY 86400
/* next_available and alternatives look ahead a week at a time. */
#define NEXT_STEP_DAYS 7

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
static sw_err fetch_days(const struct worker *w, struct oe_call *call, const char *pract,
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
    err = emr_list_range(&w->emr, call, pract, from, to, &appts, &n_appts);
    if (!err)
        err = emr_free_slots(&w->emr, call, pract, from, to, &has_free, &free_slots, &n_free);
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
        if (daycache_put(&w->store, pract, timeutil_date_add(first, i), w->cfg->slot_cache_ttl_s,
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

sw_err slots_refresh_days(const struct worker *w, struct oe_call *call, const char *pract,
                          struct tu_date first, int n, int64_t now)
{
    struct day_busy *days = calloc((size_t)n, sizeof(*days));
    if (!days)
        return SW_ERR_NOMEM;
    sw_err err = fetch_days(w, call, pract, first, n, now, days);
    for (int i = 0; i < n; i++)
        day_busy_clear(&days[i]);
    free(days);
    return err;
}

/* The busy time of a practitioner over [from, to), merged into *all, from
 * the cache where fresh and from OpenEMR for the rest (one request for the
 * missing stretch).  While OpenEMR is unavailable, stale cache entries are
 * used and *stale is set. */
static sw_err load_busy(const struct worker *w, struct oe_call *call, const char *pract,
                        int64_t from, int64_t to, int64_t now, struct day_busy *all, bool *stale)
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
        err = daycache_get(&w->store, pract, timeutil_date_add(span.first, i),
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
        } else if (err != SW_ERR_REDIS && sw_err_is_transient(err)) {
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
static sw_err add_holds(const struct worker *w, const char *pract, const char *session,
                        int64_t from, int64_t to, struct day_busy *all)
{
    struct fleet_hold *h = NULL;
    size_t n = 0;
    sw_err err = store_holds_list(&w->store, pract, from, to, &h, &n);
    if (err)
        return err;
    for (size_t i = 0; i < n && !err; i++)
        if ((!session[0] || strcmp(h[i].session_id, session) != 0) &&
            !day_busy_add(&all->appts, &all->n_appts, h[i].start, h[i].end))
            err = SW_ERR_NOMEM;
    free(h);
    return err;
}

/* The patient's appointments over [from, to) from OpenEMR into *p, and
 * into the cache. */
static sw_err fetch_patient(const struct worker *w, struct oe_call *call, const char *patient,
                            int64_t from, int64_t to, int64_t now, struct day_busy *p)
{
    struct oe_appt *a = NULL;
    size_t n = 0;
    memset(p, 0, sizeof(*p));
    sw_err err = emr_list_patient(&w->emr, call, patient, from, to, &a, &n);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++)
        if (a[i].status != OE_APPT_CANCELLED && a[i].status != OE_APPT_NOSHOW)
            day_busy_add(&p->blocks, &p->n_blocks, a[i].start, a[i].end);
    free(a);
    p->fetched_at = now;
    p->range_from = from;
    p->range_to = to;
    daycache_put_patient(&w->store, patient, w->cfg->slot_cache_ttl_s, p);
    return SW_OK;
}

sw_err slots_refresh_patient(const struct worker *w, struct oe_call *call, const char *patient,
                             int64_t from, int64_t to, int64_t now)
{
    struct day_busy p;
    sw_err err = fetch_patient(w, call, patient, from, to, now, &p);
    day_busy_clear(&p);
    return err;
}

/* The patient's own appointments, with anyone, block their time.  On a
 * miss the whole booking window is read (with [from, to)): OpenEMR answers
 * a patient's appointments all at once whatever the range, so the call's
 * next searches, on other days, cost no request. */
static sw_err add_patient(const struct worker *w, struct oe_call *call,
                          const struct sw_type_rule *type, const char *patient, int64_t from,
                          int64_t to, int64_t now, struct day_busy *all)
{
    struct day_busy p;
    sw_err err =
        daycache_get_patient(&w->store, patient, w->cfg->slot_cache_ttl_s, now, from, to, &p);
    if (err == SW_ERR_REDIS)
        return err;
    if (err) {
        int64_t end, wide_from = from < now ? from : now, wide_to = to;
        if (!rules_window_end(type, now, &end) && end > wide_to)
            wide_to = end;
        if ((err = fetch_patient(w, call, patient, wide_from, wide_to, now, &p)))
            return err;
    }
    for (size_t i = 0; i < p.n_blocks; i++)
        day_busy_add(&all->blocks, &all->n_blocks, p.blocks[i].start, p.blocks[i].end);
    day_busy_clear(&p);
    return SW_OK;
}

/* Free slots of one practitioner in [from, to), appended to *slots. */
static sw_err practitioner_slots(const struct worker *w, const struct slot_query *q,
                                 struct oe_call *call, int tag, const char *pract, int64_t from,
                                 int64_t to, int64_t now, struct av_slot **slots, size_t *n_slots,
                                 bool *stale)
{
    const struct sw_type_rule *type = q->type;
    struct day_busy busy = {0};
    struct av_slot *found = NULL;
    size_t n_found = 0;
    sw_err err = load_busy(w, call, pract, from, to, now, &busy, stale);
    if (!err)
        err = add_holds(w, pract, q->session_id, from, to, &busy);
    if (!err && q->patient_id[0])
        err = add_patient(w, call, type, q->patient_id, from, to, now, &busy);
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
        .cfg = w->cfg, /* configured breaks and closures */
        .practitioner_id = pract,
        .use_server_free = busy.has_free,
        .server_free = busy.free,
        .n_server_free = busy.n_free,
    };
    err = avail_compute(&req, &found, &n_found);
    if (err || n_found == 0)
        goto out;
    size_t cap = *n_slots; /* *slots holds exactly *n_slots */
    struct av_slot *all =
        vec_grow(*slots, &cap, sizeof(**slots), *n_slots + n_found, SLOTS_MAX_CANDIDATES);
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
sw_err slots_in_range(const struct worker *w, const struct slot_query *q, struct oe_call *call,
                      char (*practs)[64], size_t n_practs, int64_t from, int64_t to, int64_t now,
                      struct av_slot **slots, size_t *n, bool *stale)
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

void slots_to_result(const struct av_slot *s, const char *pract, const char *type,
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

sw_err slots_alternatives(const struct worker *w, struct oe_call *call, const struct slot_query *q,
                          const char *pract, int64_t around, struct result *r)
{
    int64_t now = worker_now_s(w), earliest, window_end;
    struct av_slot *slots = NULL;
    size_t n = 0;
    bool stale = false;
    char practs[1][64];
    if (rules_earliest_start(q->type, now, &earliest) ||
        rules_window_end(q->type, now, &window_end))
        return SW_ERR_INTERNAL;
    /* From the start of the wanted day for a week, within the window. */
    struct tu_date day;
    int64_t from;
    if (timeutil_local_date(around, &day) || timeutil_day_start(day, &from))
        return SW_ERR_INVALID;
    if (from < earliest)
        from = earliest;
    int64_t to = from + (int64_t)NEXT_STEP_DAYS * DAY;
    if (to > window_end)
        to = window_end;
    snprintf(practs[0], sizeof(practs[0]), "%s", pract);
    r->n_slots = 0;
    if (from >= to)
        return SW_OK;
    sw_err err = slots_in_range(w, q, call, practs, 1, from, to, now, &slots, &n, &stale);
    if (!err) {
        struct av_slot picked[3];
        size_t k = avail_select(slots, n, 3, picked);
        for (size_t i = 0; i < k; i++)
            slots_to_result(&picked[i], pract, q->type->name, &r->slots[r->n_slots++]);
    }
    free(slots);
    return err;
}

sw_err slots_day_busy(const struct worker *w, struct oe_call *call, const char *pract, int64_t from,
                      int64_t to, struct day_busy *busy)
{
    bool stale = false;
    return load_busy(w, call, pract, from, to, worker_now_s(w), busy, &stale);
}
