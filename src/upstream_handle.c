/* upstream_handle.c - a curl easy handle for calls to A, its URL object and header list kept. */
#include "upstream_handle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_policy.h"

#define REPLICA_NONE ((size_t)-1)

static const char request_id_name[] = "X-Request-Id: ";
static const char traceparent_name[] = "traceparent: ";

struct upstream_handle {
	CURL *easy;
	CURLU *url;                   /* CURLOPT_CURLU: curl reads it at each transfer's start */
	size_t replica;               /* whose endpoint url holds; REPLICA_NONE: none yet */
	struct curl_slist *headers;   /* CURLOPT_HTTPHEADER; NULL: none built yet */
	struct curl_slist *request_id; /* the nodes rewritten in place */
	struct curl_slist *traceparent;
	size_t request_id_len;
	size_t traceparent_len;
	bool tracestate;
};

struct upstream_handle *upstream_handle_new(const struct config *cfg, struct curl_loop *cl,
					    curl_write_callback on_answer)
{
	struct upstream_handle *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->replica = REPLICA_NONE;
	h->easy = curl_easy_init();
	h->url = curl_url();
	if (h->easy == NULL || h->url == NULL) {
		upstream_handle_free(h);
		return NULL;
	}
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
	curl_easy_setopt(h->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)UPSTREAM_ANSWER_MAX);
	/* A's answers are small: a 4 KiB receive buffer instead of 16 KiB
	 * keeps a thousand parked calls within B's memory budget. */
	curl_easy_setopt(h->easy, CURLOPT_BUFFERSIZE, 4096L);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(h->easy, CURLOPT_CURLU, h->url);
	curl_loop_prepare(cl, h->easy);
	/* A is called directly: an http_proxy in B's environment must not
	 * reroute it (and curl then skips reading the environment per call). */
	curl_easy_setopt(h->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(h->easy, CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* https:// replicas: curl verifies the chain and the host name (its
	 * defaults), against --service-a-ca or the system store, and keeps
	 * TLS sessions and connections for reuse. */
	curl_easy_setopt(h->easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* libcurl-gnutls reads its CA files for every new connection, on this
	 * loop's thread: one file, never also the ~300 of /etc/ssl/certs (its
	 * built-in CURLOPT_CAPATH), which stalled the loop ~0.1 s a connection */
	curl_easy_setopt(h->easy, CURLOPT_CAPATH, NULL);
	if (cfg->service_a_ca[0] != '\0')
		curl_easy_setopt(h->easy, CURLOPT_CAINFO, cfg->service_a_ca);
	if (cfg->service_a_cert[0] != '\0') {
		curl_easy_setopt(h->easy, CURLOPT_SSLCERT, cfg->service_a_cert);
		curl_easy_setopt(h->easy, CURLOPT_SSLKEY, cfg->service_a_key);
	}
	return h;
}

void upstream_handle_free(struct upstream_handle *h)
{
	if (h == NULL)
		return;
	/* the easy handle first: it points at the URL and the list */
	curl_easy_cleanup(h->easy);
	curl_url_cleanup(h->url);
	curl_slist_free_all(h->headers);
	free(h);
}

CURL *upstream_handle_easy(const struct upstream_handle *h)
{
	return h->easy;
}

/* Appends the line name + value (value_len bytes) to *list; returns its
 * node, or NULL when out of memory. */
static struct curl_slist *header_append(struct curl_slist **list, const char *name,
					const char *value, size_t value_len)
{
	char small[sizeof(traceparent_name) + UPSTREAM_REQUEST_ID_MAX + UPSTREAM_TRACEPARENT_MAX];
	size_t name_len = strlen(name);
	char *line = name_len + value_len < sizeof(small) ? small : malloc(name_len + value_len + 1);
	struct curl_slist *grown = NULL, *last;

	if (line == NULL)
		return NULL;
	memcpy(line, name, name_len);
	memcpy(line + name_len, value, value_len);
	line[name_len + value_len] = '\0';
	grown = curl_slist_append(*list, line); /* copies the line */
	if (line != small)
		free(line);
	if (grown == NULL)
		return NULL;
	*list = grown;
	for (last = grown; last->next != NULL; last = last->next)
		;
	return last;
}

