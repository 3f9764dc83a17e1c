/* upstream.c - B's asynchronous client to A: lanes of curl multi_socket on epoll. */
#include "upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "breaker.h"
#include "curl_api.h"

#define POOL_MAX 1024        /* idle easy handles kept for reuse */
#define POLL_MS 1000         /* longest sleep of a lane with nothing to do */
#define LANES_MAX 16

struct lane;

/* One call from B to A, from submit to the request's completion. Its lane's
 * thread owns it until it resumes the request; the request owns it (and
 * frees it with call_free) after. */
struct upstream_call {
	struct upstream_call *prev, *next; /* queue (under lock), then active list */
	struct upstream *up;
	struct lane *lane;
	struct server_request *req;
	char *path;                        /* "/echo?msg=…", encoded once */
	struct buffer url;                 /* the current attempt's URL */
	struct buffer answer;              /* A's body, capped */
	struct buffer error;               /* Get "URL": cause */
	struct curl_slist *headers;
	CURL *easy;                        /* while an attempt is out */
	size_t replica;
	unsigned attempts_left;
	struct upstream_failure last;      /* the previous attempt's failure */
	cJSON *parsed;
	struct upstream_result result;
	bool done;
};

struct replica {
	const struct config_url *url;
	struct breaker breaker;            /* under breakers_lock */
	atomic_bool open;                  /* breaker_is_open(), for /metrics */
};

/*
 * A lane: one thread driving one curl multi handle through epoll. B runs as
 * many as HTTP workers, so that no single thread has to carry every call
 * (measured: one lane topped out near 30,000 calls/s).
 */
struct lane {
	struct upstream *up;
	atomic_uint load;                  /* calls handed to this lane, not finished */
	CURLM *multi;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	struct upstream_call *queue_head;  /* under lock: submitted, not started */
	struct upstream_call *queue_tail;
	bool stopping;                     /* under lock */
	bool wake_pending;                 /* under lock: the eventfd was written */
	int epoll_fd;                      /* curl's sockets and wake_fd */
	int wake_fd;                       /* eventfd: new calls, abandon, stop */
	int64_t timer_deadline;            /* ms, curl's next timeout; -1 none */
	struct upstream_call *active;      /* the thread's: attempts out */
	CURL *idle[POOL_MAX];              /* the thread's */
	size_t idle_count;
};

