/* service.c - a role's whole life: one loop per thread, each with its server; signals; drain. */
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "fd_budget.h"
#include "idle_trim.h"
#include "ip_limit.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "mhd_quirks.h"
#include "notify.h"
#include "reload.h"
#include "signals.h"
#include "tls.h"

#define ABANDON_WAIT_MS 1000   /* after abandoning, how long the answers may take */

/* What the main thread has asked of the loops; it only moves forward. */
enum phase {
	PHASE_RUNNING,
	PHASE_DRAINING,     /* stop accepting; finish what is in flight */
	PHASE_ABANDONING,   /* answer what is still waiting */
	PHASE_STOPPING,     /* leave the loop */
};

struct service;

/* One thread: its loop, its server, the role's state for it. The thread
 * owns all of it; the main thread reads only stats and ready. */
struct worker {
	struct service *svc;
	pthread_t thread;
	bool thread_started;
	int listen_fd;                /* handed to the server */
	struct loop *loop;
	struct server *server;
	struct idle_trim *trim;
	void *role_state;
	enum phase phase_seen;
	bool idle_reported;
	struct server_stats stats;
	char error[CONFIG_ERROR_MAX];
};

struct service {
	const struct config *cfg;
	const struct service_role *role;
	struct worker *workers;
	size_t count;
	_Atomic int phase;            /* enum phase */
	_Atomic bool stopping;        /* a stop signal arrived: /readyz says 503 */
	struct server_options server; /* the role's, with the process-wide count */
	pthread_mutex_t lock;         /* guards started and failed; with changed */
	pthread_cond_t changed;       /* a worker started, failed or went idle */
	size_t started;
	size_t failed;
};

