/* The FUSE low-level operations. The low-level API is chosen over the path-based one because
 * trolley's answers differ per file: an instance not yet downloaded must have its attributes
 * re-read after open (its size becomes exact), a cached one can be trusted for a day with its
 * page cache kept, and folders need short but non-zero timeouts. Only the low-level API sets
 * entry and attribute timeouts per reply. */
#ifndef TROLLEY_OPS_H
#define TROLLEY_OPS_H

#include <fuse_lowlevel.h>

#include "cache/cache.h"
#include "fs/handles.h"
#include "fs/inodes.h"
#include "fs/inoset.h"
#include "fs/refresh.h"
#include "fs/tree.h"

struct trolley_fs {
	struct inodes *inodes;
	struct tree tree;
	long meta_ttl;	/* how long a folder's listing is reused in memory */
	time_t mounted; /* mtime of folders without DICOM dates (root, /patients, a patient) */
	uid_t uid;	/* owner of every file and folder (uid=) */
	gid_t gid;	/* their group (gid=) */
	mode_t umask;	/* taken from 0555 (folders) and 0444 (files) (umask=) */
	uid_t owner;	/* the daemon's user: sees every line of /.trolley/errors */
	struct fuse_session *se; /* for attribute invalidations */
	struct handles handles;	 /* open files and folders, for the end of the session */
	unsigned long refreshes; /* so far (atomic): a listing made across one is not kept */
	struct refresh_state refresh; /* names missed lately, the refresh budget (fs/refresh.c) */
	/* The inodes the kernel may hold an estimated size for (fs/ops.c says how they are
	 * used); set up by the FUSE init operation. */
	pthread_mutex_t size_gate;
	struct inoset estimated;
	bool estimates_lost; /* a mark could not be kept: every open invalidates */
};

/** The operations table; userdata of the session is a struct trolley_fs. */
extern const struct fuse_lowlevel_ops trolley_ops;

#endif
