/* signals.c - the one definition of which signals stop echosvc and which it takes. */
#include "signals.h"

void signals_stop(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void signals_taken(sigset_t *set)
{
	signals_stop(set);
	sigaddset(set, SIGHUP);
}
