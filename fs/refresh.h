/* Refresh: fresh listings without a remount. SIGHUP forgets every stored listing and metadata
 * document; reading the extended attribute user.trolley.refresh of a folder forgets that
 * folder's (mount.trolley.8 says why a read). Instances never change and are never forgotten.
 * After a refresh the next listing asks the archive, and the kernel's cached entries of the
 * folder (its attributes, the names it answered "no such file" for) are invalidated. */
#ifndef TROLLEY_REFRESH_H
#define TROLLEY_REFRESH_H

#include <stdint.h>

struct trolley_fs;

/* The extended attribute whose reading refreshes a folder; not listed by listxattr, so
 * `getfattr -d`, `cp -a` and `rsync -X` never read it by accident. */
#define REFRESH_XATTR "user.trolley.refresh"
/* Its value: the time of the refresh, "2026-12-01T10:31:29Z" (always this long). */
#define REFRESH_VALUE_LEN 20

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
void refresh_note_miss(uint64_t parent, const char *name);

/**
 * Install the SIGHUP handler (after fuse_set_signal_handlers(), which makes SIGHUP end the
 * session: here it refreshes instead) and start the thread that does the work. The handler
 * only writes a byte to a pipe. @return 0 or -errno. Stop with refresh_stop().
 */
int refresh_start(struct trolley_fs *fs);
/** Stop the thread, restore SIGHUP to libfuse's handler (before fuse_remove_signal_handlers()). */
void refresh_stop(void);

#endif