/* Builds the header list anew for headers, and hands it to curl. Returns 0
 * or -1 (the handle's list unchanged). */
static int headers_build(struct upstream_handle *h, const struct upstream_headers *headers)
{
	struct curl_slist *list = NULL, *request_id, *traceparent = NULL;

	request_id = header_append(&list, request_id_name, headers->request_id,
				   headers->request_id_len);
	if (request_id == NULL)
		goto fail;
	if (headers->traceparent_len > 0) {
		traceparent = header_append(&list, traceparent_name, headers->traceparent,
					    headers->traceparent_len);
		if (traceparent == NULL)
			goto fail;
	}
	if (headers->tracestate != NULL &&
	    header_append(&list, "tracestate: ", headers->tracestate,
			  strlen(headers->tracestate)) == NULL)
		goto fail;
	/* A reads no Accept header: curl's default one is left out */
	if (header_append(&list, "Accept:", "", 0) == NULL)
		goto fail;
	/* curl keeps a pointer to the list: the old one goes only once replaced */
	curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, list);
	curl_slist_free_all(h->headers);
	h->headers = list;
	h->request_id = request_id;
	h->traceparent = traceparent;
	h->request_id_len = headers->request_id_len;
	h->traceparent_len = headers->traceparent_len;
	h->tracestate = headers->tracestate != NULL;
	return 0;
fail:
	curl_slist_free_all(list);
	return -1;
}

int upstream_handle_aim(struct upstream_handle *h, size_t replica, const char *base,
			const char *query, const struct upstream_headers *headers)
{
	if (h->replica != replica) {
		char endpoint[CONFIG_URL_MAX + sizeof(UPSTREAM_PATH)];

		h->replica = REPLICA_NONE;
		snprintf(endpoint, sizeof(endpoint), "%s%s", base, UPSTREAM_PATH);
		if (curl_url_set(h->url, CURLUPART_URL, endpoint, 0) != CURLUE_OK)
			return -1;
		h->replica = replica;
	}
	if (curl_url_set(h->url, CURLUPART_QUERY, query, 0) != CURLUE_OK)
		return -1;
	/* most calls carry a B-made request id and traceparent, whose lengths
	 * never change: the list stays, only its values are written over */
	if (h->headers != NULL && !h->tracestate && headers->tracestate == NULL &&
	    h->request_id_len == headers->request_id_len &&
	    h->traceparent_len == headers->traceparent_len) {
		memcpy(h->request_id->data + sizeof(request_id_name) - 1, headers->request_id,
		       headers->request_id_len);
		if (headers->traceparent_len > 0)
			memcpy(h->traceparent->data + sizeof(traceparent_name) - 1,
			       headers->traceparent, headers->traceparent_len);
		return 0;
	}
	return headers_build(h, headers);
}

int upstream_headers_copy(struct upstream_headers *headers, const char *request_id,
			  const char *traceparent, const char *tracestate)
{
	size_t len = strnlen(request_id, UPSTREAM_REQUEST_ID_MAX);

	memcpy(headers->request_id, request_id, len);
	headers->request_id[len] = '\0';
	headers->request_id_len = len;
	len = traceparent != NULL ? strnlen(traceparent, UPSTREAM_TRACEPARENT_MAX) : 0;
	if (len > 0)
		memcpy(headers->traceparent, traceparent, len);
	headers->traceparent[len] = '\0';
	headers->traceparent_len = len;
	headers->tracestate = NULL;
	if (tracestate != NULL) {
		headers->tracestate = strdup(tracestate);
		if (headers->tracestate == NULL)
			return -1;
	}
	return 0;
}

void upstream_headers_finish(struct upstream_headers *headers)
{
	free(headers->tracestate);
	headers->tracestate = NULL;
}
