/* test_confirmation.c - generation, lenient decoding, and detection of
 * every single substitution and adjacent transposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "confirmation.h"

/* Deterministic 64-bit generator (splitmix64) for the sample codes. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The 7 symbols of a display-form code, without the dash. */
static void strip(const char *code, char *out)
{
    int k = 0;
    for (; *code; code++)
        if (*code != '-')
            out[k++] = *code;
    out[k] = '\0';
}

static void test_generate_shape_and_round_trip(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        char code[CONFIRM_TEXT_LEN], back[CONFIRM_TEXT_LEN];
        assert_int_equal(confirm_generate(next_random(&seed), code, sizeof code), SW_OK);
        assert_int_equal(strlen(code), 8);
        assert_int_equal(code[3], '-');
        for (int j = 0; j < 8; j++)
            if (j != 3)
                assert_non_null(strchr(CONFIRM_ALPHABET, code[j]));
        assert_int_equal(confirm_decode(code, back, sizeof back), SW_OK);
        assert_string_equal(code, back);
    }
    /* pure: same random, same code; the low 24 bits decide */
    char a[CONFIRM_TEXT_LEN], b[CONFIRM_TEXT_LEN];
    confirm_generate(0x123456789ABCDEFULL, a, sizeof a);
    confirm_generate(0xFEDCBA987ABCDEFULL, b, sizeof b);
    assert_string_equal(a, b);
    assert_string_equal(a, "HKR-WXYK"); /* 1*10+2*11+...+6*15 = 280 = 8 mod 17; 8 + 7*11 = 85 */
    char small[CONFIRM_TEXT_LEN - 1];
    assert_int_equal(confirm_generate(1, small, sizeof small), SW_ERR_INVALID);
}

/* Every seventh of the 2^24 payloads (all residues mod 17 occur) yields a valid code; about 16 in
 * 17 keep their payload unchanged (the rest move to the next payload whose check value is a
 * symbol). */
static void test_every_payload(void **state)
{
    (void)state;
    uint32_t unchanged = 0, total = 0;
    for (uint32_t p = 0; p < (1u << 24); p += 7, total++) {
        char code[CONFIRM_TEXT_LEN], sym[8];
        if (confirm_generate(p, code, sizeof code) != SW_OK || !confirm_is_valid(code))
            fail_msg("payload %u", p);
        strip(code, sym);
        uint32_t back = 0;
        for (int i = 0; i < 6; i++)
            back = back << 4 | (uint32_t)(strchr(CONFIRM_ALPHABET, sym[i]) - CONFIRM_ALPHABET);
        unchanged += back == p;
    }
    /* exactly the payloads whose check value is 0..15 */
    assert_true(unchanged > total / 17 * 15 && unchanged < total / 17 * 16 + 100);
}

/* Every single substitution and every adjacent transposition of many real
 * codes is rejected by the decoder. */
static void test_errors_detected(void **state)
{
    (void)state;
    uint64_t seed = 7;
    const char *alpha = CONFIRM_ALPHABET;
    long substitutions = 0, transpositions = 0;
    for (int n = 0; n < 3000; n++) {
        char code[CONFIRM_TEXT_LEN], sym[8], bad[8];
        confirm_generate(next_random(&seed), code, sizeof code);
        strip(code, sym);
        for (int i = 0; i < 7; i++) {
            for (int a = 0; a < 16; a++) {
                if (alpha[a] == sym[i])
                    continue;
                memcpy(bad, sym, 8);
                bad[i] = alpha[a];
                if (confirm_is_valid(bad))
                    fail_msg("%s with %c at %d accepted", sym, alpha[a], i);
                substitutions++;
            }
        }
        for (int i = 0; i < 6; i++) {
            if (sym[i] == sym[i + 1])
                continue;
            memcpy(bad, sym, 8);
            bad[i] = sym[i + 1];
            bad[i + 1] = sym[i];
            if (confirm_is_valid(bad))
                fail_msg("%s with %d,%d swapped accepted", sym, i, i + 1);
            transpositions++;
        }
    }
    assert_true(substitutions == 3000L * 7 * 15);
    assert_true(transpositions > 3000L * 5);
}

/* The same claim for every code at once: the decoder accepts exactly the
 * codes whose weighted sum is 0 mod 17, so an error goes unseen only if it
 * leaves the sum unchanged.  Enumerate every (position, old, new) and every
 * (adjacent pair, a, b) on a valid base code: the decoder must reject each.
 * Since the sum is linear, one base code per position covers all codes. */
