/* FUSE operations: path → node (inodes, tree) → query or transfer (cache) → bytes. Timeouts:
 * folders 1 s (they change, and zero would make the kernel ask on every access); files not yet
 * downloaded 1 s too, their size an estimate: open() fetches them and then invalidates the
 * kernel's attributes, so fstat() after open already reads the exact size; cached files a day,
 * with keep_cache, since an instance never changes. What a node does is its kind's entry in the
 * table of fs/kind.h: this file asks the table and fills the entries of instances and
 * metadata.json. */
#include "fs/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cancel.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/query.h"
#include "core/tags.h"
#include "fs/inoset.h"
#include "fs/kind.h"
#include "fs/refresh.h"
#include "fs/view.h"
#include "fs/xattr.h"

#define DIR_TIMEOUT	    1.0
#define NEGATIVE_TIMEOUT    5.0
#define CACHED_FILE_TIMEOUT 86400.0

/* The inodes the kernel may hold an estimated size for: a reply carried an estimate since the
 * last invalidation. The first open of such an inode tells the kernel, before any open of it
 * returns. An inode never handed an estimate (a cached instance, listed with its exact size)
 * needs no invalidation: a warm copy saves the notification and the GETATTR it causes on every
 * open. Exact (a lost member would leave an estimate in the kernel); if it cannot grow, every
 * open invalidates. Guarded by size_gate: a reply decides on an estimate, and marks it, under
 * the gate, and an open looks after the instance is readable, so an estimate decided before
 * it became readable is marked before the open looks, and one decided after cannot be.
 * The set, its gate and estimates_lost are the mount's (struct trolley_fs), set up by
 * op_init() and released by op_destroy(). */

/* Under size_gate: an estimate of @ino's size goes to the kernel. */
static void note_estimate(struct trolley_fs *fs, uint64_t ino)
{
	if (inoset_add(&fs->estimated, ino) < 0)
		fs->estimates_lost = true;
}

/* Under size_gate: whether the kernel may hold an estimate of @ino's size; from now on it
 * holds none (the caller invalidates). */
static bool size_untold(struct trolley_fs *fs, uint64_t ino)
{
	return inoset_take(&fs->estimated, ino) || fs->estimates_lost;
}

static int inode_exists(const struct node *n, void *ctx)
{
	(void)n;
	(void)ctx;
	return 0;
}

/* The kernel forgot @ino: its mark goes with it (numbers are never handed out again). */
static void forget_estimate(struct trolley_fs *fs, uint64_t ino)
{
	/* Not under the gate: a reply takes the inodes' lock, then the gate. */
	if (inodes_with(fs->inodes, ino, inode_exists, NULL) != -ENOENT)
		return;
	pthread_mutex_lock(&fs->size_gate);
	inoset_take(&fs->estimated, ino);
	pthread_mutex_unlock(&fs->size_gate);
}

/* What an open file handle holds: an instance, or a text made at open (the status file). */
struct open_file {
	struct handle h; /* first: the registry's view of it */
	struct trolley_fs *fs;
	struct cache_blob *blob;
	struct buf text;
	int refs; /* the open, plus each read being answered */
};

/* Measured under AddressSanitizer with Python's sendfile() copy of a direct_io file: the kernel
 * can send RELEASE while a worker is still answering a READ of the same handle. So a read holds
 * its own reference, and the last one frees. */
static void open_file_free(struct handle *h)
{
	struct open_file *of = (struct open_file *)h;

	cache_blob_close(of->blob);
	buf_release(&of->text);
	free(of);
}

