/* upstream.c - B's client to A: a curl multi handle on each loop, replicas shared. */
#include "upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <libssh2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "curl_loop.h"
#include "fd_budget.h"
#include "list.h"
#include "metrics.h"
#include "tls.h"
#include "upstream_handle.h"
#include "upstream_policy.h"
#include "upstream_replicas.h"

#define POOL_MAX 1024        /* idle easy handles a lane keeps for reuse */

static const char *const outcome_names[UPSTREAM_OUTCOME_COUNT] = {
	"ok", "refused", "timeout", "bad_response", "tls", "circuit_open", "overloaded", "local",
};

#define NO_REPLICA CONFIG_REPLICAS_MAX /* the row of calls that made no attempt */

/* One lane's counts, on their own cache lines: only its thread writes
 * them. Attempts by replica and outcome, and their durations. */
struct lane_counts {
	_Alignas(64) atomic_uint_fast64_t outcome[CONFIG_REPLICAS_MAX + 1][UPSTREAM_OUTCOME_COUNT];
	struct metrics_histogram duration[CONFIG_REPLICAS_MAX];
};

struct upstream {
	const struct config *cfg;
	struct upstream_replicas replicas;
	atomic_uint inflight;              /* calls out, against --max-inflight */
	atomic_uint lanes_made;
	size_t slot_count;
	struct lane_counts *counts;        /* [slot_count]: outlive the lanes */
};

/* One call from B to A, from upstream_call() to on_done. Its lane's thread
 * owns it all along. */
struct upstream_call {
	struct list_link link;             /* on the lane's active list */
	struct upstream_lane *lane;
	upstream_done *on_done;
	void *ctx;
	char *path;                        /* "/echo?msg=…", encoded once */
	struct buffer answer;              /* A's body, capped */
	struct upstream_headers headers;   /* what an attempt sends beside the query */
	struct upstream_handle *handle;    /* while an attempt is out */
	size_t replica;
	unsigned attempts_left;
	unsigned attempts;                 /* made so far */
	uint64_t attempt_start_ns;
	struct upstream_failure last;      /* the previous attempt's failure */
	struct loop_timer deadline;        /* B's own bound on the whole call */
};

struct upstream_lane {
	struct upstream *up;
	struct loop *loop;
	struct curl_loop *curl;            /* the multi handle on the loop */
	CURLM *multi;                      /* curl_loop_multi(curl) */
	struct lane_counts *counts;
	struct list_link *active;          /* calls with an attempt out */
	bool abandoned;
	struct upstream_handle *idle[POOL_MAX];
	size_t idle_count;
};


void upstream_result_finish(struct upstream_result *result)
{
	free(result->echo);
	free(result->error);
	result->echo = result->error = NULL;
	result->echo_len = result->error_len = 0;
}

/* Fills a failed result: Get "URL": cause, in the seed's shape, the URL
 * being base followed by path. */
static void result_fail(struct upstream_result *result, const struct upstream_failure *failure,
			const char *base, const char *path)
{
	struct buffer text;

	memset(result, 0, sizeof(*result));
	result->status = failure->status;
	result->outcome = failure->outcome;
	buffer_init(&text, CONFIG_URL_MAX + strlen(path) + sizeof(failure->cause) + 16);
	if (buffer_append_str(&text, "Get \"") < 0 || buffer_append_str(&text, base) < 0 ||
	    buffer_append_str(&text, path) < 0 || buffer_append_str(&text, "\": ") < 0 ||
	    buffer_append_str(&text, failure->cause) < 0) {
		buffer_reset(&text);
		buffer_append_str(&text, failure->cause);
	}
	result->error = buffer_release(&text, &result->error_len);
}

static void call_free(struct upstream_call *call)
{
	free(call->path);
	buffer_finish(&call->answer);
	upstream_headers_finish(&call->headers);
	free(call);
}

/* Counts an attempt that A ended (or that ran out of time). */
static void attempt_count(struct upstream_call *call, enum upstream_outcome outcome)
{
	struct lane_counts *counts = call->lane->counts;

	atomic_fetch_add_explicit(&counts->outcome[call->replica][outcome], 1,
				  memory_order_relaxed);
	metrics_histogram_observe(&counts->duration[call->replica],
				  loop_now_ns() - call->attempt_start_ns);
}

