/* config_env.c - the environment over the file: SCHED_<KEY> for every
 * setting, SCHED_KAFKA_* for librdkafka, and the short forms KAFKA_BROKERS,
 * REDIS_URL and OPENEMR_BASE_URL.  Problems print as "env NAME: message". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"

/* openemr.base_url -> SCHED_OPENEMR_BASE_URL */
void sw_config_env_name(const char *key, char *out, size_t n)
{
    size_t j = snprintf(out, n, "SCHED_");
    for (const char *p = key; *p && j + 1 < n; p++)
        out[j++] = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
    out[j] = '\0';
}

/* SCHED_KAFKA_SECURITY_PROTOCOL=SSL -> kafka.security.protocol */
static int read_kafka(struct sw_config *cfg, FILE *errs)
{
    extern char **environ;
    int errors = 0;
    char err[512];
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "SCHED_KAFKA_", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[160];
        size_t j = 0;
        for (const char *p = *e + 12; p < eq && j + 1 < sizeof(key); p++)
            key[j++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[j] = '\0';
        if (!sw_config_set_kafka(cfg, key, eq + 1, err, sizeof(err))) {
            fprintf(errs, "env %.*s: %s\n", (int)(eq - *e), *e, err);
            errors++;
        }
    }
    return errors;
}

int sw_config_read_env(struct sw_config *cfg, FILE *errs)
{
    static const char *const aliases[][2] = {
        {"KAFKA_BROKERS", "kafka.bootstrap.servers"},
        {"REDIS_URL", "redis.url"},
        {"OPENEMR_BASE_URL", "openemr.base_url"},
    };
    int errors = 0;
    char err[512], name[160];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        const char *v = getenv(aliases[i][0]);
        if (v && *v && !sw_config_set(cfg, aliases[i][1], v, err, sizeof(err))) {
            fprintf(errs, "env %s: %s\n", aliases[i][0], err);
            errors++;
        }
    }
    const struct setting *s;
    for (size_t i = 0; (s = sw_config_setting(i)); i++) {
        sw_config_env_name(s->name, name, sizeof(name));
        const char *v = getenv(name);
        if (v && !sw_config_set(cfg, s->name, v, err, sizeof(err))) {
            fprintf(errs, "env %s: %s\n", name, err);
            errors++;
        }
    }
    return errors + read_kafka(cfg, errs);
}
