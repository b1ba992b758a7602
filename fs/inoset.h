/* A set of inode numbers (fs/ops.c: the inodes the kernel may hold an estimated size for). Exact,
 * never lossy: a lost member would be a missed invalidation. Not locked: its user guards it. */
#ifndef TROLLEY_INOSET_H
#define TROLLEY_INOSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inoset {
	uint64_t *v; /* open addressing, linear probing; 0 is a free slot */
	size_t cap, n;
};

#define INOSET_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/** Add @ino (not 0). @return 0, or -ENOMEM (the set is unchanged). */
int inoset_add(struct inoset *s, uint64_t ino);
/** Remove @ino. @return whether it was there. */
bool inoset_take(struct inoset *s, uint64_t ino);
/** Free what @s holds; it is empty and usable again. */
void inoset_release(struct inoset *s);

#endif
