/* handlers_cancel.c - cancel, and the waitlist offer the freed slot
 * triggers.
 *
 * The appointment must be the named patient's, of a bookable type
 * (confirm_index_find_locked).  Its details are noted under the lease before the
 * DELETE, which is sent only under cover; an answer lost on the way is not
 * guessed: a later attempt (waiting out the earlier write's cover) looks
 * whether the appointment is still there, and finishes the cancel. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confirm_index.h"
#include "daycache.h"
#include "events.h"
#include "handlers.h"
#include "keys.h"
#include "own_marks.h"
#include "rules.h"
#include "timeutil.h"
#include "waitlist.h"

static sw_err note_cancel(const struct worker *w, const struct command *c, const struct oe_appt *a)
{
    return worker_note(w, c, json_pack("{s:o}", "cancel", emr_appt_json(a)));
}

static bool noted_cancel(const char *note, struct oe_appt *a)
{
    json_t *o = note ? json_loads(note, 0, NULL) : NULL;
    bool ok = emr_appt_parse(json_object_get(o, "cancel"), a);
    json_decref(o);
    return ok;
}

/* The appointment is cancelled (now or by an earlier attempt). */
static enum outcome cancelled(struct worker *w, const struct command *c, const struct oe_appt *a,
                              struct result *r)
{
    snprintf(r->cancelled_appointment_id, sizeof(r->cancelled_appointment_id), "%s", a->id);
    r->cancelled_at_ms = worker_now_ms(w);
    struct tu_date day;
    if (!timeutil_local_date(a->start, &day))
        daycache_invalidate(&w->store, a->practitioner_id, day);
    daycache_invalidate_patient(&w->store, a->patient_id);
    if (a->confirmation[0])
        confirm_index_del(w, a->confirmation);
    const struct sw_type_rule *type =
        rules_type_of(w->cfg, a->appointment_type, a->category, a->end - a->start);
    struct event_fields f = {
        .caused_by = "worker",
        .request_id = c->request_id,
        .appointment_id = a->id,
        .confirmation_number = a->confirmation,
        .patient_id = a->patient_id,
        .practitioner_id = a->practitioner_id,
        .appointment_type = type ? type->name : NULL,
        .start = a->start,
        .end = a->end,
    };
    int64_t now = worker_now_s(w);
    event_add(w->cfg, w->out, "appointment.cancelled", c->request_id, a->id, &f, now);
    waitlist_offer(&w->store, w->cfg, w->out, a->practitioner_id, a->start, a->end, c->request_id,
                   now);
    return OUTCOME_ANSWER;
}

/* The DELETE, under cover. */
static enum outcome delete_appt(struct worker *w, const struct command *c, const struct oe_appt *a,
                                const char *lock, struct result *r)
{
    struct write_cover cover;
    const char *locks[1] = {lock};
    struct oe_call call = worker_write_call(w, c, &cover, locks, 1);
    own_mark(&w->store, OWN_GONE, a);
    sw_err err = emr_cancel(&w->emr, &call, a->id, a->patient_id);
    if (!err || err == SW_ERR_NOT_FOUND)
        return cancelled(w, c, a, r);
    if (err == SW_ERR_BUSY || err == SW_ERR_REDIS || err == SW_ERR_CAPPED)
        return worker_outcome(r, err); /* not sent */
    if (!worker_write_unapplied(err))
        return OUTCOME_RECONCILE; /* did it go?  a later attempt looks */
    worker_fail_emr(r, err, &call);
    return OUTCOME_ANSWER;
}

/* The cancel under the appointment's lock; noted: an earlier attempt
 * noted a, else a was just found and read again under the lock. */
static enum outcome cancel_locked(struct worker *w, const struct command *c, struct result *r,
                                  struct oe_call *call, bool noted, const struct oe_appt *a,
                                  const char *lock)
{
    struct oe_appt now;
    if (noted) {
        /* An earlier attempt noted this appointment and may have sent the
         * DELETE: once that can no longer land, look and finish. */
        if (w->covered_until_ms &&
            w->now_store_ms < w->covered_until_ms + w->cfg->reconcile_settle_ms)
            return OUTCOME_RECONCILE;
        sw_err err = emr_get(&w->emr, call, a->id, &now);
        if (err == SW_ERR_NOT_FOUND || (!err && now.status == OE_APPT_CANCELLED))
            return cancelled(w, c, a, r);
        if (err)
            return err == SW_ERR_REDIS ? OUTCOME_RETRY : OUTCOME_RECONCILE;
        return delete_appt(w, c, a, lock, r);
    }
    if (a->status == OE_APPT_CANCELLED) {
        result_fail(r, RES_INVALID, "already_cancelled", "That appointment is already cancelled.");
        return OUTCOME_ANSWER;
    }
    sw_err err = note_cancel(w, c, a);
    if (err)
        return worker_outcome(r, err);
    return delete_appt(w, c, a, lock, r);
}

enum outcome handle_cancel(struct worker *w, const struct command *c, struct result *r,
                           const char *note)
{
    const struct cmd_cancel *x = &c->u.cancel;
    struct oe_call call = worker_call(w, c);
    struct oe_appt a;
    char lock[128];
    bool noted = noted_cancel(note, &a);
    sw_err err;
    if (noted) { /* the appointment's lock, no read: the next step reads */
        err = confirm_index_relock(w, &call, a.id, lock, sizeof(lock), r);
    } else {
        /* one change of it at a time, and is it still there? */
        err = confirm_index_find_locked(w, &call, x->confirmation_number, x->appointment_id,
                                        &x->who, &a, lock, sizeof(lock), r);
    }
    if (err)
        return err == SW_ERR_REDIS ? OUTCOME_RETRY : worker_outcome(r, err);
    enum outcome o = cancel_locked(w, c, r, &call, noted, &a, lock);
    store_unlock(&w->store, lock, w->owner);
    return o;
}
