/* command.c - command envelope and payload parsing; result serialization. */
#include "command.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

static const struct {
    const char *name;
    enum cmd_topic topic;
    bool write;
} types[CMD__COUNT] = {
    [CMD_SEARCH_SLOTS] = {"search_slots", CMD_TOPIC_SEARCH, false},
    [CMD_FIND_PATIENT] = {"find_patient", CMD_TOPIC_SEARCH, false},
    [CMD_LIST_APPOINTMENTS] = {"list_appointments", CMD_TOPIC_SEARCH, false},
    [CMD_HOLD] = {"hold", CMD_TOPIC_BOOK, true},
    [CMD_RELEASE_HOLD] = {"release_hold", CMD_TOPIC_BOOK, true},
    [CMD_BOOK] = {"book", CMD_TOPIC_BOOK, true},
    [CMD_RESCHEDULE] = {"reschedule", CMD_TOPIC_BOOK, true},
    [CMD_JOIN_WAITLIST] = {"join_waitlist", CMD_TOPIC_BOOK, true},
    [CMD_CANCEL] = {"cancel", CMD_TOPIC_CANCEL, true},
    [CMD_LEAVE_WAITLIST] = {"leave_waitlist", CMD_TOPIC_CANCEL, true},
};

const char *cmd_type_name(enum cmd_type t)
{
    return (unsigned)t < CMD__COUNT ? types[t].name : "unknown";
}

bool cmd_type_parse(const char *name, enum cmd_type *out)
{
    for (int i = 0; i < CMD__COUNT; i++) {
        if (!strcmp(types[i].name, name)) {
            *out = (enum cmd_type)i;
            return true;
        }
    }
    return false;
}

enum cmd_topic cmd_type_topic(enum cmd_type t)
{
    return types[t].topic;
}

bool cmd_type_is_write(enum cmd_type t)
{
    return types[t].write;
}

/* snprintf cuts at a byte count and may split a UTF-8 character; jansson
 * then refuses the string and the error object would vanish from the
 * result.  Drops a trailing incomplete sequence. */
static void utf8_trim_tail(char *s)
{
    size_t n = strlen(s), lead = n;
    int back = 0;
    while (lead > 0 && back < 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80) {
        lead--;
        back++;
    }
    if (lead == 0)
        return;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (want > 1 && n - (lead - 1) < want)
        s[lead - 1] = '\0';
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
    json_t *obj;       /* the object being read (envelope or payload) */
    const char *where; /* "" or "payload." for messages */
    struct cmd_parse_error *err;
};

static bool fail(struct parser *p, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct parser *p, const char *code, const char *fmt, ...)
{
    snprintf(p->err->code, sizeof(p->err->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
    va_end(ap);
    utf8_trim_tail(p->err->message);
    return false;
}

/* A string field of 1..cap-1 bytes (no NUL inside) copied into out. */
static bool get_str(struct parser *p, const char *key, bool required, char *out, size_t cap)
{
    json_t *v = json_object_get(p->obj, key);
    out[0] = '\0';
    if (!v || json_is_null(v)) {
        if (required)
            return fail(p, "missing_field", "%s%s is required", p->where, key);
        return true;
    }
    if (!json_is_string(v))
        return fail(p, "bad_type", "%s%s must be a string", p->where, key);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0)
        return fail(p, "bad_value", "%s%s must not be empty", p->where, key);
    if (n >= cap)
        return fail(p, "too_long", "%s%s is longer than %zu characters", p->where, key, cap - 1);
    if (memchr(s, '\0', n))
        return fail(p, "bad_value", "%s%s contains a NUL character", p->where, key);
    memcpy(out, s, n + 1);
    return true;
}

static bool get_time(struct parser *p, const char *key, bool required, int64_t *out)
{
    char buf[64];
    *out = 0;
    if (!get_str(p, key, required, buf, sizeof(buf)))
        return false;
    if (!buf[0])
        return true;
    if (timeutil_parse_rfc3339(buf, out) != SW_OK)
        return fail(p, "bad_time", "%s%s must be an RFC 3339 time with an offset, got \"%s\"",
                    p->where, key, buf);
    return true;
}

static bool get_int(struct parser *p, const char *key, int lo, int hi, int *out)
{
    json_t *v = json_object_get(p->obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v))
        return fail(p, "bad_type", "%s%s must be an integer", p->where, key);
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return fail(p, "bad_value", "%s%s must be from %d to %d", p->where, key, lo, hi);
    *out = (int)n;
    return true;
}

/* The fields a payload may carry, per type: anything else is an error, so
 * that a typo ("patientId") is not silently ignored. */
