/* confirmation.h - confirmation numbers made to be read over the phone.
 *
 * Form: 7 symbols, the last a check symbol, written "K7M-4QX9"-style as
 * three symbols, a dash, four symbols ("4HW-0X7K").
 *
 * Alphabet (16 symbols, value = position): 0 1 2 3 4 5 6 7 8 9 H K R W X Y
 *   - All ten digits: what a caller and a speech recogniser handle best.
 *   - Six letters, each the only member of the alphabet in its rhyme set
 *     and unlike any digit in shape:
 *       H "aitch", K "kay" (A and J, which rhyme with it, are out),
 *       R "ar", W "double-you" (Q and U, which rhyme with "two", are out),
 *       X "ex" (F L M N S, which rhyme with it, are out),
 *       Y "why" (I, which rhymes with it and looks like 1, is out).
 *   - Out for looking like a digit: O (0), I and L (1), Z (2), S (5), G (6),
 *     T (7), B (8).  Out for rhyming with each other or with "three": B C D
 *     E G P T V Z.  Residual risk, knowingly accepted: H and K share the
 *     vowel of "eight"; the check symbol catches any one such slip.
 *
 * Check: with values v0..v6 and weights 1..7, sum(w_i * v_i) = 0 mod 17.
 * 17 is prime, every weight is non-zero mod 17 and adjacent weights differ,
 * and symbol values differ by at most 15, so every single substitution and
 * every transposition of two adjacent symbols changes the sum: always
 * detected (tests/unit/test_confirmation.c enumerates it).  A code whose
 * check value would be 16 (not a symbol) is never issued.
 *
 * Space: 16^6 payloads, 16^6 * 16/17 ~ 15.8 million issuable codes.  Two
 * commands' first candidates collide with probability 1/2 after ~4,700
 * codes, so uniqueness comes from a fleet-wide claim (Redis SET NX), a
 * collision moving to the next candidate (confirm_derive); at 1 million
 * live codes a candidate is taken ~6% of the time.  Codes are not secrets,
 * and a cancel or reschedule must name the patient too (handlers).
 *
 * Lenient decoding: case is ignored; spaces, tabs, dashes and dots are
 * skipped; the excluded look-alikes are read as the digit they resemble
 * (O Q -> 0, I L -> 1, Z -> 2, S -> 5, G -> 6, T -> 7, B -> 8). */
#ifndef SW_CONFIRMATION_H
#define SW_CONFIRMATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define CONFIRM_ALPHABET  "0123456789HKRWXY"
#define CONFIRM_SYMBOLS   7  /* check symbol included */
#define CONFIRM_TEXT_LEN  9  /* "4HW-0X7K" and its NUL */
#define CONFIRM_MAX_INPUT 64 /* longer input is rejected unread */

/* A code from 24 bits of the caller's random value (its low bits), in
 * display form.  buf at least CONFIRM_TEXT_LEN. */
sw_err confirm_generate(uint64_t random, char *buf, size_t len);

/* The k-th candidate number of a command (k = 0, 1, ...): 24 bits of
 * HMAC-SHA256(key, request_id, k) as a code.  Keyed with the fleet's secret,
 * so numbers cannot be predicted from request ids; derived, so every
 * attempt of one command, on any replica and with an empty Redis, knows
 * the numbers it may have written and looks for them first.  A candidate
 * another command holds moves the command to the next one. */
#define CONFIRM_CANDIDATES 8
sw_err confirm_derive(const unsigned char key[32], const char *request_id, int k, char *buf,
                      size_t len);

/* Reads a code leniently and writes its display form into canonical (at
 * least CONFIRM_TEXT_LEN; may be NULL).  SW_ERR_INVALID for a wrong length,
 * a symbol outside the alphabet, or a check symbol that does not match. */
sw_err confirm_decode(const char *in, char *canonical, size_t len);

/* confirm_decode() == SW_OK. */
bool confirm_is_valid(const char *in);

#endif
