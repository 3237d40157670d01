/* timeutil.c - instants, dates and local wall times (see timeutil.h).
 *
 * Calendar arithmetic is done on day numbers (Howard Hinnant's
 * days_from_civil), never with mktime: mktime's treatment of gaps and
 * repeated hours varies, and it is what we must get right.  The local
 * offset of an instant comes from localtime_r's tm_gmtoff. */
#include "timeutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECS_PER_DAY 86400

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static struct tu_date civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct tu_date d;
    d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    d.year = (int)(yoe + era * 400 + (d.month <= 2));
    return d;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool timeutil_date_is_valid(struct tu_date d)
{
    return d.year >= 1 && d.year <= 9999 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
           d.day <= month_days(d.year, d.month);
}

int64_t timeutil_date_days(struct tu_date d)
{
    return days_from_civil(d.year, d.month, d.day);
}

struct tu_date timeutil_date_add(struct tu_date d, int n)
{
    return civil_from_days(days_from_civil(d.year, d.month, d.day) + n);
}

int timeutil_date_weekday(struct tu_date d)
{
    int64_t z = days_from_civil(d.year, d.month, d.day);
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = (z + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

int timeutil_date_cmp(struct tu_date a, struct tu_date b)
{
    int64_t x = timeutil_date_days(a), y = timeutil_date_days(b);
    return x < y ? -1 : x > y;
}

/* Exactly n decimal digits at s into *v. */
static bool digits(const char *s, int n, int *v)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return true;
}

/* "YYYY-MM-DD" at the start of s (not necessarily the end). */
static bool parse_date_prefix(const char *s, struct tu_date *out)
{
    struct tu_date d;
    if (!digits(s, 4, &d.year) || s[4] != '-' || !digits(s + 5, 2, &d.month) || s[7] != '-' ||
        !digits(s + 8, 2, &d.day))
        return false;
    if (!timeutil_date_is_valid(d))
        return false;
    *out = d;
    return true;
}

sw_err timeutil_parse_date(const char *s, struct tu_date *out)
{
    if (!s || strlen(s) != 10 || !parse_date_prefix(s, out))
        return SW_ERR_INVALID;
    return SW_OK;
}

sw_err timeutil_format_date(struct tu_date d, char *buf, size_t len)
{
    if (!timeutil_date_is_valid(d) || len < TIMEUTIL_DATE_LEN)
        return SW_ERR_INVALID;
    snprintf(buf, len, "%04d-%02d-%02d", d.year, d.month, d.day);
    return SW_OK;
}

/* "HH:MM:SS" at s into seconds of day; hour 0..23, second 0..59. */
static bool parse_hms(const char *s, bool seconds_required, int *sec_of_day, size_t *used)
{
    int h, m, sec = 0;
    if (!digits(s, 2, &h) || s[2] != ':' || !digits(s + 3, 2, &m))
        return false;
    *used = 5;
    if (s[5] == ':') {
        if (!digits(s + 6, 2, &sec))
            return false;
        *used = 8;
    } else if (seconds_required) {
        return false;
    }
    if (h > 23 || m > 59 || sec > 59)
        return false;
    *sec_of_day = h * 3600 + m * 60 + sec;
    return true;
}

sw_err timeutil_parse_rfc3339(const char *s, int64_t *out)
{
    struct tu_date d;
    int sod, oh, om, off;
    size_t used;
    if (!s || strlen(s) < 20 || !parse_date_prefix(s, &d))
        return SW_ERR_INVALID;
    if (s[10] != 'T' && s[10] != 't')
        return SW_ERR_INVALID;
    if (!parse_hms(s + 11, true, &sod, &used))
        return SW_ERR_INVALID;
    const char *p = s + 11 + used;
    if (*p == '.') { /* fraction: at least one digit, truncated */
        p++;
        if (*p < '0' || *p > '9')
            return SW_ERR_INVALID;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
               digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    } else {
        return SW_ERR_INVALID;
    }
    *out = timeutil_date_days(d) * SECS_PER_DAY + sod - off;
    return SW_OK;
}

static bool local_tm(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;
    if ((int64_t)tt != t)
        return false;
    return localtime_r(&tt, tm) != NULL;
}

/* localtime_r's offset at t: false when t has no local time. */
static bool offset_raw(int64_t t, long *off)
{
    struct tm tm;
    if (!local_tm(t, &tm))
        return false;
    *off = tm.tm_gmtoff;
    return true;
}

/* offset_at's memo, per thread: the offset of 12-hour spans, direct
 * mapped.  A span whose first and last seconds show one offset shows it
 * throughout: resolve_wall's assumption (at most one offset change within
 * a day) leaves no room for two changes inside it.  A span with a change
 * inside is asked instant by instant.  A cached search resolves each
 * offered slot's wall time with six offsets: localtime_r (which also takes
 * glibc's one time zone lock) was a tenth of the worker's CPU.
 * timeutil_set_zone() bumps zone_gen, which drops every thread's memo. */
#define SPAN_S     43200
#define SPANS      32
#define SPAN_MAX_T ((int64_t)1 << 40) /* some 34,000 years */
static atomic_uint zone_gen = 1;
static _Thread_local struct span {
    int64_t k;
    long off;
    unsigned gen; /* 0: empty */
    bool whole;   /* off holds for the whole span */
} spans[SPANS];

/* Local offset (seconds east of UTC) at instant t; 0 if unknown. */
static long offset_at(int64_t t)
{
    long off = 0;
    if (t > SPAN_MAX_T || t < -SPAN_MAX_T) /* no span arithmetic near int64's ends */
        return offset_raw(t, &off) ? off : 0;
    int64_t k = t >= 0 ? t / SPAN_S : -((-t + SPAN_S - 1) / SPAN_S);
    struct span *s = &spans[(uint64_t)k % SPANS];
    unsigned gen = atomic_load_explicit(&zone_gen, memory_order_relaxed);
    if (s->gen != gen || s->k != k) {
        long a = 0, b = 0;
        bool whole =
            offset_raw(k * SPAN_S, &a) && offset_raw(k * SPAN_S + SPAN_S - 1, &b) && a == b;
        *s = (struct span){k, a, gen, whole};
    }
    if (s->whole)
        return s->off;
    return offset_raw(t, &off) ? off : 0;
}

long timeutil_offset_at(int64_t t)
{
    return offset_at(t);
}

sw_err timeutil_format_rfc3339(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    if (len < TIMEUTIL_RFC3339_LEN || !local_tm(t, &tm) || tm.tm_year + 1900 < 1 ||
        tm.tm_year + 1900 > 9999)
        return SW_ERR_INVALID;
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, (off / 60) % 100,
             off % 60);
    return SW_OK;
}

