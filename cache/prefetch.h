/* The transfer engine (prefetch.c): the queue of series transfers, the pool of workers that
 * run them and the committer threads that write their batches into the store. Opens
 * (cache/open.c) and read-ahead (cache/ahead.c) call it; it calls only what is below it (the
 * flights, the store, the downloader) and never back up: read-ahead's own work on a worker
 * (naming the next series, reading metadata ahead) is a job's prepare step, which read-ahead
 * hands in with the job.
 *
 * Threads (the shape of rclone's vfscache downloaders): a job is queued by an open on its FUSE
 * thread or by read-ahead, run on one of at most PREFETCH_WORKERS_MAX worker threads, and each
 * of its batches is written by a short-lived committer thread that the worker joins. Locks:
 * the functions marked "lock held" are called with c->lock held; the others take it
 * themselves, briefly, and never across network I/O, a store transaction or an allocation per
 * member. */
#ifndef TROLLEY_CACHE_PREFETCH_H
#define TROLLEY_CACHE_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cache/flight.h"
#include "cache/store.h"

struct cache;
struct instance_ref;

/* What a queued transfer is for, in the order workers take them: a reader blocked in open()
 * waits for it (the opener joined its series' stream), then the rest of a series being read,
 * then read-ahead of the next series of a study walked in order. */
enum prefetch_class { PREFETCH_OPEN = 0, PREFETCH_SERIES, PREFETCH_AHEAD };

/* What a job's prepare step found (on its worker, c->lock not held). */
enum prefetch_prepared {
	PREPARED_TRANSFER, /* it named its series and claimed its members: run the transfer */
	PREPARED_DONE,	   /* nothing (left) to transfer: the job ends */
};

struct prefetch_job;
typedef enum prefetch_prepared (*prefetch_prepare_fn)(struct cache *c, struct prefetch_job *j);

/* A background transfer of a whole series (prefetch=series). */
struct prefetch_job {
	/* Write once, before it is queued (or by its prepare step, on its worker). */
	struct cache *cache;
	char study[UID_MAX], series[UID_MAX];
	char after[UID_MAX];	     /* read-ahead: the walked series it follows */
	char meta_series[UID_MAX];   /* for its prepare step's owner */
	prefetch_prepare_fn prepare; /* NULL: its members are known when it is queued */
	/* Members: the SOPInstanceUIDs it delivers; flights[i] is members[i]'s flight, made
	 * before it is claimed and handed to the table at the claim (NULL then). */
	char **members;
	struct flight **flights;
	size_t n;
	size_t nspare; /* members given up, after n, freed with the lock let go */
	ssize_t own;   /* the index of the member its opener joined for, or -1 */
	/* The worker's (the transfer's thread) only. */
	bool *queued;		      /* checked and handed on to a commit */
	bool flushed;		      /* a batch was handed to the committer */
	struct store_put pending[16]; /* checked, waiting for one commit together */
	size_t npending;
	uint64_t pending_bytes;
	/* The committer's while it runs; read by the worker once it is joined. */
	bool *delivered; /* committed or failed */
	struct store_put committing[16];
	size_t ncommitting;
	pthread_t committer;
	bool committer_running;
	/* Under c->lock. */
	enum prefetch_class cls;
	bool claimed;	/* its members' flights are in the table (its own until delivered) */
	bool naming;	/* its prepare step runs: opens in its series wait for it to end */
	bool streaming; /* its transfer is under way: read-ahead waits for its end */
	struct prefetch_job *next; /* in c->queue or c->running */
	/* Atomic. */
	bool cancelled; /* the walk went elsewhere: end the transfer */
};

/* What became of a series an opener handed in. */
enum prefetch_submit {
	PREFETCH_REFUSED, /* not queued: the caller frees the job (prefetch_job_free) */
	PREFETCH_QUEUED,  /* queued: the engine's now */
	PREFETCH_JOINED,  /* queued, claimed at once, and the opener's own instance is in it: its
			   * flight is the job's, and the opener waits on it */
};

/* For opens (cache/open.c). */
/** Whether a series transfer of @series may start now: none queued or running, none failed
 * lately; with @join, a worker free to start it at once. A queued read-ahead of it is what is
 * read now (PREFETCH_SERIES from here on). Lock held. */
bool prefetch_may_start(struct cache *c, const char *series, bool join);
/** A job for the series of @ref, of those @siblings (and @ref's own, as member own) that are
 * not stored, their flights made; NULL if none is left or without memory. Lock not held: the
 * store is asked once per sibling. */
struct prefetch_job *prefetch_job_new(struct cache *c, const struct instance_ref *ref,
				      const char *const *siblings, size_t nsiblings);
/** Queue @j (from prefetch_job_new). With @join, only if a worker starts it at once, and
 * with the opener's own instance in it; without, its own is dropped from it (the opener
 * fetches that itself). Lock held. Under the lock, a job only links its members' flights into
 * the table; it frees what it gave up on its worker, with the lock let go. */
enum prefetch_submit prefetch_submit(struct cache *c, struct prefetch_job *j, bool join);
/** Free a job that is in no list and owns no flight in the table. No lock needed. */
void prefetch_job_free(struct prefetch_job *j);
/** Whether a transfer of @series is queued or running. Lock held. */
bool prefetch_series_is_busy(struct cache *c, const char *series);
/** Wait while read-ahead of @series is naming its members (its prepare step), so that an open
 * in it waits for its stream instead of fetching alone what the stream sends again; ends when
 * the opener gives up (core/cancel.h). Lock held. */
void prefetch_wait_named(struct cache *c, const char *series);
/** An open fetches its instance alone (begin) or is done (end): read-ahead waits while any
 * does, so that a reader blocked in open() goes first. Lock held. */
void prefetch_open_begin(struct cache *c);
void prefetch_open_end(struct cache *c);

/* For read-ahead (cache/ahead.c). */
/** Queue a job of class PREFETCH_AHEAD whose series and members its @prepare step finds on
 * its worker; @after: the walked series it follows (no read-ahead if that one failed to stay
 * in the cache); @meta_series: for @prepare. Lock held. @return whether it was queued. */
bool prefetch_queue_prepared(struct cache *c, const char *study, const char *after,
			     const char *meta_series, prefetch_prepare_fn prepare);
/** From a prepare step: name @j's series @series, unless a transfer of it is queued or
 * running. @return 0 or -EBUSY. Lock not held. */
int prefetch_name(struct cache *c, struct prefetch_job *j, const char *series);
/** From a prepare step: @j's members are @uids (borrowed), less those stored. Lock not held.
 * @return 0 or -ENOMEM. */
int prefetch_set_members(struct cache *c, struct prefetch_job *j, const char *const *uids,
			 size_t n);
/** From a prepare step: claim @j's members' flights (those not in flight already). Lock not
 * held. @return how many it claimed; 0 if the job was cancelled or the engine stops. */
size_t prefetch_claim(struct cache *c, struct prefetch_job *j);
/** Whether @j was cancelled, or the engine stops. No lock needed. */
bool prefetch_job_cancelled(struct cache *c, const struct prefetch_job *j);
/** The walk went elsewhere: drop queued read-ahead, end the running one. Lock held. */
void prefetch_cancel_ahead(struct cache *c);
/** The walk reached @series: a read-ahead of it running is what is read now. Lock held. */
void prefetch_promote(struct cache *c, const char *series);

/** Stop the workers (each ends its transfer at once), join them and drop what is queued.
 * Lock not held. */
void prefetch_stop_all(struct cache *c);

#endif
