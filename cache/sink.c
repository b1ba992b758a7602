/* The verifying sink. An instance streams into a memory buffer (reused, instance after
 * instance: SINK_MEM_MAX), or, when it grows past that, into an anonymous temporary file beside
 * the LMDB map (or, when the disk under it has no room, elsewhere: spill.c); when it ends, it is
 * checked (a DICOM object whose own SOPInstanceUID (0008,0018) the owner wants, whole to its
 * last element) and only then copied into LMDB in one short write transaction. A truncated or
 * wrong body is dropped with its file: it never reaches the store. An object without a sound
 * file meta header (a bare data set, a damaged meta group) is kept as Part-10: trolley's meta
 * header, then the object's data set bytes as they came. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "cache/internal.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/part10.h"

/*
 * Memory for instances on their way into the store. An instance of up to SINK_MEM_MAX bytes
 * is held in a buffer, not a temporary file: a file per instance cost its inode (ext4's inode
 * allocation was 12% of the daemon's CPU in a cold `cp -r`), a copy into the page cache and a
 * pread back. Buffers are kept for the next instance (free list below): malloc'd afresh (main.c
 * keeps the mmap threshold at 128 KiB) each would be an mmap, a page fault per 4 KiB page and
 * a munmap. A buffer is malloc'd at its full size; only the pages an instance touched cost
 * memory, and the free list keeps at most SINK_POOL_BYTES of touched pages. The bytes held in
 * buffers at once (instances arriving and checked ones waiting for their commit) stay within
 * SINK_HELD_MAX: past it an instance goes to a file, as before, so that several series
 * streaming at once do not add their batches to the daemon's private memory.
 */
#define SINK_MEM_MAX	(4u << 20)
#define SINK_POOL_BYTES (16u << 20)
#define SINK_HELD_MAX	(32u << 20)

struct sink_buf {
	struct sink_buf *next;
	size_t touched; /* the most bytes an instance used of it */
	unsigned char data[];
};

static struct sink_buf *buf_of(void *data)
{
	return (struct sink_buf *)((char *)data - offsetof(struct sink_buf, data));
}

/* A buffer of SINK_MEM_MAX bytes, from the free list if it has one. NULL on ENOMEM. */
static unsigned char *buf_get(struct cache *c)
{
	struct sink_buf *b;

	pthread_mutex_lock(&c->pool.lock);
	b = c->pool.free;
	if (b) {
		c->pool.free = b->next;
		c->pool.bytes -= b->touched;
	}
	pthread_mutex_unlock(&c->pool.lock);
	if (!b) {
		b = malloc(sizeof(*b) + SINK_MEM_MAX);
		if (!b)
			return NULL;
		b->touched = 0;
	}
	return b->data;
}

void fetch_buf_put(struct cache *c, void *data, uint64_t used)
{
	struct sink_buf *b;

	if (!data)
		return;
	__atomic_sub_fetch(&c->pool.held, used, __ATOMIC_RELAXED);
	b = buf_of(data);
	if (used > b->touched)
		b->touched = (size_t)used;
	pthread_mutex_lock(&c->pool.lock);
	if (c->pool.bytes + b->touched <= SINK_POOL_BYTES) {
		b->next = c->pool.free;
		c->pool.free = b;
		c->pool.bytes += b->touched;
		b = NULL;
	}
	pthread_mutex_unlock(&c->pool.lock);
	free(b);
}

void fetch_pool_release(struct cache *c)
{
	while (c->pool.free) {
		struct sink_buf *b = c->pool.free;

		c->pool.free = b->next;
		free(b);
	}
	c->pool.bytes = 0;
	pthread_mutex_destroy(&c->pool.lock);
}

int fetch_sink_init(struct fetch_sink *s, struct cache *c)
{
	memset(s, 0, sizeof(*s));
	s->cache = c;
	s->fd = -1;
	s->head = malloc(PART10_HEAD_MAX);
	return s->head ? 0 : -ENOMEM;
}

