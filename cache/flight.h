/* The transfers in flight, one per instance at a time (single-flight), in a hash of their own
 * keyed by SOPInstanceUID (the shape of sshfs's request table): an open looks its instance up
 * here, and leads a transfer of it or waits on the one under way.
 *
 * Threads and locks: the table has no lock of its own; every function here but flight_alloc()
 * and flight_put() of an unlinked flight is called with the cache's lock (c->lock) held, which
 * is also the lock each flight's condition variable is waited on with. Each waiter sleeps on
 * its own flight's condition, not on a cache-wide one, so a finished flight wakes only its
 * own waiters. A flight lives while it is referenced: its leader (the opener that fetches it,
 * or the series job that claimed it) holds one reference and each waiter one more; it leaves
 * the table when it finishes, and is freed by its last flight_put().
 * Who finishes a flight: the opener leading it (cache/open.c), or the series transfer that
 * claimed it (cache/prefetch.c), from its worker or committer thread. */
#ifndef TROLLEY_CACHE_FLIGHT_H
#define TROLLEY_CACHE_FLIGHT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/uid.h"

struct store;

/* How a flight ended, for its waiters. */
enum flight_outcome {
	FLIGHT_PENDING, /* under way */
	FLIGHT_STORED, /* in the store; if the flight holds its pin (pinned), it stays until opened */
	FLIGHT_IN_FILE, /* checked, but not kept in the store: served from its file (fd) */
	FLIGHT_ALONE,	/* ended without it (a series stream that lacked or could not keep it, a
			 * leader that gave up): each waiter fetches it again, alone */
	FLIGHT_FAILED,	/* the fetch failed: err */
};

/* One transfer in progress for one instance; others who want it wait on it. */
struct flight {
	/* Write once, before it is in the table. */
	char sop[UID_MAX];
	/* Under the cache's lock. */
	enum flight_outcome outcome;
	int err; /* FLIGHT_FAILED: the -errno its waiters return */
	/* Set by the finisher before flight_finish(): FLIGHT_IN_FILE's temporary file, and its
	 * size; the store in which the flight pins its stored blob until its last reference
	 * goes, so that a waiter woken by the flight pins the blob before eviction can take it
	 * (a series bigger than the cache evicts what it stored a moment ago). */
	int fd;
	uint64_t size;
	struct store *pinned;
	/* FLIGHT_FAILED: what failed, filled by the leader's transfer (on whichever threads it
	 * ran) before flight_finish(), then only read: each waiter copies it into its own. */
	struct errors_detail why;
	int refs;
	pthread_cond_t cond; /* waited on with the cache's lock; broadcast when it ends */
	struct flight *next; /* in its bucket */
};

struct flight_table {
	struct flight **buckets;
	size_t nbuckets; /* a power of two */
	size_t n;
};

/** An empty table. @return 0 or -ENOMEM. */
int flight_table_init(struct flight_table *t);
/** Free the buckets (the table must be empty: every flight finished). */
void flight_table_release(struct flight_table *t);

/** The flight of @sop in the table, or NULL. Lock held. */
struct flight *flight_find(struct flight_table *t, const char *sop);
/** A new flight for @sop, not in any table, with one reference (its leader's): made before
 * the lock is taken, so that a series job claims its members without an allocation each
 * under it. NULL on ENOMEM. No lock needed. */
struct flight *flight_alloc(const char *sop);
/** Put @f (from flight_alloc, its sop not in the table) in the table. Lock held. */
void flight_add(struct flight_table *t, struct flight *f);
/** flight_alloc() and flight_add() in one, for one opener's own flight. Lock held. */
struct flight *flight_new(struct flight_table *t, const char *sop);
/** Record how @f ended (@err for FLIGHT_FAILED), take it out of the table and wake its
 * waiters. Lock held. */
void flight_finish(struct flight_table *t, struct flight *f, enum flight_outcome outcome, int err);
/** Drop a reference; the last frees @f (closing its file, unpinning its blob). Lock held, or
 * for a flight never added, none. */
void flight_put(struct flight *f);

#endif