static void open_file_put(struct open_file *of)
{
	if (!of || __atomic_sub_fetch(&of->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	handles_remove(&of->fs->handles, &of->h);
	open_file_free(&of->h);
}

/* An open folder: the listing it reads (one consistent snapshot). */
struct dir_handle {
	struct handle h; /* first */
	struct listing *l;
};

static void dir_handle_free(struct handle *h)
{
	listing_put(((struct dir_handle *)h)->l);
	free(h);
}

static struct trolley_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* What a request may wait for (a listing, a transfer, another opener's transfer, a slot) ends
 * when its caller gives up: the kernel sends FUSE_INTERRUPT for a request whose caller got a
 * signal (any signal first; SIGKILL too), and until we answer, that caller sleeps in D state,
 * deaf to every further signal. libfuse calls on_interrupt() on the thread that reads the
 * INTERRUPT; the request's token (core/cancel.h) is this thread's while it works, so the waits
 * and transfers below end within a tick and the request is answered EINTR. */
struct req_watch {
	fuse_req_t req; /* NULL once ended */
	struct cancel token;
	struct cancel *prev;
};

static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	cancel_set(data);
}

static void watch_begin(struct req_watch *w, fuse_req_t req)
{
	w->req = req;
	w->token = (struct cancel)CANCEL_INIT;
	w->prev = cancel_enter(&w->token);
	/* Calls on_interrupt() at once if the INTERRUPT came already. */
	fuse_req_interrupt_func(req, on_interrupt, &w->token);
}

/* End the watch before the request is answered: a reply frees the request, and libfuse may be
 * inside on_interrupt() with our token until this returns (it holds the request's lock there).
 * Idempotent. @return @err, or -EINTR for a failure of a request whose caller gave up. */
static int watch_end(struct req_watch *w, int err)
{
	if (w->req) {
		fuse_req_interrupt_func(w->req, NULL, NULL);
		cancel_leave(w->prev);
		w->req = NULL;
	}
	if (err && err != -ENOENT && cancel_is_set(&w->token))
		return -EINTR;
	if (err == -ECANCELED)
		return -EINTR; /* the daemon stops */
	return err;
}

/* A failure the reader sees goes to /.trolley/errors with its path in the mount (of @ino, or
 * of its child @name) and @why (may be NULL): the detail this request carried down, filled
 * by whoever failed, on whichever thread. */
static void record_failure(struct trolley_fs *fs, fuse_req_t req, uint64_t ino, const char *name,
			   int err, const struct errors_detail *why)
{
	char path[4096];
	size_t len;

	if (inodes_path(fs->inodes, ino, path, sizeof(path)) != 0)
		snprintf(path, sizeof(path), "(inode %llu)", (unsigned long long)ino);
	len = strlen(path);
	if (name && len + 1 + strlen(name) < sizeof(path))
		snprintf(path + len, sizeof(path) - len, "%s%s", len > 1 ? "/" : "", name);
	errors_record_by(fuse_req_ctx(req)->uid, why, path, err, NULL);
}

/* The modification time of @n as the mount shows it: from the de-identified dates in the
 * view (shifted, or none: then the mount's time). */
static time_t shown_mtime(const struct node *n)
{
	struct node shown;
	time_t t;

	if (!view_active())
		return tree_mtime(n);
	node_init(&shown, n->kind);
	attrset_release(&shown.attrs);
	if (view_attrs(&n->attrs, &shown.attrs) < 0)
		return 0;
	t = tree_mtime(&shown);
	node_release(&shown);
	return t;
}

/* metadata.json: exact once fetched; read with direct_io, so a size that is not yet known (0)
 * never cuts a read short. */
static double stat_metadata(const struct kind_req *r, const struct node *n, uint64_t *size)
{
	const char *series = attrset_get(&n->attrs, TAG_SeriesInstanceUID);
	uint64_t stored;

	/* The view's is made at each open: 0 until then, as the status file. */
	if (!view_active() &&
	    cache_metadata_size(r->fs->tree.cache, attrset_str(&n->attrs, TAG_StudyInstanceUID),
				series, &stored) == 0)
		*size = stored;
	return 0;
}

/* An instance: exact from the first open on, whether it is in the cache or (too big for it) in
 * a temporary file: readers stop at this size. An estimate is decided again under the gate (see
 * size_gate). */
static double stat_instance(const struct kind_req *r, const struct node *n, uint64_t *size)
{
	const char *sop = attrset_str(&n->attrs, TAG_SOPInstanceUID);
	struct trolley_fs *fs = r->fs;
	double timeout;

	if (view_active()) {
		/* The de-identified bytes' size, from the first open on. */
		if (view_size(sop, size) == 0) {
			timeout = CACHED_FILE_TIMEOUT;
		} else {
			pthread_mutex_lock(&fs->size_gate);
			if (view_size(sop, size) == 0) {
				timeout = CACHED_FILE_TIMEOUT;
			} else {
				*size = tree_estimated_size(n);
				timeout = DIR_TIMEOUT;
				note_estimate(fs, r->ino);
			}
			pthread_mutex_unlock(&fs->size_gate);
		}
	} else if (cache_exact_size(fs->tree.cache, sop, size) == 0) {
		timeout = CACHED_FILE_TIMEOUT;
	} else {
		pthread_mutex_lock(&fs->size_gate);
		if (cache_exact_size(fs->tree.cache, sop, size) == 0) {
			timeout = CACHED_FILE_TIMEOUT;
		} else {
			*size = tree_estimated_size(n);
			timeout = DIR_TIMEOUT;
			note_estimate(fs, r->ino);
		}
		pthread_mutex_unlock(&fs->size_gate);
	}
	return timeout;
}

/* Fill @st for @node as user @reader sees it; @return the attribute timeout that fits it. */
static double node_stat(struct trolley_fs *fs, uid_t reader, const struct node *n, uint64_t ino,
			struct stat *st)
{
	const struct kind_ops *k = kind_of(n->kind);
	struct kind_req r = {fs, reader, ino, NULL};
	double timeout = DIR_TIMEOUT;
	uint64_t size = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = shown_mtime(n);
	if (!st->st_mtime)
		st->st_mtime = fs->mounted;
	st->st_ctime = st->st_atime = st->st_mtime;
	if (k->list) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_size = 4096;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		timeout = k->stat(&r, n, &size);
		st->st_size = (off_t)size;
	}
	/* GNU cp takes a file with fewer blocks than its size for sparse. */
	st->st_blocks = (st->st_size + 511) / 512;
	/* cp reads st_blksize at a time. Measured: 1 MiB reads (one round trip per typical
	 * instance) made a warm cp -r 50% slower than 64 KiB ones, which the kernel's
	 * readahead pipelines. */
	st->st_blksize = 65536;
	/* uid=, gid=, umask=: the kernel checks them (default_permissions). */
	st->st_mode &= ~fs->umask;
	return timeout;
}

static void reply_entry(fuse_req_t req, struct trolley_fs *fs, const struct node *n, uint64_t ino)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = node_stat(fs, fuse_req_ctx(req)->uid, n, ino, &e.attr);
	e.entry_timeout = e.attr_timeout > DIR_TIMEOUT ? e.attr_timeout : DIR_TIMEOUT;
	if (fuse_reply_entry(req, &e) == -ENOENT) {
		/* The request was interrupted: the kernel will not count this lookup. */
		inodes_forget(fs->inodes, ino, 1);
	}
}

