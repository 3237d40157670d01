/* config_lines.c - reads `key = value` lines for the config and keys files
 * (see config_lines.h). */
#include "config_lines.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

void config_lines_init(struct config_lines *r, FILE *f, size_t max_len, const char *shape)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->max_len = max_len < CONFIG_LINE_MAX ? max_len : CONFIG_LINE_MAX;
    r->shape = shape;
}

void config_lines_wipe(struct config_lines *r)
{
    explicit_bzero(r->buf, sizeof(r->buf));
}

static enum config_line bad(struct config_lines *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum config_line bad(struct config_lines *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return CONFIG_LINE_BAD;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* One whole line into r->buf (an over-long one is read to its end but not
 * kept).  false at the end of the file. */
static bool read_line(struct config_lines *r, size_t *len, bool *nul)
{
    size_t n = 0;
    int c = EOF;
    bool any = false;
    *nul = false;
    while ((c = getc(r->f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n < r->max_len)
            r->buf[n] = (char)c;
        *nul |= c == '\0';
        n++;
    }
    r->buf[n < r->max_len ? n : r->max_len] = '\0';
    *len = n;
    return any;
}

/* A "quoted" value, then only blanks or a # comment; an unquoted one ends
 * at " #".  NULL when the quotes are wrong. */
static char *unquote(char *v)
{
    if (v[0] != '"') {
        char *hash = strstr(v, " #");
        if (hash) {
            *hash = '\0';
            v = trim(v);
        }
        return v;
    }
    char *close = strchr(v + 1, '"');
    const char *rest = close ? close + 1 : "";
    while (isspace((unsigned char)*rest))
        rest++;
    if (!close || (*rest && *rest != '#'))
        return NULL;
    *close = '\0';
    return v + 1;
}

enum config_line config_lines_next(struct config_lines *r, char **key, char **value)
{
    size_t len;
    bool nul;
    while (read_line(r, &len, &nul)) {
        r->lineno++;
        if (len > r->max_len)
            return bad(r, "line longer than %zu bytes", r->max_len);
        if (nul)
            return bad(r, "a NUL byte in the line");
        char *s = trim(r->buf);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return bad(r, "expected %s", r->shape);
        *eq = '\0';
        *key = trim(s);
        *value = unquote(trim(eq + 1));
        if (!*value)
            return bad(r, "expected \"value\" with only a # comment after it");
        return CONFIG_LINE_PAIR;
    }
    return CONFIG_LINE_END;
}
