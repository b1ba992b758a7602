/* The flight table of cache/flight.c: every flight is found by its SOPInstanceUID through the
 * table's growth, a finished one is gone from it with its outcome and its waiters woken, and
 * the last reference frees it (run under ASan and TSan by scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache/flight.h"

#define N 3000

static void uid(char *out, int i)
{
	snprintf(out, UID_MAX, "1.2.826.0.1.3680043.8.498.%d", i);
}

static void test_table_finds_what_is_in_flight(void **state)
{
	static struct flight *fl[N];
	struct flight_table t;
	char sop[UID_MAX];

	(void)state;
	assert_int_equal(flight_table_init(&t), 0);
	for (int i = 0; i < N; i++) {
		uid(sop, i);
		assert_null(flight_find(&t, sop));
		/* Half made in one step, half made first and linked later, as a job does. */
		fl[i] = i % 2 ? flight_new(&t, sop) : flight_alloc(sop);
		assert_non_null(fl[i]);
		if (i % 2 == 0)
			flight_add(&t, fl[i]);
	}
	assert_int_equal(t.n, N);
	assert_true(t.nbuckets >= N); /* grown: chains stay short */
	for (int i = 0; i < N; i++) {
		uid(sop, i);
		assert_ptr_equal(flight_find(&t, sop), fl[i]);
		assert_int_equal(fl[i]->outcome, FLIGHT_PENDING);
	}
	/* Every third ends: gone from the table, the rest still found. */
	for (int i = 0; i < N; i += 3)
		flight_finish(&t, fl[i], i % 2 ? FLIGHT_STORED : FLIGHT_FAILED, -EIO);
	for (int i = 0; i < N; i++) {
		uid(sop, i);
		assert_ptr_equal(flight_find(&t, sop), i % 3 ? fl[i] : NULL);
	}
	assert_int_equal(fl[0]->outcome, FLIGHT_FAILED);
	assert_int_equal(fl[0]->err, -EIO);
	assert_int_equal(fl[3]->outcome, FLIGHT_STORED);
	assert_int_equal(fl[3]->err, 0);
	for (int i = 0; i < N; i++) {
		if (i % 3)
			flight_finish(&t, fl[i], FLIGHT_ALONE, 0);
		flight_put(fl[i]);
	}
	assert_int_equal(t.n, 0);
	flight_table_release(&t);
}

struct waiter {
	pthread_mutex_t *lock;
	struct flight *f;
	enum flight_outcome seen;
};

static void *wait_flight(void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(w->lock);
	while (w->f->outcome == FLIGHT_PENDING)
		pthread_cond_wait(&w->f->cond, w->lock);
	w->seen = w->f->outcome;
	flight_put(w->f);
	pthread_mutex_unlock(w->lock);
	return NULL;
}

/* Waiters each hold a reference and sleep on the flight's own condition; the leader's finish
 * wakes them all, and whoever puts the last reference frees it. */
static void test_finish_wakes_every_waiter(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct waiter w[4];
	pthread_t th[4];
	struct flight_table t;
	struct flight *f;

	(void)state;
	assert_int_equal(flight_table_init(&t), 0);
	pthread_mutex_lock(&lock);
	f = flight_new(&t, "1.2.3");
	assert_non_null(f);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){&lock, f, FLIGHT_PENDING};
		f->refs++;
		assert_int_equal(pthread_create(&th[i], NULL, wait_flight, &w[i]), 0);
	}
	pthread_mutex_unlock(&lock);
	pthread_mutex_lock(&lock);
	flight_finish(&t, f, FLIGHT_ALONE, 0);
	assert_null(flight_find(&t, "1.2.3"));
	flight_put(f);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].seen, FLIGHT_ALONE);
	}
	flight_table_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_finds_what_is_in_flight),
		cmocka_unit_test(test_finish_wakes_every_waiter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
