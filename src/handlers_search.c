/* handlers_search.c - the read-only commands: find_patient, search_slots,
 * list_appointments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "availability.h"
#include "keys.h"
#include "rules.h"
#include "handlers.h"
#include "slots.h"
#include "timeutil.h"
#include "warmhint.h"

#define DAY 86400
/* A search looks at most this far; longer ranges are cut (the agent asks
 * for days or weeks, never months). */
#define MAX_SEARCH_DAYS 62
/* next_available looks ahead in steps of a week, up to the booking window. */
#define NEXT_STEP_DAYS 7

enum outcome handle_find_patient(struct worker *w, const struct command *c, struct result *r,
                                 const char *note)
{
    (void)note;
    struct oe_call call = worker_call(w, c);
    struct oe_patient *p = NULL;
    size_t n = 0;
    sw_err err = emr_find_patients(&w->emr, &call, c->u.find.phone, c->u.find.birthdate, &p, &n);
    if (err) {
        worker_fail_emr(r, err, &call);
        return OUTCOME_ANSWER;
    }
    if (n == 0) {
        result_fail(r, RES_NOT_FOUND, "no_match",
                    "No patient has that phone number and birth date.");
        return OUTCOME_ANSWER;
    }
    r->matches = calloc(n, sizeof(*r->matches));
    if (!r->matches) {
        free(p);
        result_fail(r, RES_ERROR, "out_of_memory", "The worker ran out of memory.");
        return OUTCOME_ANSWER;
    }
    /* Only what the agent needs to tell the matches apart. */
    for (size_t i = 0; i < n; i++) {
        struct res_patient *m = &r->matches[r->n_matches++];
        snprintf(m->patient_id, sizeof(m->patient_id), "%s", p[i].id);
        snprintf(m->given_name, sizeof(m->given_name), "%s", p[i].given);
        snprintf(m->family_name, sizeof(m->family_name), "%s", p[i].family);
        snprintf(m->birthdate, sizeof(m->birthdate), "%s", p[i].birthdate);
        warmhint_add(m->patient_id); /* the caller's searches will read their appointments */
    }
    free(p);
    return OUTCOME_ANSWER;
}

