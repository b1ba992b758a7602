/* Cancellation: how a wait or a transfer learns that nobody waits for it any more. A token
 * belongs to one thread's piece of work (a FUSE request: fs/ops.c sets it when the kernel says
 * its caller gave up, on SIGINT, SIGTERM or SIGKILL); cancel_all() sets every token at once
 * (the daemon stops: SIGTERM, SIGINT, unmount). The work below the interfaces (http.c's
 * progress callback, the sinks, the waits in cache/ and core/slots.c) asks cancel_requested()
 * and needs no token passed down: a transfer runs on the thread that asked for it, so the
 * token is the thread's current one (cancel_enter()), as errno is the thread's error. Two kinds
 * of thread work for another and have no token (README.md, "Threads"): QIDO-RS's pages asked
 * ahead and the C-MOVE storage SCP's; they end with their timeouts or cancel_all().
 *
 * Waits poll: a waiter sleeps on a condition variable that others own (a flight's, the slots'),
 * at most CANCEL_TICK_MS at a time, and looks at its token between sleeps. Waking it directly
 * would need the canceller to know that condition variable and its lock, and to outlive them;
 * a tick costs nothing and bounds how late an interrupted reader gets its EINTR.
 *
 * Threads: any thread (and a signal handler) may set a token or call cancel_all(); a token is
 * entered and left by its own thread only. */
#ifndef TROLLEY_CANCEL_H
#define TROLLEY_CANCEL_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest a cancelled waiter sleeps on before it sees it. */
#define CANCEL_TICK_MS 100

struct cancel {
	int set; /* atomic */
};

#define CANCEL_INIT                                                                                \
	{                                                                                          \
		0                                                                                  \
	}

/** Set @t: its thread's waits and transfers end (async-signal-safe). */
void cancel_set(struct cancel *t);
/** Whether @t (may be NULL) is set, or cancel_all() was called. */
bool cancel_is_set(const struct cancel *t);
/** Make @t (borrowed until cancel_leave()) this thread's token. @return the previous one, for
 * cancel_leave(). */
struct cancel *cancel_enter(struct cancel *t);
/** Restore @prev, which cancel_enter() returned, as this thread's token. */
void cancel_leave(struct cancel *prev);
/** This thread's token (borrowed; NULL if none), for a watcher on another thread. */
const struct cancel *cancel_current(void);
/** Whether this thread's token is set, or cancel_all() was called. */
bool cancel_requested(void);
/** Cancel everything, for good: the daemon stops (async-signal-safe). */
void cancel_all(void);

/**
 * pthread_cond_wait() that ends for a cancel: waits on @cond (@lock held, as there) for at most
 * CANCEL_TICK_MS, so the caller's loop re-checks its condition, then calls again.
 * @return 0, or -EINTR (without waiting) when cancel_requested().
 */
int cancel_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock);

/**
 * cancel_cond_wait() with a deadline: waits on @cond (@lock held) until @deadline on @clock
 * (the clock @cond was made with: CLOCK_REALTIME unless pthread_condattr_setclock() said
 * otherwise), at most CANCEL_TICK_MS at a time. A backoff (Retry-After) waits in a loop on it.
 * @return 0 (woken, or a tick passed: re-check and call again), -ETIMEDOUT (the deadline has
 * passed), or -EINTR (cancelled).
 */
int cancel_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, clockid_t clock,
			  const struct timespec *deadline);

#ifdef __cplusplus
}
#endif

#endif
