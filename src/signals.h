/* signals.h - the signals echosvc takes itself: SIGINT and SIGTERM stop, SIGHUP reloads. */
#ifndef ECHOSVC_SIGNALS_H
#define ECHOSVC_SIGNALS_H

#include <signal.h>

/* *set = the signals that stop a service or up: SIGINT, SIGTERM. */
void signals_stop(sigset_t *set);

/* *set = the signals a process takes with sigwait() or a signalfd: the stop
 * signals and SIGHUP. main() blocks them before any thread exists, so that
 * every thread inherits the mask and none of them is killed by one. */
void signals_taken(sigset_t *set);

#endif
