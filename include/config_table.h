/* config_table.h - how the files of the config module see each other.
 *
 * config.c owns the settings table and the setters; config_file.c,
 * config_env.c and config_reference.c read the table through these
 * functions.  Not for other modules: they use config.h. */
#ifndef SW_CONFIG_TABLE_H
#define SW_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum setting_kind { K_STR, K_INT, K_BOOL, K_HOURS, K_SURFACE, K_GRANT, K_LOGLEVEL };

/* One row of the settings table. */
struct setting {
    const char *name;
    enum setting_kind kind;
    size_t offset; /* of the field in struct sw_config */
    const char *def;
    int min, max; /* K_INT only */
    const char *help;
};

/* Row i of the settings table, NULL past the end. */
const struct setting *sw_config_setting(size_t i);
/* Appointment type i of the defaults, NULL past the end. */
const struct sw_type_rule *sw_config_default_type(size_t i);
/* librdkafka default i: its key (value in *value), NULL past the end. */
const char *sw_config_default_kafka(size_t i, const char **value);

/* Sets one librdkafka property (key without "kafka."). */
bool sw_config_set_kafka(struct sw_config *cfg, const char *key, const char *value, char *err,
                         size_t errlen);

/* break.NAME.FIELD (config_breaks.c): rest is "NAME.FIELD". */
bool sw_breaks_set(struct sw_config *cfg, const char *rest, const char *value, char *err,
                   size_t errlen);
/* Every break complete and coherent; prints each problem as
 * "where: break.NAME: ..." and returns how many. */
int sw_breaks_check(const struct sw_config *cfg, const char *where, FILE *errs);

/* The file and the environment over cfg; each returns the number of
 * problems it printed to errs. */
int sw_config_read_file(struct sw_config *cfg, const char *path, FILE *errs);
int sw_config_read_env(struct sw_config *cfg, FILE *errs);

/* The environment variable of a setting: SCHED_OPENEMR_BASE_URL. */
void sw_config_env_name(const char *key, char *out, size_t n);

#endif