static void reply_negative(fuse_req_t req)
{
	struct fuse_entry_param e;

	/* A zero inode with a timeout: the kernel remembers the miss for a few seconds. */
	memset(&e, 0, sizeof(e));
	e.entry_timeout = NEGATIVE_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* The kernel's copy of folder @ino is stale (attributes and any cached pages of it). */
static void view_invalidate(uint64_t ino, void *ctx)
{
	struct trolley_fs *fs = ctx;

	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

/* Whether every child of @l the view would leave out now is left out (and there is one). */
static bool view_leaves_all(const struct listing *l)
{
	size_t children = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct node *c = &l->v[i].node;

		if (c->kind == NODE_METADATA)
			continue;
		children++;
		if (c->kind == NODE_INSTANCE ? !view_withholds(&c->attrs)
		    : c->kind == NODE_SERIES ? !view_hides(&c->attrs, false)
					     : true)
			return false;
	}
	return children > 0;
}

/*
 * The view learned that @ino (an instance, at its open; or a series or study folder, at its
 * listing) is left out. A series left with only withheld instances (a study with only such
 * series) is left out too, judged by the listings that showed them. Then every listing is
 * made anew (from the stored answers: no query) and the kernel's copies dropped, so that
 * /patients, /studies and /media agree at once. Rare: once per instance the listing could
 * not tell. The name's own entry in the kernel lives out its DIR_TIMEOUT (an invalidation
 * of it from here could wait on a lookup in its folder).
 */
static void view_left_out(struct trolley_fs *fs, uint64_t ino)
{
	for (int up = 0; up < 2; up++) {
		uint64_t parent = inodes_parent(fs->inodes, ino);
		struct listing *l =
			parent ? inodes_listing(fs->inodes, parent, fs->meta_ttl) : NULL;
		struct node dir;
		bool all;

		if (!l)
			break;
		all = view_leaves_all(l);
		listing_put(l);
		if (!all || inodes_get(fs->inodes, parent, &dir) < 0)
			break;
		all = dir.kind == NODE_SERIES || dir.kind == NODE_STUDY;
		if (all)
			view_note_hidden(attrset_str(&dir.attrs, dir.kind == NODE_STUDY
									 ? TAG_StudyInstanceUID
									 : TAG_SeriesInstanceUID),
					 dir.kind == NODE_STUDY);
		node_release(&dir);
		if (!all)
			break;
		ino = parent;
	}
	/* As a refresh: a listing being made meanwhile, maybe from before this, is not kept. */
	__atomic_add_fetch(&fs->refreshes, 1, __ATOMIC_ACQ_REL);
	inodes_drop_listings(fs->inodes, 0, view_invalidate, fs);
}

/* The listing of folder @ino, from memory while fresh, else from the tree (and kept). */
static int dir_listing(struct trolley_fs *fs, uint64_t ino, const struct node *dir,
		       struct listing **out, struct errors_detail *why)
{
	struct listing *l = inodes_listing(fs->inodes, ino, fs->meta_ttl);
	unsigned long refreshes = __atomic_load_n(&fs->refreshes, __ATOMIC_ACQUIRE);
	bool held;
	int err;

	if (l) {
		*out = l;
		return 0;
	}
	held = view_active() && (dir->kind == NODE_SERIES || dir->kind == NODE_STUDY);
	if (held)
		held = !view_hides(&dir->attrs, dir->kind == NODE_STUDY);
	err = kind_list(&fs->tree, dir, &l, why);
	if (err)
		return err;
	/* The view found this folder all withheld now: its parent's listing shows it no more. */
	if (held && view_hides(&dir->attrs, dir->kind == NODE_STUDY))
		view_left_out(fs, ino);
	/* Made from answers a refresh forgot meanwhile: serve it this once, never keep it. */
	if (refreshes == __atomic_load_n(&fs->refreshes, __ATOMIC_ACQUIRE))
		inodes_set_listing(fs->inodes, ino, l);
	*out = l;
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct trolley_fs *fs = fs_of(req);
	struct listing *l = NULL, *listed;
	const struct listing_entry *e;
	struct errors_detail why = ERRORS_DETAIL_INIT;
	struct node dir, child;
	struct req_watch w;
	uint64_t ino;
	int err;

	if (names_is_junk(name)) {
		reply_negative(req);
		return;
	}
	err = inodes_get(fs->inodes, parent, &dir);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	watch_begin(&w, req);
	if (!kind_is_dir(&dir)) {
		err = -ENOTDIR;
		goto out_release_dir;
	}
	/* /patients and /studies may be too big to list: look a name up by a targeted query
	 * unless a fresh listing is already at hand. */
	l = inodes_listing(fs->inodes, parent, fs->meta_ttl);
	if (!l && !kind_has_lookup(&dir)) {
		err = dir_listing(fs, parent, &dir, &l, &why);
		if (err)
			goto out_release_dir;
	}
	e = l ? listing_find(l, name) : NULL;
	if (e) {
		err = watch_end(&w, inodes_add(fs->inodes, parent, name, &e->node, l, &ino));
		if (!err)
			reply_entry(req, fs, &e->node, ino);
		goto out_release_dir;
	}
	if (!kind_has_lookup(&dir)) {
		err = -ENOENT;
		goto out_release_dir;
	}
	err = kind_lookup(&fs->tree, &dir, name, &child, &listed, &why);
	if (listed) {
		/* The lookup had to list the folder: that listing is fresh, keep it. */
		inodes_set_listing(fs->inodes, parent, listed);
		listing_put(listed);
	}
	if (err)
		goto out_release_dir;
	err = watch_end(&w, inodes_add(fs->inodes, parent, name, &child, NULL, &ino));
	if (!err)
		reply_entry(req, fs, &child, ino);
	node_release(&child);
out_release_dir:
	err = watch_end(&w, err);
	/* A listing this lookup made came back cut: the folder's export is partial. */
	if (!err && errors_detail_is_incomplete(&why))
		record_failure(fs, req, parent, NULL, 0, &why);
	listing_put(l);
	node_release(&dir);
	if (err == -ENOENT) {
		refresh_note_miss(fs, parent, name);
		reply_negative(req);
	} else if (err) {
		if (err != -ENOTDIR && err != -EINTR)
			record_failure(fs, req, parent, name, err, &why);
		fuse_reply_err(req, -err);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inodes_forget(fs_of(req)->inodes, ino, nlookup);
	forget_estimate(fs_of(req), ino);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct trolley_fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++) {
		inodes_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
		forget_estimate(fs, forgets[i].ino);
	}
	fuse_reply_none(req);
}

struct getattr_ctx {
	struct trolley_fs *fs;
	uid_t reader;
	uint64_t ino;
	struct stat st;
	double timeout;
	bool size_of_open;
};

static int getattr_of(const struct node *n, void *arg)
{
	struct getattr_ctx *g = arg;

	g->timeout = node_stat(g->fs, g->reader, n, g->ino, &g->st);
	g->size_of_open = kind_of(n->kind)->size_of_open;
	return 0;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct getattr_ctx g = {.fs = fs_of(req), .reader = fuse_req_ctx(req)->uid, .ino = ino};
	int err;

	/* The most frequent operation (`ls -l` asks once per file): no copy of the node. */
	err = inodes_with(g.fs->inodes, ino, getattr_of, &g);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	/* fstat() of an open /.trolley/errors: the size of the snapshot that is read. */
	if (fi && fi->fh && g.size_of_open) {
		g.st.st_size = (off_t)((struct open_file *)(uintptr_t)fi->fh)->text.len;
		g.st.st_blocks = (g.st.st_size + 511) / 512;
	}
	fuse_reply_attr(req, &g.st, g.timeout);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct trolley_fs *fs = fs_of(req);
	struct errors_detail why = ERRORS_DETAIL_INIT;
	struct dir_handle *dh;
	struct listing *l;
	struct req_watch w;
	struct node n;
	int err;

	err = inodes_get(fs->inodes, ino, &n);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!kind_is_dir(&n)) {
		err = -ENOTDIR;
		goto out;
	}
	/* The listing is made here, so a failing archive fails opendir with its errno and
	 * readdir serves one consistent snapshot. */
	watch_begin(&w, req);
	err = watch_end(&w, dir_listing(fs, ino, &n, &l, &why));
	if (err) {
		if (err != -EINTR)
			record_failure(fs, req, ino, NULL, err, &why);
		goto out;
	}
	if (errors_detail_is_incomplete(&why))
		record_failure(fs, req, ino, NULL, 0, &why);
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		listing_put(l);
		err = -ENOMEM;
		goto out;
	}
	dh->l = l;
	dh->h.drop = dir_handle_free;
	handles_add(&fs->handles, &dh->h);
	fi->fh = (uint64_t)(uintptr_t)dh;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handles_remove(&fs->handles, &dh->h);
		dir_handle_free(&dh->h);
	}
