/* command.c - bytes -> struct command: the envelope, then the payload read
 * through its type's field table (the same table lists the fields a
 * payload may carry).  Results -> bytes is result.c. */
#include "command.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "confirmation.h"
#include "timeutil.h"

void cmd_text_trim_utf8(char *s)
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

/* ---- field readers ------------------------------------------------------ */

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
    cmd_text_trim_utf8(p->err->message);
    return false;
}

/* What a message may quote of its input.  Parse errors reach the logs, the
 * dead letter's dlq_reason header and the invalid result, so they name a
 * field only when it looks like one (ASCII letters, digits and '_', not
 * starting with a digit, at most 32 bytes), and never quote free input: a token pasted into the
 * wrong place must not be copied to a log line.  Else "(a name not shown)". */
static const char *shown_name(const char *s)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= 32 &&
              strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n &&
              !(s[0] >= '0' && s[0] <= '9');
    return ok ? s : "(a name not shown)";
}

/* jansson's reason for a parse failure, without its text (which quotes the
 * input near the error). */
static const char *json_reason(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "the message ends early";
    case json_error_end_of_input_expected:
        return "more after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "a NUL character";
    case json_error_duplicate_key:
        return "a key given twice";
    case json_error_numeric_overflow:
        return "a number out of range";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_out_of_memory:
        return "out of memory";
    default:
        return "a syntax error";
    }
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
    if (timeutil_parse_rfc3339(buf, out) != SW_OK) {
        /* quoted only when it is made of what a time is made of */
        bool timeish = strspn(buf, "0123456789-:T.tZz+ ") == strlen(buf);
        return fail(p, "bad_time", "%s%s must be an RFC 3339 time with an offset, got \"%s\"",
                    p->where, key, timeish ? buf : "(text not shown)");
    }
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

static bool check_range(struct parser *p, int64_t from, int64_t to, const char *a, const char *b)
{
    if (from && to && to <= from)
        return fail(p, "bad_range", "%s%s must be after %s%s", p->where, b, p->where, a);
    return true;
}

