/* handlers_book.c - book and reschedule.
 *
 * The booking protocol, the worker's answer to an OpenEMR that checks no
 * overlap and cannot check a fencing token:
 *
 *  1. Ids are canonical before the handler runs (canon.c), so one patient
 *     or practitioner has one lock, one cache entry, one busy list.
 *  2. Bookings are serialised per practitioner and per patient with fleet
 *     locks owned by this attempt (not by the request: a paused earlier
 *     attempt of the same command holds nothing of ours).
 *  3. The day is re-read fresh from OpenEMR.  A live appointment of this
 *     very patient, practitioner and time whose number is one of this
 *     command's candidates is ours (an earlier attempt made it, perhaps
 *     before Redis lost its record): the booking is done.  Otherwise the
 *     practitioner's time (with the buffer), provider events, other calls'
 *     holds and the patient's own appointments are checked.
 *  4. The confirmation number is the command's first candidate not held
 *     by another command (confirm_derive: keyed from the request_id), noted
 *     under the lease before OpenEMR sees it.
 *  5. The create is sent only under cover (worker_write_call): right before
 *     it leaves, the store checks that this attempt still holds the lease
 *     and both locks and stretches them over the whole write.
 *  6. A create whose answer was lost is looked for by its number among the
 *     patient's appointments; if that cannot be told yet, no answer is
 *     given (OUTCOME_RECONCILE): a later attempt waits until the earlier
 *     write's cover has run out (plus booking.reconcile_settle_ms), looks
 *     again, and only then writes.  "unavailable" is answered only when
 *     OpenEMR was certainly not changed.
 *
 * A reschedule books the new time first (its note remembers the old
 * appointment), then cancels the old one under cover; an attempt that takes
 * over after the cancel answers with the new appointment. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "availability.h"
#include "confirm_index.h"
#include "confirmation.h"
#include "daycache.h"
#include "events.h"
#include "handlers.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "own_marks.h"
#include "rules.h"
#include "slots.h"
#include "timeutil.h"
#include "waitlist.h"

#define DAY         86400
#define LOCK_TTL_MS 20000

struct booking {
    const char *patient_id;
    const char *practitioner_id;
    int64_t start;
    const struct sw_type_rule *type;
    const char *hold_id;
    const char *reason;
    const struct oe_appt *replaces; /* reschedule: the appointment being moved */
};

/* ---- confirmation numbers --------------------------------------------------- */

static bool candidate(const struct worker *w, const struct command *c, int k, char *buf, size_t len)
{
    return w->confirm_key && confirm_derive(w->confirm_key, c->request_id, k, buf, len) == SW_OK;
}

/* Whether code is one of the numbers this command may have written. */
static bool is_candidate(const struct worker *w, const struct command *c, const char *code)
{
    char buf[CONFIRM_TEXT_LEN];
    for (int k = 0; code[0] && k < CONFIRM_CANDIDATES; k++)
        if (candidate(w, c, k, buf, sizeof(buf)) && !strcmp(buf, code))
            return true;
    return false;
}

/* The first candidate no other command holds, claimed for this one. */
static sw_err claim_number(const struct worker *w, const struct command *c, char *buf, size_t len)
{
    for (int k = 0; k < CONFIRM_CANDIDATES; k++) {
        if (!candidate(w, c, k, buf, len))
            return SW_ERR_INTERNAL;
        sw_err err = store_confirmation_claim(&w->store, buf, c->request_id, CONFIRM_INDEX_TTL_S);
        if (err != SW_ERR_CONFLICT)
            return err;
    }
    log_error("book", "all %d confirmation candidates of %s are taken", CONFIRM_CANDIDATES,
              c->request_id);
    return SW_ERR_INTERNAL;
}

/* ---- the note ------------------------------------------------------------------ */

/* What an attempt notes under its lease before each OpenEMR write. */
struct note {
    char confirmation[CONFIRM_TEXT_LEN + 8]; /* the new appointment's number */
    bool has_old;
    struct oe_appt old; /* reschedule: the appointment being moved */
    bool moved;         /* reschedule: the new one is booked, the old one goes */
    char made_id[64];   /* reschedule: the new appointment's id */
};

