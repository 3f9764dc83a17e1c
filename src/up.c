/* up.c - the up supervisor: A and B as two child processes (local demo). */
#include "up.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "signals.h"

/* How long a child may take to listen: long enough for valgrind. */
#define START_TIMEOUT_MS 60000

struct child {
	const char *name;   /* "A" or "B" */
	pid_t pid;          /* 0 once it has exited */
	int status;         /* exit status, once exited */
	int notify_fd;      /* where it says READY=1 (the sd_notify protocol) */
	char notify_name[64];
	bool ready;
};

/* Forks and execs this program with args, telling it where to say READY=1.
 * Returns the pid, or -1. */
static pid_t child_start(const char *const args[], const sigset_t *blocked,
			 const char *notify_name)
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
	setenv("NOTIFY_SOCKET", notify_name, 1);
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

static void children_signal(struct child *children, size_t count, int signal_number)
{
	for (size_t i = 0; i < count; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, signal_number);
}

/* Reads what a child told its notify socket; READY=1 marks it ready. */
static void child_notified(struct child *child)
{
	char message[512];
	ssize_t n;

	while ((n = recv(child->notify_fd, message, sizeof(message) - 1, 0)) > 0) {
		message[n] = '\0';
		if (strncmp(message, "READY=1", 7) == 0 || strstr(message, "\nREADY=1") != NULL)
			child->ready = true;
	}
}

/*
 * Waits for a signal (passed on to both children) or, while starting, for a
 * child to say it listens. Returns the signal taken, 0 for a notification,
 * or -1 when the start timed out.
 */
static int wait_event(int signal_fd, struct child *children, size_t count, int timeout_ms)
{
	struct pollfd fds[3] = {{.fd = signal_fd, .events = POLLIN}};
	struct signalfd_siginfo info;
	int ready;

	for (size_t i = 0; i < count; i++)
		fds[i + 1] = (struct pollfd){.fd = children[i].notify_fd, .events = POLLIN};
	ready = poll(fds, 1 + count, timeout_ms);
	if (ready == 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (fds[i + 1].revents & POLLIN)
			child_notified(&children[i]);
	if (ready < 0 || !(fds[0].revents & POLLIN) ||
	    read(signal_fd, &info, sizeof(info)) != (ssize_t)sizeof(info))
		return 0;
	if (info.ssi_signo == SIGCHLD)
		child_reap(children, count);
	else /* passed on: a second one too, and then each child exits at once */
		children_signal(children, count, (int)info.ssi_signo);
	return (int)info.ssi_signo;
}

/* Until both children listen. Returns 0; 1 when a stop signal came first
 * (passed on: an ordinary stop); or -1 with why in reason. */
static int wait_started(int signal_fd, struct child *children, size_t count, char *reason,
			size_t reason_size)
{
	int waited = 0;

	for (;;) {
		bool all_ready = true;

		for (size_t i = 0; i < count; i++) {
			if (!children[i].ready && children[i].pid == 0) {
				snprintf(reason, reason_size,
					 "service %s did not start: it exited with status %d",
					 children[i].name, children[i].status);
				return -1;
			}
			all_ready = all_ready && children[i].ready;
		}
		if (all_ready)
			return 0;
		if (waited >= START_TIMEOUT_MS) {
			snprintf(reason, reason_size, "a service did not start within %d ms",
				 START_TIMEOUT_MS);
			return -1;
		}
		switch (wait_event(signal_fd, children, count, 100)) {
		case -1:
			waited += 100;
			break;
		case SIGINT:
		case SIGTERM:
			return 1;
		default:
			break;
		}
	}
}

int up_run(const struct config *cfg)
{
	char listen_a[CONFIG_HOST_MAX + 16], listen_b[CONFIG_HOST_MAX + 16];
	char service_a[CONFIG_HOST_MAX + 32], reason[256];
	const char *format = cfg->log_format == CONFIG_LOG_JSON ? "json" : "text";
	const char *args_a[] = {"echosvc", "serve-a", "--listen", listen_a, "--log-format", format,
				NULL};
	const char *args_b[] = {"echosvc", "serve-b", "--listen", listen_b, "--service-a",
				service_a, "--log-format", format, NULL};
	const char *const *args[2] = {args_a, args_b};
	struct child children[2] = {{.name = "A", .notify_fd = -1}, {.name = "B", .notify_fd = -1}};
	sigset_t signals;
	int status, started = -1, signal_fd;

	log_init("up", cfg->log_format);
	config_format_address(&cfg->listen_a, listen_a, sizeof(listen_a));
	config_format_address(&cfg->listen_b, listen_b, sizeof(listen_b));
	snprintf(service_a, sizeof(service_a), "http://%s", listen_a);

	signals_taken(&signals);
	sigaddset(&signals, SIGCHLD);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
	if (signal_fd < 0) {
		snprintf(reason, sizeof(reason), "signalfd: %s", strerror(errno));
		log_failure(reason);
		return 1;
	}
	for (size_t i = 0; i < 2; i++) {
		children[i].notify_fd = notify_listen(children[i].notify_name,
						      sizeof(children[i].notify_name));
		children[i].pid = children[i].notify_fd < 0
					  ? -1
					  : child_start(args[i], &signals, children[i].notify_name);
		if (children[i].pid < 0) {
			snprintf(reason, sizeof(reason), "starting service %s: %s", children[i].name,
				 strerror(errno));
			children[i].pid = 0;
			children[i].status = 1;
			break;
		}
	}
	if (children[0].pid > 0 && children[1].pid > 0)
		started = wait_started(signal_fd, children, 2, reason, sizeof(reason));
	if (started == 0 && cfg->log_format == CONFIG_LOG_JSON) {
		/* a JSON log has no room for a banner: the same facts as one line */
		char url_a[CONFIG_HOST_MAX + 32], url_b[CONFIG_HOST_MAX + 32];
		const char *pairs[] = {"a", url_a, "b", url_b};

		snprintf(url_a, sizeof(url_a), "http://%s", listen_a);
		snprintf(url_b, sizeof(url_b), "http://%s", listen_b);
		log_event_pairs("up", pairs, 2);
	} else if (started == 0) {
		printf("echosvc up: service A on http://%s, service B on http://%s\n"
		       "try:   curl \"http://%s/call-echo?msg=hello\"\n"
		       "stop A (kill %d) and B answers 503; Ctrl+C stops both.\n",
		       listen_a, listen_b, listen_b, (int)children[0].pid);
		fflush(stdout);
	} else if (started < 0) {
		children_signal(children, 2, SIGTERM); /* never half up */
	}
	/* (a stop signal before both listened was passed on: an ordinary stop) */
	while (children[0].pid > 0 || children[1].pid > 0)
		wait_event(signal_fd, children, 2, -1);
	status = children[0].status != 0 || children[1].status != 0 ? 1 : 0;
	if (started < 0) {
		log_failure(reason);
		status = 1;
	}
	for (size_t i = 0; i < 2; i++)
		if (children[i].notify_fd >= 0)
			close(children[i].notify_fd);
	close(signal_fd);
	return status;
}
