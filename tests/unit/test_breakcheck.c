/* test_breakcheck.c - the check of OpenEMR's provider events against the
 * configured hours and breaks, over rows a fake EHR lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "breakcheck.h"
#include "fake.h"
#include "metrics.h"
#include "timeutil.h"
#include "unit_util.h"

static char tmpdir[] = "/tmp/test_breakcheck.XXXXXX";

#define CHEN  "90cde167-7b9b-4ed1-bd55-533925cb2607"
#define ADAMS "90cde167-7b9b-4ed1-bd55-533925cb2605"

static int64_t at(const char *rfc3339)
{
    int64_t t;
    if (timeutil_parse_rfc3339(rfc3339, &t) != SW_OK)
        fail_msg("bad time in test: %s", rfc3339);
    return t;
}

/* The stack's configuration of the simulator's seed, plus text. */
static void load(struct sw_config *cfg, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/c.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("clinic.hours = mon-fri 08:00-17:00\n"
          "practitioner." ADAMS ".hours = mon-thu 09:00-16:00\n"
          "break.lunch.time = 12:00-13:00\nbreak.lunch.repeat = every day\n"
          "break.lunch.category = 8\n"
          "break.huddle.time = 07:30-07:45\nbreak.huddle.repeat = every workday\n"
          "break.huddle.practitioner = " CHEN "\nbreak.huddle.category = 11\n",
          f);
    fputs(text, f);
    fclose(f);
    char *errs = NULL;
    size_t len = 0;
    FILE *e = open_memstream(&errs, &len);
    sw_err rc = sw_config_load(cfg, path, e);
    fclose(e);
    if (rc != SW_OK)
        fail_msg("config: %s", errs);
    free(errs);
}

/* What the fake EHR lists over the week of Monday 7 December 2026. */
static void list(struct fake_emr *fe, struct oe_appt **rows, size_t *n)
{
    struct oe_call call = {0};
    assert_int_equal(emr_list_range(&fe->emr, &call, NULL, at("2026-12-07T00:00:00-05:00"),
                                    at("2026-12-12T00:00:00-05:00"), rows, n),
                     SW_OK);
}

static struct oe_appt *event(struct fake_emr *fe, const char *pract, const char *start,
                             const char *end, int category)
{
    struct oe_appt *a = fake_emr_add(fe, "", pract, at(start), at(end), category, true);
    assert_non_null(a);
    return a;
}

static void test_seed_rows_are_explained(void **state)
{
    (void)state;
    struct sw_config cfg;
    struct fake_emr fe;
    load(&cfg, "");
    fake_emr_init(&fe);
    /* the seed's series' base rows, Monday */
    event(&fe, CHEN, "2026-12-07T08:00:00-05:00", "2026-12-07T08:00:00-05:00", 2);
    event(&fe, CHEN, "2026-12-07T17:00:00-05:00", "2026-12-07T17:00:00-05:00", 3);
    event(&fe, CHEN, "2026-12-07T12:00:00-05:00", "2026-12-07T13:00:00-05:00", 8);
    event(&fe, CHEN, "2026-12-07T07:30:00-05:00", "2026-12-07T07:45:00-05:00", 11);
    event(&fe, ADAMS, "2026-12-07T09:00:00-05:00", "2026-12-07T09:00:00-05:00", 2);
    event(&fe, ADAMS, "2026-12-07T12:15:00-05:00", "2026-12-07T12:45:00-05:00", 8);
    /* rows that need no explaining: a vacation, a patient's visit, a holiday */
    event(&fe, ADAMS, "2026-12-08T00:00:00-05:00", "2026-12-09T00:00:00-05:00", 4);
    fake_emr_add(&fe, "patient-1", ADAMS, at("2026-12-08T10:00:00-05:00"),
                 at("2026-12-08T10:30:00-05:00"), 5, false);
    event(&fe, "", "2026-12-10T00:00:00-05:00", "2026-12-11T00:00:00-05:00", 6);
    struct oe_appt *rows = NULL;
    size_t n = 0;
    list(&fe, &rows, &n);
    assert_int_equal(n, 9);
    struct breakcheck *st = calloc(1, sizeof(*st));
    breakcheck_rows(&cfg, rows, n, st);
    for (size_t i = 0; i < n; i++)
        if (breakcheck_why(&cfg, &rows[i]))
            fail_msg("row %zu (category %d): %s", i, rows[i].category,
                     breakcheck_why(&cfg, &rows[i]));
    assert_int_equal(st->checked, 6);
    assert_int_equal(st->unexplained, 0);
    assert_int_equal(st->newly, 0);
    free(st);
    free(rows);
    sw_config_free(&cfg);
}

