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

enum node_kind {
	NODE_ROOT,
	NODE_PATIENTS, /* /patients */
	NODE_PATIENT,  /* /patients/<name> [<id>] */
	NODE_STUDIES,  /* /studies */
	NODE_STUDY,
	NODE_SERIES,
	NODE_INSTANCE, /* a file */
	NODE_DATES,    /* /dates */
	NODE_DATE,     /* /dates/YYYY-MM-DD */
	NODE_SEARCHES, /* /search */
	NODE_SEARCH,   /* /search/<query> */
	NODE_METADATA, /* metadata.json of a study or series folder */
	NODE_CONTROL,  /* /.trolley */
	NODE_STATUS,   /* /.trolley/status: a text file */
	NODE_MEDIA,    /* /media: a file-set per study (fs/media.c) */
	NODE_FILESET,  /* /media/<study> and the folders in it */
	NODE_DICOMDIR, /* /media/<study>/DICOMDIR */
	NODE_ERRORS,   /* /.trolley/errors: the recent failures, a text file */
};

#define TREE_METADATA_NAME "metadata.json"

/* A pseudo-attribute (group FFFF is never DICOM) holding a /search folder's query text. */
#define TREE_TAG_QUERY 0xFFFF0001u

/* How many days /dates lists (any other day is reached by its name). */
#define TREE_RECENT_DAYS 31

struct node {
	enum node_kind kind;
	bool by_uid;	      /* under /studies: children are named by UID */
	struct attrset attrs; /* identifying and returned attributes, merged from the parents */
};

struct listing_entry {
	char name[NAMES_BUF];
	struct node node;
};

/** A folder's children, sorted by name. Shared: take and drop references. */
struct listing {
	struct listing_entry *v;
	size_t n;
	time_t made;
	int refs;
};

struct tree {
	struct cache *cache;
	/* layout=: which levels /patients has and how they are named (borrowed, lives as long
	 * as the tree); NULL is the built-in tree layout. */
	const struct layout *layout;
	long max_results; /* 0: no bound */
};

void node_init(struct node *n, enum node_kind kind);
void node_release(struct node *n);
/** Deep copy into an uninitialised @dst. @return 0 or -ENOMEM. */
int node_copy(struct node *dst, const struct node *src);
bool node_is_dir(const struct node *n);
/** Whether @n is made by trolley itself (/.trolley and its files), not by a query. */
bool node_is_control(const struct node *n);

/** List the children of folder @dir. @return 0 and @out (drop with listing_put()), or -errno
 * (-EIO, logged, for a folder of an entry whose UID is not one: it is never asked for); what
 * failed, or that the answer came cut, in @why (may be NULL: core/errors.h). */
int tree_list(struct tree *t, const struct node *dir, struct listing **out,
	      struct errors_detail *why);
/**
 * Turn query @results (their sets are moved out) into the named, unique, sorted children of
 * @dir, with a metadata.json entry if @metadata: what tree_list() does after its query. Results
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
/** Find @name in @l. @return the entry (borrowed from @l) or NULL. */
const struct listing_entry *listing_find(const struct listing *l, const char *name);
/** An empty listing with room for @cap entries (one reference). @return it or NULL. */
struct listing *listing_new(size_t cap);
/** Sort the entries of @l by name, as listing_find() needs. */
void listing_sort(struct listing *l);
void listing_get(struct listing *l);
void listing_put(struct listing *l);

/**
 * Resolve child @name of @dir without a listing of @dir at hand (/patients and /studies may be
 * too big to list): by a targeted query where one can find the candidates, picking the one that
 * the listing names @name (fs/names.c computes the names, so any name a listing showed, made-up,
 * suffixed, cleaned or cut, finds that same entry), else by listing @dir; that listing goes to
 * @listed (a reference for the caller to keep as the folder's listing, or NULL).
 * @return 0 and @out (uninitialised; release with node_release()), -ENOENT if there is no such
 * child, or -errno.
 */
int tree_lookup_direct(struct tree *t, const struct node *dir, const char *name, struct node *out,
		       struct listing **listed, struct errors_detail *why);
/**
 * Refresh folder @dir: forget the stored answer that lists it, and for a study or series
 * folder its metadata (a study's made of its series' is forgotten with it: @series_uids, the
 * @n series the folder lists now, borrowed). Folders with fixed children have nothing to
 * forget. @return 0 or the cache's -errno.
 */
int tree_forget(struct tree *t, const struct node *dir, const char *const *series_uids, size_t n);
/** Whether tree_lookup_direct() applies to children of @dir (it is tried before a listing for
 * /patients, /studies, /media, /dates and /search, which may be too big or have no listing at
 * all). */
bool tree_has_direct_lookup(const struct node *dir);

/** The modification time of @n from its DICOM dates (Content, Series, Study); 0 if none. */
time_t tree_mtime(const struct node *n);
/** Estimated size of an instance from Rows, Columns, BitsAllocated, frames: before the download. */
uint64_t tree_estimated_size(const struct node *n);

#endif
