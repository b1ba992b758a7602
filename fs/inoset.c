/* Open addressing with linear probing and backward-shift removal (no tombstones), kept at most
 * half full. Inode numbers are handed out in order, so they are hashed to spread runs. */
#include "fs/inoset.h"

#include <errno.h>
#include <stdlib.h>

#define INOSET_MIN 64

static size_t slot_of(const struct inoset *s, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) & (s->cap - 1);
}

static void put(struct inoset *s, uint64_t ino)
{
	size_t i = slot_of(s, ino);

	while (s->v[i] && s->v[i] != ino)
		i = (i + 1) & (s->cap - 1);
	if (!s->v[i]) {
		s->v[i] = ino;
		s->n++;
	}
}

static int grow(struct inoset *s)
{
	struct inoset bigger = {NULL, s->cap ? s->cap * 2 : INOSET_MIN, 0};

	bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
	if (!bigger.v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->v[i])
			put(&bigger, s->v[i]);
	free(s->v);
	*s = bigger;
	return 0;
}

int inoset_add(struct inoset *s, uint64_t ino)
{
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	put(s, ino);
	return 0;
}

bool inoset_take(struct inoset *s, uint64_t ino)
{
	size_t i, j;

	if (!s->n)
		return false;
	for (i = slot_of(s, ino); s->v[i] != ino; i = (i + 1) & (s->cap - 1))
		if (!s->v[i])
			return false;
	/* Shift back the members after it that probed past it, so lookups never stop early. */
	for (j = (i + 1) & (s->cap - 1); s->v[j]; j = (j + 1) & (s->cap - 1)) {
		size_t home = slot_of(s, s->v[j]);

		/* v[j] may move to the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			s->v[i] = s->v[j];
			i = j;
		}
	}
	s->v[i] = 0;
	s->n--;
	return true;
}

void inoset_release(struct inoset *s)
{
	free(s->v);
	*s = (struct inoset)INOSET_INIT;
}