out:
	node_release(&n);
	if (err)
		fuse_reply_err(req, -err);
}

static uint64_t pseudo_ino(uint64_t parent, const char *name)
{
	uint64_t h = hash_fnv64_str(HASH_FNV64_INIT ^ parent, name);

	/* readdir's d_ino only has to be non-zero: glibc skips entries whose d_ino is 0. */
	return h | 1;
}

/* readdir and readdirplus: "." and "..", then the listing from @off on. With @plus, every entry
 * carries its attributes and counts as a lookup, so `ls -l` of a 2,000-instance series costs one
 * query and no per-file lookups. */
static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi, bool plus)
{
	struct trolley_fs *fs = fs_of(req);
	struct listing *l = ((struct dir_handle *)(uintptr_t)fi->fh)->l;
	char *buf = malloc(size);
	size_t pos = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t i = off; i < (off_t)l->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? ino : 1;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct listing_entry *le = &l->v[i - 2];

			name = le->name;
			if (plus) {
				uint64_t child;

				if (inodes_add(fs->inodes, ino, name, &le->node, l, &child) < 0)
					break;
				e.ino = child;
				e.attr_timeout = node_stat(fs, fuse_req_ctx(req)->uid, &le->node,
							   child, &e.attr);
				e.entry_timeout =
					e.attr_timeout > DIR_TIMEOUT ? e.attr_timeout : DIR_TIMEOUT;
			} else {
				e.attr.st_ino = pseudo_ino(ino, name);
				e.attr.st_mode = kind_is_dir(&le->node) ? S_IFDIR : S_IFREG;
			}
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e, i + 1);
		else
			need = fuse_add_direntry(req, buf + pos, size - pos, name, &e.attr, i + 1);
		if (need > size - pos) {
			/* Not sent: the kernel will not count this lookup. */
			if (plus && e.ino)
				inodes_forget(fs->inodes, e.ino, 1);
			break;
		}
		pos += need;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	handles_remove(&fs_of(req)->handles, &dh->h);
	dir_handle_free(&dh->h);
	fuse_reply_err(req, 0);
}