static void deadline_after(struct timespec *deadline, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += ms / 1000;
	deadline->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/* The loop's wake-up: the main thread moved the phase forward. */
static void on_wake(void *arg)
{
	struct worker *w = arg;
	enum phase phase = atomic_load(&w->svc->phase);
	const struct service_role *role = w->svc->role;

	if (phase >= PHASE_DRAINING && w->phase_seen < PHASE_DRAINING)
		server_quiesce(w->server);
	if (phase >= PHASE_ABANDONING && w->phase_seen < PHASE_ABANDONING) {
		server_abandon(w->server);
		if (role->loop_abandon != NULL)
			role->loop_abandon(w->role_state);
	}
	if (phase == PHASE_STOPPING)
		loop_stop(w->loop);
	w->phase_seen = phase;
}

/* Before each sleep, while draining: tells the main thread when this loop
 * has nothing in flight, so that the drain waits on an event, not a poll. */
static void drain_check(void *arg)
{
	struct worker *w = arg;
	bool idle;

	if (w->phase_seen < PHASE_DRAINING)
		return;
	idle = atomic_load_explicit(&w->stats.requests_active, memory_order_relaxed) == 0;
	if (idle && !w->idle_reported) {
		pthread_mutex_lock(&w->svc->lock);
		pthread_cond_broadcast(&w->svc->changed);
		pthread_mutex_unlock(&w->svc->lock);
	}
	w->idle_reported = idle;
}

/* The last hook: this turn's log lines go out before the loop sleeps. */
static void flush_log(void *arg)
{
	log_flush();
}

/* idle_trim's hook: the role lets go of what it keeps for reuse. */
static void worker_idle(void *arg)
{
	struct worker *w = arg;

	if (w->role_state != NULL && w->svc->role->loop_idle != NULL)
		w->svc->role->loop_idle(w->role_state);
}

static int worker_setup(struct worker *w)
{
	const struct service_role *role = w->svc->role;

	w->loop = loop_new(w->error, sizeof(w->error));
	if (w->loop == NULL)
		return -1;
	if (role->loop_start != NULL) {
		w->role_state = role->loop_start(w->loop, role->arg, w->error, sizeof(w->error));
		if (w->role_state == NULL)
			return -1;
	}
	w->server = server_new(w->loop, &w->svc->server, w->listen_fd, w->role_state, &w->stats,
			       w->error, sizeof(w->error));
	if (w->server == NULL)
		return -1;
	w->listen_fd = -1; /* the server's now */
	loop_set_wake(w->loop, on_wake, w);
	w->trim = idle_trim_new(w->loop, worker_idle, w);
	if (w->trim == NULL || loop_hook_add(w->loop, drain_check, w) < 0 ||
	    loop_hook_add(w->loop, flush_log, w) < 0) {
		snprintf(w->error, sizeof(w->error), "event loop: out of memory or too many hooks");
		return -1;
	}
	return 0;
}

/* Frees what worker_setup() made, in reverse, but the loop: the main thread
 * may still wake it, and frees it once the thread has ended. */
static void worker_teardown(struct worker *w)
{
	const struct service_role *role = w->svc->role;

	if (w->server != NULL)
		server_free(w->server);
	w->server = NULL;
	idle_trim_free(w->trim);
	w->trim = NULL;
	loop_hook_remove(w->loop, drain_check, w);
	loop_hook_remove(w->loop, flush_log, w);
	if (w->role_state != NULL && role->loop_finish != NULL)
		role->loop_finish(w->role_state);
	w->role_state = NULL;
	log_batch_end();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct service *svc = w->svc;
	int rc;

	log_batch_begin();
	rc = worker_setup(w);
	pthread_mutex_lock(&svc->lock);
	if (rc < 0)
		svc->failed++;
	else
		svc->started++;
	pthread_cond_broadcast(&svc->changed);
	pthread_mutex_unlock(&svc->lock);
	if (rc == 0 && loop_run(w->loop) < 0) {
		char message[CONFIG_ERROR_MAX];

		/* the loop cannot go on; the others serve until the signal */
		snprintf(message, sizeof(message), "epoll_wait: %s", strerror(errno));
		log_failure(message);
	}
	worker_teardown(w);
	return NULL;
}

/* The servers' counts, summed over the loops. */
struct stats_total {
	unsigned requests_active;
	unsigned connections_open;
	uint64_t connections_accepted;
};

static struct stats_total stats_sum(const struct service *svc)
{
	struct stats_total total = {0};

	for (size_t i = 0; i < svc->count; i++) {
		const struct server_stats *s = &svc->workers[i].stats;

		total.requests_active +=
			atomic_load_explicit(&s->requests_active, memory_order_relaxed);
		total.connections_open +=
			atomic_load_explicit(&s->connections_open, memory_order_relaxed);
		total.connections_accepted +=
			atomic_load_explicit(&s->connections_accepted, memory_order_relaxed);
	}
	return total;
}

/* server_options.connections_open: what --max-connections is held against. */
static unsigned connections_open(void *arg)
{
	return stats_sum(arg).connections_open;
}

static int render_stats(struct buffer *out, void *arg)
{
	struct stats_total total = stats_sum(arg);

	return buffer_printf(out,
		"# HELP echosvc_requests_in_progress Requests received and not yet answered.\n"
		"# TYPE echosvc_requests_in_progress gauge\n"
		"echosvc_requests_in_progress %u\n"
		"# HELP echosvc_connections_accepted_total Client connections accepted.\n"
		"# TYPE echosvc_connections_accepted_total counter\n"
		"echosvc_connections_accepted_total %llu\n"
		"# HELP echosvc_connections_open Client connections open now.\n"
		"# TYPE echosvc_connections_open gauge\n"
		"echosvc_connections_open %u\n",
		total.requests_active, (unsigned long long)total.connections_accepted,
		total.connections_open);
}

/* Moves every loop to phase and wakes it. */
static void phase_set(struct service *svc, enum phase phase)
{
	atomic_store(&svc->phase, phase);
	for (size_t i = 0; i < svc->count; i++)
		if (svc->workers[i].loop != NULL)
			loop_wake(svc->workers[i].loop);
}

/* Waits until no request is in flight, or ms have passed. */
static void wait_idle(struct service *svc, unsigned ms)
{
	struct timespec deadline;

	deadline_after(&deadline, ms);
	pthread_mutex_lock(&svc->lock);
	while (stats_sum(svc).requests_active > 0)
		if (pthread_cond_timedwait(&svc->changed, &svc->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&svc->lock);
}

/* Sleeps ms, whatever signal handlers run meanwhile. */
static void pause_ms(unsigned ms)
{
	struct timespec left = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

/* Starts every worker; waits until each has started or failed. */
static int workers_start(struct service *svc)
{
	for (size_t i = 0; i < svc->count; i++) {
		struct worker *w = &svc->workers[i];

		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			snprintf(w->error, sizeof(w->error), "starting a thread: %s",
				 strerror(errno));
			pthread_mutex_lock(&svc->lock);
			svc->failed++;
			pthread_mutex_unlock(&svc->lock);
			continue;
		}
		w->thread_started = true;
	}
	pthread_mutex_lock(&svc->lock);
	while (svc->started + svc->failed < svc->count)
		pthread_cond_wait(&svc->changed, &svc->lock);
	pthread_mutex_unlock(&svc->lock);
	return svc->failed > 0 ? -1 : 0;
}

static void workers_join(struct service *svc)
{
	phase_set(svc, PHASE_STOPPING);
	for (size_t i = 0; i < svc->count; i++) {
		struct worker *w = &svc->workers[i];

		if (w->thread_started)
			pthread_join(w->thread, NULL);
		loop_free(w->loop);
		w->loop = NULL;
		if (w->listen_fd >= 0)
			close(w->listen_fd);
	}
}

static void exit_now(int signal_number)
{
	_exit(128 + signal_number);
}

/* Waits for SIGINT or SIGTERM, then sets stopping (before event=draining is
 * logged: whoever reads that line finds /readyz at 503); from then on a
 * second signal ends the process. SIGHUP reloads the TLS files, or is
 * logged and ignored. */
static int wait_stop_signal(_Atomic bool *stopping, struct reloader *reloader)
{
	struct sigaction second = {0};
	sigset_t waited, stop_signals;
	int signal_number = 0;

	signals_stop(&stop_signals);
	signals_taken(&waited);
	for (;;) {
		if (sigwait(&waited, &signal_number) != 0)
			continue;
		if (signal_number != SIGHUP)
			break;
		reloader_request(reloader); /* returns at once, whatever reading takes */
	}
	atomic_store(stopping, true);
	log_event("draining", "signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
	/* The loops keep both signals blocked: a second one lands here. */
	second.sa_handler = exit_now;
	sigaction(SIGINT, &second, NULL);
	sigaction(SIGTERM, &second, NULL);
	pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
	return signal_number;
}

int service_run(const struct config *cfg, const struct service_role *role)
{
	struct service svc = {.cfg = cfg, .role = role};
	char error[CONFIG_ERROR_MAX], shown[CONFIG_HOST_MAX + 16];
	int *fds = NULL, status = 1;
	const char *warning;
	struct reloader *reloader = NULL;

	pthread_mutex_init(&svc.lock, NULL);
	pthread_cond_init(&svc.changed, NULL);
	svc.server = role->server;
	svc.server.connections_open = connections_open;
	svc.server.connections_arg = &svc;
	svc.count = cfg->threads > 0 ? cfg->threads : 1;
	svc.server.max_connections =
		fd_budget_connections(cfg->max_connections,
				      cfg->role == CONFIG_ROLE_B ? cfg->max_inflight : 0,
				      (unsigned)svc.count, error, sizeof(error));
	if (error[0] != '\0')
		log_event("warning", "message", error);
	svc.server.stopping = &svc.stopping;
	svc.workers = calloc(svc.count, sizeof(*svc.workers));
	fds = calloc(svc.count, sizeof(*fds));
	svc.server.ip_limit = ip_limit_new(cfg->max_connections_per_ip);
	if (svc.workers == NULL || fds == NULL || svc.server.ip_limit == NULL) {
		log_failure("start: out of memory");
		goto done;
	}
	server_metrics_init(&role->server);
	warning = mhd_quirks_init();
	if (warning != NULL)
		log_event("warning", "message", warning);
	if (cfg->tls_cert[0] != '\0') {
		svc.server.tls = tls_server_load(cfg, error, sizeof(error));
		if (svc.server.tls == NULL) {
			log_failure(error);
			goto done;
		}
	}
	reloader = reloader_new(svc.server.tls);
	if (reloader == NULL) {
		log_failure("start: out of memory");
		goto done;
	}
	if (metrics_add_source(render_stats, &svc) < 0 ||
	    listen_open(&cfg->listen, fds, svc.count, error, sizeof(error)) < 0) {
		log_failure(error);
		goto done;
	}
	address_of_socket(fds[0], true, shown, sizeof(shown));
	for (size_t i = 0; i < svc.count; i++) {
		svc.workers[i].svc = &svc;
		svc.workers[i].listen_fd = fds[i];
	}
	if (workers_start(&svc) < 0) {
		for (size_t i = 0; i < svc.count; i++)
			if (svc.workers[i].error[0] != '\0') {
				log_failure(svc.workers[i].error);
				break;
			}
		workers_join(&svc);
		goto done;
	}
	log_event("listening", "addr", shown);
	snprintf(error, sizeof(error), "READY=1\nSTATUS=serving on %s", shown);
	notify_send(error);
	wait_stop_signal(&svc.stopping, reloader);
	notify_send("STOPPING=1\nSTATUS=draining: /readyz answers 503");
	pause_ms(cfg->shutdown_delay_ms);
	notify_send("STATUS=draining: listening sockets closed, finishing requests in flight");
	phase_set(&svc, PHASE_DRAINING);
	wait_idle(&svc, cfg->drain_ms);
	phase_set(&svc, PHASE_ABANDONING);
	wait_idle(&svc, ABANDON_WAIT_MS);
	workers_join(&svc);
	log_event("shutdown", NULL, NULL);
	status = 0;
done:
	/* a reload stuck reading a file keeps the files it may still use */
	if (reloader_free(reloader) && svc.server.tls != NULL)
		tls_server_free(svc.server.tls);
	ip_limit_free(svc.server.ip_limit);
	free(fds);
	free(svc.workers);
	pthread_cond_destroy(&svc.changed);
	pthread_mutex_destroy(&svc.lock);
	return status;
}
