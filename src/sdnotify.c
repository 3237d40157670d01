/* sdnotify.c - sd_notify(3) and sd_watchdog_enabled(3) from libsystemd: it
 * knows the protocol (abstract sockets, credentials, WATCHDOG_PID) so we do
 * not write it again. */
#include "sdnotify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void sdnotify_ready(void)
{
    sd_notify(0, "READY=1");
}

void sdnotify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void sdnotify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

void sdnotify_status(const char *text)
{
    sd_notifyf(0, "STATUS=%s", text ? text : "");
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
