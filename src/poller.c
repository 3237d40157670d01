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
#include "ids.h"
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

/* The fields of an appointment the poller compares, as JSON, and "f" its
 * FHIR id, which names it under both id forms (not compared: snapshots
 * written before it was kept have none). */
static json_t *fingerprint(const struct oe_appt *a)
{
    json_t *fp = json_pack("{s:I, s:I, s:i, s:s, s:s, s:s, s:I}", "s", (json_int_t)a->start, "e",
                           (json_int_t)a->end, "st", (int)a->status, "p", a->practitioner_id, "pt",
                           a->patient_id, "c", a->confirmation, "u", (json_int_t)a->updated);
    if (fp && a->uuid[0])
        json_object_set_new(fp, "f", json_string(a->uuid));
    return fp;
}

static bool same_state(json_t *x, json_t *y)
{
    static const char *const keys[] = {"s", "e", "st", "p", "pt", "c", "u"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *a = json_object_get(x, keys[i]), *b = json_object_get(y, keys[i]);
        if ((a || b) && !json_equal(a, b))
            return false;
    }
    return true;
}

/* The compared fields as text (a key for rows that vanished unchanged). */
static char *state_text(json_t *fp)
{
    json_t *c = json_copy(fp);
    json_object_del(c, "f");
    char *k = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    return k;
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

/* The snapshot id of a row that vanished under it and is back as this one
 * (the same FHIR id; in a snapshot without FHIR ids, unchanged), or NULL. */
static const char *renamed_from(json_t *gone, json_t *by_uuid, json_t *by_fp, const char *uuid,
                                json_t *fp)
{
    const char *gid = uuid[0] ? json_string_value(json_object_get(by_uuid, uuid)) : NULL;
    if (!gid) {
        char *k = state_text(fp);
        gid = k ? json_string_value(json_object_get(by_fp, k)) : NULL;
        free(k);
    }
    return gid && json_object_get(gone, gid) ? gid : NULL;
}

/* Takes or renews the poller lease: whether this replica holds it. */
static bool renew_lease(struct poller *p)
{
    bool leader = false;
    return fleet_lease(p->fleet, key_name(KEY_LEASE_POLLER), p->cfg->worker_id,
                       p->cfg->poller_lease_s * 1000, &leader) == SW_OK &&
           leader;
}

/* One poll: the snapshot, then OpenEMR's rows, the events that lead from
 * one to the other, then the new snapshot.  The snapshot is read first, so
 * whatever the rows show happened after it, and it is replaced only while
 * this replica holds the lease and nobody replaced it meanwhile: a poller
 * that waited out its lease for OpenEMR budget (or froze) cannot write an
 * older view over a newer one, nor use up marks the next poll needs. */
static void poll_once(struct poller *p)
{
    const struct sw_config *cfg = p->cfg;
    int64_t now = clock_now_ms(NULL) / 1000;
    struct tu_date today;
    int64_t from, to;
    struct oe_appt *appts = NULL;
    size_t n = 0;
    char *text = NULL, sha[41];
    json_t *snap = NULL, *gone = NULL, *by_uuid = NULL, *by_fp = NULL, *next = json_object();
    struct outbox out = {0};
    struct own_found marks = {0};

    if (timeutil_local_date(now, &today) || timeutil_day_start(today, &from) ||
        timeutil_day_start(timeutil_date_add(today, cfg->poller_horizon_days), &to))
        goto done;
    sw_err err = fleet_cache_get(p->fleet, SNAPSHOT_KEY, &text);
    if (err != SW_OK && err != SW_ERR_NOT_FOUND)
        goto done;
    bool first = err == SW_ERR_NOT_FOUND; /* first run: a baseline, no events */
    fleet_sha1_hex(text, sha);
    snap = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(snap)) {
        json_decref(snap);
        snap = json_object();
    }
    struct oe_call call = {.deadline_ms = clock_now_ms(NULL) + 30000,
                           .prio = FLEET_PRIO_BACKGROUND};
    err = oe_list_range(p->oe, &call, NULL, from, to, &appts, &n);
    if (err) {
        log_warn("poller", "listing OpenEMR failed: %s %s", sw_err_str(err), call.detail);
        goto done;
    }
    /* The rows are at hand: do the configured hours and breaks explain the
     * provider events among them? */
    breakcheck_rows(cfg, appts, n, &p->check);
    metrics_unexplained_events(p->check.unexplained, p->check.newly);
    if (!renew_lease(p)) {
        log_info("poller", "lost the lease while listing; the poll is dropped");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct oe_appt *a = &appts[i];
        if (!a->provider_event && a->id[0])
            json_object_set_new(next, a->id, fingerprint(a));
    }
    /* An appointment's id can change between polls (a FHIR id becomes the
     * pc_eid once the worker has read that row through the standard API):
     * a row that vanished under one id and shows up under another with the
     * same FHIR id (or, in a snapshot without FHIR ids, unchanged) is the
     * same appointment, not a removal and a new booking. */
    const char *id;
    json_t *prev;
    gone = json_object();
    by_uuid = json_object(); /* FHIR id -> id, of the vanished rows */
    by_fp = json_object();   /* compared fields -> id, of the vanished rows */
    json_object_foreach(snap, id, prev)
    {
        if (json_object_get(next, id))
            continue;
        json_object_set(gone, id, prev);
        const char *f = json_string_value(json_object_get(prev, "f"));
        char *k = f ? NULL : state_text(prev);
        if (f)
            json_object_set_new(by_uuid, f, json_string(id));
        else if (k)
            json_object_set_new(by_fp, k, json_string(id));
        free(k);
    }
    for (size_t i = 0; i < n && !first; i++) {
        const struct oe_appt *a = &appts[i];
        if (a->provider_event || !a->id[0])
            continue;
        const char *aid = a->id;
        json_t *fp = json_object_get(next, aid);
        prev = json_object_get(snap, aid);
        const char *was_id = NULL; /* its id in the snapshot, when that differs */
        if (!prev) {
            was_id = renamed_from(gone, by_uuid, by_fp, a->uuid, fp);
            prev = was_id ? json_object_get(gone, was_id) : NULL; /* snap holds it */
        }
        bool off = a->status == OE_APPT_CANCELLED || a->status == OE_APPT_NOSHOW;
        if (!prev) {
            /* New: the worker's if it made it (a cancel's mark, written
             * before its DELETE, does not cover a booking a poll sees
             * appear; else the next poll finds no mark for the removal).
             * Made and cancelled since the last poll: a cancel the
             * worker did not mark is someone else's. */
            bool made = own_find(&p->store, &marks, OWN_MADE, aid, a->practitioner_id,
                                 a->patient_id, a->start);
            bool undone = off && own_find(&p->store, &marks, OWN_GONE, aid, a->practitioner_id,
                                          a->patient_id, a->start);
            if (!made)
                emit(p, &out, "appointment.booked", aid, fp, NULL, now);
            else if (off && !undone) {
                emit(p, &out, "appointment.cancelled", aid, fp, NULL, now);
                waitlist_offer(&p->store, cfg, &out, a->practitioner_id, a->start, a->end, aid,
                               now);
            }
            invalidate_day(p, a->practitioner_id, a->start);
            continue;
        }
        if (was_id) {
            json_object_del(gone, was_id); /* was_id's text: by_uuid or by_fp holds it */
            if (ids_is_digits(was_id) && !ids_is_digits(aid)) {
                /* the eid went missing (a Redis error): keep the id known */
                json_object_set(next, was_id, fp);
                json_object_del(next, aid);
                fp = json_object_get(next, was_id);
                aid = was_id;
            }
        }
        if (same_state(prev, fp))
            continue;
        json_int_t was = json_integer_value(json_object_get(prev, "st"));
        bool freed = off && was != OE_APPT_CANCELLED && was != OE_APPT_NOSHOW;
        unsigned kinds = freed ? OWN_GONE : OWN_EITHER;
        bool own =
            own_find(&p->store, &marks, kinds, aid, a->practitioner_id, a->patient_id, a->start);
        if (was_id && strcmp(was_id, aid))
            own = own_find(&p->store, &marks, kinds, was_id, NULL, NULL, 0) || own;
        if (!own)
            emit(p, &out, freed ? "appointment.cancelled" : "appointment.changed", aid, fp, prev,
                 now);
        invalidate_day(p, json_string_value(json_object_get(prev, "p")),
                       json_integer_value(json_object_get(prev, "s")));
        invalidate_day(p, a->practitioner_id, a->start);
        if (freed && !own)
            waitlist_offer(&p->store, cfg, &out, a->practitioner_id, a->start, a->end, aid, now);
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
        if (own_find(&p->store, &marks, OWN_GONE, id, pract,
                     json_string_value(json_object_get(prev, "pt")), start))
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
    err = snaptext ? fleet_cache_put_leased(p->fleet, SNAPSHOT_KEY, sha, snaptext, SNAPSHOT_TTL_S,
                                            key_name(KEY_LEASE_POLLER), cfg->worker_id)
                   : SW_ERR_NOMEM;
    free(snaptext);
    if (err == SW_OK)
        own_found_use(&p->store, &marks);
    else if (err == SW_ERR_BUSY)
        log_info("poller", "another replica polled meanwhile; this poll's snapshot is dropped");
    else
        log_warn("poller", "snapshot not written: %s", sw_err_str(err));
    log_debug("poller", "polled %zu rows, %d events", n, events);
done:
    own_found_free(&marks);
    outbox_clear(&out);
    json_decref(gone);
    json_decref(by_uuid);
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
        bool leader = renew_lease(p);
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