struct upstream {
	const struct config *cfg;
	struct lane *lanes;
	size_t lane_count;
	pthread_mutex_t breakers_lock;     /* every replica's breaker */
	atomic_bool abandoned;
	atomic_uint inflight;
	atomic_uint next_replica;
	size_t replica_count;
	struct replica replicas[CONFIG_REPLICAS_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int upstream_build_url(struct buffer *out, const char *base, const char *msg, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char chunk[256];
	size_t used = 0;

	if (buffer_append_str(out, base) < 0 || buffer_append_str(out, "/echo?msg=") < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (used + 3 > sizeof(chunk)) {
			if (buffer_append(out, chunk, used) < 0)
				return -1;
			used = 0;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			chunk[used++] = (char)c;
		} else {
			chunk[used++] = '%';
			chunk[used++] = hex[c >> 4];
			chunk[used++] = hex[c & 0x0F];
		}
	}
	return buffer_append(out, chunk, used);
}

static void failure_set(struct upstream_failure *f, unsigned status,
			enum metrics_outcome outcome, int retryable, const char *cause)
{
	f->status = status;
	f->outcome = outcome;
	f->retryable = retryable;
	snprintf(f->cause, sizeof(f->cause), "%s", cause);
}

void upstream_classify(CURLcode code, long os_errno, int sent, int received, long http_code,
		       unsigned timeout_ms, unsigned connect_timeout_ms,
		       struct upstream_failure *failure)
{
	char cause[96];

	switch (code) {
	case CURLE_OK:
		if (http_code == 200) {
			failure_set(failure, 0, METRICS_OK, 0, "");
		} else {
			snprintf(cause, sizeof(cause), "HTTP %ld", http_code);
			failure_set(failure, 502, METRICS_BAD_RESPONSE, 0, cause);
		}
		break;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED || os_errno == 0)
			snprintf(cause, sizeof(cause), "connection refused");
		else
			snprintf(cause, sizeof(cause), "connect: %s", strerror((int)os_errno));
		failure_set(failure, 503, METRICS_REFUSED, 1, cause);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		failure_set(failure, 503, METRICS_REFUSED, 1, "name did not resolve");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (!sent) {
			snprintf(cause, sizeof(cause), "connect timeout after %u ms",
				 connect_timeout_ms);
			failure_set(failure, 503, METRICS_TIMEOUT, 1, cause);
		} else {
			snprintf(cause, sizeof(cause), "timeout after %u ms", timeout_ms);
			failure_set(failure, 504, METRICS_TIMEOUT, 0, cause);
		}
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		if (!received)
			failure_set(failure, 503, METRICS_REFUSED, 1,
				    code == CURLE_GOT_NOTHING ? "connection closed without an answer"
							      : "connection reset");
		else
			failure_set(failure, 502, METRICS_BAD_RESPONSE, 0,
				    "connection reset during the answer");
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		snprintf(cause, sizeof(cause), "answer larger than %d bytes", UPSTREAM_ANSWER_MAX);
		failure_set(failure, 502, METRICS_BAD_RESPONSE, 0, cause);
		break;
	case CURLE_PARTIAL_FILE:
		failure_set(failure, 502, METRICS_BAD_RESPONSE, 0, "answer cut short");
		break;
	default:
		snprintf(cause, sizeof(cause), "invalid HTTP answer (curl error %d)", (int)code);
		failure_set(failure, 502, METRICS_BAD_RESPONSE, 0, cause);
		break;
	}
}

static void call_free(void *data)
{
	struct upstream_call *call = data;

	free(call->path);
	buffer_finish(&call->url);
	buffer_finish(&call->answer);
	buffer_finish(&call->error);
	curl_api.slist_free_all(call->headers);
	cJSON_Delete(call->parsed);
	free(call);
}

static void list_remove(struct upstream_call **head, struct upstream_call *call)
{
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		*head = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

static void list_push(struct upstream_call **head, struct upstream_call *call)
{
	call->prev = NULL;
	call->next = *head;
	if (*head != NULL)
		(*head)->prev = call;
	*head = call;
}

static int url_for(struct upstream_call *call, size_t replica)
{
	buffer_reset(&call->url);
	return buffer_append_str(&call->url, call->up->replicas[replica].url->base) < 0 ||
			       buffer_append_str(&call->url, call->path) < 0
		       ? -1
		       : 0;
}

/* The end of a call: the result is set, the request resumed, and the call
 * is the request's from here on. */
static void call_finish(struct upstream_call *call, unsigned status,
			enum metrics_outcome outcome, const char *cause)
{
	struct upstream *up = call->up;

	call->result.status = status;
	if (status != 200) {
		if (call->url.len == 0)
			url_for(call, atomic_load(&up->next_replica) % up->replica_count);
		/* the URL is the last attempt's, or the one a call would have used */
		if (buffer_append_str(&call->error, "Get \"") < 0 ||
		    buffer_append(&call->error, call->url.data, call->url.len) < 0 ||
		    buffer_append_str(&call->error, "\": ") < 0 ||
		    buffer_append_str(&call->error, cause) < 0) {
			buffer_reset(&call->error);
			buffer_append_str(&call->error, cause);
		}
		call->result.error = call->error.data;
		call->result.error_len = call->error.len;
	}
	curl_api.slist_free_all(call->headers);
	call->headers = NULL;
	call->done = true;
	metrics_upstream_observe(outcome);
	atomic_fetch_sub_explicit(&up->inflight, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&call->lane->load, 1, memory_order_relaxed);
	server_resume(call->req);
}

static size_t on_answer(char *data, size_t size, size_t count, void *arg)
{
	struct upstream_call *call = arg;

	if (buffer_append(&call->answer, data, size * count) < 0)
		return 0; /* past the cap: curl ends the transfer with CURLE_WRITE_ERROR */
	return size * count;
}

/* A pooled easy handle keeps the options every attempt shares (they are
 * sticky), so an attempt only sets what is its own. */
static CURL *easy_get(struct lane *lane)
{
	const struct config *cfg = lane->up->cfg;
	CURL *easy;

	if (lane->idle_count > 0)
		return lane->idle[--lane->idle_count];
	easy = curl_api.easy_init();
	if (easy == NULL)
		return NULL;
	curl_api.easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_api.easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_api.easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
	curl_api.easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_api.easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)UPSTREAM_ANSWER_MAX);
	/* A's answers are small: a 4 KiB receive buffer instead of 16 KiB
	 * keeps a thousand parked calls within B's memory budget. */
	curl_api.easy_setopt(easy, CURLOPT_BUFFERSIZE, 4096L);
	curl_api.easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_answer);
	/* A is called directly: an http_proxy in B's environment must not
	 * reroute it (and curl then skips reading the environment per call). */
	curl_api.easy_setopt(easy, CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_api.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
#endif
	return easy;
}

