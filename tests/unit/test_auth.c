/* test_auth.c - keys files with roles, the v1 signing input, signatures
 * and their check (window, roles, every signed part). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "auth.h"
#include "unit_util.h"

static char dir[] = "/tmp/test_auth_XXXXXX";

#define KEY_A "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
#define KEY_B "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_R "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define KEY_O "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
#define NOW   1767225600000LL /* the tests' clock (Unix ms): any fixed instant */
#define SKEW  300
#define BOOK  "scheduling.commands.book"
/* HMAC-SHA256(KEY_A, the input of test_signing_input), computed outside
 * this code (Python's hmac module); docs/security.md shows the same with
 * openssl dgst. */
#define KNOWN_MAC "c886846c008d29893562786ee50b37f0b5550207202c6757ca17d3557f7b2081"

static const char msg[] = "{\"type\":\"book\",\"request_id\":\"r-1\",\"payload\":{}}";

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    return path;
}

static struct auth_keys *load_good(void)
{
    char err[256] = "";
    struct auth_keys *k = NULL;
    const char *p = write_file("good.keys", "# key id = role secret\n"
                                            "\n"
                                            "voice-agent-1 = agent " KEY_A "\n"
                                            "  billing.svc=\"agent " KEY_B "\"   \n"
                                            "search-ui = reader\t" KEY_R "\n"
                                            "ops-1 = operator " KEY_O " # replays\n"
                                            "# end\n");
    if (auth_keys_load(p, &k, err, sizeof err) != SW_OK)
        fail_msg("load: %s", err);
    assert_int_equal(auth_keys_count(k), 4);
    return k;
}

static struct auth_msg book_msg(void)
{
    struct auth_msg m = {BOOK, "r-1", NULL, "corr-9", NULL, msg, strlen(msg)};
    return m;
}

/* The framing, byte for byte: fixed order, one line each, absent headers
 * as empty lines, the value last. */
static void test_signing_input(void **state)
{
    (void)state;
    struct auth_msg m = book_msg();
    unsigned char *in = NULL;
    size_t n = 0;
    assert_int_equal(auth_signing_input(&m, "voice-agent-1", "1767225600000", &in, &n), SW_OK);
    static const char want[] =
        "schedworker-v1\nvoice-agent-1\n1767225600000\n" BOOK "\nr-1\n\n"
        "corr-9\n\n{\"type\":\"book\",\"request_id\":\"r-1\",\"payload\":{}}";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(in, want, n);
    free(in);

    /* a line break in any framed field would make two inputs alike */
    const char *fields[] = {"a\nb", "a\rb"};
    for (size_t i = 0; i < 2; i++) {
        struct auth_msg bad = book_msg();
        bad.reply_to = fields[i];
        assert_int_equal(auth_signing_input(&bad, "voice-agent-1", "1", &in, &n), SW_ERR_INVALID);
        assert_null(in);
        bad = book_msg();
        bad.topic = fields[i];
        assert_int_equal(auth_signing_input(&bad, "voice-agent-1", "1", &in, &n), SW_ERR_INVALID);
        assert_int_equal(auth_signing_input(&m, "voice-agent-1", fields[i], &in, &n),
                         SW_ERR_INVALID);
    }
    assert_int_equal(auth_signing_input(&m, "bad id", "1", &in, &n), SW_ERR_INVALID);
    assert_int_equal(auth_signing_input(&m, "", "1", &in, &n), SW_ERR_INVALID);
    /* an empty value is signed too */
    m.value = "";
    m.len = 0;
    assert_int_equal(auth_signing_input(&m, "voice-agent-1", "1", &in, &n), SW_OK);
    assert_int_equal(in[n - 1], '\n');
    free(in);
}

