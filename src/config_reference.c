/* config_reference.c - writes the settings table as the Markdown reference
 * of docs/configuration.md (`schedworker --config-reference`). */
#include <stdio.h>

#include "config_table.h"

void sw_config_write_reference(FILE *out)
{
    char env[160];
    const struct setting *s;
    fprintf(out, "| key | default | environment | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; (s = sw_config_setting(i)); i++) {
        sw_config_env_name(s->name, env, sizeof(env));
        fprintf(out, "| `%s` | `%s` | `%s` | %s |\n", s->name, s->def, env, s->help);
    }
    fprintf(out, "| `type.NAME.FIELD` | see below | | duration_minutes, category (pc_catid), "
                 "min_notice_minutes, max_window_days, title of an appointment type |\n");
    fprintf(out, "| `practitioner.ID.hours` | clinic.hours | | working hours of one "
                 "practitioner |\n");
    fprintf(out, "| `practitioner.ID.user_id` | | | OpenEMR's numeric user id (`pc_aid`) of the "
                 "practitioner: lets the worker book for them without the `admin/users` ACL, and "
                 "accept that number as their id |\n");
    fprintf(out, "| `kafka.*` | see below | `SCHED_KAFKA_*` | passed to librdkafka as is |\n");
    fprintf(out, "\nAppointment types by default:\n\n| type | minutes | category | notice "
                 "(min) | window (days) |\n|---|---|---|---|---|\n");
    const struct sw_type_rule *t;
    for (size_t i = 0; (t = sw_config_default_type(i)); i++)
        fprintf(out, "| %s | %d | %d | %d | %d |\n", t->name, t->duration_min, t->category,
                t->min_notice_min, t->max_window_days);
    fprintf(out, "\nlibrdkafka defaults set by the worker:\n\n");
    const char *key, *value;
    for (size_t i = 0; (key = sw_config_default_kafka(i, &value)); i++)
        fprintf(out, "- `kafka.%s = %s`\n", key, value);
}
