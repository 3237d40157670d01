/* commands.c - the commands loadgen sends: of one kind, from a template,
 * or on booking candidates (main.c says which). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "loadgen.h"
#include "result.h"

/* No cap of our own: as many candidates as memory holds. */
#define CANDIDATES_MAX (SIZE_MAX / sizeof(struct candidate))

/* ---- commands ------------------------------------------------------------ */

/* Midnight (local) of today + days, as struct tm. */
static struct tm day_tm(int days)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday += days;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    localtime_r(&t, &tm);
    return tm;
}

static time_t at_local(struct tm day, int minute_of_day)
{
    day.tm_hour = minute_of_day / 60;
    day.tm_min = minute_of_day % 60;
    day.tm_sec = 0;
    day.tm_isdst = -1;
    return mktime(&day);
}

static int type_minutes(const struct sw_config *cfg, const char *type)
{
    const struct sw_type_rule *r = sw_config_type(cfg, type);
    return r ? r->duration_min : 60;
}

/* The candidate grid of --kind book: day by day, time by time, every
 * practitioner at each time (so consecutive bookings land on different
 * practitioners' keys and thus on different replicas). */
static struct candidate *book_grid(const struct opts *o, const struct sw_config *cfg, size_t *n)
{
    int dur = type_minutes(cfg, o->appointment_type);
    size_t cap = 0, k = 0;
    struct candidate *c = vec_grow(NULL, &cap, sizeof(*c), 1024, CANDIDATES_MAX);
    if (!c)
        return NULL;
    for (int d = 2; d < 2 + o->book_days; d++) {
        struct tm day = day_tm(d);
        if (day.tm_wday == 0 || day.tm_wday == 6)
            continue;
        for (int m = 8 * 60; m + dur <= 17 * 60; m += o->book_step_min) {
            if (m < 13 * 60 && m + dur > 12 * 60)
                continue; /* lunch */
            for (int p = 0; p < o->n_practitioners; p++) {
                struct candidate *g = vec_grow(c, &cap, sizeof(*c), k + 1, CANDIDATES_MAX);
                if (!g) {
                    free(c);
                    return NULL;
                }
                c = g;
                snprintf(c[k].practitioner, sizeof(c[k].practitioner), "%s", o->practitioners[p]);
                format_time((int64_t)at_local(day, m), c[k].start, sizeof(c[k].start));
                snprintf(c[k].type, sizeof(c[k].type), "%s", o->appointment_type);
                k++;
            }
        }
    }
    *n = k;
    return c;
}

/* "PRACTITIONER START [TYPE]" per line; '#' comments. */
static struct candidate *read_slots(const char *path, const char *def_type, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 0, k = 0;
    struct candidate *c = vec_grow(NULL, &cap, sizeof(*c), 256, CANDIDATES_MAX);
    char line[512];
    int lineno = 0;
    while (c && fgets(line, sizeof(line), f)) {
        lineno++;
        char p[CMD_REF_MAX], s[40], t[32] = "";
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%63s %39s %31s", p, s, t) < 2) {
            fprintf(stderr, "loadgen: %s:%d: want PRACTITIONER START [TYPE]\n", path, lineno);
            free(c);
            c = NULL;
            break;
        }
        struct candidate *g = vec_grow(c, &cap, sizeof(*c), k + 1, CANDIDATES_MAX);
        if (!g) {
            free(c);
            c = NULL;
            break;
        }
        c = g;
        snprintf(c[k].practitioner, sizeof(c[k].practitioner), "%s", p);
        snprintf(c[k].start, sizeof(c[k].start), "%s", s);
        snprintf(c[k].type, sizeof(c[k].type), "%s", t[0] ? t : def_type);
        k++;
    }
    fclose(f);
    *n = k;
    return c;
}

static const char *topic_of_type(const char *type)
{
    enum cmd_type t;
    if (!type || !cmd_type_parse(type, &t))
        return NULL;
    switch (cmd_type_topic(t)) {
    case CMD_TOPIC_SEARCH:
        return "scheduling.commands.search";
    case CMD_TOPIC_BOOK:
        return "scheduling.commands.book";
    case CMD_TOPIC_CANCEL:
        return "scheduling.commands.cancel";
    }
    return NULL;
}

