/* The objects every part of fs/ shares, at its bottom: a node (what one file or folder of the
 * mount is: its kind and the attributes that identify it) and a listing (a folder's children,
 * named and sorted). Knows no query, no cache and no FUSE: fs/kind.h says what each kind does. */
#ifndef TROLLEY_NODE_H
#define TROLLEY_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/attrs.h"
#include "fs/names.h"

/* Every kind has one entry in the table of fs/kind.c, filled by the file named here. */
enum node_kind {
	NODE_ROOT,     /* / (fs/kind.c) */
	NODE_PATIENTS, /* /patients (fs/lookup.c) */
	NODE_PATIENT,  /* /patients/<name> [<id>] (fs/tree.c) */
	NODE_STUDIES,  /* /studies (fs/lookup.c) */
	NODE_STUDY,    /* (fs/tree.c) */
	NODE_SERIES,   /* (fs/tree.c) */
	NODE_INSTANCE, /* a file (fs/ops.c) */
	NODE_DATES,    /* /dates (fs/tree.c) */
	NODE_DATE,     /* /dates/YYYY-MM-DD (fs/tree.c) */
	NODE_SEARCHES, /* /search (fs/tree.c) */
	NODE_SEARCH,   /* /search/<query> (fs/tree.c) */
	NODE_METADATA, /* metadata.json of a study or series folder (fs/ops.c) */
	NODE_CONTROL,  /* /.trolley (fs/kind.c) */
	NODE_STATUS,   /* /.trolley/status: a text file (fs/status.c) */
	NODE_MEDIA,    /* /media: a file-set per study (fs/media.c) */
	NODE_FILESET,  /* /media/<study> and the folders in it (fs/media.c) */
	NODE_DICOMDIR, /* /media/<study>/DICOMDIR (fs/media.c) */
	NODE_ERRORS,   /* /.trolley/errors: the recent failures, a text file (fs/status.c) */
	NODE_KINDS     /* how many there are: the size of the table */
};

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

void node_init(struct node *n, enum node_kind kind);
void node_release(struct node *n);
/** Deep copy into an uninitialised @dst. @return 0 or -ENOMEM. */
int node_copy(struct node *dst, const struct node *src);

/** Find @name in @l. @return the entry (borrowed from @l) or NULL. */
const struct listing_entry *listing_find(const struct listing *l, const char *name);
/** An empty listing with room for @cap entries (one reference). @return it or NULL. */
struct listing *listing_new(size_t cap);
/** Sort the entries of @l by name, as listing_find() needs. */
void listing_sort(struct listing *l);
void listing_get(struct listing *l);
void listing_put(struct listing *l);

#endif
