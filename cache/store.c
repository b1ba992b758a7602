/* LMDB under cache_dir. Databases: "meta" (query key -> time + packed attribute sets), "doc"
 * (metadata key -> time + the reply) and "blob" (SOPInstanceUID -> Part-10 bytes). Read transactions live for one call only and are
 * never held across network I/O; a blob is written with MDB_RESERVE straight from its verified
 * temporary file, so a write transaction lasts a copy, not a download. */
#include "cache/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store_internal.h"
#include "core/log.h"

/* LMDB's default maximum key size is 511 bytes; longer query keys are hashed and the full key
 * is kept in the value and compared on read. */
#define STORE_KEY_MAX 480
/* Query results and documents are kept within cache_size / 16 plus this. */
#define STORE_META_MIN (32ull << 20)

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
		return -ENOSPC;
	case ENOMEM:
		return -ENOMEM;
	case EACCES:
		return -EACCES;
	default:
		return -EIO;
	}
}

static int mkdir_p(const char *path)
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

int store_open(const char *dir, uint64_t map_size, uint64_t limit, struct store **out)
{
	struct store *s;
	MDB_txn *txn;
	int rc, err, dead = 0;

	err = mkdir_p(dir);
	if (err) {
		log_error("cache folder %s: %s", dir, strerror(-err));
		return err;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->limit = limit;
	/* Half of what the map holds beyond the blobs (fs/main.c: limit/8 + 64 MiB): the rest is
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
	rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	if (rc)
		goto out_lmdb;
	/* A daemon killed with -9 leaves reader slots behind; free them before we use the map. */
	mdb_reader_check(s->env, &dead);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		goto out_lmdb;
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
	if (!s)
		return;
	mdb_env_close(s->env);
	evict_release(s);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

static uint64_t fnv1a64(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
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
	snprintf(out, n, "#%016llx%.*s", (unsigned long long)fnv1a64(key, len), 200, key);
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

/* One blob into @txn: evict for room, reserve, copy from its file, record its first use.
 * @return 0; 1 if it was already there; -EDQUOT if it cannot fit the limit (the transaction
 * goes on); another -errno (including -ENOSPC for a full map) if the transaction is lost. */
static int put_one(struct store *s, MDB_txn *txn, struct store_put *p, uint64_t added,
		   uint64_t *freed, uint64_t *count)
{
	MDB_val k, v;
	int rc, err;

	sop_key(p->sop, &k);
	if (!mdb_get(txn, s->blob, &k, &v))
		return 1; /* instances never change */
	err = evict_make_room(s, txn, added, p->size, freed, count);
	if (err)
		return err == -ENOSPC ? -EDQUOT : err;
	v.mv_size = (size_t)p->size;
	rc = mdb_put(txn, s->blob, &k, &v, MDB_RESERVE);
	if (rc)
		return store_errno(rc);
	err = read_full(p->fd, v.mv_data, (size_t)p->size, 0);
	if (err) {
		log_error("cache: reading back the download of %s: %s", p->sop, strerror(-err));
		return -EIO; /* the transaction is aborted: the reserved space is never seen */
	}
	return evict_added(s, txn, p->sop);
}

int store_blob_put_batch(struct store *s, struct store_put *items, size_t n)
{
	uint64_t added = 0, freed = 0, count = 0;
	MDB_txn *txn;
	int rc, err = 0;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc) {
		err = store_errno(rc);
		goto out_all;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].err = put_one(s, txn, &items[i], added, &freed, &count);
		if (items[i].err == 1) {
			items[i].err = 0;
		} else if (!items[i].err) {
			added += items[i].size;
		} else if (items[i].err == -EDQUOT) {
			items[i].err = -ENOSPC; /* this one is not kept; the others may be */
		} else {
			/* A failed put may leave the transaction unusable: give it all up. */
			err = items[i].err;
			mdb_txn_abort(txn);
			goto out_aborted;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc) {
		err = store_errno(rc);
		goto out_aborted;
	}
	evict_committed(s, added, freed, count);
	if (count)
		log_debug("cache: evicted %llu instances (%llu bytes) to stay within %llu bytes",
			  (unsigned long long)count, (unsigned long long)freed,
			  (unsigned long long)s->limit);
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
