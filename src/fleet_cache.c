/* fleet_cache.c - the fleet's JSON cache: values under a caller's logical
 * key (see keys.h for every one), each with a time to live. */
#include "fleet_internal.h"

sw_err fleet_cache_get(struct fleet *f, const char *key, char **value)
{
    *value = NULL;
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    return err ? err : fl_get(f, k, value, NULL);
}

sw_err fleet_cache_put(struct fleet *f, const char *key, const char *value, int ttl_s)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "SET");
    fl_arg(&a, k);
    fl_arg(&a, value);
    fl_arg(&a, "EX");
    fl_arg_int(&a, ttl_s > 0 ? ttl_s : 1);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}

sw_err fleet_cache_del(struct fleet *f, const char *key)
{
    char k[FL_KEY_MAX];
    sw_err err = fl_key(f, k, sizeof(k), KEY_CACHE, key);
    if (err)
        return err;
    struct fl_args a = {0};
    fl_arg(&a, "DEL");
    fl_arg(&a, k);
    redisReply *r = NULL;
    err = fl_command(f, &a, &r);
    freeReplyObject(r);
    return err;
}
