/* handlers.h - one handler per command type, each a short story of calls
 * into the modules below it (slots, confirm_index, waitlist, events, the
 * store and the EHR through struct worker).  No handler calls another.
 *
 * A handler fills r (status and fields) and returns SW_OK when r is the
 * outcome, or SW_ERR_REDIS / SW_ERR_BUSY when the fleet's state could not
 * be read or our lease was lost before any side effect: dispatch then runs
 * the command again later.  note: what an earlier, interrupted attempt
 * recorded under the idempotency lease (a takeover), or NULL. */
#ifndef SW_HANDLERS_H
#define SW_HANDLERS_H

#include "command.h"
#include "errors.h"
#include "worker.h"

typedef sw_err (*handler_fn)(struct worker *w, const struct command *c, struct result *r,
                             const char *note);

/* handlers_search.c: the read-only commands */
sw_err handle_find_patient(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
sw_err handle_search_slots(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
sw_err handle_list_appointments(struct worker *w, const struct command *c, struct result *r,
                                const char *note);
/* handlers_hold.c */
sw_err handle_hold(struct worker *w, const struct command *c, struct result *r, const char *note);
sw_err handle_release_hold(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
/* handlers_book.c: the booking protocol */
sw_err handle_book(struct worker *w, const struct command *c, struct result *r, const char *note);
sw_err handle_reschedule(struct worker *w, const struct command *c, struct result *r,
                         const char *note);
/* handlers_cancel.c */
sw_err handle_cancel(struct worker *w, const struct command *c, struct result *r, const char *note);
/* handlers_waitlist.c */
sw_err handle_join_waitlist(struct worker *w, const struct command *c, struct result *r,
                            const char *note);
sw_err handle_leave_waitlist(struct worker *w, const struct command *c, struct result *r,
                             const char *note);

#endif
