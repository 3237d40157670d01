/* sdnotify.h - telling systemd how the service is doing (libsystemd's
 * sd_notify; the only module that includes systemd/sd-daemon.h).
 *
 * Every call is a no-op where $NOTIFY_SOCKET is unset (not run by systemd
 * with Type=notify), so the worker behaves the same everywhere else.  The
 * messages are the ones of sd_notify(3): READY=1 once the service is up,
 * WATCHDOG=1 while it is alive (at least twice per WatchdogSec=), STOPPING=1
 * when it begins to shut down, STATUS= a line `systemctl status` shows. */
#ifndef SW_SDNOTIFY_H
#define SW_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

void sdnotify_ready(void);
void sdnotify_stopping(void);
void sdnotify_watchdog(void);
void sdnotify_status(const char *text);

/* The watchdog period systemd asks for (WatchdogSec=, from
 * $WATCHDOG_USEC), in microseconds; 0 when there is no watchdog for this
 * process. */
uint64_t sdnotify_watchdog_usec(void);

#endif
