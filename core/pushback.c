/* The pushback counters of core/pushback.h: one lock, held only to copy a few numbers. */
#include "core/pushback.h"

#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pushback_stats stats;
static struct slots *watched;

void pushback_note_status(long status)
{
	pthread_mutex_lock(&lock);
	switch (status) {
	case 429:
		stats.too_many++;
		break;
	case 502:
		stats.bad_gateway++;
		break;
	case 503:
		stats.unavailable++;
		break;
	case 504:
		stats.gateway_timeout++;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&lock);
}

void pushback_note_retry(void)
{
	pthread_mutex_lock(&lock);
	stats.retries++;
	pthread_mutex_unlock(&lock);
}

void pushback_note_given_up(void)
{
	pthread_mutex_lock(&lock);
	stats.given_up++;
	pthread_mutex_unlock(&lock);
}

void pushback_watch(struct slots *s, long total)
{
	pthread_mutex_lock(&lock);
	watched = s;
	stats.total = total;
	pthread_mutex_unlock(&lock);
}

void pushback_get(struct pushback_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = stats;
	/* Read now, not noted at each change: two threads' notes could land out of order. Lock
	 * order: this lock, then the slots' (which never calls here). */
	out->limit = watched ? slots_current(watched) : 0;
	pthread_mutex_unlock(&lock);
}
