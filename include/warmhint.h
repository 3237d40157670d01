/* warmhint.h - ids the cache warmer should look at soon (process-wide).
 *
 * A caller who was just found (find_patient) will search next, and that
 * search needs the patient's own appointments: the handler drops the id
 * here and the warmer (warmer.h) reads them into the cache at background
 * priority while the caller still talks.  Bounded: when full, new hints
 * are dropped (a hint is an optimisation, never needed). */
#ifndef SW_WARMHINT_H
#define SW_WARMHINT_H

#include <stdbool.h>
#include <stddef.h>

/* Turns hints on (the warmer runs); off, warmhint_add does nothing. */
void warmhint_enable(bool on);
void warmhint_add(const char *patient_id);
/* Waits up to timeout_ms for a hint; true with it copied into id. */
bool warmhint_take(char *id, size_t len, int timeout_ms);

#endif
