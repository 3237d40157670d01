/* handlers_cancel.c - cancel, and the waitlist offer the freed slot
 * triggers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confirm_index.h"
#include "daycache.h"
#include "events.h"
#include "log.h"
#include "handlers.h"
#include "own_marks.h"
#include "rules.h"
#include "timeutil.h"
#include "waitlist.h"

enum outcome handle_cancel(struct worker *w, const struct command *c, struct result *r,
                           const char *note)
{
    const struct cmd_cancel *x = &c->u.cancel;
    struct oe_call call = worker_call(w, c);
    struct oe_appt a;
    sw_err err = confirm_index_find(w, &call, x->confirmation_number, x->appointment_id, &a, r);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err == SW_ERR_NOT_FOUND && note) {
        /* An earlier attempt of this very command cancelled it already
         * (it noted the id before the DELETE) and died before answering. */
        json_t *o = json_loads(note, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "cancel"));
        if (id) {
            r->status = RES_OK;
            r->error_code[0] = r->error_message[0] = '\0';
            snprintf(r->cancelled_appointment_id, sizeof(r->cancelled_appointment_id), "%s", id);
            r->cancelled_at_ms = worker_now_ms(w);
        }
        json_decref(o);
        return OUTCOME_ANSWER;
    }
    if (err)
        return OUTCOME_ANSWER;
    /* The caller named a patient: someone else's appointment is "not found"
     * (saying more would tell a stranger it exists). */
    if (x->patient_id[0] && strcmp(x->patient_id, a.patient_id) != 0) {
        result_fail(r, RES_NOT_FOUND, "no_such_appointment", "No such appointment.");
        return OUTCOME_ANSWER;
    }
    if (a.status == OE_APPT_CANCELLED) {
        result_fail(r, RES_INVALID, "already_cancelled", "That appointment is already cancelled.");
        return OUTCOME_ANSWER;
    }
    char notebuf[128];
    snprintf(notebuf, sizeof(notebuf), "{\"cancel\":\"%s\"}", a.id);
    err = store_idem_note(&w->store, c->request_id, w->cfg->worker_id, notebuf,
                          w->cfg->idempotency_lease_s);
    if (err)
        return worker_outcome(r, err);
    r->write_attempted = true;
    own_mark(&w->store, &a);
    err = emr_cancel(&w->emr, &call, a.id, a.patient_id);
    if (err) {
        worker_fail_emr(r, err, &call);
        return OUTCOME_ANSWER;
    }
    snprintf(r->cancelled_appointment_id, sizeof(r->cancelled_appointment_id), "%s", a.id);
    r->cancelled_at_ms = worker_now_ms(w);

    struct tu_date day;
    if (!timeutil_local_date(a.start, &day))
        daycache_invalidate(&w->store, a.practitioner_id, day);
    daycache_invalidate_patient(&w->store, a.patient_id);
    if (a.confirmation[0])
        confirm_index_del(w, a.confirmation);
    const struct sw_type_rule *type =
        rules_type_of(w->cfg, a.appointment_type, a.category, a.end - a.start);
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
    int64_t now = worker_now_s(w);
    event_add(w->cfg, w->out, "appointment.cancelled", c->request_id, a.id, &f, now);
    waitlist_offer(&w->store, w->cfg, w->out, a.practitioner_id, a.start, a.end, c->request_id,
                   now);
    return OUTCOME_ANSWER;
}
