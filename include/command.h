/* command.h - the wire format of the contract (docs/contract.md).
 *
 * Bytes -> typed command (command_parse, src/command.c); typed result ->
 * bytes (result_serialize, result.h, src/result.c).  The only module that
 * knows the JSON shape of commands and results; handlers see plain
 * structs. */
#ifndef SW_COMMAND_H
#define SW_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define CMD_ID_MAX            129 /* request_id and session_id: 1..128 chars */
#define CMD_TOPIC_MAX         250
#define CMD_REF_MAX           64 /* patient, practitioner, appointment ids */
#define CMD_MAX_PRACTITIONERS 16
#define CMD_MAX_SLOTS         50
#define CMD_SLOT_ID_MAX       200
#define CMD_TEXT_MAX          512 /* reason */

enum cmd_type {
    CMD_SEARCH_SLOTS,
    CMD_FIND_PATIENT,
    CMD_LIST_APPOINTMENTS,
    CMD_HOLD,
    CMD_RELEASE_HOLD,
    CMD_BOOK,
    CMD_RESCHEDULE,
    CMD_JOIN_WAITLIST,
    CMD_CANCEL,
    CMD_LEAVE_WAITLIST,
    CMD__COUNT
};

/* Which command topic a type belongs on. */
enum cmd_topic { CMD_TOPIC_SEARCH, CMD_TOPIC_BOOK, CMD_TOPIC_CANCEL };

const char *cmd_type_name(enum cmd_type t);
bool cmd_type_parse(const char *name, enum cmd_type *out);
enum cmd_topic cmd_type_topic(enum cmd_type t);
/* book, reschedule, cancel, hold, release_hold, join/leave_waitlist */
bool cmd_type_is_write(enum cmd_type t);

struct cmd_search_slots {
    char appointment_type[32];
    int64_t from, to; /* epoch seconds */
    char practitioners[CMD_MAX_PRACTITIONERS][CMD_REF_MAX];
    int n_practitioners; /* 0: every practitioner */
    char patient_id[CMD_REF_MAX];
    int limit; /* 0: the configured default */
};

struct cmd_find_patient {
    char phone[32];
    char birthdate[11];
    char name[128];
};

struct cmd_list_appointments {
    char patient_id[CMD_REF_MAX];
    int64_t from, to; /* 0: unbounded */
};

struct cmd_hold {
    char slot_id[CMD_SLOT_ID_MAX]; /* or the three fields below */
    char practitioner_id[CMD_REF_MAX];
    int64_t start;
    char appointment_type[32];
    char patient_id[CMD_REF_MAX];
    int ttl_seconds; /* 0: default */
};

struct cmd_book {
    char patient_id[CMD_REF_MAX];
    char practitioner_id[CMD_REF_MAX];
    int64_t start;
    char appointment_type[32];
    char hold_id[64];
    char reason[CMD_TEXT_MAX];
};

/* Who a write names as the appointment's patient: the patient id, or the
 * phone and birth date the caller gives (one is required). */
struct cmd_patient {
    char patient_id[CMD_REF_MAX];
    char phone[32];
    char birthdate[11];
};

struct cmd_cancel {
    char confirmation_number[32];
    char appointment_id[CMD_REF_MAX];
    struct cmd_patient who;
    char reason[CMD_TEXT_MAX];
};

struct cmd_reschedule {
    char confirmation_number[32];
    char appointment_id[CMD_REF_MAX];
    struct cmd_patient who;
    int64_t new_start;
    char practitioner_id[CMD_REF_MAX];
    char hold_id[64];
};

struct cmd_join_waitlist {
    char patient_id[CMD_REF_MAX];
    char appointment_type[32];
    int64_t earliest, latest;
    char practitioner_id[CMD_REF_MAX];
};

struct command {
    enum cmd_type type;
    char request_id[CMD_ID_MAX];
    char session_id[CMD_ID_MAX];
    char reply_to[CMD_TOPIC_MAX];
    int64_t deadline_ms; /* epoch ms; 0 = none */
    union {
        struct cmd_search_slots search;
        struct cmd_find_patient find;
        struct cmd_list_appointments list;
        struct cmd_hold hold;
        char hold_id[64]; /* release_hold */
        struct cmd_book book;
        struct cmd_cancel cancel;
        struct cmd_reschedule reschedule;
        struct cmd_join_waitlist join;
        char waitlist_id[64]; /* leave_waitlist */
    } u;
};

/* What could be read of a message that failed to parse, for the invalid
 * result and the dead letter. */
struct cmd_parse_error {
    char code[32];     /* stable word: bad_json, missing_field, bad_type... */
    char message[256]; /* readable, names the field */
    bool have_request_id;
    char request_id[CMD_ID_MAX];
    char type[32]; /* as given, may be "" */
    char reply_to[CMD_TOPIC_MAX];
};

/* Parses one message.  SW_OK or SW_ERR_INVALID with err filled.  Never
 * reads past len; the bytes need not be NUL-terminated. */
/* SHA-256 (hex, 64 characters and the NUL) of what a command asks: its
 * type, every payload field in canonical form (times as instants,
 * confirmation numbers decoded, a practitioner list sorted), and the id of
 * the key that signed it ("" when none).  Two messages with the same digest
 * ask the same thing, whatever their JSON looked like; an idempotency
 * record is bound to it. */
#define CMD_DIGEST_LEN 65
void command_digest(const struct command *c, const char *key_id, char out[CMD_DIGEST_LEN]);

sw_err command_parse(const char *bytes, size_t len, struct command *cmd,
                     struct cmd_parse_error *err);

/* snprintf cuts at a byte count and may split a UTF-8 character; jansson
 * then refuses the string.  Drops a trailing incomplete sequence of s. */
void cmd_text_trim_utf8(char *s);

/* struct result and its serialization, for the code that includes only
 * this header. */
#include "result.h"

#endif