/* The session is over (unmount, SIGTERM): what the kernel never released goes now. */
static void op_destroy(void *userdata)
{
	struct trolley_fs *fs = userdata;

	handles_drop_all(&fs->handles);
	pthread_mutex_lock(&fs->size_gate);
	inoset_release(&fs->estimated);
	pthread_mutex_unlock(&fs->size_gate);
	pthread_mutex_destroy(&fs->size_gate);
}

/* A study's metadata.json from its series' metadata.json, when every series folder listed
 * beside it has its own at hand (a `cp -r` reads those first): no study-level request, which
 * costs the archive as much as all the series ones again. */
static int study_metadata_from_series(struct trolley_fs *fs, uint64_t ino, const char *study,
				      struct buf *out)
{
	struct listing *l = inodes_parent_listing(fs->inodes, ino, fs->meta_ttl);
	const char **series;
	size_t n = 0;
	int err = -ENOENT;

	if (!l)
		return -ENOENT;
	series = calloc(l->n ? l->n : 1, sizeof(*series));
	for (size_t i = 0; series && i < l->n; i++)
		if (l->v[i].node.kind == NODE_SERIES)
			series[n++] = attrset_str(&l->v[i].node.attrs, TAG_SeriesInstanceUID);
	if (series && n)
		err = cache_metadata_from_series(fs->tree.cache, study, series, n, out);
	free(series);
	listing_put(l);
	return err;
}

static int open_metadata(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
			 struct buf *text, struct fuse_file_info *fi)
{
	const char *study = attrset_str(&n->attrs, TAG_StudyInstanceUID);
	const char *series = attrset_get(&n->attrs, TAG_SeriesInstanceUID);
	int err;

	(void)blob;
	buf_init(text, CACHE_DOC_MAX);
	fi->direct_io = 1;
	if (series || study_metadata_from_series(r->fs, r->ino, study, text) != 0)
		err = cache_metadata(r->fs->tree.cache, study, series, text, r->why);
	else
		err = 0;
	/* Derived at each open, never stored: the store keeps the archive's once. */
	return err ? err : view_json(text);
}

