/* The LMDB environment under cache_dir: query results with the time they were stored,
 * documents (metadata.json, a study's DICOMDIR) and instance blobs keyed by SOPInstanceUID.
 * One environment per process (an LMDB rule). */
#ifndef TROLLEY_STORE_H
#define TROLLEY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/attrs.h"
#include "core/buf.h"

struct store;

/**
 * Open (creating if needed) the store in @dir, with an LMDB map of @map_size bytes, keeping
 * blobs of at most @limit bytes in all (least recently used ones are evicted).
 * @return 0 and the store in @out (close with store_close()), or -errno (logged).
 */
int store_open(const char *dir, uint64_t map_size, uint64_t limit, struct store **out);
/**
 * store_open() as the system whose boot is @boot_id (store_open() reads this boot's from
 * /proc; a test gives a made-up one). With a @boot_id, commits are not synced to the disk; a
 * marker file cache_dir/dirty holding @boot_id, on the disk before the first write, says so
 * until store_close() has synced: a marker of another boot at open means its system went down
 * before that, and the cache is discarded (logged) and starts empty. NULL: every commit is
 * synced, no marker. Only one process may have @dir open (main.c's lock).
 */
int store_open_boot(const char *dir, uint64_t map_size, uint64_t limit, const char *boot_id,
		    struct store **out);
/* min_free's default: 5% of the filesystem, at most 1 GiB (store_fs_floor()). */
#define STORE_MIN_FREE_AUTO UINT64_MAX

/**
 * Keep @min_free bytes free on the filesystem of the store's folder (STORE_MIN_FREE_AUTO: the
 * default rule of store_fs_floor(); 0, as after store_open(): none, the disk may fill): blobs
 * are evicted so that the file and the free space left stay above it, and the cache holds at
 * most min(cache_size, what the disk allows). Call before the store is used by other threads.
 */
void store_set_min_free(struct store *s, uint64_t min_free);
/**
 * The floor on the filesystem of @dir: @min_free bytes, or for STORE_MIN_FREE_AUTO 5% of the
 * filesystem's size, at most 1 GiB; and the bytes free there for us now (f_bavail).
 * @return 0 or -errno (statvfs).
 */
int store_fs_floor(const char *dir, uint64_t min_free, uint64_t *floor, uint64_t *avail);

/** Whether @more bytes can go to the store's disk and leave it above its floor (always with
 * no floor). */
bool store_has_room(struct store *s, uint64_t more);

/** The disk under the store, for the status. */
struct store_room {
	uint64_t limit;	    /* cache_size */
	uint64_t effective; /* what the blobs may hold now: min(cache_size, what the disk allows) */
	uint64_t floor;	    /* bytes kept free on the filesystem (0: none) */
	uint64_t avail;	    /* bytes free on it now */
	bool floor_in_force; /* the floor makes the effective limit smaller than cache_size */
};
/** Measure it now. */
void store_room(struct store *s, struct store_room *out);

/** Sync what is not on the disk yet, remove the marker, close. */
void store_close(struct store *s);
/** This boot's id (/proc/sys/kernel/random/boot_id) into @out. @return 0 or -errno. */
int store_boot_id(char *out, size_t n);
/** Create @dir and its parents (mode 0700) if missing. @return 0 or -errno. */
int store_mkdir(const char *dir);

/**
 * Fetch the query result stored under @key into @out (initialised, empty) and the time it was
 * stored into @stored_at (seconds since the epoch). @return 0, -ENOENT, -EIO (damaged), -ENOMEM.
 */
int store_meta_get(struct store *s, const char *key, struct attrset_list *out, int64_t *stored_at);
/** Store @l under @key with time @now. @return 0, -ENOSPC (map full), -EIO. */
int store_meta_put(struct store *s, const char *key, const struct attrset_list *l, int64_t now);

/**
 * The document stored under @key (a metadata reply), appended to @out, and its time.
 * @return 0, -ENOENT, -EIO (damaged), -ENOMEM / -E2BIG (from @out).
 */
