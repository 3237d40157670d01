/* slot_id.h - the opaque slot_id of search results, accepted by `hold`.
 *
 * Stateless: the token carries practitioner id, start and appointment type
 * as base64url (RFC 4648 section 5, no padding) of "s1|<practitioner>|
 * <start epoch seconds>|<type>".  It is not signed: anyone may build one,
 * so `hold` re-checks the rules and the availability of what it decodes,
 * exactly as for a hold given practitioner_id + start + appointment_type.
 *
 * The decoder is strict: only the base64url alphabet, no padding, no
 * stray bits, the "s1" version, exactly four fields, a practitioner id of
 * 1..63 printable ASCII characters without '|' or space, a start of 1..12
 * digits without a leading zero, a type of 1..31 characters [a-z0-9_-]. */
#ifndef SW_SLOT_ID_H
#define SW_SLOT_ID_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* Longest token: base64 of 3 + 63 + 1 + 12 + 1 + 31 = 111 bytes is 148
 * characters; and its NUL. */
#define SLOT_ID_MAX 160

struct slot_ref {
    char practitioner_id[64];
    int64_t start; /* epoch seconds, > 0 */
    char appointment_type[32];
};

/* Writes the token (buf at least SLOT_ID_MAX).  SW_ERR_INVALID if a field
 * breaks the rules above. */
sw_err slot_id_encode(const struct slot_ref *ref, char *buf, size_t len);

/* Reads a token; SW_ERR_INVALID for anything but a token slot_id_encode
 * would write. */
sw_err slot_id_decode(const char *token, struct slot_ref *out);

#endif
