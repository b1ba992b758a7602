/* The bounded memory of cache/memo.h: a fixed array scanned under its lock. A few hundred
 * entries at most (instances too big for the cache, failures of the last seconds), so a scan
 * costs less than the LMDB lookup that precedes it on every getattr. */
#include "cache/memo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int memo_init(struct memo *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	m->v = calloc(cap, sizeof(*m->v));
	if (!m->v)
		return -ENOMEM;
	m->cap = cap;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void memo_release(struct memo *m)
{
	if (!m->v)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->v);
	m->v = NULL;
}

/* Called with m->lock held. */
static struct memo_entry *find(struct memo *m, const char *key, size_t len)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct memo_entry *e = &m->v[i];
		size_t j = len;

		if (e->len != len)
			continue;
		while (j > 0 && e->key[j - 1] == key[j - 1])
			j--;
		if (j == 0)
			return &m->v[i];
	}
	return NULL;
}

/* The entry for @key, found or taken (the oldest gives way). Called with m->lock held. */
static struct memo_entry *slot(struct memo *m, const char *key, size_t len)
{
	struct memo_entry *e = find(m, key, len);

	if (!e && m->n < m->cap) {
		e = &m->v[m->n++];
	} else if (!e) {
		e = &m->v[m->next];
		m->next = (m->next + 1) % m->cap;
	}
	memcpy(e->key, key, len + 1);
	e->len = len;
	return e;
}

void memo_put(struct memo *m, const char *key, uint64_t value, int err, int64_t ttl_ms)
{
	size_t len = strlen(key);
	struct memo_entry *e;

	if (len >= MEMO_KEY_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	e = slot(m, key, len);
	e->value = value;
	e->err = err;
	e->until_ms = ttl_ms > 0 ? now_ms() + ttl_ms : 0;
	pthread_mutex_unlock(&m->lock);
}

bool memo_get(struct memo *m, const char *key, uint64_t *value, int *err)
{
	struct memo_entry *e;
	bool found = false;

	pthread_mutex_lock(&m->lock);
	e = m->n ? find(m, key, strlen(key)) : NULL;
	if (e && (!e->until_ms || now_ms() < e->until_ms)) {
		found = true;
		if (value)
			*value = e->value;
		if (err)
			*err = e->err;
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

void memo_drop(struct memo *m, const char *key)
{
	struct memo_entry *e;

	pthread_mutex_lock(&m->lock);
	e = m->n ? find(m, key, strlen(key)) : NULL;
	if (e) {
		e->key[0] = '\0'; /* no UID is empty: the slot matches nothing until reused */
		e->len = 0;
	}
	pthread_mutex_unlock(&m->lock);
}
