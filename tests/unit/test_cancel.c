/* core/cancel.c and the waits built on it (core/slots.c): a wait ends for its thread's token,
 * and only its thread's; a deadline ends a timed wait; cancel_all() ends every wait. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/cancel.h"
#include "core/slots.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A waiter that nobody wakes, as a reader waits for a transfer that trickles. */
struct waiter {
	struct cancel token;
	int err;
	double ended;
};

static void *wait_forever(void *arg)
{
	struct waiter *w = arg;
	struct cancel *prev = cancel_enter(&w->token);
	int err = 0;

	pthread_mutex_lock(&lock);
	while (!err)
		err = cancel_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	cancel_leave(prev);
	w->err = err;
	w->ended = now_s();
	return NULL;
}

static void test_set_token_ends_its_wait_only(void **state)
{
	struct waiter a = {CANCEL_INIT, 0, 0}, b = {CANCEL_INIT, 0, 0};
	pthread_t ta, tb;
	double set_at;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, wait_forever, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, wait_forever, &b), 0);
	set_at = now_s();
	cancel_set(&a.token);
	pthread_join(ta, NULL);
	assert_int_equal(a.err, -EINTR);
	assert_true(a.ended - set_at < 5.0); /* a tick (0.1 s), generously */
	/* The other token is untouched: its waiter still waits. */
	assert_false(cancel_is_set(&b.token));
	assert_int_equal(b.ended, 0);
	cancel_set(&b.token);
	pthread_join(tb, NULL);
	assert_int_equal(b.err, -EINTR);
	assert_false(cancel_requested()); /* this thread has no token */
}

static void test_timedwait_ends_at_deadline(void **state)
{
	struct timespec deadline;
	int err = 0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += 250000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* The default condition variable's clock is CLOCK_REALTIME: one of its own. */
	pthread_condattr_t attr;
	pthread_cond_t mono;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&mono, &attr);
	pthread_mutex_lock(&lock);
	while (!err)
		err = cancel_cond_timedwait(&mono, &lock, CLOCK_MONOTONIC, &deadline);
	pthread_mutex_unlock(&lock);
	assert_int_equal(err, -ETIMEDOUT);
	pthread_cond_destroy(&mono);
	pthread_condattr_destroy(&attr);
}

struct taker {
	struct slots *s;
	struct cancel token;
	int err;
};

static void *take_slot(void *arg)
{
	struct taker *t = arg;
	struct cancel *prev = cancel_enter(&t->token);

	t->err = slots_take(t->s, false);
	cancel_leave(prev);
	return NULL;
}

static void test_slot_wait_ends_for_cancel_and_takes_nothing(void **state)
{
	struct slots s = SLOTS_INIT;
	struct taker t = {&s, CANCEL_INIT, 1};
	pthread_t th;

	(void)state;
	slots_limit(&s, 1);
	assert_int_equal(slots_take(&s, false), 0); /* the only slot, held */
	assert_int_equal(pthread_create(&th, NULL, take_slot, &t), 0);
	cancel_set(&t.token);
	pthread_join(th, NULL);
	assert_int_equal(t.err, -EINTR);
	slots_give(&s, false);
	/* The cancelled waiter took nothing: the slot is free. */
	assert_true(slots_try_take_bulk(&s));
	slots_give(&s, false);
}

/* Last: cancel_all() is for good. */
static void test_cancel_all_ends_every_wait(void **state)
{
	struct waiter a = {CANCEL_INIT, 0, 0};
	pthread_t ta;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, wait_forever, &a), 0);
	cancel_all();
	pthread_join(ta, NULL);
	assert_int_equal(a.err, -EINTR);
	assert_true(cancel_requested());
	assert_true(cancel_is_set(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_token_ends_its_wait_only),
		cmocka_unit_test(test_timedwait_ends_at_deadline),
		cmocka_unit_test(test_slot_wait_ends_for_cancel_and_takes_nothing),
		cmocka_unit_test(test_cancel_all_ends_every_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
