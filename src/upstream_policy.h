/* upstream_policy.h - what B decides about a call to A, without sockets: URL, outcome, replica. */
#ifndef ECHOSVC_UPSTREAM_POLICY_H
#define ECHOSVC_UPSTREAM_POLICY_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "buffer.h"
#include "config.h"
#include "upstream.h"

/* A's path; its query is msg=… */
#define UPSTREAM_PATH "/echo"

/* Writes base + "/echo?msg=" + msg percent-encoded (all but A-Z a-z 0-9 -._~)
 * into out. Returns 0 or -1 as buffer_append(). */
int upstream_build_url(struct buffer *out, const char *base, const char *msg, size_t len);

/* The cause and status of a failed attempt, from curl's code and what A
 * sent, never from curl's error text. */
struct upstream_failure {
	unsigned status;          /* 0 when the attempt succeeded */
	enum upstream_outcome outcome;
	int retryable;            /* a connect failure: A never saw the request */
	char cause[96];
};

void upstream_failure_set(struct upstream_failure *f, unsigned status,
			  enum upstream_outcome outcome, int retryable, const char *cause);

/* What curl reports of a finished attempt. */
struct upstream_attempt {
	CURLcode code;
	long os_errno;     /* CURLINFO_OS_ERRNO */
	int sent;          /* the request went out (CURLINFO_REQUEST_SIZE > 0) */
	int received;      /* a byte of an answer came back */
	long http_code;    /* the status A sent */
	int tls;           /* an https:// replica */
	int new_connection; /* the attempt opened its connection (CURLINFO_NUM_CONNECTS) */
	long tls_verify;   /* CURLINFO_SSL_VERIFYRESULT: GnuTLS's certificate
			    * status bits; 0 when the chain was good */
};

/* Classifies a finished attempt. */
/*
 * B's own shortage (error: EMFILE, ENFILE, ENOBUFS or ENOMEM), which ended
 * an attempt before a byte reached A: 503 "B cannot open a connection: …",
 * outcome local, not retried. Returns whether error is such a shortage
 * (failure is then set).
 */
bool upstream_classify_local(int error, struct upstream_failure *failure);

void upstream_classify(const struct upstream_attempt *a, unsigned timeout_ms,
		       unsigned connect_timeout_ms, struct upstream_failure *failure);

/*
 * Checks A's 200 answer: JSON with a string "echo". On success stores a
 * malloc'ed copy of the echo (the caller frees it) and returns 0; otherwise
 * fills failure (502) and returns -1.
 */
int upstream_check_answer(const char *answer, size_t len, char **echo, size_t *echo_len,
			  struct upstream_failure *failure);

/*
 * The replicas of A and their breakers, shared by every loop: a lock held
 * for a few instructions guards the breakers; the open flags are mirrored
 * in atomics for /metrics.
 */
struct upstream_replicas {
	pthread_mutex_t lock;
	atomic_uint next;                 /* round-robin turn */
	size_t count;
	struct {
		const struct config_url *url;  /* borrowed from the config */
		struct breaker breaker;        /* under lock */
		atomic_bool open;
	} replica[CONFIG_REPLICAS_MAX];
};

void upstream_replicas_init(struct upstream_replicas *r, const struct config *cfg);
void upstream_replicas_finish(struct upstream_replicas *r);

/*
 * The replica for an attempt. A first attempt (failed < 0) goes round-robin,
 * skipping open circuits by taking the next turn (so the load of a skipped
 * replica spreads evenly). A retry goes to the replicas after the one that
 * failed, or the same one when there is only one. Returns the index, or -1
 * when no replica may be called now.
 */
int upstream_replicas_choose(struct upstream_replicas *r, int failed, uint64_t now_ms);

/* Reports how an attempt on replica index ended. */
void upstream_replicas_record(struct upstream_replicas *r, size_t index, bool success,
			      uint64_t now_ms);

/* Forgets an attempt that was chosen but never made. */
void upstream_replicas_cancel(struct upstream_replicas *r, size_t index);

/* The replica the next first attempt would try: the URL of a call never made. */
size_t upstream_replicas_peek(struct upstream_replicas *r);

/* Whether replica index's circuit is open or half-open. Any thread. */
bool upstream_replicas_open(struct upstream_replicas *r, size_t index);

#endif
