/* serve_a.h - service A, the echo service. */
#ifndef ECHOSVC_SERVE_A_H
#define ECHOSVC_SERVE_A_H

#include "config.h"

/* Runs service A until SIGINT or SIGTERM; returns the exit status. */
int serve_a_run(const struct config *cfg);

#endif
