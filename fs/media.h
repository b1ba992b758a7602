/* /media: one DICOM file-set per study, as a CD would hold it, for a viewer's "import from
 * DICOMDIR": /media/<StudyInstanceUID>/ holds DICOMDIR and DICOM/S0001/I00001 ... Its folders
 * make the queries /studies/<uid> makes (series, then each series' instances); the DICOMDIR
 * is made when first opened (media/fileset.h). Called on FUSE worker threads; no state. */
#ifndef TROLLEY_MEDIA_H
#define TROLLEY_MEDIA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "fs/tree.h"

/* A pseudo-attribute (group FFFF is never DICOM, and no xattr shows it): a file-set folder's
 * place inside its file-set ("" for /media/<study>, "DICOM", "DICOM/S0001"). */
#define MEDIA_TAG_PATH 0xFFFF0002u

#define MEDIA_DICOMDIR_NAME "DICOMDIR"
#define MEDIA_FOLDER_NAME   "DICOM"

/* File IDs: S<n> for the n-th series and I<n> for the n-th instance of it (PS3.10 8.2: each
 * component at most 8 characters), so at most this many of each. */
#define MEDIA_MAX_ENTRIES 9999999u
/* Instances one DICOMDIR describes at most: what a build holds (~250 bytes each, 25 MB here)
 * and downloads is bounded whatever a server claims. A DVD holds a few thousand; the largest
 * studies (a multi-phase CT) tens of thousands. */
#define MEDIA_MAX_DICOMDIR 100000u

/**
 * The DICOMDIR @n (a NODE_DICOMDIR) of its study, appended to @out: stored, or built now from
 * the study's instances, fetching those not cached. The series' instance lists are read one
 * at a time, and a study of more than MEDIA_MAX_DICOMDIR instances gets none (nothing
 * fetched). @return 0, -EIO (logged: an instance that cannot be fetched or described, a UID
 * that is not one, a study over the bound), -ENOMEM, -E2BIG.
 */
int media_dicomdir(struct tree *t, const struct node *n, struct buf *out,
		   struct errors_detail *why);
/** Size of DICOMDIR @n as its last open served it, if stored. @return 0 or -ENOENT. */
int media_dicomdir_size(struct tree *t, const struct node *n, uint64_t *size);

#endif