static void sink_drop_part(struct fetch_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->in_mem && s->written > buf_of(s->mem)->touched)
		buf_of(s->mem)->touched = (size_t)s->written;
	if (s->in_mem)
		__atomic_sub_fetch(&s->cache->pool.held, s->written, __ATOMIC_RELAXED);
	s->in_mem = false;
	s->size = 0;
	s->written = 0;
	s->checked = 0;
	s->head_len = 0;
}

void fetch_sink_release(struct fetch_sink *s)
{
	sink_drop_part(s);
	fetch_buf_put(s->cache, s->mem, 0);
	s->mem = NULL;
	free(s->head);
	s->head = NULL;
}

static int write_full(int fd, const void *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		data = (const char *)data + w;
		len -= (size_t)w;
	}
	return 0;
}

/* The room of a part's place is looked at again after this many bytes (a statvfs): often
 * enough that a disk at its floor takes at most this much more of it, seldom enough to cost
 * nothing beside the writes. */
#define SINK_ROOM_STEP (4u << 20)

static int sink_begin(void *ctx)
{
	struct fetch_sink *s = ctx;
	int fd;

	sink_drop_part(s);
	if (!s->mem)
		s->mem = buf_get(s->cache);
	if (s->mem) {
		s->in_mem = true;
		return 0;
	}
	fd = spill_open(s->cache, SPILL_CACHE_DIR, SINK_ROOM_STEP, &s->where);
	if (fd < 0) {
		log_error("cache: cannot make a temporary file for a download (cache_dir, %s and "
			  "memory tried): %s",
			  spill_tmpdir(), strerror(-fd));
		return fd;
	}
	if (s->where != SPILL_CACHE_DIR)
		STAT_ADD(s->cache, spilled, 1);
	s->fd = fd;
	return 0;
}

/* The part's place has no room left (its floor, or the disk full): move what it holds to the
 * next place (spill.c) and go on there. @return 0, or -ENOSPC when no place has room: the
 * transfer stops. */
