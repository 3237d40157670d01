/* fake_emr.c - the in-memory EHR of fake.h: a calendar that, like OpenEMR,
 * checks no overlap. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define CTX(ctx) ((struct fake_emr *)(ctx))

/* Counts the call; *after says whether the failure comes after the work. */
static sw_err fault_of(struct fake_emr *fe, enum fake_emr_op op, bool *after)
{
    fe->calls[op]++;
    struct fake_fault *f = &fe->fault[op];
    *after = false;
    if (f->err == SW_OK)
        return SW_OK;
    if (f->at > 1) {
        f->at--;
        return SW_OK;
    }
    sw_err err = f->err;
    *after = f->after;
    if (!f->sticky)
        f->err = SW_OK;
    return err;
}

static bool overlaps(const struct oe_appt *a, int64_t from, int64_t to)
{
    if (!from && !to)
        return true;
    return a->start < to && (a->end > a->start ? a->end : a->start + 1) > from;
}

static void digits_of(const char *s, char *out, size_t len)
{
    size_t j = 0;
    for (; s && *s && j + 1 < len; s++)
        if (isdigit((unsigned char)*s))
            out[j++] = *s;
    out[j] = '\0';
}

/* A copy of the rows that pass keep(), malloc'd. */
static sw_err rows(struct fake_emr *fe, const char *pract, const char *patient, int64_t from,
                   int64_t to, struct oe_appt **out, size_t *n)
{
    *out = calloc(fe->n_appts ? fe->n_appts : 1, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (size_t i = 0; i < fe->n_appts; i++) {
        const struct oe_appt *a = &fe->appts[i];
        if (pract && strcmp(a->practitioner_id, pract))
            continue;
        if (patient && strcmp(a->patient_id, patient))
            continue;
        if (overlaps(a, from, to))
            (*out)[(*n)++] = *a;
    }
    return SW_OK;
}

static sw_err e_resolve(void *ctx, struct oe_call *call, enum id_kind kind, const char *id,
                        enum id_form form, char out[ID_MAX])
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    sw_err err = fault_of(fe, FE_RESOLVE, &after);
    if (err)
        return err;
    if (form != ID_FORM_NUMERIC) {
        snprintf(out, ID_MAX, "%s", id);
        return SW_OK;
    }
    if (call->offline)
        return SW_ERR_BUSY; /* as oe_send: no look before admission */
    call->requests++;       /* a number costs OpenEMR a look */
    for (size_t i = 0; i < fe->n_aliases; i++)
        if (fe->aliases[i].kind == kind && !strcmp(fe->aliases[i].number, id)) {
            snprintf(out, ID_MAX, "%s", fe->aliases[i].id);
            return SW_OK;
        }
    return SW_ERR_NOT_FOUND;
}

static sw_err e_find_patients(void *ctx, struct oe_call *call, const char *phone,
                              const char *birthdate, struct oe_patient **out, size_t *n)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_FIND_PATIENTS, &after);
    if (err)
        return err;
    char want[32];
    digits_of(phone, want, sizeof(want));
    *out = calloc(fe->n_patients ? fe->n_patients : 1, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (size_t i = 0; i < fe->n_patients; i++)
        if (!strcmp(fe->patients[i].phone_digits, want) &&
            !strcmp(fe->patients[i].p.birthdate, birthdate))
            (*out)[(*n)++] = fe->patients[i].p;
    return SW_OK;
}

static sw_err e_list_range(void *ctx, struct oe_call *call, const char *pract, int64_t from,
                           int64_t to, struct oe_appt **out, size_t *n)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_LIST_RANGE, &after);
    return err ? err : rows(fe, pract, NULL, from, to, out, n);
}

static sw_err e_list_patient(void *ctx, struct oe_call *call, const char *patient, int64_t from,
                             int64_t to, struct oe_appt **out, size_t *n)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_LIST_PATIENT, &after);
    return err ? err : rows(fe, NULL, patient, from, to, out, n);
}

