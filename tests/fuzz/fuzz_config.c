/* fuzz_config.c - sw_config_load() on any file content (libFuzzer harness).
 *
 * The input is written to a memfd and loaded by path (/proc/self/fd/N),
 * through the same line reader the worker uses; problems go to /dev/null.
 * Properties: no crash, no leak (sw_config_free in every case). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (!devnull || size > 65536)
        return 0;
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            goto out_fd;
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct sw_config cfg;
    sw_config_load(&cfg, path, devnull);
    sw_config_free(&cfg);
out_fd:
    close(fd);
    return 0;
}
