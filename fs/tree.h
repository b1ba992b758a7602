/* The path model: what each folder of the tree is, what query lists it, and how its children are
 * named. A node is a kind plus the attributes that identify it (and that the searcher returned
 * for it). Knows no protocol: it asks the cache layer, which asks the searcher. */
#ifndef TROLLEY_TREE_H
#define TROLLEY_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/cache.h"
#include "core/attrs.h"
#include "fs/layout.h"
#include "fs/names.h"
#include "fs/node.h"

#define TREE_METADATA_NAME "metadata.json"

/* A pseudo-attribute (group FFFF is never DICOM) holding a /search folder's query text. */
#define TREE_TAG_QUERY 0xFFFF0001u

/* How many days /dates lists (any other day is reached by its name). */
#define TREE_RECENT_DAYS 31

struct tree {
	struct cache *cache;
	/* layout=: which levels /patients has and how they are named (borrowed, lives as long
	 * as the tree); NULL is the built-in tree layout. */
	const struct layout *layout;
	long max_results; /* 0: no bound */
};

/**
 * List folder @dir by the query that lists it (the kind's list for /patients, /studies, a
 * patient, a day, a search, a study and a series). @return 0 and @out (drop with listing_put()),
 * -ENOTDIR for a kind no query lists, or -errno (-EIO, logged, for a folder of an entry whose
 * UID is not one: it is never asked for).
 */
int tree_query_list(struct tree *t, const struct node *dir, struct listing **out,
		    struct errors_detail *why);
/**
 * Turn query @results (their sets are moved out) into the named, unique, sorted children of
 * @dir, with a metadata.json entry if @metadata: what tree_query_list() does after its query. Results
 * that are not @dir's own or repeat an identity are dropped; every name is made by fs/names.c.
 * O(n log n). @return 0 and @out (drop with listing_put()), or -ENOMEM.
 */
int tree_build_listing(const struct tree *t, const struct node *dir, struct attrset_list *results,
		       bool metadata, struct listing **out);
/**
 * Whether every UID that listing or opening @n puts into a request is a valid UID (an archive
 * may send anything). @return 0, or -EIO with a log line naming the bad UID.
 */
int tree_check_uids(const struct node *n);
/** The layout of @t: the one given at mount, else the built-in tree (borrowed, never NULL). */
const struct layout *tree_layout(const struct tree *t);
/** How the children of @dir are named: the names kind, and in *@fmt the format of their level
 * (borrowed from the tree's layout; ignored for the UID kinds). */
enum names_kind tree_child_names(const struct tree *t, const struct node *dir,
				 const struct names_format **fmt);
/**
 * Refresh folder @dir: forget the stored answer that lists it, and for a study or series
 * folder its metadata (a study's made of its series' is forgotten with it: @series_uids, the
 * @n series the folder lists now, borrowed). Folders with fixed children have nothing to
 * forget. @return 0 or the cache's -errno.
 */
int tree_forget(struct tree *t, const struct node *dir, const char *const *series_uids, size_t n);
/** The modification time of @n from its DICOM dates (Content, Series, Study); 0 if none. */
time_t tree_mtime(const struct node *n);
/** Estimated size of an instance from Rows, Columns, BitsAllocated, frames: before the download. */
uint64_t tree_estimated_size(const struct node *n);

#endif
