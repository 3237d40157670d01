/* slotid.h - the slot_id a search hands out and `hold` accepts.
 *
 * Stateless and opaque to the agent: base64url (no padding) of
 * "v1|<practitioner_id>|<start epoch seconds>|<appointment_type>".  Nothing
 * in it is secret; a forged id names a slot like any other and goes
 * through the same rules and conflict checks. */
#ifndef SW_SLOTID_H
#define SW_SLOTID_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* buf of at least 200 bytes for ids of 64 and types of 32 bytes. */
sw_err slotid_encode(const char *practitioner_id, int64_t start, const char *type, char *buf,
                     size_t len);
/* Strict: SW_ERR_INVALID for anything but an id slotid_encode made. */
sw_err slotid_decode(const char *id, char *practitioner_id, size_t pract_len, int64_t *start,
                     char *type, size_t type_len);

#endif
