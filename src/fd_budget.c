/* fd_budget.c - the descriptors a service may hold: the soft limit raised to the hard one, connection limits fitted to it. */
#include "fd_budget.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

unsigned fd_budget_connections(unsigned wanted, unsigned others, unsigned loops, char *warning,
			       size_t warning_size)
{
	struct rlimit limit;
	unsigned long long reserve =
		FD_BUDGET_RESERVE_BASE + (unsigned long long)FD_BUDGET_RESERVE_PER_LOOP * loops;
	unsigned long long room;

	warning[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
		return wanted;
	if (limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
			getrlimit(RLIMIT_NOFILE, &limit);
	}
	if (limit.rlim_cur == RLIM_INFINITY ||
	    (unsigned long long)limit.rlim_cur >= (unsigned long long)wanted + others + reserve)
		return wanted;
	/* what is left beyond the reserve, shared with the calls (each call in
	 * flight serves a connection: half each at most) */
	room = limit.rlim_cur > reserve ? limit.rlim_cur - reserve : 0;
	room -= others < room / 2 ? others : room / 2;
	if (room > wanted)
		room = wanted;
	if (room == 0)
		room = 1;
	snprintf(warning, warning_size,
		 "the descriptor limit (%llu) does not fit --max-connections %u beside %u for calls "
		 "and %llu for the service itself: at most %llu connections are accepted (raise "
		 "the hard limit: ulimit -n, LimitNOFILE=)",
		 (unsigned long long)limit.rlim_cur, wanted, others, reserve, room);
	return (unsigned)room;
}

int fd_budget_shortage(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
		return errno;
	return 0;
}
