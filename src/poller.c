/* poller.c - the change poller (see poller.h). */
#include "poller.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakcheck.h"
#include "clock.h"
#include "daycache.h"
#include "events.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "own_marks.h"
#include "openemr.h"
#include "timeutil.h"
#include "worker.h"
#include "waitlist.h"

#define SNAPSHOT_KEY   key_name(KEY_POLLER_SNAPSHOT)
#define SNAPSHOT_TTL_S (30 * 86400)
#define DAY            86400

struct poller {
    const struct sw_config *cfg;
    struct kafka *kafka;
    pthread_t thread;
    atomic_bool stop;
    struct fleet *fleet;
    struct store store; /* over fleet */
    struct oe_client *oe;
    struct breakcheck check; /* provider events the configuration does not explain */
};

static void produce_outbox(struct poller *p, struct outbox *out)
{
    for (int i = 0; i < out->n; i++)
        kafka_produce(p->kafka, &out->items[i]); /* takes the strings */
    outbox_clear(out);
}

static void audit_hook(void *opaque, const struct oe_audit *rec)
{
    struct poller *p = opaque;
    worker_audit_background(p->cfg, p->kafka, rec, "poller");
}

/* The fields of an appointment the poller compares, as JSON. */
static json_t *fingerprint(const struct oe_appt *a)
{
    return json_pack("{s:I, s:I, s:i, s:s, s:s, s:s, s:I}", "s", (json_int_t)a->start, "e",
                     (json_int_t)a->end, "st", (int)a->status, "p", a->practitioner_id, "pt",
                     a->patient_id, "c", a->confirmation, "u", (json_int_t)a->updated);
}

static void invalidate_day(struct poller *p, const char *pract, int64_t t)
{
    struct tu_date day;
    if (!timeutil_local_date(t, &day))
        daycache_invalidate(&p->store, pract, day);
}

static void emit(struct poller *p, struct outbox *out, const char *type, const char *id,
                 json_t *now_fp, json_t *prev_fp, int64_t now)
{
    json_t *fp = now_fp ? now_fp : prev_fp;
    const char *status_names[] = {"booked", "cancelled", "noshow", "fulfilled"};
    json_int_t st = json_integer_value(json_object_get(fp, "st"));
    struct event_fields f = {
        .caused_by = "external",
        .appointment_id = id,
        .confirmation_number = json_string_value(json_object_get(fp, "c")),
        .patient_id = json_string_value(json_object_get(fp, "pt")),
        .practitioner_id = json_string_value(json_object_get(fp, "p")),
        .status = st >= 0 && st < 4 ? status_names[st] : NULL,
        .start = json_integer_value(json_object_get(fp, "s")),
        .end = json_integer_value(json_object_get(fp, "e")),
    };
    if (now_fp && prev_fp) {
        f.previous_start = json_integer_value(json_object_get(prev_fp, "s"));
        f.previous_end = json_integer_value(json_object_get(prev_fp, "e"));
    }
    /* The id names the appointment and the state it reached. */
    char seed[256];
    snprintf(seed, sizeof(seed), "%s|%lld|%lld|%lld", id,
             (long long)json_integer_value(json_object_get(fp, "u")), (long long)f.start,
             (long long)st);
    event_add(p->cfg, out, type, seed, id, &f, now);
    log_info("poller", "%s: appointment %s", type, id);
}

