/* config_hours.c - the opening-hours grammar of clinic.hours and
 * practitioner.ID.hours: "mon-fri 08:00-17:00, sat 09:00-12:00". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int day_index(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, day_names[i], 3) == 0)
            return i;
    return -1;
}

static bool parse_hhmm(const char *s, int *minutes)
{
    int h, m;
    char tail;
    if (sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
        (h == 24 && m != 0))
        return false;
    *minutes = h * 60 + m;
    return true;
}

/* One "days from-to" part into h. */
static bool parse_part(const char *part, struct sw_hours *h, char *err, size_t errlen)
{
    char days[16], from[8], to[8];
    char extra;
    if (sscanf(part, " %15[a-zA-Z-] %5[0-9:]-%5[0-9:] %c", days, from, to, &extra) != 3) {
        snprintf(err, errlen, "hours \"%s\": expected like \"mon-fri 08:00-17:00\"", part);
        return false;
    }
    char *dash = strchr(days, '-');
    int d0 = day_index(days, dash ? (size_t)(dash - days) : strlen(days));
    int d1 = dash ? day_index(dash + 1, strlen(dash + 1)) : d0;
    int open, close;
    if (d0 < 0 || d1 < 0) {
        snprintf(err, errlen, "hours: unknown day in \"%s\" (use sun..sat)", days);
        return false;
    }
    if (!parse_hhmm(from, &open) || !parse_hhmm(to, &close) || close <= open) {
        snprintf(err, errlen, "hours: bad time range %s-%s", from, to);
        return false;
    }
    for (int d = d0;; d = (d + 1) % 7) {
        h->open_min[d] = open;
        h->close_min[d] = close;
        if (d == d1)
            return true;
    }
}

bool sw_hours_parse(const char *text, struct sw_hours *out, char *err, size_t errlen)
{
    struct sw_hours h;
    memset(&h, 0, sizeof(h));
    char *copy = strdup(text), *save = NULL;
    if (!copy) {
        snprintf(err, errlen, "hours: out of memory");
        return false;
    }
    bool ok = true;
    for (char *part = strtok_r(copy, ",", &save); part && ok; part = strtok_r(NULL, ",", &save))
        ok = parse_part(part, &h, err, errlen);
    free(copy);
    if (ok)
        *out = h;
    return ok;
}
