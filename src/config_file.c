/* config_file.c - reads the config file over the defaults: each problem is
 * printed as "file:line: message" and the other lines still apply. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_lines.h"
#include "config_table.h"

int sw_config_read_file(struct sw_config *cfg, const char *path, FILE *errs)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    struct config_lines r;
    config_lines_init(&r, f, CONFIG_LINE_MAX, "key = value");
    int errors = 0;
    char *key, *value, err[512];
    enum config_line got;
    while ((got = config_lines_next(&r, &key, &value)) != CONFIG_LINE_END) {
        const char *why = NULL;
        if (got == CONFIG_LINE_BAD)
            why = r.msg;
        else if (!*key)
            why = "empty key";
        else if (!sw_config_set(cfg, key, value, err, sizeof(err)))
            why = err;
        if (why) {
            fprintf(errs, "%s:%d: %s\n", path, r.lineno, why);
            errors++;
        }
    }
    if (ferror(f)) {
        fprintf(errs, "%s: read error\n", path);
        errors++;
    }
    fclose(f);
    return errors;
}
