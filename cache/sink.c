/* The verifying sink. Downloads stream into an anonymous temporary file beside the LMDB map
 * (or, when the disk under it has no room, elsewhere: spill.c); when an instance ends, it is
 * checked (a DICOM object whose own SOPInstanceUID (0008,0018) the owner wants, whole to its
 * last element) and only then copied into LMDB in one short write transaction. A truncated or
 * wrong body is dropped with its file: it never reaches the store. An object without a sound
 * file meta header (a bare data set, a damaged meta group) is kept as Part-10: trolley's meta
 * header, then the object's data set bytes as they came. */
#include <errno.h>
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
	s->size = 0;
	s->written = 0;
	s->checked = 0;
	s->head_len = 0;
}

void fetch_sink_release(struct fetch_sink *s)
{
	sink_drop_part(s);
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

/* Append @len bytes to the part's file; when its place is at its floor or full, the part
 * moves on (part_move()) and the bytes go there. @return 0 or -errno (not logged). */
static int part_append(struct fetch_sink *s, const void *data, size_t len)
{
	int err;

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

	if (s->fd < 0)
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
	map = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, s->fd, 0);
	if (map == MAP_FAILED) {
		log_error("cache: cannot read back instance %s: %s", uid, strerror(errno));
		return -EIO;
	}
	err = part10_check_complete(map, (size_t)s->size, why, sizeof(why));
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

	if (s->fd < 0)
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
		errors_note("", "", "the archive sent %llu bytes that are not a DICOM Part-10 file",
			    (unsigned long long)s->size);
		sink_drop_part(s);
		return -EIO;
	}
	uid = info.sop_uid;
	err = s->check(s, uid);
	if (err) {
		sink_drop_part(s);
		return err > 0 ? 0 : err;
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
		int fd = s->fd;

		s->fd = -1;
		sink_drop_part(s);
		return s->defer(s, uid, fd, size);
	}
	err = store_blob_put_fd(s->cache->store, uid, s->fd, s->size);
	if (err && err != -ENOSPC)
		log_error("cache: storing instance %s failed: %s", uid, strerror(-err));
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