static const char *const allowed[CMD__COUNT][8] = {
    [CMD_SEARCH_SLOTS] = {"appointment_type", "from", "to", "practitioner_id", "patient_id",
                          "limit"},
    [CMD_FIND_PATIENT] = {"phone", "birthdate", "name"},
    [CMD_LIST_APPOINTMENTS] = {"patient_id", "from", "to"},
    [CMD_HOLD] = {"slot_id", "practitioner_id", "start", "appointment_type", "patient_id",
                  "ttl_seconds"},
    [CMD_RELEASE_HOLD] = {"hold_id"},
    [CMD_BOOK] = {"patient_id", "practitioner_id", "start", "appointment_type", "hold_id",
                  "reason"},
    [CMD_RESCHEDULE] = {"confirmation_number", "appointment_id", "new_start", "practitioner_id",
                        "hold_id"},
    [CMD_JOIN_WAITLIST] = {"patient_id", "appointment_type", "earliest", "latest",
                           "practitioner_id"},
    [CMD_CANCEL] = {"confirmation_number", "appointment_id", "patient_id", "reason"},
    [CMD_LEAVE_WAITLIST] = {"waitlist_id"},
};

static bool check_keys(struct parser *p, enum cmd_type t)
{
    const char *key;
    json_t *v;
    json_object_foreach(p->obj, key, v)
    {
        bool known = false;
        for (int i = 0; i < 8 && allowed[t][i]; i++)
            known |= !strcmp(allowed[t][i], key);
        if (!known)
            return fail(p, "unknown_field", "%s%s is not a field of %s", p->where, key,
                        types[t].name);
    }
    return true;
}

static bool check_range(struct parser *p, int64_t from, int64_t to, const char *a, const char *b)
{
    if (from && to && to <= from)
        return fail(p, "bad_range", "%s%s must be after %s%s", p->where, b, p->where, a);
    return true;
}

static bool parse_search(struct parser *p, struct cmd_search_slots *s)
{
    if (!get_str(p, "appointment_type", true, s->appointment_type, sizeof(s->appointment_type)) ||
        !get_time(p, "from", true, &s->from) || !get_time(p, "to", true, &s->to) ||
        !check_range(p, s->from, s->to, "from", "to") ||
        !get_str(p, "patient_id", false, s->patient_id, sizeof(s->patient_id)) ||
        !get_int(p, "limit", 1, CMD_MAX_SLOTS, &s->limit))
        return false;
    json_t *pr = json_object_get(p->obj, "practitioner_id");
    if (json_is_array(pr)) {
        size_t i;
        json_t *v;
        if (json_array_size(pr) == 0)
            return fail(p, "bad_value", "%spractitioner_id must name at least one practitioner",
                        p->where);
        if (json_array_size(pr) > CMD_MAX_PRACTITIONERS)
            return fail(p, "too_many", "%spractitioner_id lists more than %d practitioners",
                        p->where, CMD_MAX_PRACTITIONERS);
        json_array_foreach(pr, i, v)
        {
            size_t n = json_string_length(v);
            if (!json_is_string(v) || n == 0 || n >= CMD_REF_MAX)
                return fail(p, "bad_type", "%spractitioner_id[%zu] must be a non-empty string",
                            p->where, i);
            memcpy(s->practitioners[s->n_practitioners++], json_string_value(v), n + 1);
        }
    } else {
        if (!get_str(p, "practitioner_id", false, s->practitioners[0], CMD_REF_MAX))
            return false;
        s->n_practitioners = s->practitioners[0][0] ? 1 : 0;
    }
    return true;
}

