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

static void add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int cancel_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, clockid_t clock,
			  const struct timespec *deadline)
{
	struct timespec now, until;

	if (cancel_requested())
		return -EINTR;
	clock_gettime(clock, &now);
	if (deadline && !before(&now, deadline))
		return -ETIMEDOUT;
	until = now;
	add_ms(&until, CANCEL_TICK_MS);
	if (deadline && before(deadline, &until))
		until = *deadline;
	pthread_cond_timedwait(cond, lock, &until);
	return 0;
}

/* Condition variables here use the default clock, CLOCK_REALTIME: a clock step makes one tick
 * shorter or longer, and the caller's loop absorbs it. */
int cancel_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock)
{
	return cancel_cond_timedwait(cond, lock, CLOCK_REALTIME, NULL);
}