/* The SOPInstanceUIDs of the instances of @series in the folder of @ino, from its listing if
 * it is at hand: in the folder's order, which the cache's answer (the archive's order) does not
 * know and a walk goes by; members as the cache counts them (cache_is_member()). The strings
 * are borrowed from *@l: the caller frees the array, then drops *@l with listing_put(). */
static char **series_siblings(struct trolley_fs *fs, uint64_t ino, const char *series, size_t *n,
			      struct listing **lp)
{
	struct listing *l = inodes_parent_listing(fs->inodes, ino, fs->meta_ttl);
	char **v = NULL;

	*n = 0;
	*lp = l;
	if (!l)
		return NULL;
	v = calloc(l->n ? l->n : 1, sizeof(*v));
	for (size_t i = 0; v && i < l->n; i++) {
		const struct attrset *a = &l->v[i].node.attrs;

		/* A sibling whose UID is not one is never asked for, not even in a prefetch. */
		if (l->v[i].node.kind == NODE_INSTANCE && cache_is_member(a, series))
			v[(*n)++] = (char *)attrset_str(a, TAG_SOPInstanceUID);
	}
	return v;
}

/* Tell the cache the order of the series in the study folder above the series folder of
 * file @ino, if its listing is at hand: a walk (cp -r) goes through them in this order, and
 * the cache reads ahead the next one. */
static void note_series_order(struct trolley_fs *fs, uint64_t ino, const char *study)
{
	uint64_t series_dir = inodes_parent(fs->inodes, ino);
	struct listing *l =
		series_dir ? inodes_parent_listing(fs->inodes, series_dir, fs->meta_ttl) : NULL;
	const char **v;
	size_t n = 0;

	if (!l)
		return;
	v = calloc(l->n ? l->n : 1, sizeof(*v));
	for (size_t i = 0; v && i < l->n; i++) {
		const struct attrset *a = &l->v[i].node.attrs;

		if (l->v[i].node.kind == NODE_SERIES &&
		    strcmp(attrset_str(a, TAG_StudyInstanceUID), study) == 0 &&
		    query_uid_is_valid(attrset_str(a, TAG_SeriesInstanceUID)))
			v[n++] = attrset_str(a, TAG_SeriesInstanceUID);
	}
	if (v && n)
		cache_note_series_order(fs->tree.cache, study, v, n);
	free(v);
	listing_put(l);
}

/* The view's bytes of the instance open in @of: derived now into the handle's memory, and the
 * archive's blob let go. Never stored: the store keeps the archive's bytes once, and the
 * rewrite (milliseconds for a typical instance, the HMACs and one pass over the data set)
 * costs less than a second copy of every instance would in the cache. The same key gives
 * the same bytes at every open, so the kernel may keep their pages. */
static int open_in_view(struct cache_blob **blob, struct buf *text, const char *sop,
			struct fuse_file_info *fi)
{
	int err;

	buf_init(text, (size_t)2 << 30);
	err = view_instance(*blob, sop, text);
	cache_blob_close(*blob);
	*blob = NULL;
	if (!err)
		fi->keep_cache = 1;
	return err;
}

static int open_instance(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
			 struct buf *text, struct fuse_file_info *fi)
{
	struct trolley_fs *fs = r->fs;
	uint64_t ino = r->ino;
	struct instance_ref ref = {0};
	struct listing *folder = NULL;
	char **siblings = NULL;
	size_t nsiblings = 0;
	uint64_t size;
	int err;