static void poll_once(struct poller *p)
{
    const struct sw_config *cfg = p->cfg;
    int64_t now = clock_now_ms(NULL) / 1000;
    struct tu_date today;
    int64_t from, to;
    struct oe_appt *appts = NULL;
    size_t n = 0;
    char *text = NULL;
    json_t *snap = NULL, *gone = NULL, *by_fp = NULL, *next = json_object();
    struct outbox out = {0};

    if (timeutil_local_date(now, &today) || timeutil_day_start(today, &from) ||
        timeutil_day_start(timeutil_date_add(today, cfg->poller_horizon_days), &to))
        goto done;
    struct oe_call call = {.deadline_ms = clock_now_ms(NULL) + 30000,
                           .prio = FLEET_PRIO_BACKGROUND};
    sw_err err = oe_list_range(p->oe, &call, NULL, from, to, &appts, &n);
    if (err) {
        log_warn("poller", "listing OpenEMR failed: %s %s", sw_err_str(err), call.detail);
        goto done;
    }
    /* The rows are at hand: do the configured hours and breaks explain the
     * provider events among them? */
    breakcheck_rows(cfg, appts, n, &p->check);
    metrics_unexplained_events(p->check.unexplained, p->check.newly);
    err = fleet_cache_get(p->fleet, SNAPSHOT_KEY, &text);
    if (err == SW_ERR_REDIS)
        goto done;
    bool first = err == SW_ERR_NOT_FOUND; /* first run: a baseline, no events */
    snap = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(snap)) {
        json_decref(snap);
        snap = json_object();
    }
    for (size_t i = 0; i < n; i++) {
        const struct oe_appt *a = &appts[i];
        if (!a->provider_event && a->id[0])
            json_object_set_new(next, a->id, fingerprint(a));
    }
    /* An appointment's id can change between polls (a FHIR id becomes the
     * pc_eid once the worker has read that row through the standard API):
     * a row that vanished under one id and shows up unchanged under another
     * is the same appointment, not a removal and a new booking. */
    const char *id;
    json_t *prev;
    gone = json_object();
    by_fp = json_object(); /* fingerprint text -> id, of the vanished rows */
    json_object_foreach(snap, id, prev)
    {
        if (json_object_get(next, id))
            continue;
        json_object_set(gone, id, prev);
        char *k = json_dumps(prev, JSON_COMPACT | JSON_SORT_KEYS);
        if (k)
            json_object_set_new(by_fp, k, json_string(id));
        free(k);
    }
    for (size_t i = 0; i < n; i++) {
        const struct oe_appt *a = &appts[i];
        if (a->provider_event || !a->id[0])
            continue;
        json_t *fp = json_object_get(next, a->id);
        prev = json_object_get(snap, a->id);
        if (first)
            continue;
        if (!prev) {
            char *k = json_dumps(fp, JSON_COMPACT | JSON_SORT_KEYS);
            const char *gid = k ? json_string_value(json_object_get(by_fp, k)) : NULL;
            bool renamed = gid && json_object_get(gone, gid);
            if (renamed)
                json_object_del(gone, gid); /* gid stays valid: by_fp holds it */
            free(k);
            if (renamed)
                continue;
            if (!own_take(&p->store, a->id, a->practitioner_id, a->patient_id, a->start))
                emit(p, &out, "appointment.booked", a->id, fp, NULL, now);
            invalidate_day(p, a->practitioner_id, a->start);
            continue;
        }
        if (json_equal(prev, fp))
            continue;
        bool own = own_take(&p->store, a->id, a->practitioner_id, a->patient_id, a->start);
        json_int_t was = json_integer_value(json_object_get(prev, "st"));
        bool freed = (a->status == OE_APPT_CANCELLED || a->status == OE_APPT_NOSHOW) &&
                     was != OE_APPT_CANCELLED && was != OE_APPT_NOSHOW;
        if (!own)
            emit(p, &out, freed ? "appointment.cancelled" : "appointment.changed", a->id, fp, prev,
                 now);
        invalidate_day(p, json_string_value(json_object_get(prev, "p")),
                       json_integer_value(json_object_get(prev, "s")));
        invalidate_day(p, a->practitioner_id, a->start);
        if (freed && !own)
            waitlist_offer(&p->store, cfg, &out, a->practitioner_id, a->start, a->end, a->id, now);
    }
    /* Gone from OpenEMR (a hard delete), unless it just left the window. */
    json_object_foreach(gone, id, prev)
    {
        int64_t end = json_integer_value(json_object_get(prev, "e"));
        const char *pract = json_string_value(json_object_get(prev, "p"));
        int64_t start = json_integer_value(json_object_get(prev, "s"));
        if (end <= from)
            continue;
        invalidate_day(p, pract, start);
        if (own_take(&p->store, id, pract, json_string_value(json_object_get(prev, "pt")), start))
            continue;
        emit(p, &out, "appointment.removed", id, NULL, prev, now);
        json_int_t was = json_integer_value(json_object_get(prev, "st"));
        if (was != OE_APPT_CANCELLED && was != OE_APPT_NOSHOW && start > now)
            waitlist_offer(&p->store, cfg, &out, pract, start, end, id, now);
    }
    /* Events delivered first, then the snapshot: never a change missed. */
    int events = out.n;
    produce_outbox(p, &out);
    if (events && kafka_flush(p->kafka, 10000) != SW_OK) {
        log_warn("poller", "events not confirmed by Kafka; snapshot kept for the next poll");
        goto done;
    }
    char *snaptext = json_dumps(next, JSON_COMPACT);
    if (!snaptext || fleet_cache_put(p->fleet, SNAPSHOT_KEY, snaptext, SNAPSHOT_TTL_S) != SW_OK)
        log_warn("poller", "snapshot not written");
    free(snaptext);
    log_debug("poller", "polled %zu rows, %d events", n, events);
