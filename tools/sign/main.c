/* sign - prints the x-signature of a command: the hex HMAC-SHA256 of stdin's
 * exact bytes with a producer's key from an auth keys file.
 *
 *   build/sign KEYFILE PRODUCER < message.json
 *
 * The bytes are signed as they are: `echo` adds a newline that the message
 * on the topic must then carry too; use `printf %s` or a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define MAX_INPUT (16u << 20)

int main(int argc, char **argv)
{
    int rc = 1;
    struct auth_keys *keys = NULL;
    char *buf = NULL;
    size_t len = 0;
    char err[512], hex[AUTH_HEX_LEN + 1];

    if (argc != 3) {
        fprintf(stderr, "usage: %s KEYFILE PRODUCER < message\n", argv[0]);
        return 2;
    }
    if (auth_keys_load(argv[1], &keys, err, sizeof(err)) != SW_OK) {
        fprintf(stderr, "sign: %s\n", err);
        goto cleanup;
    }
    buf = malloc(MAX_INPUT + 1);
    if (!buf) {
        fprintf(stderr, "sign: out of memory\n");
        goto cleanup;
    }
    for (;;) {
        size_t n = fread(buf + len, 1, MAX_INPUT + 1 - len, stdin);
        len += n;
        if (n == 0 || len > MAX_INPUT)
            break;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "sign: cannot read stdin\n");
        goto cleanup;
    }
    if (len > MAX_INPUT) {
        fprintf(stderr, "sign: message larger than %u bytes\n", MAX_INPUT);
        goto cleanup;
    }
    if (auth_sign(keys, argv[2], buf, len, hex) != SW_OK) {
        fprintf(stderr, "sign: producer \"%s\" is not in %s\n", argv[2], argv[1]);
        goto cleanup;
    }
    printf("%s\n", hex);
    rc = 0;

cleanup:
    free(buf);
    auth_keys_destroy(keys);
    return rc;
}
