/* Shared by the files of cache/ only: the cache's state, read-ahead's entry points for open.c
 * and the verifying sink. Nothing outside cache/ includes this. The threads of the whole
 * process are in README.md ("Threads"); here, the cache's part of them.
 *
 * Who calls whom (nothing calls back up): fs/ and media/ -> open.c (cache_open) -> ahead.c (the walk),
 * prefetch.c (the transfer engine: queue, workers, committers; prefetch.h) and flight.c (the
 * flights, a hash by SOPInstanceUID; flight.h). ahead.c -> prefetch.c, and the cache's own
 * queries and answers (listing.c, query.c). prefetch.c -> flight.c, the store, the sink, the downloader. Read-ahead's
 * work on a worker is the prepare step it hands in with its job (ahead_prepare,
 * ahead_metadata_prepare); the engine knows it only as that function.
 *
 * Threads: an open() runs on its FUSE worker thread: store lookup, the walk (ahead.c), then,
 * for a miss that may start its series' transfer (prefetch_may_start, under c->lock), the
 * series job made with the lock let go (prefetch_job_new), then its flight: leading the
 * single-instance transfer itself, or waiting on the flight's own condition (for another
 * opener, for a series job that claimed it, or for the job it joined as the first instance
 * its stream sends). A series job runs on one of at most PREFETCH_WORKERS_MAX pool threads
 * (prefetch.c), taken from the queue in order of class (a job an opener joined, the rest of a
 * series being read, read-ahead); each batch of it is written by a short-lived committer
 * thread that the worker joins, which finishes the batch's flights. Read-ahead's prepare step
 * (ahead.c) asks its queries on its worker, then the engine waits there (c->work) for the
 * walked stream and for single-instance opens to end, giving its thread back to a more urgent
 * job.
 * Locks: c->lock guards the flight table and each flight's state, the queue, the pool, the
 * walk and stopping; it is never held across network I/O. Under it nothing is done per member
 * of a series but a flight's lookup and link (and, when a job ends, its finish): the store is
 * asked and the flights are allocated before (prefetch_job_new, prefetch_set_members) or by
 * the worker with the lock let go (worker_take), which also frees what a job gave up and the
 * job itself. c->lock is taken before the store's lock (an open's blob_from_store: one pin and
 * one lookup per open; a flight's last reference unpinning its blob) and the memo locks; the
 * memo locks and the store's lock are innermost. c->work is waited on by idle workers, waiting
 * read-ahead and opens waiting for read-ahead to name its members: it is broadcast.
 * Cancel (core/cancel.h): an open's waits (its flight, read-ahead naming, a connection slot)
 * and the transfer it leads end when its thread's token is set (the reader's signal) or the
 * daemon stops; an open that gives up returns -EINTR, and a flight whose leader gave up ends
 * FLIGHT_ALONE for its other waiters, who fetch anew. Workers have no token: their transfers
 * end only when the daemon stops (or with their job, cancelled). */
#ifndef TROLLEY_CACHE_INTERNAL_H
#define TROLLEY_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "cache/cache.h"
#include "cache/flight.h"
#include "cache/memo.h"
#include "cache/prefetch.h"

/* The walk of a study, from the order of opens (one walk at a time: the latest). A walk is
 * taken as one (cp -r, tar, dcm2niix) once WALK_IN_ORDER opens in a row from its first follow
 * the series' listing order: then the next series is read ahead, its
 * transfer started when the walked series' own ends, one series at most beyond the walk, so
 * read-ahead stops with it. An open in another study ends the walk and cancels its
 * read-ahead. A walk of what is stored reads nothing ahead (a warm copy asks nothing). */
#define WALK_IN_ORDER	 2
#define WALK_VISITED_MAX 64
struct walk {
	char study[UID_MAX], series[UID_MAX];
	size_t members, opens; /* of the series: its listing's size, opens seen in it */
	size_t last, in_order; /* listing index of the last open; opens in a row in order */
	bool ahead;	       /* read-ahead of the next series was queued */
	bool cold;	       /* an open in the study missed the store */
	char visited[WALK_VISITED_MAX][UID_MAX]; /* series of the study walked so far */
	size_t nvisited;
	/* The study's series in the order its folder shows them (cache_note_series_order),
	 * for the study order_study; none if never told. */
	char order_study[UID_MAX];
	char order[WALK_VISITED_MAX][UID_MAX];
	size_t norder;
};

/* Prefetch workers: at most this many series move in the background at once. */
#define PREFETCH_WORKERS_MAX 4

struct cache {
	struct store *store;
	struct searcher *searcher;
	struct downloader *downloader;
	struct cache_config cfg;		/* its include arrays point to include below */
	uint32_t include[3][CACHE_INCLUDE_MAX]; /* what every query of a level asks for */
	pthread_mutex_t lock; /* guards flights, the prefetch queue and pool, the walk, stopping */
	struct flight_table flights;
	struct prefetch_job *queue, *running; /* waiting (oldest first), and being fetched */
	size_t nqueued;
	pthread_cond_t work; /* a job was queued, or stopping */
	pthread_t workers[PREFETCH_WORKERS_MAX];
	size_t nworkers, max_workers, idle;
	/* Series whose prefetch failed lately, or that the cache could not keep: not again yet. */
	struct memo failed_series;
	struct walk walk;
	size_t opening; /* opens downloading their instance alone: read-ahead waits for them
			 * (prefetch_open_begin/end) */
	bool stopping;
	/* The sinks' memory buffers kept for the next instances (sink.c): at most
	 * SINK_POOL_BYTES of touched pages under its lock; held, the bytes in buffers at once
	 * (atomic), bounds the memory of every transfer of the mount (SINK_HELD_MAX). */
	struct {
		pthread_mutex_t lock;
		struct sink_buf *free;
		size_t bytes;
		uint64_t held;
	} pool;
	struct memo sizes;	  /* exact sizes of instances served from temporary files */
	struct memo failures;	  /* instances whose fetch failed for good, for a few seconds */
	struct cache_stats stats; /* updated with atomics */
	/* Answers stored at or before this time are expired (cache_forget_all); 0: not read
	 * from the store yet. Atomic. */
	int64_t forgot_at;
	/* Queries asked of the archive now, one per cache key (query.c): an identical query
	 * waits for its answer instead of asking again. */
	pthread_mutex_t qlock;
	pthread_cond_t qdone; /* a query flight ended */
	struct query_flight *queries;
};