/* Read aloud and typed in by people: letters, digits, spaces, dashes. */
static bool get_confirmation(struct parser *p, char *out, size_t cap)
{
    if (!get_str(p, "confirmation_number", false, out, cap))
        return false;
    for (const char *c = out; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -", *c))
            return fail(p, "bad_value",
                        "%sconfirmation_number may hold only letters, digits, spaces and dashes",
                        p->where);
    return true;
}

static bool parse_find(struct parser *p, struct cmd_find_patient *f)
{
    if (!get_str(p, "phone", true, f->phone, sizeof(f->phone)) ||
        !get_str(p, "birthdate", true, f->birthdate, sizeof(f->birthdate)) ||
        !get_str(p, "name", false, f->name, sizeof(f->name)))
        return false;
    int digits = 0;
    for (const char *c = f->phone; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digits++;
        else if (!strchr("+-. ()", *c))
            return fail(p, "bad_value", "%sphone may hold only digits, spaces and + - . ( )",
                        p->where);
    }
    if (digits < 7 || digits > 15)
        return fail(p, "bad_value", "%sphone must have 7 to 15 digits", p->where);
    struct tu_date bd;
    if (timeutil_parse_date(f->birthdate, &bd) != SW_OK)
        return fail(p, "bad_date", "%sbirthdate must be a real date YYYY-MM-DD", p->where);
    return true;
}

static bool parse_payload(struct parser *p, struct command *c)
{
    if (!check_keys(p, c->type))
        return false;
    switch (c->type) {
    case CMD_SEARCH_SLOTS:
        return parse_search(p, &c->u.search);
    case CMD_FIND_PATIENT:
        return parse_find(p, &c->u.find);
    case CMD_LIST_APPOINTMENTS: {
        struct cmd_list_appointments *l = &c->u.list;
        return get_str(p, "patient_id", true, l->patient_id, sizeof(l->patient_id)) &&
               get_time(p, "from", false, &l->from) && get_time(p, "to", false, &l->to) &&
               check_range(p, l->from, l->to, "from", "to");
    }
    case CMD_HOLD: {
        struct cmd_hold *h = &c->u.hold;
        if (!get_str(p, "slot_id", false, h->slot_id, sizeof(h->slot_id)) ||
            !get_str(p, "practitioner_id", false, h->practitioner_id, sizeof(h->practitioner_id)) ||
            !get_time(p, "start", false, &h->start) ||
            !get_str(p, "appointment_type", false, h->appointment_type,
                     sizeof(h->appointment_type)) ||
            !get_str(p, "patient_id", false, h->patient_id, sizeof(h->patient_id)) ||
            !get_int(p, "ttl_seconds", 1, 86400, &h->ttl_seconds))
            return false;
        if (!h->slot_id[0] && (!h->practitioner_id[0] || !h->start || !h->appointment_type[0]))
            return fail(p, "missing_field",
                        "%sslot_id, or practitioner_id with start and appointment_type, is "
                        "required",
                        p->where);
        return true;
    }
    case CMD_RELEASE_HOLD:
        return get_str(p, "hold_id", true, c->u.hold_id, sizeof(c->u.hold_id));
    case CMD_BOOK: {
        struct cmd_book *b = &c->u.book;
        return get_str(p, "patient_id", true, b->patient_id, sizeof(b->patient_id)) &&
               get_str(p, "practitioner_id", true, b->practitioner_id,
                       sizeof(b->practitioner_id)) &&
               get_time(p, "start", true, &b->start) &&
               get_str(p, "appointment_type", true, b->appointment_type,
                       sizeof(b->appointment_type)) &&
               get_str(p, "hold_id", false, b->hold_id, sizeof(b->hold_id)) &&
               get_str(p, "reason", false, b->reason, sizeof(b->reason));
    }
    case CMD_CANCEL: {
        struct cmd_cancel *x = &c->u.cancel;
        if (!get_confirmation(p, x->confirmation_number, sizeof(x->confirmation_number)) ||
            !get_str(p, "appointment_id", false, x->appointment_id, sizeof(x->appointment_id)) ||
            !get_str(p, "patient_id", false, x->patient_id, sizeof(x->patient_id)) ||
            !get_str(p, "reason", false, x->reason, sizeof(x->reason)))
            return false;
        if (!x->confirmation_number[0] && !x->appointment_id[0])
            return fail(p, "missing_field", "%sconfirmation_number or appointment_id is required",
                        p->where);
        return true;
    }
    case CMD_RESCHEDULE: {
        struct cmd_reschedule *r = &c->u.reschedule;
        if (!get_confirmation(p, r->confirmation_number, sizeof(r->confirmation_number)) ||
            !get_str(p, "appointment_id", false, r->appointment_id, sizeof(r->appointment_id)) ||
            !get_time(p, "new_start", true, &r->new_start) ||
            !get_str(p, "practitioner_id", false, r->practitioner_id, sizeof(r->practitioner_id)) ||
            !get_str(p, "hold_id", false, r->hold_id, sizeof(r->hold_id)))
            return false;
        if (!r->confirmation_number[0] && !r->appointment_id[0])
            return fail(p, "missing_field", "%sconfirmation_number or appointment_id is required",
                        p->where);
        return true;
    }
    case CMD_JOIN_WAITLIST: {
        struct cmd_join_waitlist *j = &c->u.join;
        return get_str(p, "patient_id", true, j->patient_id, sizeof(j->patient_id)) &&
               get_str(p, "appointment_type", true, j->appointment_type,
                       sizeof(j->appointment_type)) &&
               get_time(p, "earliest", true, &j->earliest) &&
               get_time(p, "latest", true, &j->latest) &&
               check_range(p, j->earliest, j->latest, "earliest", "latest") &&
               get_str(p, "practitioner_id", false, j->practitioner_id, sizeof(j->practitioner_id));
    }
    case CMD_LEAVE_WAITLIST:
        return get_str(p, "waitlist_id", true, c->u.waitlist_id, sizeof(c->u.waitlist_id));
    case CMD__COUNT:
        break;
    }
    return fail(p, "unknown_type", "unknown command type");
}

/* Kafka topic names: [A-Za-z0-9._-] (empty: none given). */
static bool topic_name_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] ||
            !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            return false;
    return true;
}

