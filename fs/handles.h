/* Open handles (files and folders) the kernel holds. When the session ends without their
 * RELEASE (SIGTERM, a lazy unmount), they are dropped at destroy time rather than leaked. */
#ifndef TROLLEY_HANDLES_H
#define TROLLEY_HANDLES_H

#include <pthread.h>

struct handle {
	struct handle *prev, *next;
	void (*drop)(struct handle *h); /* frees what the handle holds, and the handle */
};

struct handles {
	pthread_mutex_t lock;
	struct handle head; /* a circular list; head is no handle */
};

void handles_init(struct handles *hs);
/** Register @h (its drop set). */
void handles_add(struct handles *hs, struct handle *h);
/** Unregister @h (before it is freed). */
void handles_remove(struct handles *hs, struct handle *h);
/** Drop every handle still registered: the session is over, no request can use them. */
void handles_drop_all(struct handles *hs);

#endif
