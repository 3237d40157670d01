/* handlers_book.c - book and reschedule.
 *
 * Booking protocol (the worker's answer to an OpenEMR that checks no
 * overlap): serialise bookings per practitioner and per patient with fleet
 * locks; re-read that day fresh from OpenEMR; check practitioner overlap
 * with the buffer, provider events, other sessions' holds and the
 * patient's own appointments; record the confirmation number in the
 * idempotency note; create the appointment with that number in it.  A
 * replica that takes over an interrupted booking first looks for an
 * appointment carrying the noted number and completes from it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "availability.h"
#include "confirm_index.h"
#include "confirmation.h"
#include "daycache.h"
#include "events.h"
#include "log.h"
#include "keys.h"
#include "metrics.h"
#include "own_marks.h"
#include "rules.h"
#include "timeutil.h"
#include "waitlist.h"
#include "handlers.h"
#include "slots.h"

#define DAY         86400
#define LOCK_TTL_MS 20000

struct booking {
    const char *patient_id;
    const char *practitioner_id;
    int64_t start;
    const struct sw_type_rule *type;
    const char *hold_id;
    const char *reason;
    const char *exclude_id; /* reschedule: the appointment being replaced */
};

/* ---- confirmation numbers ------------------------------------------- */

/* The idempotency note of a booking: the number chosen before the write. */
static char *booking_note(const char *confirmation, const char *practitioner_id, int64_t start)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "confirmation", confirmation, "practitioner_id",
                          practitioner_id, "start", (json_int_t)start);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static bool note_confirmation(const char *note, char *buf, size_t len)
{
    json_t *o = note ? json_loads(note, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(o, "confirmation"));
    bool ok = c && strlen(c) < len;
    if (ok)
        snprintf(buf, len, "%s", c);
    json_decref(o);
    return ok;
}

/* ---- conflict check ----------------------------------------------------- */

/* Re-reads the day fresh from OpenEMR and checks [start, start+duration)
 * for the practitioner and the patient.  SW_OK free; SW_ERR_CONFLICT with
 * *code set; other errors from OpenEMR or Redis. */
static sw_err check_free(struct worker *w, struct oe_call *call, const struct command *c,
                         const struct booking *b, const char **code)
{
    struct tu_date day;
    int64_t from, to;
    struct oe_appt *appts = NULL;
    struct fleet_hold *holds = NULL;
    size_t n_appts = 0, n_holds = 0;
    struct day_busy pract = {0}, patient = {0};
    sw_err err;

    if (timeutil_local_date(b->start, &day) || timeutil_day_start(day, &from) ||
        timeutil_day_start(timeutil_date_add(day, 1), &to))
        return SW_ERR_INVALID;
    err = emr_list_range(&w->emr, call, NULL, from, to, &appts, &n_appts);
    if (err)
        goto out;
    err = store_holds_list(&w->store, b->practitioner_id, from, to, &holds, &n_holds);
    if (err)
        goto out;
    for (size_t i = 0; i < n_appts; i++) {
        const struct oe_appt *a = &appts[i];
        bool frees = a->status == OE_APPT_CANCELLED || a->status == OE_APPT_NOSHOW;
        if (frees || (b->exclude_id && !strcmp(a->id, b->exclude_id)))
            continue;
        if (!strcmp(a->practitioner_id, b->practitioner_id)) {
            if (a->provider_event)
                day_busy_add(&pract.blocks, &pract.n_blocks, a->start, a->end);
            else
                day_busy_add(&pract.appts, &pract.n_appts, a->start, a->end);
        } else if (!a->provider_event && !strcmp(a->patient_id, b->patient_id)) {
            day_busy_add(&patient.blocks, &patient.n_blocks, a->start, a->end);
        }
    }
    for (size_t i = 0; i < n_holds; i++) {
        bool ours = (b->hold_id && !strcmp(holds[i].hold_id, b->hold_id)) ||
                    (c->session_id[0] && !strcmp(holds[i].session_id, c->session_id));
        if (!ours)
            day_busy_add(&pract.appts, &pract.n_appts, holds[i].start, holds[i].end);
    }
    struct av_request req = {
        .type = b->type,
        .hours = sw_config_hours(w->cfg, b->practitioner_id), /* not used by the check */
        .slot_minutes = w->cfg->slot_minutes,
        .buffer_minutes = w->cfg->buffer_minutes,
        .appts = pract.appts,
        .n_appts = pract.n_appts,
        .blocks = pract.blocks,
        .n_blocks = pract.n_blocks,
    };
    err = avail_check_free(&req, b->start, NULL);
    if (err == SW_ERR_CONFLICT) {
        *code = "slot_taken";
        goto out;
    }
    req.appts = NULL;
    req.n_appts = 0;
    req.buffer_minutes = 0;
    req.blocks = patient.blocks;
    req.n_blocks = patient.n_blocks;
    err = avail_check_free(&req, b->start, NULL);
    if (err == SW_ERR_CONFLICT)
        *code = "patient_busy";
out:
    free(appts);
    free(holds);
    day_busy_clear(&pract);
    day_busy_clear(&patient);
    return err;
}

