/* Slots that bound parallel transfers (connections=), a quarter of them (at least one) kept for
 * queries. A listing waits for its query and a user waits for the listing, while a bulk
 * transfer may take minutes (a slow link, a large series, an archive that trickles): with one
 * pool a `cp -r` held every slot and an `ls` of another folder waited for whole series. Bulk
 * transfers use at most the rest, queries any free slot, and a waiting query goes before
 * waiting bulk transfers. One slot stays one (an archive that allows one connection): a query
 * then waits only for the transfer in flight, never for the queue behind it. HTTP
 * (protocols/http.c) and DIMSE associations (dcmtk/dimse_net.cc) each have their slots.
 * While an archive pushes back (HTTP 429/503), slots_back_off() and slots_went_well() move the
 * bound below connections= and back, as TCP's congestion window does (additive increase,
 * multiplicative decrease); a caller that never calls them keeps connections= as it is.
 * Any thread may call these. */
#ifndef TROLLEY_SLOTS_H
#define TROLLEY_SLOTS_H

#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct slots {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	long total;	    /* connections=; 0: not set yet, no bound */
	long limit;	    /* of them, how many may be held now (AIMD): 1 to total */
	long bulk_max;	    /* of limit, what bulk transfers may hold */
	long credit;	    /* successes since limit last grew */
	unsigned epoch;	    /* bumped at each decrease */
	long busy, bulk;    /* held: all, by bulk transfers */
	long query_waiting; /* queries waiting: bulk transfers let them go first */
	long bulk_waiting;  /* bulk transfers waiting in slots_take() */
};

/** Unbounded slots, for a static or a struct member; slots_limit() sets the bound. */
#define SLOTS_INIT                                                                                 \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0     \
	}

/** Destroy the lock and condition of @s (no slot held); a static SLOTS_INIT one needs none. */
void slots_release(struct slots *s);
/** Bound @s to @total slots (> 0), the first call only: later calls keep the first bound. */
void slots_limit(struct slots *s, long total);
/** Wait for a slot: a query (@query) may take any, a bulk transfer only its share. The wait
 * ends for a cancel (core/cancel.h). @return 0 (a slot is taken), or -EINTR (none is). */
int slots_take(struct slots *s, bool query);
/** Take a bulk slot only if one is free now and nobody waits for a slot: for a caller that
 * holds one already and runs several transfers (protocols/wado_uri.c through http.c). Never
 * waiting, it cannot hold slots while it waits for more (two such callers would wait for
 * each other), and it gives way to a caller that has none, such as an open() fetching its
 * file alone. @return whether a slot was taken (give it back with slots_give(s, false)). */
bool slots_try_take_bulk(struct slots *s);
/** Give back a slot taken with the same @query. */
void slots_give(struct slots *s, bool query);
/** Which window of the bound a slot taken now belongs to: read it after taking a slot and
 * pass it to slots_back_off() when that request is pushed back. */
unsigned slots_epoch(struct slots *s);
/** A request of window @epoch was pushed back (429, 503): halve the bound (never below one),
 * once per window: the requests sent before the decrease say nothing of the new bound, so a
 * burst of 429s to one window halves it once, not to one. @return the bound now. */
long slots_back_off(struct slots *s, unsigned epoch);
/** A request went well: one more slot (up to total) after as many successes as the bound,
 * i.e. +1 a round trip as TCP's congestion avoidance. @return the bound now. */
long slots_went_well(struct slots *s);
/** The bound now (total, or less while backing off; 0: no bound). */
long slots_current(struct slots *s);

#ifdef __cplusplus
}
#endif

#endif