static void test_known_answer(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    struct auth_msg m = book_msg();
    struct auth_headers h;
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h), SW_OK);
    assert_string_equal(h.key_id, "voice-agent-1");
    assert_string_equal(h.signed_at, "1767225600000");
    assert_string_equal(h.signature, "v1=" KNOWN_MAC);
    assert_int_equal(auth_sign(k, "nobody", &m, NOW, &h), SW_ERR_NOT_FOUND);
    assert_string_equal(h.signature, "");
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, -1, &h), SW_ERR_INVALID);
    m.reply_to = "x\ny";
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h), SW_ERR_INVALID);
    assert_string_equal(h.signature, "");
    assert_string_equal(auth_keys_first(k, AUTH_ROLE_AGENT), "voice-agent-1");
    assert_string_equal(auth_keys_first(k, AUTH_ROLE_READER), "search-ui");
    assert_string_equal(auth_keys_first(k, AUTH_ROLE_OPERATOR), "ops-1");
    auth_keys_destroy(k);
}

static void check(const struct auth_keys *k, const struct auth_msg *m, const char *id,
                  const char *at, const char *sig, bool trouble, enum auth_topic topic,
                  enum auth_verdict want, const char *why, struct auth_check *ck)
{
    auth_verify(k, m, id, at, sig, trouble, topic, NOW, SKEW, ck);
    if (ck->verdict != want || (why && !strstr(ck->reason, why)))
        fail_msg("got verdict %d \"%s\", want %d \"%s\"", ck->verdict, ck->reason, want,
                 why ? why : "");
    /* the reason never holds a key or a signature */
    assert_null(strstr(ck->reason, KEY_A));
    if (sig && strlen(sig) > 10)
        assert_null(strstr(ck->reason, sig + 3));
}

/* Every signed part changes the signature: each change is refused. */
static void test_verify_every_part(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    struct auth_msg m = book_msg();
    struct auth_headers h;
    struct auth_check ck;
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h), SW_OK);
    check(k, &m, h.key_id, h.signed_at, h.signature, false, AUTH_TOPIC_BOOK, AUTH_OK, NULL, &ck);
    assert_false(ck.stale);
    assert_string_equal(ck.key_id, "voice-agent-1");
    assert_int_equal(ck.role, AUTH_ROLE_AGENT);
    assert_int_equal(strlen(ck.digest), AUTH_DIGEST_HEX);
    assert_null(strstr(h.signature, ck.digest)); /* a digest, not the signature */
    assert_string_equal(ck.reason, "");

    /* upper-case hex is the same signature */
    char upper[AUTH_SIG_LEN + 1];
    memcpy(upper, h.signature, sizeof upper);
    for (char *p = upper + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    check(k, &m, h.key_id, h.signed_at, upper, false, AUTH_TOPIC_BOOK, AUTH_OK, NULL, &ck);

    const char *mismatch = "signature does not match";
    char tampered[sizeof msg];
    memcpy(tampered, msg, sizeof msg);
    tampered[10] ^= 1;
    struct auth_msg changed[9];
    for (size_t i = 0; i < 9; i++)
        changed[i] = m;
    changed[0].value = tampered;
    changed[1].len--;
    changed[2].topic = "scheduling.commands.cancel";
    changed[3].request_id = "r-2";
    changed[4].request_id = NULL; /* the header dropped */
    changed[5].reply_to = "scheduling.events";
    changed[6].correlation_id = "corr-1";
    changed[7].replay_of = "scheduling.dlq/0/1";
    changed[8].correlation_id = NULL;
    for (size_t i = 0; i < 9; i++)
        check(k, &changed[i], h.key_id, h.signed_at, h.signature, false,
              i == 2 ? AUTH_TOPIC_CANCEL : AUTH_TOPIC_BOOK, AUTH_UNAUTHENTICATED, mismatch, &ck);
    /* another time, another key id (both known), a flipped last digit */
    check(k, &m, h.key_id, "1767225600001", h.signature, false, AUTH_TOPIC_BOOK,
          AUTH_UNAUTHENTICATED, mismatch, &ck);
    check(k, &m, "billing.svc", h.signed_at, h.signature, false, AUTH_TOPIC_BOOK,
          AUTH_UNAUTHENTICATED, mismatch, &ck);
    char flipped[AUTH_SIG_LEN + 1];
    memcpy(flipped, h.signature, sizeof flipped);
    flipped[AUTH_SIG_LEN - 1] = flipped[AUTH_SIG_LEN - 1] == '0' ? '1' : '0';
    check(k, &m, h.key_id, h.signed_at, flipped, false, AUTH_TOPIC_BOOK, AUTH_UNAUTHENTICATED,
          mismatch, &ck);
    assert_string_equal(ck.key_id, ""); /* not proven: no key named */
    auth_keys_destroy(k);
}