static void easy_put(struct lane *lane, CURL *easy)
{
	if (lane->idle_count < POOL_MAX)
		lane->idle[lane->idle_count++] = easy;
	else
		curl_api.easy_cleanup(easy);
}

static bool replica_allow(struct upstream *up, size_t index, uint64_t now)
{
	struct replica *r = &up->replicas[index];

	if (!breaker_allow(&r->breaker, now))
		return false;
	atomic_store_explicit(&r->open, breaker_is_open(&r->breaker), memory_order_relaxed);
	return true;
}

/*
 * A first attempt goes round-robin, skipping open circuits by taking the
 * next turn (so the load of a skipped replica spreads evenly). A retry goes
 * to the replicas after the one that failed, or the same one when there is
 * only one. Returns the replica's index, or -1 when every circuit is open.
 */
static int replica_choose(struct upstream *up, const struct upstream_call *call)
{
	size_t n = up->replica_count;
	uint64_t now = now_ms();
	int chosen = -1;

	pthread_mutex_lock(&up->breakers_lock);
	for (size_t tried = 0; tried < n && chosen < 0; tried++) {
		size_t index;

		if (call->last.status == 0)
			index = atomic_fetch_add_explicit(&up->next_replica, 1,
							  memory_order_relaxed) % n;
		else if (n == 1)
			index = call->replica;
		else if (tried == n - 1)
			break; /* every replica but the failed one was looked at */
		else
			index = (call->replica + 1 + tried) % n;
		if (replica_allow(up, index, now))
			chosen = (int)index;
	}
	pthread_mutex_unlock(&up->breakers_lock);
	return chosen;
}

static void replica_record(struct upstream *up, size_t index, bool success)
{
	struct replica *r = &up->replicas[index];

	pthread_mutex_lock(&up->breakers_lock);
	breaker_record(&r->breaker, success, now_ms());
	atomic_store_explicit(&r->open, breaker_is_open(&r->breaker), memory_order_relaxed);
	pthread_mutex_unlock(&up->breakers_lock);
}

static void replica_cancel(struct upstream *up, size_t index)
{
	pthread_mutex_lock(&up->breakers_lock);
	breaker_cancel(&up->replicas[index].breaker);
	pthread_mutex_unlock(&up->breakers_lock);
}

static void attempt_start(struct lane *lane, struct upstream_call *call)
{
	struct upstream *up = lane->up;
	int replica = replica_choose(up, call);
	CURL *easy;

	if (replica < 0) {
		if (call->last.status != 0) {
			/* a retry with nowhere to go: report what really happened */
			call_finish(call, call->last.status, call->last.outcome, call->last.cause);
			return;
		}
		call_finish(call, 503, METRICS_CIRCUIT_OPEN, "circuit open");
		return;
	}
	call->replica = (size_t)replica;
	buffer_reset(&call->answer);
	easy = easy_get(lane);
	if (easy == NULL || url_for(call, (size_t)replica) < 0) {
		if (easy != NULL)
			easy_put(lane, easy);
		replica_cancel(up, (size_t)replica);
		call_finish(call, 503, METRICS_REFUSED, "out of memory");
		return;
	}
	curl_api.easy_setopt(easy, CURLOPT_URL, call->url.data);
	curl_api.easy_setopt(easy, CURLOPT_WRITEDATA, call);
	curl_api.easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
	curl_api.easy_setopt(easy, CURLOPT_PRIVATE, call);
	call->easy = easy;
	list_push(&lane->active, call);
	if (curl_api.multi_add_handle(lane->multi, easy) != CURLM_OK) {
		list_remove(&lane->active, call);
		call->easy = NULL;
		easy_put(lane, easy);
		replica_cancel(up, (size_t)replica);
		call_finish(call, 503, METRICS_REFUSED, "could not start the call");
	}
}

