/* unit_util.h - small helpers shared by the cmocka unit tests (header only).
 *
 * Tests run from the repository root (tests/run-all cd's there). */
#ifndef SW_UNIT_UTIL_H
#define SW_UNIT_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads a whole file; malloc'd, NUL-terminated, *len without the NUL.
 * NULL if it cannot be read. */
static inline char *util_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

static inline int util_mkdir_p(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Writes text to $BUILD/test-artifacts/NAME (BUILD defaults to "build"),
 * for tests/schemas/test_messages.py to validate against schemas/.
 * NAME starts with the kind: results-*.json, event-*.json, audit-*.json.
 * Returns 0 on success. */
static inline int util_write_artifact(const char *name, const char *text)
{
    const char *build = getenv("BUILD");
    char dir[512], path[1024];
    snprintf(dir, sizeof(dir), "%s/test-artifacts", build && *build ? build : "build");
    if (util_mkdir_p(dir) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* The scratch directory of a test group: tmpl a mkdtemp template
 * ("/tmp/NAME.XXXXXX", filled in); removed with all it holds after the
 * group.  0 on success, as cmocka's setup and teardown return. */
static int util_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline int util_tmpdir_make(char *tmpl)
{
    return mkdtemp(tmpl) ? 0 : -1;
}

static inline int util_tmpdir_remove(const char *dir)
{
    return nftw(dir, util_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
