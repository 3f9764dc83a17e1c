/* upstream_policy.h - what B decides about a call to A, without sockets: URL, outcome, answer. */
#ifndef ECHOSVC_UPSTREAM_POLICY_H
#define ECHOSVC_UPSTREAM_POLICY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "config.h"
#include "upstream_outcome.h"

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

#endif