/* ---- book ---------------------------------------------------------------- */

static void invalidate(struct worker *w, const char *pract, const char *patient, int64_t start)
{
    struct tu_date day;
    if (!timeutil_local_date(start, &day))
        daycache_invalidate(&w->store, pract, day);
    if (patient && *patient)
        daycache_invalidate_patient(&w->store, patient);
}

static void fill_appointment(struct res_appointment *out, const struct oe_appt *a,
                             const char *confirmation, const char *type)
{
    snprintf(out->appointment_id, sizeof(out->appointment_id), "%s", a->id);
    snprintf(out->confirmation_number, sizeof(out->confirmation_number), "%s", confirmation);
    out->start = a->start;
    out->end = a->end;
    snprintf(out->practitioner_id, sizeof(out->practitioner_id), "%s", a->practitioner_id);
    snprintf(out->appointment_type, sizeof(out->appointment_type), "%s", type);
    snprintf(out->status, sizeof(out->status), "booked");
}

static void conflict(struct worker *w, struct oe_call *call, const struct command *c,
                     const struct booking *b, struct result *r, const char *code)
{
    struct slot_query q = {b->type, c->session_id, b->patient_id};
    if (slots_alternatives(w, call, &q, b->practitioner_id, b->start, r) != SW_OK)
        r->n_slots = 0;
    if (!strcmp(code, "patient_busy"))
        result_fail(r, RES_CONFLICT, code, "The patient already has an appointment then.");
    else
        result_fail(r, RES_CONFLICT, code, "That time is no longer free.");
}

/* Books b.  On success r->appointments[0] is the new appointment and the
 * result is ok; on failure r carries the outcome.  Returns SW_ERR_REDIS
 * only before any OpenEMR write. */
