/* confirm_index.c - confirmation numbers in the fleet (confirm_index.h). */
#include "confirm_index.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confirmation.h"
#include "keys.h"
#include "log.h"

#define DAY         86400
#define CLAIM_TRIES 8
/* A number missing from the index is looked for this far back and ahead. */
#define SEARCH_PAST_DAYS   30
#define SEARCH_FUTURE_DAYS 400

static void index_key(char *key, size_t len, const char *confirmation)
{
    if (!key_confirmation_index(key, len, confirmation))
        key[0] = '\0'; /* cannot be: a number is 8 characters */
}

sw_err confirm_index_claim(struct worker *w, const char *request_id, char *buf, size_t len)
{
    for (int i = 0; i < CLAIM_TRIES; i++) {
        if (confirm_generate(worker_random(w), buf, len) != SW_OK)
            return SW_ERR_INTERNAL;
        sw_err err = store_confirmation_claim(&w->store, buf, request_id, CONFIRM_INDEX_TTL_S);
        if (err != SW_ERR_CONFLICT)
            return err;
    }
    return SW_ERR_INTERNAL;
}

void confirm_index_put(const struct worker *w, const struct res_appointment *a,
                       const char *patient_id)
{
    char key[64];
    index_key(key, sizeof(key), a->confirmation_number);
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "appointment_id", a->appointment_id,
                          "practitioner_id", a->practitioner_id, "patient_id", patient_id, "start",
                          (json_int_t)a->start, "end", (json_int_t)a->end, "appointment_type",
                          a->appointment_type);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s || store_kv_put(&w->store, key, s, CONFIRM_INDEX_TTL_S) != SW_OK)
        log_warn("confirm", "confirmation index not written; cancel will search OpenEMR");
    free(s);
}

void confirm_index_del(const struct worker *w, const char *confirmation)
{
    char key[64];
    index_key(key, sizeof(key), confirmation);
    store_kv_del(&w->store, key);
}

/* The appointment id the index holds for a number: SW_OK, SW_ERR_NOT_FOUND
 * or SW_ERR_REDIS. */
static sw_err indexed_id(const struct worker *w, const char *confirmation, char *id, size_t len)
{
    char key[64], *text = NULL;
    index_key(key, sizeof(key), confirmation);
    sw_err err = store_kv_get(&w->store, key, &text);
    if (err)
        return err;
    json_t *o = json_loads(text, 0, NULL);
    const char *v = json_string_value(json_object_get(o, "appointment_id"));
    err = v && strlen(v) < len ? SW_OK : SW_ERR_NOT_FOUND;
    if (!err)
        snprintf(id, len, "%s", v);
    json_decref(o);
    free(text);
    return err;
}

#define MAX_NAMED 8 /* patients one phone and birth date may name */

/* The one answer for an appointment the caller may not see: saying more
 * would tell a stranger it exists. */
static sw_err no_such_appointment(struct result *r)
{
    result_fail(r, RES_NOT_FOUND, "no_such_appointment", "No such appointment.");
    return SW_ERR_NOT_FOUND;
}

/* The patients a write names: its id, or those with that phone and birth
 * date.  SW_OK with *n >= 1, or r filled. */
static sw_err named_patients(const struct worker *w, struct oe_call *call,
                             const struct cmd_patient *who, char ids[MAX_NAMED][ID_MAX], size_t *n,
                             struct result *r)
{
    *n = 0;
    if (who->patient_id[0]) {
        snprintf(ids[(*n)++], ID_MAX, "%s", who->patient_id);
        return SW_OK;
    }
    struct oe_patient *p = NULL;
    size_t np = 0;
    sw_err err = emr_find_patients(&w->emr, call, who->phone, who->birthdate, &p, &np);
    if (err) {
        worker_fail_emr(r, err, call);
        return err;
    }
    for (size_t i = 0; i < np && *n < MAX_NAMED; i++)
        snprintf(ids[(*n)++], ID_MAX, "%s", p[i].id);
    free(p);
    return *n ? SW_OK : no_such_appointment(r);
}

static bool bookable_category(const struct sw_config *cfg, int category)
{
    for (int i = 0; i < cfg->n_types; i++)
        if (cfg->types[i].category == category)
            return true;
    return false;
}

sw_err confirm_index_relock(const struct worker *w, const struct oe_call *call, const char *id,
                            char *lock, size_t len, struct result *r)
{
    if (!key_lock_appointment(lock, len, id))
        return SW_ERR_INVALID;
    sw_err err = worker_lock_wait(w, call, lock, CONFIRM_LOCK_TTL_MS);
    if (err == SW_ERR_EXPIRED)
        result_fail(r, RES_UNAVAILABLE, "busy",
                    "Another change to this appointment is in progress; try again.");
    return err;
}

