/* probe.h - `echosvc probe URL`: a health check that needs no shell tools. */
#ifndef ECHOSVC_PROBE_H
#define ECHOSVC_PROBE_H

#include <stdio.h>

/* Writes the probe's usage lines. */
void probe_print_usage(FILE *out);

/* Runs `echosvc probe` with argv[0] == "probe": one GET of the URL (without
 * one, the /readyz of the service ECHOSVC_LISTEN configures), bounded
 * by --timeout-ms (default 2000) from the first connect to the last byte.
 * Returns the exit status: 0 for a 2xx answer, 1 for any other answer or a
 * failure (one line on stderr says which), 2 for a usage error. */
int probe_run(int argc, char **argv);

#endif