static void note_parse(const char *text, struct note *n)
{
    memset(n, 0, sizeof(*n));
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(o, "confirmation"));
    if (c && strlen(c) < sizeof(n->confirmation))
        snprintf(n->confirmation, sizeof(n->confirmation), "%s", c);
    n->has_old = emr_appt_parse(json_object_get(o, "old"), &n->old);
    n->moved = json_is_true(json_object_get(o, "moved"));
    const char *m = json_string_value(json_object_get(o, "made_id"));
    if (m)
        snprintf(n->made_id, sizeof(n->made_id), "%s", m);
    json_decref(o);
}

static sw_err note_write(const struct worker *w, const struct command *c, const struct note *n)
{
    json_t *o = json_object();
    if (n->confirmation[0])
        json_object_set_new(o, "confirmation", json_string(n->confirmation));
    if (n->has_old)
        json_object_set_new(o, "old", emr_appt_json(&n->old));
    if (n->moved)
        json_object_set_new(o, "moved", json_true());
    if (n->made_id[0])
        json_object_set_new(o, "made_id", json_string(n->made_id));
    return worker_note(w, c, o);
}

/* A taking-over attempt may look for an earlier attempt's write only once
 * that write can no longer land: its cover over, and a settling time. */
static bool earlier_write_settled(const struct worker *w)
{
    return !w->covered_until_ms ||
           w->now_store_ms >= w->covered_until_ms + w->cfg->reconcile_settle_ms;
}

/* ---- the fresh check ----------------------------------------------------------- */

/* Re-reads the day fresh from OpenEMR and checks [start, start+duration)
 * for the practitioner and the patient.  SW_OK: free, or (*is_mine) the
 * booking exists already as this command's own, in *mine; SW_ERR_CONFLICT
 * with *code set; other errors from OpenEMR or the store. */