/* The end of a call: freed, and reported to its owner last (who
 * may start another call from on_done). failure NULL: success with echo. */
static void call_end(struct upstream_call *call, const struct upstream_failure *failure,
		     char *echo, size_t echo_len)
{
	struct upstream_lane *lane = call->lane;
	struct upstream_result result = {.outcome = UPSTREAM_OK, .status = 200};
	upstream_done *on_done = call->on_done;
	void *ctx = call->ctx;

	if (failure != NULL) {
		result_fail(&result, failure, lane->up->replicas.replica[call->replica].url->base,
			    call->path);
	} else {
		result.echo = echo;
		result.echo_len = echo_len;
	}
	result.attempts = call->attempts;
	result.replica = call->attempts > 0 ? lane->up->replicas.replica[call->replica].url->base
					    : NULL;
	atomic_fetch_sub_explicit(&lane->up->inflight, 1, memory_order_relaxed);
	loop_timer_disarm(lane->loop, &call->deadline);
	call_free(call);
	on_done(ctx, &result);
}

/*
 * A call's own deadline, past every timeout curl was given (each attempt's
 * connect and whole-attempt limits, plus a second): B never hangs, even if
 * a transfer stops progressing in a way curl does not notice (a socket
 * that was never watched). The stuck handle is thrown away, not pooled.
 */
static void call_deadline(void *arg)
{
	struct upstream_call *call = arg;
	struct upstream_lane *lane = call->lane;
	struct upstream_failure failure;
	char cause[64];

	snprintf(cause, sizeof(cause), "no answer within %u ms", lane->up->cfg->timeout_ms);
	upstream_failure_set(&failure, 504, UPSTREAM_TIMEOUT, 0, cause);
	if (call->handle != NULL) {
		list_remove(&lane->active, &call->link);
		curl_multi_remove_handle(lane->multi, upstream_handle_easy(call->handle));
		upstream_handle_free(call->handle);
		call->handle = NULL;
		upstream_replicas_record(&lane->up->replicas, call->replica, false, loop_now_ms());
		attempt_count(call, UPSTREAM_TIMEOUT);
	}
	call_end(call, &failure, NULL, 0);
}

static size_t on_answer(char *data, size_t size, size_t count, void *arg)
{
	struct upstream_call *call = arg;

	if (buffer_append(&call->answer, data, size * count) < 0)
		return 0; /* past the cap: curl ends the transfer with CURLE_WRITE_ERROR */
	return size * count;
}

static struct upstream_handle *handle_get(struct upstream_lane *lane)
{
	if (lane->idle_count > 0)
		return lane->idle[--lane->idle_count];
	return upstream_handle_new(lane->up->cfg, lane->curl, on_answer);
}

static void handle_put(struct upstream_lane *lane, struct upstream_handle *handle)
{
	if (lane->idle_count < POOL_MAX)
		lane->idle[lane->idle_count++] = handle;
	else
		upstream_handle_free(handle);
}

/* Starts an attempt on a replica. Returns 0, or -1 with failure filled
 * when no attempt could be made. */
static int attempt_start(struct upstream_lane *lane, struct upstream_call *call,
			 struct upstream_failure *failure)
{
	struct upstream *up = lane->up;
	bool retry = call->last.status != 0;
	int replica = upstream_replicas_choose(&up->replicas, retry ? (int)call->replica : -1,
					       loop_now_ms());
	struct upstream_handle *handle;
	CURL *easy;

	if (replica < 0) {
		if (retry) /* nowhere to go: report what really happened */
			*failure = call->last;
		else
			upstream_failure_set(failure, 503, UPSTREAM_CIRCUIT_OPEN, 0, "circuit open");
		return -1;
	}
	call->replica = (size_t)replica;
	buffer_reset(&call->answer);
	upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 0, "out of memory");
	handle = handle_get(lane);
	if (handle == NULL)
		goto fail;
	/* the query follows "/echo?" in the call's path */
	if (upstream_handle_aim(handle, (size_t)replica, up->replicas.replica[replica].url->base,
				call->path + sizeof(UPSTREAM_PATH), &call->headers) < 0) {
		upstream_handle_free(handle);
		handle = NULL;
		goto fail;
	}
	easy = upstream_handle_easy(handle);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
	if (curl_multi_add_handle(lane->multi, easy) != CURLM_OK) {
		upstream_failure_set(failure, 503, UPSTREAM_REFUSED, 0, "could not start the call");
		goto fail;
	}
	call->handle = handle;
	call->attempts++;
	call->attempt_start_ns = loop_now_ns();
	list_push(&lane->active, &call->link);
	return 0;
