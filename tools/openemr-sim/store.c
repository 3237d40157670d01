/* store.c - the simulator's data set: load the seed, look rows up, shape
 * them the way OpenEMR's standard API returns them.  Callers hold
 * sim->lock around every function that touches a struct sim_store. */
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small utilities ---- */

void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, buf, nbytes) : -1;
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < nbytes; i++) {
        unsigned v = got == (ssize_t)nbytes ? buf[i] : (unsigned)random();
        out[2 * i] = hex[(v >> 4) & 15];
        out[2 * i + 1] = hex[v & 15];
    }
    out[2 * nbytes] = '\0';
}

void uuid_new(char *out)
{
    char h[33];
    random_hex(h, 16);
    h[12] = '4';
    h[16] = "89ab"[h[16] % 4];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

bool digits_equal(const char *a, const char *b)
{
    char da[32], db[32];
    size_t na = 0, nb = 0;
    for (; *a && na < sizeof(da) - 1; a++)
        if (isdigit((unsigned char)*a))
            da[na++] = *a;
    for (; *b && nb < sizeof(db) - 1; b++)
        if (isdigit((unsigned char)*b))
            db[nb++] = *b;
    da[na] = db[nb] = '\0';
    /* a North American number with its country code equals the one without */
    const char *pa = na == 11 && da[0] == '1' ? da + 1 : da;
    const char *pb = nb == 11 && db[0] == '1' ? db + 1 : db;
    return na > 0 && strcmp(pa, pb) == 0;
}

static bool parse_date(const char *s, struct tm *tm)
{
    int y, m, d;
    char end;
    if (strlen(s) < 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) < 3)
        return false;
    if (s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    tm->tm_isdst = -1;
    return true;
}

time_t local_epoch(const char *date, int minutes)
{
    struct tm tm;
    if (!parse_date(date, &tm))
        return (time_t)-1;
    tm.tm_min = minutes; /* mktime normalises minutes past 59 and days */
    return mktime(&tm);
}

void fmt_local(time_t t, char *out, size_t len, bool iso)
{
    struct tm tm;
    localtime_r(&t, &tm);
    if (!iso) {
        strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
        return;
    }
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s%c%02ld:%02ld", base, sign, off / 60, off % 60);
}

bool parse_fhir_time(const char *s, time_t *out, bool *date_only)
{
    struct tm tm;
    if (!parse_date(s, &tm))
        return false;
    *date_only = s[10] == '\0';
    if (*date_only) {
        *out = mktime(&tm);
        return true;
    }
    int hh = 0, mi = 0, ss = 0, n = 0;
    if (s[10] != 'T' || sscanf(s + 11, "%2d:%2d%n", &hh, &mi, &n) != 2)
        return false;
    const char *p = s + 11 + n;
    if (*p == ':' && sscanf(p + 1, "%2d%n", &ss, &n) == 1)
        p += 1 + n;
    if (hh > 23 || mi > 59 || ss > 60)
        return false;
    if (*p == '\0') {
        tm.tm_hour = hh, tm.tm_min = mi, tm.tm_sec = ss;
        *out = mktime(&tm);
        return true;
    }
    long off = 0;
    if (*p == 'Z' && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return false;
        off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    tm.tm_hour = hh, tm.tm_min = mi, tm.tm_sec = ss, tm.tm_isdst = 0;
    *out = timegm(&tm) - off;
    return true;
}

/* ---- lookups ---- */

const struct sim_user *store_user(const struct sim_store *st, long id)
{
    for (size_t i = 0; i < st->nusers; i++)
        if (st->users[i].id == id)
            return &st->users[i];
    return NULL;
}

const struct sim_user *store_user_uuid(const struct sim_store *st, const char *uuid)
{
    for (size_t i = 0; i < st->nusers; i++)
        if (strcmp(st->users[i].uuid, uuid) == 0)
            return &st->users[i];
    return NULL;
}

const struct sim_patient *store_patient(const struct sim_store *st, long pid)
{
    for (size_t i = 0; i < st->npatients; i++)
        if (st->patients[i].pid == pid)
            return &st->patients[i];
    return NULL;
}

const struct sim_patient *store_patient_uuid(const struct sim_store *st, const char *uuid)
{
    for (size_t i = 0; i < st->npatients; i++)
        if (strcmp(st->patients[i].uuid, uuid) == 0)
            return &st->patients[i];
    return NULL;
}

const struct sim_facility *store_facility(const struct sim_store *st, long id)
{
    for (size_t i = 0; i < st->nfacilities; i++)
        if (st->facilities[i].id == id)
            return &st->facilities[i];
    return NULL;
}

const struct sim_category *store_category(const struct sim_store *st, int id)
{
    for (size_t i = 0; i < st->ncategories; i++)
        if (st->categories[i].id == id)
            return &st->categories[i];
    return NULL;
}

const struct sim_category *store_category_const(const struct sim_store *st, const char *c)
{
    for (size_t i = 0; i < st->ncategories; i++)
        if (strcmp(st->categories[i].constant, c) == 0)
            return &st->categories[i];
    return NULL;
}

struct sim_appt *store_appt(struct sim_store *st, long eid)
{
    for (size_t i = 0; i < st->nappts; i++)
        if (st->appts[i].eid == eid)
            return &st->appts[i];
    return NULL;
}

struct sim_appt *store_appt_uuid(struct sim_store *st, const char *uuid)
{
    for (size_t i = 0; i < st->nappts; i++)
        if (strcmp(st->appts[i].uuid, uuid) == 0)
            return &st->appts[i];
    return NULL;
}

struct sim_appt *store_appt_add(struct sim_store *st)
{
    if (st->nappts == st->cap_appts) {
        size_t cap = st->cap_appts ? st->cap_appts * 2 : 256;
        struct sim_appt *n = realloc(st->appts, cap * sizeof(*n));
        if (!n)
            return NULL;
        st->appts = n;
        st->cap_appts = cap;
    }
    struct sim_appt *a = &st->appts[st->nappts++];
    memset(a, 0, sizeof(*a));
    a->eid = st->next_eid++;
    uuid_new(a->uuid);
    snprintf(a->status, sizeof(a->status), "-");
    a->updated = time(NULL);
    return a;
}

void store_appt_delete(struct sim_store *st, long eid)
{
    for (size_t i = 0; i < st->nappts; i++) {
        if (st->appts[i].eid != eid)
            continue;
        json_decref(st->appts[i].identifier);
        memmove(&st->appts[i], &st->appts[i + 1], (st->nappts - i - 1) * sizeof(st->appts[0]));
        st->nappts--;
        return;
    }
}

time_t appt_start(const struct sim_appt *a)
{
    int h = 0, m = 0;
    sscanf(a->start, "%d:%d", &h, &m);
    return local_epoch(a->date, h * 60 + m);
}

time_t appt_end(const struct sim_appt *a)
{
    int h = 0, m = 0;
    sscanf(a->start, "%d:%d", &h, &m);
    /* via minutes so a DST change inside the day keeps wall-clock ends */
    return local_epoch(a->date, h * 60 + m + a->duration / 60) + a->duration % 60;
}

bool appt_later_occurrence(const struct sim_appt *a)
{
    return a->series > 0 && a->occurrence > 0;
}

/* Categories of pc_cattype 2 (sql/database.sql: 6 Holidays, 7 Closed). */
bool appt_clinic_wide(const struct sim_store *st, const struct sim_appt *a)
{
    const struct sim_category *c = store_category(st, a->catid);
    return c && c->type == 2;
}

bool appt_blocks(const struct sim_appt *a)
{
    if (a->duration <= 0)
        return false;
    return !(strlen(a->status) == 1 && strchr(SIM_CANCELLED_STS, a->status[0]));
}

/* ---- row shapes ---- */

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void set_long(json_t *o, const char *k, long v)
{
    char b[24];
    snprintf(b, sizeof(b), "%ld", v);
    json_object_set_new(o, k, json_string(b));
}

/* One appointment as GET /api/appointment returns it: every value a string,
 * the patient columns null for a provider event (LEFT JOIN).  full adds the
 * columns only GET /api/appointment/:eid returns. */
json_t *store_appt_row(const struct sim_store *st, const struct sim_appt *a, bool full)
{
    json_t *o = json_object();
    const struct sim_patient *p = a->pid ? store_patient(st, a->pid) : NULL;
    const struct sim_user *u = a->aid ? store_user(st, a->aid) : NULL;
    const struct sim_facility *f = store_facility(st, a->facility);
    const struct sim_facility *bf = store_facility(st, a->billing);
    char t[32];
    set_long(o, "pc_eid", a->eid);
    set_str(o, "pc_uuid", a->uuid);
    set_str(o, "puuid", p ? p->uuid : NULL);
    set_str(o, "fname", p ? p->fname : NULL);
    set_str(o, "lname", p ? p->lname : NULL);
    set_str(o, "DOB", p ? p->dob : NULL);
    if (p)
        set_long(o, "pid", p->pid);
    else
        set_str(o, "pid", NULL);
    set_str(o, "pce_aid_uuid", u ? u->uuid : NULL);
    set_str(o, "pce_aid_npi", u ? u->npi : NULL);
    set_str(o, "pce_aid_fname", u ? u->fname : NULL);
    set_str(o, "pce_aid_lname", u ? u->lname : NULL);
    set_long(o, "pc_aid", a->aid);
    set_str(o, "pc_apptstatus", a->status);
    set_str(o, "pc_eventDate", a->date);
    snprintf(t, sizeof(t), "%s:00", a->start);
    set_str(o, "pc_startTime", t);
    time_t e = appt_end(a);
    if (a->allday) {
        snprintf(t, sizeof(t), "24:00:00");
    } else {
        struct tm tm;
        localtime_r(&e, &tm);
        strftime(t, sizeof(t), "%H:%M:%S", &tm);
    }
    set_str(o, "pc_endTime", t);
    fmt_local(a->updated, t, sizeof(t), false);
    set_str(o, "pc_time", t);
    set_long(o, "pc_facility", a->facility);
    set_long(o, "pc_billing_location", a->billing);
    set_long(o, "pc_catid", a->catid);
    set_long(o, "pc_pid", a->pid);
    set_str(o, "pc_title", a->title);
    set_str(o, "facility_name", f ? f->name : NULL);
    set_str(o, "facility_uuid", f ? f->uuid : NULL);
    set_str(o, "billing_location_name", bf ? bf->name : NULL);
    set_str(o, "billing_location_uuid", bf ? bf->uuid : NULL);
    if (full) {
        set_long(o, "pc_duration", a->duration);
        set_str(o, "pc_hometext", a->hometext);
    }
    return o;
}

json_t *store_patient_json(const struct sim_patient *p)
{
    return json_pack("{s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", NULL, "uuid",
                     p->uuid, "pubpid", p->pubpid, "fname", p->fname, "mname", p->mname, "lname",
                     p->lname, "DOB", p->dob, "sex", p->sex, "phone_home", p->phone_home,
                     "phone_cell", p->phone_cell, "email", p->email, "title", "");
}

json_t *store_user_json(const struct sim_user *u)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "uuid", u->uuid, "username", u->username,
                          "fname", u->fname, "lname", u->lname, "npi", u->npi);
    set_long(o, "id", u->id);
    set_long(o, "facility_id", u->facility_id);
    return o;
}

