/* The size bound: blobs are kept up to cache_size bytes, the least recently used going first,
 * and less when the disk under cache_dir has no room for that (min_free=, evict_disk_room()).
 * Uses are counted in memory and written to LMDB ("lru" and "age") in the next write
 * transaction, so a read of a cached file never waits for a disk sync; eviction reads "age"
 * in order, oldest first, and never removes a blob that is open (pinned). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store_internal.h"
#include "core/log.h"

#define AGE_KEY_MAX (8 + 64)

static void age_key(uint64_t tick, const char *sop, unsigned char *out, MDB_val *k)
{
	size_t n = strlen(sop);

	if (n > AGE_KEY_MAX - 8)
		n = AGE_KEY_MAX - 8;
	/* Big-endian, so LMDB's byte order is the order of use. */
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(tick >> (56 - 8 * i));
	memcpy(out + 8, sop, n);
	k->mv_data = out;
	k->mv_size = 8 + n;
}

int evict_init(struct store *s, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	s->bytes = 0;
	s->tick = 1;
	/* Sizes come from the leaf nodes: no blob page is read. */
	rc = mdb_cursor_open(txn, s->blob, &cur);
	if (rc)
		return store_errno(rc);
	while (!(rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)))
		s->bytes += v.mv_size;
	mdb_cursor_close(cur);
	s->meta_bytes = 0;
	for (int i = 0; i < 2; i++) {
		rc = mdb_cursor_open(txn, i ? s->doc : s->meta, &cur);
		if (rc)
			return store_errno(rc);
		while (!(rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)))
			s->meta_bytes += v.mv_size;
		mdb_cursor_close(cur);
	}
	rc = mdb_cursor_open(txn, s->age, &cur);
	if (rc)
		return store_errno(rc);
	if (!mdb_cursor_get(cur, &k, &v, MDB_LAST) && k.mv_size >= 8) {
		const unsigned char *p = k.mv_data;

		for (int i = 0; i < 8; i++)
			s->tick = s->tick << 8 | p[i];
		s->tick++;
	}
	mdb_cursor_close(cur);
	return 0;
}

static void list_clear(char **v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	*n = 0;
}

void evict_release(struct store *s)
{
	list_clear(s->pinned, &s->npinned);
	list_clear(s->touched, &s->ntouched);
	list_clear(s->evicting, &s->nevicting);
	free(s->pinned);
	free(s->touched);
	free(s->evicting);
}

static int list_add(char ***v, size_t *n, size_t *cap, const char *sop)
{
	char *copy;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	copy = strdup(sop);
	if (!copy)
		return -ENOMEM;
	(*v)[(*n)++] = copy;
	return 0;
}

static bool list_has(char **v, size_t n, const char *sop, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == len && memcmp(v[i], sop, len) == 0)
			return true;
	return false;
}

int store_pin(struct store *s, const char *sop)
{
	int err;

	pthread_mutex_lock(&s->lock);
	/* Under the lock that eviction decides under: a blob is either pinned before the
	 * decision (and kept) or marked as going (and refused here). */
	if (list_has(s->evicting, s->nevicting, sop, strlen(sop)))
		err = -ENOENT;
	else
		err = list_add(&s->pinned, &s->npinned, &s->pinned_cap, sop);
	pthread_mutex_unlock(&s->lock);
	return err;
}

