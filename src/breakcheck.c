/* breakcheck.c - provider events the configuration does not explain (see
 * breakcheck.h). */
#include "breakcheck.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "rules.h"
#include "timeutil.h"

enum { CAT_IN_OFFICE = 2, CAT_OUT_OF_OFFICE = 3, CAT_LUNCH = 8, CAT_RESERVED = 11 };

/* The categories OpenEMR repeats by default (sql/database.sql). */
static bool recurring_category(int c)
{
    return c == CAT_IN_OFFICE || c == CAT_OUT_OF_OFFICE || c == CAT_LUNCH || c == CAT_RESERVED;
}

/* In Office at the opening, Out Of Office at the closing of that day. */
static const char *marker_why(const struct sw_config *cfg, const struct oe_appt *row)
{
    struct tu_date d;
    int minute;
    if (timeutil_local_date(row->start, &d) || timeutil_local_minute(row->start, &minute, NULL))
        return "its time cannot be read";
    const struct sw_hours *h = sw_config_hours(cfg, row->practitioner_id);
    int wd = timeutil_date_weekday(d);
    if (h->open_min[wd] == h->close_min[wd])
        return "the configured hours are closed that weekday";
    if (row->category == CAT_IN_OFFICE && h->open_min[wd] != minute)
        return "the configured hours do not open at that time";
    if (row->category == CAT_OUT_OF_OFFICE && h->close_min[wd] != minute)
        return "the configured hours do not close at that time";
    return NULL;
}

static bool break_covers(const struct sw_break *b, const struct oe_appt *row, struct tu_date d)
{
    int64_t s, e, end = row->end > row->start ? row->end : row->start;
    return (b->category == 0 || b->category == row->category) &&
           rules_break_applies(b, row->practitioner_id) && rules_break_on(b, d, &s, &e) == SW_OK &&
           s <= row->start && end <= e;
}

const char *breakcheck_why(const struct sw_config *cfg, const struct oe_appt *row)
{
    struct tu_date d;
    if (!row->provider_event || !row->practitioner_id[0] || !recurring_category(row->category) ||
        row->status == OE_APPT_CANCELLED || row->status == OE_APPT_NOSHOW)
        return NULL;
    if (row->category == CAT_IN_OFFICE || row->category == CAT_OUT_OF_OFFICE)
        return marker_why(cfg, row);
    if (timeutil_local_date(row->start, &d))
        return "its time cannot be read";
    for (int i = 0; i < cfg->n_breaks; i++)
        if (break_covers(&cfg->breaks[i], row, d))
            return NULL;
    return "no break.* setting covers it";
}

static bool was_seen(const struct breakcheck *st, const char *id)
{
    for (size_t i = 0; i < st->n_seen; i++)
        if (!strcmp(st->seen[i], id))
            return true;
    return false;
}

static void report(const struct oe_appt *row, const char *why)
{
    char day[TIMEUTIL_DATE_LEN] = "", from[8] = "", to[8] = "";
    timeutil_format_local_date(row->start, day, sizeof(day));
    timeutil_format_hhmm(row->start, from, sizeof(from));
    timeutil_format_hhmm(row->end > row->start ? row->end : row->start, to, sizeof(to));
    log_warn("breakcheck",
             "OpenEMR event %s (category %d, practitioner %s, %s %s-%s) is not explained by the "
             "configuration: %s; OpenEMR gives a recurring event on its first date only, so set "
             "clinic.hours, practitioner.ID.hours or break.* to match the calendar",
             row->id, row->category, row->practitioner_id, day, from, to, why);
}

void breakcheck_rows(const struct sw_config *cfg, const struct oe_appt *rows, size_t n,
                     struct breakcheck *st)
{
    char now_seen[BREAKCHECK_MAX_REMEMBERED][64];
    size_t n_now = 0;
    st->checked = st->unexplained = st->newly = 0;
    for (size_t i = 0; i < n; i++) {
        const struct oe_appt *row = &rows[i];
        if (row->provider_event && row->practitioner_id[0] && recurring_category(row->category))
            st->checked++;
        const char *why = breakcheck_why(cfg, row);
        if (!why)
            continue;
        st->unexplained++;
        if (!was_seen(st, row->id)) {
            st->newly++;
            report(row, why);
        }
        if (n_now < BREAKCHECK_MAX_REMEMBERED)
            snprintf(now_seen[n_now++], sizeof(now_seen[0]), "%s", row->id);
    }
    memcpy(st->seen, now_seen, n_now * sizeof(now_seen[0]));
    st->n_seen = n_now;
}
