/* fuzz_signature.c - auth_verify() on any headers and value (libFuzzer
 * harness).
 *
 * The input is split at 0x1f (unit separator) into: key id, x-signed-at,
 * x-signature, topic, request_id, reply_to, correlation_id,
 * dlq_replayed_from, then the value (the rest; missing fields are absent
 * headers).  The first byte of the value, if any, picks the topic kind and
 * whether the transport saw header trouble.  Three keys are loaded once (an
 * agent, a reader, an operator) from a memfd.
 *
 * Properties, besides no crash, no leak, no read past the input:
 *  - a good signature is only ever the signer's: whenever auth_verify says
 *    OK or FORBIDDEN, auth_sign() of the same message with that key and
 *    time gives the presented signature (hex case aside);
 *  - the message signed by the agent key at the given time verifies (OK,
 *    not stale at that time), and with one byte of the value changed it
 *    does not;
 *  - header trouble never verifies; a reason never holds a secret. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET_A "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
#define SECRET_R "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define SECRET_O "0011223344556677889900112233445566778899001122334455667788990011"
#define NFIELDS  8

static struct auth_keys *load_keys(void)
{
    static const char text[] = "fz-agent = agent " SECRET_A "\n"
                               "fz-reader = reader " SECRET_R "\n"
                               "fz-op = operator " SECRET_O "\n";
    struct auth_keys *keys = NULL;
    int fd = memfd_create("fuzz-keys", 0);
    if (fd < 0)
        return NULL;
    if (fchmod(fd, 0600) == 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1)) {
        char path[64], err[256];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (auth_keys_load(path, &keys, err, sizeof(err)) != SW_OK)
            keys = NULL;
    }
    close(fd);
    return keys;
}

static void no_secret(const char *reason)
{
    if (strstr(reason, SECRET_A) || strstr(reason, SECRET_R) || strstr(reason, SECRET_O))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_keys *keys;
    if (!keys)
        keys = load_keys();
    if (!keys || size > 65536)
        return 0;
    /* NUL-terminated copies of the fields; the value keeps its exact size */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *field[NFIELDS] = {NULL};
    size_t at = 0;
    for (int i = 0; i < NFIELDS && at <= size; i++) {
        char *sep = memchr(buf + at, 0x1f, size - at);
        if (!sep)
            break;
        *sep = '\0';
        field[i] = buf + at;
        at = (size_t)(sep - buf) + 1;
    }
    /* headers never hold NUL (the transport drops such ones) */
    for (int i = 0; i < NFIELDS; i++)
        if (field[i] && strlen(field[i]) == 0)
            field[i] = NULL;
    size_t vlen = at <= size ? size - at : 0;
    char *value = malloc(vlen ? vlen : 1);
    if (!value) {
        free(buf);
        return 0;
    }
    memcpy(value, buf + at, vlen);
    unsigned char pick = vlen ? (unsigned char)value[0] : 0;
    enum auth_topic topic = (enum auth_topic)(pick % 4);
    bool trouble = (pick & 0x40) != 0;
    const char *topic_name = field[3] ? field[3] : "scheduling.commands.book";
    struct auth_msg m = {topic_name, field[4], field[5], field[6], field[7], value, vlen};
    int64_t now = 1767225600000; /* Unix ms */
    if (field[1]) {
        char *end;
        long long t = strtoll(field[1], &end, 10);
        if (!*end && t > 0 && t < (1LL << 50))
            now = t;
    }

    /* 1. whatever was presented */
    struct auth_check ck;
    auth_verify(keys, &m, field[0], field[1], field[2], trouble, topic, now, 300, &ck);
    no_secret(ck.reason);
    if (trouble && (ck.verdict == AUTH_OK || ck.verdict == AUTH_FORBIDDEN))
        __builtin_trap();
    if (ck.verdict == AUTH_OK || ck.verdict == AUTH_FORBIDDEN) {
        struct auth_headers h;
        long long t = strtoll(field[1], NULL, 10);
        if (auth_sign(keys, field[0], &m, t, &h) != SW_OK || strcasecmp(h.signature, field[2]) ||
            strcmp(h.signed_at, field[1]) || strcmp(ck.key_id, field[0]))
            __builtin_trap();
    }

    /* 2. the same message, signed by the agent key */
    struct auth_headers h;
    if (auth_sign(keys, "fz-agent", &m, now, &h) == SW_OK) {
        auth_verify(keys, &m, h.key_id, h.signed_at, h.signature, false, topic, now, 300, &ck);
        bool allowed = topic != AUTH_TOPIC_OTHER;
        if (ck.verdict != (allowed ? AUTH_OK : AUTH_FORBIDDEN) || ck.stale)
            __builtin_trap();
        if (vlen) {
            size_t i = pick % vlen;
            value[i] ^= 0x01;
            auth_verify(keys, &m, h.key_id, h.signed_at, h.signature, false, topic, now, 300, &ck);
            if (ck.verdict != AUTH_UNAUTHENTICATED)
                __builtin_trap();
            value[i] ^= 0x01;
        }
        /* the same signature under another key id is no one's */
        auth_verify(keys, &m, "fz-reader", h.signed_at, h.signature, false, topic, now, 300, &ck);
        if (ck.verdict != AUTH_UNAUTHENTICATED)
            __builtin_trap();
    }
    free(value);
    free(buf);
    return 0;
}
