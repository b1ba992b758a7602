/* LMDB under cache_dir. Databases: "meta" (query key -> time + packed attribute sets), "doc"
 * (metadata key -> time + the reply) and "blob" (SOPInstanceUID -> Part-10 bytes). Read transactions live for one call only and are
 * never held across network I/O; a blob is written with MDB_RESERVE straight from its verified
 * memory buffer or temporary file (cache/sink.c), so a write transaction lasts a copy, not a download. */
#include "cache/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cache/store_internal.h"
#include "core/hash.h"
#include "core/log.h"

/* LMDB's default maximum key size is 511 bytes; longer query keys are hashed and the full key
 * is kept in the value and compared on read. */
#define STORE_KEY_MAX 480
/* Query results and documents are kept within cache_size / 16 plus this. */
#define STORE_META_MIN (32ull << 20)

static char *map_of_file(MDB_env *env, size_t *size);

/* LMDB returns positive errno values or its own MDB_* codes: one switch turns them into ours. */
int store_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case ENOSPC: /* the file cannot grow: the disk is full */
	case EDQUOT:
		return -ENOSPC;
	case ENOMEM:
		return -ENOMEM;
	case EACCES:
		return -EACCES;
	default:
		return -EIO;
	}
}

int store_mkdir(const char *path)
{
	char *copy = strdup(path);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(copy, 0700) < 0 && errno != EEXIST)
		err = -errno;
out:
	free(copy);
	return err;
}

/* The write-ahead marker: cache_dir/dirty holds the boot id of the daemon that has writes the
 * disk may not have yet (LMDB runs with MDB_NOSYNC, below). */
#define STORE_MARKER "dirty"
/* Written in place of a boot id when a clean close could not sync: never equal to one. */
#define STORE_MARKER_UNSYNCED "unsynced"

