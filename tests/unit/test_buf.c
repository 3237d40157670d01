/* test_buf.c - the capped buffer and array growth: caps hold, data stays
 * NUL-terminated, a refused append is remembered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "clock.h"

static void test_append_and_steal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_string_equal(buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        assert_true(buf_printf(&b, "%04d,", i));
    assert_int_equal(b.len, 5000);
    assert_int_equal(strlen(buf_str(&b)), 5000);
    assert_memory_equal(buf_str(&b) + 4995, "0999,", 5);
    size_t len = 0;
    char *s = buf_steal(&b, &len);
    assert_int_equal(len, 5000);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    free(s);
    s = buf_steal(&b, &len); /* empty: "" not NULL */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    buf_free(&b);
}

static void test_cap_is_exact(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_true(buf_append(&b, "0123456789", 10)); /* exactly max */
    assert_false(b.failed);
    assert_false(buf_append(&b, "x", 1)); /* one more: refused */
    assert_true(b.failed);
    assert_false(buf_append(&b, "", 0)); /* and stays refused */
    assert_string_equal(buf_str(&b), "0123456789");
    buf_reset(&b);
    assert_false(b.failed);
    assert_true(buf_printf(&b, "%s", "abc"));
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(buf_printf(&b, "%s", big)); /* the long printf path honours max */
    assert_string_equal(buf_str(&b), "abc");
    buf_free(&b);
}

static void test_vec_grow(void **state)
{
    (void)state;
    int *arr = NULL;
    size_t cap = 0, n = 0;
    for (int i = 0; i < 100; i++) {
        int *na = vec_grow(arr, &cap, sizeof(*arr), n + 1, 100);
        assert_non_null(na);
        arr = na;
        arr[n++] = i;
    }
    assert_int_equal(cap, 100); /* clamped to max, not 128 */
    assert_null(vec_grow(arr, &cap, sizeof(*arr), 101, 100));
    assert_int_equal(arr[99], 99);                                  /* untouched on refusal */
    assert_null(vec_grow(NULL, &(size_t){0}, SIZE_MAX / 2, 3, 10)); /* overflow */
    free(arr);
}

static void test_hex_encode(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[2 * sizeof(in) + 1];
    memset(out, 'x', sizeof(out));
    hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "000fa5ff");
    hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_manual_clock(void **state)
{
    (void)state;
    struct sw_manual_clock m;
    clock_manual_init(&m, 1700000000123);
    assert_int_equal(clock_now_ms(&m.clock), 1700000000123);
    assert_int_equal(clock_now_s(&m.clock), 1700000000);
    int64_t mono = clock_mono_ms(&m.clock);
    clock_sleep_ms(&m.clock, 250);
    assert_int_equal(clock_now_ms(&m.clock), 1700000000373);
    assert_int_equal(clock_mono_ms(&m.clock) - mono, 250);
    clock_sleep_ms(&m.clock, -5); /* nothing */
    assert_int_equal(clock_mono_ms(&m.clock) - mono, 250);
    /* The system clock moves forward and sleeps about as long as asked. */
    int64_t t0 = clock_mono_ms(NULL);
    clock_sleep_ms(NULL, 20);
    assert_true(clock_mono_ms(NULL) - t0 >= 20);
    assert_true(clock_now_ms(NULL) > 1700000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_steal), cmocka_unit_test(test_cap_is_exact),
        cmocka_unit_test(test_vec_grow),         cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_manual_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
