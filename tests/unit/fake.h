/* fake.h - in-memory fakes of the fleet's store (store.h) and of the EHR
 * (emr.h) for unit tests of the scheduling code.
 *
 * Each keeps what the real one would keep (locks, holds, values and
 * waitlist; a calendar of appointments that, like OpenEMR, checks no
 * overlap), counts its calls per operation, and can be told to fail an
 * operation: on its nth call from now, once or from then on, and (for the
 * EHR) either before or after doing the work, which is how a write that
 * landed but whose answer was lost looks from the worker.
 *
 * Times: locks and holds expire by the clock given at init (a manual clock
 * in tests).  Not thread-safe. */
#ifndef SW_FAKE_H
#define SW_FAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"
#include "emr.h"
#include "store.h"

#define FAKE_MAX 256

struct fake_fault {
    sw_err err;  /* SW_OK: none */
    int at;      /* fails on the at-th call from when it was set (1 = next) */
    bool sticky; /* and every call after */
    bool after;  /* EHR writes: do the work, then answer err */
};

/* ---- store -------------------------------------------------------------- */

enum fake_store_op {
    FS_IDEM_NOTE,
    FS_GUARD,
    FS_LOCK,
    FS_UNLOCK,
    FS_HOLD_PLACE,
    FS_HOLD_GET,
    FS_HOLD_RELEASE,
    FS_HOLDS_LIST,
    FS_KV_GET,
    FS_KV_PUT,
    FS_KV_DEL,
    FS_CLAIM,
    FS_WAITLIST_ADD,
    FS_WAITLIST_REMOVE,
    FS_WAITLIST_LIST,
    FS__COUNT
};

struct fake_lock {
    char name[160], owner[160];
    int64_t until_ms;
};

struct fake_kv {
    char *key, *value;
};

struct fake_store {
    struct store store; /* hand this to the code under test */
    const struct sw_clock *clock;
    int calls[FS__COUNT];
    struct fake_fault fault[FS__COUNT];
    /* The idempotency lease: who holds it, its fence, what it noted (one
     * request), until when the last guard covered a write. */
    char lease_owner[160];
    int64_t fence;
    int64_t write_until_ms;
    int guards; /* guards that passed */
    char *note;
    struct fake_lock locks[FAKE_MAX];
    size_t n_locks;
    struct fleet_hold holds[FAKE_MAX];
    size_t n_holds;
    struct fake_kv kv[FAKE_MAX];
    size_t n_kv;
    struct fleet_wait waitlist[FAKE_MAX];
    size_t n_waitlist;
    int next_id;
};

void fake_store_init(struct fake_store *fs, const struct sw_clock *clock);
/* Gives the command's lease to owner with fence (as idem_begin would). */
void fake_store_lease(struct fake_store *fs, const char *owner, int64_t fence);
void fake_store_free(struct fake_store *fs);
/* The op fails with err on its at-th call from now (at >= 1). */
void fake_store_fail(struct fake_store *fs, enum fake_store_op op, sw_err err, int at, bool sticky);
/* A stored value, or NULL. */
const char *fake_store_get(const struct fake_store *fs, const char *key);
/* Whether a lock is held now (by anyone). */
bool fake_store_locked(const struct fake_store *fs, const char *name);

/* ---- EHR ---------------------------------------------------------------- */

enum fake_emr_op {
    FE_RESOLVE,
    FE_FIND_PATIENTS,
    FE_LIST_RANGE,
    FE_LIST_PATIENT,
    FE_FREE_SLOTS,
    FE_CREATE,
    FE_CANCEL,
    FE_GET,
    FE_FIND_CONFIRMATION,
    FE_LIST_PRACTITIONERS,
    FE__COUNT
};

struct fake_patient {
    struct oe_patient p;
    char phone_digits[32];
};

struct fake_emr {
    struct emr emr; /* hand this to the code under test */
    int calls[FE__COUNT];
    struct fake_fault fault[FE__COUNT];
    struct oe_appt appts[FAKE_MAX]; /* the calendar */
    size_t n_appts;
    struct fake_patient patients[32];
    size_t n_patients;
    char practitioners[32][64];
    size_t n_practitioners;
    struct {
        enum id_kind kind;
        char number[24], id[ID_MAX];
    } aliases[32]; /* numeric ids it can resolve (like OpenEMR's pid) */
    size_t n_aliases;
    bool cancel_deletes; /* OpenEMR: DELETE removes the row; else status cancelled */
    bool has_server_slots; /* free_slots answers server_free (FHIR surface) */
    struct oe_interval server_free[FAKE_MAX];
    size_t n_server_free;
    int next_id;
};

void fake_emr_init(struct fake_emr *fe);
void fake_emr_fail(struct fake_emr *fe, enum fake_emr_op op, sw_err err, int at, bool sticky,
                   bool after);
/* Adds a row to the calendar as if booked elsewhere; returns it. */
struct oe_appt *fake_emr_add(struct fake_emr *fe, const char *patient_id, const char *pract,
                             int64_t start, int64_t end, int category, bool provider_event);
void fake_emr_add_patient(struct fake_emr *fe, const char *id, const char *given,
                          const char *family, const char *birthdate, const char *phone);
void fake_emr_add_practitioner(struct fake_emr *fe, const char *id);
/* The number resolves to id (a uuid or FHIR id resolves to itself). */
void fake_emr_alias(struct fake_emr *fe, enum id_kind kind, const char *number, const char *id);
/* Rows holding time (booked) of a practitioner overlapping [from, to). */
size_t fake_emr_live(const struct fake_emr *fe, const char *pract, int64_t from, int64_t to);
/* The row with this id, or NULL. */
struct oe_appt *fake_emr_find(struct fake_emr *fe, const char *id);
int fake_emr_total_calls(const struct fake_emr *fe);

#endif