static int dir_file(const char *dir, const char *name, char *path, size_t n)
{
	if ((size_t)snprintf(path, n, "%s/%s", dir, name) >= n)
		return -ENAMETOOLONG;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* @text into cache_dir/dirty, on the disk (the file and its name) before this returns. */
static int marker_write(const char *dir, const char *text)
{
	char path[4096];
	size_t len = strlen(text);
	int fd, err;

	err = dir_file(dir, STORE_MARKER, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	errno = 0; /* a short write sets none */
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		err = errno ? -errno : -EIO;
	else if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err ? err : fsync_dir(dir);
}

/* The boot id in cache_dir/dirty into @out ("" if the file is empty or torn).
 * @return 0, -ENOENT (no marker: the last writer closed cleanly), or -errno. */
static int marker_read(const char *dir, char *out, size_t n)
{
	char path[4096];
	ssize_t got;
	int fd, err;

	err = dir_file(dir, STORE_MARKER, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, out, n - 1);
	err = got < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int unlink_marker(const char *dir)
{
	char path[4096];
	int err = dir_file(dir, STORE_MARKER, path, sizeof(path));

	if (!err && unlink(path) < 0)
		err = -errno;
	return err;
}

int store_boot_id(char *out, size_t n)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = read(fd, out, n - 1);
	close(fd);
	if (got <= 0)
		return got < 0 ? -errno : -EIO;
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out[0] ? 0 : -EIO;
}

/* Before LMDB opens @dir: if the marker names another boot, the system that wrote the cache
 * went down (crash, power loss, reset) before the writes reached the disk, and the file may
 * hold torn pages: remove it, so the cache starts empty and fetches again. Then record this
 * boot's id, on the disk before any write of ours can be. */
static int marker_claim(const char *dir, const char *boot_id)
{
	const char *files[] = {"data.mdb", "lock.mdb"};
	char seen[128], path[4096];
	int err = marker_read(dir, seen, sizeof(seen));

	if (err && err != -ENOENT)
		log_warn("cache %s: reading its marker %s: %s: treated as unclean", dir,
			 STORE_MARKER, strerror(-err));
	if (err == -ENOENT || (!err && strcmp(seen, boot_id) == 0))
		goto mark;
	if (!err && strcmp(seen, STORE_MARKER_UNSYNCED) == 0)
		log_warn("cache %s: discarded: its last close could not sync it to the disk, so it "
			 "may be damaged; starting empty",
			 dir);
	else
		log_warn("cache %s: discarded: its system went down (crash or power loss) before "
			 "its writes were on the disk (its marker is of boot %s, this is boot %s), "
			 "so "
			 "it may be damaged; starting empty",
			 dir, err || !seen[0] ? "?" : seen, boot_id);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		err = dir_file(dir, files[i], path, sizeof(path));
		if (!err && unlink(path) < 0 && errno != ENOENT)
			err = -errno;
		if (err) {
			log_error("cache %s: removing %s: %s", dir, files[i], strerror(-err));
			return err;
		}
	}
	err = fsync_dir(dir); /* the removal is on the disk before the new marker is */
	if (err)
		return err;
mark:
	err = marker_write(dir, boot_id);
	if (err)
		log_error("cache %s: writing its marker %s: %s", dir, STORE_MARKER, strerror(-err));
	return err;
}

int store_open(const char *dir, uint64_t map_size, uint64_t limit, struct store **out)
{
	char boot_id[128];
	int err = store_boot_id(boot_id, sizeof(boot_id));

	if (err) {
		/* No way to tell a clean shutdown from a crash: sync every commit instead. */
		log_warn("cache %s: no boot id (/proc/sys/kernel/random/boot_id: %s): every write "
			 "is synced to the disk, which is slower",
			 dir, strerror(-err));
		return store_open_boot(dir, map_size, limit, NULL, out);
	}
	return store_open_boot(dir, map_size, limit, boot_id, out);
}

/* What a write transaction may write beyond the values it puts: the tree pages it copies (the
 * blob, use and age records of what it evicts and adds, the free list). Allocated ahead too. */
#define STORE_GROW_SLACK (16ull << 20)
/* The file's allocation grows in steps of this, so that most commits allocate nothing. */
#define STORE_GROW_STEP (16ull << 20)

/* The file's blocks allocated up to @end (and a step beyond, within @map_size). */
static int store_allocate(struct store *s, int fd, uint64_t end, uint64_t map_size)
{
	int err;

	if (end <= s->allocated)
		return 0;
	/* A step more where the disk has it above its floor, so that most commits allocate
	 * nothing; what must be allocated must be above the floor too: a cache at its floor
	 * stores nothing more (it reuses its free pages within what it allocated before). */
	if (!store_has_room(s, end - s->allocated))
		return -ENOSPC;
	if (end + STORE_GROW_STEP <= map_size &&
	    store_has_room(s, end + STORE_GROW_STEP - s->allocated) &&
	    posix_fallocate(fd, (off_t)s->allocated,
			    (off_t)(end + STORE_GROW_STEP - s->allocated)) == 0) {
		s->allocated = end + STORE_GROW_STEP;
		return 0;
	}
	if (end > map_size)
		end = map_size; /* LMDB writes nothing past it (MDB_MAP_FULL) */
	if (end <= s->allocated)
		return 0;
	err = posix_fallocate(fd, (off_t)s->allocated, (off_t)(end - s->allocated));
	if (err == EINTR)
		err = posix_fallocate(fd, (off_t)s->allocated, (off_t)(end - s->allocated));
	if (err) {
		if (err != ENOSPC && err != EDQUOT)
			log_error("cache %s: allocating its file: %s", s->dir, strerror(err));
		return err == ENOSPC || err == EDQUOT ? -ENOSPC : -EIO;
	}
	s->allocated = end;
	return 0;
}

/* With MDB_WRITEMAP, before a write transaction (begun: it is the only writer) writes: the
 * file's blocks allocated from its last page on, for @more bytes of values in @n records and
 * the slack. LMDB only grows the file past its last page, and pages below it were written
 * before, so what the transaction writes has its blocks, and a full disk fails here with
 * -ENOSPC, before anything is written. */
static int store_grow(struct store *s, uint64_t more, size_t n, uint64_t slack)
{
	MDB_envinfo info;
	MDB_stat st;
	uint64_t end;
	int fd;

	if (!s->writemap)
		return 0;
	if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st) || mdb_env_get_fd(s->env, &fd))
		return -EIO;
	end = ((uint64_t)info.me_last_pgno + 1 + n) * st.ms_psize + more + slack;
	return store_allocate(s, fd, end, info.me_mapsize);
}

