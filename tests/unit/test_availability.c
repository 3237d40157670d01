/* test_availability.c - free-slot arithmetic at every boundary, in
 * America/New_York: buffer to the minute, last slot of the day, lunch, a
 * vacation day, notice and window, both DST days, a leap day, server Slots,
 * next_available and the spread-across-days selection. */
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
#include "timeutil.h"

#define MAXI 6

static const struct sw_type_rule routine = {"routine", 60, 10, 24 * 60, 60, "Routine"};
static const struct sw_type_rule follow_up = {"follow_up", 30, 9, 24 * 60, 60, "Follow-up"};

struct span {
    const char *start, *end;
};

struct av_case {
    const char *name;
    const struct sw_type_rule *type;
    const char *hours; /* "weekdays" or "sunday-night" */
    int slot, buffer;
    const char *now, *from, *to;
    struct span appts[MAXI], blocks[MAXI], server[MAXI];
    bool server_mode;
    int want_count;             /* -1: do not check */
    const char *want[MAXI];     /* these starts are offered */
    const char *not_want[MAXI]; /* these are not */
    const char *first, *last;   /* first and last offered start */
};

static int64_t at(const char *s)
{
    int64_t t;
    if (timeutil_parse_rfc3339(s, &t) != SW_OK)
        fail_msg("bad time in table: %s", s);
    return t;
}

static struct sw_hours make_hours(const char *which)
{
    struct sw_hours h = {{0}, {0}};
    if (!strcmp(which, "weekdays")) {
        for (int d = 1; d <= 5; d++) {
            h.open_min[d] = 8 * 60;
            h.close_min[d] = 17 * 60;
        }
    } else { /* Sunday 00:00-04:00, to cross both DST changes */
        h.close_min[0] = 4 * 60;
    }
    return h;
}

static size_t to_intervals(const struct span *in, struct av_interval *out)
{
    size_t n = 0;
    for (; n < MAXI && in[n].start; n++)
        out[n] = (struct av_interval){at(in[n].start), at(in[n].end)};
    return n;
}

static struct av_request make_req(const struct av_case *c, struct sw_hours *h,
                                  struct av_interval *a, struct av_interval *b,
                                  struct av_interval *s)
{
    *h = make_hours(c->hours);
    struct av_request r = {.tag = 7,
                           .type = c->type,
                           .hours = h,
                           .slot_minutes = c->slot,
                           .buffer_minutes = c->buffer,
                           .now = at(c->now),
                           .from = at(c->from),
                           .to = at(c->to)};
    r.appts = a;
    r.n_appts = to_intervals(c->appts, a);
    r.blocks = b;
    r.n_blocks = to_intervals(c->blocks, b);
    r.server_free = s;
    r.n_server_free = to_intervals(c->server, s);
    r.use_server_free = c->server_mode;
    if (c->server_mode)
        r.hours = NULL;
    return r;
}

static bool offered(const struct av_slot *slots, size_t n, int64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i].start == t)
            return true;
    return false;
}

