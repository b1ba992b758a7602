/* The DICOMDIR of a study's file-set (/media/<study>/DICOMDIR): made from the study's instances,
 * fetched through the cache (cache/cache.h, nothing else of it), by dcmtk (dcmtk/dicomdir.h),
 * and kept as one of the cache's documents. Which file ID each instance gets is fs/media.c's
 * choice. */
#ifndef TROLLEY_MEDIA_FILESET_H
#define TROLLEY_MEDIA_FILESET_H

#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "core/buf.h"

/** One instance of a file-set. All borrowed. Items of one series are next to each other. */
struct fileset_item {
	struct instance_ref ref;
	const char *file_id; /* "DICOM/S0001/I00001": components of at most 8 of A-Z 0-9 _ */
};

/**
 * What the files of a file-set are made of when they are not the archive's bytes as stored
 * (the de-identified view, fs/view.h): @make appends to @out the bytes that stand for open
 * blob @b of instance @sop (its original UID), or returns a -errno; -EACCES leaves the
 * instance out of the DICOMDIR (withheld).
 */
struct fileset_view {
	int (*make)(struct cache_blob *b, const char *sop, struct buf *out);
};

/**
 * The DICOMDIR of study @study_uid laid out as @items (@n of them, none twice), appended to
 * @out. @layout_id names that layout (the same items under the same file IDs give the same
 * id): a DICOMDIR stored under it serves as it is, whatever its age, since instances never
 * change. Else every instance is opened through cache_open() (downloaded if need be, each
 * series' first one starting the series' prefetch), written out one at a time under a
 * temporary folder in cache_dir, read by dcmtk and removed again (disk: the largest instance,
 * not the study), and the DICOMDIR written there is stored and served.
 * Called on FUSE worker threads; concurrent calls for one study each build (the transfers
 * are shared by single-flight) and store the same document.
 * @return 0; -EIO, logged naming the instance, if one cannot be fetched or dcmtk refuses it,
 * or if the DICOMDIR does not reference every item (never a DICOMDIR missing an image);
 * -ENOMEM; -E2BIG (from @out). What failed in a fetch goes into @detail (may be NULL:
 * core/errors.h).
 */
int fileset_dicomdir(struct cache *c, const char *study_uid, const char *layout_id,
		     const struct fileset_item *items, size_t n, struct buf *out,
		     struct errors_detail *detail);
/**
 * As fileset_dicomdir(), with each file made by @view (NULL: as fileset_dicomdir()); the
 * instances @view withholds are left out of the DICOMDIR. @layout_id must name the view too.
 */
int fileset_dicomdir_view(struct cache *c, const char *study_uid, const char *layout_id,
			  const struct fileset_item *items, size_t n,
			  const struct fileset_view *view, struct buf *out,
			  struct errors_detail *detail);

/**
 * Size of the DICOMDIR of @study_uid that fileset_dicomdir() served last (under whichever
 * layout), if it is stored: the size a stat shows from its open on. @return 0 or -ENOENT.
 */
int fileset_dicomdir_size(struct cache *c, const char *study_uid, uint64_t *size);

#endif
