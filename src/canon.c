/* canon.c - canonical ids of a command (canon.h). */
#include "canon.h"

#include <stdio.h>
#include <string.h>

_Static_assert(CMD_REF_MAX == ID_MAX, "command ids are canonicalised in place");

sw_err canon_id(const struct worker *w, struct oe_call *call, enum id_kind kind, const char *field,
                char id[ID_MAX], struct result *r)
{
    char out[ID_MAX];
    sw_err err = emr_resolve(&w->emr, call, kind, id, out);
    switch (err) {
    case SW_OK:
        memcpy(id, out, ID_MAX);
        return SW_OK;
    case SW_ERR_INVALID:
        result_fail(r, RES_INVALID, "bad_id", "%s is not a %s id the worker accepts.", field,
                    ids_kind_name(kind));
        return err;
    case SW_ERR_NOT_FOUND:
        result_fail(r, RES_NOT_FOUND,
                    kind == ID_PATIENT ? "unknown_patient" : "unknown_practitioner",
                    "No %s has that %s; use the id find_patient or a search returned.",
                    ids_kind_name(kind), field);
        return err;
    default:
        if (err != SW_ERR_REDIS && !(err == SW_ERR_BUSY && call->offline))
            worker_fail_emr(r, err, call);
        return err;
    }
}

/* A read that returns a patient's appointments (list_appointments, a
 * search leaving out the patient's busy times) takes no numeric pid: pids
 * are counted 1, 2, 3..., so walking them would read every patient's
 * calendar; the patient_id find_patient returns (a uuid) cannot be guessed.
 * Writes accept the number OpenEMR's screens show. */
static sw_err no_number(const char *field, const char *id, struct result *r)
{
    char norm[ID_MAX];
    enum id_form form;
    if (ids_normalize(ID_PATIENT, id, norm, &form) == SW_OK && form == ID_FORM_NUMERIC) {
        result_fail(r, RES_INVALID, "numeric_patient_id",
                    "%s must be the patient_id find_patient returned, not a number.", field);
        return SW_ERR_INVALID;
    }
    return SW_OK;
}

/* An optional id: "" stays "". */
static sw_err opt(const struct worker *w, struct oe_call *call, enum id_kind kind,
                  const char *field, char id[ID_MAX], struct result *r)
{
    return id[0] ? canon_id(w, call, kind, field, id, r) : SW_OK;
}

sw_err canon_command(const struct worker *w, struct oe_call *call, struct command *c,
                     struct result *r)
{
    sw_err err = SW_OK;
    switch (c->type) {
    case CMD_SEARCH_SLOTS:
        for (int i = 0; i < c->u.search.n_practitioners && !err; i++)
            err = canon_id(w, call, ID_PRACTITIONER, "practitioner_id",
                           c->u.search.practitioners[i], r);
        if (!err && c->u.search.patient_id[0])
            err = no_number("patient_id", c->u.search.patient_id, r);
        if (!err)
            err = opt(w, call, ID_PATIENT, "patient_id", c->u.search.patient_id, r);
        /* the same practitioner named twice is searched once */
        for (int i = 0; i < c->u.search.n_practitioners && !err; i++)
            for (int k = i + 1; k < c->u.search.n_practitioners; k++)
                if (!strcmp(c->u.search.practitioners[i], c->u.search.practitioners[k])) {
                    memmove(c->u.search.practitioners[k], c->u.search.practitioners[k + 1],
                            (size_t)(c->u.search.n_practitioners - k - 1) * ID_MAX);
                    c->u.search.n_practitioners--;
                    k--;
                }
        break;
    case CMD_LIST_APPOINTMENTS:
        err = no_number("patient_id", c->u.list.patient_id, r);
        if (!err)
            err = canon_id(w, call, ID_PATIENT, "patient_id", c->u.list.patient_id, r);
        break;
    case CMD_HOLD:
        err = opt(w, call, ID_PRACTITIONER, "practitioner_id", c->u.hold.practitioner_id, r);
        if (!err)
            err = opt(w, call, ID_PATIENT, "patient_id", c->u.hold.patient_id, r);
        break;
    case CMD_BOOK:
        err = canon_id(w, call, ID_PATIENT, "patient_id", c->u.book.patient_id, r);
        if (!err)
            err =
                canon_id(w, call, ID_PRACTITIONER, "practitioner_id", c->u.book.practitioner_id, r);
        break;
    case CMD_CANCEL:
        err = opt(w, call, ID_PATIENT, "patient_id", c->u.cancel.who.patient_id, r);
        break;
    case CMD_RESCHEDULE:
        err = opt(w, call, ID_PRACTITIONER, "practitioner_id", c->u.reschedule.practitioner_id, r);
        if (!err)
            err = opt(w, call, ID_PATIENT, "patient_id", c->u.reschedule.who.patient_id, r);
        break;
    case CMD_JOIN_WAITLIST:
        err = canon_id(w, call, ID_PATIENT, "patient_id", c->u.join.patient_id, r);
        if (!err)
            err = opt(w, call, ID_PRACTITIONER, "practitioner_id", c->u.join.practitioner_id, r);
        break;
    case CMD_FIND_PATIENT:
    case CMD_RELEASE_HOLD:
    case CMD_LEAVE_WAITLIST:
    case CMD__COUNT:
        break;
    }
    return err;
}
