/* config_env.c - the environment over the file: SCHED_<KEY> for every
 * setting, SCHED_KAFKA_* for librdkafka, and the short forms KAFKA_BROKERS,
 * REDIS_URL and OPENEMR_BASE_URL.  Problems print as "env NAME: message".
 * Any other SCHED_* variable is an error naming the closest known one (a
 * typo in a container's environment must not pass unnoticed), except
 * SCHED_TEST_* (the test suite's own) and the few below that are read
 * elsewhere. */
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

/* SCHED_* variables that are no setting but are read by the worker or its
 * tools. */
static const char *const other_known[] = {
    "SCHED_TOKEN_KEY",     /* tokencrypt.c: the token key itself, over oauth.token_key_file */
    "SCHED_SIGN_KEY_FILE", /* a client's signing keys (tools/sign, loadgen; tools/stack exports) */
    "SCHED_SIGN_KEY_ID",   /* and the key id it signs with */
};

/* Levenshtein distance of a and b (short strings), for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 159 || lb > 159)
        return (size_t)-1;
    size_t row[160];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Keeps c as *nearest when it is closer to want than what was seen. */
static void closer(const char *want, const char *c, char *nearest, size_t nearlen, size_t *dist)
{
    size_t d = distance(want, c);
    if (d < *dist) {
        *dist = d;
        snprintf(nearest, nearlen, "%s", c);
    }
}

/* Whether the variable name (n bytes) is one we know; else the closest
 * known name and its distance. */
static bool known(const char *name, size_t n, char *nearest, size_t nearlen, size_t *dist)
{
    char want[160], cand[160];
    if (n >= sizeof(want))
        n = sizeof(want) - 1;
    memcpy(want, name, n);
    want[n] = '\0';
    *dist = (size_t)-1;
    const struct setting *s;
    for (size_t i = 0; (s = sw_config_setting(i)); i++) {
        sw_config_env_name(s->name, cand, sizeof(cand));
        if (!strcmp(cand, want))
            return true;
        closer(want, cand, nearest, nearlen, dist);
    }
    for (size_t i = 0; i < sizeof(other_known) / sizeof(other_known[0]); i++) {
        if (!strcmp(other_known[i], want))
            return true;
        closer(want, other_known[i], nearest, nearlen, dist);
    }
    return false;
}

static int check_unknown(FILE *errs)
{
    extern char **environ;
    int errors = 0;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "SCHED_", 6) != 0 || !strncmp(*e, "SCHED_KAFKA_", 12) ||
            !strncmp(*e, "SCHED_TEST_", 11))
            continue;
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e), dist;
        char nearest[160] = "";
        if (known(*e, n, nearest, sizeof(nearest), &dist))
            continue;
        if (nearest[0] && dist <= 4 + n / 4)
            fprintf(errs, "env %.*s: no such setting; did you mean %s?\n", (int)n, *e, nearest);
        else
            fprintf(errs,
                    "env %.*s: no such setting (SCHED_ + a key of the reference, "
                    "upper-cased, dots as underscores)\n",
                    (int)n, *e);
        errors++;
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
    return errors + read_kafka(cfg, errs) + check_unknown(errs);
}
