/* waitlist.c - offers of freed slots to waiting patients.
 *
 * An offer is a hold for the patient (session "waitlist:<id>") plus a
 * record in the list of open offers, which names every entry the slot was
 * offered to.  When the hold runs out unbooked, the leader's poller offers
 * the slot to the next matching entry (waitlist_expire_offers).  The list
 * is one JSON value changed under a fleet lock: offers are rare. */
#include "waitlist.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "keys.h"
#include "log.h"
#include "rules.h"

#define OFFERS_KEY     key_name(KEY_WAITLIST_OFFERS)
#define OFFERS_LOCK    key_name(KEY_LOCK_WAITLIST_OFFERS)
#define OFFERS_TTL_S   (7 * 86400)
#define TAKEN_TTL_S    86400
#define SESSION_PREFIX "waitlist:"

static bool matches(const struct sw_config *cfg, const struct fleet_wait *e, const char *pract,
                    int64_t start, int64_t end)
{
    if (e->practitioner_id[0] && strcmp(e->practitioner_id, pract) != 0)
        return false;
    const struct sw_type_rule *t = sw_config_type(cfg, e->appointment_type);
    if (!t || end - start < (int64_t)t->duration_min * 60)
        return false;
    int64_t stop = start + (int64_t)t->duration_min * 60;
    /* a cancelled appointment may have sat in a configured break or closure
     * (booked in OpenEMR over lunch): that time is not offered either */
    return start >= e->earliest && stop <= e->latest &&
           rules_check_breaks(cfg, pract, start, stop, NULL, 0) == SW_OK;
}

static bool offered_before(json_t *offered, const char *waitlist_id)
{
    size_t i;
    json_t *v;
    json_array_foreach(offered, i, v) if (!strcmp(json_string_value(v), waitlist_id)) return true;
    return false;
}

/* Holds [start, end) for the oldest matching entry not in `offered` and
 * announces it; fills *hold and appends the entry to `offered`. */
static bool offer_next(const struct store *st, const struct sw_config *cfg, struct outbox *out,
                       const char *pract, int64_t start, int64_t end, const char *cause,
                       int64_t now, json_t *offered, struct fleet_hold *hold)
{
    struct fleet_wait *list = NULL;
    size_t n = 0;
    bool done = false;
    if (store_waitlist_list(st, &list, &n) != SW_OK)
        return false;
    for (size_t i = 0; i < n && !done; i++) {
        const struct fleet_wait *e = &list[i];
        if (offered_before(offered, e->waitlist_id) || !matches(cfg, e, pract, start, end))
            continue;
        const struct sw_type_rule *t = sw_config_type(cfg, e->appointment_type);
        memset(hold, 0, sizeof(*hold));
        snprintf(hold->practitioner_id, sizeof(hold->practitioner_id), "%s", pract);
        snprintf(hold->session_id, sizeof(hold->session_id), SESSION_PREFIX "%s", e->waitlist_id);
        snprintf(hold->patient_id, sizeof(hold->patient_id), "%s", e->patient_id);
        hold->start = start;
        hold->end = start + (int64_t)t->duration_min * 60;
        if (store_hold_place(st, hold, cfg->waitlist_offer_ttl_s) != SW_OK)
            continue;
        struct event_fields ev = {
            .caused_by = "worker",
            .patient_id = e->patient_id,
            .practitioner_id = pract,
            .appointment_type = e->appointment_type,
            .start = hold->start,
            .end = hold->end,
            .hold_id = hold->hold_id,
            .waitlist_id = e->waitlist_id,
            .offer_expires_at = hold->expires_at_ms / 1000,
        };
        char seed[256];
        snprintf(seed, sizeof(seed), "%s|%s|%lld", cause, e->waitlist_id, (long long)start);
        event_add(cfg, out, "waitlist.offered", seed, e->waitlist_id, &ev, now);
        json_array_append_new(offered, json_string(e->waitlist_id));
        log_info("waitlist", "slot offered to waitlist entry %s", e->waitlist_id);
        done = true;
    }
    free(list);
    return done;
}