static const struct av_case av_cases[] = {
    {"empty day: 08:00 .. 16:30, last ends at close", &follow_up, "weekdays", 15, 10,
     "2026-05-25T08:00:00-04:00", "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00",
     .want_count = 35, .first = "2026-06-02T08:00:00-04:00", .last = "2026-06-02T16:30:00-04:00",
     .not_want = {"2026-06-02T16:45:00-04:00", "2026-06-02T07:45:00-04:00"}},
    {"routine: last slot 16:00", &routine, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00", .want_count = 33,
     .last = "2026-06-02T16:00:00-04:00"},
    {"buffer to the minute", &follow_up, "weekdays", 1, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T09:00:00-04:00", "2026-06-02T12:00:00-04:00",
     .appts = {{"2026-06-02T10:00:00-04:00", "2026-06-02T11:00:00-04:00"}}, .want_count = -1,
     .want = {"2026-06-02T09:20:00-04:00", "2026-06-02T11:10:00-04:00"},
     .not_want = {"2026-06-02T09:21:00-04:00", "2026-06-02T11:09:00-04:00",
                  "2026-06-02T10:30:00-04:00"}},
    {"hold of another session is widened like an appointment", &follow_up, "weekdays", 5, 10,
     "2026-05-25T08:00:00-04:00", "2026-06-02T08:00:00-04:00", "2026-06-02T12:00:00-04:00",
     .appts = {{"2026-06-02T09:00:00-04:00", "2026-06-02T09:30:00-04:00"}}, .want_count = -1,
     .want = {"2026-06-02T08:20:00-04:00", "2026-06-02T09:40:00-04:00"},
     .not_want = {"2026-06-02T08:25:00-04:00", "2026-06-02T09:35:00-04:00"}},
    {"lunch is not widened", &follow_up, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00",
     .blocks = {{"2026-06-02T12:00:00-04:00", "2026-06-02T13:00:00-04:00"}}, .want_count = 30,
     .want = {"2026-06-02T11:30:00-04:00", "2026-06-02T13:00:00-04:00"},
     .not_want = {"2026-06-02T11:45:00-04:00", "2026-06-02T12:00:00-04:00",
                  "2026-06-02T12:45:00-04:00"}},
    {"patient busy elsewhere", &follow_up, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T13:00:00-04:00", "2026-06-02T15:00:00-04:00",
     .blocks = {{"2026-06-02T14:00:00-04:00", "2026-06-02T14:30:00-04:00"}}, .want_count = -1,
     .want = {"2026-06-02T13:30:00-04:00", "2026-06-02T14:30:00-04:00"},
     .not_want = {"2026-06-02T13:45:00-04:00", "2026-06-02T14:15:00-04:00"}},
    {"vacation day has no slots", &follow_up, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-05T00:00:00-04:00",
     .blocks = {{"2026-06-03T00:00:00-04:00", "2026-06-04T00:00:00-04:00"}}, .want_count = 70,
     .first = "2026-06-02T08:00:00-04:00", .last = "2026-06-04T16:30:00-04:00",
     .not_want = {"2026-06-03T08:00:00-04:00", "2026-06-03T12:00:00-04:00"}},
    {"notice: exactly 24 h is the first", &follow_up, "weekdays", 15, 10,
     "2026-06-01T10:00:00-04:00", "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00",
     .want_count = 27, .first = "2026-06-02T10:00:00-04:00"},
    {"notice: 1 s short", &follow_up, "weekdays", 15, 10, "2026-06-01T10:00:01-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00", .want_count = 26,
     .first = "2026-06-02T10:15:00-04:00"},
    {"window: exactly 60 days is the last", &follow_up, "weekdays", 15, 10,
     "2026-06-01T10:00:00-04:00", "2026-07-31T00:00:00-04:00", "2026-08-01T00:00:00-04:00",
     .want_count = 9, .first = "2026-07-31T08:00:00-04:00", .last = "2026-07-31T10:00:00-04:00"},
    {"window: 1 s over", &follow_up, "weekdays", 15, 10, "2026-06-01T09:59:59-04:00",
     "2026-07-31T00:00:00-04:00", "2026-08-01T00:00:00-04:00", .want_count = 8,
     .last = "2026-07-31T09:45:00-04:00"},
    {"range: slots lie wholly inside", &follow_up, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T09:00:00-04:00", "2026-06-02T10:00:00-04:00", .want_count = 3,
     .first = "2026-06-02T09:00:00-04:00", .last = "2026-06-02T09:30:00-04:00"},
    {"fall back: no duplicated hour, 60 real minutes", &routine, "sunday-night", 30, 0,
     "2026-10-20T00:00:00-04:00", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00",
     .want_count = 7,
     .want = {"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00",
              "2026-11-01T03:00:00-05:00"},
     .not_want = {"2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00",
                  "2026-11-01T03:30:00-05:00"},
     .first = "2026-11-01T00:00:00-04:00", .last = "2026-11-01T03:00:00-05:00"},
    {"spring forward: no 02:xx", &routine, "sunday-night", 30, 0, "2026-03-01T00:00:00-05:00",
     "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", .want_count = 5,
     .want = {"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00"},
     .not_want = {"2026-03-08T03:30:00-04:00"}, .first = "2026-03-08T00:00:00-05:00",
     .last = "2026-03-08T03:00:00-04:00"},
    {"leap day 2028-02-29 is a Tuesday with slots", &follow_up, "weekdays", 15, 10,
     "2028-02-20T00:00:00-05:00", "2028-02-29T00:00:00-05:00", "2028-03-01T00:00:00-05:00",
     .want_count = 35, .first = "2028-02-29T08:00:00-05:00"},
    {"server slots merged, same rules", &routine, "weekdays", 15, 10, "2026-05-25T08:00:00-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00",
     .server = {{"2026-06-02T09:30:00-04:00", "2026-06-02T10:00:00-04:00"},
                {"2026-06-02T09:00:00-04:00", "2026-06-02T09:30:00-04:00"},
                {"2026-06-02T10:00:00-04:00", "2026-06-02T10:30:00-04:00"},
                {"2026-06-02T14:00:00-04:00", "2026-06-02T14:30:00-04:00"},
                {"2026-06-02T15:00:00-04:00", "2026-06-02T16:10:00-04:00"}},
     .appts = {{"2026-06-02T16:15:00-04:00", "2026-06-02T16:45:00-04:00"}}, .server_mode = true,
     .want_count = 4,
     .want = {"2026-06-02T09:00:00-04:00", "2026-06-02T09:15:00-04:00", "2026-06-02T09:30:00-04:00",
              "2026-06-02T15:00:00-04:00"},
     .not_want = {"2026-06-02T14:00:00-04:00", "2026-06-02T15:15:00-04:00"}},
    {"server slots: notice applies", &routine, "weekdays", 15, 10, "2026-06-01T09:10:00-04:00",
     "2026-06-02T00:00:00-04:00", "2026-06-03T00:00:00-04:00",
     .server = {{"2026-06-02T09:00:00-04:00", "2026-06-02T10:30:00-04:00"}}, .server_mode = true,
     .want_count = 2, .first = "2026-06-02T09:15:00-04:00"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof av_cases / sizeof av_cases[0]; i++) {
        const struct av_case *c = &av_cases[i];
        struct sw_hours h;
        struct av_interval a[MAXI], b[MAXI], s[MAXI];
        struct av_request r = make_req(c, &h, a, b, s);
        struct av_slot *slots = NULL;
        size_t n = 0;
        sw_err e = avail_compute(&r, &slots, &n);
        if (e != SW_OK)
            fail_msg("%s: %s", c->name, sw_err_str(e));
        if (c->want_count >= 0 && (size_t)c->want_count != n)
            fail_msg("%s: %zu slots, want %d", c->name, n, c->want_count);
        for (size_t j = 0; j < n; j++) {
            assert_int_equal(slots[j].tag, 7);
            assert_int_equal(slots[j].end - slots[j].start, c->type->duration_min * 60);
            if (j)
                assert_true(slots[j].start > slots[j - 1].start);
        }
        for (int j = 0; j < MAXI && c->want[j]; j++)
            if (!offered(slots, n, at(c->want[j])))
                fail_msg("%s: %s not offered", c->name, c->want[j]);
        for (int j = 0; j < MAXI && c->not_want[j]; j++)
            if (offered(slots, n, at(c->not_want[j])))
                fail_msg("%s: %s offered", c->name, c->not_want[j]);
        if (c->first && (n == 0 || slots[0].start != at(c->first)))
            fail_msg("%s: first is not %s", c->name, c->first);
        if (c->last && (n == 0 || slots[n - 1].start != at(c->last)))
            fail_msg("%s: last is not %s", c->name, c->last);
        free(slots);
    }
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct sw_hours h = make_hours("weekdays");
    struct av_request r = {.type = &routine,
                           .hours = &h,
                           .slot_minutes = 15,
                           .now = at("2026-05-25T08:00:00-04:00"),
                           .from = at("2026-06-02T00:00:00-04:00"),
                           .to = at("2026-06-03T00:00:00-04:00")};
    struct av_slot *slots = (struct av_slot *)&r;
    size_t n = 5;
    struct av_request bad = r;
    bad.slot_minutes = 0;
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_ERR_INVALID);
    assert_null(slots);
    assert_int_equal(n, 0);
    bad = r;
    bad.to = bad.from - 1;
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_ERR_INVALID);
    bad = r;
    bad.hours = NULL;
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_ERR_INVALID);
    bad = r;
    bad.n_appts = 1; /* but appts NULL */
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_ERR_INVALID);
    /* an empty range is fine and has no slots */
    bad = r;
    bad.to = bad.from;
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_OK);
    assert_int_equal(n, 0);
    /* a range beyond the window yields nothing rather than walking years */
    bad = r;
    bad.to = at("2030-01-01T00:00:00-05:00");
    assert_int_equal(avail_compute(&bad, &slots, &n), SW_OK);
    assert_true(n > 0);
    assert_int_equal(slots[n - 1].start, at("2026-07-24T08:00:00-04:00"));
    free(slots);
}