#define STAT_ADD(c, field, n) __atomic_add_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)
#define STAT_SUB(c, field, n) __atomic_sub_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)

/** The store's key of @q's answer (cache_find()'s). NULL on ENOMEM. */
char *cache_query_key(struct cache *c, const struct query *q);

/* Where a download's temporary file is (spill.c), in the order they are tried. */
enum spill_place { SPILL_CACHE_DIR, SPILL_TMPDIR, SPILL_MEMORY, SPILL_NONE };

/** Whether @more bytes can go to @where and leave it above its floor (min_free= for a disk,
 * an eighth of RAM available for memory). */
bool spill_has_room(struct cache *c, enum spill_place where, uint64_t more);
/** A new, empty temporary file in the first place from @from on with room for @need bytes.
 * @return its fd (caller closes) and its place in @where, or -ENOSPC (no room anywhere) or
 * the last place's -errno. */
int spill_open(struct cache *c, enum spill_place from, uint64_t need, enum spill_place *where);
/** $TMPDIR, or /tmp: where temporary files outside cache_dir go. */
const char *spill_tmpdir(void);
/** "cache_dir", "$TMPDIR", "memory", for log lines. */
const char *spill_place_name(enum spill_place where);

/*
 * The sink downloads stream into: a reused memory buffer per instance (a temporary file for one
 * past SINK_MEM_MAX, sink.c), its head checked when the instance ends, then copied into the
 * store. What is kept is decided by the owner.
 */
/* What a sink's owner says of an instance that came, by its SOPInstanceUID. */
enum sink_verdict {
	SINK_KEEP,   /* check it whole and store it */
	SINK_SKIP,   /* not the owner's: dropped quietly, the transfer goes on */
	SINK_REFUSE, /* the reply is wrong (the owner logged it): the transfer fails, -EIO */
};

struct fetch_sink {
	struct cache *cache;
	enum sink_verdict (*check)(struct fetch_sink *s, const char *uid);
	/* An instance was checked and stored (err 0), or could not be stored (err < 0); with
	 * -ENOSPC, *fd is its temporary file, which the callee may take (set to -1). */
	void (*stored)(struct fetch_sink *s, const char *uid, int err, int *fd, uint64_t size);
	/* Optional, instead of storing at once: take the checked instance to store it later in a
	 * batch: its @size bytes at @data (a buffer the callee gives back with fetch_buf_put()),
	 * or, @data NULL, in file @fd (the callee's). */
	int (*defer)(struct fetch_sink *s, const char *uid, int fd, void *data, uint64_t size);
	void *owner;
	struct errors_detail *why; /* where a refusal's reason goes (the owner's; may be NULL) */
	int fd;
	unsigned char *mem;	/* the sink's buffer (for sink.c only) */
	bool in_mem;		/* the part is in mem, not in fd */
	enum spill_place where; /* where fd is */
	uint64_t written;	/* bytes in fd */
	uint64_t checked;	/* written when its place's room was last checked */
	uint64_t size;
	unsigned char *head; /* first PART10_HEAD_MAX bytes, to check */
	size_t head_len;
};

/** Set up @s (the owner sets check, stored and owner). @return 0 or -ENOMEM. */
int fetch_sink_init(struct fetch_sink *s, struct cache *c);
/** Drop a part in progress and free @s's buffers. */
void fetch_sink_release(struct fetch_sink *s);
/** Give back a buffer a defer() took, of which @used bytes were written. */
void fetch_buf_put(struct cache *c, void *data, uint64_t used);
/** Free the buffers kept for the next instances (cache_free(): no sink is left). */
void fetch_pool_release(struct cache *c);
/** A temporary file holding @size bytes from @data, in the first place from cache_dir on with
 * room (spill.c; its place in @where). @return its fd, or -errno. */
int fetch_part_file(struct cache *c, const void *data, uint64_t size, enum spill_place *where);
extern const struct sink_ops fetch_sink_ops;

/* Read-ahead (ahead.c), for open.c. */
/** Note an open of @ref, member @index of a series of @nsiblings, not in the store (@missed)
 * (c->lock held): follows the walk (struct walk), queues read-ahead of the next series,
 * cancels read-ahead the walk left. */
void ahead_note_open(struct cache *c, const struct instance_ref *ref, size_t index,
		     size_t nsiblings, bool missed);
/** Whether @ref's instance is the first of its series in the archive's stored instance
 * answer: the first a series stream sends (Orthanc streams a series in the order its QIDO
 * answer lists it; fs/ names and cp opens in name order). c->lock not held. */
bool ahead_streams_first(struct cache *c, const struct instance_ref *ref);

#endif
