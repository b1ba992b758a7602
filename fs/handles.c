/* The registry of open handles: a list under one lock, touched at open and release only. */
#include "fs/handles.h"

void handles_init(struct handles *hs)
{
	pthread_mutex_init(&hs->lock, NULL);
	hs->head.prev = hs->head.next = &hs->head;
}

void handles_add(struct handles *hs, struct handle *h)
{
	pthread_mutex_lock(&hs->lock);
	h->next = hs->head.next;
	h->prev = &hs->head;
	hs->head.next->prev = h;
	hs->head.next = h;
	pthread_mutex_unlock(&hs->lock);
}

void handles_remove(struct handles *hs, struct handle *h)
{
	pthread_mutex_lock(&hs->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = h;
	pthread_mutex_unlock(&hs->lock);
}

void handles_drop_all(struct handles *hs)
{
	for (;;) {
		struct handle *h;

		pthread_mutex_lock(&hs->lock);
		h = hs->head.next;
		if (h == &hs->head) {
			pthread_mutex_unlock(&hs->lock);
			return;
		}
		h->prev->next = h->next;
		h->next->prev = h->prev;
		pthread_mutex_unlock(&hs->lock);
		h->drop(h);
	}
}
