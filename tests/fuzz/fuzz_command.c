/* fuzz_command.c - command_parse() on any bytes (libFuzzer harness).
 *
 * The parser must never read past len, never crash, and on failure fill an
 * error that result_serialize_parse_error() can turn into JSON; on success
 * the result of the command must serialize. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so that ASan sees any read past len. */
    char *bytes = malloc(size ? size : 1);
    if (!bytes)
        return 0;
    memcpy(bytes, data, size);
    static struct command cmd;
    struct cmd_parse_error err;
    memset(&err, 0, sizeof(err));
    if (command_parse(bytes, size, &cmd, &err) == SW_OK) {
        struct result r;
        result_init(&r, &cmd);
        free(result_serialize(&r));
        result_clear(&r);
    } else {
        free(result_serialize_parse_error(&err, 0));
    }
    free(bytes);
    return 0;
}
