/* The inode table of the low-level FUSE API: numbers handed to the kernel, each naming a node
 * (parent inode + name), with the kernel's lookup count, and a folder's listing while fresh. */
#ifndef TROLLEY_INODES_H
#define TROLLEY_INODES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fs/tree.h"

#define INODES_ROOT 1

struct inodes;

/** A table holding only the root (inode 1). @return 0 or -ENOMEM. Free with inodes_free(). */
int inodes_new(struct inodes **out);
void inodes_free(struct inodes *t);

/**
 * The inode of child @name of @parent, made if new, its node set to a copy of @node, and its
 * lookup count raised by one (the kernel's lookup reply). @from is the listing @node belongs to
 * (may be NULL): when the inode's node came from that same listing, nothing is copied.
 * @return 0 and @ino, or -ENOMEM.
 */
int inodes_add(struct inodes *t, uint64_t parent, const char *name, const struct node *node,
	       struct listing *from, uint64_t *ino);
/** Call @fn with the node of @ino (borrowed, under the table's lock: keep @fn short, no I/O
 * beyond the cache's store). @return @fn's result, or -ENOENT. */
int inodes_with(struct inodes *t, uint64_t ino, int (*fn)(const struct node *n, void *ctx),
		void *ctx);
/** Copy the node of @ino into @out (uninitialised; release with node_release()). -ENOENT if none. */
int inodes_get(struct inodes *t, uint64_t ino, struct node *out);
/** The kernel forgot @n lookups of @ino; at zero the inode is dropped. */
void inodes_forget(struct inodes *t, uint64_t ino, uint64_t n);

/** The listing of folder @ino if made less than @max_age seconds ago (a reference), or NULL. */
struct listing *inodes_listing(struct inodes *t, uint64_t ino, time_t max_age);
/** The listing of the folder holding @ino, if fresh (a reference), or NULL. */
struct listing *inodes_parent_listing(struct inodes *t, uint64_t ino, time_t max_age);
/** The inode of the folder holding @ino, or 0 if @ino is unknown or the root. */
uint64_t inodes_parent(struct inodes *t, uint64_t ino);
/** Keep @l (a new reference is taken) as the listing of @ino. */
void inodes_set_listing(struct inodes *t, uint64_t ino, struct listing *l);
/**
 * The path of @ino in the mount ("/patients/Doe^John [P1]") into @out (size @n), for
 * /.trolley/errors. @return 0, -ENOENT (not held), or -ENAMETOOLONG.
 */
int inodes_path(struct inodes *t, uint64_t ino, char *out, size_t n);
/**
 * Drop the listing of folder @ino (0: of every folder), so that the next one is made anew (a
 * refresh), and call @fn (may be NULL) with each folder whose listing was dropped, outside the
 * table's lock. @return how many were dropped.
 */
size_t inodes_drop_listings(struct inodes *t, uint64_t ino, void (*fn)(uint64_t ino, void *ctx),
			    void *ctx);
/** Number of inodes held (for the tests and the status file). */
uint64_t inodes_count(struct inodes *t);

#endif
