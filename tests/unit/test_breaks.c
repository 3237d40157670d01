/* test_breaks.c - break.NAME.* settings (grammar and errors), their
 * occurrences as instants in the clinic's zone (DST days included), and
 * availability never offering time inside a break or closure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "availability.h"
#include "config.h"
#include "fake.h"
#include "rules.h"
#include "timeutil.h"
#include "waitlist.h"
#include "unit_util.h"

static char tmpdir[] = "/tmp/test_breaks.XXXXXX";

struct loaded {
    struct sw_config cfg;
    sw_err rc;
    char *errs;
    size_t errs_len;
};

/* Loads text as a config file (defaults first, as the worker does). */
static void load(struct loaded *l, const char *text)
{
    char path[256];
    static int seq;
    snprintf(path, sizeof(path), "%s/b%d.conf", tmpdir, ++seq);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    FILE *errs = open_memstream(&l->errs, &l->errs_len);
    assert_non_null(errs);
    l->rc = sw_config_load(&l->cfg, path, errs);
    fclose(errs);
}

static void unload(struct loaded *l)
{
    sw_config_free(&l->cfg);
    free(l->errs);
}

static int64_t at(const char *rfc3339)
{
    int64_t t;
    if (timeutil_parse_rfc3339(rfc3339, &t) != SW_OK)
        fail_msg("bad time in test: %s", rfc3339);
    return t;
}

static struct tu_date date(const char *s)
{
    struct tu_date d;
    if (timeutil_parse_date(s, &d) != SW_OK)
        fail_msg("bad date in test: %s", s);
    return d;
}

static const struct sw_break *named(const struct sw_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_breaks; i++)
        if (!strcmp(cfg->breaks[i].name, name))
            return &cfg->breaks[i];
    fail_msg("no break %s", name);
    return NULL;
}

/* ---- the grammar ------------------------------------------------------- */

static void test_every_form_parses(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "break.lunch.time = 12:00-13:00\n"
             "break.lunch.repeat = every day\n"
             "break.lunch.category = 8\n"
             "break.huddle.time = 07:30-07:45\n"
             "break.huddle.repeat = every workday\n"
             "break.huddle.practitioner = 90cde167-7b9b-4ed1-bd55-533925cb2607\n"
             "break.board.time = 16:00-17:00\n"
             "break.board.repeat = 2nd TUE of every month\n"
             "break.audit.time = 08:00-09:00\n"
             "break.audit.repeat = last fri of every 3 months\n"
             "break.audit.from = 2026-01-30\n"
             "break.teach.time = 13:00-14:00\n"
             "break.teach.repeat = mon, wed-fri\n"
             "break.teach.until = 2027-06-30\n"
             "break.teach.except = 2026-12-25 2027-01-01\n"
             "break.xmas.time = all day\n"
             "break.xmas.repeat = yearly\n"
             "break.xmas.from = 2026-12-25\n"
             "break.fortnight.time = 10:00-10:30\n"
             "break.fortnight.repeat = every other week\n"
             "break.fortnight.from = 2026-12-01\n"
             "break.inventory.time = 09:00-12:00\n"
             "break.inventory.repeat = once\n"
             "break.inventory.from = 2027-03-15\n");
    if (l.rc != SW_OK)
        fail_msg("load: %s", l.errs);
    assert_int_equal(l.cfg.n_breaks, 8);
    const struct sw_break *b = named(&l.cfg, "lunch");
    assert_int_equal(b->start_min, 12 * 60);
    assert_int_equal(b->end_min, 13 * 60);
    assert_int_equal(b->when.kind, RECUR_EVERY);
    assert_int_equal(b->when.unit, RECUR_DAY);
    assert_int_equal(b->category, 8);
    assert_string_equal(b->practitioner_id, "");
    b = named(&l.cfg, "huddle");
    assert_int_equal(b->when.unit, RECUR_WORKDAY);
    assert_string_equal(b->practitioner_id, "90cde167-7b9b-4ed1-bd55-533925cb2607");
    b = named(&l.cfg, "board");
    assert_int_equal(b->when.kind, RECUR_NTH_WEEKDAY);
    assert_int_equal(b->when.nth, 2);
    assert_int_equal(b->when.weekday, 2);
    b = named(&l.cfg, "audit");
    assert_int_equal(b->when.nth, RECUR_LAST);
    assert_int_equal(b->when.interval, 3);
    assert_int_equal(b->when.first, timeutil_date_days(date("2026-01-30")));
    b = named(&l.cfg, "teach");
    assert_int_equal(b->when.kind, RECUR_WEEKDAYS);
    assert_int_equal(b->when.weekdays, (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5));
    assert_int_equal(b->when.n_except, 2);
    assert_int_equal(b->when.until, timeutil_date_days(date("2027-06-30")));
    b = named(&l.cfg, "xmas");
    assert_int_equal(b->start_min, 0);
    assert_int_equal(b->end_min, 24 * 60);
    assert_int_equal(b->when.unit, RECUR_YEAR);
    assert_int_equal(named(&l.cfg, "fortnight")->when.interval, 2);
    assert_int_equal(named(&l.cfg, "inventory")->when.kind, RECUR_ONCE);
    unload(&l);
}