static sw_err book(struct worker *w, const struct command *c, const struct booking *b,
                   const char *note, struct result *r)
{
    const struct sw_config *cfg = w->cfg;
    struct oe_call call = worker_call(w, c);
    int64_t now = worker_now_s(w);
    char msg[200], conf[CONFIRM_TEXT_LEN + 8] = "", *note_text = NULL;
    char pract_lock[128], patient_lock[128];
    bool locked_pract = false, locked_patient = false;
    const char *code = NULL;
    struct oe_appt made;
    sw_err err;

    bool fhir = cfg->surface == SW_SURFACE_FHIR_SCHEDULING;
    if (!note) {
        /* Business hours hold on both surfaces; the grid only where the
         * worker makes the slots (the FHIR server's Slots start where it
         * likes). */
        err = rules_check_booking(b->type, sw_config_hours(cfg, b->practitioner_id),
                                  fhir ? 0 : cfg->slot_minutes, now, b->start, msg, sizeof(msg));
        if (err) {
            result_fail(r, err == SW_ERR_REJECTED ? RES_REJECTED : RES_INVALID,
                        err == SW_ERR_REJECTED ? "booking_rule" : "bad_time", "%s", msg);
            return SW_OK;
        }
    }
    if (b->hold_id && *b->hold_id) {
        struct fleet_hold h;
        err = store_hold_get(&w->store, b->hold_id, &h);
        if (err == SW_ERR_REDIS)
            return err;
        if (!err && (strcmp(h.practitioner_id, b->practitioner_id) || h.start != b->start)) {
            result_fail(r, RES_INVALID, "hold_mismatch",
                        "The hold is for another practitioner or time.");
            return SW_OK;
        }
        if (!err && c->session_id[0] && h.session_id[0] && strcmp(h.session_id, c->session_id)) {
            result_fail(r, RES_INVALID, "hold_not_yours", "The hold belongs to another call.");
            return SW_OK;
        }
    }
    if (!key_lock_book_practitioner(pract_lock, sizeof(pract_lock), b->practitioner_id) ||
        !key_lock_book_patient(patient_lock, sizeof(patient_lock), b->patient_id))
        return SW_ERR_INVALID; /* ids are at most 63 characters */
    err = worker_lock_wait(w, &call, pract_lock, c->request_id, LOCK_TTL_MS);
    locked_pract = !err;
    if (!err) {
        err = worker_lock_wait(w, &call, patient_lock, c->request_id, LOCK_TTL_MS);
        locked_patient = !err;
    }
    if (err == SW_ERR_REDIS)
        goto out;
    if (err) {
        result_fail(r, RES_UNAVAILABLE, "busy",
                    "Another booking for this practitioner is in progress; try again.");
        err = SW_OK;
        goto out;
    }

    /* Taking over an interrupted attempt: did its write happen? */
    if (note_confirmation(note, conf, sizeof(conf))) {
        err = emr_find_by_confirmation(&w->emr, &call, conf, b->practitioner_id, b->start - DAY,
                                       b->start + DAY, &made);
        if (!err) {
            log_info("book", "completing an interrupted booking from OpenEMR");
            goto booked;
        }
        if (err != SW_ERR_NOT_FOUND) {
            r->write_attempted = true;
            worker_fail_emr(r, err, &call);
            err = SW_OK;
            goto out;
        }
    }
    err = check_free(w, &call, c, b, &code);
    if (err == SW_OK || err == SW_ERR_CONFLICT)
        metrics_booking(err == SW_ERR_CONFLICT);
    if (err == SW_ERR_CONFLICT) {
        conflict(w, &call, c, b, r, code);
        err = SW_OK;
        goto out;
    }
    if (err) {
        if (err != SW_ERR_REDIS) {
            worker_fail_emr(r, err, &call);
            err = SW_OK;
        }
        goto out;
    }
    if (!conf[0]) {
        err = confirm_index_claim(w, c->request_id, conf, sizeof(conf));
        if (err)
            goto out;
    }
    /* The number goes into the idempotency record before OpenEMR sees it. */
    note_text = booking_note(conf, b->practitioner_id, b->start);
    err = note_text ? store_idem_note(&w->store, c->request_id, cfg->worker_id, note_text,
                                      cfg->idempotency_lease_s)
                    : SW_ERR_NOMEM;
    if (err)
        goto out; /* not noted: nothing written yet */
    r->write_attempted = true;
    struct oe_new_appt req = {b->patient_id, b->practitioner_id,
                              b->start,      b->start + (int64_t)b->type->duration_min * 60,
                              b->type,       conf,
                              b->reason};
    err = emr_create(&w->emr, &call, &req, &made);
    if (err && sw_err_is_transient(err)) {
        /* The request may have reached OpenEMR: look before answering. */
        sw_err again = emr_find_by_confirmation(&w->emr, &call, conf, b->practitioner_id,
                                                b->start - DAY, b->start + DAY, &made);
        if (!again)
            err = SW_OK;
    }
    if (err) {
        worker_fail_emr(r, err, &call);
        err = SW_OK;
        goto out;
    }
booked:
    r->appointments = calloc(1, sizeof(*r->appointments));
    if (!r->appointments) {
        result_fail(r, RES_ERROR, "out_of_memory",
                    "The appointment was booked but the answer failed.");
        goto out;
    }
    r->n_appointments = 1;
    if (!made.practitioner_id[0])
        snprintf(made.practitioner_id, sizeof(made.practitioner_id), "%s", b->practitioner_id);
    fill_appointment(&r->appointments[0], &made, conf, b->type->name);
    own_mark(&w->store, &made);
    confirm_index_put(w, &r->appointments[0], b->patient_id);
    invalidate(w, b->practitioner_id, b->patient_id, b->start);
    if (b->hold_id && *b->hold_id) {
        struct fleet_hold h;
        if (store_hold_get(&w->store, b->hold_id, &h) == SW_OK)
            waitlist_taken(&w->store, &h);
        store_hold_release(&w->store, b->hold_id);
    }
    err = SW_OK;
out:
    if (locked_patient)
        store_unlock(&w->store, patient_lock, c->request_id);
    if (locked_pract)
        store_unlock(&w->store, pract_lock, c->request_id);
    free(note_text);
    return err;
}