/* ---- seed loading ---- */

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, len, "%s", v ? v : "");
}

static long get_long(json_t *o, const char *key, long def)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long n = strtol(json_string_value(v), &end, 10);
        return *end ? def : n;
    }
    return def;
}

static int add_event(struct sim_store *st, json_t *ev, const char *date, long aid)
{
    struct sim_appt *a = store_appt_add(st);
    if (!a)
        return -1;
    a->aid = aid;
    a->seed_ev = ev;
    a->pid = get_long(ev, "pid", 0);
    a->catid = (int)get_long(ev, "catid", 5);
    const struct sim_category *c = store_category(st, a->catid);
    a->duration = (int)get_long(ev, "duration", c ? c->duration : 900);
    a->allday = json_is_true(json_object_get(ev, "allday"));
    snprintf(a->date, sizeof(a->date), "%s", date);
    copy_str(a->start, sizeof(a->start), ev, "time");
    if (a->allday) {
        snprintf(a->start, sizeof(a->start), "00:00");
        a->duration = 86400;
    }
    copy_str(a->status, sizeof(a->status), ev, "status");
    if (!a->status[0])
        snprintf(a->status, sizeof(a->status), "-");
    copy_str(a->title, sizeof(a->title), ev, "title");
    if (!a->title[0] && c)
        snprintf(a->title, sizeof(a->title), "%s", c->name);
    copy_str(a->hometext, sizeof(a->hometext), ev, "hometext");
    a->facility = get_long(ev, "facility", 3);
    a->billing = get_long(ev, "billing_location", a->facility);
    return 0;
}

