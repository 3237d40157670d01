/* test_keys.c - the key space: every entry complete and distinct, the
 * builders agree with the table, and docs/redis-keys.md is the table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"
#include "unit_util.h"

static const char *pattern(enum key_id id)
{
    return key_def(id)->pattern;
}

static void test_table_complete(void **state)
{
    (void)state;
    for (int i = 0; i < KEY_COUNT; i++) {
        const struct key_def *d = key_def((enum key_id)i);
        assert_non_null(d);
        if (!d->pattern || !d->pattern[0] || !d->type || !d->owner || !d->ttl || !d->meaning ||
            !d->meaning[0])
            fail_msg("key entry %d is incomplete", i);
        assert_true(!strcmp(d->type, "string") || !strcmp(d->type, "hash") ||
                    !strcmp(d->type, "zset"));
        /* fields are <name>, never nested or open */
        int depth = 0;
        for (const char *p = d->pattern; *p; p++) {
            depth += *p == '<' ? 1 : *p == '>' ? -1 : 0;
            assert_true(depth == 0 || depth == 1);
        }
        assert_int_equal(depth, 0);
    }
    assert_null(key_def(KEY_COUNT));
}

/* Two keys stored under the same pattern would overwrite each other. */
static void test_patterns_distinct(void **state)
{
    (void)state;
    char a[256], b[256];
    for (int i = 0; i < KEY_COUNT; i++) {
        assert_true(key_stored_pattern((enum key_id)i, a, sizeof(a)));
        for (int j = i + 1; j < KEY_COUNT; j++) {
            assert_true(key_stored_pattern((enum key_id)j, b, sizeof(b)));
            if (!strcmp(a, b))
                fail_msg("keys %d and %d are both %s", i, j, a);
        }
    }
    /* a cache name is stored inside the cache's key */
    assert_true(key_stored_pattern(KEY_DAY, a, sizeof(a)));
    assert_string_equal(a, "cache:day:<practitioner_id>:<date>");
    assert_true(key_stored_pattern(KEY_LOCK_BOOK_PATIENT, a, sizeof(a)));
    assert_string_equal(a, "lock:book:patient:<patient_id>");
    assert_true(key_stored_pattern(KEY_LEASE_POLLER, a, sizeof(a)));
    assert_string_equal(a, "lease:poller");
    assert_true(key_stored_pattern(KEY_IDEM, a, sizeof(a)));
    assert_string_equal(a, "idem:<request_id>");
}

/* Each builder, given its fields' own names, gives back the pattern. */
static void test_builders_follow_the_table(void **state)
{
    (void)state;
    static const struct {
        bool (*build)(char *, size_t, const char *);
        enum key_id id;
        const char *field;
    } one[] = {
        {key_patient_busy, KEY_PATIENT_BUSY, "<patient_id>"},
        {key_confirmation_index, KEY_CONFIRMATION_INDEX, "<code>"},
        {key_map_patient, KEY_MAP_PATIENT, "<uuid>"},
        {key_map_practitioner, KEY_MAP_PRACTITIONER, "<uuid>"},
        {key_map_eid, KEY_MAP_EID, "<pc_uuid>"},
        {key_offer_taken, KEY_OFFER_TAKEN, "<hold_id>"},
        {key_oauth_spend, KEY_OAUTH_SPEND, "<grant>"},
        {key_lock_book_practitioner, KEY_LOCK_BOOK_PRACTITIONER, "<practitioner_id>"},
        {key_lock_book_patient, KEY_LOCK_BOOK_PATIENT, "<patient_id>"},
        {key_lock_appointment, KEY_LOCK_APPOINTMENT, "<appointment_id>"},
    };
    char k[256];
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        assert_true(one[i].build(k, sizeof(k), one[i].field));
        assert_string_equal(k, pattern(one[i].id));
    }
    assert_true(key_day(k, sizeof(k), "<practitioner_id>", "<date>"));
    assert_string_equal(k, pattern(KEY_DAY));

    assert_true(key_own_appointment(k, sizeof(k), "<kind>", "<appointment_id>"));
    assert_string_equal(k, pattern(KEY_OWN_APPOINTMENT));
    /* the slot mark: a number, and absent ids as "" (as the poller wrote them) */
    assert_true(key_own_slot(k, sizeof(k), "made", "7", NULL, 1767225600));
    assert_string_equal(k, "own:made:7||1767225600");
    assert_true(key_own_slot(k, sizeof(k), "gone", "7", "42", -5));
    assert_string_equal(k, "own:gone:7|42|-5");

    /* names that callers used as literals before the key space */
    assert_string_equal(key_name(KEY_PRACTITIONERS), "practitioners");
    assert_string_equal(key_name(KEY_POLLER_SNAPSHOT), "poller:snapshot");
    assert_string_equal(key_name(KEY_WAITLIST_OFFERS), "waitlist:offers");
    assert_string_equal(key_name(KEY_LOCK_WAITLIST_OFFERS), "waitlist:offers");
    assert_string_equal(key_name(KEY_LEASE_POLLER), "poller");
    assert_string_equal(key_name(KEY_REPLICAS), "replicas");
    assert_null(key_name(KEY_DAY)); /* has fields */
}

