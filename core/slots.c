/* The connections= slots of core/slots.h: one lock, one condition both kinds wait on. */
#include "core/slots.h"

#include "core/cancel.h"

void slots_release(struct slots *s)
{
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
}

/* The bound becomes @limit, a quarter of it (at least one, none of one) kept for queries.
 * s->lock held. */
static void set_limit_locked(struct slots *s, long limit)
{
	long reserve = limit >= 2 ? (limit / 4 > 1 ? limit / 4 : 1) : 0;

	s->limit = limit;
	s->bulk_max = limit - reserve;
	s->credit = 0;
}

void slots_limit(struct slots *s, long total)
{
	pthread_mutex_lock(&s->lock);
	if (!s->total && total > 0) {
		s->total = total;
		set_limit_locked(s, total);
	}
	pthread_mutex_unlock(&s->lock);
}

int slots_take(struct slots *s, bool query)
{
	int err = 0;

	pthread_mutex_lock(&s->lock);
	if (query) {
		s->query_waiting++;
		while (!err && s->total && s->busy >= s->limit)
			err = cancel_cond_wait(&s->freed, &s->lock);
		s->query_waiting--;
	} else {
		s->bulk_waiting++;
		while (!err && s->total &&
		       (s->busy >= s->limit || s->bulk >= s->bulk_max || s->query_waiting))
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
	taken = !s->total || (s->busy < s->limit && s->bulk < s->bulk_max && !s->query_waiting &&
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

unsigned slots_epoch(struct slots *s)
{
	unsigned epoch;

	pthread_mutex_lock(&s->lock);
	epoch = s->epoch;
	pthread_mutex_unlock(&s->lock);
	return epoch;
}

long slots_back_off(struct slots *s, unsigned epoch)
{
	long limit;

	pthread_mutex_lock(&s->lock);
	if (s->total && epoch == s->epoch) {
		set_limit_locked(s, s->limit > 1 ? s->limit / 2 : 1);
		s->epoch++;
	}
	limit = s->limit;
	pthread_mutex_unlock(&s->lock);
	return limit;
}

long slots_went_well(struct slots *s)
{
	long limit;

	pthread_mutex_lock(&s->lock);
	if (s->total && s->limit < s->total && ++s->credit >= s->limit) {
		set_limit_locked(s, s->limit + 1);
		/* Waiters held back by the lower bound may go now. */
		pthread_cond_broadcast(&s->freed);
	}
	limit = s->limit;
	pthread_mutex_unlock(&s->lock);
	return limit;
}

long slots_current(struct slots *s)
{
	long limit;

	pthread_mutex_lock(&s->lock);
	limit = s->limit;
	pthread_mutex_unlock(&s->lock);
	return limit;
}