int store_open_boot(const char *dir, uint64_t map_size, uint64_t limit, const char *boot_id,
		    struct store **out)
{
	struct store *s;
	MDB_txn *txn;
	unsigned int flags = MDB_NOTLS;
	int rc, err, dead = 0;

	err = store_mkdir(dir);
	if (err) {
		log_error("cache folder %s: %s", dir, strerror(-err));
		return err;
	}
	if (boot_id) {
		err = marker_claim(dir, boot_id);
		if (err)
			return err;
		/* A cache needs integrity, not durability: it can always fetch again, but must
		 * never serve a wrong byte. MDB_NOSYNC leaves the disk write to the kernel; a
		 * process death (kill -9, a crash) loses nothing, as the page cache outlives the
		 * process and LMDB's copy-on-write pages and meta pages are consistent there in
		 * the order they were written. Only the system going down can leave torn pages,
		 * and the marker (marker_claim()) catches that and discards. MDB_NOMETASYNC would
		 * keep integrity with no marker, but it still syncs the data of every commit,
		 * which is the cost. Measured (7 interleaved runs, medians, a shared 2-core VM
		 * with a virtio disk): a commit of 16 x 525 KB took 6.2 ms synced, 6.0 ms with
		 * MDB_NOMETASYNC, 1.7 ms with MDB_NOSYNC; the cold cp -r of bench/run.py's
		 * 400-instance study 1.49 / 1.38 / 1.12 s at 0 ms RTT and 2.08 / 1.76 / 1.84 s
		 * at 20 ms (noisy: the commits run behind the stream, in cache/prefetch.c's
		 * committer). A disk whose flush is slower than this VM's pays more per sync.
		 * The price: after a system crash the whole cache is fetched again. */
		flags |= MDB_NOSYNC;
	}
	/* MDB_WRITEMAP: a reserved blob is the map itself, so a blob costs one copy into it
	 * and nothing more; without it LMDB mallocs a page for it (a fresh mapping, a fault per
	 * 4 KiB), writev's it and unmaps it. Measured (bench/run.py --compare, 5 interleaved
	 * runs, a loaded 2-CPU VM): the daemon's CPU for a cold cp -r of the 210 MB study 1.21 s
	 * with it against 1.64 s, and 0.72 s with the sink's memory buffers too. The map is
	 * written through, so a page written where the disk has no block is a SIGBUS, not
	 * ENOSPC: store_grow() allocates the file's growth before a transaction writes. Crash
	 * safety is as before: pages of a transaction are free pages until its meta page, whose
	 * txnid LMDB writes last, names them, and they outlive a killed process in the page
	 * cache; a system crash is the marker's (marker_claim()). */
	flags |= MDB_WRITEMAP;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->marked = boot_id != NULL;
	s->writemap = true;
	s->limit = limit;
	/* Half of what the map holds beyond the blobs (main.c: limit/8 + 64 MiB): the rest is
	 * LMDB's own (the use indexes, free pages). */
	s->meta_limit = limit / 16 + STORE_META_MIN;
	pthread_mutex_init(&s->lock, NULL);
	s->dir = strdup(dir);
	if (!s->dir) {
		err = -ENOMEM;
		goto out_free;
	}
	rc = mdb_env_create(&s->env);
	if (rc)
		goto out_lmdb;
	mdb_env_set_mapsize(s->env, (size_t)map_size);
	mdb_env_set_maxdbs(s->env, 8);
	/* FUSE runs many threads, each may read at once. */
	mdb_env_set_maxreaders(s->env, 512);
	/* MDB_NOTLS: FUSE's worker threads come and go; a read slot belongs to a transaction. */
	rc = mdb_env_open(s->env, dir, flags, 0600);
	if (rc)
		goto out_lmdb;
	/* A daemon killed with -9 leaves reader slots behind; free them before we use the map. */
	mdb_reader_check(s->env, &dead);
	s->map = map_of_file(s->env, &s->map_size);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto out_lmdb;
	/* Opening writes a few pages at most (a new file's databases): a nearly full disk
	 * still opens the cache, and stores nothing until it has room. */
	err = store_grow(s, 0, 64, 0);
	if (err) {
		mdb_txn_abort(txn);
		log_error("cache %s: no room on its disk to open it: %s", dir, strerror(-err));
		goto out_free;
	}
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	if (!rc)
		rc = mdb_dbi_open(txn, "blob", MDB_CREATE, &s->blob);
	if (!rc)
		rc = mdb_dbi_open(txn, "doc", MDB_CREATE, &s->doc);
	if (!rc)
		rc = mdb_dbi_open(txn, "lru", MDB_CREATE, &s->lru);
	if (!rc)
		rc = mdb_dbi_open(txn, "age", MDB_CREATE, &s->age);
	if (rc) {
		mdb_txn_abort(txn);
		goto out_lmdb;
	}
	err = evict_init(s, txn);
	if (err) {
		mdb_txn_abort(txn);
		log_error("cache %s: reading its index: %s", dir, strerror(-err));
		goto out_free;
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto out_lmdb;
	*out = s;
	return 0;
out_lmdb:
	log_error("cache %s: %s", dir, mdb_strerror(rc));
	err = store_errno(rc);
	if (err == -ENOENT)
		err = -EIO;
out_free:
	if (s->env)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
	return err;
}

void store_close(struct store *s)
{
	int rc;

	if (!s)
		return;
	if (s->marked) {
		/* A clean close: everything on the disk, then the marker goes. If the sync fails
		 * the disk may lack some of it: mark the cache so that the next open discards it,
		 * this boot or another. */
		rc = mdb_env_sync(s->env, 1);
		if (!rc && unlink_marker(s->dir) == 0)
			goto closed;
		log_warn("cache %s: syncing it to the disk: %s: it will be discarded at the next "
			 "mount",
			 s->dir, rc ? mdb_strerror(rc) : "removing its marker failed");
		marker_write(s->dir, STORE_MARKER_UNSYNCED);
	}
closed:
	mdb_env_close(s->env);
	evict_release(s);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

/* The LMDB key of a query key: itself when short, else "#<hash>" + a prefix. */
static void meta_db_key(const char *key, char *out, size_t n, MDB_val *val)
{
	size_t len = strlen(key);

	if (len <= STORE_KEY_MAX) {
		val->mv_data = (void *)key;
		val->mv_size = len;
		return;
	}
	snprintf(out, n, "#%016llx%.*s", (unsigned long long)hash_fnv64(HASH_FNV64_INIT, key, len),
		 200, key);
	val->mv_data = out;
	val->mv_size = strlen(out);
}

/* Value layout: i64 time, u32 key length, key, packed list. */
int store_meta_get(struct store *s, const char *key, struct attrset_list *out, int64_t *stored_at)
{
	char hashed[STORE_KEY_MAX + 32];
	size_t klen = strlen(key);
	MDB_val k, v;
	MDB_txn *txn;
	uint32_t vk;
	int64_t t;
	int rc, err;

	meta_db_key(key, hashed, sizeof(hashed), &k);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc) {
		err = store_errno(rc);
		goto out;
	}
	err = -EIO;
	if (v.mv_size < 12)
		goto out;
	memcpy(&t, v.mv_data, 8);
	memcpy(&vk, (char *)v.mv_data + 8, 4);
	if (vk != klen || v.mv_size - 12 < vk)
		goto out;
	if (memcmp((char *)v.mv_data + 12, key, klen) != 0) {
		err = -ENOENT; /* a hash collision: another query's result */
		goto out;
	}
	err = attrset_list_unpack((unsigned char *)v.mv_data + 12 + klen, v.mv_size - 12 - klen,
				  out);
	if (!err)
		*stored_at = t;
out:
	mdb_txn_abort(txn);
	return err;
}

int store_meta_put(struct store *s, const char *key, const struct attrset_list *l, int64_t now)
{
	char hashed[STORE_KEY_MAX + 32];
	size_t klen = strlen(key), plen;
	unsigned char *packed;
	uint32_t k32 = (uint32_t)klen;
	int64_t delta = 0;
	MDB_val k, v;
	MDB_txn *txn;
	int rc, err;

	err = attrset_list_pack(l, &packed, &plen);
	if (err)
		return err;
	meta_db_key(key, hashed, sizeof(hashed), &k);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto out_free;
	v.mv_size = 12 + klen + plen;
	err = store_grow(s, v.mv_size, 1, STORE_GROW_SLACK);
	if (!err)
		err = evict_meta_room(s, txn, s->meta, &k, v.mv_size, &delta);
	if (err) {
		mdb_txn_abort(txn);
		free(packed);
		return err;
	}
	rc = mdb_put(txn, s->meta, &k, &v, MDB_RESERVE);
	if (rc) {
		mdb_txn_abort(txn);
		goto out_free;
	}
	memcpy(v.mv_data, &now, 8);
	memcpy((char *)v.mv_data + 8, &k32, 4);
	memcpy((char *)v.mv_data + 12, key, klen);
	memcpy((char *)v.mv_data + 12 + klen, packed, plen);
	rc = mdb_txn_commit(txn);
	if (!rc)
		evict_meta_committed(s, delta);
out_free:
	free(packed);
	if (rc)
		log_warn("cache: storing a query result failed: %s", mdb_strerror(rc));
	return store_errno(rc);
}

/* Documents: i64 time, then the bytes; under a hashed key (longer than STORE_KEY_MAX), the
 * time, u32 key length and the key come first, as for query results, and are compared on
 * read. Looks up @key in @txn: @return 0 and the bytes (pointing into the map) in @data. */
static int doc_lookup(struct store *s, MDB_txn *txn, const char *key, MDB_val *data,
		      int64_t *stored_at)
{
	char hashed[STORE_KEY_MAX + 32];
	size_t klen = strlen(key), head = 8;
	MDB_val k, v;
	uint32_t vk;
	int rc;

	meta_db_key(key, hashed, sizeof(hashed), &k);
	rc = mdb_get(txn, s->doc, &k, &v);
	if (rc)
		return store_errno(rc);
	if (v.mv_size < 8)
		return -EIO;
	if (k.mv_data != (void *)key) {
		if (v.mv_size < 12)
			return -EIO;
		memcpy(&vk, (char *)v.mv_data + 8, 4);
		if (vk != klen || v.mv_size - 12 < vk)
			return -EIO;
		if (memcmp((char *)v.mv_data + 12, key, klen) != 0)
			return -ENOENT; /* a hash collision: another key's document */
		head = 12 + klen;
	}
	memcpy(stored_at, v.mv_data, 8);
	data->mv_data = (char *)v.mv_data + head;
	data->mv_size = v.mv_size - head;
	return 0;
}

int store_doc_get(struct store *s, const char *key, struct buf *out, int64_t *stored_at)
{
	MDB_val data;
	MDB_txn *txn;
	int64_t t;
	int rc, err;

	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	err = doc_lookup(s, txn, key, &data, &t);
	/* Copied out before the transaction ends: LMDB's pointer dies with it. */
	if (!err)
		err = buf_add(out, data.mv_data, data.mv_size);
	if (!err)
		*stored_at = t;
	mdb_txn_abort(txn);
	return err;
}

int store_doc_size(struct store *s, const char *key, uint64_t *size)
{
	MDB_val data;
	MDB_txn *txn;
	int64_t t;
	int rc, err;

	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	err = doc_lookup(s, txn, key, &data, &t);
	if (!err)
		*size = data.mv_size;
	mdb_txn_abort(txn);
	return err == -EIO ? -ENOENT : err;
}

int store_doc_put(struct store *s, const char *key, const void *data, size_t len, int64_t now)
{
	char hashed[STORE_KEY_MAX + 32];
	size_t klen = strlen(key), head = 8;
	uint32_t k32 = (uint32_t)klen;
	int64_t delta = 0;
	MDB_val k, v;
	MDB_txn *txn;
	int rc, err;

	meta_db_key(key, hashed, sizeof(hashed), &k);
	if (k.mv_data != (void *)key)
		head = 12 + klen;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return store_errno(rc);
	v.mv_size = len + head;
	err = store_grow(s, v.mv_size, 1, STORE_GROW_SLACK);
	if (!err)
		err = evict_meta_room(s, txn, s->doc, &k, v.mv_size, &delta);
	if (err) {
		mdb_txn_abort(txn);
		return err;
	}
	rc = mdb_put(txn, s->doc, &k, &v, MDB_RESERVE);
	if (rc) {
		mdb_txn_abort(txn);
		return store_errno(rc);
	}
	memcpy(v.mv_data, &now, 8);
	if (head > 8) {
		memcpy((char *)v.mv_data + 8, &k32, 4);
		memcpy((char *)v.mv_data + 12, key, klen);
	}
	memcpy((char *)v.mv_data + head, data, len);
	rc = mdb_txn_commit(txn);
	if (!rc)
		evict_meta_committed(s, delta);
	return store_errno(rc);
}

static void sop_key(const char *sop, MDB_val *k)
{
	k->mv_data = (void *)sop;
	k->mv_size = strlen(sop);
}

int store_blob_size(struct store *s, const char *sop, uint64_t *size)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	sop_key(sop, &k);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	rc = mdb_get(txn, s->blob, &k, &v);
	if (!rc)
		*size = v.mv_size;
	mdb_txn_abort(txn);
	return store_errno(rc);
}