int store_doc_get(struct store *s, const char *key, struct buf *out, int64_t *stored_at);
/** Size of the document under @key. @return 0 or -ENOENT. */
int store_doc_size(struct store *s, const char *key, uint64_t *size);
/** Store @len bytes under @key with time @now. @return 0, -ENOSPC, -EIO. */
int store_doc_put(struct store *s, const char *key, const void *data, size_t len, int64_t now);

/** Size of the blob of @sop. @return 0, or -ENOENT if it is not stored. */
int store_blob_size(struct store *s, const char *sop, uint64_t *size);
/**
 * Copy up to @n bytes of the blob of @sop from @off into @buf (copied out inside a read
 * transaction: the caller's buffer is its own). @return bytes copied (0 at or past the end),
 * or -ENOENT / -EIO.
 */
long store_blob_read(struct store *s, const char *sop, uint64_t off, void *buf, size_t n);
/**
 * Hand up to @n bytes of the blob of @sop from @off to @use, without a copy: @data points into
 * the map and is valid only during the call, which runs inside a read transaction (so @use
 * must not block on the network). @return what @use returned (0 bytes at or past the end), or
 * -ENOENT / -EIO without calling it.
 */
int store_blob_use(struct store *s, const char *sop, uint64_t off, size_t n,
		   int (*use)(void *ctx, const void *data, size_t len), void *ctx);
/**
 * Store @size bytes read from file @fd (from offset 0) as the blob of @sop, in one short write
 * transaction, evicting least recently used blobs to stay within the limit (cache_size, or
 * less when the disk's floor says so); an existing blob is kept as it is (instances never
 * change).
 * @return 0; -ENOSPC if it cannot fit (larger than the limit, the disk at its floor, the map
 * full or the file unable to grow: nothing stored); -EIO.
 */
int store_blob_put_fd(struct store *s, const char *sop, int fd, uint64_t size);
/** As store_blob_put_fd(), from @size bytes in memory at @data (copied once, into LMDB's page). */
int store_blob_put_data(struct store *s, const char *sop, const void *data, uint64_t size);
/**
 * @sop is open: it is not evicted until store_unpin(). Pins nest. Pin before looking the blob
 * up: a blob that a write transaction under way is evicting cannot be pinned (a read would
 * still see it until that commits, and fail after).
 * @return 0; -ENOENT (being evicted: treat as not stored); -ENOMEM.
 */
int store_pin(struct store *s, const char *sop);
void store_unpin(struct store *s, const char *sop);
/** @sop was used: it moves to the back of the eviction order (written at the next store). */
void store_touch(struct store *s, const char *sop);
/** Blobs evicted since the store was opened. */
uint64_t store_evictions(struct store *s);

/** One blob of a batch: @sop's @size bytes at @data, or (@data NULL) in file @fd; @err is
 * its outcome. */
struct store_put {
	const char *sop;
	int fd;
	const void *data;
	uint64_t size;
	int err;
};

/**
 * Store several blobs in one write transaction (one disk sync for all: a series prefetch
 * commits its instances in batches). Each item's @err is set as store_blob_put_fd() would
 * return it. @return 0, or the -errno that failed the whole transaction.
 */
int store_blob_put_batch(struct store *s, struct store_put *items, size_t n);

/** Whether a blob for @sop is stored. */
bool store_has_blob(struct store *s, const char *sop);
/** Open an anonymous temporary file in the store's folder (same filesystem). @return fd or -errno. */
int store_tmpfile(struct store *s);
/**
 * Make a new empty folder "<@prefix>XXXXXX" (mode 0700) in the store's folder, for files that
 * must have names (a DICOMDIR is made of named files), on the same filesystem as the cache.
 * The caller removes it. @return 0 and its path in @path (size @n), or -errno.
 */
int store_tmpdir(struct store *s, const char *prefix, char *path, size_t n);
/** Number of blobs and the bytes they hold. */
void store_usage(struct store *s, uint64_t *count, uint64_t *bytes);

#endif
