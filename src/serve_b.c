/* serve_b.c - service B (not written yet). */
#include "serve_b.h"
#include "log.h"
int serve_b_run(const struct config *cfg)
{
	(void)cfg;
	log_usage("echosvc: serve-b is not implemented yet");
	return 1;
}
