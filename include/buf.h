/* buf.h - the one growable buffer of the project, always with a cap.
 *
 * struct buf holds bytes (HTTP bodies, rendered metrics, JSON text): it
 * grows by doubling up to `max` bytes and then refuses, remembering that it
 * failed so a run of appends needs one check at the end.  Its data is kept
 * NUL-terminated.  vec_grow() is the same rule for arrays of any element. */
#ifndef SW_BUF_H
#define SW_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len, cap;
    size_t max;  /* most bytes it may hold (data only, the NUL aside) */
    bool failed; /* an append was refused (cap) or allocation failed */
};

/* An empty buffer that may hold up to max bytes. */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes; false (and b->failed) if it would pass max or memory ran out. */
bool buf_append(struct buf *b, const void *p, size_t n);
bool buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bytes so far ("" when empty), valid until the next append. */
const char *buf_str(const struct buf *b);
/* Hands the data over (malloc'd, NUL-terminated; "" when empty, NULL on
 * allocation failure) and resets b; *len may be NULL. */
char *buf_steal(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* The n bytes of in as lower-case hex into out (2n + 1 bytes, with the NUL). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Room for `need` elements of `elem` bytes in arr (capacity *cap, doubled
 * as needed), never more than max elements: the (possibly moved) array, or
 * NULL with arr untouched when max would be passed or memory ran out.
 *     struct x *na = vec_grow(arr, &cap, sizeof(*arr), n + 1, MAX_X);
 *     if (!na) return SW_ERR_NOMEM;
 *     arr = na; arr[n++] = item; */
void *vec_grow(void *arr, size_t *cap, size_t elem, size_t need, size_t max);

#endif