static void booked_event(struct worker *w, const struct command *c, const struct result *r,
                         const char *patient_id, const char *type, const char *previous_id,
                         const struct oe_appt *previous)
{
    const struct res_appointment *a = &r->appointments[0];
    struct event_fields f = {
        .caused_by = "worker",
        .request_id = c->request_id,
        .appointment_id = a->appointment_id,
        .previous_appointment_id = previous_id,
        .confirmation_number = a->confirmation_number,
        .patient_id = patient_id,
        .practitioner_id = a->practitioner_id,
        .appointment_type = a->appointment_type,
        .start = a->start,
        .end = a->end,
        .previous_start = previous ? previous->start : 0,
        .previous_end = previous ? previous->end : 0,
    };
    event_add(w->cfg, w->out, type, c->request_id, a->appointment_id, &f, worker_now_s(w));
}

enum outcome handle_book(struct worker *w, const struct command *c, struct result *r,
                         const char *note)
{
    const struct cmd_book *x = &c->u.book;
    const struct sw_type_rule *type = sw_config_type(w->cfg, x->appointment_type);
    if (!type) {
        result_fail(r, RES_INVALID, "unknown_appointment_type", "Unknown appointment type \"%s\".",
                    x->appointment_type);
        return OUTCOME_ANSWER;
    }
    struct booking b = {x->patient_id, x->practitioner_id, x->start, type,
                        x->hold_id,    x->reason,          NULL};
    sw_err err = book(w, c, &b, note, r);
    if (!err && r->status == RES_OK)
        booked_event(w, c, r, x->patient_id, "appointment.booked", NULL, NULL);
    return worker_outcome(r, err);
}

/* ---- reschedule ------------------------------------------------------------ */

enum outcome handle_reschedule(struct worker *w, const struct command *c, struct result *r,
                               const char *note)
{
    const struct cmd_reschedule *x = &c->u.reschedule;
    struct oe_call call = worker_call(w, c);
    struct oe_appt old;
    sw_err err = confirm_index_find(w, &call, x->confirmation_number, x->appointment_id, &old, r);
    if (err == SW_ERR_REDIS)
        return worker_outcome(r, err);
    if (err)
        return OUTCOME_ANSWER;
    if (old.status == OE_APPT_CANCELLED) {
        result_fail(r, RES_INVALID, "already_cancelled",
                    "That appointment was cancelled; book a new one instead.");
        return OUTCOME_ANSWER;
    }
    const struct sw_type_rule *type =
        rules_type_of(w->cfg, old.appointment_type, old.category, old.end - old.start);
    if (!type) {
        result_fail(r, RES_INVALID, "unknown_appointment_type",
                    "The worker cannot tell the type of that appointment.");
        return OUTCOME_ANSWER;
    }
    struct booking b = {
        old.patient_id, x->practitioner_id[0] ? x->practitioner_id : old.practitioner_id,
        x->new_start,   type,
        x->hold_id,     NULL,
        old.id};
    err = book(w, c, &b, note, r);
    if (err || r->status != RES_OK)
        return worker_outcome(r, err); /* the old appointment stays */
    snprintf(r->previous_appointment_id, sizeof(r->previous_appointment_id), "%s", old.id);
    own_mark(&w->store, &old);
    sw_err cerr = emr_cancel(&w->emr, &call, old.id, old.patient_id);
    if (cerr && cerr != SW_ERR_NOT_FOUND) {
        const struct res_appointment *a = &r->appointments[0];
        log_error("book", "reschedule: new appointment %s made, old %s not cancelled: %s",
                  a->appointment_id, old.id, sw_err_str(cerr));
        result_fail(r, RES_ERROR, "previous_not_cancelled",
                    "The new appointment %s is booked (confirmation %s), but the old "
                    "appointment %s could not be cancelled; the clinic must cancel it.",
                    a->appointment_id, a->confirmation_number, old.id);
        r->write_attempted = true;
        return OUTCOME_ANSWER;
    }
    invalidate(w, old.practitioner_id, old.patient_id, old.start);
    booked_event(w, c, r, old.patient_id, "appointment.rescheduled", old.id, &old);
    return OUTCOME_ANSWER;
}