static void test_next_available(void **state)
{
    (void)state;
    struct sw_hours h = make_hours("weekdays");
    struct av_interval vac = {at("2026-06-03T00:00:00-04:00"), at("2026-06-04T12:00:00-04:00")};
    struct av_request r = {.type = &follow_up,
                           .hours = &h,
                           .slot_minutes = 15,
                           .buffer_minutes = 10,
                           .now = at("2026-05-25T08:00:00-04:00"),
                           .from = at("2026-06-03T00:00:00-04:00"),
                           .to = at("2026-06-04T00:00:00-04:00"),
                           .blocks = &vac,
                           .n_blocks = 1};
    struct av_slot *slots = NULL, next;
    size_t n = 1;
    assert_int_equal(avail_compute(&r, &slots, &n), SW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(avail_next(&r, &next), SW_OK);
    assert_int_equal(next.start, at("2026-06-04T12:00:00-04:00"));
    /* nothing left in the window */
    r.from = at("2026-07-24T00:00:00-04:00");
    r.to = at("2026-07-24T09:00:00-04:00");
    struct av_interval rest = {r.to, at("2026-12-31T00:00:00-05:00")};
    r.blocks = &rest;
    assert_int_equal(avail_next(&r, &next), SW_ERR_NOT_FOUND);
}

/* Server Slots plus configured hours: both must allow the slot. */
static void test_server_with_hours(void **state)
{
    (void)state;
    struct sw_hours h = make_hours("weekdays");
    struct av_interval free_iv = {at("2026-06-02T15:30:00-04:00"), at("2026-06-02T18:00:00-04:00")};
    struct av_request r = {.type = &routine,
                           .slot_minutes = 30,
                           .buffer_minutes = 10,
                           .now = at("2026-05-25T08:00:00-04:00"),
                           .from = at("2026-06-02T00:00:00-04:00"),
                           .to = at("2026-06-03T00:00:00-04:00"),
                           .use_server_free = true,
                           .server_free = &free_iv,
                           .n_server_free = 1};
    struct av_slot *slots = NULL;
    size_t n = 0;
    assert_int_equal(avail_compute(&r, &slots, &n), SW_OK);
    assert_int_equal(n, 4); /* 15:30 16:00 16:30 17:00 */
    free(slots);
    r.hours = &h;
    assert_int_equal(avail_compute(&r, &slots, &n), SW_OK);
    assert_int_equal(n, 2); /* 15:30 16:00: the last ends at 17:00 close */
    assert_int_equal(slots[1].end, at("2026-06-02T17:00:00-04:00"));
    free(slots);
}

static void test_check_free(void **state)
{
    (void)state;
    struct sw_hours h = make_hours("weekdays");
    struct av_interval appt = {at("2026-06-02T10:00:00-04:00"), at("2026-06-02T11:00:00-04:00")};
    struct av_interval lunch = {at("2026-06-02T12:00:00-04:00"), at("2026-06-02T13:00:00-04:00")};
    struct av_request r = {.type = &follow_up,
                           .hours = &h,
                           .slot_minutes = 15,
                           .buffer_minutes = 10,
                           .appts = &appt,
                           .n_appts = 1,
                           .blocks = &lunch,
                           .n_blocks = 1};
    static const struct {
        const char *start;
        sw_err want;
    } cases[] = {
        {"2026-06-02T09:20:00-04:00", SW_OK}, {"2026-06-02T09:21:00-04:00", SW_ERR_CONFLICT},
        {"2026-06-02T11:10:00-04:00", SW_OK}, {"2026-06-02T11:09:00-04:00", SW_ERR_CONFLICT},
        {"2026-06-02T11:30:00-04:00", SW_OK}, {"2026-06-02T11:31:00-04:00", SW_ERR_CONFLICT},
        {"2026-06-02T13:00:00-04:00", SW_OK}, {"2026-06-02T12:59:00-04:00", SW_ERR_CONFLICT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct av_interval clash = {0, 0};
        sw_err e = avail_check_free(&r, at(cases[i].start), &clash);
        if (e != cases[i].want)
            fail_msg("%s: %s", cases[i].start, sw_err_str(e));
        if (e == SW_ERR_CONFLICT)
            assert_true(clash.start == appt.start || clash.start == lunch.start);
    }
}

/* Builds count slots of len minutes every step minutes from a local start. */
static size_t build(struct av_slot *out, size_t at_i, const char *first, int count, int step,
                    int len, int tag)
{
    int64_t t = at(first);
    for (int i = 0; i < count; i++)
        out[at_i + i] = (struct av_slot){t + (int64_t)i * step * 60,
                                         t + (int64_t)i * step * 60 + len * 60, tag};
    return at_i + count;
}

static void expect_starts(const struct av_slot *got, size_t n, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        if (i >= n)
            fail_msg("only %zu picks, want %s next", n, want[i]);
        if (got[i].start != at(want[i])) {
            char buf[TIMEUTIL_RFC3339_LEN];
            timeutil_format_rfc3339(got[i].start, buf, sizeof buf);
            fail_msg("pick %zu is %s, want %s", i, buf, want[i]);
        }
    }
    assert_int_equal(n, i);
}

static void test_select(void **state)
{
    (void)state;
    struct av_slot in[200], out[10];
    size_t n = 0;
    /* three days of 30-minute slots every 15 minutes */
    n = build(in, n, "2026-06-02T08:00:00-04:00", 35, 15, 30, 0);
    n = build(in, n, "2026-06-03T08:00:00-04:00", 35, 15, 30, 0);
    n = build(in, n, "2026-06-04T08:00:00-04:00", 35, 15, 30, 0);
    static const char *const three[] = {"2026-06-02T08:00:00-04:00", "2026-06-03T08:00:00-04:00",
                                        "2026-06-04T08:00:00-04:00", NULL};
    expect_starts(out, avail_select(in, n, 3, out), three);
    static const char *const seven[] = {"2026-06-02T08:00:00-04:00", "2026-06-02T08:30:00-04:00",
                                        "2026-06-02T09:00:00-04:00", "2026-06-03T08:00:00-04:00",
                                        "2026-06-03T08:30:00-04:00", "2026-06-04T08:00:00-04:00",
                                        "2026-06-04T08:30:00-04:00", NULL};
    expect_starts(out, avail_select(in, n, 7, out), seven);

    /* one day, 60-minute slots every 15: picks do not overlap each other */
    n = build(in, 0, "2026-06-02T08:00:00-04:00", 33, 15, 60, 0);
    static const char *const one_day[] = {"2026-06-02T08:00:00-04:00", "2026-06-02T09:00:00-04:00",
                                          "2026-06-02T10:00:00-04:00", NULL};
    expect_starts(out, avail_select(in, n, 3, out), one_day);

    /* only overlapping slots left: the rest are filled in order */
    n = build(in, 0, "2026-06-02T08:00:00-04:00", 3, 15, 60, 0);
    static const char *const fill[] = {"2026-06-02T08:00:00-04:00", "2026-06-02T08:15:00-04:00",
                                       NULL};
    expect_starts(out, avail_select(in, n, 2, out), fill);

    /* two practitioners: same times, tags kept, sorted by (start, tag) */
    n = build(in, 0, "2026-06-02T08:00:00-04:00", 2, 60, 60, 1);
    n = build(in, n, "2026-06-02T08:00:00-04:00", 2, 60, 60, 0);
    avail_sort(in, n);
    assert_int_equal(in[0].tag, 0);
    assert_int_equal(in[1].tag, 1);
    size_t k = avail_select(in, n, 3, out);
    assert_int_equal(k, 3);
    assert_int_equal(out[0].start, at("2026-06-02T08:00:00-04:00"));
    assert_int_equal(out[1].start, at("2026-06-02T08:00:00-04:00"));
    assert_int_equal(out[2].start, at("2026-06-02T09:00:00-04:00"));
    assert_int_equal(avail_select(in, n, 0, out), 0);
    assert_int_equal(avail_select(in, 0, 3, out), 0);
    assert_int_equal(avail_select(in, n, 10, out), n);
}

int main(void)
{
    setenv("TZ", "America/New_York", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_next_available),
        cmocka_unit_test(test_check_free),
        cmocka_unit_test(test_server_with_hours),
        cmocka_unit_test(test_select),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