static void test_disagreements_are_found_once(void **state)
{
    (void)state;
    struct sw_config cfg;
    struct fake_emr fe;
    load(&cfg, "");
    fake_emr_init(&fe);
    /* Lunch at 13:00 (no break then), a Reserved hour for Adams (the
     * huddle is Chen's), In Office at 07:00, Out Of Office at 17:00 for
     * Adams whose day ends at 16:00, In Office on Friday when Adams is off */
    event(&fe, CHEN, "2026-12-08T13:00:00-05:00", "2026-12-08T14:00:00-05:00", 8);
    event(&fe, ADAMS, "2026-12-08T07:30:00-05:00", "2026-12-08T07:45:00-05:00", 11);
    event(&fe, CHEN, "2026-12-09T07:00:00-05:00", "2026-12-09T07:00:00-05:00", 2);
    event(&fe, ADAMS, "2026-12-09T17:00:00-05:00", "2026-12-09T17:00:00-05:00", 3);
    event(&fe, ADAMS, "2026-12-11T09:00:00-05:00", "2026-12-11T09:00:00-05:00", 2);
    /* a lunch longer than the break: not covered */
    event(&fe, CHEN, "2026-12-10T12:00:00-05:00", "2026-12-10T13:30:00-05:00", 8);
    /* cancelled: ignored */
    event(&fe, CHEN, "2026-12-10T15:00:00-05:00", "2026-12-10T16:00:00-05:00", 8)->status =
        OE_APPT_CANCELLED;
    struct oe_appt *rows = NULL;
    size_t n = 0;
    list(&fe, &rows, &n);
    struct breakcheck *st = calloc(1, sizeof(*st));
    breakcheck_rows(&cfg, rows, n, st);
    assert_int_equal(st->checked, 7);
    assert_int_equal(st->unexplained, 6);
    assert_int_equal(st->newly, 6);
    assert_string_equal(breakcheck_why(&cfg, &rows[0]), "no break.* setting covers it");
    assert_string_equal(breakcheck_why(&cfg, &rows[1]), "no break.* setting covers it");
    assert_string_equal(breakcheck_why(&cfg, &rows[2]),
                        "the configured hours do not open at that time");
    assert_string_equal(breakcheck_why(&cfg, &rows[3]),
                        "the configured hours do not close at that time");
    assert_string_equal(breakcheck_why(&cfg, &rows[4]),
                        "the configured hours are closed that weekday");
    assert_null(breakcheck_why(&cfg, &rows[6]));
    /* the next check: the same rows are no news, one more is */
    event(&fe, CHEN, "2026-12-11T14:00:00-05:00", "2026-12-11T14:30:00-05:00", 11);
    free(rows);
    list(&fe, &rows, &n);
    breakcheck_rows(&cfg, rows, n, st);
    assert_int_equal(st->unexplained, 7);
    assert_int_equal(st->newly, 1);
    /* once the configuration says so, they are explained */
    sw_config_free(&cfg);
    load(&cfg, "break.late.time = 13:00-14:00\nbreak.late.repeat = tue\n"
               "break.meet.time = 14:00-15:00\nbreak.meet.repeat = 2nd fri of every month\n"
               "break.meet.practitioner = " CHEN "\n");
    breakcheck_rows(&cfg, rows, n, st);
    assert_int_equal(st->unexplained, 5);
    assert_int_equal(st->newly, 0);
    free(st);
    free(rows);
    sw_config_free(&cfg);
}

/* What the poller exports after a check. */
static void test_metrics(void **state)
{
    (void)state;
    metrics_reset();
    metrics_unexplained_events(3, 3);
    metrics_unexplained_events(2, 1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&text, &len), SW_OK);
    assert_non_null(strstr(text, "\nschedworker_unexplained_provider_events 2\n"));
    assert_non_null(strstr(text, "\nschedworker_unexplained_provider_events_total 4\n"));
    free(text);
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
        cmocka_unit_test(test_seed_rows_are_explained),
        cmocka_unit_test(test_disagreements_are_found_once),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