static int part_move(struct fetch_sink *s)
{
	enum spill_place from = s->where, to;
	off_t off = 0;
	int fd;

	fd = spill_open(s->cache, from + 1, s->written + SINK_ROOM_STEP, &to);
	if (fd < 0) {
		log_error("cache: no room for a download (%llu bytes so far): %s, %s and memory "
			  "are full or at their floors",
			  (unsigned long long)s->written, spill_place_name(from), spill_tmpdir());
		return -ENOSPC;
	}
	while ((uint64_t)off < s->written) {
		ssize_t n = sendfile(fd, s->fd, &off, (size_t)(s->written - (uint64_t)off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			log_error("cache: moving a download to %s: %s", spill_place_name(to),
				  strerror(-err));
			close(fd);
			return err == -ENOSPC ? err : -EIO;
		}
	}
	log_info("cache: no room in %s for a download (%llu bytes so far): held in %s instead",
		 spill_place_name(from), (unsigned long long)s->written, spill_place_name(to));
	if (from == SPILL_CACHE_DIR)
		STAT_ADD(s->cache, spilled, 1);
	close(s->fd);
	s->fd = fd;
	s->where = to;
	s->checked = s->written;
	return 0;
}

int fetch_part_file(struct cache *c, const void *data, uint64_t size, enum spill_place *where)
{
	int fd = spill_open(c, SPILL_CACHE_DIR, size, where), err;

	if (fd < 0)
		return fd;
	err = write_full(fd, data, (size_t)size);
	if (err) {
		close(fd);
		return err;
	}
	if (*where != SPILL_CACHE_DIR)
		STAT_ADD(c, spilled, 1);
	return fd;
}

/* The part grew past its memory buffer: on to a temporary file (the buffer stays the sink's,
 * for the next instance). @return 0, or -ENOSPC (logged) when no place has room. */
static int part_to_file(struct fetch_sink *s)
{
	int fd;

	if (s->written > buf_of(s->mem)->touched)
		buf_of(s->mem)->touched = (size_t)s->written;
	__atomic_sub_fetch(&s->cache->pool.held, s->written, __ATOMIC_RELAXED);
	s->in_mem = false;
	fd = fetch_part_file(s->cache, s->mem, s->written, &s->where);
	if (fd < 0) {
		log_error("cache: no room for a download (%llu bytes so far): cache_dir, %s and "
			  "memory are full or at their floors (%s)",
			  (unsigned long long)s->written, spill_tmpdir(), strerror(-fd));
		return -ENOSPC;
	}
	s->fd = fd;
	s->checked = s->written;
	return 0;
}

/* Append @len bytes to the part: to its memory buffer while it fits, else to its file; when
 * the file's place is at its floor or full, the part moves on (part_move()) and the bytes go
 * there. @return 0 or -errno (not logged). */
static int part_append(struct fetch_sink *s, const void *data, size_t len)
{
	int err;

	if (s->in_mem) {
		if (s->written + len <= SINK_MEM_MAX) {
			if (__atomic_add_fetch(&s->cache->pool.held, len, __ATOMIC_RELAXED) <=
			    SINK_HELD_MAX) {
				memcpy(s->mem + s->written, data, len);
				s->written += len;
				return 0;
			}
			__atomic_sub_fetch(&s->cache->pool.held, len, __ATOMIC_RELAXED);
		}
		err = part_to_file(s);
		if (err)
			return err;
	}

	if (s->written + len >= s->checked + SINK_ROOM_STEP) {
		s->checked = s->written;
		if (!spill_has_room(s->cache, s->where, SINK_ROOM_STEP)) {
			err = part_move(s);
			if (err)
				return err;
		}
	}
	for (;;) {
		/* A write cut by a full disk left a tail that the move does not copy: the file
		 * offset of the new one is where these bytes go. */
		err = write_full(s->fd, data, len);
		if (err != -ENOSPC && err != -EDQUOT)
			break;
		err = part_move(s);
		if (err)
			return err;
	}
	if (!err)
		s->written += len;
	return err;
}

/*
 * The head of an instance (its first PART10_HEAD_MAX bytes, or all of a smaller one) stays in
 * memory until it is complete, and only then goes to the file, behind the meta header trolley
 * writes if part10_inspect() says it must. Every byte is written once: a sound Part-10 file
 * (nearly every one) costs one 64 KiB write instead of a few smaller ones and nothing more, and
 * a bare data set gets its header in front without a second pass over the file, which a
 * decision at the end (a fresh file, the body copied behind the header) would cost, with twice
 * the disk for the time of the copy. Memory stays one head buffer per transfer, as before.
 * The head is complete exactly when head_len == PART10_HEAD_MAX, or at the end.
 */
static int sink_flush_head(struct fetch_sink *s)
{
	unsigned char meta[PART10_META_MAX];
	struct part10_info info;
	ssize_t mlen = 0;
	size_t skip = 0;
	int err;

	/* An object that is no DICOM goes to the file as it is; sink_end() refuses it. */
	if (part10_inspect(s->head, s->head_len, &info) == 0 && info.needs_meta) {
		mlen = part10_meta_write(meta, sizeof(meta), info.sop_class, info.sop_uid,
					 info.syntax, NULL);
		if (mlen < 0) {
			log_error("instance %s: cannot write a file meta header: %s", info.sop_uid,
				  strerror((int)-mlen));
			return -EIO;
		}
		skip = info.ds_offset;
	}
	err = part_append(s, meta, (size_t)mlen);
	if (!err)
		err = part_append(s, s->head + skip, s->head_len - skip);
	if (err == -ENOSPC)
		return err; /* logged */
	if (err) {
		log_error("cache: writing a download to disk: %s", strerror(-err));
		return err;
	}
	s->size = (uint64_t)mlen + s->head_len - skip;
	return 0;
}

/* An instance grew past max_instance_size: say which (its UID is in the head by now, unless
 * the bound is smaller than the head) and how to raise the bound. EFBIG, not EIO: the reply
 * may be a sound object, only larger than the user allows. */
static int sink_too_large(struct fetch_sink *s, uint64_t max)
{
	struct part10_info info;
	bool named = part10_inspect(s->head, s->head_len, &info) == 0;

	log_error("cache: instance %s is larger than max_instance_size=%llu bytes: refused (a "
		  "larger max_instance_size= lets it in)",
		  named ? info.sop_uid : "(not yet named)", (unsigned long long)max);
	return -EFBIG;
}

static int sink_write(void *ctx, const void *data, size_t len)
{
	struct fetch_sink *s = ctx;
	uint64_t max = s->cache->cfg.max_instance_size ? s->cache->cfg.max_instance_size
						       : CACHE_INSTANCE_MAX;
	uint64_t have;
	int err;

	if (s->fd < 0 && !s->in_mem)
		return -EIO;
	/* Unmounting: stop a background transfer at once. Nobody waits for this one any more
	 * (core/cancel.h): the transfers that see no other check (DIMSE) stop here. */
	if (__atomic_load_n(&s->cache->stopping, __ATOMIC_RELAXED) || cancel_requested())
		return -ECANCELED;
	/* What came so far (s->size counts only once the head is written; trolley's own meta
	 * header in it is a few hundred bytes, which a bound of gigabytes need not tell). */
	have = s->head_len < PART10_HEAD_MAX ? s->head_len : s->size;
	if (have + len > max)
		return sink_too_large(s, max);
	STAT_ADD(s->cache, bytes_downloaded, len);
	if (s->head_len < PART10_HEAD_MAX) {
		size_t take = PART10_HEAD_MAX - s->head_len;

		if (take > len)
			take = len;
		memcpy(s->head + s->head_len, data, take);
		s->head_len += take;
		data = (const char *)data + take;
		len -= take;
		if (s->head_len < PART10_HEAD_MAX)
			return 0;
		err = sink_flush_head(s);
		if (err)
			return err;
	}
	if (!len)
		return 0;
	err = part_append(s, data, len);
	if (err) {
		if (err != -ENOSPC)
			log_error("cache: writing a download to disk: %s", strerror(-err));
		return err;
	}
	s->size += len;
	return 0;
}

/* The instance must be whole: every element of its data set ends where the file ends. A
 * server may close a multipart body properly around half an instance; the header alone would
 * not show it. */
static int check_whole(struct fetch_sink *s, const char *uid)
{
	char why[128];
	void *map;
	int err;

	if (s->size == 0)
		return -EIO;
	if (s->in_mem) {
		map = s->mem;
		goto check;
	}
	map = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, s->fd, 0);
	if (map == MAP_FAILED) {
		log_error("cache: cannot read back instance %s: %s", uid, strerror(errno));
		return -EIO;
	}
check:
	err = part10_check_complete(map, (size_t)s->size, why, sizeof(why));
	if (!s->in_mem)
		munmap(map, (size_t)s->size);
	if (err) {
		log_error(
			"instance %s: the archive sent %llu bytes that are not a whole DICOM file "
			"(%s)",
			uid, (unsigned long long)s->size, why);
		return -EIO;
	}
	return 0;
}