fail:
	if (handle != NULL)
		handle_put(lane, handle);
	upstream_replicas_cancel(&up->replicas, (size_t)replica);
	return -1;
}

/* curl_loop_done: an attempt has ended. */
static void attempt_done(void *arg, CURL *easy, CURLcode code)
{
	struct upstream_lane *lane = arg;
	struct upstream *up = lane->up;
	struct upstream_call *call = NULL;
	struct upstream_failure failure;
	long request_size = 0, header_size = 0, connects = 0;
	struct upstream_attempt attempt = {.code = code};
	char *echo = NULL;
	size_t echo_len = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &attempt.http_code);
	if (code == CURLE_OK) {
		/* a whole answer: what only a failure's cause needs is not asked */
		request_size = header_size = 1;
	} else {
		curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &attempt.os_errno);
		curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
		curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_size);
		curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
	}
	if (code == CURLE_PEER_FAILED_VERIFICATION)
		curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &attempt.tls_verify);
	curl_multi_remove_handle(lane->multi, easy);
	handle_put(lane, call->handle);
	call->handle = NULL;
	list_remove(&lane->active, &call->link);

	attempt.sent = request_size > 0;
	attempt.received = header_size > 0 || call->answer.len > 0;
	attempt.tls = up->replicas.replica[call->replica].url->tls;
	attempt.new_connection = connects > 0;
	upstream_classify(&attempt, up->cfg->timeout_ms, up->cfg->connect_timeout_ms, &failure);
	if (!attempt.sent && (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST) &&
	    (upstream_classify_local((int)attempt.os_errno, &failure) ||
	     upstream_classify_local(fd_budget_shortage(), &failure))) {
		/* B's own: not A's failure, so not its breaker's and not retried
		 * on another replica; counted apart, with no replica */
		upstream_replicas_cancel(&up->replicas, call->replica);
		atomic_fetch_add_explicit(&lane->counts->outcome[NO_REPLICA][UPSTREAM_LOCAL], 1,
					  memory_order_relaxed);
		call_end(call, &failure, NULL, 0);
		return;
	}
	if (failure.status == 0 &&
	    upstream_check_answer(call->answer.data, call->answer.len, &echo, &echo_len,
				  &failure) == 0) {
		upstream_replicas_record(&up->replicas, call->replica, true, loop_now_ms());
		attempt_count(call, UPSTREAM_OK);
		call_end(call, NULL, echo, echo_len);
		return;
	}
	upstream_replicas_record(&up->replicas, call->replica, false, loop_now_ms());
	attempt_count(call, failure.outcome);
	if (failure.retryable && call->attempts_left > 0 && !lane->abandoned) {
		call->attempts_left--;
		call->last = failure;
		if (attempt_start(lane, call, &failure) == 0)
			return;
	}
	call_end(call, &failure, NULL, 0);
}

/* Fills *refused for a call that was never made. */
static void refuse(struct upstream_lane *lane, const struct upstream_request *request,
		   const struct upstream_failure *failure, struct upstream_result *refused)
{
	struct upstream_replicas *r = &lane->up->replicas;
	struct buffer url;

	/* the URL is the one the call would have used */
	buffer_init(&url, CONFIG_URL_MAX + request->len * 3 + 16);
	if (upstream_build_url(&url, r->replica[upstream_replicas_peek(r)].url->base, request->msg,
			       request->len) < 0)
		buffer_reset(&url);
	result_fail(refused, failure, url.data != NULL ? url.data : "", "");
	buffer_finish(&url);
	atomic_fetch_add_explicit(&lane->counts->outcome[NO_REPLICA][failure->outcome], 1,
				  memory_order_relaxed);
}