/* The practitioners a search is about: those named, or every one. */
static sw_err search_practitioners(struct worker *w, const struct command *c, struct oe_call *call,
                                   char (**out)[64], size_t *n)
{
    const struct cmd_search_slots *s = &c->u.search;
    if (s->n_practitioners == 0)
        return emr_list_practitioners(&w->emr, call, out, n);
    *out = calloc((size_t)s->n_practitioners, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (int i = 0; i < s->n_practitioners; i++)
        snprintf((*out)[i], sizeof((*out)[i]), "%s", s->practitioners[i]);
    *n = (size_t)s->n_practitioners;
    return SW_OK;
}

/* The part of a search's range where a booking is allowed at all:
 * [*from, *to), and the end of the booking window.  false when the rules
 * cannot be applied. */
static bool search_range(const struct sw_type_rule *type, const struct cmd_search_slots *s,
                         int64_t now, int64_t *from, int64_t *to, int64_t *window_end)
{
    int64_t earliest;
    if (rules_earliest_start(type, now, &earliest) || rules_window_end(type, now, window_end))
        return false;
    *from = s->from > earliest ? s->from : earliest;
    *to = s->to < *window_end ? s->to : *window_end;
    if (*to > *from + (int64_t)MAX_SEARCH_DAYS * DAY)
        *to = *from + (int64_t)MAX_SEARCH_DAYS * DAY;
    return true;
}

#define PREFETCH_KEYS 64

/* The day keys of the named practitioners over the range, the patient's
 * own busy time and the practitioners' holds: what slots_in_range reads
 * when every day is cached.  A search naming no practitioner lists them
 * from OpenEMR first: nothing is asked ahead for it. */
void handlers_prefetch(struct worker *w, const struct command *c)
{
    if (c->type != CMD_SEARCH_SLOTS || c->u.search.n_practitioners == 0)
        return;
    const struct cmd_search_slots *s = &c->u.search;
    const struct sw_type_rule *type = sw_config_type(w->cfg, s->appointment_type);
    int64_t from, to, window_end;
    struct tu_date first, last;
    if (!type || !search_range(type, s, worker_now_s(w), &from, &to, &window_end) || from >= to ||
        timeutil_local_date(from, &first) || timeutil_local_date(to - 1, &last))
        return;
    char keys[PREFETCH_KEYS][160];
    const char *kp[PREFETCH_KEYS], *practs[CMD_MAX_PRACTITIONERS];
    size_t n = 0;
    int days = (int)(timeutil_date_days(last) - timeutil_date_days(first)) + 1;
    for (int p = 0; p < s->n_practitioners; p++) {
        practs[p] = s->practitioners[p];
        for (int d = 0; d < days && n < PREFETCH_KEYS - 1; d++) {
            char date[16];
            timeutil_format_date(timeutil_date_add(first, d), date, sizeof(date));
            if (key_day(keys[n], sizeof(keys[n]), s->practitioners[p], date))
                kp[n] = keys[n], n++;
        }
    }
    if (s->patient_id[0] && key_patient_busy(keys[n], sizeof(keys[n]), s->patient_id))
        kp[n] = keys[n], n++;
    store_prefetch(&w->store, kp, n, practs, (size_t)s->n_practitioners, from, to);
}

enum outcome handle_search_slots(struct worker *w, const struct command *c, struct result *r,
                                 const char *note)
{
    (void)note;
    const struct cmd_search_slots *s = &c->u.search;
    const struct sw_type_rule *type = sw_config_type(w->cfg, s->appointment_type);
    struct oe_call call = worker_call(w, c);
    int64_t now = worker_now_s(w), from, to, window_end;
    char(*practs)[64] = NULL;
    size_t n_practs = 0, n_slots = 0;
    struct av_slot *slots = NULL;
    bool stale = false;
    sw_err err = SW_OK;

    if (!type) {
        result_fail(r, RES_INVALID, "unknown_appointment_type", "Unknown appointment type \"%s\".",
                    s->appointment_type);
        return OUTCOME_ANSWER;
    }
    if (!search_range(type, s, now, &from, &to, &window_end)) {
        result_fail(r, RES_ERROR, "internal_error", "The booking rules could not be applied.");
        return OUTCOME_ANSWER;
    }

    err = search_practitioners(w, c, &call, &practs, &n_practs);
    if (err)
        goto fail;
    struct slot_query q = {type, c->session_id, s->patient_id};
    if (from < to)
        err =
            slots_in_range(w, &q, &call, practs, n_practs, from, to, now, &slots, &n_slots, &stale);
    if (err)
        goto fail;

    int limit = s->limit ? s->limit : w->cfg->search_limit_default;
    struct av_slot picked[CMD_MAX_SLOTS];
    size_t n_picked = avail_select(slots, n_slots, (size_t)limit, picked);
    for (size_t i = 0; i < n_picked; i++)
        slots_to_result(&picked[i], practs[picked[i].tag], type->name, &r->slots[r->n_slots++]);

    /* Nothing in the range: the first free slot after it, a week at a time
     * up to the booking window. */
    for (int64_t start = to > from ? to : from; n_picked == 0 && start < window_end;
         start += (int64_t)NEXT_STEP_DAYS * DAY) {
        int64_t end = start + (int64_t)NEXT_STEP_DAYS * DAY;
        free(slots);
        slots = NULL;
        n_slots = 0;
        err = slots_in_range(w, &q, &call, practs, n_practs, start,
                             end < window_end ? end : window_end, now, &slots, &n_slots, &stale);
        if (err)
            goto fail;
        if (n_slots > 0) {
            r->has_next_available = true;
            slots_to_result(&slots[0], practs[slots[0].tag], type->name, &r->next_available);
            break;
        }
    }
    r->stale = stale;
    free(slots);
    free(practs);
    return OUTCOME_ANSWER;
fail:
    free(slots);
    free(practs);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    worker_fail_emr(r, err, &call);
    return OUTCOME_ANSWER;
}

enum outcome handle_list_appointments(struct worker *w, const struct command *c, struct result *r,
                                      const char *note)
{
    (void)note;
    const struct cmd_list_appointments *l = &c->u.list;
    struct oe_call call = worker_call(w, c);
    struct oe_appt *a = NULL;
    size_t n = 0;
    sw_err err = emr_list_patient(&w->emr, &call, l->patient_id, l->from, l->to, &a, &n);
    if (err) {
        worker_fail_emr(r, err, &call);
        return OUTCOME_ANSWER;
    }
    r->appointments = calloc(n ? n : 1, sizeof(*r->appointments));
    if (!r->appointments) {
        free(a);
        result_fail(r, RES_ERROR, "out_of_memory", "The worker ran out of memory.");
        return OUTCOME_ANSWER;
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
    return OUTCOME_ANSWER;
}