/* Read aloud and typed in by people: letters, digits, spaces, dashes. */
static bool get_confirmation(struct parser *p, const char *key, char *out, size_t cap)
{
    if (!get_str(p, key, false, out, cap))
        return false;
    for (const char *c = out; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -", *c))
            return fail(p, "bad_value", "%s%s may hold only letters, digits, spaces and dashes",
                        p->where, key);
    return true;
}

/* practitioner_id of search_slots: one id, or a list of 1..16. */
static bool get_practitioners(struct parser *p, const char *key, struct cmd_search_slots *s)
{
    json_t *pr = json_object_get(p->obj, key);
    if (!json_is_array(pr)) {
        if (!get_str(p, key, false, s->practitioners[0], CMD_REF_MAX))
            return false;
        s->n_practitioners = s->practitioners[0][0] ? 1 : 0;
        return true;
    }
    size_t i;
    json_t *v;
    if (json_array_size(pr) == 0)
        return fail(p, "bad_value", "%spractitioner_id must name at least one practitioner",
                    p->where);
    if (json_array_size(pr) > CMD_MAX_PRACTITIONERS)
        return fail(p, "too_many", "%spractitioner_id lists more than %d practitioners", p->where,
                    CMD_MAX_PRACTITIONERS);
    json_array_foreach(pr, i, v)
    {
        size_t n = json_string_length(v);
        if (!json_is_string(v) || n == 0 || n >= CMD_REF_MAX)
            return fail(p, "bad_type", "%spractitioner_id[%zu] must be a non-empty string",
                        p->where, i);
        memcpy(s->practitioners[s->n_practitioners++], json_string_value(v), n + 1);
    }
    return true;
}

/* ---- the payload of each type -------------------------------------------- */

enum field_kind {
    F_STR,           /* a string of 1..size-1 bytes */
    F_TIME,          /* RFC 3339 with an offset -> epoch seconds */
    F_INT,           /* an integer in lo..hi */
    F_CONFIRMATION,  /* F_STR of letters, digits, spaces and dashes */
    F_PRACTITIONERS, /* search_slots' practitioner_id: one id or a list */
};

/* One payload field, read in table order: the first bad field is the one
 * reported.  offset/size: of its member in struct command. */
struct field {
    const char *name;
    enum field_kind kind;
    bool required;
    size_t offset, size;
    int lo, hi;        /* F_INT */
    const char *after; /* F_TIME: must be later than this earlier field */
};

#define AT(m) offsetof(struct command, u.m), sizeof(((struct command *)0)->u.m)
#define STR(n, m)                                                                                  \
    {                                                                                              \
        n, F_STR, false, AT(m)                                                                     \
    }
#define NEED(n, m)                                                                                 \
    {                                                                                              \
        n, F_STR, true, AT(m)                                                                      \
    }
#define TIME(n, m)                                                                                 \
    {                                                                                              \
        n, F_TIME, false, AT(m)                                                                    \
    }
#define AT_TIME(n, m)                                                                              \
    {                                                                                              \
        n, F_TIME, true, AT(m)                                                                     \
    }

static const struct field search_fields[] = {
    NEED("appointment_type", search.appointment_type),
    AT_TIME("from", search.from),
    {"to", F_TIME, true, AT(search.to), 0, 0, "from"},
    STR("patient_id", search.patient_id),
    {"limit", F_INT, false, AT(search.limit), 1, CMD_MAX_SLOTS},
    {"practitioner_id", F_PRACTITIONERS, false, AT(search)},
    {NULL},
};
static const struct field find_fields[] = {
    NEED("phone", find.phone),
    NEED("birthdate", find.birthdate),
    STR("name", find.name),
    {NULL},
};
static const struct field list_fields[] = {
    NEED("patient_id", list.patient_id),
    TIME("from", list.from),
    {"to", F_TIME, false, AT(list.to), 0, 0, "from"},
    {NULL},
};
static const struct field hold_fields[] = {
    STR("slot_id", hold.slot_id),
    STR("practitioner_id", hold.practitioner_id),
    TIME("start", hold.start),
    STR("appointment_type", hold.appointment_type),
    STR("patient_id", hold.patient_id),
    {"ttl_seconds", F_INT, false, AT(hold.ttl_seconds), 1, 86400},
    {NULL},
};
static const struct field release_fields[] = {
    NEED("hold_id", hold_id),
    {NULL},
};
static const struct field book_fields[] = {
    NEED("patient_id", book.patient_id),
    NEED("practitioner_id", book.practitioner_id),
    AT_TIME("start", book.start),
    NEED("appointment_type", book.appointment_type),
    STR("hold_id", book.hold_id),
    STR("reason", book.reason),
    {NULL},
};
static const struct field reschedule_fields[] = {
    {"confirmation_number", F_CONFIRMATION, false, AT(reschedule.confirmation_number)},
    STR("appointment_id", reschedule.appointment_id),
    STR("patient_id", reschedule.who.patient_id),
    STR("phone", reschedule.who.phone),
    STR("birthdate", reschedule.who.birthdate),
    AT_TIME("new_start", reschedule.new_start),
    STR("practitioner_id", reschedule.practitioner_id),
    STR("hold_id", reschedule.hold_id),
    {NULL},
};
static const struct field join_fields[] = {
    NEED("patient_id", join.patient_id),
    NEED("appointment_type", join.appointment_type),
    AT_TIME("earliest", join.earliest),
    {"latest", F_TIME, true, AT(join.latest), 0, 0, "earliest"},
    STR("practitioner_id", join.practitioner_id),
    {NULL},
};
static const struct field cancel_fields[] = {
    {"confirmation_number", F_CONFIRMATION, false, AT(cancel.confirmation_number)},
    STR("appointment_id", cancel.appointment_id),
    STR("patient_id", cancel.who.patient_id),
    STR("phone", cancel.who.phone),
    STR("birthdate", cancel.who.birthdate),
    STR("reason", cancel.reason),
    {NULL},
};
static const struct field leave_fields[] = {
    NEED("waitlist_id", waitlist_id),
    {NULL},
};

/* What the fields alone cannot say, checked after them. */
static bool check_phone_birthdate(struct parser *p, const char *phone, const char *birthdate)
{
    int digits = 0;
    for (const char *ch = phone; *ch; ch++) {
        if (*ch >= '0' && *ch <= '9')
            digits++;
        else if (!strchr("+-. ()", *ch))
            return fail(p, "bad_value", "%sphone may hold only digits, spaces and + - . ( )",
                        p->where);
    }
    if (digits < 7 || digits > 15)
        return fail(p, "bad_value", "%sphone must have 7 to 15 digits", p->where);
    struct tu_date bd;
    if (timeutil_parse_date(birthdate, &bd) != SW_OK)
        return fail(p, "bad_date", "%sbirthdate must be a real date YYYY-MM-DD", p->where);
    return true;
}

static bool check_find(struct parser *p, const struct command *c)
{
    return check_phone_birthdate(p, c->u.find.phone, c->u.find.birthdate);
}

/* A write names its patient: the id, or phone and birth date. */
static bool check_patient(struct parser *p, const struct cmd_patient *who)
{
    if (who->patient_id[0])
        return true;
    if (!who->phone[0] || !who->birthdate[0])
        return fail(p, "missing_field",
                    "%spatient_id, or phone and birthdate, is required to change an appointment",
                    p->where);
    return check_phone_birthdate(p, who->phone, who->birthdate);
}

static bool check_hold(struct parser *p, const struct command *c)
{
    const struct cmd_hold *h = &c->u.hold;
    if (!h->slot_id[0] && (!h->practitioner_id[0] || !h->start || !h->appointment_type[0]))
        return fail(p, "missing_field",
                    "%sslot_id, or practitioner_id with start and appointment_type, is required",
                    p->where);
    return true;
}

static bool either_id(struct parser *p, const char *confirmation, const char *appointment_id)
{
    if (!confirmation[0] && !appointment_id[0])
        return fail(p, "missing_field", "%sconfirmation_number or appointment_id is required",
                    p->where);
    return true;
}

static bool check_cancel(struct parser *p, const struct command *c)
{
    return either_id(p, c->u.cancel.confirmation_number, c->u.cancel.appointment_id) &&
           check_patient(p, &c->u.cancel.who);
}

static bool check_reschedule(struct parser *p, const struct command *c)
{
    return either_id(p, c->u.reschedule.confirmation_number, c->u.reschedule.appointment_id) &&
           check_patient(p, &c->u.reschedule.who);
}

static const struct {
    const char *name;
    enum cmd_topic topic;
    bool write;
    const struct field *fields; /* the only fields its payload may carry */
    bool (*check)(struct parser *p, const struct command *c);
} types[CMD__COUNT] = {
    [CMD_SEARCH_SLOTS] = {"search_slots", CMD_TOPIC_SEARCH, false, search_fields, NULL},
    [CMD_FIND_PATIENT] = {"find_patient", CMD_TOPIC_SEARCH, false, find_fields, check_find},
    [CMD_LIST_APPOINTMENTS] = {"list_appointments", CMD_TOPIC_SEARCH, false, list_fields, NULL},
    [CMD_HOLD] = {"hold", CMD_TOPIC_BOOK, true, hold_fields, check_hold},
    [CMD_RELEASE_HOLD] = {"release_hold", CMD_TOPIC_BOOK, true, release_fields, NULL},
    [CMD_BOOK] = {"book", CMD_TOPIC_BOOK, true, book_fields, NULL},
    [CMD_RESCHEDULE] = {"reschedule", CMD_TOPIC_BOOK, true, reschedule_fields, check_reschedule},
    [CMD_JOIN_WAITLIST] = {"join_waitlist", CMD_TOPIC_BOOK, true, join_fields, NULL},
    [CMD_CANCEL] = {"cancel", CMD_TOPIC_CANCEL, true, cancel_fields, check_cancel},
    [CMD_LEAVE_WAITLIST] = {"leave_waitlist", CMD_TOPIC_CANCEL, true, leave_fields, NULL},
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

static const struct field *field_named(const struct field *fields, const char *name)
{
    for (const struct field *f = fields; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

static bool read_field(struct parser *p, const struct field *fields, const struct field *f,
                       struct command *c)
{
    char *at = (char *)c + f->offset;
    switch (f->kind) {
    case F_STR:
        return get_str(p, f->name, f->required, at, f->size);
    case F_CONFIRMATION:
        return get_confirmation(p, f->name, at, f->size);
    case F_INT:
        return get_int(p, f->name, f->lo, f->hi, (int *)at);
    case F_PRACTITIONERS:
        return get_practitioners(p, f->name, (struct cmd_search_slots *)at);
    case F_TIME:
        if (!get_time(p, f->name, f->required, (int64_t *)at))
            return false;
        if (f->after) {
            const struct field *a = field_named(fields, f->after);
            return check_range(p, *(int64_t *)((char *)c + a->offset), *(int64_t *)at, a->name,
                               f->name);
        }
        return true;
    }
    return false;
}

static bool parse_payload(struct parser *p, struct command *c)
{
    const struct field *fields = types[c->type].fields;
    const char *key;
    json_t *v;
    json_object_foreach(p->obj, key, v)
    {
        if (!field_named(fields, key))
            return fail(p, "unknown_field", "%s%s is not a field of %s", p->where, shown_name(key),
                        types[c->type].name);
    }
    for (const struct field *f = fields; f->name; f++)
        if (!read_field(p, fields, f, c))
            return false;
    return !types[c->type].check || types[c->type].check(p, c);
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

/* One length-framed item of the digest: no two inputs share bytes. */
static void digest_put(EVP_MD_CTX *md, const char *s, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    EVP_DigestUpdate(md, len, sizeof(len));
    EVP_DigestUpdate(md, s, n);
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

void command_digest(const struct command *c, const char *key_id, char out[CMD_DIGEST_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int hn = 0;
    char num[32];
    out[0] = '\0';
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return;
    }
    digest_put(md, "schedworker command v1", 22);
    digest_put(md, types[c->type].name, strlen(types[c->type].name));
    digest_put(md, key_id ? key_id : "", key_id ? strlen(key_id) : 0);
    for (const struct field *f = types[c->type].fields; f->name; f++) {
        const char *at = (const char *)c + f->offset;
        digest_put(md, f->name, strlen(f->name));
        switch (f->kind) {
        case F_STR:
            digest_put(md, at, strnlen(at, f->size));
            break;
        case F_CONFIRMATION: {
            char canon[CONFIRM_TEXT_LEN];
            if (at[0] && confirm_decode(at, canon, sizeof(canon)) == SW_OK)
                digest_put(md, canon, strlen(canon));
            else
                digest_put(md, at, strnlen(at, f->size));
            break;
        }
        case F_TIME:
            snprintf(num, sizeof(num), "%lld", (long long)*(const int64_t *)(const void *)at);
            digest_put(md, num, strlen(num));
            break;
        case F_INT:
            snprintf(num, sizeof(num), "%d", *(const int *)(const void *)at);
            digest_put(md, num, strlen(num));
            break;
        case F_PRACTITIONERS: {
            struct cmd_search_slots s = c->u.search;
            qsort(s.practitioners, (size_t)s.n_practitioners, sizeof(s.practitioners[0]), cmp_ids);
            for (int i = 0; i < s.n_practitioners; i++)
                digest_put(md, s.practitioners[i], strlen(s.practitioners[i]));
            break;
        }
        }
    }
    if (EVP_DigestFinal_ex(md, h, &hn) && hn == sizeof(h))
        hex_encode(h, 32, out);
    EVP_MD_CTX_free(md);
}

sw_err command_parse(const char *bytes, size_t len, struct command *cmd,
                     struct cmd_parse_error *err)
{
    json_error_t jerr;
    memset(cmd, 0, sizeof(*cmd));
    memset(err, 0, sizeof(*err));
    struct parser p = {NULL, "", err};

    json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(&p, "bad_json", "not valid JSON: %s at byte %d", json_reason(&jerr), jerr.position);
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
            fail(&p, "unknown_field", "%s is not an envelope field", shown_name(key));
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
        fail(&p, "unknown_type", "unknown command type \"%s\"", shown_name(type));
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
