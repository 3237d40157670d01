/* driver.c - runs a fuzz harness without libFuzzer (make test).
 *
 *   fuzz_NAME FILE|DIR...
 *
 * Calls LLVMFuzzerTestOneInput once per file (a directory: each regular
 * file in it).  A crash or a sanitizer report fails the run; exit 0 after
 * every input ran, 1 if a file could not be read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DRIVER_MAX_INPUT (1 << 20)

static int run_file(const char *path, long *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t *buf = malloc(DRIVER_MAX_INPUT);
    size_t n = buf ? fread(buf, 1, DRIVER_MAX_INPUT, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (!bad) {
        /* exact-size copy: a read past the end is caught under ASan */
        uint8_t *exact = malloc(n ? n : 1);
        if (exact) {
            memcpy(exact, buf, n);
            LLVMFuzzerTestOneInput(exact, n);
            free(exact);
            (*runs)++;
        } else {
            bad = 1;
        }
    }
    free(buf);
    if (bad)
        fprintf(stderr, "%s: cannot read\n", path);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0;
    long runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i], &runs);
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            bad = 1;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                bad |= run_file(path, &runs);
        }
        closedir(d);
    }
    printf("%s: %ld inputs\n", argv[0], runs);
    return bad;
}
