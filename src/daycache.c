/* daycache.c - per practitioner-day busy time in the fleet's cache. */
#include "daycache.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "keys.h"
#define STALE_FACTOR 6

void day_busy_clear(struct day_busy *d)
{
    free(d->appts);
    free(d->blocks);
    free(d->free);
    memset(d, 0, sizeof(*d));
}

bool day_busy_add(struct av_interval **list, size_t *n, int64_t start, int64_t end)
{
    /* The capacity is not stored: it is the smallest power of two (at
     * least 4) that holds *n, which is what doubling from 4 allocates. */
    size_t cap = 0;
    if (*list)
        for (cap = 4; cap < *n; cap *= 2)
            ;
    struct av_interval *l = vec_grow(*list, &cap, sizeof(**list), *n + 1, DAY_BUSY_MAX);
    if (!l)
        return false;
    *list = l;
    l[(*n)++] = (struct av_interval){start, end};
    return true;
}

static void day_key(char *key, size_t n, const char *practitioner_id, struct tu_date day)
{
    char date[16];
    timeutil_format_date(day, date, sizeof(date));
    key_day(key, n, practitioner_id, date);
}

static json_t *list_json(const struct av_interval *l, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[I,I]", (json_int_t)l[i].start, (json_int_t)l[i].end));
    return a;
}

static bool list_parse(json_t *a, struct av_interval **l, size_t *n)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, v)
    {
        json_t *s = json_array_get(v, 0), *e = json_array_get(v, 1);
        if (!json_is_integer(s) || !json_is_integer(e) ||
            !day_busy_add(l, n, json_integer_value(s), json_integer_value(e)))
            return false;
    }
    return true;
}

static char *encode(const struct day_busy *d)
{
    json_t *o = json_pack("{s:I, s:o, s:o}", "t", (json_int_t)d->fetched_at, "a",
                          list_json(d->appts, d->n_appts), "b", list_json(d->blocks, d->n_blocks));
    if (o && d->has_free)
        json_object_set_new(o, "f", list_json(d->free, d->n_free));
    if (o && d->range_to)
        json_object_set_new(o, "r",
                            json_pack("[I,I]", (json_int_t)d->range_from, (json_int_t)d->range_to));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* A cache entry that does not parse is treated as a miss (and logged by
 * the caller's fresh fetch replacing it). */
static sw_err decode(const char *text, struct day_busy *d)
{
    json_t *o = json_loads(text, 0, NULL);
    sw_err err = SW_ERR_NOT_FOUND;
    memset(d, 0, sizeof(*d));
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "t")))
        goto out;
    d->fetched_at = json_integer_value(json_object_get(o, "t"));
    if (!list_parse(json_object_get(o, "a"), &d->appts, &d->n_appts) ||
        !list_parse(json_object_get(o, "b"), &d->blocks, &d->n_blocks))
        goto out;
    json_t *f = json_object_get(o, "f");
    if (f) {
        d->has_free = true;
        if (!list_parse(f, &d->free, &d->n_free))
            goto out;
    }
    json_t *r = json_object_get(o, "r");
    if (r) {
        if (!json_is_integer(json_array_get(r, 0)) || !json_is_integer(json_array_get(r, 1)))
            goto out;
        d->range_from = json_integer_value(json_array_get(r, 0));
        d->range_to = json_integer_value(json_array_get(r, 1));
    }
    err = SW_OK;
out:
    if (err)
        day_busy_clear(d);
    json_decref(o);
    return err;
}

static sw_err get_key(const struct store *st, const char *key, int ttl_s, int64_t now,
                      struct day_busy *out, bool *fresh)
{
    char *text = NULL;
    sw_err err = store_kv_get(st, key, &text);
    if (err)
        return err;
    err = decode(text, out);
    free(text);
    if (!err && fresh)
        *fresh = now - out->fetched_at < ttl_s;
    return err;
}

static sw_err put_key(const struct store *st, const char *key, int ttl_s, const struct day_busy *d)
{
    char *text = encode(d);
    if (!text)
        return SW_ERR_NOMEM;
    sw_err err = store_kv_put(st, key, text, ttl_s * STALE_FACTOR);
    free(text);
    return err;
}

sw_err daycache_get(const struct store *st, const char *practitioner_id, struct tu_date day,
                    int ttl_s, int64_t now, struct day_busy *out, bool *fresh)
{
    char key[160];
    day_key(key, sizeof(key), practitioner_id, day);
    return get_key(st, key, ttl_s, now, out, fresh);
}

sw_err daycache_put(const struct store *st, const char *practitioner_id, struct tu_date day,
                    int ttl_s, const struct day_busy *d)
{
    char key[160];
    day_key(key, sizeof(key), practitioner_id, day);
    return put_key(st, key, ttl_s, d);
}

sw_err daycache_invalidate(const struct store *st, const char *practitioner_id, struct tu_date day)
{
    char key[160];
    day_key(key, sizeof(key), practitioner_id, day);
    return store_kv_del(st, key);
}

/* A patient entry is used only when the range it covers holds the range
 * asked for. */
sw_err daycache_get_patient(const struct store *st, const char *patient_id, int ttl_s, int64_t now,
                            int64_t from, int64_t to, struct day_busy *out)
{
    char key[160];
    bool fresh = false;
    key_patient_busy(key, sizeof(key), patient_id);
    sw_err err = get_key(st, key, ttl_s, now, out, &fresh);
    if (err)
        return err;
    if (!fresh || out->range_from > from || out->range_to < to) {
        day_busy_clear(out);
        return SW_ERR_NOT_FOUND;
    }
    return SW_OK;
}

sw_err daycache_put_patient(const struct store *st, const char *patient_id, int ttl_s,
                            const struct day_busy *d)
{
    char key[160];
    key_patient_busy(key, sizeof(key), patient_id);
    return put_key(st, key, ttl_s, d);
}

sw_err daycache_invalidate_patient(const struct store *st, const char *patient_id)
{
    char key[160];
    key_patient_busy(key, sizeof(key), patient_id);
    return store_kv_del(st, key);
}
