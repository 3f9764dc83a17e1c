/* metrics.c - request counters and histograms, and the Prometheus text of every source. */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "process_metrics.h"
#include "version.h"

#define SHARDS 16  /* threads spread their counting over this many copies */

/* The status codes echosvc answers with, and one more (the injected
 * error's); anything else counts as "other". */
#define CODES 11
static unsigned codes[CODES + 1] = {200, 400, 404, 405, 408, 414, 431, 500, 502, 503, 504};
static size_t code_count = CODES;

/* Upper bounds in seconds; 0.5 ms to 5 s as operators expect of an echo. */
static const double bounds[METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					       0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

static const char *const method_names[METRICS_METHODS] = {"GET", "HEAD", "other"};
static const char *const fault_names[METRICS_FAULTS] = {"error", "delay"};

/*
 * One shard per group of threads, on its own cache lines, so that counting
 * never takes a lock and threads rarely write the same line. A scrape sums
 * the shards; each value is read atomically, so counters never go back.
 * Index CODES + 1 of a code row is "other".
 */
struct shard {
	_Alignas(64) atomic_uint_fast64_t
		requests[METRICS_HANDLERS_MAX][METRICS_METHODS][CODES + 2];
	struct metrics_histogram duration[METRICS_HANDLERS_MAX];
};

static struct shard shards[SHARDS];
static atomic_uint next_shard;
static _Thread_local struct shard *my_shard;
static atomic_uint_fast64_t faults[METRICS_FAULTS];

static const char *handler_names[METRICS_HANDLERS_MAX];
static size_t handler_count;

#define SOURCES_MAX 8
static struct {
	metrics_source *render;
	void *arg;
} sources[SOURCES_MAX];
static size_t source_count;

void metrics_init(const char *const *handlers, size_t count, unsigned extra_code)
{
	handler_count = count < METRICS_HANDLERS_MAX ? count : METRICS_HANDLERS_MAX;
	for (size_t i = 0; i < handler_count; i++)
		handler_names[i] = handlers[i];
	code_count = CODES;
	for (size_t i = 0; i < CODES; i++)
		if (codes[i] == extra_code)
			extra_code = 0;
	if (extra_code != 0)
		codes[code_count++] = extra_code;
	process_metrics_init();
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

static struct shard *shard_get(void)
{
	if (my_shard == NULL)
		my_shard = &shards[atomic_fetch_add(&next_shard, 1) % SHARDS];
	return my_shard;
}

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t elapsed_ns)
{
	double seconds = (double)elapsed_ns / 1e9;
	size_t bucket = 0;

	while (bucket < METRICS_BUCKETS && seconds > bounds[bucket])
		bucket++;
	if (bucket < METRICS_BUCKETS)
		atomic_fetch_add_explicit(&h->bucket[bucket], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, elapsed_ns, memory_order_relaxed);
}

void metrics_histogram_add(struct metrics_histogram_total *total,
			   const struct metrics_histogram *h)
{
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		total->bucket[b] += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
	total->count += atomic_load_explicit(&h->count, memory_order_relaxed);
	total->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

int metrics_histogram_render(struct buffer *out, const char *name, const char *labels,
			     const struct metrics_histogram_total *total)
{
	const char *comma = labels[0] != '\0' ? "," : "";
	uint64_t cumulative = 0, count = total->count;
	int rc = 0;

	for (size_t b = 0; b < METRICS_BUCKETS; b++) {
		cumulative += total->bucket[b];
		rc |= buffer_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, comma,
				    bounds[b], (unsigned long long)cumulative);
	}
	/* +Inf is the count, read apart from the buckets: never below them */
	if (count < cumulative)
		count = cumulative;
	rc |= buffer_printf(out,
		"%s_bucket{%s%sle=\"+Inf\"} %llu\n%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name,
		labels, comma, (unsigned long long)count, name, labels,
		(double)total->sum_ns / 1e9, name, labels, (unsigned long long)count);
	return rc;
}

void metrics_request_observe(size_t handler, enum metrics_method method, unsigned code,
			     uint64_t elapsed_ns)
{
	struct shard *s = shard_get();
	size_t code_index = CODES + 1;

	if (handler >= handler_count)
		handler = 0;
	for (size_t i = 0; i < code_count; i++)
		if (codes[i] == code)
			code_index = i;
	atomic_fetch_add_explicit(&s->requests[handler][method][code_index], 1,
				  memory_order_relaxed);
	metrics_histogram_observe(&s->duration[handler], elapsed_ns);
}

void metrics_fault_observe(enum metrics_fault kind)
{
	atomic_fetch_add_explicit(&faults[kind], 1, memory_order_relaxed);
}

static int render_requests(struct buffer *out)
{
	int rc = 0;

	rc |= buffer_append_str(out,
		"# HELP echosvc_requests_total HTTP requests answered, by handler, method and status code.\n"
		"# TYPE echosvc_requests_total counter\n");
	for (size_t h = 0; h < handler_count; h++)
		for (size_t m = 0; m < METRICS_METHODS; m++)
			for (size_t c = 0; c < CODES + 2; c++) {
				uint64_t n = 0;
				char code[8];

				for (size_t s = 0; s < SHARDS; s++)
					n += atomic_load_explicit(&shards[s].requests[h][m][c],
								  memory_order_relaxed);
				if (n == 0)
					continue; /* label sets appear once used, as client libraries do */
				if (c < code_count)
					snprintf(code, sizeof(code), "%u", codes[c]);
				else
					snprintf(code, sizeof(code), "other");
				rc |= buffer_printf(out,
					"echosvc_requests_total{handler=\"%s\",method=\"%s\",code=\"%s\"} %llu\n",
					handler_names[h], method_names[m], code,
					(unsigned long long)n);
			}
	rc |= buffer_append_str(out,
		"# HELP echosvc_request_duration_seconds Time from request line to answer.\n"
		"# TYPE echosvc_request_duration_seconds histogram\n");
	for (size_t h = 0; h < handler_count; h++) {
		struct metrics_histogram_total total = {0};
		char labels[64];

		for (size_t s = 0; s < SHARDS; s++)
			metrics_histogram_add(&total, &shards[s].duration[h]);
		snprintf(labels, sizeof(labels), "handler=\"%s\"", handler_names[h]);
		rc |= metrics_histogram_render(out, "echosvc_request_duration_seconds", labels,
					       &total);
	}
	rc |= buffer_append_str(out,
		"# HELP echosvc_faults_injected_total Faults injected on the main route, by kind.\n"
		"# TYPE echosvc_faults_injected_total counter\n");
	for (size_t k = 0; k < METRICS_FAULTS; k++)
		rc |= buffer_printf(out, "echosvc_faults_injected_total{kind=\"%s\"} %llu\n",
				    fault_names[k],
				    (unsigned long long)atomic_load(&faults[k]));
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
		"echosvc_build_info{version=\"%s\"} 1\n",
		ECHOSVC_VERSION);
	rc |= process_metrics_render(out);
	return rc < 0 ? -1 : 0;
}