/* Day d of the seed's calendar (tm at noon): d weekdays (Monday to Friday)
 * after today, or before it when d < 0; day 0 is today itself.  Tests
 * derive their days the same way (tests/lib/harness.py, Calendar), so a
 * test's "day 5" is the seed's "day 5" whatever the weekday of today. */
static void seed_day(time_t today, long d, struct tm *tm)
{
    localtime_r(&today, tm);
    for (long n = 0; n != d;) {
        tm->tm_mday += d > 0 ? 1 : -1;
        tm->tm_hour = 12; /* noon: safe from DST edges */
        tm->tm_isdst = -1;
        time_t t = mktime(tm);
        localtime_r(&t, tm);
        if (tm->tm_wday != 0 && tm->tm_wday != 6)
            n += d > 0 ? 1 : -1;
    }
}

/* An event row of the seed: "day" (a weekday offset from today, see
 * seed_day) or "days": [from, to] with optional "weekdays": true (skip
 * Sat/Sun) or "skip_weekend": true (move a Sat/Sun day to the Monday
 * after); both only matter for day 0 on a weekend.  "aid": a user id or
 * "all". */
static int load_event(struct sim_store *st, json_t *ev, time_t today)
{
    long from = get_long(ev, "day", 0), to = from;
    json_t *days = json_object_get(ev, "days");
    if (json_is_array(days) && json_array_size(days) == 2) {
        from = (long)json_integer_value(json_array_get(days, 0));
        to = (long)json_integer_value(json_array_get(days, 1));
    }
    bool weekdays = json_is_true(json_object_get(ev, "weekdays"));
    bool to_monday = json_is_true(json_object_get(ev, "skip_weekend"));
    bool all = json_is_string(json_object_get(ev, "aid"));
    for (long d = from; d <= to; d++) {
        struct tm tm;
        seed_day(today, d, &tm);
        if (to_monday && (tm.tm_wday == 0 || tm.tm_wday == 6)) {
            tm.tm_mday += tm.tm_wday == 6 ? 2 : 1;
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            localtime_r(&t, &tm);
        }
        if (weekdays && (tm.tm_wday == 0 || tm.tm_wday == 6))
            continue;
        char date[11];
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        if (!all) {
            if (add_event(st, ev, date, get_long(ev, "aid", 0)) < 0)
                return -1;
            continue;
        }
        for (size_t u = 0; u < st->nusers; u++)
            if (add_event(st, ev, date, st->users[u].id) < 0)
                return -1;
    }
    return 0;
}