/* Checks that A's 200 answer is JSON with a string "echo". */
static int answer_check(struct upstream_call *call, struct upstream_failure *failure)
{
	const cJSON *echo;

	call->parsed = cJSON_ParseWithLength(call->answer.data, call->answer.len);
	if (call->parsed == NULL) {
		failure_set(failure, 502, METRICS_BAD_RESPONSE, 0, "answer is not JSON");
		return -1;
	}
	echo = cJSON_GetObjectItemCaseSensitive(call->parsed, "echo");
	if (!cJSON_IsString(echo) || echo->valuestring == NULL) {
		failure_set(failure, 502, METRICS_BAD_RESPONSE, 0,
			    "answer has no string \"echo\"");
		return -1;
	}
	call->result.echo = echo;
	return 0;
}

static void attempt_done(struct lane *lane, CURL *easy, CURLcode code)
{
	struct upstream *up = lane->up;
	struct upstream_call *call = NULL;
	struct upstream_failure failure;
	long os_errno = 0, http_code = 0, request_size = 0, header_size = 0;

	curl_api.easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
	curl_api.easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
	curl_api.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_code);
	curl_api.easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
	curl_api.easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_size);
	curl_api.multi_remove_handle(lane->multi, easy);
	easy_put(lane, easy);
	call->easy = NULL;
	list_remove(&lane->active, call);

	upstream_classify(code, os_errno, request_size > 0,
			  header_size > 0 || call->answer.len > 0, http_code, up->cfg->timeout_ms,
			  up->cfg->connect_timeout_ms, &failure);
	if (failure.status == 0 && answer_check(call, &failure) == 0) {
		replica_record(up, call->replica, true);
		call_finish(call, 200, METRICS_OK, "");
		return;
	}
	replica_record(up, call->replica, false);
	if (failure.retryable && call->attempts_left > 0) {
		call->attempts_left--;
		call->last = failure;
		attempt_start(lane, call);
		return;
	}
	call_finish(call, failure.status, failure.outcome, failure.cause);
}

/* Fails every call the thread holds: the drain's last step. */
static void abandon_active(struct lane *lane)
{
	while (lane->active != NULL) {
		struct upstream_call *call = lane->active;

		list_remove(&lane->active, call);
		curl_api.multi_remove_handle(lane->multi, call->easy);
		easy_put(lane, call->easy);
		call->easy = NULL;
		call_finish(call, 503, METRICS_REFUSED, "service B is shutting down");
	}
}

/* CURLMOPT_SOCKETFUNCTION: mirrors curl's interest in a socket into epoll,
 * so that each wait costs O(ready sockets), not O(open sockets) as poll()
 * in curl_multi_poll() does with a thousand calls parked on a frozen A. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_data)
{
	struct lane *lane = arg;
	struct epoll_event event = {.data.fd = fd};

	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(lane->epoll_fd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already */
		return 0;
	}
	event.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
	if (epoll_ctl(lane->epoll_fd, EPOLL_CTL_MOD, fd, &event) < 0 && errno == ENOENT)
		epoll_ctl(lane->epoll_fd, EPOLL_CTL_ADD, fd, &event);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants socket_action(TIMEOUT) called. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct lane *lane = arg;

	lane->timer_deadline = timeout_ms < 0 ? -1 : (int64_t)(now_ms() + (uint64_t)timeout_ms);
	return 0;
}

