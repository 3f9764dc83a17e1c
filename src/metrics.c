/* metrics.c - request counters and histograms, and the Prometheus text of every source. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "version.h"

#define SHARDS 16  /* threads spread their counting over this many copies */

/* The status codes echosvc answers with; anything else counts as "other". */
static const unsigned codes[] = {200, 400, 404, 405, 408, 414, 500, 502, 503, 504};
#define CODES (sizeof(codes) / sizeof(codes[0]))

/* Upper bounds in seconds; 0.5 ms to 5 s as operators expect of an echo. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				0.1, 0.25, 0.5, 1, 2.5, 5};
#define BUCKETS (sizeof(bounds) / sizeof(bounds[0]))

/*
 * One shard per group of threads, on its own cache lines, so that counting
 * never takes a lock and threads rarely write the same line. A scrape sums
 * the shards; each value is read atomically, so counters never go back.
 */
struct shard {
	_Alignas(64) atomic_uint_fast64_t requests[METRICS_ENDPOINTS_MAX][CODES + 1];
	atomic_uint_fast64_t buckets[METRICS_ENDPOINTS_MAX][BUCKETS]; /* not cumulative */
	atomic_uint_fast64_t count[METRICS_ENDPOINTS_MAX];
	atomic_uint_fast64_t sum_ns[METRICS_ENDPOINTS_MAX];
};

static struct shard shards[SHARDS];
static atomic_uint next_shard;
static _Thread_local struct shard *my_shard;

static const char *service_name = "?";
static const char *endpoint_names[METRICS_ENDPOINTS_MAX];
static size_t endpoint_count;
static double start_time;

#define SOURCES_MAX 4
static struct {
	metrics_source *render;
	void *arg;
} sources[SOURCES_MAX];
static size_t source_count;

void metrics_init(const char *service, const char *const *endpoints, size_t count)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	start_time = (double)now.tv_sec + (double)now.tv_usec / 1e6;
	service_name = service;
	endpoint_count = count < METRICS_ENDPOINTS_MAX ? count : METRICS_ENDPOINTS_MAX;
	for (size_t i = 0; i < endpoint_count; i++)
		endpoint_names[i] = endpoints[i];
}

int metrics_add_source(metrics_source *source, void *arg)
{
	if (source_count == SOURCES_MAX)
		return -1;
	sources[source_count].render = source;
	sources[source_count].arg = arg;
	source_count++;
	return 0;
}

const char *metrics_service(void)
{
	return service_name;
}

static struct shard *shard_get(void)
{
	if (my_shard == NULL)
		my_shard = &shards[atomic_fetch_add(&next_shard, 1) % SHARDS];
	return my_shard;
}

void metrics_request_observe(size_t endpoint, unsigned code, uint64_t elapsed_ns)
{
	struct shard *s = shard_get();
	size_t code_index = CODES, bucket = 0;
	double seconds = (double)elapsed_ns / 1e9;

	if (endpoint >= endpoint_count)
		endpoint = 0;
	for (size_t i = 0; i < CODES; i++)
		if (codes[i] == code)
			code_index = i;
	while (bucket < BUCKETS && seconds > bounds[bucket])
		bucket++;
	atomic_fetch_add_explicit(&s->requests[endpoint][code_index], 1, memory_order_relaxed);
	if (bucket < BUCKETS)
		atomic_fetch_add_explicit(&s->buckets[endpoint][bucket], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count[endpoint], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_ns[endpoint], elapsed_ns, memory_order_relaxed);
}

/* Sums one counter over every shard; field points at it in shards[0]. */
static uint64_t sum_shards(atomic_uint_fast64_t *field)
{
	size_t offset = (size_t)((char *)field - (char *)&shards[0]);
	uint64_t total = 0;

	/* the same offset in every shard keeps the counter's alignment; the
	 * cast goes through void * to say so */
	for (size_t s = 0; s < SHARDS; s++)
		total += atomic_load_explicit(
			(atomic_uint_fast64_t *)(void *)((char *)&shards[s] + offset),
			memory_order_relaxed);
	return total;
}

static int render_requests(struct buffer *out)
{
	int rc = 0;

	rc |= buffer_append_str(out,
		"# HELP echosvc_requests_total HTTP requests answered, by endpoint and status code.\n"
		"# TYPE echosvc_requests_total counter\n");
	for (size_t e = 0; e < endpoint_count; e++)
		for (size_t c = 0; c <= CODES; c++) {
			uint64_t n = sum_shards(&shards[0].requests[e][c]);
			char code[8];

			if (n == 0)
				continue; /* label sets appear once used, as client libraries do */
			if (c < CODES)
				snprintf(code, sizeof(code), "%u", codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			rc |= buffer_printf(out,
				"echosvc_requests_total{service=\"%s\",endpoint=\"%s\",code=\"%s\"} %llu\n",
				service_name, endpoint_names[e], code, (unsigned long long)n);
		}
	rc |= buffer_append_str(out,
		"# HELP echosvc_request_duration_seconds Time from request line to answer.\n"
		"# TYPE echosvc_request_duration_seconds histogram\n");
	for (size_t e = 0; e < endpoint_count; e++) {
		uint64_t count = sum_shards(&shards[0].count[e]), cumulative = 0;
		uint64_t sum_ns = sum_shards(&shards[0].sum_ns[e]);

		for (size_t b = 0; b < BUCKETS; b++) {
			cumulative += sum_shards(&shards[0].buckets[e][b]);
			rc |= buffer_printf(out,
				"echosvc_request_duration_seconds_bucket{service=\"%s\",endpoint=\"%s\",le=\"%g\"} %llu\n",
				service_name, endpoint_names[e], bounds[b],
				(unsigned long long)cumulative);
		}
		/* +Inf is the count: read once, so the buckets never exceed it
		 * by more than the requests counted meanwhile. */
		if (count < cumulative)
			count = cumulative;
		rc |= buffer_printf(out,
			"echosvc_request_duration_seconds_bucket{service=\"%s\",endpoint=\"%s\",le=\"+Inf\"} %llu\n"
			"echosvc_request_duration_seconds_sum{service=\"%s\",endpoint=\"%s\"} %.9f\n"
			"echosvc_request_duration_seconds_count{service=\"%s\",endpoint=\"%s\"} %llu\n",
			service_name, endpoint_names[e], (unsigned long long)count, service_name,
			endpoint_names[e], (double)sum_ns / 1e9, service_name, endpoint_names[e],
			(unsigned long long)count);
	}
	return rc;
}

int metrics_render(struct buffer *out)
{
	int rc = render_requests(out);

	for (size_t i = 0; i < source_count; i++)
		rc |= sources[i].render(out, sources[i].arg);
	rc |= buffer_printf(out,
		"# HELP echosvc_build_info Version of the running echosvc.\n"
		"# TYPE echosvc_build_info gauge\n"
		"echosvc_build_info{service=\"%s\",version=\"%s\"} 1\n"
		"# HELP process_start_time_seconds Start time of the process since the epoch.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds{service=\"%s\"} %.3f\n",
		service_name, ECHOSVC_VERSION, service_name, start_time);
	return rc < 0 ? -1 : 0;
}