/* One bad input: the load fails and the message names the line and the
 * setting (or, for an incomplete break, the break and what it lacks). */
static void expect_error(const char *text, const char *want)
{
    struct loaded l;
    load(&l, text);
    if (l.rc != SW_ERR_CONFIG || !strstr(l.errs, want))
        fail_msg("config:\n%s\nwanted an error with \"%s\", got rc %d:\n%s", text, want, (int)l.rc,
                 l.errs);
    unload(&l);
}

static void test_errors_name_line_and_setting(void **state)
{
    (void)state;
    expect_error("# lunch\nbreak.lunch.time = 12:00-11:00\nbreak.lunch.repeat = daily\n",
                 ":2: break.lunch.time: time \"12:00-11:00\"");
    expect_error("break.lunch.time = 12:00-25:00\n", ":1: break.lunch.time");
    expect_error("break.lunch.time = noon\n", "expected HH:MM-HH:MM");
    expect_error("break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = every fortnight\n",
                 ":2: break.lunch.repeat: repeat \"every fortnight\": expected once, every");
    expect_error("break.x.repeat = 5th mon of every month\n", ":1: break.x.repeat");
    expect_error("break.x.repeat = 2nd tue of every week\n", ":1: break.x.repeat");
    expect_error("break.x.repeat = every 0 days\n", ":1: break.x.repeat");
    expect_error("break.x.repeat = mon-funday\n", ":1: break.x.repeat");
    expect_error("break.x.from = 2027-02-29\n",
                 ":1: break.x.from: \"2027-02-29\": expected a date");
    expect_error("break.x.except = 2026-12-25, tomorrow\n", ":1: break.x.except");
    expect_error("break.x.category = lunch\n", ":1: break.x.category");
    expect_error("break.x.practitioner = Dr Chen\n", ":1: break.x.practitioner");
    expect_error("break.x.colour = red\n", ":1: break.x.colour: expected break.NAME.FIELD");
    expect_error("break.a.b.time = 12:00-13:00\n", "expected break.NAME.FIELD");
    expect_error("break.lunch.time = 12:00-13:00\n", "break.lunch: no repeat");
    expect_error("break.lunch.repeat = daily\n", "break.lunch: no time");
    expect_error("break.w.time = 12:00-13:00\nbreak.w.repeat = every week\n",
                 "break.w: this repeat needs a first date");
    expect_error("break.w.time = 12:00-13:00\nbreak.w.repeat = once\n", "needs a first date");
    expect_error("break.w.time = 12:00-13:00\nbreak.w.repeat = daily\nbreak.w.from = "
                 "2027-01-02\nbreak.w.until = 2027-01-01\n",
                 "break.w: the end date comes before the first date");
    char many[4096] = "";
    for (int i = 0; i <= SW_MAX_BREAKS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "break.b%d.time = all day\n", i);
    expect_error(many, "too many breaks");
}

static void test_repeat_parse_directly(void **state)
{
    (void)state;
    struct recur_rule r;
    char err[256];
    memset(&r, 0, sizeof(r));
    r.first = 123; /* the dates are left alone */
    assert_true(sw_repeat_parse("Every 3 Months", &r, err, sizeof(err)));
    assert_int_equal(r.kind, RECUR_EVERY);
    assert_int_equal(r.unit, RECUR_MONTH);
    assert_int_equal(r.interval, 3);
    assert_int_equal(r.first, 123);
    assert_true(sw_repeat_parse("weekdays", &r, err, sizeof(err)));
    assert_int_equal(r.kind, RECUR_WEEKDAYS);
    assert_int_equal(r.weekdays, RECUR_WORKWEEK);
    assert_true(sw_repeat_parse("fri-mon", &r, err, sizeof(err))); /* over the weekend */
    assert_int_equal(r.weekdays, (1u << 5) | (1u << 6) | (1u << 0) | (1u << 1));
    assert_true(sw_repeat_parse("last sun of each 6 months", &r, err, sizeof(err)));
    assert_int_equal(r.nth, RECUR_LAST);
    assert_int_equal(r.weekday, 0);
    assert_int_equal(r.interval, 6);
    assert_false(sw_repeat_parse("", &r, err, sizeof(err)));
    assert_false(sw_repeat_parse("every", &r, err, sizeof(err)));
    assert_false(sw_repeat_parse("every 1000 days", &r, err, sizeof(err)));
}

