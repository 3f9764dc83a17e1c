/* reload.c - SIGHUP's reload of the TLS files, in a thread of its own so that it never holds up a stop signal. */
#include "reload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "tls.h"

enum state {
	IDLE,    /* no thread */
	RUNNING, /* a thread reloads */
	AGAIN,   /* ...and reloads once more when done */
};

struct reloader {
	struct tls_server *tls;
	_Atomic int state;
};

struct reloader *reloader_new(struct tls_server *tls)
{
	struct reloader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->tls = tls;
	atomic_init(&r->state, IDLE);
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

	for (;;) {
		int running = RUNNING;

		reload_once(r->tls);
		if (atomic_compare_exchange_strong(&r->state, &running, IDLE))
			return NULL;
		atomic_store(&r->state, RUNNING); /* it was AGAIN */
	}
}

void reloader_request(struct reloader *r)
{
	pthread_attr_t attr;
	pthread_t thread;
	int started;

	if (r->tls == NULL) {
		log_event("sighup", "action", "ignored: no files to reload");
		return;
	}
	for (;;) {
		int state = atomic_load(&r->state);

		if (state == AGAIN)
			return;
		if (state == RUNNING) {
			if (atomic_compare_exchange_strong(&r->state, &state, AGAIN))
				return;
			continue;
		}
		if (atomic_compare_exchange_strong(&r->state, &state, RUNNING))
			break;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&thread, &attr, reload_thread, r);
	pthread_attr_destroy(&attr);
	if (started != 0) {
		/* no thread to be had: the reload runs here, as it once always did */
		reload_thread(r);
	}
}

bool reloader_free(struct reloader *r)
{
	if (r == NULL)
		return true;
	if (atomic_load(&r->state) != IDLE)
		return false;
	free(r);
	return true;
}
