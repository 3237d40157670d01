/* result.c - struct result -> the result JSON of the contract, and the
 * invalid result of a message that could not be parsed. */
#include "result.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

void result_init(struct result *r, const struct command *cmd)
{
    memset(r, 0, sizeof(*r));
    if (cmd) {
        r->type = cmd->type;
        snprintf(r->request_id, sizeof(r->request_id), "%s", cmd->request_id);
    }
}

void result_clear(struct result *r)
{
    free(r->matches);
    free(r->appointments);
    r->matches = NULL;
    r->appointments = NULL;
    r->n_matches = r->n_appointments = 0;
}

static void fail_v(struct result *r, enum res_status status, const char *code, const char *fmt,
                   va_list ap)
{
    r->status = status;
    snprintf(r->error_code, sizeof(r->error_code), "%s", code ? code : "");
    vsnprintf(r->error_message, sizeof(r->error_message), fmt, ap);
    cmd_text_trim_utf8(r->error_message);
}

void result_fail(struct result *r, enum res_status status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(r, status, code, fmt, ap);
    va_end(ap);
}

void result_fail_err(struct result *r, sw_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(r, sw_err_status(err), sw_err_str(err), fmt, ap);
    va_end(ap);
}

void format_time(int64_t epoch_s, char *buf, size_t len)
{
    if (timeutil_format_rfc3339(epoch_s, buf, len) != SW_OK)
        snprintf(buf, len, "invalid-time");
}

static json_t *time_json(int64_t epoch_s)
{
    char buf[40];
    format_time(epoch_s, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *time_ms_json(int64_t ms)
{
    char buf[48];
    format_time(ms / 1000, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *slot_json(const struct res_slot *s)
{
    return json_pack("{s:s, s:o, s:o, s:s, s:s}", "slot_id", s->slot_id, "start",
                     time_json(s->start), "end", time_json(s->end), "practitioner_id",
                     s->practitioner_id, "appointment_type", s->appointment_type);
}

static json_t *slots_json(const struct res_slot *slots, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, slot_json(&slots[i]));
    return a;
}

static json_t *appointment_json(const struct res_appointment *a)
{
    json_t *o =
        json_pack("{s:s, s:o, s:o, s:s, s:s, s:s}", "appointment_id", a->appointment_id, "start",
                  time_json(a->start), "end", time_json(a->end), "practitioner_id",
                  a->practitioner_id, "appointment_type", a->appointment_type, "status", a->status);
    /* Appointments made outside the worker have no confirmation number. */
    if (o && a->confirmation_number[0])
        json_object_set_new(o, "confirmation_number", json_string(a->confirmation_number));
    return o;
}

static json_t *ok_fields(const struct result *r)
{
    json_t *o = json_object();
    switch (r->type) {
    case CMD_SEARCH_SLOTS:
        json_object_set_new(o, "slots", slots_json(r->slots, r->n_slots));
        if (r->has_next_available)
            json_object_set_new(o, "next_available", slot_json(&r->next_available));
        if (r->stale)
            json_object_set_new(o, "stale", json_true());
        break;
    case CMD_FIND_PATIENT: {
        json_t *a = json_array();
        for (int i = 0; i < r->n_matches; i++) {
            const struct res_patient *m = &r->matches[i];
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "patient_id", m->patient_id,
                                               "given_name", m->given_name, "family_name",
                                               m->family_name, "birthdate", m->birthdate));
        }
        json_object_set_new(o, "matches", a);
        break;
    }
    case CMD_LIST_APPOINTMENTS: {
        json_t *a = json_array();
        for (int i = 0; i < r->n_appointments; i++)
            json_array_append_new(a, appointment_json(&r->appointments[i]));
        json_object_set_new(o, "appointments", a);
        break;
    }
    case CMD_HOLD:
        json_object_set_new(o, "hold_id", json_string(r->hold_id));
        json_object_set_new(o, "expires_at", time_ms_json(r->expires_at_ms));
        break;
    case CMD_RELEASE_HOLD:
        json_object_set_new(o, "hold_id", json_string(r->hold_id));
        break;
    case CMD_BOOK:
    case CMD_RESCHEDULE:
        if (r->n_appointments > 0) {
            const struct res_appointment *a = &r->appointments[0];
            json_object_set_new(o, "appointment_id", json_string(a->appointment_id));
            json_object_set_new(o, "confirmation_number", json_string(a->confirmation_number));
            json_object_set_new(o, "start", time_json(a->start));
            json_object_set_new(o, "end", time_json(a->end));
            json_object_set_new(o, "practitioner_id", json_string(a->practitioner_id));
        }
        if (r->type == CMD_RESCHEDULE)
            json_object_set_new(o, "previous_appointment_id",
                                json_string(r->previous_appointment_id));
        break;
    case CMD_CANCEL:
        json_object_set_new(o, "appointment_id", json_string(r->cancelled_appointment_id));
        json_object_set_new(o, "cancelled_at", time_ms_json(r->cancelled_at_ms));
        break;
    case CMD_JOIN_WAITLIST:
    case CMD_LEAVE_WAITLIST:
        json_object_set_new(o, "waitlist_id", json_string(r->waitlist_id));
        break;
    case CMD__COUNT:
        break;
    }
    return o;
}

char *result_serialize(const struct result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "request_id", json_string(r->request_id));
    json_object_set_new(o, "type", json_string(cmd_type_name(r->type)));
    json_object_set_new(o, "status", json_string(res_status_str(r->status)));
    if (r->status == RES_OK) {
        json_object_set_new(o, "result", ok_fields(r));
    } else {
        const char *code = r->error_code[0] ? r->error_code : res_status_str(r->status);
        const char *msg = r->error_message[0] ? r->error_message : res_status_str(r->status);
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", code, "message", msg));
        /* the contract: up to 3 other slots */
        if (r->status == RES_CONFLICT)
            json_object_set_new(o, "alternatives",
                                slots_json(r->slots, r->n_slots < 3 ? r->n_slots : 3));
    }
    json_object_set_new(o, "processed_at", time_ms_json(r->processed_at_ms));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

char *result_serialize_parse_error(const struct cmd_parse_error *err, int64_t now_ms)
{
    json_t *o = json_object();
    json_object_set_new(o, "request_id", json_string(err->request_id));
    enum cmd_type t;
    json_object_set_new(o, "type",
                        json_string(cmd_type_parse(err->type, &t) ? err->type : "unknown"));
    json_object_set_new(o, "status", json_string("invalid"));
    json_object_set_new(o, "error",
                        json_pack("{s:s, s:s}", "code", err->code, "message", err->message));
    json_object_set_new(o, "processed_at", time_ms_json(now_ms));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
