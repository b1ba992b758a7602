/* Refresh: fresh listings without a remount. SIGHUP forgets every stored listing and metadata
 * document; reading the extended attribute user.trolley.refresh of a folder forgets that
 * folder's (mount.trolley.8 says why a read). Instances never change and are never forgotten.
 * After a refresh the next listing asks the archive, and the kernel's cached entries of the
 * folder (its attributes, the names it answered "no such file" for) are invalidated. */
#ifndef TROLLEY_REFRESH_H
#define TROLLEY_REFRESH_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "fs/names.h"

struct trolley_fs;

/* The extended attribute whose reading refreshes a folder; not listed by listxattr, so
 * `getfattr -d`, `cp -a` and `rsync -X` never read it by accident. */
#define REFRESH_XATTR "user.trolley.refresh"
/* Its value: the time of the refresh, "2026-12-01T10:31:29Z" (always this long). */
#define REFRESH_VALUE_LEN 20

/* Names answered "no such file" lately, so that a refresh can drop the kernel's negative
 * entries (it keeps them for NEGATIVE_TIMEOUT, 5 s): `stat /mnt/studies/1.2.3` before the
 * study arrived, then a refresh, then `stat` again must find it. A few hundred cover what a
 * user types in those seconds; older ones have expired in the kernel anyway. */
#define REFRESH_MISSES	 256
#define REFRESH_MISS_AGE 10 /* seconds: longer than the kernel keeps a negative entry */

#define REFRESH_BURST  30  /* refreshes at once */
#define REFRESH_PERIOD 2   /* seconds for one more */
#define REFRESH_RECENT 256 /* folders whose last refresh is remembered (a ring) */

/** A mount's refresh state (in struct trolley_fs); fields are private. Set up with
 * refresh_state_init() before the session starts; plain data, no release. */
struct refresh_state {
	struct refresh_misses {
		pthread_mutex_t lock;
		struct refresh_miss {
			uint64_t parent;
			time_t when;
			char name[NAMES_BUF];
		} v[REFRESH_MISSES];
		size_t next;
	} misses;
	/* The budget of folder refreshes, and the folders refreshed lately. */
	struct refresh_limit {
		pthread_mutex_t lock;
		struct refresh_recent {
			uint64_t ino; /* 0: free */
			int64_t when; /* monotonic seconds */
			char value[REFRESH_VALUE_LEN + 1];
		} v[REFRESH_RECENT];
		size_t next;
		double tokens;
		int64_t filled; /* monotonic seconds of the last refill (0: never: full) */
		int64_t warned; /* when the last over-budget line was logged */
	} limit;
};

/** Empty refresh state: nothing missed, the whole budget. */
void refresh_state_init(struct refresh_state *r);

/**
 * Refresh folder @ino (a FUSE worker, answering the read of REFRESH_XATTR): forget its
 * listing, in memory and stored, and its metadata, and invalidate the kernel's entries.
 * @value (REFRESH_VALUE_LEN + 1 bytes) receives the time of the refresh.
 * A folder refreshed less than 10 s ago is answered by that refresh (its time, no work), and
 * past a budget of refreshes (30 at once, one more each 2 s) a refresh is -EAGAIN: a reader's
 * loop cannot make the archive answer, nor the store write, per call.
 * @return 0; -ENODATA for a file (nothing to refresh); -EOPNOTSUPP offline (nothing to ask:
 * the stored listings stay); -EAGAIN past the budget; -ENOENT, or the cache's -errno.
 */
int refresh_folder(struct trolley_fs *fs, uint64_t ino, char *value);

/** A lookup of @name in folder @parent was answered "no such file": remember it for a while,
 * so a refresh can invalidate the kernel's negative entry. Any FUSE worker. */
void refresh_note_miss(struct trolley_fs *fs, uint64_t parent, const char *name);

/**
 * Install the SIGHUP handler (after fuse_set_signal_handlers(), which makes SIGHUP end the
 * session: here it refreshes instead) and start the thread that does the work. The handler
 * only writes a byte to a pipe. @return 0 or -errno. Stop with refresh_stop().
 */
int refresh_start(struct trolley_fs *fs);
/** Stop the thread, restore SIGHUP to libfuse's handler (before fuse_remove_signal_handlers()). */
void refresh_stop(void);

#endif
