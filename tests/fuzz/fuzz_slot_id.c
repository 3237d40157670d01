/* fuzz_slot_id.c - slot_id_decode() on any text (libFuzzer harness).
 *
 * Properties: no crash; a token that decodes is exactly the token
 * slot_id_encode() writes for what it decoded to (slot_id.h: anything
 * else is invalid). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slot_id.h"

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
    struct slot_ref ref;
    char out[SLOT_ID_MAX];
    if (slot_id_decode(in, &ref) == SW_OK) {
        if (slot_id_encode(&ref, out, sizeof(out)) != SW_OK || strcmp(out, in) != 0)
            __builtin_trap();
    }
    free(in);
    return 0;
}
