/* upstream_replicas.c - which replica of A a call tries, under one lock over their breakers. */
#include "upstream_replicas.h"

void upstream_replicas_init(struct upstream_replicas *r, const struct config *cfg)
{
	pthread_mutex_init(&r->lock, NULL);
	atomic_init(&r->next, 0);
	r->count = cfg->service_a_count;
	for (size_t i = 0; i < r->count; i++) {
		r->replica[i].url = &cfg->service_a[i];
		breaker_init(&r->replica[i].breaker, cfg->breaker_failures, cfg->breaker_open_ms);
		atomic_init(&r->replica[i].open, false);
	}
}

void upstream_replicas_finish(struct upstream_replicas *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* Under r->lock. */
static bool replica_allow(struct upstream_replicas *r, size_t index, uint64_t now_ms)
{
	struct breaker *b = &r->replica[index].breaker;

	if (!breaker_allow(b, now_ms))
		return false;
	atomic_store_explicit(&r->replica[index].open, breaker_is_open(b), memory_order_relaxed);
	return true;
}

int upstream_replicas_choose(struct upstream_replicas *r, int failed, uint64_t now_ms)
{
	size_t n = r->count;
	int chosen = -1;

	pthread_mutex_lock(&r->lock);
	for (size_t tried = 0; tried < n && chosen < 0; tried++) {
		size_t index;

		if (failed < 0)
			index = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed) % n;
		else if (n == 1)
			index = (size_t)failed;
		else if (tried == n - 1)
			break; /* every replica but the failed one was looked at */
		else
			index = ((size_t)failed + 1 + tried) % n;
		if (replica_allow(r, index, now_ms))
			chosen = (int)index;
	}
	pthread_mutex_unlock(&r->lock);
	return chosen;
}

void upstream_replicas_record(struct upstream_replicas *r, size_t index, bool success,
			      uint64_t now_ms)
{
	struct breaker *b = &r->replica[index].breaker;

	pthread_mutex_lock(&r->lock);
	breaker_record(b, success, now_ms);
	atomic_store_explicit(&r->replica[index].open, breaker_is_open(b), memory_order_relaxed);
	pthread_mutex_unlock(&r->lock);
}

void upstream_replicas_cancel(struct upstream_replicas *r, size_t index)
{
	pthread_mutex_lock(&r->lock);
	breaker_cancel(&r->replica[index].breaker);
	pthread_mutex_unlock(&r->lock);
}

size_t upstream_replicas_peek(struct upstream_replicas *r)
{
	return atomic_load_explicit(&r->next, memory_order_relaxed) % r->count;
}

bool upstream_replicas_open(struct upstream_replicas *r, size_t index)
{
	return atomic_load_explicit(&r->replica[index].open, memory_order_relaxed);
}
