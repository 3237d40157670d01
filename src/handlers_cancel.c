/* handlers_cancel.c - cancel, join_waitlist and leave_waitlist, and the
 * waitlist offer a freed slot triggers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daycache.h"
#include "events.h"
#include "log.h"
#include "poller.h"
#include "slot_id.h"
#include "timeutil.h"
#include "waitlist.h"
#include "worker.h"

sw_err handle_cancel(struct worker *w, const struct command *c, struct result *r, const char *note)
{
    const struct cmd_cancel *x = &c->u.cancel;
    struct oe_call call = worker_call(w, c);
    struct oe_appt a;
    sw_err err = booking_find(w, &call, x->confirmation_number, x->appointment_id, &a, r);
    if (err == SW_ERR_REDIS)
        return err;
    if (err == SW_ERR_NOT_FOUND && note) {
        /* An earlier attempt of this very command cancelled it already
         * (it noted the id before the DELETE) and died before answering. */
        json_t *o = json_loads(note, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "cancel"));
        if (id) {
            r->status = SW_OK;
            r->error_code[0] = r->error_message[0] = '\0';
            snprintf(r->cancelled_appointment_id, sizeof(r->cancelled_appointment_id), "%s", id);
            r->cancelled_at_ms = worker_now_ms();
        }
        json_decref(o);
        return SW_OK;
    }
    if (err)
        return SW_OK;
    /* The caller named a patient: someone else's appointment is "not found"
     * (saying more would tell a stranger it exists). */
    if (x->patient_id[0] && strcmp(x->patient_id, a.patient_id) != 0) {
        result_fail(r, SW_ERR_NOT_FOUND, "no_such_appointment", "No such appointment.");
        return SW_OK;
    }
    if (a.status == OE_APPT_CANCELLED) {
        result_fail(r, SW_ERR_INVALID, "already_cancelled",
                    "That appointment is already cancelled.");
        return SW_OK;
    }
    char notebuf[128];
    snprintf(notebuf, sizeof(notebuf), "{\"cancel\":\"%s\"}", a.id);
    err = fleet_idem_note(w->fleet, c->request_id, w->cfg->worker_id, notebuf,
                          w->cfg->idempotency_lease_s);
    if (err)
        return err == SW_ERR_REDIS ? err : SW_OK;
    r->write_attempted = true;
    poller_mark_own(w->fleet, &a);
    err = oe_cancel(w->oe, &call, a.id, a.patient_id);
    if (err) {
        worker_fail_openemr(r, err, &call);
        return SW_OK;
    }
    snprintf(r->cancelled_appointment_id, sizeof(r->cancelled_appointment_id), "%s", a.id);
    r->cancelled_at_ms = worker_now_ms();

    struct tu_date day;
    if (!timeutil_local_date(a.start, &day))
        daycache_invalidate(w->fleet, a.practitioner_id, day);
    daycache_invalidate_patient(w->fleet, a.patient_id);
    if (a.confirmation[0]) {
        char key[64];
        snprintf(key, sizeof(key), "conf:%s", a.confirmation);
        fleet_cache_del(w->fleet, key);
    }
    const struct sw_type_rule *type = booking_type_of(w->cfg, &a);
    struct event_fields f = {
        .caused_by = "worker",
        .request_id = c->request_id,
        .appointment_id = a.id,
        .confirmation_number = a.confirmation,
        .patient_id = a.patient_id,
        .practitioner_id = a.practitioner_id,
        .appointment_type = type ? type->name : NULL,
        .start = a.start,
        .end = a.end,
    };
    int64_t now = worker_now_ms() / 1000;
    event_add(w->cfg, w->out, "appointment.cancelled", c->request_id, a.id, &f, now);
    waitlist_offer(w->fleet, w->cfg, w->out, a.practitioner_id, a.start, a.end, c->request_id, now);
    return SW_OK;
}

sw_err handle_join_waitlist(struct worker *w, const struct command *c, struct result *r,
                            const char *note)
{
    (void)note;
    const struct cmd_join_waitlist *x = &c->u.join;
    if (!sw_config_type(w->cfg, x->appointment_type)) {
        result_fail(r, SW_ERR_INVALID, "unknown_appointment_type",
                    "Unknown appointment type \"%s\".", x->appointment_type);
        return SW_OK;
    }
    struct fleet_wait e;
    memset(&e, 0, sizeof(e));
    snprintf(e.patient_id, sizeof(e.patient_id), "%s", x->patient_id);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", x->appointment_type);
    snprintf(e.practitioner_id, sizeof(e.practitioner_id), "%s", x->practitioner_id);
    e.earliest = x->earliest;
    e.latest = x->latest;
    sw_err err = fleet_waitlist_add(w->fleet, &e);
    if (err == SW_ERR_REDIS)
        return err;
    if (err) {
        result_fail(r, err, NULL, "The patient could not be put on the waitlist.");
        return SW_OK;
    }
    snprintf(r->waitlist_id, sizeof(r->waitlist_id), "%s", e.waitlist_id);
    return SW_OK;
}

sw_err handle_leave_waitlist(struct worker *w, const struct command *c, struct result *r,
                             const char *note)
{
    (void)note;
    sw_err err = fleet_waitlist_remove(w->fleet, c->u.waitlist_id);
    if (err == SW_ERR_REDIS)
        return err;
    if (err == SW_ERR_NOT_FOUND) {
        result_fail(r, SW_ERR_NOT_FOUND, "no_such_waitlist_entry", "No such waitlist entry.");
        return SW_OK;
    }
    if (err) {
        result_fail(r, err, NULL, "The waitlist entry could not be removed.");
        return SW_OK;
    }
    snprintf(r->waitlist_id, sizeof(r->waitlist_id), "%s", c->u.waitlist_id);
    return SW_OK;
}