/* ---- occurrences as instants -------------------------------------------- */

static const struct sw_break *only_break(struct loaded *l, const char *text)
{
    load(l, text);
    if (l->rc != SW_OK || l->cfg.n_breaks != 1)
        fail_msg("load: %s", l->errs);
    return &l->cfg.breaks[0];
}

static void test_instants_across_dst(void **state)
{
    (void)state;
    struct loaded l;
    int64_t s, e;
    const struct sw_break *b =
        only_break(&l, "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n");
    /* the Saturday before and the Sunday of spring forward (8 March 2026) */
    assert_int_equal(rules_break_on(b, date("2026-03-07"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-03-07T12:00:00-05:00"));
    assert_int_equal(rules_break_on(b, date("2026-03-08"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-03-08T12:00:00-04:00"));
    assert_int_equal(e - s, 3600);
    assert_int_equal(rules_break_on(b, date("2026-11-01"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-11-01T12:00:00-05:00"));
    unload(&l);

    /* a break over the hours that change: 01:30-03:30 */
    b = only_break(&l, "break.night.time = 01:30-03:30\nbreak.night.repeat = daily\n");
    assert_int_equal(rules_break_on(b, date("2026-03-08"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-03-08T01:30:00-05:00"));
    assert_int_equal(e, at("2026-03-08T03:30:00-04:00"));
    assert_int_equal(e - s, 3600); /* one real hour: 02:00-03:00 does not exist */
    assert_int_equal(rules_break_on(b, date("2026-11-01"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-11-01T01:30:00-04:00")); /* the first 01:30 */
    assert_int_equal(e, at("2026-11-01T03:30:00-05:00"));
    assert_int_equal(e - s, 3 * 3600); /* both 01:30s are inside */
    unload(&l);

    /* starting in the gap: from the instant it ends */
    b = only_break(&l, "break.gap.time = 02:15-03:15\nbreak.gap.repeat = daily\n");
    assert_int_equal(rules_break_on(b, date("2026-03-08"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-03-08T03:00:00-04:00"));
    assert_int_equal(e, at("2026-03-08T03:15:00-04:00"));
    unload(&l);

    /* all day on both DST days: the whole local day, 23 and 25 hours */
    b = only_break(&l, "break.c.time = all day\nbreak.c.repeat = sun\n");
    assert_int_equal(rules_break_on(b, date("2026-03-08"), &s, &e), SW_OK);
    assert_int_equal(s, at("2026-03-08T00:00:00-05:00"));
    assert_int_equal(e - s, 23 * 3600);
    assert_int_equal(rules_break_on(b, date("2026-11-01"), &s, &e), SW_OK);
    assert_int_equal(e - s, 25 * 3600);
    assert_int_equal(rules_break_on(b, date("2026-11-02"), &s, &e), SW_ERR_NOT_FOUND);
    unload(&l);
}

struct seen {
    int n;
    int64_t start[16], end[16];
};

static sw_err collect(void *arg, int64_t start, int64_t end, const struct sw_break *b)
{
    struct seen *s = arg;
    (void)b;
    if (s->n < 16) {
        s->start[s->n] = start;
        s->end[s->n] = end;
    }
    s->n++;
    return SW_OK;
}

static void test_whose_breaks_and_range(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n"
             "break.huddle.time = 07:30-07:45\nbreak.huddle.repeat = every workday\n"
             "break.huddle.practitioner = chen\n");
    assert_int_equal(l.rc, SW_OK);
    struct seen s = {0};
    /* Friday 4 Dec 07:00 to Monday 7 Dec 12:30, for Chen */
    assert_int_equal(rules_breaks_each(&l.cfg, "chen", at("2026-12-04T07:00:00-05:00"),
                                       at("2026-12-07T12:30:00-05:00"), collect, &s),
                     SW_OK);
    /* date by date, in the configuration's order: lunch and huddle on
     * Friday, lunch on Saturday and Sunday, lunch and huddle on Monday */
    assert_int_equal(s.n, 6);
    assert_int_equal(s.start[0], at("2026-12-04T12:00:00-05:00"));
    assert_int_equal(s.start[1], at("2026-12-04T07:30:00-05:00"));
    assert_int_equal(s.end[1], at("2026-12-04T07:45:00-05:00"));
    assert_int_equal(s.start[3], at("2026-12-06T12:00:00-05:00"));
    assert_int_equal(s.start[4], at("2026-12-07T12:00:00-05:00"));
    assert_int_equal(s.start[5], at("2026-12-07T07:30:00-05:00"));
    memset(&s, 0, sizeof(s));
    assert_int_equal(rules_breaks_each(&l.cfg, "adams", at("2026-12-04T07:00:00-05:00"),
                                       at("2026-12-07T12:30:00-05:00"), collect, &s),
                     SW_OK);
    assert_int_equal(s.n, 4); /* lunch only */
    /* touching is not overlapping */
    memset(&s, 0, sizeof(s));
    rules_breaks_each(&l.cfg, "adams", at("2026-12-04T13:00:00-05:00"),
                      at("2026-12-05T12:00:00-05:00"), collect, &s);
    assert_int_equal(s.n, 0);

    char msg[160] = "";
    assert_int_equal(rules_check_breaks(&l.cfg, "chen", at("2026-12-04T11:30:00-05:00"),
                                        at("2026-12-04T12:15:00-05:00"), msg, sizeof(msg)),
                     SW_ERR_REJECTED);
    assert_non_null(strstr(msg, "lunch"));
    assert_int_equal(rules_check_breaks(&l.cfg, "chen", at("2026-12-04T11:00:00-05:00"),
                                        at("2026-12-04T12:00:00-05:00"), msg, sizeof(msg)),
                     SW_OK);
    assert_int_equal(rules_check_breaks(NULL, "chen", 0, 1, msg, sizeof(msg)), SW_OK);
    unload(&l);
}

/* ---- availability -------------------------------------------------------- */

static const struct sw_type_rule thirty = {"follow_up", 30, 9, 0, 400, "Follow-up"};

static void test_availability_skips_breaks(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "clinic.buffer_minutes = 0\n"
             "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n"
             "break.xmas.time = all day\nbreak.xmas.repeat = yearly\nbreak.xmas.from = 2020-12-25\n"
             "break.board.time = 16:00-17:00\nbreak.board.repeat = last fri of every month\n"
             "break.board.except = 2026-12-25\n"
             "break.mine.time = 09:00-10:00\nbreak.mine.repeat = mon,wed\n"
             "break.mine.practitioner = p1\n");
    if (l.rc != SW_OK)
        fail_msg("load: %s", l.errs);
    struct av_request req = {
        .type = &thirty,
        .hours = &l.cfg.clinic_hours,
        .slot_minutes = 15,
        .now = at("2026-11-01T00:00:00-04:00"),
        .from = at("2026-11-01T00:00:00-04:00"),
        .to = at("2027-01-10T00:00:00-05:00"),
        .cfg = &l.cfg,
        .practitioner_id = "p1",
    };
    struct av_slot *slots = NULL;
    size_t n = 0;
    assert_int_equal(avail_compute(&req, &slots, &n), SW_OK);
    assert_true(n > 100);
    int lunch_edge = 0;
    for (size_t i = 0; i < n; i++) {
        char why[160];
        if (rules_check_breaks(&l.cfg, "p1", slots[i].start, slots[i].end, why, sizeof(why)))
            fail_msg("slot %zu overlaps a break: %s", i, why);
        lunch_edge += slots[i].end == rules_appt_end(&thirty, slots[i].start) &&
                      timeutil_format_hhmm(slots[i].start, why, sizeof(why)) == SW_OK &&
                      (!strcmp(why, "11:30") || !strcmp(why, "13:00"));
    }
    assert_true(lunch_edge > 0); /* right up to lunch and right after it */
    /* Christmas 2026 is a Friday: closed (and its last-Friday board excepted) */
    struct tu_date d;
    for (size_t i = 0; i < n; i++)
        assert_true(timeutil_local_date(slots[i].start, &d) == SW_OK &&
                    timeutil_date_cmp(d, date("2026-12-25")) != 0);
    free(slots);

    /* the check right before a booking refuses a break too */
    struct av_interval clash;
    assert_int_equal(avail_check_free(&req, at("2026-12-02T09:30:00-05:00"), &clash),
                     SW_ERR_CONFLICT); /* p1's Wednesday hour */
    assert_int_equal(clash.start, at("2026-12-02T09:00:00-05:00"));
    assert_int_equal(avail_check_free(&req, at("2026-12-03T09:30:00-05:00"), NULL), SW_OK);
    req.practitioner_id = "p2"; /* not p1's break */
    assert_int_equal(avail_check_free(&req, at("2026-12-02T09:30:00-05:00"), NULL), SW_OK);
    assert_int_equal(avail_check_free(&req, at("2026-12-02T11:45:00-05:00"), NULL),
                     SW_ERR_CONFLICT); /* lunch */
    /* without a configuration, nothing is blocked */
    req.cfg = NULL;
    assert_int_equal(avail_check_free(&req, at("2026-12-02T11:45:00-05:00"), NULL), SW_OK);
    /* the next available slot skips Christmas and lunch too */
    req.cfg = &l.cfg;
    req.from = at("2026-12-24T16:30:00-05:00");
    req.to = at("2026-12-24T17:00:00-05:00");
    req.now = at("2026-12-24T08:00:00-05:00");
    struct av_slot next;
    assert_int_equal(avail_next(&req, &next), SW_OK);
    assert_int_equal(next.start, at("2026-12-28T08:00:00-05:00"));
    unload(&l);
}

/* A cancelled appointment that sat in lunch (booked over it in OpenEMR) is
 * not offered to the waitlist; one next to it is. */
static void test_waitlist_offers_no_break(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n");
    assert_int_equal(l.rc, SW_OK);
    struct sw_manual_clock clk;
    clock_manual_init(&clk, at("2026-12-01T10:00:00-05:00") * 1000);
    struct fake_store fs;
    fake_store_init(&fs, &clk.clock);
    struct fleet_wait w = {.waitlist_id = "w1",
                           .patient_id = "patient-1",
                           .appointment_type = "follow_up",
                           .earliest = at("2026-12-07T08:00:00-05:00"),
                           .latest = at("2026-12-07T17:00:00-05:00")};
    assert_int_equal(store_waitlist_add(&fs.store, &w), SW_OK);
    struct outbox out = {0};
    int64_t now = at("2026-12-01T10:00:00-05:00");
    assert_false(waitlist_offer(&fs.store, &l.cfg, &out, "p1", at("2026-12-07T11:45:00-05:00"),
                                at("2026-12-07T12:15:00-05:00"), "cancel-1", now));
    assert_int_equal(out.n, 0);
    assert_true(waitlist_offer(&fs.store, &l.cfg, &out, "p1", at("2026-12-07T11:30:00-05:00"),
                               at("2026-12-07T12:00:00-05:00"), "cancel-2", now));
    assert_int_equal(out.n, 1);
    outbox_clear(&out);
    fake_store_free(&fs);
    unload(&l);
}

static void note_key(void *arg, const char *key, const char *was, const char *now)
{
    (void)was;
    (void)now;
    if (!strcmp(key, "break.*"))
        ++*(int *)arg;
}

/* SIGHUP: a changed break is a change (it takes effect after a restart). */
static void test_reload_sees_breaks(void **state)
{
    (void)state;
    struct loaded a, b, c;
    load(&a, "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n");
    load(&b, "break.lunch.time = 12:00-13:30\nbreak.lunch.repeat = daily\n");
    load(&c, "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = daily\n");
    int seen = 0;
    sw_config_diff(&a.cfg, &b.cfg, note_key, &seen);
    assert_int_equal(seen, 1);
    seen = 0;
    sw_config_diff(&a.cfg, &c.cfg, note_key, &seen);
    assert_int_equal(seen, 0);
    unload(&a);
    unload(&b);
    unload(&c);
}

static int setup(void **state)
{
    (void)state;
    return util_tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
    (void)state;
    return util_tmpdir_remove(tmpdir);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_form_parses),
        cmocka_unit_test(test_errors_name_line_and_setting),
        cmocka_unit_test(test_repeat_parse_directly),
        cmocka_unit_test(test_instants_across_dst),
        cmocka_unit_test(test_whose_breaks_and_range),
        cmocka_unit_test(test_availability_skips_breaks),
        cmocka_unit_test(test_waitlist_offers_no_break),
        cmocka_unit_test(test_reload_sees_breaks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
