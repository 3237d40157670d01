/* rules.c - booking rules for one requested start (see rules.h). */
#include "rules.h"

#include <stdio.h>
#include <string.h>

#include "recurrence.h"

static void say(char *msg, size_t msglen, const char *fmt_text)
{
    if (msg && msglen)
        snprintf(msg, msglen, "%s", fmt_text);
}

/* "24 hours" / "90 minutes" for a notice given in minutes. */
static void describe_minutes(int min, char *buf, size_t len)
{
    if (min % 60 == 0)
        snprintf(buf, len, "%d hour%s", min / 60, min == 60 ? "" : "s");
    else
        snprintf(buf, len, "%d minute%s", min, min == 1 ? "" : "s");
}

static bool type_ok(const struct sw_type_rule *type)
{
    return type && type->duration_min > 0 && type->min_notice_min >= 0 &&
           type->max_window_days >= 0;
}

static bool hours_ok(const struct sw_hours *h)
{
    for (int i = 0; i < 7; i++)
        if (h->open_min[i] < 0 || h->close_min[i] > 1440 || h->open_min[i] > h->close_min[i])
            return false;
    return true;
}

int64_t rules_appt_end(const struct sw_type_rule *type, int64_t start)
{
    return start + (int64_t)type->duration_min * 60;
}

sw_err rules_earliest_start(const struct sw_type_rule *type, int64_t now, int64_t *out)
{
    if (!type_ok(type))
        return SW_ERR_INVALID;
    *out = now + (int64_t)type->min_notice_min * 60;
    return SW_OK;
}

sw_err rules_latest_start(const struct sw_type_rule *type, int64_t now, int64_t *out)
{
    if (!type_ok(type))
        return SW_ERR_INVALID;
    return timeutil_add_local_days(now, type->max_window_days, out);
}

sw_err rules_window_end(const struct sw_type_rule *type, int64_t now, int64_t *out)
{
    int64_t latest;
    sw_err err = rules_latest_start(type, now, &latest);
    if (!err)
        *out = rules_appt_end(type, latest);
    return err;
}

sw_err rules_check_notice(const struct sw_type_rule *type, int64_t now, int64_t start, char *msg,
                          size_t msglen)
{
    int64_t earliest;
    char what[32], when[TIMEUTIL_RFC3339_LEN], text[160];
    if (rules_earliest_start(type, now, &earliest) != SW_OK) {
        say(msg, msglen, "unknown or malformed appointment type");
        return SW_ERR_INVALID;
    }
    if (start >= earliest)
        return SW_OK;
    describe_minutes(type->min_notice_min, what, sizeof what);
    if (timeutil_format_rfc3339(earliest, when, sizeof when) != SW_OK)
        when[0] = '\0';
    snprintf(text, sizeof text, "%s appointments need at least %s notice; the earliest start is %s",
             type->name, what, when);
    say(msg, msglen, text);
    return SW_ERR_REJECTED;
}

sw_err rules_check_window(const struct sw_type_rule *type, int64_t now, int64_t start, char *msg,
                          size_t msglen)
{
    int64_t latest;
    char when[TIMEUTIL_RFC3339_LEN], text[160];
    if (rules_latest_start(type, now, &latest) != SW_OK) {
        say(msg, msglen, "unknown or malformed appointment type");
        return SW_ERR_INVALID;
    }
    if (start <= latest)
        return SW_OK;
    if (timeutil_format_rfc3339(latest, when, sizeof when) != SW_OK)
        when[0] = '\0';
    snprintf(text, sizeof text,
             "appointments can be booked at most %d days ahead; the latest start is %s",
             type->max_window_days, when);
    say(msg, msglen, text);
    return SW_ERR_REJECTED;
}

sw_err rules_day_hours(const struct sw_hours *hours, struct tu_date d, int64_t *open,
                       int64_t *close)
{
    if (!hours || !hours_ok(hours) || !timeutil_date_is_valid(d))
        return SW_ERR_INVALID;
    int wd = timeutil_date_weekday(d);
    if (hours->open_min[wd] == hours->close_min[wd])
        return SW_ERR_NOT_FOUND;
    sw_err e = timeutil_local_bound(d, (int64_t)hours->open_min[wd] * 60, open);
    if (e == SW_OK)
        e = timeutil_local_bound(d, (int64_t)hours->close_min[wd] * 60, close);
    return e;
}

sw_err rules_check_hours(const struct sw_type_rule *type, const struct sw_hours *hours,
                         int64_t start, char *msg, size_t msglen)
{
    struct tu_date d;
    int64_t open, close;
    if (!type_ok(type) || !hours || !hours_ok(hours) || timeutil_local_date(start, &d) != SW_OK) {
        say(msg, msglen, "malformed appointment type, hours or start");
        return SW_ERR_INVALID;
    }
    sw_err e = rules_day_hours(hours, d, &open, &close);
    if (e == SW_ERR_NOT_FOUND) {
        say(msg, msglen, "the clinic is closed that day");
        return SW_ERR_REJECTED;
    }
    if (e != SW_OK) {
        say(msg, msglen, "the opening hours of that day cannot be computed");
        return SW_ERR_INVALID;
    }
    if (start < open) {
        say(msg, msglen, "that time is before opening hours");
        return SW_ERR_REJECTED;
    }
    if (rules_appt_end(type, start) > close) {
        say(msg, msglen, "the appointment would not end before closing time");
        return SW_ERR_REJECTED;
    }
    return SW_OK;
}

