/* test_dispatch.c - when a command is set aside as poison (dispatch.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispatch.h"

/* A command nobody noted a write for is set aside after POISON_TAKEOVERS
 * holders died on it, not before. */
static void test_poison_without_a_write(void **state)
{
    (void)state;
    for (int t = 0; t <= POISON_TAKEOVERS; t++)
        assert_false(dispatch_is_poison(t, false));
    assert_true(dispatch_is_poison(POISON_TAKEOVERS + 1, false));
}

/* One whose earlier attempt noted an OpenEMR write is not answered
 * "could not process" at that point (chaos v2, F3: the booking had been
 * made): the next attempts look the write up first; it is set aside only
 * after as many again. */
static void test_noted_write_is_looked_up_first(void **state)
{
    (void)state;
    for (int t = 0; t <= 2 * POISON_TAKEOVERS; t++)
        assert_false(dispatch_is_poison(t, true));
    assert_true(dispatch_is_poison(2 * POISON_TAKEOVERS + 1, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_without_a_write),
        cmocka_unit_test(test_noted_write_is_looked_up_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