/* The id of the appointment a cancel or reschedule names: from the index,
 * else a search of the named patients' appointments, or appointment_id;
 * canonical: the number's canonical form ("" without one).  On failure r
 * is filled, except for SW_ERR_REDIS. */
static sw_err named_id(const struct worker *w, struct oe_call *call, const char *confirmation,
                       const char *appointment_id, char ids[MAX_NAMED][ID_MAX], size_t n_ids,
                       char *canonical, size_t clen, char *id, size_t len, struct result *r)
{
    canonical[0] = '\0';
    if (!confirmation || !*confirmation) {
        snprintf(id, len, "%s", appointment_id);
        return SW_OK;
    }
    if (confirm_decode(confirmation, canonical, clen) != SW_OK) {
        result_fail(r, RES_NOT_FOUND, "bad_confirmation_number",
                    "That confirmation number is not valid; please check it.");
        return SW_ERR_NOT_FOUND;
    }
    sw_err err = indexed_id(w, canonical, id, len);
    if (err != SW_ERR_NOT_FOUND)
        return err;
    /* Booked before the index existed, elsewhere, or Redis lost it: search
     * the named patients' appointments only (bounded). */
    int64_t now = worker_now_s(w);
    struct oe_appt found;
    for (size_t i = 0; i < n_ids && err == SW_ERR_NOT_FOUND; i++)
        err = emr_find_by_confirmation(&w->emr, call, canonical, ids[i], NULL,
                                       now - SEARCH_PAST_DAYS * DAY, now + SEARCH_FUTURE_DAYS * DAY,
                                       &found);
    if (err == SW_ERR_NOT_FOUND)
        result_fail(r, RES_NOT_FOUND, "no_such_appointment",
                    "No appointment has that confirmation number.");
    else if (err)
        worker_fail_emr(r, err, call);
    else
        snprintf(id, len, "%s", found.id);
    return err;
}

/* The appointment as read: the named patient's, a patient's (not lunch or
 * vacation), of a bookable type.  On failure r is filled. */
static sw_err check_named(const struct worker *w, const struct oe_appt *a,
                          char ids[MAX_NAMED][ID_MAX], size_t n_ids, struct result *r)
{
    bool named = false;
    for (size_t i = 0; i < n_ids && !named; i++)
        named = a->patient_id[0] && !strcmp(a->patient_id, ids[i]);
    if (!named || a->provider_event) /* not the named patient's, or not a patient's at all */
        return no_such_appointment(r);
    if (!bookable_category(w->cfg, a->category)) {
        result_fail(r, RES_REJECTED, "not_bookable",
                    "That appointment cannot be changed by phone; please call the clinic.");
        return SW_ERR_REJECTED;
    }
    return SW_OK;
}

sw_err confirm_index_find_locked(const struct worker *w, struct oe_call *call,
                                 const char *confirmation, const char *appointment_id,
                                 const struct cmd_patient *who, struct oe_appt *out, char *lock,
                                 size_t len, struct result *r)
{
    char canonical[CONFIRM_TEXT_LEN + 8], id[64] = "", ids[MAX_NAMED][ID_MAX];
    size_t n_ids = 0;
    sw_err err = named_patients(w, call, who, ids, &n_ids, r);
    if (!err)
        err = named_id(w, call, confirmation, appointment_id, ids, n_ids, canonical,
                       sizeof(canonical), id, sizeof(id), r);
    if (err)
        return err;
    err = confirm_index_relock(w, call, id, lock, len, r);
    if (err == SW_ERR_INVALID) /* ids are at most 63 characters */
        return no_such_appointment(r);
    if (err)
        return err;
    /* Read under the lock only: another cancel or reschedule of it may
     * have finished just before, and OpenEMR's DELETE says "deleted" for
     * any id. */
    err = emr_get(&w->emr, call, id, out);
    if (err == SW_ERR_NOT_FOUND)
        no_such_appointment(r);
    else if (err)
        worker_fail_emr(r, err, call);
    else
        err = check_named(w, out, ids, n_ids, r);
    if (err) {
        store_unlock(&w->store, lock, w->owner);
        return err;
    }
    if (canonical[0] && !out->confirmation[0])
        snprintf(out->confirmation, sizeof(out->confirmation), "%s", canonical);
    return SW_OK;
}
