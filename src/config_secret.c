/* config_secret.c - reads the small files that hold secrets (passwords,
 * client secrets, tokens), never handing back one cut short. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

char *sw_read_secret_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    bool more = n == sizeof(buf) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (more) {
        explicit_bzero(buf, sizeof(buf));
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    char *s = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return s;
}