static int sink_end(void *ctx)
{
	struct fetch_sink *s = ctx;
	struct part10_info info;
	const char *uid;
	int err;

	if (s->fd < 0 && !s->in_mem)
		return -EIO;
	if (s->head_len < PART10_HEAD_MAX) {
		err = sink_flush_head(s);
		if (err) {
			sink_drop_part(s);
			return err;
		}
	}
	/* The same answer sink_flush_head() had: the head has not changed since. */
	err = part10_inspect(s->head, s->head_len, &info);
	if (err) {
		log_error("the archive sent %llu bytes that are not a DICOM Part-10 file",
			  (unsigned long long)s->size);
		errors_detail_set(s->why, "", "",
				  "the archive sent %llu bytes that are not a DICOM Part-10 file",
				  (unsigned long long)s->size);
		sink_drop_part(s);
		return -EIO;
	}
	uid = info.sop_uid;
	switch (s->check(s, uid)) {
	case SINK_KEEP:
		break;
	case SINK_SKIP:
		sink_drop_part(s);
		return 0;
	case SINK_REFUSE:
		sink_drop_part(s);
		return -EIO;
	}
	err = check_whole(s, uid);
	if (err) {
		sink_drop_part(s);
		return err;
	}
	if (info.needs_meta)
		log_info("instance %s came with %s: kept with a file meta header trolley wrote "
			 "in front of its data set (%s)",
			 uid, info.why, info.syntax);
	if (s->defer) {
		uint64_t size = s->size;
		void *data = NULL;
		int fd = s->fd;

		s->fd = -1;
		if (s->in_mem) {
			data = s->mem; /* the callee's now; the next instance takes another */
			s->mem = NULL;
			s->in_mem = false;
		}
		sink_drop_part(s);
		return s->defer(s, uid, fd, data, size);
	}
	if (s->in_mem)
		err = store_blob_put_data(s->cache->store, uid, s->mem, s->size);
	else
		err = store_blob_put_fd(s->cache->store, uid, s->fd, s->size);
	if (err && err != -ENOSPC)
		log_error("cache: storing instance %s failed: %s", uid, strerror(-err));
	if (err && s->in_mem) {
		/* Not kept: its reader is served from a file (spill.c), as one too big for the
		 * buffer would be. */
		int fd = fetch_part_file(s->cache, s->mem, s->size, &s->where);

		if (fd < 0) {
			log_error("cache: no room to hold instance %s (%llu bytes): cache_dir, %s "
				  "and memory are full or at their floors",
				  uid, (unsigned long long)s->size, spill_tmpdir());
			sink_drop_part(s);
			return -ENOSPC;
		}
		s->fd = fd;
	}
	s->stored(s, uid, err, &s->fd, s->size);
	sink_drop_part(s);
	/* A store that is full or failing loses the cache, not the download. */
	return 0;
}

