/* config_lines.h - the `key = value` line grammar of the worker's own files.
 *
 * The config file and the producer keys file (auth.keys_file) are both read
 * with it, so they follow one set of rules:
 *   - one `key = value` per line; blanks around the key and the value go;
 *   - blank lines, and lines whose first non-blank is `#` or `;`, are skipped;
 *   - a value may be quoted, "like this": only blanks or a `#` comment may
 *     follow the closing quote, and a `#` inside the quotes is data;
 *   - an unquoted value ends at " #" (a trailing comment);
 *   - a line longer than the reader's limit, or holding a NUL byte, is
 *     refused (and the next call goes on with the line after it).
 * The key may come back empty: what a key may be is the caller's rule. */
#ifndef SW_CONFIG_LINES_H
#define SW_CONFIG_LINES_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_LINE_MAX 4094 /* the longest limit a reader may have */

struct config_lines {
    FILE *f;
    size_t max_len;    /* longest accepted line in bytes, newline excluded */
    const char *shape; /* what a line should look like, for "expected ..." */
    int lineno;        /* of the line last returned */
    char msg[96];      /* why the last line was refused */
    char buf[CONFIG_LINE_MAX + 1];
};

enum config_line {
    CONFIG_LINE_END,  /* end of file, or a read error (check ferror()) */
    CONFIG_LINE_PAIR, /* *key and *value set, valid until the next call */
    CONFIG_LINE_BAD,  /* r->msg says why, r->lineno where */
};

/* Reads f (the caller opens and closes it); max_len is capped at
 * CONFIG_LINE_MAX; shape is shown as "expected <shape>" for a line
 * without "=". */
void config_lines_init(struct config_lines *r, FILE *f, size_t max_len, const char *shape);

/* The next key = value line, skipping blanks and comments. */
enum config_line config_lines_next(struct config_lines *r, char **key, char **value);

/* Zeroes the line buffer (the file may have held secrets). */
void config_lines_wipe(struct config_lines *r);

#endif
