/* The connections= slots of core/slots.h: one lock, one condition both kinds wait on. */
#include "core/slots.h"

#include "core/cancel.h"

void slots_release(struct slots *s)
{
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
}

void slots_limit(struct slots *s, long total)
{
	pthread_mutex_lock(&s->lock);
	if (!s->total && total > 0) {
		long reserve = total >= 2 ? (total / 4 > 1 ? total / 4 : 1) : 0;

		s->total = total;
		s->bulk_max = total - reserve;
	}
	pthread_mutex_unlock(&s->lock);
}

int slots_take(struct slots *s, bool query)
{
	int err = 0;

	pthread_mutex_lock(&s->lock);
	if (query) {
		s->query_waiting++;
		while (!err && s->total && s->busy >= s->total)
			err = cancel_cond_wait(&s->freed, &s->lock);
		s->query_waiting--;
	} else {
		s->bulk_waiting++;
		while (!err && s->total &&
		       (s->busy >= s->total || s->bulk >= s->bulk_max || s->query_waiting))
			err = cancel_cond_wait(&s->freed, &s->lock);
		s->bulk_waiting--;
		if (!err)
			s->bulk++;
	}
	if (!err)
		s->busy++;
	else
		pthread_cond_broadcast(&s->freed); /* a waiter that went may let others go */
	pthread_mutex_unlock(&s->lock);
	return err;
}

bool slots_try_take_bulk(struct slots *s)
{
	bool taken;

	pthread_mutex_lock(&s->lock);
	taken = !s->total || (s->busy < s->total && s->bulk < s->bulk_max && !s->query_waiting &&
			      !s->bulk_waiting);
	if (taken) {
		s->bulk++;
		s->busy++;
	}
	pthread_mutex_unlock(&s->lock);
	return taken;
}

void slots_give(struct slots *s, bool query)
{
	pthread_mutex_lock(&s->lock);
	s->busy--;
	if (!query)
		s->bulk--;
	/* Waiters of both kinds wait on one condition, each for its own test. */
	pthread_cond_broadcast(&s->freed);
	pthread_mutex_unlock(&s->lock);
}
