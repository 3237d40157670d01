/* config_breaks.c - break.NAME.FIELD: recurring breaks and closures, in
 * the recurrence forms of OpenEMR's calendar (recurrence.h).  Each value is
 * checked as it is read (the file reader adds file:line); whether a break
 * is complete is checked once the whole configuration is read. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_lines.h"
#include "config_table.h"
#include "timeutil.h"

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int day_of(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && !strncasecmp(s, day_names[i], 3))
            return i;
    return -1;
}

/* Splits a lower-cased copy of text into at most max words at blanks and
 * commas; returns the count, or -1 when there are more. */
static int words(const char *text, char *buf, size_t buflen, char **w, int max)
{
    snprintf(buf, buflen, "%s", text);
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        if (n == max)
            return -1;
        w[n++] = t;
    }
    return n;
}

/* "day", "days", "week", ... and OpenEMR's "workday". */
static bool unit_of(const char *w, enum recur_unit *u)
{
    static const struct {
        const char *name;
        enum recur_unit unit;
    } units[] = {{"day", RECUR_DAY},
                 {"week", RECUR_WEEK},
                 {"month", RECUR_MONTH},
                 {"year", RECUR_YEAR},
                 {"workday", RECUR_WORKDAY}};
    size_t n = strlen(w);
    if (n > 1 && w[n - 1] == 's')
        n--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == n && !strncmp(w, units[i].name, n)) {
            *u = units[i].unit;
            return true;
        }
    return false;
}

/* "2", or "other" (OpenEMR's "every other"): the interval; else 0. */
static int count_of(const char *w)
{
    if (!strcmp(w, "other"))
        return 2;
    char *end;
    long v = strtol(w, &end, 10);
    return (*w && !*end && v >= 1 && v <= 999) ? (int)v : 0;
}

/* "every [N] UNIT" from w[1]; n words. */
static bool parse_every(char **w, int n, struct recur_rule *r)
{
    int k = 1, count = 1;
    if (n >= 3 && (count = count_of(w[1])) > 0)
        k = 2;
    else
        count = 1;
    if (k + 1 != n || !unit_of(w[k], &r->unit))
        return false;
    r->kind = RECUR_EVERY;
    r->interval = count;
    return true;
}

/* "1st|2nd|3rd|4th|last DAY of every|each [N] month(s)". */
static bool parse_nth(char **w, int n, struct recur_rule *r)
{
    static const char *const nth[] = {"1st", "2nd", "3rd", "4th", "last"};
    int i = 0;
    while (i < 5 && strcmp(w[0], nth[i]))
        i++;
    if (i == 5 || n < 5 || (r->weekday = day_of(w[1], strlen(w[1]))) < 0 || strcmp(w[2], "of") ||
        (strcmp(w[3], "every") && strcmp(w[3], "each")))
        return false;
    int k = 4, count = 1;
    if (n == 6 && (count = count_of(w[4])) > 0)
        k = 5;
    else
        count = 1;
    enum recur_unit u;
    if (k + 1 != n || !unit_of(w[k], &u) || u != RECUR_MONTH)
        return false;
    r->kind = RECUR_NTH_WEEKDAY;
    r->nth = i + 1; /* "last" is 5: RECUR_LAST */
    r->interval = count;
    return true;
}

/* "mon,wed,fri", "mon-fri", "weekdays". */
static bool parse_days(char **w, int n, struct recur_rule *r)
{
    unsigned mask = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(w[i], "weekdays")) {
            mask |= RECUR_WORKWEEK;
            continue;
        }
        char *dash = strchr(w[i], '-');
        int d0 = day_of(w[i], dash ? (size_t)(dash - w[i]) : strlen(w[i]));
        int d1 = dash ? day_of(dash + 1, strlen(dash + 1)) : d0;
        if (d0 < 0 || d1 < 0)
            return false;
        for (int d = d0;; d = (d + 1) % 7) {
            mask |= 1u << d;
            if (d == d1)
                break;
        }
    }
    r->kind = RECUR_WEEKDAYS;
    r->weekdays = mask;
    r->interval = 1;
    return mask != 0;
}