static sw_err e_free_slots(void *ctx, struct oe_call *call, const char *pract, int64_t from,
                           int64_t to, bool *has_slots, struct oe_interval **out, size_t *n)
{
    (void)pract;
    struct fake_emr *fe = CTX(ctx);
    bool after;
    if (!fe->has_server_slots)
        return SW_OK; /* no request: the real surface has no free-slot API */
    call->requests++;
    sw_err err = fault_of(fe, FE_FREE_SLOTS, &after);
    if (err)
        return err;
    *has_slots = true;
    *out = calloc(fe->n_server_free ? fe->n_server_free : 1, sizeof(**out));
    if (!*out)
        return SW_ERR_NOMEM;
    for (size_t i = 0; i < fe->n_server_free; i++)
        if (fe->server_free[i].start < to && fe->server_free[i].end > from)
            (*out)[(*n)++] = fe->server_free[i];
    return SW_OK;
}

static sw_err e_create(void *ctx, struct oe_call *call, const struct oe_new_appt *req,
                       struct oe_appt *out)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    sw_err err;
    /* like the real client: a write goes out only while its cover holds */
    if (call->before_send && (err = call->before_send(call->before_send_ctx)) != SW_OK)
        return err;
    call->requests++;
    err = fault_of(fe, FE_CREATE, &after);
    if (err && !after)
        return err;
    struct oe_appt *a = fake_emr_add(fe, req->patient_id, req->practitioner_id, req->start,
                                     req->end, req->type->category, false);
    if (!a)
        return SW_ERR_NOMEM;
    snprintf(a->confirmation, sizeof(a->confirmation), "%s", req->confirmation);
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", req->type->name);
    if (err)
        return err; /* it landed, but the answer was lost */
    *out = *a;
    return SW_OK;
}

static sw_err e_cancel(void *ctx, struct oe_call *call, const char *id, const char *patient)
{
    (void)patient;
    struct fake_emr *fe = CTX(ctx);
    bool after;
    sw_err err;
    if (call->before_send && (err = call->before_send(call->before_send_ctx)) != SW_OK)
        return err;
    call->requests++;
    err = fault_of(fe, FE_CANCEL, &after);
    if (err && !after)
        return err;
    struct oe_appt *a = fake_emr_find(fe, id);
    if (!a)
        return err ? err : SW_ERR_NOT_FOUND;
    if (fe->cancel_deletes)
        *a = fe->appts[--fe->n_appts];
    else
        a->status = OE_APPT_CANCELLED;
    return err;
}

static sw_err e_get(void *ctx, struct oe_call *call, const char *id, struct oe_appt *out)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_GET, &after);
    if (err)
        return err;
    struct oe_appt *a = fake_emr_find(fe, id);
    if (!a)
        return SW_ERR_NOT_FOUND;
    *out = *a;
    return SW_OK;
}

static sw_err e_find_confirmation(void *ctx, struct oe_call *call, const char *confirmation,
                                  const char *patient, const char *pract, int64_t from, int64_t to,
                                  struct oe_appt *out)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_FIND_CONFIRMATION, &after);
    if (err)
        return err;
    for (size_t i = 0; i < fe->n_appts; i++) {
        const struct oe_appt *a = &fe->appts[i];
        if ((!pract || !strcmp(a->practitioner_id, pract)) &&
            (!patient || !strcmp(a->patient_id, patient)) && overlaps(a, from, to) &&
            !strcmp(a->confirmation, confirmation)) {
            *out = *a;
            return SW_OK;
        }
    }
    return SW_ERR_NOT_FOUND;
}

static sw_err e_list_practitioners(void *ctx, struct oe_call *call, char (**ids)[64], size_t *n)
{
    struct fake_emr *fe = CTX(ctx);
    bool after;
    call->requests++;
    sw_err err = fault_of(fe, FE_LIST_PRACTITIONERS, &after);
    if (err)
        return err;
    *ids = calloc(fe->n_practitioners ? fe->n_practitioners : 1, sizeof(**ids));
    if (!*ids)
        return SW_ERR_NOMEM;
    memcpy(*ids, fe->practitioners, fe->n_practitioners * sizeof(**ids));
    *n = fe->n_practitioners;
    return SW_OK;
}

