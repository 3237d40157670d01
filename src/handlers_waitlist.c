/* handlers_waitlist.c - join_waitlist and leave_waitlist (the offers a
 * freed slot makes are waitlist.c's). */
#include <stdio.h>
#include <string.h>

#include "handlers.h"

enum outcome handle_join_waitlist(struct worker *w, const struct command *c, struct result *r,
                                  const char *note)
{
    (void)note;
    const struct cmd_join_waitlist *x = &c->u.join;
    if (!sw_config_type(w->cfg, x->appointment_type)) {
        result_fail(r, RES_INVALID, "unknown_appointment_type", "Unknown appointment type \"%s\".",
                    x->appointment_type);
        return OUTCOME_ANSWER;
    }
    struct fleet_wait e;
    memset(&e, 0, sizeof(e));
    snprintf(e.patient_id, sizeof(e.patient_id), "%s", x->patient_id);
    snprintf(e.appointment_type, sizeof(e.appointment_type), "%s", x->appointment_type);
    snprintf(e.practitioner_id, sizeof(e.practitioner_id), "%s", x->practitioner_id);
    e.earliest = x->earliest;
    e.latest = x->latest;
    sw_err err = store_waitlist_add(&w->store, &e);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err) {
        result_fail_err(r, err, "The patient could not be put on the waitlist.");
        return OUTCOME_ANSWER;
    }
    snprintf(r->waitlist_id, sizeof(r->waitlist_id), "%s", e.waitlist_id);
    return OUTCOME_ANSWER;
}

enum outcome handle_leave_waitlist(struct worker *w, const struct command *c, struct result *r,
                                   const char *note)
{
    (void)note;
    sw_err err = store_waitlist_remove(&w->store, c->u.waitlist_id);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err == SW_ERR_NOT_FOUND) {
        result_fail(r, RES_NOT_FOUND, "no_such_waitlist_entry", "No such waitlist entry.");
        return OUTCOME_ANSWER;
    }
    if (err) {
        result_fail_err(r, err, "The waitlist entry could not be removed.");
        return OUTCOME_ANSWER;
    }
    snprintf(r->waitlist_id, sizeof(r->waitlist_id), "%s", c->u.waitlist_id);
    return OUTCOME_ANSWER;
}