	ref.study_uid = attrset_str(&n->attrs, TAG_StudyInstanceUID);
	ref.series_uid = attrset_str(&n->attrs, TAG_SeriesInstanceUID);
	ref.sop_uid = attrset_str(&n->attrs, TAG_SOPInstanceUID);
	ref.sop_class = attrset_get(&n->attrs, TAG_SOPClassUID);
	/* The download happens here, before open() returns, so fstat() after open already sees
	 * the exact size (rsync copies the size it sees; mmap needs it). The folder's listing
	 * names the rest of the series, for the prefetch, which only a miss starts, and for the
	 * read-ahead of a walk, which counts the hits of a study being copied cold too. Any other
	 * stored instance skips the walk of its folder (in a 2,000-instance series, 2,000 UID
	 * checks on every open of a warm copy). */
	if (cache_stored_size(fs->tree.cache, ref.sop_uid, &size) != 0 ||
	    cache_walk_wants(fs->tree.cache, ref.study_uid))
		siblings = series_siblings(fs, ino, ref.series_uid, &nsiblings, &folder);
	if (nsiblings)
		note_series_order(fs, ino, ref.study_uid);
	err = cache_open(fs->tree.cache, &ref, (const char *const *)siblings, nsiblings, blob,
			 r->why);
	free(siblings);
	listing_put(folder);
	/* The view's size is known once its bytes are made: before the invalidation below,
	 * or a stat between the two would hand the kernel an estimate again. */
	if (!err && view_active())
		err = open_in_view(blob, text, ref.sop_uid, fi);
	/* The kernel may hold an estimated size for up to DIR_TIMEOUT: mark its attributes stale
	 * now (offset -1: attributes only, no page cache, no inode lock), so the fstat() that
	 * rsync makes right after open() and any read past the estimate see the exact size.
	 * Only if it was handed an estimate (see size_gate): a cached instance was listed with
	 * its exact size. Once per estimate, by the first open to get here, before any open of
	 * it returns: the invalidation also makes the kernel drop attribute replies under way,
	 * and an opener already reading (16 readers of one file) whose refresh was dropped read
	 * with the estimate: 1,088 bytes and a zero (measured). */
	if (!err && fs->se) {
		pthread_mutex_lock(&fs->size_gate);
		if (size_untold(fs, ino))
			fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
		pthread_mutex_unlock(&fs->size_gate);
	}
	if (!err && !view_active())
		fi->keep_cache = cache_blob_is_stored(*blob);
	return err;
}

const struct kind_ops kind_instance = {
	.name = "instance",
	.stat = stat_instance,
	.open = open_instance,
};

const struct kind_ops kind_metadata = {
	.name = "metadata",
	.stat = stat_metadata,
	.open = open_metadata,
};

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct trolley_fs *fs = fs_of(req);
	struct errors_detail why = ERRORS_DETAIL_INIT;
	struct kind_req r = {fs, fuse_req_ctx(req)->uid, ino, &why};
	struct open_file *of = NULL;
	struct req_watch w;
	struct node n;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = inodes_get(fs->inodes, ino, &n);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (kind_is_dir(&n)) {
		err = -EISDIR;
		goto out;
	}
	of = calloc(1, sizeof(*of));
	if (!of) {
		err = -ENOMEM;
		goto out;
	}
	of->refs = 1;
	of->fs = fs;
	of->h.drop = open_file_free;
	of->h.prev = of->h.next = &of->h;
	handles_add(&fs->handles, &of->h);
	/* An archive may send anything as a UID: one that is not a UID is never requested. */
	err = tree_check_uids(&n);
	if (err)
		goto out;
	watch_begin(&w, req);
	err = kind_of(n.kind)->open(&r, &n, &of->blob, &of->text, fi);
	/* Its bytes withheld it (not the archive refusing access): its folders are listed anew
	 * without it. */
	if (err == -EACCES && view_active() && n.kind == NODE_INSTANCE && view_withholds(&n.attrs))
		view_left_out(fs, ino);
	err = watch_end(&w, err);
	if (err)
		goto out;
	fi->fh = (uint64_t)(uintptr_t)of;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_file_put(of);
	of = NULL;
out:
	open_file_put(of);
	node_release(&n);
	if (err && err != -EISDIR && err != -EINTR)
		record_failure(fs, req, ino, NULL, err, &why);
	if (err)
		fuse_reply_err(req, -err);
}

struct read_reply {
	fuse_req_t req;
	struct req_watch *watch;
	bool replied;
};

/* Runs inside the store's read transaction (or under the blob's lock for a temporary file):
 * the reply has reached the kernel when fuse_reply_*() returns, so the bytes need no copy of
 * ours. A stored blob is answered from the map. One in a temporary file is answered by splice:
 * its pages go through a pipe to the kernel, which copies them once (a buffer per read,
 * pread() into it and writev() from it, copied them twice); libfuse reads the file into a
 * buffer of its own where it cannot splice (small reads, no splice support).
 * Splicing stored blobs from the LMDB data file (at the value's offset in the map) was
 * measured too: no gain (warm reads of 400 instances, 25 interleaved runs: the daemon's CPU
 * time 84 against 82 ms, medians), as either way the kernel copies each byte once; it costs
 * three system calls per read instead of one. */
