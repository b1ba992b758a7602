/* A small, bounded memory of recent facts about instances and series, by UID: the exact size
 * of an instance served from its temporary file (not kept in the store), a fetch that failed
 * in a way that asking again at once would repeat, a series whose prefetch failed. Internal to
 * cache/. Any thread may call it: it has its own lock, held for a table scan only. */
#ifndef TROLLEY_CACHE_MEMO_H
#define TROLLEY_CACHE_MEMO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/uid.h"

#define MEMO_KEY_MAX UID_MAX /* the keys are UIDs */

struct memo_entry {
	char key[MEMO_KEY_MAX];
	size_t len; /* of key: compared first, then the key from its end (UIDs share prefixes) */
	uint64_t value;
	int err;
	int64_t until_ms; /* monotonic; 0: until it is pushed out */
};

struct memo {
	pthread_mutex_t lock;
	struct memo_entry *v;
	size_t cap, n, next; /* next: the slot the next new key takes once full (oldest first) */
};

/** Room for @cap facts; when full, the oldest gives way. @return 0 or -ENOMEM. */
int memo_init(struct memo *m, size_t cap);
void memo_release(struct memo *m);
/** Remember @value and @err under @key for @ttl_ms milliseconds (0: as long as room allows),
 * replacing what was known of @key. A key too long to keep is not remembered. */
void memo_put(struct memo *m, const char *key, uint64_t value, int err, int64_t ttl_ms);
/** What is remembered of @key, if it has not expired. @value and @err may be NULL. */
bool memo_get(struct memo *m, const char *key, uint64_t *value, int *err);
/** Forget @key. */
void memo_drop(struct memo *m, const char *key);

#endif
