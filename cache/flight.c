/* The table of flights: a hash of SOPInstanceUID to flight, chained, doubled when it holds
 * more flights than buckets. A series job claims up to a whole series at once (thousands of
 * instances), and every open and every delivered instance looks its flight up under the
 * cache's lock: a list scanned with strcmp made each of those O(flights). See flight.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/flight.h"
#include "cache/store.h"
#include "core/hash.h"

/* Enough for a series of a few hundred instances without growing. */
#define FLIGHT_BUCKETS_MIN 256

static size_t flight_hash(const char *sop)
{
	uint64_t h = hash_fnv64_str(HASH_FNV64_INIT, sop);

	return (size_t)(h ^ (h >> 32));
}

int flight_table_init(struct flight_table *t)
{
	t->buckets = calloc(FLIGHT_BUCKETS_MIN, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->nbuckets = FLIGHT_BUCKETS_MIN;
	t->n = 0;
	return 0;
}

void flight_table_release(struct flight_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
}

struct flight *flight_find(struct flight_table *t, const char *sop)
{
	struct flight *f = t->buckets[flight_hash(sop) & (t->nbuckets - 1)];

	while (f && strcmp(f->sop, sop) != 0)
		f = f->next;
	return f;
}

/* Twice the buckets, when the table holds more flights than buckets: a few times in a
 * mount's life. Without memory the table stays as it is (longer chains, still right). */
static void flight_grow(struct flight_table *t)
{
	size_t n = t->nbuckets * 2;
	struct flight **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->buckets[i]) {
			struct flight *f = t->buckets[i];
			size_t k = flight_hash(f->sop) & (n - 1);

			t->buckets[i] = f->next;
			f->next = b[k];
			b[k] = f;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

struct flight *flight_alloc(const char *sop)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	snprintf(f->sop, sizeof(f->sop), "%s", sop);
	f->outcome = FLIGHT_PENDING;
	f->fd = -1;
	f->refs = 1;
	pthread_cond_init(&f->cond, NULL);
	return f;
}

void flight_add(struct flight_table *t, struct flight *f)
{
	size_t k;

	if (t->n >= t->nbuckets)
		flight_grow(t);
	k = flight_hash(f->sop) & (t->nbuckets - 1);
	f->next = t->buckets[k];
	t->buckets[k] = f;
	t->n++;
}

struct flight *flight_new(struct flight_table *t, const char *sop)
{
	struct flight *f = flight_alloc(sop);

	if (f)
		flight_add(t, f);
	return f;
}

void flight_finish(struct flight_table *t, struct flight *f, enum flight_outcome outcome, int err)
{
	struct flight **pp = &t->buckets[flight_hash(f->sop) & (t->nbuckets - 1)];

	f->outcome = outcome;
	f->err = outcome == FLIGHT_FAILED ? err : 0;
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			t->n--;
			break;
		}
	}
	f->next = NULL;
	pthread_cond_broadcast(&f->cond);
}

void flight_put(struct flight *f)
{
	if (--f->refs > 0)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->pinned)
		store_unpin(f->pinned, f->sop);
	pthread_cond_destroy(&f->cond);
	free(f);
}
