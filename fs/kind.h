/* What each kind of node does, as one table (the shape of libfuse's fuse_lowlevel_ops and curl's
 * Curl_protocol): a folder kind lists its children and may look a child up by name without a
 * listing; a file kind says its size and opens. Each entry is filled by the file that owns the
 * kind (fs/node.h names it); fs/ops.c and fs/refresh.c ask the table what a node does, with no
 * if-chain on kinds: a new kind is one enum value, one entry here and the file that fills it. */
#ifndef TROLLEY_KIND_H
#define TROLLEY_KIND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/node.h"

struct buf;
struct errors_detail;
struct cache_blob;
struct fuse_file_info;
struct tree;
struct trolley_fs;

/* Who asks, for a file's size and its open. */
struct kind_req {
	struct trolley_fs *fs;
	uid_t reader; /* the caller's uid */
	uint64_t ino;
	struct errors_detail *why; /* what failed, for /.trolley/errors (may be NULL) */
};

struct kind_ops {
	const char *name; /* for the unit test and the reader of this table */
	/* A fixed child of the folder of kind @parent (the root or /.trolley) named @fixed_name;
	 * NULL: its folder finds it by a query or by its name. */
	enum node_kind parent;
	const char *fixed_name;
	bool by_uid;	 /* its children are named by UID (/studies) */
	bool view_hides; /* the de-identified view has no such folder (a fixed child) */

	/* A folder: its children (@return 0 and @out, drop with listing_put(), or -errno). */
	int (*list)(struct tree *t, const struct node *dir, struct listing **out,
		    struct errors_detail *why);
	/* A folder whose children are found by name before any listing (it may be too big to
	 * list, or have no listing at all): child @name into @out (uninitialised; release with
	 * node_release()), and a listing made on the way in @listed (a reference, or left NULL).
	 * @return 0, -ENOENT, or -errno. NULL: children are found in the listing. */
	int (*lookup)(struct tree *t, const struct node *dir, const char *name, struct node *out,
		      struct listing **listed, struct errors_detail *why);

	/* A file: its size into *@size (left 0 while unknown: the file is read with direct_io);
	 * @return how long the kernel may keep its attributes, in seconds. */
	double (*stat)(const struct kind_req *r, const struct node *n, uint64_t *size);
	/* A file: open it into *@blob (an instance) or @text (uninitialised: a text made now),
	 * and say in @fi how the kernel may cache it. @return 0 or -errno. */
	int (*open)(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
		    struct buf *text, struct fuse_file_info *fi);
	/* fstat() of an open handle gives the length of the text it reads (a snapshot). */
	bool size_of_open;
};

/* The entries, each defined by its owner. */
extern const struct kind_ops kind_root;	    /* fs/kind.c */
extern const struct kind_ops kind_patients; /* fs/lookup.c */
extern const struct kind_ops kind_studies;  /* fs/lookup.c */
extern const struct kind_ops kind_patient;  /* fs/tree.c */
extern const struct kind_ops kind_study;    /* fs/tree.c */
extern const struct kind_ops kind_series;   /* fs/tree.c */
extern const struct kind_ops kind_dates;    /* fs/tree.c */
extern const struct kind_ops kind_date;	    /* fs/tree.c */
extern const struct kind_ops kind_searches; /* fs/tree.c */
extern const struct kind_ops kind_search;   /* fs/tree.c */
extern const struct kind_ops kind_instance; /* fs/ops.c */
extern const struct kind_ops kind_metadata; /* fs/ops.c */
extern const struct kind_ops kind_control;  /* fs/kind.c */
extern const struct kind_ops kind_status;   /* fs/status.c */
extern const struct kind_ops kind_errors;   /* fs/status.c */
extern const struct kind_ops kind_media;    /* fs/media.c */
extern const struct kind_ops kind_fileset;  /* fs/media.c */
extern const struct kind_ops kind_dicomdir; /* fs/media.c */

/** The entry of @k (never NULL for a kind of the enum: tests/unit/test_kind.c checks). */
const struct kind_ops *kind_of(enum node_kind k);
/** Whether @n is a folder (its kind lists children). */
bool kind_is_dir(const struct node *n);
/** List the children of folder @dir. @return 0 and @out (drop with listing_put()), -ENOTDIR
 * for a file, or the kind's -errno (-EIO, logged, for a folder of an entry whose UID is not one:
 * it is never asked for). */
int kind_list(struct tree *t, const struct node *dir, struct listing **out,
	      struct errors_detail *why);
/** Whether the children of @dir are looked up by name before any listing (kind_lookup()). */
bool kind_has_lookup(const struct node *dir);
/**
 * Resolve child @name of @dir without a listing of @dir at hand (/patients and /studies may be
 * too big to list): the kind's lookup; a listing of @dir it made goes to @listed (a reference
 * for the caller to keep as the folder's listing, or NULL). @return 0 and @out (uninitialised;
 * release with node_release()), -ENOENT if there is no such child (or the kind has no lookup),
 * or -errno.
 */
int kind_lookup(struct tree *t, const struct node *dir, const char *name, struct node *out,
		struct listing **listed, struct errors_detail *why);
#endif