bool sw_repeat_parse(const char *text, struct recur_rule *out, char *err, size_t errlen)
{
    char buf[160], *w[12];
    int n = words(text, buf, sizeof(buf), w, 12);
    struct recur_rule r;
    memcpy(&r, out, sizeof(r)); /* padding too: reloads compare breaks as bytes */
    static const struct {
        const char *word;
        enum recur_unit unit;
    } shorthand[] = {{"daily", RECUR_DAY},
                     {"weekly", RECUR_WEEK},
                     {"monthly", RECUR_MONTH},
                     {"yearly", RECUR_YEAR}};
    bool ok = false;
    r.nth = r.weekday = 0;
    r.weekdays = 0;
    r.interval = 1;
    r.unit = RECUR_DAY;
    if (n == 1 && (!strcmp(w[0], "once") || !strcmp(w[0], "none"))) {
        r.kind = RECUR_ONCE;
        ok = true;
    }
    for (size_t i = 0; n == 1 && !ok && i < sizeof(shorthand) / sizeof(shorthand[0]); i++)
        if (!strcmp(w[0], shorthand[i].word)) {
            r.kind = RECUR_EVERY;
            r.unit = shorthand[i].unit;
            ok = true;
        }
    if (!ok && n >= 2 && !strcmp(w[0], "every"))
        ok = parse_every(w, n, &r);
    if (!ok && n >= 5)
        ok = parse_nth(w, n, &r);
    if (!ok && n >= 1)
        ok = parse_days(w, n, &r);
    if (!ok) {
        snprintf(err, errlen,
                 "repeat \"%s\": expected once, every [N] days|weeks|months|years|workdays, days "
                 "of the week (mon,wed,fri or mon-fri), or 1st|2nd|3rd|4th|last DAY of every [N] "
                 "months",
                 text);
        return false;
    }
    memcpy(out, &r, sizeof(r));
    return true;
}