static const struct emr_ops fake_ops = {
    .resolve = e_resolve,
    .find_patients = e_find_patients,
    .list_range = e_list_range,
    .list_patient = e_list_patient,
    .free_slots = e_free_slots,
    .create = e_create,
    .cancel = e_cancel,
    .get = e_get,
    .find_by_confirmation = e_find_confirmation,
    .list_practitioners = e_list_practitioners,
};

void fake_emr_init(struct fake_emr *fe)
{
    memset(fe, 0, sizeof(*fe));
    fe->emr = (struct emr){&fake_ops, fe};
    fe->cancel_deletes = true;
}

void fake_emr_fail(struct fake_emr *fe, enum fake_emr_op op, sw_err err, int at, bool sticky,
                   bool after)
{
    fe->fault[op] = (struct fake_fault){err, at < 1 ? 1 : at, sticky, after};
}

struct oe_appt *fake_emr_add(struct fake_emr *fe, const char *patient_id, const char *pract,
                             int64_t start, int64_t end, int category, bool provider_event)
{
    if (fe->n_appts == FAKE_MAX)
        return NULL;
    struct oe_appt *a = &fe->appts[fe->n_appts++];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%d", 1000 + ++fe->next_id);
    snprintf(a->patient_id, sizeof(a->patient_id), "%s", patient_id ? patient_id : "");
    snprintf(a->practitioner_id, sizeof(a->practitioner_id), "%s", pract);
    a->start = start;
    a->end = end;
    a->category = category;
    a->provider_event = provider_event;
    a->status = OE_APPT_BOOKED;
    return a;
}

void fake_emr_add_patient(struct fake_emr *fe, const char *id, const char *given,
                          const char *family, const char *birthdate, const char *phone)
{
    struct fake_patient *p = &fe->patients[fe->n_patients++];
    memset(p, 0, sizeof(*p));
    snprintf(p->p.id, sizeof(p->p.id), "%s", id);
    snprintf(p->p.given, sizeof(p->p.given), "%s", given);
    snprintf(p->p.family, sizeof(p->p.family), "%s", family);
    snprintf(p->p.birthdate, sizeof(p->p.birthdate), "%s", birthdate);
    digits_of(phone, p->phone_digits, sizeof(p->phone_digits));
}

void fake_emr_alias(struct fake_emr *fe, enum id_kind kind, const char *number, const char *id)
{
    fe->aliases[fe->n_aliases].kind = kind;
    snprintf(fe->aliases[fe->n_aliases].number, sizeof(fe->aliases[0].number), "%s", number);
    snprintf(fe->aliases[fe->n_aliases].id, ID_MAX, "%s", id);
    fe->n_aliases++;
}

void fake_emr_add_practitioner(struct fake_emr *fe, const char *id)
{
    snprintf(fe->practitioners[fe->n_practitioners++], 64, "%s", id);
}

size_t fake_emr_live(const struct fake_emr *fe, const char *pract, int64_t from, int64_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < fe->n_appts; i++) {
        const struct oe_appt *a = &fe->appts[i];
        if (!a->provider_event && a->status == OE_APPT_BOOKED &&
            !strcmp(a->practitioner_id, pract) && overlaps(a, from, to))
            n++;
    }
    return n;
}

struct oe_appt *fake_emr_find(struct fake_emr *fe, const char *id)
{
    for (size_t i = 0; i < fe->n_appts; i++)
        if (!strcmp(fe->appts[i].id, id))
            return &fe->appts[i];
    return NULL;
}

int fake_emr_total_calls(const struct fake_emr *fe)
{
    int n = 0;
    for (int i = 0; i < FE__COUNT; i++)
        n += fe->calls[i];
    return n;
}