static void test_verify_malformed(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    struct auth_msg m = book_msg();
    struct auth_headers h;
    struct auth_check ck;
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h), SW_OK);
    const char *s = h.signature, *id = h.key_id, *at = h.signed_at;
    const enum auth_topic B = AUTH_TOPIC_BOOK;
    const enum auth_verdict U = AUTH_UNAUTHENTICATED;

    check(k, &m, NULL, NULL, NULL, false, B, AUTH_UNSIGNED, "unsigned", &ck);
    check(k, &m, "", "", "", false, B, AUTH_UNSIGNED, "unsigned", &ck);
    check(k, &m, NULL, at, NULL, false, B, U, "no x-signature", &ck);
    check(k, &m, id, at, NULL, false, B, U, "no x-signature", &ck);
    check(k, &m, NULL, at, s, false, B, U, "no x-key-id", &ck);
    check(k, &m, "intruder", at, s, false, B, U, "unknown key id", &ck);
    check(NULL, &m, id, at, s, false, B, U, "unknown key id", &ck);
    check(k, &m, id, NULL, s, false, B, U, "x-signed-at", &ck);
    check(k, &m, id, "01767225600000", s, false, B, U, "x-signed-at", &ck);
    check(k, &m, id, "+1767225600000", s, false, B, U, "x-signed-at", &ck);
    check(k, &m, id, "1767225600000.5", s, false, B, U, "x-signed-at", &ck);
    check(k, &m, id, "9999999999999999999", s, false, B, U, "x-signed-at", &ck);
    check(k, &m, id, at, s + 3, false, B, U, "malformed", &ck); /* no v1= */
    check(k, &m, id, at, "v2=" KNOWN_MAC, false, B, U, "malformed", &ck);
    check(k, &m, id, at, "v1=" KNOWN_MAC "00", false, B, U, "malformed", &ck);
    check(k, &m, id, at, "v1=zz" KNOWN_MAC, false, B, U, "malformed", &ck);
    check(k, &m, id, at, "v1=", false, B, U, "malformed", &ck);
    /* the transport saw a signed header twice: nothing verifies */
    check(k, &m, id, at, s, true, B, U, "repeated", &ck);
    struct auth_msg x = m;
    x.reply_to = "a\nb";
    check(k, &x, id, at, s, false, B, U, "line break", &ck);
    auth_keys_destroy(k);
}

/* |now - signed at| <= max_skew_s (times in ms); outside it a good
 * signature is stale. */
