/* up.c - the up supervisor (not written yet). */
#include "up.h"
#include "log.h"
int up_run(const struct config *cfg)
{
	(void)cfg;
	log_usage("echosvc: up is not implemented yet");
	return 1;
}