bool generator_init(struct generator *g, const struct opts *o, const struct sw_config *cfg)
{
    memset(g, 0, sizeof(*g));
    g->o = o;
    if (o->template_path) {
        json_error_t jerr;
        g->template = json_load_file(o->template_path, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(g->template)) {
            fprintf(stderr, "loadgen: %s:%d: %s\n", o->template_path, jerr.line,
                    g->template ? "not a JSON object" : jerr.text);
            return false;
        }
        g->topic = topic_of_type(json_string_value(json_object_get(g->template, "type")));
        if (!g->topic) {
            fprintf(stderr, "loadgen: %s: no known \"type\"\n", o->template_path);
            return false;
        }
        return true;
    }
    if (!strcmp(o->kind, "search") || !strcmp(o->kind, "find")) {
        g->topic = "scheduling.commands.search";
        int d = o->search_ahead_days;
        struct tm day = day_tm(d);
        while (day.tm_wday == 0 || day.tm_wday == 6)
            day = day_tm(++d);
        format_time((int64_t)at_local(day, 8 * 60), g->search_from, sizeof(g->search_from));
        format_time((int64_t)at_local(day, 17 * 60), g->search_to, sizeof(g->search_to));
        return true;
    }
    if (!strcmp(o->kind, "book")) {
        g->topic = "scheduling.commands.book";
        g->cands = o->slots_path ? read_slots(o->slots_path, o->appointment_type, &g->n_cands)
                                 : book_grid(o, cfg, &g->n_cands);
        if (!g->cands || g->n_cands == 0) {
            fprintf(stderr, "loadgen: no candidate slots to book\n");
            return false;
        }
        if (!o->quiet)
            fprintf(stderr, "loadgen: %zu candidate slots (%s .. %s)\n", g->n_cands,
                    g->cands[0].start, g->cands[g->n_cands - 1].start);
        return true;
    }
    fprintf(stderr, "loadgen: unknown --kind %s\n", o->kind);
    return false;
}

void generator_fini(struct generator *g)
{
    json_decref(g->template);
    free(g->cands);
}

/* The command of seq: malloc'd JSON; *key (static or in g) for the Kafka key. */
char *generator_make(struct generator *g, uint64_t seq, const char *rid, char *key, size_t keylen)
{
    const struct opts *o = g->o;
    json_t *cmd = NULL;
    snprintf(key, keylen, "sess-%llu", (unsigned long long)(seq % (uint64_t)o->sessions));
    if (g->template) {
        cmd = json_deep_copy(g->template);
        if (cmd)
            json_object_set_new(cmd, "request_id", json_string(rid));
    } else if (!strcmp(o->kind, "search")) {
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "type", "search_slots", "request_id",
                        rid, "session_id", key, "payload", "appointment_type", o->appointment_type,
                        "practitioner_id", o->practitioners[seq % (uint64_t)o->n_practitioners],
                        "from", g->search_from, "to", g->search_to);
    } else if (!strcmp(o->kind, "find")) {
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "type", "find_patient", "request_id", rid,
                        "session_id", key, "payload", "phone", o->phone, "birthdate", o->birthdate);
    } else {
        /* Past the end of the grid the times repeat: conflicts, counted. */
        const struct candidate *c = &g->cands[seq % g->n_cands];
        const char *patient = o->patients[seq % (uint64_t)o->n_patients];
        cmd = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "type", "book", "request_id", rid,
                        "session_id", key, "payload", "patient_id", patient, "practitioner_id",
                        c->practitioner, "start", c->start, "appointment_type", c->type);
        snprintf(key, keylen, "%s", c->practitioner);
    }
    if (cmd && o->deadline_s > 0) {
        char when[40];
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        format_time((int64_t)ts.tv_sec + (int64_t)o->deadline_s, when, sizeof(when));
        json_object_set_new(cmd, "deadline", json_string(when));
    }
    char *s = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
    json_decref(cmd);
    return s;
}
