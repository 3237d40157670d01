/* own_marks.c - marks on the worker's own writes (own_marks.h). */
#include "own_marks.h"

#include <stdlib.h>

#include "keys.h"
#include "log.h"

#define OWN_TTL_S (2 * 86400)

void own_mark(const struct store *st, const struct oe_appt *a)
{
    char key[224];
    if (!key_own_appointment(key, sizeof(key), a->id) ||
        store_kv_put(st, key, "1", OWN_TTL_S) != SW_OK)
        log_warn("own", "could not mark appointment %s as the worker's own", a->id);
    if (!key_own_slot(key, sizeof(key), a->practitioner_id, a->patient_id, a->start) ||
        store_kv_put(st, key, "1", OWN_TTL_S) != SW_OK)
        log_warn("own", "could not mark appointment %s as the worker's own", a->id);
}

static bool take_key(const struct store *st, const char *key)
{
    char *v = NULL;
    if (store_kv_get(st, key, &v) != SW_OK)
        return false;
    free(v);
    store_kv_del(st, key);
    return true;
}

bool own_take(const struct store *st, const char *appointment_id, const char *pract,
              const char *patient, int64_t start)
{
    char key[224];
    bool by_id = key_own_appointment(key, sizeof(key), appointment_id) && take_key(st, key);
    bool by_slot = patient && *patient && key_own_slot(key, sizeof(key), pract, patient, start) &&
                   take_key(st, key);
    return by_id || by_slot;
}
