/* upstream.h - B's asynchronous client to A: lanes of threads driving curl multi handles. */
#ifndef ECHOSVC_UPSTREAM_H
#define ECHOSVC_UPSTREAM_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stddef.h>

#include "buffer.h"
#include "config.h"
#include "metrics.h"
#include "server.h"

#define UPSTREAM_ANSWER_MAX (64 * 1024) /* the largest answer B accepts from A */

struct upstream;
struct upstream_call;

/* How one call ended, ready for B's answer. */
struct upstream_result {
	unsigned status;              /* 200, or 502 / 503 / 504 */
	const cJSON *echo;            /* status 200: A's "echo", a string; owned by the call */
	const char *error;            /* otherwise: Get "URL": cause; owned by the call */
	size_t error_len;
};

/*
 * Creates the client and starts its thread (call with SIGINT and SIGTERM
 * blocked). Returns NULL with a reason in error on failure.
 */
struct upstream *upstream_new(const struct config *cfg, char *error, size_t error_size);

/* Stops the thread and frees everything. Every call must have completed
 * (server_stop() has returned). */
void upstream_free(struct upstream *up);

/*
 * Starts a call to A's /echo for msg on behalf of req, which must already be
 * suspended: when the call ends, req is resumed and its handler finds the
 * result with upstream_call_result(). The call belongs to req from here on
 * (it is attached with server_set_data and freed with the request).
 * When --max-inflight calls are already out, no call is made: returns -1 and
 * the caller answers with upstream_overload_error(). Thread-safe.
 */
int upstream_submit(struct upstream *up, struct server_request *req, const char *msg,
		    size_t len);

/* The result of req's call, or NULL when req has none or it is not done. */
const struct upstream_result *upstream_call_result(const struct server_request *req);

/* Fills result for a call refused by upstream_submit() (overload, 503).
 * out receives the error text and must outlive result. */
void upstream_overload_result(struct upstream *up, const char *msg, size_t len,
			      struct buffer *out, struct upstream_result *result);

/* Fails every call not yet done with 503 and resumes its request, and every
 * later call at once: the last step of a drain. Any thread. */
void upstream_abandon(void *up);

/* Writes base + "/echo?msg=" + msg percent-encoded (all but A-Z a-z 0-9 -._~)
 * into out. Returns 0 or -1 as buffer_append(). */
int upstream_build_url(struct buffer *out, const char *base, const char *msg, size_t len);

/* The cause and status of a failed attempt, from curl's code and what A
 * sent, never from curl's error text. */
struct upstream_failure {
	unsigned status;          /* 0 when the attempt succeeded */
	enum metrics_outcome outcome;
	int retryable;            /* a connect failure: A never saw the request */
	char cause[96];
};

/* Classifies a finished attempt. os_errno is CURLINFO_OS_ERRNO, sent is
 * whether the request went out (CURLINFO_REQUEST_SIZE > 0), received whether
 * any byte of an answer came back, http_code the status A sent. */
void upstream_classify(CURLcode code, long os_errno, int sent, int received, long http_code,
		       unsigned timeout_ms, unsigned connect_timeout_ms,
		       struct upstream_failure *failure);

#endif
