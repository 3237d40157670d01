/* version.c - the one place the build's version is compiled in. */
#include "version.h"

#ifndef SW_VERSION
#define SW_VERSION "unknown"
#endif

const char *sw_version(void)
{
    return SW_VERSION;
}
