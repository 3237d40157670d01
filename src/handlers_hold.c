/* handlers_hold.c - hold and release_hold: a slot kept for one call for a
 * while, so no other call is offered it.  A hold is checked against the
 * fleet's view of the day (the slot cache) and other calls' holds; the
 * booking re-checks everything against OpenEMR. */
#include <stdio.h>
#include <string.h>

#include "availability.h"
#include "canon.h"
#include "daycache.h"
#include "events.h"
#include "handlers.h"
#include "rules.h"
#include "slot_id.h"
#include "slots.h"

enum outcome handle_hold(struct worker *w, const struct command *c, struct result *r,
                         const char *note)
{
    (void)note;
    const struct cmd_hold *x = &c->u.hold;
    const struct sw_config *cfg = w->cfg;
    struct fleet_hold h;
    char type_name[32];
    memset(&h, 0, sizeof(h));
    if (x->slot_id[0]) {
        struct slot_ref ref;
        if (slot_id_decode(x->slot_id, &ref) != SW_OK) {
            result_fail(r, RES_INVALID, "bad_slot_id", "That slot id is not valid.");
            return OUTCOME_ANSWER;
        }
        snprintf(h.practitioner_id, sizeof(h.practitioner_id), "%s", ref.practitioner_id);
        snprintf(type_name, sizeof(type_name), "%s", ref.appointment_type);
        h.start = ref.start;
        /* anyone may build a slot id: its practitioner is canonicalised too */
        struct oe_call call = worker_call(w, c);
        sw_err err = canon_id(w, &call, ID_PRACTITIONER, "slot_id", h.practitioner_id, r);
        if (err)
            return err == SW_ERR_REDIS ? OUTCOME_RETRY : OUTCOME_ANSWER;
    } else {
        snprintf(h.practitioner_id, sizeof(h.practitioner_id), "%s", x->practitioner_id);
        snprintf(type_name, sizeof(type_name), "%s", x->appointment_type);
        h.start = x->start;
    }
    const struct sw_type_rule *type = sw_config_type(cfg, type_name);
    if (!type) {
        result_fail(r, RES_INVALID, "unknown_appointment_type", "Unknown appointment type \"%s\".",
                    type_name);
        return OUTCOME_ANSWER;
    }
    int ttl = x->ttl_seconds ? x->ttl_seconds : cfg->hold_default_ttl_s;
    if (ttl > cfg->hold_max_ttl_s) {
        result_fail(r, RES_INVALID, "ttl_too_long", "A hold may last at most %d seconds.",
                    cfg->hold_max_ttl_s);
        return OUTCOME_ANSWER;
    }
    char msg[200];
    bool fhir = cfg->surface == SW_SURFACE_FHIR_SCHEDULING;
    int64_t now = worker_now_s(w);
    sw_err err = rules_check_booking(type, sw_config_hours(cfg, h.practitioner_id),
                                     fhir ? 0 : cfg->slot_minutes, now, h.start, msg, sizeof(msg));
    if (err) {
        result_fail(r, err == SW_ERR_REJECTED ? RES_REJECTED : RES_INVALID,
                    err == SW_ERR_REJECTED ? "booking_rule" : "bad_time", "%s", msg);
        return OUTCOME_ANSWER;
    }
    h.end = h.start + (int64_t)type->duration_min * 60;
    /* A hold belongs to its call; without a session, to this command alone. */
    if (c->session_id[0])
        snprintf(h.session_id, sizeof(h.session_id), "%s", c->session_id);
    else
        snprintf(h.session_id, sizeof(h.session_id), "request:%.120s", c->request_id);
    snprintf(h.patient_id, sizeof(h.patient_id), "%s", x->patient_id);

    /* Is the slot free as far as the fleet knows (cache, fresh enough)? */
    struct oe_call call = worker_call(w, c);
    struct day_busy busy = {0};
    err = slots_day_busy(w, &call, h.practitioner_id, h.start, h.end, &busy);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err) {
        worker_fail_emr(r, err, &call);
        return OUTCOME_ANSWER;
    }
    struct av_request req = {.type = type,
                             .hours = sw_config_hours(cfg, h.practitioner_id),
                             .slot_minutes = cfg->slot_minutes,
                             .buffer_minutes = cfg->buffer_minutes,
                             .appts = busy.appts,
                             .n_appts = busy.n_appts,
                             .blocks = busy.blocks,
                             .n_blocks = busy.n_blocks,
                             .cfg = cfg, /* configured breaks and closures */
                             .practitioner_id = h.practitioner_id};
    err = avail_check_free(&req, h.start, NULL);
    day_busy_clear(&busy);
    if (!err)
        err = store_hold_place(&w->store, &h, ttl);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err == SW_ERR_CONFLICT) {
        struct slot_query q = {type, c->session_id, x->patient_id};
        if (slots_alternatives(w, &call, &q, h.practitioner_id, h.start, r) != SW_OK)
            r->n_slots = 0;
        result_fail(r, RES_CONFLICT, "slot_taken", "That time is no longer free.");
        return OUTCOME_ANSWER;
    }
    if (err) {
        result_fail_err(r, err, "The slot could not be held.");
        return OUTCOME_ANSWER;
    }
    snprintf(r->hold_id, sizeof(r->hold_id), "%s", h.hold_id);
    r->expires_at_ms = h.expires_at_ms;
    return OUTCOME_ANSWER;
}

enum outcome handle_release_hold(struct worker *w, const struct command *c, struct result *r,
                                 const char *note)
{
    (void)note;
    struct fleet_hold h;
    sw_err err = store_hold_get(&w->store, c->u.hold_id, &h);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err == SW_ERR_NOT_FOUND) {
        result_fail(r, RES_NOT_FOUND, "no_such_hold", "That hold does not exist or expired.");
        return OUTCOME_ANSWER;
    }
    if (c->session_id[0] && h.session_id[0] && strcmp(c->session_id, h.session_id)) {
        result_fail(r, RES_REJECTED, "hold_not_yours", "The hold belongs to another call.");
        return OUTCOME_ANSWER;
    }
    err = store_hold_release(&w->store, c->u.hold_id);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    snprintf(r->hold_id, sizeof(r->hold_id), "%s", c->u.hold_id);
    char slot[CMD_SLOT_ID_MAX] = "";
    const char *type = "";
    for (int i = 0; i < w->cfg->n_types; i++)
        if ((int64_t)w->cfg->types[i].duration_min * 60 == h.end - h.start)
            type = w->cfg->types[i].name;
    if (*type) {
        struct slot_ref ref = {.start = h.start};
        snprintf(ref.practitioner_id, sizeof(ref.practitioner_id), "%s", h.practitioner_id);
        snprintf(ref.appointment_type, sizeof(ref.appointment_type), "%s", type);
        if (slot_id_encode(&ref, slot, sizeof(slot)) != SW_OK)
            slot[0] = '\0';
    }
    struct event_fields f = {.caused_by = "worker",
                             .request_id = c->request_id,
                             .practitioner_id = h.practitioner_id,
                             .start = h.start,
                             .end = h.end,
                             .hold_id = c->u.hold_id,
                             .slot_id = slot};
    event_add(w->cfg, w->out, "slot.released", c->request_id, slot[0] ? slot : c->u.hold_id, &f,
              worker_now_s(w));
    return OUTCOME_ANSWER;
}