sw_err rules_check_grid(const struct sw_hours *hours, int slot_minutes, int64_t start, char *msg,
                        size_t msglen)
{
    struct tu_date d;
    int minute, sec;
    int64_t first;
    char text[120];
    if (!hours || !hours_ok(hours) || slot_minutes <= 0 ||
        timeutil_local_date(start, &d) != SW_OK ||
        timeutil_local_minute(start, &minute, &sec) != SW_OK) {
        say(msg, msglen, "malformed hours, slot size or start");
        return SW_ERR_INVALID;
    }
    int open = hours->open_min[timeutil_date_weekday(d)];
    /* The first occurrence check rejects the second 01:30 of a fall-back
     * day, which search never offers. */
    if (sec != 0 || (minute - open) % slot_minutes != 0 ||
        timeutil_local_to_epoch(d, (int64_t)minute * 60, &first) != SW_OK || first != start) {
        snprintf(text, sizeof text,
                 "appointments start on a %d-minute grid from opening time; pick an offered slot",
                 slot_minutes);
        say(msg, msglen, text);
        return SW_ERR_REJECTED;
    }
    return SW_OK;
}

sw_err rules_check_booking(const struct sw_type_rule *type, const struct sw_hours *hours,
                           int slot_minutes, int64_t now, int64_t start, char *msg, size_t msglen)
{
    sw_err e = rules_check_notice(type, now, start, msg, msglen);
    if (e == SW_OK)
        e = rules_check_window(type, now, start, msg, msglen);
    if (e == SW_OK && hours)
        e = rules_check_hours(type, hours, start, msg, msglen);
    if (e == SW_OK && hours && slot_minutes > 0)
        e = rules_check_grid(hours, slot_minutes, start, msg, msglen);
    return e;
}

bool rules_break_applies(const struct sw_break *b, const char *practitioner_id)
{
    return !b->practitioner_id[0] ||
           (practitioner_id && !strcmp(b->practitioner_id, practitioner_id));
}

sw_err rules_break_on(const struct sw_break *b, struct tu_date d, int64_t *start, int64_t *end)
{
    if (!timeutil_date_is_valid(d))
        return SW_ERR_INVALID;
    if (!recur_occurs(&b->when, timeutil_date_days(d)))
        return SW_ERR_NOT_FOUND;
    sw_err e = timeutil_local_bound(d, (int64_t)b->start_min * 60, start);
    if (e == SW_OK)
        e = timeutil_local_bound(d, (int64_t)b->end_min * 60, end);
    return e;
}

sw_err rules_breaks_each(const struct sw_config *cfg, const char *practitioner_id, int64_t from,
                         int64_t to, rules_break_fn each, void *arg)
{
    struct tu_date d, last;
    if (!cfg || cfg->n_breaks == 0 || to <= from)
        return SW_OK;
    if (timeutil_local_date(from, &d) != SW_OK || timeutil_local_date(to - 1, &last) != SW_OK)
        return SW_ERR_INVALID;
    for (; timeutil_date_cmp(d, last) <= 0; d = timeutil_date_add(d, 1)) {
        for (int i = 0; i < cfg->n_breaks; i++) {
            const struct sw_break *b = &cfg->breaks[i];
            int64_t s, e;
            if (!rules_break_applies(b, practitioner_id))
                continue;
            sw_err err = rules_break_on(b, d, &s, &e);
            if (err == SW_ERR_NOT_FOUND || (err == SW_OK && (e <= from || s >= to || e <= s)))
                continue;
            if (err == SW_OK)
                err = each(arg, s, e, b);
            if (err != SW_OK)
                return err;
        }
    }
    return SW_OK;
}

struct first_clash {
    const struct sw_break *b;
};

static sw_err note_clash(void *arg, int64_t start, int64_t end, const struct sw_break *b)
{
    (void)start;
    (void)end;
    ((struct first_clash *)arg)->b = b;
    return SW_ERR_CONFLICT; /* the first one is enough */
}

sw_err rules_check_breaks(const struct sw_config *cfg, const char *practitioner_id, int64_t start,
                          int64_t end, char *msg, size_t msglen)
{
    struct first_clash c = {NULL};
    char text[120];
    sw_err e = rules_breaks_each(cfg, practitioner_id, start, end, note_clash, &c);
    if (e == SW_OK)
        return SW_OK;
    if (e != SW_ERR_CONFLICT || !c.b) {
        say(msg, msglen, "the configured breaks of that day cannot be computed");
        return SW_ERR_INVALID;
    }
    bool all_day = c.b->start_min == 0 && c.b->end_min == 24 * 60;
    snprintf(text, sizeof text, "%s (%s)",
             all_day ? "no appointments that day" : "that time falls in a break", c.b->name);
    say(msg, msglen, text);
    return SW_ERR_REJECTED;
}

const struct sw_type_rule *rules_type_of(const struct sw_config *cfg, const char *type_name,
                                         int category, int64_t duration_s)
{
    const struct sw_type_rule *t = type_name && *type_name ? sw_config_type(cfg, type_name) : NULL;
    for (int i = 0; !t && i < cfg->n_types; i++)
        if (cfg->types[i].category == category &&
            (int64_t)cfg->types[i].duration_min * 60 == duration_s)
            t = &cfg->types[i];
    for (int i = 0; !t && i < cfg->n_types; i++)
        if ((int64_t)cfg->types[i].duration_min * 60 == duration_s)
            t = &cfg->types[i];
    return t;
}
