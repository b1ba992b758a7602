/* A study's DICOMDIR: its instances come through cache_open() (the store, or a download with
 * the series prefetch), are laid out one at a time as named files under a temporary folder in
 * cache_dir for dcmtk (dcmtk/dicomdir.cc), and the DICOMDIR it writes there is kept as one of
 * the cache's documents (cache_doc_put), as metadata.json is. Uses only cache/cache.h. */
#include "media/fileset.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "dcmtk/dicomdir.h"

/* An instance is written out in pieces of this size: each piece is handed from the LMDB map
 * inside one read transaction, which should stay short. */
#define FILESET_CHUNK (8u << 20)

/* add_item()'s outcome for an instance the view withholds: not in the DICOMDIR. */
#define FILESET_LEFT_OUT 1

/* The cache's documents: "dicomdir" under "<study>|<layout id>" (the layout id pins the
 * content: the same instances under the same file IDs, so a stored DICOMDIR never goes stale),
 * and "dicomdir-served" under the study: the layout id of the DICOMDIR last served for it,
 * which is what its stat size is. */
#define DOC_DICOMDIR "dicomdir"
#define DOC_SERVED   "dicomdir-served"

/* @return "<study>|<layout id>" (caller frees) or NULL. */
static char *dicomdir_name(const char *study_uid, const char *layout_id)
{
	char *name;

	if (asprintf(&name, "%s|%s", study_uid, layout_id) < 0)
		return NULL;
	return name;
}

/* Remember that the DICOMDIR of @study_uid served now is the one under @layout_id. */
static void note_served(struct cache *c, const char *study_uid, const char *layout_id)
{
	struct buf old;

	buf_init(&old, 256);
	if (cache_doc_get(c, DOC_SERVED, study_uid, &old) != 0 || !old.data ||
	    strcmp(old.data, layout_id) != 0)
		cache_doc_put(c, DOC_SERVED, study_uid, layout_id, strlen(layout_id));
	buf_release(&old);
}

int fileset_dicomdir_size(struct cache *c, const char *study_uid, uint64_t *size)
{
	char *name = NULL;
	struct buf id;
	int err;

	buf_init(&id, 256);
	err = cache_doc_get(c, DOC_SERVED, study_uid, &id);
	if (!err && !id.data)
		err = -ENOENT;
	if (!err) {
		name = dicomdir_name(study_uid, id.data);
		err = name ? cache_doc_size(c, DOC_DICOMDIR, name, size) : -ENOMEM;
	}
	buf_release(&id);
	free(name);
	return err == -ENOMEM ? err : err ? -ENOENT : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One piece of the blob: bytes in the store's map, or a range of its temporary file (an
 * instance too big for the cache), read through a small buffer. */
static int write_piece(void *ctx, const struct cache_bytes *b)
{
	int fd = *(int *)ctx;
	char chunk[64 << 10];
	size_t done = 0;

	if (b->data)
		return write_all(fd, b->data, b->len);
	while (done < b->len) {
		size_t want = b->len - done < sizeof(chunk) ? b->len - done : sizeof(chunk);
		ssize_t r = pread(b->fd, chunk, want, (off_t)(b->pos + (int64_t)done));
		int err;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		err = write_all(fd, chunk, (size_t)r);
		if (err)
			return err;
		done += (size_t)r;
	}
	return 0;
}

