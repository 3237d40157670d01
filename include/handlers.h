/* handlers.h - one handler per command type, each a short story of calls
 * into the modules below it (slots, confirm_index, waitlist, events, the
 * store and the EHR through struct worker).  No handler calls another.
 *
 * A handler fills r (status and fields) and says what its run came to
 * (enum outcome, worker.h): r is the answer, or the command must run again
 * later because the fleet's state could not be read or our lease was lost
 * before any side effect.  note: what an earlier, interrupted attempt
 * recorded under the idempotency lease (a takeover), or NULL. */
#ifndef SW_HANDLERS_H
#define SW_HANDLERS_H

#include "command.h"
#include "errors.h"
#include "worker.h"

typedef enum outcome (*handler_fn)(struct worker *w, const struct command *c, struct result *r,
                                   const char *note);

/* handlers_search.c: the read-only commands */
enum outcome handle_find_patient(struct worker *w, const struct command *c, struct result *r,
                                 const char *note);
enum outcome handle_search_slots(struct worker *w, const struct command *c, struct result *r,
                                 const char *note);
enum outcome handle_list_appointments(struct worker *w, const struct command *c, struct result *r,
                                      const char *note);
/* Before the idempotency check: asks the store ahead for what a cached
 * search_slots will read (its days and holds), so that the check, the day
 * reads and the holds cost one round trip.  Any other command: nothing. */
void handlers_prefetch(struct worker *w, const struct command *c);
/* handlers_hold.c */
enum outcome handle_hold(struct worker *w, const struct command *c, struct result *r,
                         const char *note);
enum outcome handle_release_hold(struct worker *w, const struct command *c, struct result *r,
                                 const char *note);
/* handlers_book.c: the booking protocol */
enum outcome handle_book(struct worker *w, const struct command *c, struct result *r,
                         const char *note);
enum outcome handle_reschedule(struct worker *w, const struct command *c, struct result *r,
                               const char *note);
/* handlers_cancel.c */
enum outcome handle_cancel(struct worker *w, const struct command *c, struct result *r,
                           const char *note);
/* handlers_waitlist.c */
enum outcome handle_join_waitlist(struct worker *w, const struct command *c, struct result *r,
                                  const char *note);
enum outcome handle_leave_waitlist(struct worker *w, const struct command *c, struct result *r,
                                   const char *note);

#endif
