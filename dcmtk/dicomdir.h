/* The DICOMDIR of a file-set, made by dcmtk's DicomDirInterface (General Purpose profile) from
 * files in a folder; C++ behind this C header, beside the DIMSE shim (dcmtk/ holds all of
 * trolley's C++). Every exception is caught inside and becomes a negative errno. Knows files,
 * not the cache or FUSE. */
#ifndef TROLLEY_DICOMDIR_H
#define TROLLEY_DICOMDIR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dicomdir;

/**
 * Start the DICOMDIR @root/DICOMDIR of the file-set whose files lie under folder @root (it is
 * written by dicomdir_write()). Missing type 1 record attributes are invented (dcmgpdir's
 * +I), any transfer syntax is accepted (-Nxc) and retired SOP classes too (+Nrs): an archive's
 * study must be described whole, not refused for what a CD profile would not burn.
 * @return 0 and @out (free with dicomdir_free()), -ENOMEM, or -EIO with @why (size @n).
 */
int dicomdir_new(const char *root, struct dicomdir **out, char *why, size_t n);
/**
 * Add the records of the Part-10 file @root/@file_id (@file_id: components of at most 8
 * characters A-Z 0-9 _ joined by '/', which becomes its ReferencedFileID). dcmtk reads the
 * file now (values longer than 4 KiB, the pixel data, are not loaded) and keeps nothing of
 * it open: the file may be removed when this returns.
 * @return 0, -ENOMEM, or -EIO with @why (size @n) saying what dcmtk refused.
 */
int dicomdir_add(struct dicomdir *d, const char *file_id, char *why, size_t n);
/**
 * Write @root/DICOMDIR and count the records in it that reference a file (into @files), so
 * the caller can check that none was left out. @return 0, -ENOMEM, or -EIO with @why.
 */
int dicomdir_write(struct dicomdir *d, size_t *files, char *why, size_t n);
/** Free @d (NULL is fine); what was written stays. */
void dicomdir_free(struct dicomdir *d);

#ifdef __cplusplus
}
#endif

#endif