static sw_err check_free(const struct worker *w, struct oe_call *call, const struct command *c,
                         const struct booking *b, const char **code, struct oe_appt *mine,
                         bool *is_mine)
{
    struct tu_date day;
    int64_t from, to, end = b->start + (int64_t)b->type->duration_min * 60;
    struct oe_appt *appts = NULL;
    struct fleet_hold *holds = NULL;
    size_t n_appts = 0, n_holds = 0;
    struct day_busy pract = {0}, patient = {0};
    sw_err err;

    *is_mine = false;
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
        if (frees || (b->replaces && !strcmp(a->id, b->replaces->id)))
            continue;
        if (!a->provider_event && !strcmp(a->patient_id, b->patient_id) &&
            !strcmp(a->practitioner_id, b->practitioner_id) && a->start == b->start &&
            a->end == end) {
            /* This very booking exists: ours, if it carries one of our
             * numbers (the day's rows may not carry the comment). */
            struct oe_appt full = *a;
            if (!full.confirmation[0]) {
                err = emr_get(&w->emr, call, a->id, &full);
                if (err == SW_ERR_NOT_FOUND) { /* cancelled since the day's read: holds no time */
                    err = SW_OK;
                    continue;
                }
                if (err)
                    goto out;
            }
            if (is_candidate(w, c, full.confirmation)) {
                *mine = full;
                *is_mine = true;
                goto out;
            }
        }
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
        .cfg = w->cfg, /* configured breaks and closures */
        .practitioner_id = b->practitioner_id,
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

/* ---- book ---------------------------------------------------------------------- */

static void invalidate(const struct worker *w, const char *pract, const char *patient,
                       int64_t start)
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

static void conflict(const struct worker *w, struct oe_call *call, const struct command *c,
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

/* The booking is made (by this attempt or an earlier one): the answer, the
 * index, the caches, the hold used up. */
static enum outcome booked(struct worker *w, const struct booking *b, struct oe_appt *made,
                           const char *conf, struct result *r)
{
    r->appointments = calloc(1, sizeof(*r->appointments));
    if (!r->appointments) {
        result_fail(r, RES_ERROR, "out_of_memory",
                    "The appointment was booked but the answer failed.");
        return OUTCOME_ANSWER;
    }
    r->n_appointments = 1;
    if (!made->practitioner_id[0])
        snprintf(made->practitioner_id, sizeof(made->practitioner_id), "%s", b->practitioner_id);
    fill_appointment(&r->appointments[0], made, conf, b->type->name);
    confirm_index_put(w, &r->appointments[0], b->patient_id);
    invalidate(w, b->practitioner_id, b->patient_id, b->start);
    if (b->hold_id && *b->hold_id) {
        struct fleet_hold h;
        if (store_hold_get(&w->store, b->hold_id, &h) == SW_OK)
            waitlist_taken(&w->store, &h);
        store_hold_release(&w->store, b->hold_id);
    }
    return OUTCOME_ANSWER;
}

/* Checks the rules and the hold: true if they allow the booking; false
 * with r filled, or with *err set when the store could not answer. */
static bool rules_hold_ok(const struct worker *w, const struct command *c, const struct booking *b,
                          struct result *r, sw_err *err)
{
    const struct sw_config *cfg = w->cfg;
    char msg[200];
    bool fhir = cfg->surface == SW_SURFACE_FHIR_SCHEDULING;
    *err = SW_OK;
    /* Business hours hold on both surfaces; the grid only where the worker
     * makes the slots (the FHIR server's Slots start where it likes). */
    sw_err e = rules_check_booking(b->type, sw_config_hours(cfg, b->practitioner_id),
                                   fhir ? 0 : cfg->slot_minutes, worker_now_s(w), b->start, msg,
                                   sizeof(msg));
    if (e) {
        result_fail(r, e == SW_ERR_REJECTED ? RES_REJECTED : RES_INVALID,
                    e == SW_ERR_REJECTED ? "booking_rule" : "bad_time", "%s", msg);
        return false;
    }
    if (b->hold_id && *b->hold_id) {
        struct fleet_hold h;
        e = store_hold_get(&w->store, b->hold_id, &h);
        if (e == SW_ERR_REDIS) {
            *err = e;
            return false;
        }
        if (!e && (strcmp(h.practitioner_id, b->practitioner_id) || h.start != b->start)) {
            result_fail(r, RES_INVALID, "hold_mismatch",
                        "The hold is for another practitioner or time.");
            return false;
        }
        if (!e && c->session_id[0] && h.session_id[0] && strcmp(h.session_id, c->session_id)) {
            result_fail(r, RES_INVALID, "hold_not_yours", "The hold belongs to another call.");
            return false;
        }
    }
    return true;
}

/* Books b (the protocol above).  n is the note so far (an earlier attempt's
 * on a takeover); on success r->appointments[0] is the appointment. */
static enum outcome book(struct worker *w, const struct command *c, const struct booking *b,
                         struct note *n, bool takeover, struct result *r)
{
    struct oe_call call = worker_call(w, c);
    char pract_lock[128], patient_lock[128];
    const char *locks[2] = {pract_lock, patient_lock};
    bool locked_pract = false, locked_patient = false;
    const char *code = NULL;
    struct oe_appt made;
    enum outcome done = OUTCOME_ANSWER;
    sw_err err = SW_OK;

    if (!takeover && !rules_hold_ok(w, c, b, r, &err))
        return worker_outcome(r, err);
    if (!key_lock_book_practitioner(pract_lock, sizeof(pract_lock), b->practitioner_id) ||
        !key_lock_book_patient(patient_lock, sizeof(patient_lock), b->patient_id))
        return worker_outcome(r, SW_ERR_INVALID); /* ids are at most 63 characters */
    err = worker_lock_wait(w, &call, pract_lock, LOCK_TTL_MS);
    locked_pract = !err;
    if (!err) {
        err = worker_lock_wait(w, &call, patient_lock, LOCK_TTL_MS);
        locked_patient = !err;
    }
    if (err == SW_ERR_EXPIRED) {
        result_fail(r, RES_UNAVAILABLE, "busy",
                    "Another booking for this practitioner is in progress; try again.");
        err = SW_OK;
    }
    if (err || r->status != RES_OK)
        goto out;

    /* Taking over an attempt that noted a number: did its write land? */
    if (n->confirmation[0]) {
        if (!earlier_write_settled(w)) {
            done = OUTCOME_RECONCILE; /* it may still land: look later */
            goto out;
        }
        err = emr_find_by_confirmation(&w->emr, &call, n->confirmation, b->patient_id,
                                       b->practitioner_id, b->start - DAY, b->start + DAY, &made);
        if (!err) {
            log_info("book", "completing an interrupted booking from OpenEMR");
            done = booked(w, b, &made, n->confirmation, r);
            goto out;
        }
        if (err != SW_ERR_NOT_FOUND) {
            done = OUTCOME_RECONCILE; /* cannot tell yet */
            err = SW_OK;
            goto out;
        }
        err = SW_OK; /* it did not land: book, with the same number */
    }
    bool is_mine = false;
    err = check_free(w, &call, c, b, &code, &made, &is_mine);
    if (err == SW_OK && is_mine) {
        log_info("book", "the booking exists already (an earlier attempt made it)");
        done = booked(w, b, &made, made.confirmation, r);
        goto out;
    }
    if (err == SW_OK || err == SW_ERR_CONFLICT)
        metrics_booking(err == SW_ERR_CONFLICT);
    if (err == SW_ERR_CONFLICT) {
        conflict(w, &call, c, b, r, code);
        err = SW_OK;
        goto out;
    }
    if (err) {
        if (err != SW_ERR_REDIS && err != SW_ERR_BUSY && err != SW_ERR_CAPPED) {
            worker_fail_emr(r, err, &call);
            err = SW_OK;
        }
        goto out;
    }
    if (!n->confirmation[0] &&
        (err = claim_number(w, c, n->confirmation, sizeof(n->confirmation))) != SW_OK) {
        n->confirmation[0] = '\0';
        goto out;
    }
    /* The number goes into the record before OpenEMR sees it. */
    if ((err = note_write(w, c, n)) != SW_OK)
        goto out;
    struct write_cover cover;
    struct oe_call wcall = worker_write_call(w, c, &cover, locks, 2);
    struct oe_new_appt req = {
        b->patient_id, b->practitioner_id, b->start, b->start + (int64_t)b->type->duration_min * 60,
        b->type,       n->confirmation,    b->reason};
    /* by slot first: a poll may list the row before OpenEMR answers */
    own_mark_slot(&w->store, OWN_MADE, b->practitioner_id, b->patient_id, b->start);
    err = emr_create(&w->emr, &wcall, &req, &made);
    if (!err) {
        own_mark_id(&w->store, OWN_MADE, made.id);
        done = booked(w, b, &made, n->confirmation, r);
        goto out;
    }
    if (err == SW_ERR_BUSY || err == SW_ERR_REDIS || err == SW_ERR_CAPPED)
        goto out; /* not sent: run again (or answer the cap) */
    if (worker_write_unapplied(err)) {
        worker_fail_emr(r, err, &wcall);
        err = SW_OK;
        goto out;
    }
    /* The request may have reached OpenEMR: look before answering. */
    sw_err again =
        emr_find_by_confirmation(&w->emr, &call, n->confirmation, b->patient_id, b->practitioner_id,
                                 b->start - DAY, b->start + DAY, &made);
    if (!again) {
        own_mark_id(&w->store, OWN_MADE, made.id);
        done = booked(w, b, &made, n->confirmation, r);
    } else {
        log_warn("book", "create of %s: %s, and not found yet: reconciling later", n->confirmation,
                 sw_err_str(err));
        done = OUTCOME_RECONCILE;
    }
    err = SW_OK;
out:
    if (locked_patient)
        store_unlock(&w->store, patient_lock, w->owner);
    if (locked_pract)
        store_unlock(&w->store, pract_lock, w->owner);
    return err ? worker_outcome(r, err) : done;
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
    struct note n;
    note_parse(note, &n);
    enum outcome o = book(w, c, &b, &n, note != NULL, r);
    if (o == OUTCOME_ANSWER && r->status == RES_OK)
        booked_event(w, c, r, x->patient_id, "appointment.booked", NULL, NULL);
    return o;
}

/* ---- reschedule --------------------------------------------------------------- */

/* Cancels the moved appointment under cover: SW_OK (also when it is gone
 * already), SW_ERR_BUSY (lease lost: not sent), or a failure. */
static sw_err cancel_old(struct worker *w, const struct command *c, const struct oe_appt *old,
                         const char *lock)
{
    struct write_cover cover;
    const char *locks[1] = {lock};
    struct oe_call call = worker_write_call(w, c, &cover, locks, 1);
    own_mark(&w->store, OWN_GONE, old);
    sw_err err = emr_cancel(&w->emr, &call, old->id, old->patient_id);
    return err == SW_ERR_NOT_FOUND ? SW_OK : err;
}

static enum outcome reschedule_locked(struct worker *w, const struct command *c, struct result *r,
                                      const char *note, const struct note *np, const char *lock);

enum outcome handle_reschedule(struct worker *w, const struct command *c, struct result *r,
                               const char *note)
{
    const struct cmd_reschedule *x = &c->u.reschedule;
    struct oe_call call = worker_call(w, c);
    struct note n;
    char lock[128];
    sw_err err;
    note_parse(note, &n);
    if (n.has_old) {
        /* taking over: the old one may be gone already */
        err = confirm_index_relock(w, &call, n.old.id, lock, sizeof(lock), r);
    } else {
        /* one change of it at a time, and is it still there? */
        err = confirm_index_find_locked(w, &call, x->confirmation_number, x->appointment_id,
                                        &x->who, &n.old, lock, sizeof(lock), r);
    }
    if (err)
        return err == SW_ERR_REDIS ? OUTCOME_RETRY : worker_outcome(r, err);
    enum outcome o = reschedule_locked(w, c, r, note, &n, lock);
    store_unlock(&w->store, lock, w->owner);
    return o;
}

/* The reschedule under its old appointment's lock (np->old: the appointment). */
static enum outcome reschedule_locked(struct worker *w, const struct command *c, struct result *r,
                                      const char *note, const struct note *np, const char *lock)
{
    const struct cmd_reschedule *x = &c->u.reschedule;
    struct note n = *np;
    struct oe_appt old = n.old;
    if (!n.has_old && old.status == OE_APPT_CANCELLED) {
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
    if (!n.has_old) {
        n.has_old = true;
        n.old = old;
    }
    struct booking b = {old.patient_id,
                        x->practitioner_id[0] ? x->practitioner_id : old.practitioner_id,
                        x->new_start,
                        type,
                        x->hold_id,
                        NULL,
                        &old};
    enum outcome o = book(w, c, &b, &n, note != NULL, r);
    if (o != OUTCOME_ANSWER || r->status != RES_OK)
        return o; /* the old appointment stays */
    snprintf(r->previous_appointment_id, sizeof(r->previous_appointment_id), "%s", old.id);
    /* The new one is booked: note it before the old one goes, so an attempt
     * taking over after the cancel answers with the new one. */
    n.moved = true;
    snprintf(n.made_id, sizeof(n.made_id), "%s", r->appointments[0].appointment_id);
    sw_err err = note_write(w, c, &n);
    if (!err)
        err = cancel_old(w, c, &old, lock);
    if (err == SW_ERR_BUSY || err == SW_ERR_REDIS)
        return OUTCOME_RETRY; /* the next attempt finds the new one and cancels the old */
    if (err) {
        const struct res_appointment *a = &r->appointments[0];
        if (!worker_write_unapplied(err))
            return OUTCOME_RECONCILE; /* was it cancelled?  a later attempt looks */
        log_error("book", "reschedule: new appointment %s made, old %s not cancelled: %s",
                  a->appointment_id, old.id, sw_err_str(err));
        result_fail(r, RES_ERROR, "previous_not_cancelled",
                    "The new appointment %s is booked (confirmation %s), but the old "
                    "appointment %s could not be cancelled; the clinic must cancel it.",
                    a->appointment_id, a->confirmation_number, old.id);
        return OUTCOME_ANSWER;
    }
    invalidate(w, old.practitioner_id, old.patient_id, old.start);
    booked_event(w, c, r, old.patient_id, "appointment.rescheduled", old.id, &old);
    return OUTCOME_ANSWER;
}