static const char *const envelope_keys[] = {"type",     "request_id", "session_id",
                                            "reply_to", "deadline",   "payload"};

sw_err command_parse(const char *bytes, size_t len, struct command *cmd,
                     struct cmd_parse_error *err)
{
    json_error_t jerr;
    memset(cmd, 0, sizeof(*cmd));
    memset(err, 0, sizeof(*err));
    struct parser p = {NULL, "", err};

    json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(&p, "bad_json", "not valid JSON: %s (at byte %d)", jerr.text, jerr.position);
        return SW_ERR_INVALID;
    }
    bool ok = false;
    p.obj = root;
    if (!json_is_object(root)) {
        fail(&p, "bad_json", "a command must be a JSON object");
        goto out;
    }
    /* What can be read for an invalid result, before anything can fail. */
    json_t *rid = json_object_get(root, "request_id");
    if (json_is_string(rid) && json_string_length(rid) >= 1 &&
        json_string_length(rid) < CMD_ID_MAX &&
        !memchr(json_string_value(rid), 0, json_string_length(rid))) {
        err->have_request_id = true;
        snprintf(err->request_id, sizeof(err->request_id), "%s", json_string_value(rid));
    }
    json_t *rt = json_object_get(root, "reply_to");
    if (json_is_string(rt) && json_string_length(rt) < CMD_TOPIC_MAX &&
        topic_name_ok(json_string_value(rt), json_string_length(rt)))
        snprintf(err->reply_to, sizeof(err->reply_to), "%s", json_string_value(rt));
    json_t *ty = json_object_get(root, "type");
    if (json_is_string(ty))
        snprintf(err->type, sizeof(err->type), "%s", json_string_value(ty));

    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(envelope_keys) / sizeof(envelope_keys[0]); i++)
            known |= !strcmp(envelope_keys[i], key);
        if (!known) {
            fail(&p, "unknown_field", "%s is not an envelope field", key);
            goto out;
        }
    }
    char type[32];
    if (!get_str(&p, "type", true, type, sizeof(type)) ||
        !get_str(&p, "request_id", true, cmd->request_id, sizeof(cmd->request_id)) ||
        !get_str(&p, "session_id", false, cmd->session_id, sizeof(cmd->session_id)) ||
        !get_str(&p, "reply_to", false, cmd->reply_to, sizeof(cmd->reply_to)))
        goto out;
    if (!cmd_type_parse(type, &cmd->type)) {
        fail(&p, "unknown_type", "unknown command type \"%s\"", type);
        goto out;
    }
    if (!topic_name_ok(cmd->reply_to, strlen(cmd->reply_to))) {
        fail(&p, "bad_value", "reply_to is not a valid topic name");
        goto out;
    }
    int64_t deadline_s;
    char dl[64];
    if (!get_str(&p, "deadline", false, dl, sizeof(dl)))
        goto out;
    if (dl[0]) {
        /* A fraction is truncated: the deadline is kept to the second. */
        if (timeutil_parse_rfc3339(dl, &deadline_s) != SW_OK) {
            fail(&p, "bad_time", "deadline must be an RFC 3339 time with an offset");
            goto out;
        }
        cmd->deadline_ms = deadline_s * 1000;
    }
    json_t *payload = json_object_get(root, "payload");
    if (!payload) {
        fail(&p, "missing_field", "payload is required");
        goto out;
    }
    if (!json_is_object(payload)) {
        fail(&p, "bad_type", "payload must be an object");
        goto out;
    }
    p.obj = payload;
    p.where = "payload.";
    ok = parse_payload(&p, cmd);
out:
    json_decref(root);
    return ok ? SW_OK : SW_ERR_INVALID;
}

/* ---- results ------------------------------------------------------------ */

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

void result_fail(struct result *r, sw_err status, const char *code, const char *fmt, ...)
{
    r->status = status;
    snprintf(r->error_code, sizeof(r->error_code), "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error_message, sizeof(r->error_message), fmt, ap);
    va_end(ap);
    utf8_trim_tail(r->error_message);
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
    json_object_set_new(o, "status", json_string(sw_err_status(r->status)));
    if (r->status == SW_OK) {
        json_object_set_new(o, "result", ok_fields(r));
    } else {
        const char *code = r->error_code[0] ? r->error_code : sw_err_str(r->status);
        const char *msg = r->error_message[0] ? r->error_message : sw_err_str(r->status);
        json_object_set_new(o, "error", json_pack("{s:s, s:s}", "code", code, "message", msg));
        /* the contract: up to 3 other slots */
        if (r->status == SW_ERR_CONFLICT)
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