static bool parse_hhmm(const char *s, size_t n, int *minutes)
{
    if (n != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* "12:00-13:00" or "all day". */
static bool parse_time(const char *v, struct sw_break *b, char *err, size_t errlen)
{
    const char *dash = strchr(v, '-');
    if (!strcasecmp(v, "all day") || !strcasecmp(v, "all-day")) {
        b->start_min = 0;
        b->end_min = 24 * 60;
    } else if (!dash || !parse_hhmm(v, (size_t)(dash - v), &b->start_min) ||
               !parse_hhmm(dash + 1, strlen(dash + 1), &b->end_min) || b->end_min <= b->start_min) {
        snprintf(err, errlen,
                 "time \"%s\": expected HH:MM-HH:MM (a later end, at most 24:00) or all day", v);
        return false;
    }
    b->has_time = true;
    return true;
}

static bool parse_day(const char *v, int64_t *out, char *err, size_t errlen)
{
    struct tu_date d;
    if (timeutil_parse_date(v, &d) != SW_OK) {
        snprintf(err, errlen, "\"%s\": expected a date YYYY-MM-DD", v);
        return false;
    }
    *out = timeutil_date_days(d);
    return true;
}

/* "2026-12-25, 2027-01-01" (blanks or commas between). */
static bool parse_except(const char *v, struct recur_rule *r, char *err, size_t errlen)
{
    char buf[CONFIG_LINE_MAX + 1], *save = NULL;
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", v);
    for (char *t = strtok_r(buf, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        if (n == RECUR_MAX_EXCEPT) {
            snprintf(err, errlen, "at most %d exception dates", RECUR_MAX_EXCEPT);
            return false;
        }
        if (!parse_day(t, &r->except[n++], err, errlen))
            return false;
    }
    r->n_except = n;
    return true;
}

static bool parse_practitioner(const char *v, struct sw_break *b, char *err, size_t errlen)
{
    size_t n = strlen(v);
    bool ok = n < sizeof(b->practitioner_id);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '.';
    if (!ok) {
        snprintf(err, errlen,
                 "practitioner \"%s\": expected a practitioner id (empty: the whole "
                 "clinic)",
                 v);
        return false;
    }
    snprintf(b->practitioner_id, sizeof(b->practitioner_id), "%s", v);
    return true;
}

static bool parse_category(const char *v, struct sw_break *b, char *err, size_t errlen)
{
    char *end;
    long c = strtol(v, &end, 10);
    if (!*v || *end || c < 0 || c > 1000000) {
        snprintf(err, errlen, "category \"%s\": expected OpenEMR's pc_catid (0: any)", v);
        return false;
    }
    b->category = (int)c;
    return true;
}

/* The break named name[0..n), created on first mention. */
static struct sw_break *break_named(struct sw_config *cfg, const char *name, size_t n, char *err,
                                    size_t errlen)
{
    for (int i = 0; i < cfg->n_breaks; i++)
        if (strlen(cfg->breaks[i].name) == n && !strncmp(cfg->breaks[i].name, name, n))
            return &cfg->breaks[i];
    if (cfg->n_breaks == SW_MAX_BREAKS) {
        snprintf(err, errlen, "too many breaks (at most %d)", SW_MAX_BREAKS);
        return NULL;
    }
    struct sw_break *b = &cfg->breaks[cfg->n_breaks++];
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "%.*s", (int)n, name);
    b->when.kind = RECUR_ONCE;
    b->when.interval = 1;
    b->when.first = RECUR_ALWAYS;
    b->when.until = RECUR_FOREVER;
    return b;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof(((struct sw_break *)0)->name))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

bool sw_breaks_set(struct sw_config *cfg, const char *rest, const char *value, char *err,
                   size_t errlen)
{
    static const char *const fields[] = {"time",   "repeat",       "from",    "until",
                                         "except", "practitioner", "category"};
    const char *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : 0, f = 0;
    while (dot && f < sizeof(fields) / sizeof(fields[0]) && strcmp(dot + 1, fields[f]))
        f++;
    if (!dot || !valid_name(rest, n) || f == sizeof(fields) / sizeof(fields[0])) {
        snprintf(err, errlen,
                 "break.%s: expected break.NAME.FIELD (NAME: letters, digits, _ or -; FIELD: "
                 "time, repeat, from, until, except, practitioner, category)",
                 rest);
        return false;
    }
    struct sw_break *b = break_named(cfg, rest, n, err, errlen);
    if (!b)
        return false;
    char why[200] = "";
    bool ok = false;
    switch (f) {
    case 0:
        ok = parse_time(value, b, why, sizeof(why));
        break;
    case 1:
        ok = sw_repeat_parse(value, &b->when, why, sizeof(why));
        b->has_repeat |= ok;
        break;
    case 2:
        ok = parse_day(value, &b->when.first, why, sizeof(why));
        break;
    case 3:
        ok = parse_day(value, &b->when.until, why, sizeof(why));
        break;
    case 4:
        ok = parse_except(value, &b->when, why, sizeof(why));
        break;
    case 5:
        ok = parse_practitioner(value, b, why, sizeof(why));
        break;
    case 6:
        ok = parse_category(value, b, why, sizeof(why));
        break;
    }
    if (!ok)
        snprintf(err, errlen, "break.%s: %s", rest, why);
    return ok;
}

int sw_breaks_check(const struct sw_config *cfg, const char *where, FILE *errs)
{
    int errors = 0;
    for (int i = 0; i < cfg->n_breaks; i++) {
        const struct sw_break *b = &cfg->breaks[i];
        const char *why = recur_check(&b->when);
        if (!b->has_time)
            fprintf(errs, "%s: break.%s: no time (set break.%s.time: HH:MM-HH:MM or all day)\n",
                    where, b->name, b->name);
        else if (!b->has_repeat)
            fprintf(errs,
                    "%s: break.%s: no repeat (set break.%s.repeat: once, every day, mon-fri, "
                    "...)\n",
                    where, b->name, b->name);
        else if (why)
            fprintf(errs, "%s: break.%s: %s\n", where, b->name, why);
        errors += !b->has_time || !b->has_repeat || why;
    }
    return errors;
}