int upstream_call(struct upstream_lane *lane, const struct upstream_request *request,
		  upstream_done *on_done, void *ctx, struct upstream_result *refused)
{
	struct upstream *up = lane->up;
	struct upstream_failure failure;
	struct upstream_call *call = NULL;
	struct buffer path;
	unsigned before = atomic_fetch_add_explicit(&up->inflight, 1, memory_order_relaxed);

	buffer_init(&path, request->len * 3 + 16);
	if (lane->abandoned) {
		upstream_failure_set(&failure, 503, UPSTREAM_REFUSED, 0, "service B is shutting down");
		goto fail;
	}
	if (before >= up->cfg->max_inflight) {
		upstream_failure_set(&failure, 503, UPSTREAM_OVERLOADED, 0,
				     "too many calls in flight");
		goto fail;
	}
	upstream_failure_set(&failure, 503, UPSTREAM_REFUSED, 0, "out of memory");
	call = calloc(1, sizeof(*call));
	if (call == NULL)
		goto fail;
	call->lane = lane;
	call->on_done = on_done;
	call->ctx = ctx;
	call->attempts_left = up->cfg->retries;
	buffer_init(&call->answer, UPSTREAM_ANSWER_MAX);
	if (upstream_headers_copy(&call->headers, request->request_id, request->traceparent,
				  request->tracestate) < 0)
		goto fail;
	if (upstream_build_url(&path, "", request->msg, request->len) < 0)
		goto fail;
	call->path = buffer_release(&path, NULL);
	if (attempt_start(lane, call, &failure) < 0)
		goto fail;
	loop_timer_init(&call->deadline, call_deadline, call);
	/* without memory for the timer the call still has curl's limits */
	loop_timer_arm(lane->loop, &call->deadline,
		       ((uint64_t)up->cfg->connect_timeout_ms + up->cfg->timeout_ms) *
				       (up->cfg->retries + 1) + 1000);
	return 0;
fail:
	buffer_finish(&path);
	if (call != NULL)
		call_free(call);
	refuse(lane, request, &failure, refused);
	atomic_fetch_sub_explicit(&up->inflight, 1, memory_order_relaxed);
	return -1;
}

void upstream_abandon(struct upstream_lane *lane)
{
	struct upstream_failure failure;

	lane->abandoned = true;
	upstream_failure_set(&failure, 503, UPSTREAM_REFUSED, 0, "service B is shutting down");
	while (lane->active != NULL) {
		struct upstream_call *call = LIST_ITEM(lane->active, struct upstream_call, link);

		list_remove(&lane->active, &call->link);
		curl_multi_remove_handle(lane->multi, upstream_handle_easy(call->handle));
		handle_put(lane, call->handle);
		call->handle = NULL;
		call_end(call, &failure, NULL, 0);
	}
}

struct upstream_lane *upstream_lane_new(struct upstream *up, struct loop *loop, char *error,
					size_t error_size)
{
	struct upstream_lane *lane = calloc(1, sizeof(*lane));
	unsigned slot = atomic_fetch_add(&up->lanes_made, 1);

	if (lane == NULL) {
		snprintf(error, error_size, "upstream: %s", strerror(errno));
		return NULL;
	}
	lane->up = up;
	lane->loop = loop;
	lane->counts = &up->counts[slot % up->slot_count];
	lane->curl = curl_loop_new(loop, attempt_done, lane);
	if (lane->curl == NULL) {
		snprintf(error, error_size, "upstream: curl_multi_init failed");
		free(lane);
		return NULL;
	}
	lane->multi = curl_loop_multi(lane->curl);
	/* Keep a connection per call that may be in flight on this loop:
	 * curl's default cache is small and would close and reopen
	 * connections under load. */
	curl_multi_setopt(lane->multi, CURLMOPT_MAXCONNECTS,
			  (long)(up->cfg->max_inflight / up->slot_count + 1));
	return lane;
}

void upstream_lane_idle(struct upstream_lane *lane)
{
	while (lane->idle_count > 0)
		upstream_handle_free(lane->idle[--lane->idle_count]);
}

void upstream_lane_free(struct upstream_lane *lane)
{
	/* the multi handle first: it closes its connections through the
	 * easy handles' callbacks */
	curl_loop_free(lane->curl);
	upstream_lane_idle(lane);
	free(lane);
}

/* B's upstream families: attempts by replica and outcome, and calls never
 * made under replica "none" (summed over the lanes); attempt durations by
 * replica; calls in flight (what --max-inflight is held against); each
 * circuit. */
