/* result.h - what a command came to, and its JSON (docs/contract.md).
 *
 * Handlers fill a struct result; result_serialize() writes the result
 * message.  command.h includes this header, so code that includes only
 * command.h sees struct result too. */
#ifndef SW_RESULT_H
#define SW_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "errors.h"

struct res_slot {
    char slot_id[CMD_SLOT_ID_MAX];
    int64_t start, end;
    char practitioner_id[CMD_REF_MAX];
    char appointment_type[32];
};

struct res_patient {
    char patient_id[CMD_REF_MAX];
    char given_name[64];
    char family_name[64];
    char birthdate[11];
};

struct res_appointment {
    char appointment_id[CMD_REF_MAX];
    char confirmation_number[32];
    int64_t start, end;
    char practitioner_id[CMD_REF_MAX];
    char appointment_type[32];
    char status[16];
};

struct result {
    enum cmd_type type;
    char request_id[CMD_ID_MAX];
    enum res_status status; /* RES_OK or the failure */
    char error_code[40];    /* "" = res_status_str(status) */
    char error_message[256];
    int64_t processed_at_ms;

    /* search_slots; conflict alternatives */
    struct res_slot slots[CMD_MAX_SLOTS];
    int n_slots;
    bool has_next_available;
    struct res_slot next_available;
    bool stale; /* served from cache while OpenEMR is down */

    /* find_patient */
    struct res_patient *matches; /* malloc'd, freed by result_clear */
    int n_matches;

    /* list_appointments; book/reschedule use appointments[0] */
    struct res_appointment *appointments; /* malloc'd */
    int n_appointments;
    char previous_appointment_id[CMD_REF_MAX];

    /* hold */
    char hold_id[64];
    int64_t expires_at_ms;

    /* cancel */
    char cancelled_appointment_id[CMD_REF_MAX];
    int64_t cancelled_at_ms;

    /* join_waitlist */
    char waitlist_id[64];
};

void result_init(struct result *r, const struct command *cmd);
void result_clear(struct result *r);
/* Sets a failure: status, a stable code (NULL: the status word), and a
 * message the agent could say. */
void result_fail(struct result *r, enum res_status status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for a failed call: its status (sw_err_status) and its name as
 * the code. */
void result_fail_err(struct result *r, sw_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Result JSON as the contract says; malloc'd, NUL-terminated. Times are
 * formatted in the clinic's zone (TZ). */
char *result_serialize(const struct result *r);

/* The invalid result for a message that could not be parsed. */
char *result_serialize_parse_error(const struct cmd_parse_error *err, int64_t now_ms);

/* RFC 3339 with the local offset; buf of at least 32 bytes. */
void format_time(int64_t epoch_s, char *buf, size_t len);

#endif