static void test_errors_detected_exhaustive(void **state)
{
    (void)state;
    const char *alpha = CONFIRM_ALPHABET;
    long checked = 0;
    static char sample[4096][8];
    uint64_t seed = 99;
    for (int k = 0; k < 4096; k++) {
        char code[CONFIRM_TEXT_LEN];
        confirm_generate(next_random(&seed), code, sizeof code);
        strip(code, sample[k]);
    }
    /* For each position i and each pair (x, y) of distinct symbols, take a
     * valid code with x at i (and, for transpositions, y at i + 1), then
     * make the error. */
    for (int i = 0; i < 7; i++) {
        for (int x = 0; x < 16; x++) {
            for (int y = 0; y < 16; y++) {
                if (x == y)
                    continue;
                bool found_sub = false, found_swap = i == 6;
                for (int k = 0; k < 4096 && !(found_sub && found_swap); k++) {
                    const char *sym = sample[k];
                    char bad[8];
                    if (!found_sub && sym[i] == alpha[x]) {
                        memcpy(bad, sym, 8);
                        bad[i] = alpha[y];
                        assert_false(confirm_is_valid(bad));
                        found_sub = true;
                        checked++;
                    }
                    if (!found_swap && sym[i] == alpha[x] && sym[i + 1] == alpha[y]) {
                        memcpy(bad, sym, 8);
                        bad[i] = alpha[y];
                        bad[i + 1] = alpha[x];
                        assert_false(confirm_is_valid(bad));
                        found_swap = true;
                        checked++;
                    }
                }
                if (!found_sub || !found_swap)
                    fail_msg("no base code for position %d symbols %c,%c", i, alpha[x], alpha[y]);
            }
        }
    }
    assert_int_equal(checked, 7 * 16 * 15 + 6 * 16 * 15);
}

static void test_lenient_decode(void **state)
{
    (void)state;
    char code[CONFIRM_TEXT_LEN], sym[8];
    /* find a code with 0, 1 and 8 in it to exercise the look-alikes */
    uint64_t seed = 1;
    for (;;) {
        confirm_generate(next_random(&seed), code, sizeof code);
        if (strchr(code, '0') && strchr(code, '1') && strchr(code, 'K'))
            break;
    }
    strip(code, sym);
    char in[64], out[CONFIRM_TEXT_LEN];
    /* lower case, no dash */
    for (int i = 0; i < 7; i++)
        in[i] = (char)(sym[i] >= 'A' ? sym[i] - 'A' + 'a' : sym[i]);
    in[7] = '\0';
    assert_int_equal(confirm_decode(in, out, sizeof out), SW_OK);
    assert_string_equal(out, code);
    /* spaces, dots, dashes anywhere */
    snprintf(in, sizeof in, " %c %c.%c - %c%c\t%c %c ", sym[0], sym[1], sym[2], sym[3], sym[4],
             sym[5], sym[6]);
    assert_int_equal(confirm_decode(in, out, sizeof out), SW_OK);
    assert_string_equal(out, code);
    /* O for 0, l for 1 */
    snprintf(in, sizeof in, "%s", sym);
    for (int i = 0; i < 7; i++) {
        if (in[i] == '0')
            in[i] = 'O';
        else if (in[i] == '1')
            in[i] = 'l';
    }
    assert_int_equal(confirm_decode(in, out, sizeof out), SW_OK);
    assert_string_equal(out, code);

    static const struct {
        const char *in;
        sw_err want;
    } cases[] = {
        {"", SW_ERR_INVALID},
        {"---", SW_ERR_INVALID},
        {"ABC-DEFG", SW_ERR_INVALID},        /* A, C, E, F not in the alphabet */
        {"123-456", SW_ERR_INVALID},         /* too short */
        {"123-45678", SW_ERR_INVALID},       /* too long */
        {"12\xc3\xa9-4567", SW_ERR_INVALID}, /* non-ASCII */
        {"123_4567", SW_ERR_INVALID},        /* underscore is not a separator */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (confirm_decode(cases[i].in, out, sizeof out) != cases[i].want)
            fail_msg("case \"%s\"", cases[i].in);
    char longin[200];
    memset(longin, ' ', sizeof longin - 1);
    longin[sizeof longin - 1] = '\0';
    memcpy(longin + 150, sym, 7);
    assert_int_equal(confirm_decode(longin, out, sizeof out), SW_ERR_INVALID);
    assert_int_equal(confirm_decode(code, out, 3), SW_ERR_INVALID);
    assert_int_equal(confirm_decode(NULL, out, sizeof out), SW_ERR_INVALID);
    assert_true(confirm_is_valid(code));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_shape_and_round_trip),
        cmocka_unit_test(test_every_payload),
        cmocka_unit_test(test_errors_detected),
        cmocka_unit_test(test_errors_detected_exhaustive),
        cmocka_unit_test(test_lenient_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
