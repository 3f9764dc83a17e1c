/* serve_b.h - service B, the front service that calls A. */
#ifndef ECHOSVC_SERVE_B_H
#define ECHOSVC_SERVE_B_H

#include "config.h"

/* Runs service B until SIGINT or SIGTERM; returns the exit status. */
int serve_b_run(const struct config *cfg);

#endif