static void wake(struct lane *lane)
{
	uint64_t one = 1;

	while (write(lane->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Runs curl's timers if due, then collects finished attempts. */
static void drive(struct lane *lane, curl_socket_t fd, int flags)
{
	int running = 0, left;
	struct CURLMsg *msg;

	if (fd != CURL_SOCKET_TIMEOUT)
		curl_api.multi_socket_action(lane->multi, fd, flags, &running);
	if (lane->timer_deadline >= 0 && (int64_t)now_ms() >= lane->timer_deadline) {
		lane->timer_deadline = -1;
		curl_api.multi_socket_action(lane->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_api.multi_info_read(lane->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			attempt_done(lane, msg->easy_handle, msg->data.result);
}

static void *upstream_main(void *arg)
{
	struct lane *lane = arg;
	struct upstream *up = lane->up;
	struct epoll_event events[64];

	for (;;) {
		struct upstream_call *queue;
		bool stopping, abandoned;
		int wait_ms = POLL_MS, ready;

		pthread_mutex_lock(&lane->lock);
		queue = lane->queue_head;
		lane->queue_head = lane->queue_tail = NULL;
		lane->wake_pending = false;
		stopping = lane->stopping;
		pthread_mutex_unlock(&lane->lock);
		abandoned = atomic_load(&up->abandoned);

		while (queue != NULL) {
			struct upstream_call *call = queue;

			queue = call->next;
			call->next = NULL;
			if (abandoned)
				call_finish(call, 503, METRICS_REFUSED, "service B is shutting down");
			else
				attempt_start(lane, call);
		}
		if (abandoned)
			abandon_active(lane);
		if (stopping && lane->active == NULL)
			break;
		drive(lane, CURL_SOCKET_TIMEOUT, 0); /* new handles start on a timer of 0 */
		if (lane->timer_deadline >= 0) {
			int64_t until = lane->timer_deadline - (int64_t)now_ms();

			wait_ms = until <= 0 ? 0 : until < POLL_MS ? (int)until : POLL_MS;
		}
		ready = epoll_wait(lane->epoll_fd, events, 64, wait_ms);
		for (int i = 0; i < ready; i++) {
			int fd = events[i].data.fd;
			int flags = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
				    ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
				    ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
			uint64_t count;

			if (fd == lane->wake_fd) {
				while (read(lane->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
					;
				continue;
			}
			drive(lane, fd, flags);
		}
	}
	return NULL;
}

/*
 * The lane with the fewest calls. Each lane keeps a connection to A per call
 * it has had in flight at once; spreading by load keeps every lane near
 * total / lanes, so B holds about as many connections to A as calls in
 * flight (with a lane per worker thread, uneven workers made lanes grow
 * apart and the pool grew by a quarter).
 */
static struct lane *lane_pick(struct upstream *up)
{
	struct lane *best = &up->lanes[0];
	unsigned best_load = atomic_load_explicit(&best->load, memory_order_relaxed);

	for (size_t i = 1; i < up->lane_count; i++) {
		unsigned load = atomic_load_explicit(&up->lanes[i].load, memory_order_relaxed);

		if (load < best_load) {
			best = &up->lanes[i];
			best_load = load;
		}
	}
	return best;
}

int upstream_submit(struct upstream *up, struct server_request *req, const char *msg,
		    size_t len)
{
	struct upstream_call *call;
	struct buffer path;
	char header[SERVER_REQUEST_ID_MAX + 16];
	struct lane *lane;
	bool need_wake;
	unsigned before = atomic_fetch_add_explicit(&up->inflight, 1, memory_order_relaxed);

	if (before >= up->cfg->max_inflight)
		goto refuse;
	call = calloc(1, sizeof(*call));
	if (call == NULL)
		goto refuse;
	call->up = up;
	call->req = req;
	call->attempts_left = up->cfg->retries;
	buffer_init(&call->url, CONFIG_URL_MAX + (size_t)len * 3 + 16);
	buffer_init(&call->answer, UPSTREAM_ANSWER_MAX);
	buffer_init(&call->error, CONFIG_URL_MAX + (size_t)len * 3 + 128);
	buffer_init(&path, (size_t)len * 3 + 16);
	snprintf(header, sizeof(header), "X-Request-Id: %s", server_request_id(req));
	call->headers = curl_api.slist_append(NULL, header);
	if (call->headers == NULL || upstream_build_url(&path, "", msg, len) < 0) {
		buffer_finish(&path);
		call_free(call);
		goto refuse;
	}
	call->path = buffer_release(&path, NULL);
	server_set_data(req, call, call_free);
	/* Suspend before the hand-off: the thread may resume req at once. */
	server_suspend(req);
	lane = lane_pick(up);
	atomic_fetch_add_explicit(&lane->load, 1, memory_order_relaxed);
	call->lane = lane;
	pthread_mutex_lock(&lane->lock);
	if (lane->queue_tail != NULL)
		lane->queue_tail->next = call;
	else
		lane->queue_head = call;
	lane->queue_tail = call;
	/* One wake-up per batch: the lane takes its whole queue at once. */
	need_wake = !lane->wake_pending;
	lane->wake_pending = true;
	pthread_mutex_unlock(&lane->lock);
	if (need_wake)
		wake(lane);
	return 0;
refuse:
	atomic_fetch_sub_explicit(&up->inflight, 1, memory_order_relaxed);
	return -1;
}

const struct upstream_result *upstream_call_result(const struct server_request *req)
{
	const struct upstream_call *call = server_data(req);

	return call != NULL && call->done ? &call->result : NULL;
}

void upstream_overload_result(struct upstream *up, const char *msg, size_t len,
			      struct buffer *out, struct upstream_result *result)
{
	size_t index = atomic_load(&up->next_replica) % up->replica_count;

	metrics_upstream_observe(METRICS_OVERLOADED);
	if (buffer_append_str(out, "Get \"") < 0 ||
	    upstream_build_url(out, up->replicas[index].url->base, msg, len) < 0 ||
	    buffer_append_str(out, "\": too many calls in flight") < 0) {
		buffer_reset(out);
		buffer_append_str(out, "too many calls in flight");
	}
	result->status = 503;
	result->echo = NULL;
	result->error = out->data;
	result->error_len = out->len;
}

void upstream_abandon(void *arg)
{
	struct upstream *up = arg;

	atomic_store(&up->abandoned, true);
	for (size_t i = 0; i < up->lane_count; i++)
		wake(&up->lanes[i]);
}

/* B's gauges: calls in flight (the counter --max-inflight is checked
 * against), and each replica's circuit, read from the mirrors, never the
 * breakers. */
static int render_gauges(struct buffer *out, void *arg)
{
	struct upstream *up = arg;
	int rc = buffer_printf(out,
		"# HELP echosvc_upstream_inflight Calls to A in flight now.\n"
		"# TYPE echosvc_upstream_inflight gauge\n"
		"echosvc_upstream_inflight{service=\"B\"} %u\n",
		atomic_load_explicit(&up->inflight, memory_order_relaxed));

	rc |= buffer_append_str(out,
		"# HELP echosvc_circuit_open Whether a replica's circuit is open (1) or closed (0).\n"
		"# TYPE echosvc_circuit_open gauge\n");

	for (size_t i = 0; i < up->replica_count; i++)
		rc |= buffer_printf(out, "echosvc_circuit_open{service=\"B\",replica=\"%s\"} %d\n",
				    up->replicas[i].url->base,
				    atomic_load_explicit(&up->replicas[i].open, memory_order_relaxed)
					    ? 1 : 0);
	return rc;
}

/* Stops a lane's thread (if it runs) and frees what the lane holds. */
static void lane_finish(struct lane *lane)
{
	if (lane->thread_started) {
		pthread_mutex_lock(&lane->lock);
		lane->stopping = true;
		pthread_mutex_unlock(&lane->lock);
		wake(lane);
		pthread_join(lane->thread, NULL);
	}
	while (lane->idle_count > 0)
		curl_api.easy_cleanup(lane->idle[--lane->idle_count]);
	if (lane->multi != NULL)
		curl_api.multi_cleanup(lane->multi);
	if (lane->epoll_fd >= 0)
		close(lane->epoll_fd);
	if (lane->wake_fd >= 0)
		close(lane->wake_fd);
	pthread_mutex_destroy(&lane->lock);
}

/* Sets a lane up and starts its thread. On failure the lane is left for
 * lane_finish() to clean, like one that started. */
static int lane_start(struct lane *lane, struct upstream *up, long max_connections)
{
	struct epoll_event event = {.events = EPOLLIN};

	lane->up = up;
	lane->timer_deadline = -1;
	pthread_mutex_init(&lane->lock, NULL);
	lane->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	lane->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (lane->epoll_fd < 0 || lane->wake_fd < 0)
		return -1;
	event.data.fd = lane->wake_fd;
	if (epoll_ctl(lane->epoll_fd, EPOLL_CTL_ADD, lane->wake_fd, &event) < 0)
		return -1;
	lane->multi = curl_api.multi_init();
	if (lane->multi == NULL) {
		errno = ENOMEM;
		return -1;
	}
	curl_api.multi_setopt(lane->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_api.multi_setopt(lane->multi, CURLMOPT_SOCKETDATA, lane);
	curl_api.multi_setopt(lane->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_api.multi_setopt(lane->multi, CURLMOPT_TIMERDATA, lane);
	/* Keep a connection per call that may be in flight: curl's default
	 * cache is small and would close and reopen connections under load. */
	curl_api.multi_setopt(lane->multi, CURLMOPT_MAXCONNECTS, max_connections);
	if (pthread_create(&lane->thread, NULL, upstream_main, lane) != 0)
		return -1;
	lane->thread_started = true;
	return 0;
}

struct upstream *upstream_new(const struct config *cfg, char *error, size_t error_size)
{
	struct upstream *up = calloc(1, sizeof(*up));
	size_t started = 0;

	if (up == NULL) {
		snprintf(error, error_size, "upstream: %s", strerror(errno));
		return NULL;
	}
	up->cfg = cfg;
	up->replica_count = cfg->service_a_count;
	for (size_t i = 0; i < up->replica_count; i++) {
		up->replicas[i].url = &cfg->service_a[i];
		breaker_init(&up->replicas[i].breaker, cfg->breaker_failures, cfg->breaker_open_ms);
	}
	pthread_mutex_init(&up->breakers_lock, NULL);
	if (curl_api_load(error, error_size) < 0) {
		pthread_mutex_destroy(&up->breakers_lock);
		free(up);
		return NULL;
	}
	/* No TLS and no signals: B only speaks plain HTTP to A. */
	if (curl_api.global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
		snprintf(error, error_size, "upstream: curl_global_init failed");
		pthread_mutex_destroy(&up->breakers_lock);
		free(up);
		return NULL;
	}
	/* As many lanes as HTTP worker threads. */
	up->lane_count = cfg->threads < 1 ? 1 : cfg->threads > LANES_MAX ? LANES_MAX : cfg->threads;
	up->lanes = calloc(up->lane_count, sizeof(*up->lanes));
	if (up->lanes == NULL) {
		snprintf(error, error_size, "upstream: %s", strerror(errno));
		goto fail;
	}
	for (; started < up->lane_count; started++) {
		up->lanes[started].epoll_fd = up->lanes[started].wake_fd = -1;
		if (lane_start(&up->lanes[started], up,
			       (long)(cfg->max_inflight / up->lane_count + 1)) < 0) {
			snprintf(error, error_size, "upstream: starting a lane: %s", strerror(errno));
			started++; /* this one is half set up: lane_finish() cleans it */
			goto fail;
		}
	}
	metrics_enable_upstream(render_gauges, up);
	return up;
fail:
	for (size_t i = 0; i < started; i++)
		lane_finish(&up->lanes[i]);
	free(up->lanes);
	curl_api.global_cleanup();
	pthread_mutex_destroy(&up->breakers_lock);
	free(up);
	return NULL;
}

void upstream_free(struct upstream *up)
{
	atomic_store(&up->abandoned, true);
	for (size_t i = 0; i < up->lane_count; i++)
		lane_finish(&up->lanes[i]);
	free(up->lanes);
	pthread_mutex_destroy(&up->breakers_lock);
	curl_api.global_cleanup();
	free(up);
}
