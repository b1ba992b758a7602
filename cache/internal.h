/* Shared by the files of cache/ only: the cache's state, single-flight records and the
 * verifying sink. Nothing outside cache/ includes this.
 *
 * Threads: an open() runs on its FUSE worker thread: store lookup, then its flight (leading
 * the single-instance transfer itself, or waiting); a series prefetch runs on one of at most
 * PREFETCH_WORKERS_MAX pool threads (prefetch.c), each batch of it written by a short-lived
 * committer thread that the worker joins. Locks: c->lock (flights, queue, pool) is taken
 * before the store's lock (store_has_blob under c->lock) and never held across network I/O;
 * the memo locks and the store's lock are innermost. */
#ifndef TROLLEY_CACHE_INTERNAL_H
#define TROLLEY_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "cache/cache.h"
#include "cache/memo.h"

#define SOP_MAX 65

/* One transfer in progress for one instance; others who want it wait on it. */
struct flight {
	char sop[SOP_MAX];
	bool done;
	int err; /* -EAGAIN: the series transfer ended without it; try alone */
	int fd;	 /* when the instance could not be stored: its temporary file, else -1 */
	uint64_t size;
	int refs;
	pthread_cond_t cond;
	struct flight *next;
};

/* A background transfer of a whole series (prefetch=series). */
struct prefetch_job {
	struct cache *cache;
	char study[SOP_MAX], series[SOP_MAX];
	char **members;	 /* SOPInstanceUIDs it delivers (their flights are its own) */
	bool *queued;	 /* checked and handed on to a commit (the transfer's thread only) */
	bool *delivered; /* committed or failed (the committer's; read once it is joined) */
	size_t n;
	struct store_put pending[16]; /* checked, waiting for one commit together */
	size_t npending;
	uint64_t pending_bytes;
	struct store_put committing[16]; /* the batch the committer thread is writing */
	size_t ncommitting;
	pthread_t committer;
	bool committer_running;
	bool claimed; /* its members' flights are made (they are its own until delivered) */
	struct prefetch_job *next; /* in c->queue or c->running */
};

/* Prefetch workers: at most this many series move in the background at once. */
#define PREFETCH_WORKERS_MAX 4

struct cache {
	struct store *store;
	struct searcher *searcher;
	struct downloader *downloader;
	struct cache_config cfg;
	pthread_mutex_t lock; /* guards flights, the prefetch queue and pool, stopping */
	struct flight *flights;
	struct prefetch_job *queue, *running; /* waiting (oldest first), and being fetched */
	size_t nqueued;
	pthread_cond_t work; /* a job was queued, or stopping */
	pthread_t workers[PREFETCH_WORKERS_MAX];
	size_t nworkers, max_workers, idle;
	struct memo failed_series; /* series whose prefetch failed lately: not again yet */
	bool stopping;
	struct memo sizes;	  /* exact sizes of instances served from temporary files */
	struct memo failures;	  /* instances whose fetch failed for good, for a few seconds */
	struct cache_stats stats; /* updated with atomics */
	/* Answers stored at or before this time are expired (cache_forget_all); 0: not read
	 * from the store yet. Atomic. */
	int64_t forgot_at;
};

#define STAT_ADD(c, field, n) __atomic_add_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)
#define STAT_SUB(c, field, n) __atomic_sub_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)

/* Flights; all called with c->lock held. */
struct flight *flight_find(struct cache *c, const char *sop);
/** A new flight for @sop, linked, with one reference (the leader's). NULL on ENOMEM. */
struct flight *flight_new(struct cache *c, const char *sop);
/** Record the outcome, unlink it and wake the waiters. */
void flight_finish(struct cache *c, struct flight *f, int err);
void flight_put(struct flight *f);

/*
 * The sink downloads stream into: one anonymous temporary file per instance, its head checked
 * when the instance ends, then copied into the store. What is kept is decided by the owner.
 */
struct fetch_sink {
	struct cache *cache;
	/* 0: keep this instance; 1: skip it quietly; -EIO: the reply is wrong (logged here). */
	int (*check)(struct fetch_sink *s, const char *uid);
	/* An instance was checked and stored (err 0), or could not be stored (err < 0); with
	 * -ENOSPC, *fd is its temporary file, which the callee may take (set to -1). */
	void (*stored)(struct fetch_sink *s, const char *uid, int err, int *fd, uint64_t size);
	/* Optional, instead of storing at once: take the checked instance's file (@fd is then
	 * the callee's) to store it later in a batch. */
	int (*defer)(struct fetch_sink *s, const char *uid, int fd, uint64_t size);
	void *owner;
	int fd;
	uint64_t size;
	unsigned char *head; /* first PART10_HEAD_MAX bytes, to check */
	size_t head_len;
};

/** Set up @s (the owner sets check, stored and owner). @return 0 or -ENOMEM. */
int fetch_sink_init(struct fetch_sink *s, struct cache *c);
/** Drop a part in progress and free @s's buffers. */
void fetch_sink_release(struct fetch_sink *s);
extern const struct sink_ops fetch_sink_ops;

/** Queue a background transfer of the series of @ref for those @siblings that are neither
 * stored nor in flight, for the worker pool (started here as needed). Called with c->lock
 * held. */
void prefetch_start(struct cache *c, const struct instance_ref *ref, const char *const *siblings,
		    size_t nsiblings);
/** Stop the workers (each ends its transfer at once), join them and drop what is queued
 * (c->lock not held). */
void prefetch_stop_all(struct cache *c);

#endif