done:
    outbox_clear(&out);
    json_decref(gone);
    json_decref(by_fp);
    json_decref(snap);
    json_decref(next);
    free(text);
    free(appts);
}

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    const struct sw_config *cfg = p->cfg;
    char err[256];
    int64_t next_poll = 0;
    bool was_leader = false;

    if (fleet_new(cfg, &p->fleet, err, sizeof(err)) != SW_OK ||
        oe_client_new(cfg, p->fleet, audit_hook, p, &p->oe, err, sizeof(err)) != SW_OK) {
        log_error("poller", "cannot start: %s", err);
        return NULL;
    }
    p->store = store_of_fleet(p->fleet);
    metrics_unexplained_events(0, 0); /* until this replica checks */
    int lease_ms = cfg->poller_lease_s * 1000;
    while (!atomic_load(&p->stop)) {
        bool leader = false;
        if (fleet_lease(p->fleet, key_name(KEY_LEASE_POLLER), cfg->worker_id, lease_ms, &leader) !=
            SW_OK)
            leader = false;
        if (leader != was_leader) {
            log_info("poller", leader ? "this replica polls OpenEMR now" : "no longer the poller");
            metrics_unexplained_events(0, 0); /* the leader's checks count, not a former one's */
            p->check.n_seen = 0;
        }
        was_leader = leader;
        if (leader && clock_now_ms(NULL) >= next_poll) {
            poll_once(p);
            next_poll = clock_now_ms(NULL) + (int64_t)cfg->poller_interval_s * 1000;
        }
        if (leader) {
            struct outbox out = {0};
            waitlist_expire_offers(&p->store, cfg, &out, clock_now_ms(NULL));
            produce_outbox(p, &out);
        }
        /* Renew well within the lease (and look at expired offers); wake
         * for the next poll. */
        int64_t wait = lease_ms / 3 < 2000 ? lease_ms / 3 : 2000;
        if (leader && next_poll - clock_now_ms(NULL) < wait)
            wait = next_poll - clock_now_ms(NULL);
        for (int64_t t = 0; t < wait && !atomic_load(&p->stop); t += 100)
            clock_sleep_ms(NULL, 100);
    }
    return NULL;
}

sw_err poller_start(const struct sw_config *cfg, struct kafka *k, struct poller **out)
{
    struct poller *p = calloc(1, sizeof(*p));
    if (!p)
        return SW_ERR_NOMEM;
    p->cfg = cfg;
    p->kafka = k;
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        free(p);
        return SW_ERR_INTERNAL;
    }
    *out = p;
    return SW_OK;
}

void poller_stop(struct poller *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    oe_client_destroy(p->oe);
    fleet_destroy(p->fleet);
    free(p);
}
