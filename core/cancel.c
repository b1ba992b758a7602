/* Cancellation tokens (core/cancel.h): an atomic flag per token, one for the whole daemon, and
 * the token of each thread. */
#include "core/cancel.h"

#include <errno.h>
#include <time.h>

static int cancel_everything; /* atomic: cancel_all() */
static __thread struct cancel *current;

void cancel_set(struct cancel *t)
{
	__atomic_store_n(&t->set, 1, __ATOMIC_RELEASE);
}

bool cancel_is_set(const struct cancel *t)
{
	return __atomic_load_n(&cancel_everything, __ATOMIC_ACQUIRE) ||
	       (t && __atomic_load_n(&t->set, __ATOMIC_ACQUIRE));
}

struct cancel *cancel_enter(struct cancel *t)
{
	struct cancel *prev = current;

	current = t;
	return prev;
}

void cancel_leave(struct cancel *prev)
{
	current = prev;
}

const struct cancel *cancel_current(void)
{
	return current;
}

bool cancel_requested(void)
{
	return cancel_is_set(current);
}

void cancel_all(void)
{
	__atomic_store_n(&cancel_everything, 1, __ATOMIC_RELEASE);
}

int cancel_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock)
{
	struct timespec until;

	if (cancel_requested())
		return -EINTR;
	/* Condition variables here use the default clock, CLOCK_REALTIME: a clock step makes
	 * one tick shorter or longer, and the caller's loop absorbs it. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += CANCEL_TICK_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cond, lock, &until);
	return 0;
}
