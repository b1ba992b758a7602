/* How often archives pushed back (HTTP 429, 503, 502, 504) and what trolley did about it, for
 * /.trolley/status: the protocol layer counts where it sees the replies and lowers its bound
 * (protocols/http.c), fs/status.c shows the counts. Like core/errors.h, this is the one place
 * both layers meet; one set of counters per process (one archive per mount). */
#ifndef TROLLEY_PUSHBACK_H
#define TROLLEY_PUSHBACK_H

#include "core/slots.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pushback_stats {
	unsigned long long too_many;	    /* 429 Too Many Requests */
	unsigned long long unavailable;	    /* 503 Service Unavailable */
	unsigned long long bad_gateway;	    /* 502 Bad Gateway */
	unsigned long long gateway_timeout; /* 504 Gateway Timeout */
	unsigned long long retries;	    /* requests made again after one of them */
	unsigned long long given_up;	    /* requests that failed: the retry budget was spent */
	long limit, total;		    /* requests allowed in flight now, of connections= (0:
					     * none watched) */
};

/** Count a reply of @status if it is one of the four (others are ignored). Any thread. */
void pushback_note_status(long status);
/** Count one request made again after a pushback. Any thread. */
void pushback_note_retry(void);
/** Count one request given up because the retry budget was spent. Any thread. */
void pushback_note_given_up(void);
/** Show the bound of @s (core/slots.h; borrowed until pushback_watch(NULL, 0)) as the limit,
 * of @total. Any thread. */
void pushback_watch(struct slots *s, long total);
/** Copy the counters into @out. Any thread. */
void pushback_get(struct pushback_stats *out);

#ifdef __cplusplus
}
#endif

#endif