sw_err timeutil_local_date(int64_t t, struct tu_date *out)
{
    struct tm tm;
    if (!local_tm(t, &tm))
        return SW_ERR_INVALID;
    out->year = tm.tm_year + 1900;
    out->month = tm.tm_mon + 1;
    out->day = tm.tm_mday;
    return SW_OK;
}

sw_err timeutil_local_minute(int64_t t, int *minute, int *sec)
{
    struct tm tm;
    if (!local_tm(t, &tm))
        return SW_ERR_INVALID;
    *minute = tm.tm_hour * 60 + tm.tm_min;
    if (sec)
        *sec = tm.tm_sec;
    return SW_OK;
}

/* Resolves wall time w ("local seconds since the epoch as if UTC").  Returns
 * true and the first instant showing w, or false for a gap.  Assumes at most
 * one offset change within a day either side, true of every real zone. */
static bool resolve_wall(int64_t w, int64_t *out)
{
    long offs[3] = {offset_at(w - SECS_PER_DAY), offset_at(w), offset_at(w + SECS_PER_DAY)};
    bool found = false;
    int64_t best = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = w - offs[i];
        if (t + offset_at(t) == w && (!found || t < best)) {
            best = t;
            found = true;
        }
    }
    if (found)
        *out = best;
    return found;
}

