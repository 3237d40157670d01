/* own_marks.c - marks on the worker's own writes (own_marks.h). */
#include "own_marks.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "keys.h"
#include "log.h"

#define OWN_TTL_S (2 * 86400)

/* Each mark's value names the change it covers (this process, a counter,
 * the time): a poll uses up only the marks it saw, never one set again
 * for the next change of the same appointment while it was polling. */
static void mark_value(char *buf, size_t len)
{
    static atomic_uint seq;
    snprintf(buf, len, "%ld.%u.%lld", (long)getpid(), atomic_fetch_add(&seq, 1) + 1,
             (long long)clock_now_ms(NULL));
}

static const char *kind_name(enum own_kind kind)
{
    return kind == OWN_GONE ? "gone" : "made";
}

/* Stores a fresh mark under key; false if it could not. */
static bool put_mark(const struct store *st, const char *key)
{
    char v[64];
    mark_value(v, sizeof(v));
    return store_kv_put(st, key, v, OWN_TTL_S) == SW_OK;
}

void own_mark_id(const struct store *st, enum own_kind kind, const char *appointment_id)
{
    char key[224];
    if (appointment_id[0] &&
        !(key_own_appointment(key, sizeof(key), kind_name(kind), appointment_id) &&
          put_mark(st, key)))
        log_warn("own", "could not mark appointment %s as the worker's own", appointment_id);
}

void own_mark_slot(const struct store *st, enum own_kind kind, const char *pract,
                   const char *patient, int64_t start)
{
    char key[224];
    if (patient[0] && !(key_own_slot(key, sizeof(key), kind_name(kind), pract, patient, start) &&
                        put_mark(st, key)))
        log_warn("own", "could not mark the slot at %lld as the worker's own", (long long)start);
}

void own_mark(const struct store *st, enum own_kind kind, const struct oe_appt *a)
{
    own_mark_id(st, kind, a->id);
    own_mark_slot(st, kind, a->practitioner_id, a->patient_id, a->start);
}

static bool find_key(const struct store *st, struct own_found *found, const char *key)
{
    char *v = NULL;
    if (store_kv_get(st, key, &v) != SW_OK)
        return false;
    for (size_t i = 0; i < found->n; i++)
        if (!strcmp(found->marks[i].key, key)) {
            free(v);
            return true;
        }
    char *k = strdup(key);
    struct own_mark_seen *m =
        k ? vec_grow(found->marks, &found->cap, sizeof(*m), found->n + 1, 1 << 20) : NULL;
    if (m) {
        found->marks = m;
        found->marks[found->n++] = (struct own_mark_seen){k, v};
    } else {
        free(k); /* not used up: at worst it hides one later change of the same slot */
        free(v);
    }
    return true;
}

static bool find_kind(const struct store *st, struct own_found *found, enum own_kind kind,
                      const char *appointment_id, const char *pract, const char *patient,
                      int64_t start)
{
    char key[224];
    const char *k = kind_name(kind);
    bool by_id =
        key_own_appointment(key, sizeof(key), k, appointment_id) && find_key(st, found, key);
    bool by_slot = patient && *patient &&
                   key_own_slot(key, sizeof(key), k, pract, patient, start) &&
                   find_key(st, found, key);
    return by_id || by_slot;
}

bool own_find(const struct store *st, struct own_found *found, unsigned kinds,
              const char *appointment_id, const char *pract, const char *patient, int64_t start)
{
    bool made =
        (kinds & OWN_MADE) && find_kind(st, found, OWN_MADE, appointment_id, pract, patient, start);
    bool gone =
        (kinds & OWN_GONE) && find_kind(st, found, OWN_GONE, appointment_id, pract, patient, start);
    return made || gone;
}

void own_found_use(const struct store *st, struct own_found *found)
{
    for (size_t i = 0; i < found->n; i++) /* a mark set again meanwhile stays */
        store_kv_del_if(st, found->marks[i].key, found->marks[i].value);
    own_found_free(found);
}

void own_found_free(struct own_found *found)
{
    for (size_t i = 0; i < found->n; i++) {
        free(found->marks[i].key);
        free(found->marks[i].value);
    }
    free(found->marks);
    *found = (struct own_found){0};
}