bool store_has_blob(struct store *s, const char *sop)
{
	uint64_t size;

	return store_blob_size(s, sop, &size) == 0;
}

int store_blob_use(struct store *s, const char *sop, uint64_t off, size_t n,
		   int (*use)(void *ctx, const void *data, size_t len), void *ctx)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret;

	sop_key(sop, &k);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_errno(rc);
	rc = mdb_get(txn, s->blob, &k, &v);
	if (rc) {
		mdb_txn_abort(txn);
		return store_errno(rc);
	}
	if (off >= v.mv_size)
		ret = use(ctx, v.mv_data, 0);
	else
		ret = use(ctx, (char *)v.mv_data + off,
			  n < v.mv_size - (size_t)off ? n : v.mv_size - (size_t)off);
	mdb_txn_abort(txn);
	return ret;
}

struct copy_out {
	void *buf;
	size_t got;
};

static int copy_out(void *ctx, const void *data, size_t len)
{
	struct copy_out *c = ctx;

	memcpy(c->buf, data, len);
	c->got = len;
	return 0;
}

long store_blob_read(struct store *s, const char *sop, uint64_t off, void *buf, size_t n)
{
	struct copy_out c = {buf, 0};
	int err = store_blob_use(s, sop, off, n, copy_out, &c);

	return err ? err : (long)c.got;
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Where LMDB mapped its data file (LMDB says only with MDB_FIXEDMAP): the mapping of the file's
 * device and inode from offset 0 in /proc/self/maps. @return it and its length, or NULL (blobs
 * are then copied into the map through memory). */
static char *map_of_file(MDB_env *env, size_t *size)
{
	unsigned long long start, end, off, ino;
	unsigned int major, minor;
	char line[512];
	struct stat st;
	char *found = NULL;
	FILE *f;
	int fd;

	if (mdb_env_get_fd(env, &fd) || fstat(fd, &st))
		return NULL;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &start, &end, &off, &major,
			   &minor, &ino) == 6 &&
		    off == 0 && ino == (unsigned long long)st.st_ino &&
		    makedev(major, minor) == st.st_dev) {
			found = (char *)(uintptr_t)start;
			*size = (size_t)(end - start);
		}
	}
	fclose(f);
	return found;
}