static void test_window(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    struct auth_msg m = book_msg();
    const struct {
        long long at;
        bool stale;
    } cases[] = {
        {NOW, false},
        {NOW - SKEW * 1000, false},    /* exactly the window */
        {NOW + SKEW * 1000, false},    /* a producer's clock ahead */
        {NOW - SKEW * 1000 - 1, true}, /* one millisecond outside */
        {NOW + SKEW * 1000 + 1, true},
        {0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct auth_headers h;
        struct auth_check ck;
        assert_int_equal(auth_sign(k, "voice-agent-1", &m, cases[i].at, &h), SW_OK);
        auth_verify(k, &m, h.key_id, h.signed_at, h.signature, false, AUTH_TOPIC_BOOK, NOW, SKEW,
                    &ck);
        assert_int_equal(ck.verdict, AUTH_OK);
        if (ck.stale != cases[i].stale)
            fail_msg("signed at %lld: stale %d", cases[i].at, ck.stale);
        if (ck.stale)
            assert_non_null(strstr(ck.reason, "window"));
    }
    auth_keys_destroy(k);
}

/* agent: every command topic; reader: search only; operator: any, but
 * only with a signed dlq_replayed_from; nobody: a topic not ours. */
static void test_roles(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    const struct {
        const char *key;
        enum auth_topic topic;
        bool replay;
        enum auth_verdict want;
    } cases[] = {
        {"voice-agent-1", AUTH_TOPIC_SEARCH, false, AUTH_OK},
        {"voice-agent-1", AUTH_TOPIC_BOOK, false, AUTH_OK},
        {"voice-agent-1", AUTH_TOPIC_CANCEL, false, AUTH_OK},
        {"voice-agent-1", AUTH_TOPIC_OTHER, false, AUTH_FORBIDDEN},
        {"search-ui", AUTH_TOPIC_SEARCH, false, AUTH_OK},
        {"search-ui", AUTH_TOPIC_BOOK, false, AUTH_FORBIDDEN},
        {"search-ui", AUTH_TOPIC_CANCEL, false, AUTH_FORBIDDEN},
        {"search-ui", AUTH_TOPIC_BOOK, true, AUTH_FORBIDDEN},
        {"ops-1", AUTH_TOPIC_BOOK, false, AUTH_FORBIDDEN},
        {"ops-1", AUTH_TOPIC_SEARCH, false, AUTH_FORBIDDEN},
        {"ops-1", AUTH_TOPIC_BOOK, true, AUTH_OK},
        {"ops-1", AUTH_TOPIC_CANCEL, true, AUTH_OK},
        {"ops-1", AUTH_TOPIC_OTHER, true, AUTH_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct auth_msg m = book_msg();
        m.replay_of = cases[i].replay ? "scheduling.dlq/0/7" : NULL;
        struct auth_headers h;
        struct auth_check ck;
        assert_int_equal(auth_sign(k, cases[i].key, &m, NOW, &h), SW_OK);
        auth_verify(k, &m, h.key_id, h.signed_at, h.signature, false, cases[i].topic, NOW, SKEW,
                    &ck);
        if (ck.verdict != cases[i].want)
            fail_msg("case %zu (%s): verdict %d \"%s\"", i, cases[i].key, ck.verdict, ck.reason);
        if (ck.verdict == AUTH_FORBIDDEN) {
            assert_non_null(strstr(ck.reason, "may not send"));
            assert_string_equal(ck.key_id, cases[i].key); /* proven, so named */
        }
    }
    auth_keys_destroy(k);
}

/* Two signatures, two digests; the same signature, the same digest (the
 * replay guard's name for it). */
static void test_digest(void **state)
{
    (void)state;
    struct auth_keys *k = load_good();
    struct auth_msg m = book_msg();
    struct auth_headers h1, h2;
    struct auth_check a, b, c;
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h1), SW_OK);
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW + 1, &h2), SW_OK);
    auth_verify(k, &m, h1.key_id, h1.signed_at, h1.signature, false, AUTH_TOPIC_BOOK, NOW, SKEW,
                &a);
    auth_verify(k, &m, h1.key_id, h1.signed_at, h1.signature, false, AUTH_TOPIC_BOOK, NOW, SKEW,
                &b);
    auth_verify(k, &m, h2.key_id, h2.signed_at, h2.signature, false, AUTH_TOPIC_BOOK, NOW, SKEW,
                &c);
    assert_string_equal(a.digest, b.digest);
    assert_string_not_equal(a.digest, c.digest);
    auth_keys_destroy(k);
}

