/* canon.h - every patient and practitioner id of a command in its one
 * canonical form (the EHR's public id), before any check, lock, hold, cache
 * key, waitlist entry or idempotency record sees it.
 *
 * "Patient/u", "U" (upper case), "u" and, on OpenEMR, the patient's pid are
 * one patient; an id the EHR cannot resolve is answered, never passed on
 * raw: invalid for a form the contract does not accept, not_found for a
 * number nobody has, unavailable when OpenEMR cannot say now.  Reads that
 * return a patient's appointments take no numeric pid (pids can be walked;
 * see canon.c). */
#ifndef SW_CANON_H
#define SW_CANON_H

#include "command.h"
#include "ids.h"
#include "worker.h"

/* Rewrites c's ids in place.  SW_OK, or the failure with r filled; with
 * call->offline, SW_ERR_BUSY (r untouched, c perhaps partly rewritten: run
 * it again online) when an id needs a request to OpenEMR. */
sw_err canon_command(const struct worker *w, struct oe_call *call, struct command *c,
                     struct result *r);

/* One id (field names the command field, for the answer). */
sw_err canon_id(const struct worker *w, struct oe_call *call, enum id_kind kind, const char *field,
                char id[ID_MAX], struct result *r);

#endif
