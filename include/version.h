/* version.h - the build's version: `git describe --always --dirty` when the
 * Makefile ran in a git checkout (it passes -DSW_VERSION to version.c only,
 * and rebuilds it when the string changes), else "unknown". */
#ifndef SW_VERSION_H
#define SW_VERSION_H

const char *sw_version(void);

#endif