static void test_keys_file_errors(void **state)
{
    (void)state;
    char longline[1200];
    memset(longline, 'a', sizeof longline - 2);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    const struct {
        const char *text, *want; /* want: after "path" */
    } cases[] = {
        {"voice-agent agent " KEY_A "\n", ":1: expected `key_id = role hexsecret`"},
        {"# c\nbad name = agent " KEY_A "\n", ":2: key id must be"},
        {" = agent " KEY_A "\n", ":1: key id must be"},
        {"a = " KEY_A "\n", ":1: key \"a\": expected `role hexsecret`"},
        {"a = admin " KEY_A "\n", ":1: key \"a\": expected `role hexsecret`"},
        {"a = agent\n", ":1: secret of \"a\" must be 32..128 bytes"},
        {"a = agent " KEY_A "0\n", ":1: secret of \"a\" must be 32..128 bytes"},
        {"a = agent 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\n", ":1: secret of \"a\" must be 32..128"},
        {"a = agent " KEY_A " " KEY_B "\n", ":1: secret of \"a\" must be"},
        {"a = agent " KEY_A "\nb = reader z" KEY_A "\n", ":2: secret of \"b\" must be"},
        {"a = agent " KEY_A "\nb = reader " KEY_A "zz\n", ":2: secret of \"b\" is not hex"},
        {"a = agent " KEY_A "\nb = reader zz" KEY_B "zz\n", ":2: secret of \"b\" is not hex"},
        {"a = agent " KEY_A "\n\na = reader " KEY_B "\n", ":3: key id \"a\" is listed twice"},
        {"# only comments\n\n", ": no keys"},
        {"", ": no keys"},
        {longline, ":1: line longer than"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], err[512] = "", want[512];
        snprintf(name, sizeof name, "bad%zu.keys", i);
        const char *p = write_file(name, cases[i].text);
        snprintf(want, sizeof want, "%s%s", p, cases[i].want);
        struct auth_keys *k = (struct auth_keys *)1;
        assert_int_equal(auth_keys_load(p, &k, err, sizeof err), SW_ERR_CONFIG);
        assert_null(k);
        if (strncmp(err, want, strlen(want)))
            fail_msg("case %zu: \"%s\", want prefix \"%s\"", i, err, want);
        assert_null(strstr(err, KEY_A)); /* no key material in messages */
        assert_null(strstr(err, KEY_B));
    }
    struct auth_keys *k = NULL;
    char err[512];
    char missing[300];
    snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
    assert_int_equal(auth_keys_load(missing, &k, err, sizeof err), SW_ERR_CONFIG);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(auth_keys_load("", &k, err, sizeof err), SW_ERR_CONFIG);
    assert_int_equal(auth_keys_load(NULL, &k, err, sizeof err), SW_ERR_CONFIG);
}

/* The keys file follows the config file's line rules: `;` comments,
 * trailing `# comments`, quoted values with a comment after them. */
static void test_keys_file_grammar(void **state)
{
    (void)state;
    char err[256] = "";
    struct auth_keys *k = NULL;
    const char *p = write_file("grammar.keys", "; producers\n"
                                               "voice-agent-1 = agent " KEY_A "   # the agent\n"
                                               "billing.svc = \"reader " KEY_B "\" # billing\n");
    if (auth_keys_load(p, &k, err, sizeof err) != SW_OK)
        fail_msg("load: %s", err);
    assert_int_equal(auth_keys_count(k), 2);
    struct auth_msg m = book_msg();
    struct auth_headers h;
    assert_int_equal(auth_sign(k, "voice-agent-1", &m, NOW, &h), SW_OK);
    assert_string_equal(h.signature, "v1=" KNOWN_MAC);
    assert_null(auth_keys_first(k, AUTH_ROLE_OPERATOR));
    auth_keys_destroy(k);
    auth_keys_destroy(NULL);

    k = (struct auth_keys *)1;
    p = write_file("badquote.keys", "a = \"agent " KEY_A "\n");
    assert_int_equal(auth_keys_load(p, &k, err, sizeof err), SW_ERR_CONFIG);
    assert_null(k);
    assert_non_null(strstr(err, ":1: expected \"value\""));
    assert_null(strstr(err, KEY_A));
}

/* Development mode's counter: taken and reset. */
static void test_unsigned_counter(void **state)
{
    (void)state;
    auth_unsigned_taken();
    auth_count_unsigned();
    auth_count_unsigned();
    assert_int_equal(auth_unsigned_taken(), 2);
    assert_int_equal(auth_unsigned_taken(), 0);
}

static int setup(void **state)
{
    (void)state;
    return util_tmpdir_make(dir);
}

static int teardown(void **state)
{
    (void)state;
    return util_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signing_input),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_verify_every_part),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_keys_file_errors),
        cmocka_unit_test(test_keys_file_grammar),
        cmocka_unit_test(test_unsigned_counter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
