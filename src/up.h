/* up.h - the up supervisor: A and B as two child processes. */
#ifndef ECHOSVC_UP_H
#define ECHOSVC_UP_H

#include "config.h"

/* Starts both children, passes SIGINT and SIGTERM on, returns when both
 * have exited: 0 when both exited 0, else 1. Never restarts a child. */
int up_run(const struct config *cfg);

#endif