static bool lock_offers(const struct store *st, const char *owner)
{
    for (int i = 0; i < 50; i++) {
        sw_err err = store_lock(st, OFFERS_LOCK, owner, 5000);
        if (err == SW_OK)
            return true;
        if (err != SW_ERR_BUSY)
            return false;
        clock_sleep_ms(NULL, 20);
    }
    return false;
}

static json_t *read_offers(const struct store *st)
{
    char *text = NULL;
    json_t *a = NULL;
    if (store_kv_get(st, OFFERS_KEY, &text) == SW_OK)
        a = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_array(a)) {
        json_decref(a);
        a = json_array();
    }
    return a;
}

static void write_offers(const struct store *st, json_t *a)
{
    char *text = json_dumps(a, JSON_COMPACT);
    if (!text || store_kv_put(st, OFFERS_KEY, text, OFFERS_TTL_S) != SW_OK)
        log_warn("waitlist", "open offers not written; an unbooked offer may not pass on");
    free(text);
}

bool waitlist_offer(const struct store *st, const struct sw_config *cfg, struct outbox *out,
                    const char *pract, int64_t start, int64_t end, const char *cause, int64_t now)
{
    json_t *offered = json_array();
    struct fleet_hold h;
    bool ok = offer_next(st, cfg, out, pract, start, end, cause, now, offered, &h);
    if (ok && lock_offers(st, cause)) {
        json_t *offers = read_offers(st);
        json_array_append_new(offers,
                              json_pack("{s:s, s:s, s:I, s:I, s:I, s:O}", "hold", h.hold_id, "p",
                                        pract, "s", (json_int_t)start, "e", (json_int_t)end, "x",
                                        (json_int_t)h.expires_at_ms, "w", offered));
        write_offers(st, offers);
        json_decref(offers);
        store_unlock(st, OFFERS_LOCK, cause);
    }
    json_decref(offered);
    return ok;
}

void waitlist_taken(const struct store *st, const struct fleet_hold *hold)
{
    if (strncmp(hold->session_id, SESSION_PREFIX, strlen(SESSION_PREFIX)) != 0)
        return;
    char key[96];
    key_offer_taken(key, sizeof(key), hold->hold_id);
    store_kv_put(st, key, "1", TAKEN_TTL_S);
    /* The patient has the slot they waited for. */
    store_waitlist_remove(st, hold->session_id + strlen(SESSION_PREFIX));
}

void waitlist_expire_offers(const struct store *st, const struct sw_config *cfg, struct outbox *out,
                            int64_t now_ms)
{
    const char *owner = cfg->worker_id;
    if (!lock_offers(st, owner))
        return;
    json_t *offers = read_offers(st), *keep = json_array();
    bool changed = false;
    size_t i;
    json_t *o;
    json_array_foreach(offers, i, o)
    {
        const char *hold_id = json_string_value(json_object_get(o, "hold"));
        int64_t expires = json_integer_value(json_object_get(o, "x"));
        struct fleet_hold h;
        if (!hold_id || expires > now_ms || store_hold_get(st, hold_id, &h) == SW_OK) {
            json_array_append(keep, o); /* still open */
            continue;
        }
        changed = true;
        char key[96], *v = NULL;
        key_offer_taken(key, sizeof(key), hold_id);
        if (store_kv_get(st, key, &v) == SW_OK) {
            free(v);
            continue; /* booked */
        }
        const char *pract = json_string_value(json_object_get(o, "p"));
        int64_t start = json_integer_value(json_object_get(o, "s"));
        int64_t end = json_integer_value(json_object_get(o, "e"));
        json_t *offered = json_object_get(o, "w");
        if (pract && json_is_array(offered) && start > now_ms / 1000 &&
            offer_next(st, cfg, out, pract, start, end, hold_id, now_ms / 1000, offered, &h)) {
            json_t *next = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O}", "hold", h.hold_id, "p",
                                     pract, "s", (json_int_t)start, "e", (json_int_t)end, "x",
                                     (json_int_t)h.expires_at_ms, "w", offered);
            json_array_append_new(keep, next);
        }
    }
    if (changed)
        write_offers(st, keep);
    json_decref(keep);
    json_decref(offers);
    store_unlock(st, OFFERS_LOCK, owner);
}
