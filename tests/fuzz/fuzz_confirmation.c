/* fuzz_confirmation.c - confirm_decode() on any text (libFuzzer harness).
 *
 * Properties: no crash; a code that decodes gives a canonical form that
 * is valid and decodes to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confirmation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char canon[CONFIRM_TEXT_LEN], again[CONFIRM_TEXT_LEN];
    if (confirm_decode(in, canon, sizeof(canon)) == SW_OK) {
        if (strlen(canon) != CONFIRM_TEXT_LEN - 1 ||
            confirm_decode(canon, again, sizeof(again)) != SW_OK || strcmp(canon, again) != 0)
            __builtin_trap();
    }
    free(in);
    return 0;
}