static void test_build_limits(void **state)
{
    (void)state;
    char k[16];
    /* the wrong number of fields builds nothing */
    assert_false(key_build(k, sizeof(k), KEY_DAY, (const char *const[]){"P1"}, 1));
    assert_string_equal(k, "");
    assert_false(key_build(k, sizeof(k), KEY_LIMIT_GRANTS, (const char *const[]){"x"}, 1));
    assert_true(key_build(k, sizeof(k), KEY_LIMIT_GRANTS, NULL, 0));
    assert_string_equal(k, "limit:grants");
    /* too long: cut short like snprintf, and said so */
    assert_false(key_day(k, sizeof(k), "practitioner-1", "2026-12-01"));
    assert_int_equal(strlen(k), sizeof(k) - 1);
    assert_memory_equal(k, "day:practitione", sizeof(k) - 1);
    assert_true(key_day(k, 20, "P", "2026-12-01"));  /* "day:P:2026-12-01" */
    assert_false(key_day(k, 16, "P", "2026-12-01")); /* 16 chars need 17 bytes */
    assert_false(key_build(k, 0, KEY_DAY, NULL, 0));
    /* a field's value may hold '<' and '>' */
    char big[64];
    assert_true(key_patient_busy(big, sizeof(big), "<a>b"));
    assert_string_equal(big, "patient-busy:<a>b");
    assert_false(key_build(k, sizeof(k), KEY_COUNT, NULL, 0));
}

#define BEGIN "<!-- keys:begin -->\n"
#define END   "<!-- keys:end -->"

/* docs/redis-keys.md holds exactly the table keys.c renders. */
static void test_doc_is_the_table(void **state)
{
    (void)state;
    struct buf table;
    buf_init(&table, 1 << 16);
    assert_true(key_table_markdown(&table));
    char *doc = util_read_file("docs/redis-keys.md", NULL);
    if (!doc)
        fail_msg("cannot read docs/redis-keys.md (run from the repository root)");
    char *begin = strstr(doc, BEGIN), *end = begin ? strstr(begin, END) : NULL;
    if (!begin || !end)
        fail_msg("docs/redis-keys.md has no %s ... %s section", "<!-- keys:begin -->", END);
    begin += strlen(BEGIN);
    size_t n = (size_t)(end - begin);
    if (n != table.len || memcmp(begin, buf_str(&table), n) != 0) {
        const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
        char path[256];
        snprintf(path, sizeof(path), "%s/redis-keys.table.md", build);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(buf_str(&table), f);
            fclose(f);
        }
        fail_msg("docs/redis-keys.md differs from the key table in src/keys.c; the table as "
                 "keys.c renders it is in %s",
                 path);
    }
    free(doc);
    buf_free(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_patterns_distinct),
        cmocka_unit_test(test_builders_follow_the_table),
        cmocka_unit_test(test_build_limits),
        cmocka_unit_test(test_doc_is_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
