/* config_reference.c - writes the settings table as the Markdown reference
 * of docs/configuration.md (`schedworker --config-reference`). */
#include <stdio.h>

#include "config_table.h"

/* The break.* grammar: not table rows, so written out here. */
static void write_breaks(FILE *out)
{
    static const char *const text[] = {
        "",
        "Breaks and closures (`break.NAME.FIELD`, NAME of letters, digits, `_` and `-`):",
        "OpenEMR's API hands out a recurring calendar event (In Office, Out Of Office,",
        "Lunch, Reserved by default) as one row on its first date, without its",
        "recurrence (`src/Services/AppointmentService.php::search` selects no",
        "`pc_recurrtype`, `pc_recurrspec` or `pc_endDate`), so the worker repeats",
        "breaks and closures from here, as it takes working hours from `clinic.hours`.",
        "Search, hold and book never use time inside one.  Single events (a",
        "vacation, a meeting) and Holidays/Closed days (category 6 and 7, no",
        "provider: they close the clinic for everyone) are read from OpenEMR and",
        "need no setting.",
        "",
        "| field | value | meaning |",
        "|---|---|---|",
        "| `time` (required) | `HH:MM-HH:MM` or `all day` | local wall clock; a time in a "
        "spring-forward gap is the gap's end, a repeated one its first occurrence; `all day` "
        "is the whole local day (a closure) |",
        "| `repeat` (required) | see the forms below | which dates |",
        "| `from` | `YYYY-MM-DD` | the first date (OpenEMR's event date); required where the "
        "start decides the dates: `once`, every N > 1 days or workdays, every week, month or "
        "year, Nth weekday of every N > 1 months |",
        "| `until` | `YYYY-MM-DD` | the last date, inclusive (`pc_endDate`); none: no end |",
        "| `except` | dates, blank or comma separated (at most 16) | skipped (`exdate`) |",
        "| `practitioner` | a practitioner id | whose break; none: the whole clinic |",
        "| `category` | `pc_catid` | the OpenEMR events it stands for (8 Lunch, 11 Reserved, "
        "...), for the check below; 0 or none: any |",
        "",
        "`repeat` forms, as OpenEMR's calendar offers them "
        "(`library/appointments.inc.php::fetchEvents`, "
        "`library/encounter_events.inc.php::__increment`):",
        "",
        "| form | examples | OpenEMR |",
        "|---|---|---|",
        "| every N days, weeks, months, years or workdays (Monday to Friday) from `from` | "
        "`every day`, `daily`, `every 2 weeks`, `every other week`, `monthly`, `every 3 "
        "months`, `yearly`, `every workday` | `pc_recurrtype` 1; a month or year step is "
        "`mktime(month + N, day, year)`: from 31 January it rolls over to 3 March (2 March in a "
        "leap year) and goes on from there, from 29 February to 1 March, as OpenEMR's calendar "
        "shows it |",
        "| Nth or last weekday of every N months | `2nd tue of every month`, `last fri of every "
        "3 months`, `4th thu of every 12 months` | `pc_recurrtype` 2; `last` is the 5th if the "
        "month has one, else the 4th |",
        "| days of the week | `mon,wed,fri`, `mon-fri`, `fri-mon`, `weekdays` | "
        "`pc_recurrtype` 3 |",
        "| once | `once` | `pc_recurrtype` 0 |",
        "",
        "Example (`config/openemr-sim.conf` mirrors the simulator's seed this way):",
        "",
        "```",
        "break.lunch.time = 12:00-13:00",
        "break.lunch.repeat = every day",
        "break.lunch.category = 8",
        "break.huddle.time = 07:30-07:45",
        "break.huddle.repeat = every workday",
        "break.huddle.practitioner = 90cde167-7b9b-4ed1-bd55-533925cb2607",
        "break.xmas.time = all day",
        "break.xmas.repeat = yearly",
        "break.xmas.from = 2026-12-25",
        "```",
        "",
        "A bad value is reported as `file:line: break.NAME.FIELD: ...`; an incomplete or",
        "incoherent break (no time, no repeat, no `from` where one is needed, `until`",
        "before `from`) as `file: break.NAME: ...`.  At most 32 breaks.",
        "",
        "The check: OpenEMR may know breaks the configuration does not.  Each poll, the",
        "poller's leader looks at the provider events it reads (over `poller.horizon_days`):",
        "an In Office or Out Of Office marker is explained when the practitioner's hours",
        "open or close at its time that day, a Lunch or Reserved row when a break of that",
        "category (or 0) covers it.  Each unexplained row is logged once (warn, module",
        "`breakcheck`, with its id, category, practitioner and time);",
        "`schedworker_unexplained_provider_events` is their number at the last poll and",
        "`schedworker_unexplained_provider_events_total` counts each newly seen one.  A",
        "series whose first date lies before today is not in the API's answers at all, so",
        "it is not seen either: compare the configuration with OpenEMR's calendar when a",
        "series is created.",
    };
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
        fprintf(out, "%s\n", text[i]);
}

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
    fprintf(out, "| `break.NAME.FIELD` | none | | a recurring break or closure (see below): time, "
                 "repeat, from, until, except, practitioner, category |\n");
    fprintf(out, "| `kafka.*` | see below | `SCHED_KAFKA_*` | passed to librdkafka as is |\n");
    fprintf(out, "\nAppointment types by default:\n\n| type | minutes | category | notice "
                 "(min) | window (days) |\n|---|---|---|---|---|\n");
    const struct sw_type_rule *t;
    for (size_t i = 0; (t = sw_config_default_type(i)); i++)
        fprintf(out, "| %s | %d | %d | %d | %d |\n", t->name, t->duration_min, t->category,
                t->min_notice_min, t->max_window_days);
    write_breaks(out);
    fprintf(out, "\nlibrdkafka defaults set by the worker:\n\n");
    const char *key, *value;
    for (size_t i = 0; (key = sw_config_default_kafka(i, &value)); i++)
        fprintf(out, "- `kafka.%s = %s`\n", key, value);
}
