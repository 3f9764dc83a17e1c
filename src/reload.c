/* reload.c - SIGHUP's reload of the TLS files, in a thread of its own so that it never holds up a stop signal. */
#include "reload.h"

#include <pthread.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "tls.h"

enum state {
	IDLE,    /* the thread waits */
	RUNNING, /* it reloads */
	AGAIN,   /* ...and reloads once more when done */
};

/* One thread for the process's life, started by the first request, so that
 * reloads reuse its malloc arena (a thread per reload may each take a new
 * one while the last is still exiting). */
struct reloader {
	struct tls_server *tls;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	enum state state;        /* under lock */
	bool quit;               /* under lock: the thread ends when idle */
	bool started;            /* the thread exists (the signal thread's) */
	pthread_t thread;
};

struct reloader *reloader_new(struct tls_server *tls)
{
	struct reloader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->tls = tls;
	r->state = IDLE;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	return r;
}

/* New handshakes use the files loaded; open connections keep theirs; files
 * that do not load change nothing. */
static void reload_once(struct tls_server *tls)
{
	char error[CONFIG_ERROR_MAX];

	if (tls_server_reload(tls, error, sizeof(error)) < 0) {
		const char *pairs[] = {"status", "error", "error", error};

		log_event_pairs("reload", pairs, 2);
	} else {
		log_event("reload", "status", "ok");
	}
}

static void *reload_thread(void *arg)
{
	struct reloader *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (r->state == IDLE && !r->quit)
			pthread_cond_wait(&r->wake, &r->lock);
		if (r->state == IDLE)
			break; /* quit */
		pthread_mutex_unlock(&r->lock);
		reload_once(r->tls);
		pthread_mutex_lock(&r->lock);
		r->state = r->state == AGAIN ? RUNNING : IDLE;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void reloader_request(struct reloader *r)
{
	bool inline_reload = false;

	if (r->tls == NULL) {
		log_event("sighup", "action", "ignored: no files to reload");
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (!r->started) {
		r->started = pthread_create(&r->thread, NULL, reload_thread, r) == 0;
		/* no thread to be had: the reload runs here, on the signal thread */
		inline_reload = !r->started;
	}
	if (!inline_reload) {
		if (r->state == IDLE)
			r->state = RUNNING;
		else
			r->state = AGAIN;
		pthread_cond_signal(&r->wake);
	}
	pthread_mutex_unlock(&r->lock);
	if (inline_reload)
		reload_once(r->tls);
}

bool reloader_free(struct reloader *r)
{
	if (r == NULL)
		return true;
	pthread_mutex_lock(&r->lock);
	if (r->state != IDLE) {
		/* stuck reading a file: it keeps r and the files */
		pthread_mutex_unlock(&r->lock);
		if (r->started)
			pthread_detach(r->thread);
		return false;
	}
	r->quit = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return true;
}