static int reply_bytes(void *ctx, const struct cache_bytes *b)
{
	struct read_reply *r = ctx;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(b->len);

	watch_end(r->watch, 0);
	r->replied = true;
	if (b->data)
		return fuse_reply_buf(r->req, b->data, b->len);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = b->fd;
	bv.buf[0].pos = (off_t)b->pos;
	/* Never FUSE_BUF_SPLICE_MOVE: the pages stay the file's. */
	return fuse_reply_data(r->req, &bv, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct req_watch w;
	struct read_reply r = {req, &w, false};
	int err;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	__atomic_add_fetch(&of->refs, 1, __ATOMIC_ACQ_REL);
	if (!of->blob) {
		size_t start = (uint64_t)off < of->text.len ? (size_t)off : of->text.len;
		size_t n = of->text.len - start < size ? of->text.len - start : size;

		fuse_reply_buf(req, of->text.data ? of->text.data + start : "", n);
		goto out;
	}
	/* A blob removed from the store while open is fetched again here (cache_blob_use). */
	watch_begin(&w, req);
	err = cache_blob_use(of->blob, (uint64_t)off, size, reply_bytes, &r);
	if (!r.replied)
		err = watch_end(&w, err);
	/* A failed reply (the reader was interrupted) is the kernel's to clean up. */
	if (err && !r.replied) {
		if (err != -EINTR)
			record_failure(of->fs, req, ino, NULL, err, NULL);
		fuse_reply_err(req, -err);
	}
out:
	open_file_put(of);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	open_file_put((struct open_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = NAMES_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* Reading REFRESH_XATTR of a folder refreshes it (fs/refresh.h). A size query (getfattr asks
 * for the size first, then the value) only checks: one getfattr is one refresh. */
static void getxattr_refresh(fuse_req_t req, struct trolley_fs *fs, uint64_t ino, size_t size)
{
	char value[REFRESH_VALUE_LEN + 1];
	struct node n;
	int err;

	if (size == 0) {
		err = inodes_get(fs->inodes, ino, &n);
		if (!err) {
			if (!kind_is_dir(&n))
				err = -ENODATA;
			else if (cache_is_offline(fs->tree.cache))
				err = -EOPNOTSUPP;
			node_release(&n);
		}
	} else if (size < REFRESH_VALUE_LEN) {
		err = -ERANGE;
	} else {
		err = refresh_folder(fs, ino, value);
	}
	if (err)
		fuse_reply_err(req, -err);
	else if (size == 0)
		fuse_reply_xattr(req, REFRESH_VALUE_LEN);
	else
		fuse_reply_buf(req, value, REFRESH_VALUE_LEN);
}

/* Replace the attributes of @n by those the view shows (a no-op when it is not active). */
static int view_shown(struct node *n)
{
	struct attrset shown;
	int err;

	if (!view_active())
		return 0;
	err = view_attrs(&n->attrs, &shown);
	if (err)
		return err;
	attrset_release(&n->attrs);
	n->attrs = shown;
	return 0;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct trolley_fs *fs = fs_of(req);
	const char *value;
	struct node n;
	size_t len;
	int err;

	if (strcmp(name, REFRESH_XATTR) == 0) {
		getxattr_refresh(req, fs, ino, size);
		return;
	}
	err = inodes_get(fs->inodes, ino, &n);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	err = view_shown(&n);
	if (!err)
		err = xattr_get(&n.attrs, name, &value);
	if (err)
		goto out;
	len = strlen(value);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		err = -ERANGE;
	else
		fuse_reply_buf(req, value, len);
out:
	node_release(&n);
	if (err)
		fuse_reply_err(req, -err);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct trolley_fs *fs = fs_of(req);
	char *buf = NULL;
	struct node n;
	ssize_t len;
	int err;

	err = inodes_get(fs->inodes, ino, &n);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	err = view_shown(&n);
	if (err)
		goto out;
	if (size == 0) {
		len = xattr_list(&n.attrs, NULL, 0);
		fuse_reply_xattr(req, (size_t)len);
		goto out;
	}
	buf = malloc(size);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	len = xattr_list(&n.attrs, buf, size);
	if (len < 0)
		err = (int)len;
	else
		fuse_reply_buf(req, buf, (size_t)len);
out:
	free(buf);
	node_release(&n);
	if (err)
		fuse_reply_err(req, -err);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct trolley_fs *fs = userdata;

	/* FUSE_INIT is answered before the kernel sends any other request. */
	pthread_mutex_init(&fs->size_gate, NULL);
	fs->estimated = (struct inoset)INOSET_INIT;
	fs->estimates_lost = false;
	/* Parallel reads of one file are fine: each read is an independent copy. */
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Attributes come with the listing: one query answers `ls -l`. Always, not adaptively:
	 * our readdir costs the same either way, and lookups are what we save. */
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	/* Reads of up to 1 MiB (libfuse derives max_pages from max_write) and the largest
	 * read-ahead the kernel offers: instances are read whole, front to back. */
	conn->max_write = 1u << 20;
	conn->max_readahead = conn->max_readahead ? conn->max_readahead : 1u << 20;
	/* Reads of a temporary file answered by splice() (reply_bytes()). Not
	 * FUSE_CAP_SPLICE_READ: requests are small (no writes here), and reading them through a
	 * pipe costs a second system call each. Not FUSE_CAP_SPLICE_MOVE: see reply_bytes(). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_MOVE);
}

const struct fuse_lowlevel_ops trolley_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};
