/* own_marks.c - marks on the worker's own writes (own_marks.h). */
#include "own_marks.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
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

static bool find_key(const struct store *st, struct own_found *found, const char *key)
{
    char *v = NULL;
    if (store_kv_get(st, key, &v) != SW_OK)
        return false;
    free(v);
    for (size_t i = 0; i < found->n; i++)
        if (!strcmp(found->keys[i], key))
            return true;
    char *k = strdup(key);
    char **keys =
        k ? vec_grow(found->keys, &found->cap, sizeof(*keys), found->n + 1, 1 << 20) : NULL;
    if (keys) {
        found->keys = keys;
        found->keys[found->n++] = k;
    } else {
        free(k); /* not used up: at worst it hides one later change of the same slot */
    }
    return true;
}

bool own_find(const struct store *st, struct own_found *found, const char *appointment_id,
              const char *pract, const char *patient, int64_t start)
{
    char key[224];
    bool by_id = key_own_appointment(key, sizeof(key), appointment_id) && find_key(st, found, key);
    bool by_slot = patient && *patient && key_own_slot(key, sizeof(key), pract, patient, start) &&
                   find_key(st, found, key);
    return by_id || by_slot;
}

void own_found_use(const struct store *st, struct own_found *found)
{
    for (size_t i = 0; i < found->n; i++)
        store_kv_del(st, found->keys[i]);
    own_found_free(found);
}

void own_found_free(struct own_found *found)
{
    for (size_t i = 0; i < found->n; i++)
        free(found->keys[i]);
    free(found->keys);
    *found = (struct own_found){0};
}