static int write_full(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* The reserved value @dst (in the map) filled with blob @p. With MDB_WRITEMAP the value is the
 * map's page cache, and a store through the map makes the kernel fault each new page in,
 * reading (zeroing) its blocks first: a profile of a cold cp -r put 45% of the daemon's CPU
 * in those faults, 35% in zeroing alone. Written with pwrite() at the value's offset in
 * LMDB's file (the same page cache pages, which the map shows: MAP_SHARED), whole pages need
 * no read and no zeroing; a blob held in a file is copied file to file in the kernel
 * (copy_file_range) when both are on one filesystem, and read into the map otherwise. */
static int fill_reserved(struct store *s, void *dst, const struct store_put *p)
{
	size_t n = (size_t)p->size;
	off_t at;
	int fd;

	if (!s->writemap || !s->map || (char *)dst < s->map ||
	    (size_t)((char *)dst - s->map) + n > s->map_size || mdb_env_get_fd(s->env, &fd))
		goto by_memory;
	at = (off_t)((char *)dst - s->map);
	if (p->data)
		return write_full(fd, p->data, n, at);
	for (loff_t in = 0, out = at; (size_t)in < n;) {
		ssize_t r = copy_file_range(p->fd, &in, fd, &out, n - (size_t)in, 0);

		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (r == 0)
			return -EIO; /* the download's file is shorter than it said */
		if (in == 0 &&
		    (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS))
			goto by_memory; /* another filesystem, or no support: read it into the map */
		return -errno;
	}
	return 0;
by_memory:
	if (p->data) {
		memcpy(dst, p->data, n);
		return 0;
	}
	return read_full(p->fd, dst, n, 0);
}

/* What putting one blob into a batch's transaction came to. */
enum put_outcome {
	PUT_ADDED,   /* stored in the transaction */
	PUT_PRESENT, /* already stored: instances never change */
	PUT_NO_ROOM, /* it cannot fit the limit: not kept, the transaction goes on */
	PUT_LOST,    /* failed with *err (-ENOSPC for a full map too): the transaction is lost */
};

/* One blob into @txn: evict for room, reserve, copy from its memory or its file, record its
 * first use. */
static enum put_outcome put_one(struct store *s, MDB_txn *txn, struct store_put *p, uint64_t added,
				uint64_t *freed, uint64_t *count, int *err)
{
	MDB_val k, v;
	int rc;

	sop_key(p->sop, &k);
	if (!mdb_get(txn, s->blob, &k, &v))
		return PUT_PRESENT;
	*err = evict_make_room(s, txn, added, p->size, freed, count);
	if (*err == -ENOSPC)
		return PUT_NO_ROOM;
	if (*err)
		return PUT_LOST;
	v.mv_size = (size_t)p->size;
	rc = mdb_put(txn, s->blob, &k, &v, MDB_RESERVE);
	if (rc) {
		log_warn("cache %s: storing instance %s: %s", s->dir, p->sop, mdb_strerror(rc));
		*err = store_errno(rc);
		return PUT_LOST;
	}
	if (p->data) {
		*err = fill_reserved(s, v.mv_data, p);
		if (*err) {
			log_error("cache %s: writing instance %s: %s", s->dir, p->sop,
				  strerror(-*err));
			*err = -EIO;
			return PUT_LOST;
		}
	} else {
		*err = fill_reserved(s, v.mv_data, p);
		if (*err) {
			log_error("cache: reading back the download of %s: %s", p->sop,
				  strerror(-*err));
			*err = -EIO; /* the transaction is aborted: the reserved space is never seen */
			return PUT_LOST;
		}
	}
	*err = evict_added(s, txn, p->sop);
	return *err ? PUT_LOST : PUT_ADDED;
}

int store_blob_put_batch(struct store *s, struct store_put *items, size_t n)
{
	uint64_t added = 0, freed = 0, count = 0;
	MDB_txn *txn;
	int rc, err = 0;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		err = store_errno(rc);
		log_error("cache %s: storing %zu instances: %s", s->dir, n, mdb_strerror(rc));
		goto out_all;
	}
	for (size_t i = 0; i < n; i++)
		added += items[i].size;
	err = store_grow(s, added, n, STORE_GROW_SLACK);
	added = 0;
	if (err) {
		mdb_txn_abort(txn);
		if (err == -ENOSPC)
			log_warn("cache: the disk under %s is full: %zu instances not kept", s->dir,
				 n);
		goto out_aborted;
	}
	evict_disk_room(s);
	for (size_t i = 0; i < n; i++) {
		switch (put_one(s, txn, &items[i], added, &freed, &count, &err)) {
		case PUT_ADDED:
			added += items[i].size;
			/* fall through */
		case PUT_PRESENT:
			items[i].err = 0;
			break;
		case PUT_NO_ROOM:
			items[i].err = -ENOSPC; /* this one is not kept; the others may be */
			err = 0;
			break;
		case PUT_LOST:
			/* A failed put may leave the transaction unusable: give it all up. */
			mdb_txn_abort(txn);
			goto out_aborted;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc) {
		err = store_errno(rc);
		/* LMDB reports a write cut short as EIO: on a disk with no room left for what
		 * this commit adds, that was the disk being full. */
		if (rc == EIO && !store_has_room(s, added))
			err = -ENOSPC;
		if (err == -ENOSPC)
			log_warn("cache: the disk under %s is full (%s): %zu instances not kept",
				 s->dir, mdb_strerror(rc), n);
		else
			log_error("cache %s: storing %zu instances: %s", s->dir, n,
				  mdb_strerror(rc));
		goto out_aborted;
	}
	evict_committed(s, added, freed, count);
	if (count)
		log_debug("cache: evicted %llu instances (%llu bytes) to stay within %llu bytes",
			  (unsigned long long)count, (unsigned long long)freed,
			  (unsigned long long)s->txn_limit);
	return 0;
out_aborted:
	evict_aborted(s);
out_all:
	for (size_t i = 0; i < n; i++)
		items[i].err = err;
	return err;
}

int store_blob_put_fd(struct store *s, const char *sop, int fd, uint64_t size)
{
	struct store_put p = {.sop = sop, .fd = fd, .size = size};

	store_blob_put_batch(s, &p, 1);
	return p.err;
}

int store_blob_put_data(struct store *s, const char *sop, const void *data, uint64_t size)
{
	struct store_put p = {.sop = sop, .fd = -1, .data = data, .size = size};

	store_blob_put_batch(s, &p, 1);
	return p.err;
}

void store_set_min_free(struct store *s, uint64_t min_free)
{
	s->min_free = min_free;
}

/* The default floor: 5% of the filesystem, as journald's SystemKeepFree= (15%, at most 4G)
 * and kubelet's image collection keep a share free, at most 1 GiB so that a big disk given
 * to the cache is used; rclone's and gcsfuse's caches have the option too but default to no
 * floor, which fills a disk that is smaller than the cache size. */
#define STORE_FLOOR_SHARE 20 /* 1/20: 5% */
#define STORE_FLOOR_MAX	  (1ull << 30)

int store_fs_floor(const char *dir, uint64_t min_free, uint64_t *floor, uint64_t *avail)
{
	struct statvfs st;

	if (statvfs(dir, &st) < 0)
		return -errno;
	*avail = (uint64_t)st.f_bavail * st.f_frsize;
	*floor = min_free;
	if (min_free == STORE_MIN_FREE_AUTO) {
		*floor = (uint64_t)st.f_blocks * st.f_frsize / STORE_FLOOR_SHARE;
		if (*floor > STORE_FLOOR_MAX)
			*floor = STORE_FLOOR_MAX;
	}
	return 0;
}

bool store_has_room(struct store *s, uint64_t more)
{
	uint64_t floor, avail;

	if (store_fs_floor(s->dir, s->min_free, &floor, &avail))
		return true;
	return avail >= floor && avail - floor >= more;
}

int store_tmpdir(struct store *s, const char *prefix, char *path, size_t n)
{
	if ((size_t)snprintf(path, n, "%s/%sXXXXXX", s->dir, prefix) >= n)
		return -ENAMETOOLONG;
	return mkdtemp(path) ? 0 : -errno;
}

int store_tmpfile(struct store *s)
{
	int fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) {
		/* Filesystems without O_TMPFILE: a named file, unlinked at once. */
		char path[4096];

		snprintf(path, sizeof(path), "%s/dl.XXXXXX", s->dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(path);
	}
	return fd;
}

void store_usage(struct store *s, uint64_t *count, uint64_t *bytes)
{
	MDB_txn *txn;
	MDB_stat st;

	*count = 0;
	pthread_mutex_lock(&s->lock);
	*bytes = s->bytes;
	pthread_mutex_unlock(&s->lock);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return;
	if (!mdb_stat(txn, s->blob, &st))
		*count = st.ms_entries;
	mdb_txn_abort(txn);
}

uint64_t store_evictions(struct store *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->evictions;
	pthread_mutex_unlock(&s->lock);
	return n;
}