static int render_metrics(struct buffer *out, void *arg)
{
	struct upstream *up = arg;
	int rc = buffer_append_str(out,
		"# HELP echosvc_upstream_requests_total Attempts from B to A by replica and how they ended; calls never made under replica \"none\".\n"
		"# TYPE echosvc_upstream_requests_total counter\n");

	for (size_t r = 0; r <= up->replicas.count; r++) {
		size_t row = r < up->replicas.count ? r : NO_REPLICA;
		const char *name = r < up->replicas.count ? up->replicas.replica[r].url->base : "none";

		for (size_t o = 0; o < UPSTREAM_OUTCOME_COUNT; o++) {
			uint64_t total = 0;

			for (size_t s = 0; s < up->slot_count; s++)
				total += atomic_load_explicit(&up->counts[s].outcome[row][o],
							      memory_order_relaxed);
			rc |= buffer_printf(out,
				"echosvc_upstream_requests_total{replica=\"%s\",outcome=\"%s\"} %llu\n",
				name, outcome_names[o], (unsigned long long)total);
		}
	}
	rc |= buffer_append_str(out,
		"# HELP echosvc_upstream_request_duration_seconds Time of one attempt from B to A, by replica.\n"
		"# TYPE echosvc_upstream_request_duration_seconds histogram\n");
	for (size_t r = 0; r < up->replicas.count; r++) {
		struct metrics_histogram_total total = {0};
		char labels[CONFIG_URL_MAX + 16];

		for (size_t s = 0; s < up->slot_count; s++)
			metrics_histogram_add(&total, &up->counts[s].duration[r]);
		snprintf(labels, sizeof(labels), "replica=\"%s\"", up->replicas.replica[r].url->base);
		rc |= metrics_histogram_render(out, "echosvc_upstream_request_duration_seconds",
					       labels, &total);
	}
	rc |= buffer_printf(out,
		"# HELP echosvc_upstream_inflight Calls to A in flight now.\n"
		"# TYPE echosvc_upstream_inflight gauge\n"
		"echosvc_upstream_inflight %u\n"
		"# HELP echosvc_circuit_open Whether a replica's circuit is open (1) or closed (0).\n"
		"# TYPE echosvc_circuit_open gauge\n",
		atomic_load_explicit(&up->inflight, memory_order_relaxed));
	for (size_t i = 0; i < up->replicas.count; i++)
		rc |= buffer_printf(out, "echosvc_circuit_open{replica=\"%s\"} %d\n",
				    up->replicas.replica[i].url->base,
				    upstream_replicas_open(&up->replicas, i) ? 1 : 0);
	return rc;
}

struct upstream *upstream_new(const struct config *cfg, char *error, size_t error_size)
{
	struct upstream *up = calloc(1, sizeof(*up));

	if (up == NULL)
		goto out_of_memory;
	up->cfg = cfg;
	up->slot_count = cfg->threads > 0 ? cfg->threads : 1;
	up->counts = aligned_alloc(_Alignof(struct lane_counts),
				   up->slot_count * sizeof(struct lane_counts));
	if (up->counts == NULL)
		goto out_of_memory;
	memset(up->counts, 0, up->slot_count * sizeof(struct lane_counts));
	/* A's TLS files are checked now: a bad one is a start-up failure,
	 * not a failure of every call */
	if (tls_client_check(cfg, error, error_size) < 0)
		goto fail;
	/* B never speaks SSH (only http and https are allowed), but libcurl's
	 * global init starts libssh2, whose crypto start loads every OpenSSL
	 * engine: 1.4 MiB of libcrypto's pages touched in each B, a third of
	 * its private memory. Started first without crypto, libssh2 takes
	 * curl's start for a repeat and does nothing. */
	libssh2_init(LIBSSH2_INIT_NO_CRYPTO);
	/* TLS for https:// replicas, no signals */
	if (curl_global_init(CURL_GLOBAL_SSL) != CURLE_OK) {
		snprintf(error, error_size, "upstream: curl_global_init failed");
		libssh2_exit();
		goto fail;
	}
	upstream_replicas_init(&up->replicas, cfg);
	metrics_add_source(render_metrics, up);
	return up;

out_of_memory:
	snprintf(error, error_size, "upstream: %s", strerror(errno));
fail:
	if (up != NULL)
		free(up->counts);
	free(up);
	return NULL;
}

void upstream_free(struct upstream *up)
{
	upstream_replicas_finish(&up->replicas);
	curl_global_cleanup();
	libssh2_exit();
	free(up->counts);
	free(up);
}
