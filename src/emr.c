/* emr.c - the wrappers of the EHR function table (emr.h): each clears what
 * a call hands out, so every implementation (the real client, a test's
 * fake) starts from the same state. */
#include "emr.h"

#include <stdio.h>
#include <string.h>

static void call_start(struct oe_call *call)
{
    call->detail[0] = '\0';
    call->retry_after_s = 0;
}

sw_err emr_resolve(const struct emr *e, struct oe_call *call, enum id_kind kind, const char *raw,
                   char out[ID_MAX])
{
    char norm[ID_MAX];
    enum id_form form;
    call_start(call);
    out[0] = '\0';
    sw_err err = ids_normalize(kind, raw, norm, &form);
    return err ? err : e->ops->resolve(e->ctx, call, kind, norm, form, out);
}

sw_err emr_find_patients(const struct emr *e, struct oe_call *call, const char *phone,
                         const char *birthdate, struct oe_patient **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return e->ops->find_patients(e->ctx, call, phone, birthdate, out, n);
}

sw_err emr_list_range(const struct emr *e, struct oe_call *call, const char *practitioner_id,
                      int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return e->ops->list_range(e->ctx, call, practitioner_id, from, to, out, n);
}

sw_err emr_list_patient(const struct emr *e, struct oe_call *call, const char *patient_id,
                        int64_t from, int64_t to, struct oe_appt **out, size_t *n)
{
    call_start(call);
    *out = NULL;
    *n = 0;
    return e->ops->list_patient(e->ctx, call, patient_id, from, to, out, n);
}

sw_err emr_free_slots(const struct emr *e, struct oe_call *call, const char *practitioner_id,
                      int64_t from, int64_t to, bool *has_slots, struct oe_interval **out,
                      size_t *n)
{
    call_start(call);
    *has_slots = false;
    *out = NULL;
    *n = 0;
    return e->ops->free_slots(e->ctx, call, practitioner_id, from, to, has_slots, out, n);
}

sw_err emr_create(const struct emr *e, struct oe_call *call, const struct oe_new_appt *req,
                  struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    return e->ops->create(e->ctx, call, req, out);
}

sw_err emr_cancel(const struct emr *e, struct oe_call *call, const char *appointment_id,
                  const char *patient_id)
{
    call_start(call);
    return e->ops->cancel(e->ctx, call, appointment_id, patient_id);
}

sw_err emr_get(const struct emr *e, struct oe_call *call, const char *appointment_id,
               struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    return e->ops->get(e->ctx, call, appointment_id, out);
}

sw_err emr_find_by_confirmation(const struct emr *e, struct oe_call *call, const char *confirmation,
                                const char *patient_id, const char *practitioner_id, int64_t from,
                                int64_t to, struct oe_appt *out)
{
    call_start(call);
    memset(out, 0, sizeof(*out));
    return e->ops->find_by_confirmation(e->ctx, call, confirmation, patient_id, practitioner_id,
                                        from, to, out);
}

sw_err emr_list_practitioners(const struct emr *e, struct oe_call *call, char (**ids)[64],
                              size_t *n)
{
    call_start(call);
    *ids = NULL;
    *n = 0;
    return e->ops->list_practitioners(e->ctx, call, ids, n);
}

/* ---- appointments as JSON (notes) ---------------------------------------- */

json_t *emr_appt_json(const struct oe_appt *a)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s}", "id", a->id, "patient_id",
                     a->patient_id, "practitioner_id", a->practitioner_id, "start",
                     (json_int_t)a->start, "end", (json_int_t)a->end, "category", a->category,
                     "type", a->appointment_type, "confirmation", a->confirmation);
}

bool emr_appt_parse(json_t *o, struct oe_appt *a)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *pt = json_string_value(json_object_get(o, "patient_id"));
    const char *pr = json_string_value(json_object_get(o, "practitioner_id"));
    if (!id || !pt || !pr)
        return false;
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->patient_id, sizeof(a->patient_id), "%s", pt);
    snprintf(a->practitioner_id, sizeof(a->practitioner_id), "%s", pr);
    a->start = json_integer_value(json_object_get(o, "start"));
    a->end = json_integer_value(json_object_get(o, "end"));
    a->category = (int)json_integer_value(json_object_get(o, "category"));
    const char *t = json_string_value(json_object_get(o, "type"));
    const char *cf = json_string_value(json_object_get(o, "confirmation"));
    snprintf(a->appointment_type, sizeof(a->appointment_type), "%s", t ? t : "");
    snprintf(a->confirmation, sizeof(a->confirmation), "%s", cf ? cf : "");
    a->status = OE_APPT_BOOKED;
    return true;
}
