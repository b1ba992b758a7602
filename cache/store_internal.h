/* The store's state, shared by store.c (the LMDB environment, records and blobs) and evict.c
 * (the size bound and least-recently-used eviction). Nothing else includes it but the store's unit
 * test, which drives an eviction step by step. */
#ifndef TROLLEY_STORE_INTERNAL_H
#define TROLLEY_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>

#include "cache/store.h"

struct store {
	MDB_env *env;
	MDB_dbi meta, blob, doc;
	MDB_dbi lru; /* SOPInstanceUID -> u64 tick of its last use */
	MDB_dbi age; /* big-endian tick + SOPInstanceUID -> nothing: oldest first */
	char *dir;
	uint64_t limit;	     /* cache_size: bytes of blobs kept at most */
	uint64_t min_free;   /* the floor's rule (store_set_min_free()); 0: none */
	uint64_t meta_limit; /* bytes of query results and documents kept at most */
	bool marked;	     /* cache_dir/dirty is ours: LMDB does not sync each commit */
	bool writemap;	     /* MDB_WRITEMAP: growth is allocated first (store_grow()) */
	uint64_t allocated;  /* the file's bytes allocated on the disk, from 0 (writemap) */
	char *map;	     /* LMDB's map of its data file (map_of_file()), or NULL */
	size_t map_size;

	pthread_mutex_t lock; /* guards what follows */
	uint64_t bytes;	      /* bytes of blobs stored */
	uint64_t meta_bytes;  /* bytes of query results and documents stored */
	uint64_t tick;	      /* the next use's tick */
	uint64_t evictions;
	/* The disk under the write transaction under way (evict_disk_room()): what the blobs
	 * may hold at most, and how much the file may grow in it. */
	uint64_t txn_limit, txn_growth;
	struct store_room room; /* as last measured, for the status */
	char **pinned;		/* open blobs: never evicted (a multiset) */
	size_t npinned, pinned_cap;
	char **touched; /* uses not yet written to "lru"/"age" */
	size_t ntouched, touched_cap;
	/* Blobs the write transaction under way removes: a reader's snapshot still has them until
	 * it commits, so they can no longer be pinned (an open would succeed, then its reads
	 * fail with ENOENT). Cleared when it ends. */
	char **evicting;
	size_t nevicting, evicting_cap;
};

/** LMDB result (positive errno or MDB_*) to a negative errno. */
int store_errno(int rc);

/**
 * At the start of a write transaction: measure the disk under the store (its floor, the free
 * pages inside the file) and set the limits evict_make_room() keeps in it.
 */
void evict_disk_room(struct store *s);

/** Load the usage counters and the tick (at open). @return 0 or -errno. */
int evict_init(struct store *s, MDB_txn *txn);
/** Free the pin and touch lists. */
void evict_release(struct store *s);
/**
 * Inside the write transaction @txn that will add a blob of @size bytes, after @added bytes
 * it already added: record pending uses, then evict least recently used, unpinned blobs until
 * it fits the limit. The bytes and number of blobs removed are added to @freed and @count
 * (which count what this transaction removed so far), for evict_committed().
 * @return 0, -ENOSPC if it cannot fit (bigger than the limit, or all the rest is pinned), or
 * -errno.
 */
int evict_make_room(struct store *s, MDB_txn *txn, uint64_t added, uint64_t size, uint64_t *freed,
		    uint64_t *count);
/** Record in @txn that @sop was just stored (its first use). */
int evict_added(struct store *s, MDB_txn *txn, const char *sop);
/** The transaction committed: count @added bytes in, @freed bytes (@count blobs) out. */
void evict_committed(struct store *s, uint64_t added, uint64_t freed, uint64_t count);
/** The transaction was aborted: what it would have evicted stays. */
void evict_aborted(struct store *s);
/**
 * Inside the write transaction @txn that will put @size bytes under @key in @dbi (the "meta"
 * or "doc" database), replacing what is there: if that passes meta_limit, remove the oldest
 * query results and documents (by the time they were stored) until 3/4 of it is used. Sets
 * @delta to the change of meta_bytes, for evict_meta_committed(). @return 0 or -errno.
 */
int evict_meta_room(struct store *s, MDB_txn *txn, MDB_dbi dbi, const MDB_val *key, size_t size,
		    int64_t *delta);
/** The transaction of evict_meta_room() committed. */
void evict_meta_committed(struct store *s, int64_t delta);

#endif