/* For a wall time w in a gap: the instant the gap ends. */
static int64_t gap_end(int64_t w)
{
    long before = offset_at(w - SECS_PER_DAY), after = offset_at(w + SECS_PER_DAY);
    int64_t lo = w - after, hi = w - before; /* lo still shows the old offset */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (offset_at(mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

sw_err timeutil_local_to_epoch(struct tu_date d, int64_t sec_of_day, int64_t *out)
{
    if (!timeutil_date_is_valid(d) || sec_of_day < 0 || sec_of_day > 7 * SECS_PER_DAY)
        return SW_ERR_INVALID;
    return resolve_wall(timeutil_date_days(d) * SECS_PER_DAY + sec_of_day, out) ? SW_OK
                                                                                : SW_ERR_INVALID;
}

sw_err timeutil_local_bound(struct tu_date d, int64_t sec_of_day, int64_t *out)
{
    if (!timeutil_date_is_valid(d) || sec_of_day < 0 || sec_of_day > 7 * SECS_PER_DAY)
        return SW_ERR_INVALID;
    int64_t w = timeutil_date_days(d) * SECS_PER_DAY + sec_of_day;
    if (!resolve_wall(w, out))
        *out = gap_end(w);
    return SW_OK;
}

sw_err timeutil_day_start(struct tu_date d, int64_t *out)
{
    return timeutil_local_bound(d, 0, out);
}

sw_err timeutil_add_local_days(int64_t t, int n, int64_t *out)
{
    struct tm tm;
    if (!local_tm(t, &tm))
        return SW_ERR_INVALID;
    struct tu_date d = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
    d = timeutil_date_add(d, n);
    return timeutil_local_bound(d, tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec, out);
}

sw_err timeutil_parse_local(const char *date, const char *hms, int64_t *out)
{
    struct tu_date d;
    int sod;
    size_t used;
    if (!date || !hms || timeutil_parse_date(date, &d) != SW_OK)
        return SW_ERR_INVALID;
    size_t n = strlen(hms);
    if ((n != 5 && n != 8) || !parse_hms(hms, false, &sod, &used) || used != n)
        return SW_ERR_INVALID;
    return timeutil_local_to_epoch(d, sod, out);
}

sw_err timeutil_parse_wall(const char *date, const char *hms, int64_t *out)
{
    struct tu_date d;
    int sod;
    size_t used;
    if (!date || !hms || timeutil_parse_date(date, &d) != SW_OK)
        return SW_ERR_INVALID;
    size_t n = strlen(hms);
    if ((n != 5 && n != 8) || !parse_hms(hms, false, &sod, &used) || used != n)
        return SW_ERR_INVALID;
    return timeutil_local_bound(d, sod, out);
}

/* An offset at p ("Z", "+HH:MM", "+HHMM", "+HH") to the end of the string. */
static bool parse_offset(const char *p, int *off)
{
    int oh = 0, om = 0;
    size_t n = strlen(p);
    if ((*p == 'Z' || *p == 'z') && n == 1) {
        *off = 0;
        return true;
    }
    if (*p != '+' && *p != '-')
        return false;
    bool ok = (n == 3 && digits(p + 1, 2, &oh)) ||
              (n == 5 && digits(p + 1, 2, &oh) && digits(p + 3, 2, &om)) ||
              (n == 6 && digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om));
    if (!ok || oh > 23 || om > 59)
        return false;
    *off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    return true;
}

sw_err timeutil_parse_iso8601(const char *s, int64_t *out)
{
    struct tu_date d;
    int sod, off;
    size_t used;
    if (!s || !parse_date_prefix(s, &d))
        return SW_ERR_INVALID;
    if (s[10] == '\0')
        return timeutil_day_start(d, out);
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return SW_ERR_INVALID;
    if (!parse_hms(s + 11, false, &sod, &used))
        return SW_ERR_INVALID;
    const char *p = s + 11 + used;
    if (*p == '.') { /* fraction: at least one digit, truncated */
        p++;
        if (*p < '0' || *p > '9')
            return SW_ERR_INVALID;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == '\0')
        return timeutil_local_bound(d, sod, out);
    if (!parse_offset(p, &off))
        return SW_ERR_INVALID;
    *out = timeutil_date_days(d) * SECS_PER_DAY + sod - off;
    return SW_OK;
}

sw_err timeutil_format_hhmm(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    if (len < 6 || !local_tm(t, &tm))
        return SW_ERR_INVALID;
    snprintf(buf, len, "%02d:%02d", tm.tm_hour, tm.tm_min);
    return SW_OK;
}

sw_err timeutil_format_local_date(int64_t t, char *buf, size_t len)
{
    struct tu_date d;
    sw_err err = timeutil_local_date(t, &d);
    return err ? err : timeutil_format_date(d, buf, len);
}

sw_err timeutil_set_zone(const char *tz)
{
    if (!tz || !*tz || setenv("TZ", tz, 1) != 0)
        return SW_ERR_CONFIG;
    tzset();
    atomic_fetch_add(&zone_gen, 1);
    return SW_OK;
}