void store_unpin(struct store *s, const char *sop)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->npinned; i++) {
		if (strcmp(s->pinned[i], sop) == 0) {
			free(s->pinned[i]);
			s->pinned[i] = s->pinned[--s->npinned];
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static bool is_pinned(struct store *s, const char *sop, size_t len)
{
	return list_has(s->pinned, s->npinned, sop, len);
}

void store_touch(struct store *s, const char *sop)
{
	pthread_mutex_lock(&s->lock);
	/* Bounded: past this, older uses are forgotten rather than memory grown. */
	if (s->ntouched < 65536)
		list_add(&s->touched, &s->ntouched, &s->touched_cap, sop);
	pthread_mutex_unlock(&s->lock);
}

/* Give @sop the tick @tick in "lru" and "age", replacing its old one. */
static int set_tick(struct store *s, MDB_txn *txn, const char *sop, uint64_t tick)
{
	unsigned char key[AGE_KEY_MAX];
	MDB_val k = {.mv_size = strlen(sop), .mv_data = (void *)sop}, v, ak, none = {0};
	int rc;

	rc = mdb_get(txn, s->lru, &k, &v);
	if (!rc && v.mv_size == 8) {
		uint64_t old;

		memcpy(&old, v.mv_data, 8);
		age_key(old, sop, key, &ak);
		mdb_del(txn, s->age, &ak, NULL);
	} else if (rc != MDB_NOTFOUND && rc) {
		return store_errno(rc);
	}
	v.mv_size = 8;
	v.mv_data = &tick;
	rc = mdb_put(txn, s->lru, &k, &v, 0);
	if (rc)
		return store_errno(rc);
	age_key(tick, sop, key, &ak);
	return store_errno(mdb_put(txn, s->age, &ak, &none, 0));
}

/* Write the pending uses (called with s->lock held, inside a write transaction). */
static int flush_touched(struct store *s, MDB_txn *txn)
{
	MDB_val k, v;
	int err = 0;

	for (size_t i = 0; i < s->ntouched; i++) {
		k.mv_size = strlen(s->touched[i]);
		k.mv_data = s->touched[i];
		/* A use of a blob evicted since is no use. */
		if (!err && !mdb_get(txn, s->blob, &k, &v))
			err = set_tick(s, txn, s->touched[i], s->tick++);
		free(s->touched[i]);
	}
	s->ntouched = 0;
	return err;
}

/* Pages of the map's file that are free: all of them (@all), and those a write transaction
 * of id @id may use (@reusable): LMDB keeps the pages the last commit freed for the snapshot
 * before it, and reuses them only one commit later. The free-page database (LMDB's database
 * 0) is keyed by the id of the transaction that freed the pages, each value an ID list whose
 * first word is its length (as `mdb_stat -f` counts them). LMDB lets only a read-only
 * transaction (@txn) read it. */
static void free_pages(MDB_txn *txn, size_t id, uint64_t *all, uint64_t *reusable)
{
	MDB_cursor *cur;
	MDB_val k, v;

	*all = *reusable = 0;
	if (mdb_cursor_open(txn, 0, &cur))
		return;
	while (!mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t by, n;

		if (k.mv_size != sizeof(by) || v.mv_size < sizeof(n))
			continue;
		memcpy(&by, k.mv_data, sizeof(by));
		memcpy(&n, v.mv_data, sizeof(n));
		*all += n;
		if (by + 1 < id)
			*reusable += n;
	}
	mdb_cursor_close(cur);
}

/* The disk under the store as transaction @txn (of id @id) sees it, into @r; @growth: how far
 * the file may grow in it. Called without s->lock but for reading s->bytes. */
static void disk_room(struct store *s, MDB_txn *txn, size_t id, struct store_room *r,
		      uint64_t *growth)
{
	uint64_t all, reusable, bytes;
	int64_t room, grow;
	MDB_stat st;

	memset(r, 0, sizeof(*r));
	r->limit = r->effective = s->limit;
	*growth = UINT64_MAX;
	if (store_fs_floor(s->dir, s->min_free, &r->floor, &r->avail))
		return;
	if (mdb_env_stat(s->env, &st))
		return;
	free_pages(txn, id, &all, &reusable);
	pthread_mutex_lock(&s->lock);
	bytes = s->bytes;
	pthread_mutex_unlock(&s->lock);
	/* The blobs may have what they hold, the file's free pages and the free space above the
	 * floor; what the file holds besides (query results, indexes) counts against it, and
	 * so does what another program takes from the disk. The file never shrinks (LMDB reuses
	 * its pages): once the disk is below the floor, evicting cannot give space back, only
	 * keep the file from growing, so the deficit is taken from the blobs once, not again at
	 * every store. */
	room = (int64_t)(bytes + all * st.ms_psize + r->avail) - (int64_t)r->floor;
	grow = (int64_t)(reusable * st.ms_psize + r->avail) - (int64_t)r->floor;
	r->effective = room <= 0 ? 0 : (uint64_t)room < s->limit ? (uint64_t)room : s->limit;
	r->floor_in_force = r->effective < s->limit;
	*growth = grow <= 0 ? 0 : (uint64_t)grow;
}

/* The disk under the store, from a read-only transaction begun now: after a write transaction
 * has begun, it sees what that one starts from (MDB_NOTLS lets one thread have both), and the
 * next write transaction's id is its own plus one. */
static void measure(struct store *s, struct store_room *r, uint64_t *growth)
{
	MDB_txn *txn;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) {
		memset(r, 0, sizeof(*r));
		r->limit = r->effective = s->limit;
		*growth = UINT64_MAX;
		return;
	}
	disk_room(s, txn, mdb_txn_id(txn) + 1, r, growth);
	mdb_txn_abort(txn);
}

void evict_disk_room(struct store *s)
{
	struct store_room r;
	uint64_t growth;

	measure(s, &r, &growth);
	pthread_mutex_lock(&s->lock);
	if (r.floor_in_force && !s->room.floor_in_force)
		log_info("cache: the disk under %s is at its floor (min_free=%llu bytes, %llu "
			 "free): the cache holds at most %llu bytes",
			 s->dir, (unsigned long long)r.floor, (unsigned long long)r.avail,
			 (unsigned long long)r.effective);
	s->room = r;
	s->txn_limit = r.effective;
	s->txn_growth = growth;
	pthread_mutex_unlock(&s->lock);
}

void store_room(struct store *s, struct store_room *out)
{
	uint64_t growth;

	measure(s, out, &growth);
}

int evict_make_room(struct store *s, MDB_txn *txn, uint64_t added, uint64_t size, uint64_t *freed,
		    uint64_t *count)
{
	unsigned char at[AGE_KEY_MAX];
	uint64_t limit, target;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, err;

	pthread_mutex_lock(&s->lock);
	err = flush_touched(s, txn);
	if (err)
		goto out;
	if (size > s->limit) {
		err = -ENOSPC;
		goto out;
	}
	/* Within what the disk allows (evict_disk_room()); an instance that does not fit even
	 * then still shrinks the cache to that, not further. */
	limit = s->txn_limit;
	target = size <= limit ? limit - size : limit;
	rc = mdb_cursor_open(txn, s->age, &cur);
	if (rc) {
		err = store_errno(rc);
		goto out;
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (!rc && s->bytes + added - *freed > target) {
		const char *sop = (const char *)k.mv_data + 8;
		size_t len = k.mv_size - 8;
		MDB_val bk = {.mv_size = len, .mv_data = (void *)sop}, bv;

		if (k.mv_size <= 8 || is_pinned(s, sop, len)) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		if (!mdb_get(txn, s->blob, &bk, &bv)) {
			char name[AGE_KEY_MAX];

			/* Marked before it goes: no one may pin it from now on. */
			memcpy(name, sop, len);
			name[len] = '\0';
			if (list_add(&s->evicting, &s->nevicting, &s->evicting_cap, name)) {
				err = -ENOMEM;
				break;
			}
			*freed += bv.mv_size;
			(*count)++;
			mdb_del(txn, s->blob, &bk, NULL);
		}
		mdb_del(txn, s->lru, &bk, NULL);
		/* Seek past the deleted record by its key: the next one is the next oldest. */
		memcpy(at, k.mv_data, k.mv_size);
		k.mv_data = at;
		rc = mdb_cursor_del(cur, 0);
		if (!rc)
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	if (err)
		; /* out of memory for the mark: the transaction is given up */
	else if (rc && rc != MDB_NOTFOUND)
		err = store_errno(rc);
	else if (s->bytes + added - *freed + size > limit)
		err = -ENOSPC; /* what is left is open, or the disk is at its floor */
	else if (added + size > s->txn_growth)
		err = -ENOSPC; /* the pages evicted now are free for the next commits, not this */
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

int evict_added(struct store *s, MDB_txn *txn, const char *sop)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = set_tick(s, txn, sop, s->tick++);
	pthread_mutex_unlock(&s->lock);
	return err;
}

void evict_committed(struct store *s, uint64_t added, uint64_t freed, uint64_t count)
{
	pthread_mutex_lock(&s->lock);
	s->bytes = s->bytes + added - freed;
	s->evictions += count;
	/* Committed: every new read transaction sees them gone. */
	list_clear(s->evicting, &s->nevicting);
	pthread_mutex_unlock(&s->lock);
}

void evict_aborted(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	list_clear(s->evicting, &s->nevicting);
	pthread_mutex_unlock(&s->lock);
}

/* A stored query result or document, as evict_meta_room() weighs it. */
struct meta_rec {
	int64_t stored_at;
	MDB_dbi dbi;
	size_t size;
	MDB_val key; /* a copy */
};

static int rec_older(const void *a, const void *b)
{
	const struct meta_rec *x = a, *y = b;

	return (x->stored_at > y->stored_at) - (x->stored_at < y->stored_at);
}

/* Every record of "meta" and "doc" but @skip (in @skip_dbi), oldest first, into @out. */
static int meta_records(struct store *s, MDB_txn *txn, MDB_dbi skip_dbi, const MDB_val *skip,
			struct meta_rec **out, size_t *n)
{
	struct meta_rec *v = NULL;
	size_t cap = 0, count = 0;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc, err = 0;

	for (int i = 0; !err && i < 2; i++) {
		MDB_dbi dbi = i ? s->doc : s->meta;

		rc = mdb_cursor_open(txn, dbi, &cur);
		if (rc) {
			err = store_errno(rc);
			break;
		}
		while (!err && !mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
			struct meta_rec *r;

			if (dbi == skip_dbi && k.mv_size == skip->mv_size &&
			    memcmp(k.mv_data, skip->mv_data, k.mv_size) == 0)
				continue;
			if (count == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct meta_rec *nv = realloc(v, nc * sizeof(*nv));

				if (!nv) {
					err = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			r = &v[count];
			r->stored_at = 0;
			if (d.mv_size >= 8)
				memcpy(&r->stored_at, d.mv_data, 8);
			r->dbi = dbi;
			r->size = d.mv_size;
			r->key.mv_size = k.mv_size;
			r->key.mv_data = malloc(k.mv_size ? k.mv_size : 1);
			if (!r->key.mv_data) {
				err = -ENOMEM;
				break;
			}
			memcpy(r->key.mv_data, k.mv_data, k.mv_size);
			count++;
		}
		mdb_cursor_close(cur);
	}
	if (!err)
		qsort(v, count, sizeof(*v), rec_older);
	*out = v;
	*n = count;
	return err;
}

int evict_meta_room(struct store *s, MDB_txn *txn, MDB_dbi dbi, const MDB_val *key, size_t size,
		    int64_t *delta)
{
	struct meta_rec *recs = NULL;
	uint64_t used, target;
	size_t n = 0, removed = 0;
	MDB_val old;
	int rc, err;

	rc = mdb_get(txn, dbi, (MDB_val *)key, &old);
	if (rc && rc != MDB_NOTFOUND)
		return store_errno(rc);
	*delta = (int64_t)size - (rc ? 0 : (int64_t)old.mv_size);
	pthread_mutex_lock(&s->lock);
	used = s->meta_bytes + (uint64_t)*delta;
	pthread_mutex_unlock(&s->lock);
	if (used <= s->meta_limit)
		return 0;
	/* Down to 3/4, so that the scan below is made once per quarter of the budget, not on
	 * every put. */
	target = s->meta_limit / 4 * 3;
	err = meta_records(s, txn, dbi, key, &recs, &n);
	for (size_t i = 0; !err && i < n && used > target; i++) {
		rc = mdb_del(txn, recs[i].dbi, &recs[i].key, NULL);
		if (rc && rc != MDB_NOTFOUND) {
			err = store_errno(rc);
			break;
		}
		used -= recs[i].size;
		*delta -= (int64_t)recs[i].size;
		removed++;
	}
	for (size_t i = 0; i < n; i++)
		free(recs[i].key.mv_data);
	free(recs);
	if (!err && removed)
		log_debug("cache: %zu old query results and documents removed to stay within %llu "
			  "bytes",
			  removed, (unsigned long long)s->meta_limit);
	return err;
}

void evict_meta_committed(struct store *s, int64_t delta)
{
	pthread_mutex_lock(&s->lock);
	s->meta_bytes = (uint64_t)((int64_t)s->meta_bytes + delta);
	pthread_mutex_unlock(&s->lock);
}
