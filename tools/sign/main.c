/* sign - signs one command for a topic (auth.h, scheme v1) and prints the
 * headers to send with it, one NAME=VALUE per line (kcat's -H form):
 *
 *   build/sign --topic TOPIC [--keys FILE] [--key-id ID] [--request-id V]
 *              [--reply-to V] [--correlation-id V] [--replay-of V]
 *              [--at UNIX_MS] [--input] < message.json
 *
 * --keys defaults to $SCHED_SIGN_KEY_FILE, --key-id to $SCHED_SIGN_KEY_ID
 * or else the file's first agent key, --at to now.  Give --request-id,
 * --reply-to, --correlation-id and --replay-of exactly as the headers of
 * those names (request_id, reply_to, correlation_id, dlq_replayed_from) will
 * be sent, or not at all when they will not be.  --input prints the bytes
 * that are signed instead (to compare with another client's).
 *
 * The message is signed as it is: `echo` adds a newline that the message
 * on the topic must then carry too; use `printf %s` or a file.
 *
 *   mapfile -t h < <(build/sign --topic scheduling.commands.search < cmd.json)
 *   kcat -P -b "$KAFKA_BROKERS" -t scheduling.commands.search "${h[@]/#/-H}" cmd.json */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

#define MAX_INPUT (16u << 20)

static void usage(FILE *out)
{
    fputs("usage: sign --topic TOPIC [--keys FILE] [--key-id ID] [--request-id V] [--reply-to V]\n"
          "            [--correlation-id V] [--replay-of V] [--at UNIX_MS] [--input]\n"
          "            < message\n",
          out);
}

static char *read_all(FILE *in, size_t *len)
{
    char *buf = malloc(MAX_INPUT + 1);
    *len = 0;
    if (!buf)
        return NULL;
    for (;;) {
        size_t n = fread(buf + *len, 1, MAX_INPUT + 1 - *len, in);
        *len += n;
        if (n == 0 || *len > MAX_INPUT)
            break;
    }
    if (ferror(in) || *len > MAX_INPUT) {
        free(buf);
        return NULL;
    }
    return buf;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"keys", required_argument, NULL, 'k'},
        {"key-id", required_argument, NULL, 'i'},
        {"request-id", required_argument, NULL, 'r'},
        {"reply-to", required_argument, NULL, 'p'},
        {"correlation-id", required_argument, NULL, 'c'},
        {"replay-of", required_argument, NULL, 'd'},
        {"at", required_argument, NULL, 'a'},
        {"input", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct auth_msg m = {0};
    const char *keyfile = getenv("SCHED_SIGN_KEY_FILE"), *key_id = getenv("SCHED_SIGN_KEY_ID");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long at = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int want_input = 0, c, rc = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            m.topic = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'i':
            key_id = optarg;
            break;
        case 'r':
            m.request_id = optarg;
            break;
        case 'p':
            m.reply_to = optarg;
            break;
        case 'c':
            m.correlation_id = optarg;
            break;
        case 'd':
            m.replay_of = optarg;
            break;
        case 'a': {
            char *end;
            at = strtoll(optarg, &end, 10);
            if (*end || at < 0) {
                fprintf(stderr, "sign: --at needs Unix milliseconds\n");
                return 2;
            }
            break;
        }
        case 'I':
            want_input = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !m.topic || !*m.topic) {
        usage(stderr);
        return 2;
    }
    if (!keyfile || !*keyfile) {
        fprintf(stderr, "sign: no keys file (--keys or SCHED_SIGN_KEY_FILE)\n");
        return 2;
    }
    struct auth_keys *keys = NULL;
    char err[512], *value = NULL;
    unsigned char *input = NULL;
    size_t len = 0;
    if (auth_keys_load(keyfile, &keys, err, sizeof(err)) != SW_OK) {
        fprintf(stderr, "sign: %s\n", err);
        goto cleanup;
    }
    if (!key_id || !*key_id)
        key_id = auth_keys_first(keys, AUTH_ROLE_AGENT);
    if (!key_id) {
        fprintf(stderr, "sign: %s has no agent key; name one with --key-id\n", keyfile);
        goto cleanup;
    }
    value = read_all(stdin, &len);
    if (!value) {
        fprintf(stderr, "sign: cannot read stdin (or it is larger than %u bytes)\n", MAX_INPUT);
        goto cleanup;
    }
    m.value = value;
    m.len = len;
    struct auth_headers h;
    sw_err e = auth_sign(keys, key_id, &m, at, &h);
    if (e == SW_ERR_NOT_FOUND) {
        fprintf(stderr, "sign: key id \"%s\" is not in %s\n", key_id, keyfile);
        goto cleanup;
    }
    if (e != SW_OK) {
        fprintf(stderr, "sign: a header value holds a line break, or the key id is not one\n");
        goto cleanup;
    }
    if (want_input) {
        size_t n = 0;
        if (auth_signing_input(&m, h.key_id, h.signed_at, &input, &n) != SW_OK ||
            fwrite(input, 1, n, stdout) != n)
            goto cleanup;
    } else {
        printf(AUTH_HEADER_KEY_ID "=%s\n" AUTH_HEADER_SIGNED_AT "=%s\n" AUTH_HEADER_SIGNATURE
                                  "=%s\n",
               h.key_id, h.signed_at, h.signature);
    }
    rc = fflush(stdout) == 0 ? 0 : 1;

cleanup:
    free(input);
    free(value);
    auth_keys_destroy(keys);
    return rc;
}
