/* up.c - the up supervisor: A and B as two child processes (local demo). */
#include "up.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

struct child {
	const char *name;  /* "A" or "B" */
	pid_t pid;         /* 0 once it has exited */
	int status;        /* exit status, once exited */
};

/* Forks and execs this program with args. Returns the pid, or -1. */
static pid_t child_start(const char *const args[], const sigset_t *blocked)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* The child: its own process group, so a terminal's Ctrl+C reaches up
	 * only and each child gets the signal once, from up. It dies with up. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	sigprocmask(SIG_UNBLOCK, blocked, NULL);
	execv("/proc/self/exe", (char *const *)args); /* execv does not write them */
	_exit(127);
}

static void child_reap(struct child *children, size_t count)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		for (size_t i = 0; i < count; i++) {
			char text[32];

			if (children[i].pid != pid)
				continue;
			children[i].pid = 0;
			children[i].status = WIFEXITED(status) ? WEXITSTATUS(status)
							       : 128 + WTERMSIG(status);
			snprintf(text, sizeof(text), "%d", children[i].status);
			log_event(children[i].name[0] == 'A' ? "exited_a" : "exited_b", "status",
				  text);
		}
	}
}

int up_run(const struct config *cfg)
{
	char listen_a[CONFIG_HOST_MAX + 16], listen_b[CONFIG_HOST_MAX + 16];
	char service_a[CONFIG_HOST_MAX + 32];
	const char *args_a[] = {"echosvc", "serve-a", "--listen", listen_a, NULL};
	const char *args_b[] = {"echosvc", "serve-b", "--listen", listen_b, "--service-a", service_a,
			  NULL};
	struct child children[2] = {{"A", 0, 0}, {"B", 0, 0}};
	sigset_t signals;
	int status = 0;

	log_init("up", CONFIG_LOG_TEXT);
	config_format_address(&cfg->listen_a, listen_a, sizeof(listen_a));
	config_format_address(&cfg->listen_b, listen_b, sizeof(listen_b));
	snprintf(service_a, sizeof(service_a), "http://%s", listen_a);

	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGCHLD);
	sigprocmask(SIG_BLOCK, &signals, NULL);

	children[0].pid = child_start(args_a, &signals);
	children[1].pid = child_start(args_b, &signals);
	if (children[0].pid < 0 || children[1].pid < 0) {
		log_failure(strerror(errno));
		status = 1;
		for (size_t i = 0; i < 2; i++)
			if (children[i].pid > 0)
				kill(children[i].pid, SIGTERM);
	}
	printf("echosvc up: service A on http://%s, service B on http://%s\n"
	       "try:   curl \"http://%s/call-echo?msg=hello\"\n"
	       "stop A (kill %d) and B answers 503; Ctrl+C stops both.\n",
	       listen_a, listen_b, listen_b, (int)children[0].pid);
	fflush(stdout);

	while (children[0].pid > 0 || children[1].pid > 0) {
		int signal_number = 0;

		if (sigwait(&signals, &signal_number) != 0)
			continue;
		if (signal_number == SIGCHLD) {
			child_reap(children, 2);
			continue;
		}
		/* Passed on once; a second signal is passed on too, and then
		 * each child exits at once, as the spec's shutdown says. */
		for (size_t i = 0; i < 2; i++)
			if (children[i].pid > 0)
				kill(children[i].pid, signal_number);
	}
	if (children[0].status != 0 || children[1].status != 0)
		status = 1;
	return status;
}
