/* ip_limit.c - the process's connections per client address, held against --max-connections-per-ip. */
#include "ip_limit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* a power of two; chains are short: one entry per client address */

/* An address's count; an IPv4 address is kept as its IPv4-mapped IPv6 form,
 * so that a dual-stack socket counts one client once. */
struct entry {
	struct entry *next;
	unsigned char key[16];
	unsigned count;
};

struct ip_limit {
	pthread_mutex_t lock;
	unsigned per_ip;
	struct entry *buckets[BUCKETS];
};

struct ip_limit *ip_limit_new(unsigned per_ip)
{
	struct ip_limit *limit = calloc(1, sizeof(*limit));

	if (limit == NULL)
		return NULL;
	pthread_mutex_init(&limit->lock, NULL);
	limit->per_ip = per_ip;
	return limit;
}

void ip_limit_free(struct ip_limit *limit)
{
	if (limit == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		while (limit->buckets[i] != NULL) {
			struct entry *e = limit->buckets[i];

			limit->buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&limit->lock);
	free(limit);
}

/* addr's key; false for an address family that has none. */
static bool key_of(const struct sockaddr *addr, unsigned char key[16])
{
	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return true;
	}
	if (addr->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* FNV-1a over the key. */
static size_t bucket_of(const unsigned char key[16])
{
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < 16; i++)
		hash = (hash ^ key[i]) * 16777619u;
	return hash & (BUCKETS - 1);
}

/* The entry of key in its bucket, with the link that points to it. */
static struct entry **find(struct ip_limit *limit, const unsigned char key[16])
{
	struct entry **link = &limit->buckets[bucket_of(key)];

	while (*link != NULL && memcmp((*link)->key, key, 16) != 0)
		link = &(*link)->next;
	return link;
}

bool ip_limit_take(struct ip_limit *limit, const struct sockaddr *addr)
{
	unsigned char key[16];
	struct entry **link, *e;
	bool admitted = true;

	if (limit == NULL || limit->per_ip == 0 || !key_of(addr, key))
		return true;
	pthread_mutex_lock(&limit->lock);
	link = find(limit, key);
	e = *link;
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e != NULL) {
			memcpy(e->key, key, 16);
			*link = e;
		}
	}
	if (e != NULL) {
		admitted = e->count < limit->per_ip;
		if (admitted)
			e->count++;
	}
	pthread_mutex_unlock(&limit->lock);
	return admitted;
}

void ip_limit_give(struct ip_limit *limit, const struct sockaddr *addr)
{
	unsigned char key[16];
	struct entry **link, *e;

	if (limit == NULL || limit->per_ip == 0 || !key_of(addr, key))
		return;
	pthread_mutex_lock(&limit->lock);
	link = find(limit, key);
	e = *link;
	if (e != NULL && e->count > 0 && --e->count == 0) {
		*link = e->next; /* an address with no connection is forgotten */
		free(e);
	}
	pthread_mutex_unlock(&limit->lock);
}