/* The rows of a seed event marked "recurring" form one series per provider:
 * the first row (by date) is the base row OpenEMR stores, the others are
 * the occurrences its calendar expands (and its API never returns). */
static void mark_series(struct sim_store *st)
{
    for (size_t i = 0; i < st->nappts; i++) {
        struct sim_appt *a = &st->appts[i];
        if (!a->seed_ev || !json_is_true(json_object_get((json_t *)a->seed_ev, "recurring")))
            continue;
        for (size_t j = 0; j < i; j++) {
            const struct sim_appt *b = &st->appts[j];
            if (b->seed_ev == a->seed_ev && b->aid == a->aid && b->series == b->eid) {
                a->series = b->eid;
                a->occurrence = 1;
                for (size_t k = j + 1; k < i; k++)
                    if (st->appts[k].series == b->eid)
                        a->occurrence++;
                break;
            }
        }
        if (!a->series)
            a->series = a->eid; /* the base row */
    }
    for (size_t i = 0; i < st->nappts; i++)
        st->appts[i].seed_ev = NULL;
}

#define LOAD_ARRAY(arrname, field, count, type, fill)                                              \
    do {                                                                                           \
        json_t *arr = json_object_get(root, arrname);                                              \
        size_t n = json_array_size(arr);                                                           \
        st->field = calloc(n ? n : 1, sizeof(type));                                               \
        if (!st->field)                                                                            \
            goto cleanup;                                                                          \
        st->count = n;                                                                             \
        for (size_t i = 0; i < n; i++) {                                                           \
            json_t *o = json_array_get(arr, i);                                                    \
            type *x = &st->field[i];                                                               \
            fill;                                                                                  \
        }                                                                                          \
    } while (0)