/* A downloader holds part of an instance itself (in memory, or a file in $TMPDIR) before it
 * hands it on: the bounds of sink_write() apply as it grows, so a reply that never ends stops
 * at max_instance_size, and the downloader's file stops at $TMPDIR's floor. */
static int sink_hold(void *ctx, uint64_t held)
{
	struct fetch_sink *s = ctx;
	uint64_t max = s->cache->cfg.max_instance_size ? s->cache->cfg.max_instance_size
						       : CACHE_INSTANCE_MAX;
	uint64_t floor, avail;

	if (__atomic_load_n(&s->cache->stopping, __ATOMIC_RELAXED))
		return -ECANCELED;
	if (held > max) {
		log_error("cache: an instance of a series transfer is larger than "
			  "max_instance_size=%llu bytes: refused (a larger max_instance_size= lets "
			  "it in)",
			  (unsigned long long)max);
		return -EFBIG;
	}
	/* A $TMPDIR that cannot be measured (gone) is the downloader's to report. */
	if (store_fs_floor(spill_tmpdir(), s->cache->cfg.min_free, &floor, &avail) == 0 &&
	    avail < floor) {
		log_error(
			"cache: no room in %s to hold a download (%llu bytes so far): its disk is "
			"at its floor (min_free=)",
			spill_tmpdir(), (unsigned long long)held);
		return -ENOSPC;
	}
	return 0;
}

const struct sink_ops fetch_sink_ops = {
	.begin = sink_begin,
	.write = sink_write,
	.end = sink_end,
	.hold = sink_hold,
};
