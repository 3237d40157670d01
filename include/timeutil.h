/* timeutil.h - instants, calendar dates and local wall times of the clinic.
 *
 * An instant is int64_t epoch seconds (UTC).  A local time is a wall-clock
 * time in the process time zone: the worker sets TZ to the clinic's zone
 * once at start (setenv + tzset) and never changes it, so localtime_r is
 * safe from any thread.  Nothing here reads the clock or keeps state.
 *
 * Daylight saving: a wall time that does not exist (02:30 on the spring-
 * forward day in America/New_York) is an error for timeutil_local_to_epoch;
 * a wall time that happens twice (01:30 on the fall-back day) resolves to
 * its first occurrence, so walking wall times never yields an hour twice. */
#ifndef SW_TIMEUTIL_H
#define SW_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* "2026-03-08T03:00:00-04:00" and its NUL. */
#define TIMEUTIL_RFC3339_LEN 26
/* "2026-03-08" and its NUL. */
#define TIMEUTIL_DATE_LEN 11

/* A proleptic Gregorian calendar date, year 1..9999. */
struct tu_date {
    int year, month, day; /* month 1..12, day 1..31 */
};

/* True for a real calendar date (2028-02-29 yes, 2027-02-29 no). */
bool timeutil_date_is_valid(struct tu_date d);

/* Strict "YYYY-MM-DD": exactly 10 characters, a real date. */
sw_err timeutil_parse_date(const char *s, struct tu_date *out);

/* Writes "YYYY-MM-DD" (buf at least TIMEUTIL_DATE_LEN). */
sw_err timeutil_format_date(struct tu_date d, char *buf, size_t len);

/* The date n days later (n may be negative). */
struct tu_date timeutil_date_add(struct tu_date d, int n);

/* Day of week, 0 = Sunday (as struct sw_hours). */
int timeutil_date_weekday(struct tu_date d);

/* Days since 1970-01-01 (negative before). */
int64_t timeutil_date_days(struct tu_date d);

/* a < b: -1, equal: 0, a > b: 1. */
int timeutil_date_cmp(struct tu_date a, struct tu_date b);

/* Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" into an
 * instant.  The offset is required; 'T'/'t' and 'Z'/'z' are accepted; a
 * fraction is truncated (toward the earlier second); second 60 and every
 * out-of-range field are SW_ERR_INVALID. */
sw_err timeutil_parse_rfc3339(const char *s, int64_t *out);

/* Formats an instant as local time with the local offset,
 * "2026-11-01T01:30:00-04:00" (buf at least TIMEUTIL_RFC3339_LEN). */
sw_err timeutil_format_rfc3339(int64_t t, char *buf, size_t len);

/* Local calendar date of an instant. */
sw_err timeutil_local_date(int64_t t, struct tu_date *out);

/* Local wall clock minutes after midnight of an instant (0..1439), and its
 * seconds within that minute in *sec (may be NULL). */
sw_err timeutil_local_minute(int64_t t, int *minute, int *sec);

/* The instant of a local wall time (date + seconds after midnight, which
 * may be >= 86400 to mean a later day).  A wall time in a spring-forward
 * gap is SW_ERR_INVALID; an ambiguous one is its first occurrence. */
sw_err timeutil_local_to_epoch(struct tu_date d, int64_t sec_of_day, int64_t *out);

/* As timeutil_local_to_epoch, but a wall time in a gap gives the instant
 * the gap ends (02:30 on spring-forward day -> 03:00 new time).  For bounds
 * such as opening hours and the start of a day. */
sw_err timeutil_local_bound(struct tu_date d, int64_t sec_of_day, int64_t *out);

/* First instant of a local date (local midnight, or the end of a gap when
 * midnight itself is skipped, as in some zones). */
sw_err timeutil_day_start(struct tu_date d, int64_t *out);

/* Same local wall time n calendar days later (gap: its end; ambiguous:
 * first occurrence).  "60 days from now" in the clinic's sense. */
sw_err timeutil_add_local_days(int64_t t, int n, int64_t *out);

/* OpenEMR's local pair: "YYYY-MM-DD" and "HH:MM:SS" (or "HH:MM") to an
 * instant.  A time in a gap is SW_ERR_INVALID. */
sw_err timeutil_parse_local(const char *date, const char *hms, int64_t *out);

/* The same pair as a record stored by someone else (an OpenEMR row): a
 * wall time in a gap becomes the instant the gap ends, an ambiguous one
 * its first occurrence, so a stored row is never dropped. */
sw_err timeutil_parse_wall(const char *date, const char *hms, int64_t *out);

/* ISO 8601 as FHIR servers and OpenEMR write it: "YYYY-MM-DD" (the local
 * day's first instant), or a date, 'T' (or 't' or ' '), "HH:MM[:SS[.frac]]"
 * and an optional offset (Z, +HH:MM, +HHMM or +HH); without an offset it is
 * a local wall time, resolved as timeutil_parse_wall does.  Nothing may
 * follow. */
sw_err timeutil_parse_iso8601(const char *s, int64_t *out);

/* Local "HH:MM" of an instant (buf at least 6). */
sw_err timeutil_format_hhmm(int64_t t, char *buf, size_t len);
/* Local "YYYY-MM-DD" of an instant (buf at least TIMEUTIL_DATE_LEN). */
sw_err timeutil_format_local_date(int64_t t, char *buf, size_t len);

/* Makes tz (an IANA name such as "America/New_York") the process's local
 * zone.  Call once at start, before any thread reads local time. */
sw_err timeutil_set_zone(const char *tz);

/* The local offset at instant t, seconds east of UTC (0 if unknown): what
 * localtime_r's tm_gmtoff says, memoised by 12-hour spans. */
long timeutil_offset_at(int64_t t);

#endif
