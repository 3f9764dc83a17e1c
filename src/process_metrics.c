/* process_metrics.c - the standard process_* metrics every Prometheus client library exports. */
#include "process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

static double start_time;

void process_metrics_init(void)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	start_time = (double)now.tv_sec + (double)now.tv_usec / 1e6;
}

/* From /proc/self/stat: CPU seconds (user + system), virtual and resident
 * bytes. Returns 0, or -1 when it cannot be read. */
static int stat_read(double *cpu, unsigned long long *vsize, unsigned long long *rss)
{
	char text[1024];
	const char *fields;
	unsigned long utime, stime;
	long pages;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0 || ticks <= 0 || page <= 0)
		return -1;
	text[n] = '\0';
	/* the command name may hold spaces and parentheses: fields start
	 * after the last ')', with field 3 (state) */
	fields = strrchr(text, ')');
	if (fields == NULL ||
	    sscanf(fields + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
		   "%*u %llu %ld",
		   &utime, &stime, vsize, &pages) != 4)
		return -1;
	*cpu = (double)(utime + stime) / (double)ticks;
	*rss = (unsigned long long)pages * (unsigned long long)page;
	return 0;
}

static long open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	long count = 0;

	if (dir == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count - 1; /* the directory's own descriptor */
}

int process_metrics_render(struct buffer *out)
{
	double cpu;
	unsigned long long vsize, rss;
	long fds = open_fds();
	struct rlimit limit;
	int rc = 0;

	if (stat_read(&cpu, &vsize, &rss) == 0)
		rc |= buffer_printf(out,
			"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
			"# TYPE process_cpu_seconds_total counter\n"
			"process_cpu_seconds_total %.2f\n"
			"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
			"# TYPE process_resident_memory_bytes gauge\n"
			"process_resident_memory_bytes %llu\n"
			"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
			"# TYPE process_virtual_memory_bytes gauge\n"
			"process_virtual_memory_bytes %llu\n",
			cpu, rss, vsize);
	if (fds >= 0)
		rc |= buffer_printf(out,
			"# HELP process_open_fds Number of open file descriptors.\n"
			"# TYPE process_open_fds gauge\n"
			"process_open_fds %ld\n",
			fds);
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
		rc |= buffer_printf(out,
			"# HELP process_max_fds Maximum number of open file descriptors.\n"
			"# TYPE process_max_fds gauge\n"
			"process_max_fds %llu\n",
			(unsigned long long)limit.rlim_cur);
	rc |= buffer_printf(out,
		"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds %.3f\n",
		start_time);
	return rc;
}