/* Write the whole of open blob @b to a new file @path. */
static int write_instance(struct cache_blob *b, const char *path)
{
	uint64_t size = cache_blob_size(b), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int err = 0;

	if (fd < 0)
		return -errno;
	while (!err && off < size) {
		size_t n = size - off < FILESET_CHUNK ? (size_t)(size - off) : FILESET_CHUNK;

		err = cache_blob_use(b, off, n, write_piece, &fd);
		off += n;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* The folders of @file_id under @root ("DICOM", "DICOM/S0001"), made if missing. */
static int make_folders(const char *root, const char *file_id)
{
	char path[PATH_MAX];
	size_t base = strlen(root) + 1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, file_id) >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *s = path + base; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The temporary folder and whatever is left in it (an instance whose add failed). */
static void remove_tree(const char *root)
{
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Append file @path to @out (at most out->max bytes). */
static int read_file(const char *path, struct buf *out)
{
	char piece[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, piece, sizeof(piece));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = -errno;
		if (r <= 0)
			break;
		err = buf_add(out, piece, (size_t)r);
		if (err)
			break;
	}
	close(fd);
	return err;
}

static bool same_series(const struct fileset_item *a, const struct fileset_item *b)
{
	return strcmp(a->ref.series_uid ? a->ref.series_uid : "",
		      b->ref.series_uid ? b->ref.series_uid : "") == 0;
}

/* Write the bytes @view makes of open blob @b to a new file @path. */
static int write_view(struct cache_blob *b, const char *sop, const struct fileset_view *view,
		      const char *path)
{
	struct buf made;
	int fd, err;

	buf_init(&made, (size_t)2 << 30);
	err = view->make(b, sop, &made);
	if (err) {
		buf_release(&made);
		return err;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
	} else {
		err = write_all(fd, made.data ? made.data : "", made.len);
		if (close(fd) < 0 && !err)
			err = -errno;
	}
	buf_release(&made);
	return err;
}

/* Add item @it to @dd: fetch it (its series' SOPInstanceUIDs @series, @nseries of them, for
 * the prefetch), write it as @root/<file ID>, let dcmtk read it and remove it again.
 * @return 0, FILESET_LEFT_OUT if @view withholds it, or -errno. */
static int add_item(struct cache *c, struct dicomdir *dd, const char *root, const char *study_uid,
		    const struct fileset_item *it, const char *const *series, size_t nseries,
		    const struct fileset_view *view, struct errors_detail *detail)
{
	char path[PATH_MAX], why[256] = "";
	struct cache_blob *b = NULL;
	int err;

	err = cache_open(c, &it->ref, series, nseries, &b, detail);
	if (err == -EINTR)
		return err; /* the opener gave up: the DICOMDIR is not made */
	if (err) {
		log_error("DICOMDIR of study %s: instance %s (%s) could not be fetched: %s",
			  study_uid, it->ref.sop_uid, it->file_id, strerror(-err));
		return -EIO;
	}
	err = make_folders(root, it->file_id);
	if (!err &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", root, it->file_id) >= sizeof(path))
		err = -ENAMETOOLONG;
	if (!err)
		err = view ? write_view(b, it->ref.sop_uid, view, path) : write_instance(b, path);
	cache_blob_close(b);
	if (err == -EACCES && view) {
		unlink(path);
		return FILESET_LEFT_OUT; /* withheld: the view says why, once */
	}
	if (err) {
		log_error("DICOMDIR of study %s: instance %s (%s) could not be written to %s: %s",
			  study_uid, it->ref.sop_uid, it->file_id, root, strerror(-err));
		return err == -ENOMEM ? err : -EIO;
	}
	err = dicomdir_add(dd, it->file_id, why, sizeof(why));
	unlink(path);
	if (err == -EIO)
		log_error("DICOMDIR of study %s: instance %s (%s) cannot be described: %s",
			  study_uid, it->ref.sop_uid, it->file_id, why);
	return err;
}

/* Build the DICOMDIR in a temporary folder and append it to @doc. */
static int build(struct cache *c, const char *study_uid, const struct fileset_item *items, size_t n,
		 const struct fileset_view *view, struct buf *doc, struct errors_detail *detail)
{
	char root[PATH_MAX], path[PATH_MAX], why[256] = "";
	const char **sops = calloc(n ? n : 1, sizeof(*sops));
	struct dicomdir *dd = NULL;
	size_t run = 0, end = 0, files = 0, left_out = 0;
	int err;

	if (!sops)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		sops[i] = items[i].ref.sop_uid;
	err = cache_tmpdir(c, "dicomdir.", root, sizeof(root));
	if (err) {
		log_error("DICOMDIR of study %s: no temporary folder in the cache folder: %s",
			  study_uid, strerror(-err));
		goto out_free;
	}
	err = dicomdir_new(root, &dd, why, sizeof(why));
	if (err) {
		if (err == -EIO)
			log_error("DICOMDIR of study %s: %s", study_uid, why);
		goto out_remove;
	}
	for (size_t i = 0; i < n && !err; i++) {
		/* Each series' instances, for the prefetch its first miss starts. */
		if (i == end) {
			run = i;
			while (end < n && same_series(&items[run], &items[end]))
				end++;
		}
		err = add_item(c, dd, root, study_uid, &items[i], sops + run, end - run, view,
			       detail);
		if (err == FILESET_LEFT_OUT) {
			left_out++;
			err = 0;
		}
	}
	if (!err)
		err = dicomdir_write(dd, &files, why, sizeof(why));
	if (err == -EIO && why[0])
		log_error("DICOMDIR of study %s: %s", study_uid, why);
	if (!err && files != n - left_out) {
		/* dcmtk skips some files it reads without an error (a repeated instance): a
		 * DICOMDIR that misses an image must not pass for the study. */
		log_error("DICOMDIR of study %s references %zu of its %zu instances", study_uid,
			  files, n - left_out);
		err = -EIO;
	}
	if (!err && (size_t)snprintf(path, sizeof(path), "%s/DICOMDIR", root) >= sizeof(path))
		err = -ENAMETOOLONG;
	if (!err)
		err = read_file(path, doc);
out_remove:
	dicomdir_free(dd);
	remove_tree(root);
out_free:
	free(sops);
	return err;
}

int fileset_dicomdir(struct cache *c, const char *study_uid, const char *layout_id,
		     const struct fileset_item *items, size_t n, struct buf *out,
		     struct errors_detail *detail)
{
	return fileset_dicomdir_view(c, study_uid, layout_id, items, n, NULL, out, detail);
}

int fileset_dicomdir_view(struct cache *c, const char *study_uid, const char *layout_id,
			  const struct fileset_item *items, size_t n,
			  const struct fileset_view *view, struct buf *out,
			  struct errors_detail *detail)
{
	char *name = dicomdir_name(study_uid, layout_id);
	struct buf doc;
	int err;

	if (!name)
		return -ENOMEM;
	buf_init(&doc, out->max);
	if (cache_doc_get(c, DOC_DICOMDIR, name, &doc) == 0) {
		cache_count_doc(c, true);
		err = buf_add(out, doc.data, doc.len);
		if (!err)
			note_served(c, study_uid, layout_id);
		goto out;
	}
	doc.len = 0;
	cache_count_doc(c, false);
	err = build(c, study_uid, items, n, view, &doc, detail);
	if (err)
		goto out;
	/* Its stat size is the stored one: a DICOMDIR the store cannot keep is still served,
	 * but shows size 0 (as metadata.json would), so say why. */
	if (cache_doc_put(c, DOC_DICOMDIR, name, doc.data, doc.len) < 0)
		log_warn("DICOMDIR of study %s (%zu bytes) could not be stored: its size shows 0",
			 study_uid, doc.len);
	else
		note_served(c, study_uid, layout_id);
	err = buf_add(out, doc.data, doc.len);
out:
	buf_release(&doc);
	free(name);
	return err;
}