int store_load(struct sim_store *st, const char *path, const char *today, char *errstr,
               size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    int rc = -1;
    memset(st, 0, sizeof(*st));
    st->next_eid = 1;
    if (!root) {
        snprintf(errstr, errlen, "seed %s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    LOAD_ARRAY("facilities", facilities, nfacilities, struct sim_facility, {
        x->id = get_long(o, "id", 0);
        copy_str(x->uuid, sizeof(x->uuid), o, "uuid");
        copy_str(x->name, sizeof(x->name), o, "name");
    });
    LOAD_ARRAY("categories", categories, ncategories, struct sim_category, {
        x->id = (int)get_long(o, "id", 0);
        copy_str(x->name, sizeof(x->name), o, "name");
        copy_str(x->constant, sizeof(x->constant), o, "constant");
        x->duration = (int)get_long(o, "duration", 0);
        x->type = (int)get_long(o, "type", 0);
    });
    LOAD_ARRAY("users", users, nusers, struct sim_user, {
        x->id = get_long(o, "id", 0);
        copy_str(x->uuid, sizeof(x->uuid), o, "uuid");
        copy_str(x->username, sizeof(x->username), o, "username");
        copy_str(x->fname, sizeof(x->fname), o, "fname");
        copy_str(x->lname, sizeof(x->lname), o, "lname");
        copy_str(x->npi, sizeof(x->npi), o, "npi");
        x->facility_id = get_long(o, "facility_id", 3);
        x->active = (int)get_long(o, "active", 1);
    });
    LOAD_ARRAY("patients", patients, npatients, struct sim_patient, {
        x->pid = get_long(o, "pid", 0);
        copy_str(x->uuid, sizeof(x->uuid), o, "uuid");
        copy_str(x->pubpid, sizeof(x->pubpid), o, "pubpid");
        copy_str(x->fname, sizeof(x->fname), o, "fname");
        copy_str(x->mname, sizeof(x->mname), o, "mname");
        copy_str(x->lname, sizeof(x->lname), o, "lname");
        copy_str(x->dob, sizeof(x->dob), o, "DOB");
        copy_str(x->sex, sizeof(x->sex), o, "sex");
        copy_str(x->phone_home, sizeof(x->phone_home), o, "phone_home");
        copy_str(x->phone_cell, sizeof(x->phone_cell), o, "phone_cell");
        copy_str(x->email, sizeof(x->email), o, "email");
    });
    time_t base = today[0] ? local_epoch(today, 12 * 60) : time(NULL);
    if (base == (time_t)-1) {
        snprintf(errstr, errlen, "bad --today %s", today);
        goto cleanup;
    }
    json_t *ev;
    size_t i;
    json_array_foreach(json_object_get(root, "events"), i, ev)
    {
        if (load_event(st, ev, base) < 0)
            goto cleanup;
    }
    mark_series(st);
    /* seed rows look as if last changed a day ago */
    for (i = 0; i < st->nappts; i++)
        st->appts[i].updated = time(NULL) - 86400;
    st->seed_clients = json_incref(json_object_get(root, "clients"));
    st->seed_logins = json_incref(json_object_get(root, "logins"));
    rc = 0;
cleanup:
    if (rc < 0 && !errstr[0])
        snprintf(errstr, errlen, "seed %s: out of memory", path);
    json_decref(root);
    return rc;
}

void store_free(struct sim_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nappts; i++)
        json_decref(st->appts[i].identifier);
    free(st->appts);
    free(st->users);
    free(st->patients);
    free(st->facilities);
    free(st->categories);
    json_decref(st->seed_clients);
    json_decref(st->seed_logins);
    memset(st, 0, sizeof(*st));
}
