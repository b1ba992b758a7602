/* The cache: LMDB store (query results, blobs, persistence, a full map) and the cache-through
 * layer over a scripted in-process downloader (checks before keeping, single-flight). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/metadata.h"
#include "cache/store.h"
#include "core/part10.h"
#include "cache/store_internal.h"
#include "core/query.h"
#include "core/tags.h"
#include "protocols/searcher.h"

static char *make_dir(void)
{
	char tmpl[] = "/tmp/trolley-store-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void remove_dir(char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
	free(d);
}

#define TEST_SOP_CLASS "1.2.840.10008.5.1.4.1.1.7" /* 25 characters, 26 with its pad */

/* The size of part10(@sop, @extra): preamble and magic, the meta group (group length,
 * (0002,0003), (0002,0010)), the data set's (0008,0016) and (0008,0018), the data. */
static size_t part10_meta_size(const char *sop)
{
	size_t ul = strlen(sop) + (strlen(sop) & 1);

	return 132 + 12 + (8 + ul + 8 + 20);
}

static size_t part10_size(const char *sop, size_t extra)
{
	size_t ul = strlen(sop) + (strlen(sop) & 1);

	return part10_meta_size(sop) + (8 + 26) + (8 + ul) + extra;
}

/* A minimal Part-10 file: a sound meta group (group length, (0002,0003) @meta_sop, explicit VR
 * little endian), then a data set of (0008,0016), (0008,0018) @sop and @extra bytes of pixel
 * data. @meta_sop and @sop have the same length. */
static unsigned char *part10_named(const char *meta_sop, const char *sop, size_t extra, size_t *len)
{
	static const char ts[] = "1.2.840.10008.1.2.1"; /* 19 characters, 20 with its pad */
	size_t ul = strlen(sop) + (strlen(sop) & 1);
	size_t meta = 8 + ul + 8 + 20;
	size_t n = part10_size(sop, extra), off = 132;
	unsigned char *b = calloc(1, n);

	assert_non_null(b);
	assert_int_equal(strlen(meta_sop), strlen(sop));
	memcpy(b + 128, "DICM", 4);
	memcpy(b + off, "\x02\x00\x00\x00UL\x04\x00", 8);
	b[off + 8] = (unsigned char)meta;
	off += 12;
	memcpy(b + off, "\x02\x00\x03\x00UI", 6);
	b[off + 6] = (unsigned char)ul;
	memcpy(b + off + 8, meta_sop, strlen(meta_sop));
	off += 8 + ul;
	memcpy(b + off, "\x02\x00\x10\x00UI\x14\x00", 8);
	memcpy(b + off + 8, ts, sizeof(ts) - 1);
	off += 8 + 20;
	memcpy(b + off, "\x08\x00\x16\x00UI\x1a\x00", 8);
	memcpy(b + off + 8, TEST_SOP_CLASS, strlen(TEST_SOP_CLASS));
	off += 8 + 26;
	memcpy(b + off, "\x08\x00\x18\x00UI", 6);
	b[off + 6] = (unsigned char)ul;
	memcpy(b + off + 8, sop, strlen(sop));
	off += 8 + ul;
	/* The data: one OB element (7FE0,0010) that fills @extra bytes, so the file is whole. */
	assert_true(extra >= 12 && extra % 2 == 0);
	memcpy(b + off, "\xe0\x7f\x10\x00OB\0\0", 8);
	b[off + 8] = (unsigned char)((extra - 12) & 0xff);
	b[off + 9] = (unsigned char)(((extra - 12) >> 8) & 0xff);
	b[off + 10] = (unsigned char)(((extra - 12) >> 16) & 0xff);
	for (size_t i = 12; i < extra; i++)
		b[off + i] = (unsigned char)(i * 7);
	*len = n;
	return b;
}

static unsigned char *part10(const char *sop, size_t extra, size_t *len)
{
	return part10_named(sop, sop, extra, len);
}

static void test_meta_round_trip_and_long_keys(void **state)
{
	char *dir = make_dir(), key[2000];
	struct attrset_list l, got;
	struct store *s;
	int64_t t;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	attrset_list_init(&l);
	attrset_set(attrset_list_add(&l), TAG_PatientName, "PN", "Doe^J");
	attrset_set(attrset_list_add(&l), TAG_PatientName, "PN", "Roe^R");
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(store_meta_put(s, "short", &l, 100), 0);
	assert_int_equal(store_meta_put(s, key, &l, 200), 0);
	attrset_list_init(&got);
	assert_int_equal(store_meta_get(s, "short", &got, &t), 0);
	assert_int_equal(t, 100);
	assert_int_equal(got.n, 2);
	assert_string_equal(attrset_str(&got.v[1], TAG_PatientName), "Roe^R");
	attrset_list_release(&got);
	assert_int_equal(store_meta_get(s, key, &got, &t), 0);
	assert_int_equal(t, 200);
	attrset_list_release(&got);
	/* Same hash prefix, different key: must not be confused. */
	key[1999 - 1] = 'x';
	assert_int_equal(store_meta_get(s, key, &got, &t), -ENOENT);
	assert_int_equal(store_meta_get(s, "absent", &got, &t), -ENOENT);
	store_close(s);
	attrset_list_release(&l);
	remove_dir(dir);
}

static int tmpfile_with(struct store *s, const void *data, size_t len)
{
	int fd = store_tmpfile(s);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

static void test_blob_put_read_persists_across_reopen(void **state)
{
	char *dir = make_dir(), buf[64];
	size_t len;
	unsigned char *b = part10("1.2.3", 1000, &len);
	struct store *s;
	uint64_t size;
	int fd;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	fd = tmpfile_with(s, b, len);
	assert_int_equal(store_blob_put_fd(s, "1.2.3", fd, len), 0);
	close(fd);
	store_close(s);
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	assert_int_equal(store_blob_size(s, "1.2.3", &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(store_blob_read(s, "1.2.3", 128, buf, 4), 4);
	assert_memory_equal(buf, "DICM", 4);
	assert_int_equal(store_blob_read(s, "1.2.3", len - 10, buf, 64), 10);
	assert_memory_equal(buf, b + len - 10, 10);
	assert_int_equal(store_blob_read(s, "1.2.3", len, buf, 64), 0);
	assert_int_equal(store_blob_read(s, "9.9", 0, buf, 64), -ENOENT);
	store_close(s);
	free(b);
	remove_dir(dir);
}

/* A blob put from memory (the sink's buffer) is stored as it is and persists as one put from
 * a file does; a batch may mix both. */
static void test_blob_put_from_memory_and_a_batch_of_both(void **state)
{
	char *dir = make_dir();
	size_t la, lb;
	unsigned char *a = part10("1.2.3", 70000, &la), *b = part10("1.2.4", 1000, &lb);
	unsigned char *got = malloc(la);
	struct store_put batch[2];
	struct store *s;
	uint64_t size;
	int fd;

	(void)state;
	assert_non_null(got);
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	assert_int_equal(store_blob_put_data(s, "1.2.3", a, la), 0);
	assert_int_equal(store_blob_put_data(s, "1.2.3", b, lb), 0); /* kept: never changes */
	fd = tmpfile_with(s, b, lb);
	memset(batch, 0, sizeof(batch));
	batch[0] = (struct store_put){.sop = "1.2.4", .fd = fd, .size = lb};
	batch[1] = (struct store_put){.sop = "1.2.5", .fd = -1, .data = a, .size = la};
	assert_int_equal(store_blob_put_batch(s, batch, 2), 0);
	assert_int_equal(batch[0].err, 0);
	assert_int_equal(batch[1].err, 0);
	close(fd);
	store_close(s);
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	assert_int_equal(store_blob_size(s, "1.2.3", &size), 0);
	assert_int_equal(size, la);
	assert_int_equal(store_blob_read(s, "1.2.3", 0, got, la), (long)la);
	assert_memory_equal(got, a, la);
	assert_int_equal(store_blob_size(s, "1.2.4", &size), 0);
	assert_int_equal(size, lb);
	assert_int_equal(store_blob_read(s, "1.2.4", 0, got, lb), (long)lb);
	assert_memory_equal(got, b, lb);
	assert_int_equal(store_blob_read(s, "1.2.5", 0, got, la), (long)la);
	assert_memory_equal(got, a, la);
	store_close(s);
	free(got);
	free(a);
	free(b);
	remove_dir(dir);
}

/* The map is written through (MDB_WRITEMAP) and LMDB makes its file sparse: a page written
 * where a full disk has no block would be a SIGBUS. So its growth is allocated before a commit
 * writes: the blocks of the file cover what was stored and a slack beyond, and a reopen keeps
 * the blob. */
static void test_map_growth_is_allocated_before_it_is_written(void **state)
{
	char *dir = make_dir(), path[512];
	size_t len;
	unsigned char *b = part10("1.2.3", 3u << 20, &len);
	struct store *s;
	struct stat st;
	uint64_t size;

	(void)state;
	assert_int_equal(store_open(dir, 256 << 20, 128 << 20, &s), 0);
	assert_int_equal(store_blob_put_data(s, "1.2.3", b, len), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size == 256 << 20);		       /* sparse, the map's size */
	assert_true((uint64_t)st.st_blocks * 512 >= len + (16 << 20)); /* the blob and a slack */
	assert_true((uint64_t)st.st_blocks * 512 < 128 << 20);	       /* not the whole map */
	store_close(s);
	assert_int_equal(store_open(dir, 256 << 20, 128 << 20, &s), 0);
	assert_int_equal(store_blob_size(s, "1.2.3", &size), 0);
	assert_int_equal(size, len);
	store_close(s);
	free(b);
	remove_dir(dir);
}

struct seen {
	const void *data;
	size_t len;
	int calls;
};

static int see(void *ctx, const void *data, size_t len)
{
	struct seen *w = ctx;

	w->data = data;
	w->len = len;
	w->calls++;
	return 42; /* handed back unchanged */
}

/* The read path's no-copy access: the bytes asked for, clipped at the end, and the callback's
 * result; nothing called for a blob that is not there. */
/* cache_dir/dirty as the store leaves it: @text and a newline, or absent (NULL). */
static void write_marker(const char *dir, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dirty", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", text);
	assert_int_equal(fclose(f), 0);
}

static bool read_marker(const char *dir, char *out, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dirty", dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(out, (int)n, f))
		out[0] = '\0';
	fclose(f);
	return true;
}

/* A store of boot @boot holding one blob and one query result, closed cleanly. */
static void fill_store(const char *dir, const char *boot)
{
	struct attrset_list l;
	struct store *s;
	size_t len;
	unsigned char *b = part10("1.2.3", 1000, &len);
	int fd;

	assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, boot, &s), 0);
	fd = tmpfile_with(s, b, len);
	assert_int_equal(store_blob_put_fd(s, "1.2.3", fd, len), 0);
	close(fd);
	attrset_list_init(&l);
	attrset_set(attrset_list_add(&l), TAG_PatientName, "PN", "Doe^J");
	assert_int_equal(store_meta_put(s, "q", &l, 100), 0);
	attrset_list_release(&l);
	store_close(s);
	free(b);
}

static void test_marker_is_on_disk_while_open_and_removed_at_clean_close(void **state)
{
	char *dir = make_dir(), seen[128];
	struct store *s;

	(void)state;
	assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, "boot-a", &s), 0);
	assert_true(read_marker(dir, seen, sizeof(seen)));
	assert_string_equal(seen, "boot-a\n");
	store_close(s);
	assert_false(read_marker(dir, seen, sizeof(seen)));
	/* No boot id: every commit synced, no marker at all. */
	assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, NULL, &s), 0);
	assert_false(read_marker(dir, seen, sizeof(seen)));
	store_close(s);
	remove_dir(dir);
}

/* The daemon of boot-a was writing when its system went down (its marker is still there):
 * under boot-b the cache is discarded, whatever it held, and starts empty and usable. */
static void test_marker_of_another_boot_discards_the_cache(void **state)
{
	const char *torn[] = {"boot-a", "", "unsynced"};
	struct attrset_list got;
	char *dir = make_dir(), seen[128];
	struct store *s;
	uint64_t count, bytes;
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
		fill_store(dir, "boot-a");
		write_marker(dir, torn[i]);
		assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, "boot-b", &s), 0);
		assert_false(store_has_blob(s, "1.2.3"));
		attrset_list_init(&got);
		assert_int_equal(store_meta_get(s, "q", &got, &t), -ENOENT);
		store_usage(s, &count, &bytes);
		assert_int_equal(count, 0);
		assert_int_equal(bytes, 0);
		assert_true(read_marker(dir, seen, sizeof(seen)));
		assert_string_equal(seen, "boot-b\n");
		store_close(s);
	}
	remove_dir(dir);
}

/* A daemon of this boot killed without closing (kill -9): the kernel has every write it
 * made, so the cache is kept. */
static void test_marker_of_this_boot_keeps_the_cache(void **state)
{
	struct attrset_list got;
	char *dir = make_dir();
	struct store *s;
	int64_t t;

	(void)state;
	fill_store(dir, "boot-a");
	write_marker(dir, "boot-a");
	assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, "boot-a", &s), 0);
	assert_true(store_has_blob(s, "1.2.3"));
	attrset_list_init(&got);
	assert_int_equal(store_meta_get(s, "q", &got, &t), 0);
	assert_int_equal(got.n, 1);
	attrset_list_release(&got);
	store_close(s);
	/* And a clean close leaves a cache that any boot keeps. */
	assert_int_equal(store_open_boot(dir, 64 << 20, 32 << 20, "boot-c", &s), 0);
	assert_true(store_has_blob(s, "1.2.3"));
	store_close(s);
	remove_dir(dir);
}

static void test_blob_use_hands_the_bytes_without_a_copy(void **state)
{
	char *dir = make_dir();
	size_t len;
	unsigned char *b = part10("1.2.4", 3000, &len);
	struct store *s;
	struct seen w = {0};
	int fd;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	fd = tmpfile_with(s, b, len);
	assert_int_equal(store_blob_put_fd(s, "1.2.4", fd, len), 0);
	close(fd);
	assert_int_equal(store_blob_use(s, "1.2.4", 128, 4, see, &w), 42);
	assert_int_equal(w.len, 4);
	assert_memory_equal(w.data, "DICM", 4);
	assert_int_equal(store_blob_use(s, "1.2.4", len - 10, 1 << 20, see, &w), 42);
	assert_int_equal(w.len, 10);
	assert_memory_equal(w.data, b + len - 10, 10);
	assert_int_equal(store_blob_use(s, "1.2.4", len + 5, 64, see, &w), 42);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.calls, 3);
	assert_int_equal(store_blob_use(s, "9.9", 0, 64, see, &w), -ENOENT);
	assert_int_equal(w.calls, 3);
	store_close(s);
	free(b);
	remove_dir(dir);
}

static void test_full_map_is_enospc_and_stores_nothing(void **state)
{
	char *dir = make_dir();
	size_t len;
	unsigned char *b = part10("1.2.4", 4 << 20, &len);
	struct store *s;
	uint64_t size;
	int fd;

	(void)state;
	assert_int_equal(store_open(dir, 1 << 20, 32 << 20, &s), 0);
	fd = tmpfile_with(s, b, len);
	assert_int_equal(store_blob_put_fd(s, "1.2.4", fd, len), -ENOSPC);
	assert_int_equal(store_blob_size(s, "1.2.4", &size), -ENOENT);
	close(fd);
	store_close(s);
	free(b);
	remove_dir(dir);
}

static void put(struct store *s, const char *sop, size_t extra, int want)
{
	size_t len;
	unsigned char *b = part10(sop, extra, &len);
	int fd = tmpfile_with(s, b, len);

	assert_int_equal(store_blob_put_fd(s, sop, fd, len), want);
	close(fd);
	free(b);
}

/* A floor above what the disk has: the cache may hold nothing (the status says why), a put is
 * ENOSPC and stores nothing, and what was stored before goes at the next put. */
static void test_floor_above_the_free_space_keeps_nothing(void **state)
{
	char *dir = make_dir();
	struct store_room room;
	uint64_t size, floor, avail;
	struct store *s;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	put(s, "1.2.10", 1000, 0);
	store_room(s, &room);
	assert_false(room.floor_in_force);
	assert_int_equal(room.effective, 32 << 20);
	assert_int_equal(store_fs_floor(dir, 0, &floor, &avail), 0);
	assert_int_equal(floor, 0);
	assert_true(avail > 0);
	assert_int_equal(store_fs_floor(dir, STORE_MIN_FREE_AUTO, &floor, &avail), 0);
	assert_true(floor > 0 && floor <= (1ull << 30));
	store_set_min_free(s, avail + (1ull << 40));
	store_room(s, &room);
	assert_true(room.floor_in_force);
	assert_int_equal(room.effective, 0);
	assert_false(store_has_room(s, 0));
	put(s, "1.2.11", 1000, -ENOSPC);
	assert_int_equal(store_blob_size(s, "1.2.11", &size), -ENOENT);
	assert_int_equal(store_blob_size(s, "1.2.10", &size), -ENOENT); /* evicted for it */
	store_set_min_free(s, 0);
	put(s, "1.2.11", 1000, 0);
	assert_int_equal(store_blob_size(s, "1.2.11", &size), 0);
	store_close(s);
	remove_dir(dir);
}

static void test_lru_evicts_least_recently_used_and_keeps_order_across_reopen(void **state)
{
	char *dir = make_dir();
	struct store *s;
	uint64_t n, bytes;

	(void)state;
	/* Room for three 100 kB blobs. */
	assert_int_equal(store_open(dir, 64 << 20, 350000, &s), 0);
	put(s, "1.1", 100000, 0);
	put(s, "1.2", 100000, 0);
	put(s, "1.3", 100000, 0);
	store_touch(s, "1.1"); /* used again: 1.2 is now the oldest */
	put(s, "1.4", 100000, 0);
	assert_true(store_has_blob(s, "1.1"));
	assert_false(store_has_blob(s, "1.2"));
	assert_true(store_has_blob(s, "1.3") && store_has_blob(s, "1.4"));
	assert_int_equal(store_evictions(s), 1);
	store_usage(s, &n, &bytes);
	assert_int_equal(n, 3);
	assert_true(bytes <= 350000);
	store_close(s);
	/* The order of use survives a remount: 1.3 goes next. */
	assert_int_equal(store_open(dir, 64 << 20, 350000, &s), 0);
	store_usage(s, &n, &bytes);
	assert_int_equal(n, 3);
	put(s, "1.5", 100000, 0);
	assert_false(store_has_blob(s, "1.3"));
	assert_true(store_has_blob(s, "1.1") && store_has_blob(s, "1.4"));
	store_close(s);
	remove_dir(dir);
}

static void test_pinned_blobs_are_never_evicted(void **state)
{
	char *dir = make_dir();
	struct store *s;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 250000, &s), 0);
	put(s, "2.1", 100000, 0);
	put(s, "2.2", 100000, 0);
	assert_int_equal(store_pin(s, "2.1"), 0);
	assert_int_equal(store_pin(s, "2.2"), 0);
	put(s, "2.3", 100000, -ENOSPC); /* everything else is open */
	assert_true(store_has_blob(s, "2.1") && store_has_blob(s, "2.2"));
	store_unpin(s, "2.1");
	put(s, "2.3", 100000, 0);
	assert_false(store_has_blob(s, "2.1"));
	assert_true(store_has_blob(s, "2.2"));
	store_unpin(s, "2.2");
	/* Bigger than the whole cache: refused, and nothing is evicted for it. */
	put(s, "2.4", 300000, -ENOSPC);
	assert_true(store_has_blob(s, "2.2") && store_has_blob(s, "2.3"));
	store_close(s);
	remove_dir(dir);
}

/* The race of an open with an eviction: a write transaction has decided to evict a blob but
 * not yet committed; a reader's snapshot still has it. Pinned then, the open would succeed
 * and its reads fail with ENOENT once the eviction commits: the pin is refused instead (the
 * open fetches it again). Driven step by step inside the store, so it is deterministic. */
static void test_a_blob_being_evicted_cannot_be_pinned(void **state)
{
	char *dir = make_dir();
	uint64_t freed = 0, count = 0;
	struct store *s;
	MDB_txn *txn;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 250000, &s), 0);
	put(s, "3.1", 100000, 0);
	put(s, "3.2", 100000, 0);
	assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	assert_int_equal(evict_make_room(s, txn, 0, 100000, &freed, &count), 0);
	assert_int_equal(count, 1);
	assert_true(store_has_blob(s, "3.1")); /* the readers' snapshot */
	assert_int_equal(store_pin(s, "3.1"), -ENOENT);
	assert_int_equal(store_pin(s, "3.2"), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	evict_committed(s, 0, freed, count);
	assert_false(store_has_blob(s, "3.1"));
	assert_true(store_has_blob(s, "3.2"));
	store_unpin(s, "3.2");
	/* Once committed nothing is marked: the next open finds it missing and fetches it. */
	assert_int_equal(store_pin(s, "3.1"), 0);
	store_unpin(s, "3.1");
	/* An aborted eviction leaves the blob, and it can be pinned again. */
	freed = count = 0;
	assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
	assert_int_equal(evict_make_room(s, txn, 0, 200000, &freed, &count), 0);
	assert_int_equal(store_pin(s, "3.2"), -ENOENT);
	mdb_txn_abort(txn);
	evict_aborted(s);
	assert_int_equal(store_pin(s, "3.2"), 0);
	store_unpin(s, "3.2");
	store_close(s);
	remove_dir(dir);
}

/* Query results and documents have their own budget (cache_size / 16 + 32 MiB): past it the
 * oldest go, so they can never fill the map until no instance fits. Counted again at reopen. */
static void test_documents_are_kept_within_their_budget_oldest_first(void **state)
{
	size_t len = 1 << 20, present = 0;
	char *dir = make_dir(), key[32];
	char *doc = malloc(len);
	struct store *s;
	uint64_t size;

	(void)state;
	assert_non_null(doc);
	memset(doc, '[', len);
	assert_int_equal(store_open(dir, 128 << 20, 1 << 20, &s), 0);
	for (int i = 0; i < 40; i++) {
		if (i == 20) {
			store_close(s);
			assert_int_equal(store_open(dir, 128 << 20, 1 << 20, &s), 0);
		}
		snprintf(key, sizeof(key), "doc-%d", i);
		assert_int_equal(store_doc_put(s, key, doc, len, 1000 + i), 0);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "doc-%d", i);
		if (store_doc_size(s, key, &size) == 0)
			present++;
		else
			assert_true(i < 20); /* only old ones went */
	}
	assert_int_equal(store_doc_size(s, "doc-0", &size), -ENOENT);
	assert_int_equal(store_doc_size(s, "doc-39", &size), 0);
	assert_true(present * (len + 8) <= (1 << 20) / 16 + (32u << 20));
	assert_true(present >= 20);
	free(doc);
	store_close(s);
	remove_dir(dir);
}

/* A scripted downloader: serves a body per SOP, counts fetches, can lie or cut short. */
enum script {
	SERVE_OK,
	SERVE_WRONG_UID,
	SERVE_NOT_DICOM,
	SERVE_TRUNCATED,
	SERVE_BARE,		      /* the data set alone, without preamble and meta group */
	SERVE_BARE_SMALL,	      /* the same, smaller than PART10_HEAD_MAX */
	SERVE_META_NAMES_ANOTHER,     /* (0002,0003) names another instance than (0008,0018) */
	SERVE_DATA_SET_NAMES_ANOTHER, /* (0008,0018) names another instance than asked for */
};

static const char *const series_uids[] = {"1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4"};

struct fake {
	struct downloader base;
	enum script script;
	int fetches, series_fetches;
	bool series_lacks_last;
	const char *const *uids; /* the series, if not series_uids */
	size_t nuids;
	pthread_mutex_t lock;
	unsigned delay_ms;
	bool serve_members;	    /* a series request gets the members it names */
	size_t extra;		    /* nonzero: a single instance has this much pixel data, */
	unsigned char salt;	    /* each byte of it XORed with this */
	int series_now, series_max; /* series requests under way, and the most at once */
};

static int fake_fetch(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
		      struct errors_detail *why)
{
	(void)why;
	struct fake *f = (struct fake *)d;
	size_t len, skip;
	unsigned char *b;
	int err;

	pthread_mutex_lock(&f->lock);
	if (ref->sop_uid)
		f->fetches++;
	else
		f->series_fetches++;
	pthread_mutex_unlock(&f->lock);
	usleep(f->delay_ms * 1000);
	if (!ref->sop_uid && f->serve_members) {
		pthread_mutex_lock(&f->lock);
		if (++f->series_now > f->series_max)
			f->series_max = f->series_now;
		pthread_mutex_unlock(&f->lock);
		err = 0;
		for (size_t i = 0; i < ref->nmembers && !err; i++) {
			b = part10(ref->members[i], 5000, &len);
			err = sink->ops->begin(sink->ctx);
			if (!err)
				err = sink->ops->write(sink->ctx, b, len);
			if (!err)
				err = sink->ops->end(sink->ctx);
			free(b);
			usleep(20 * 1000);
		}
		pthread_mutex_lock(&f->lock);
		f->series_now--;
		pthread_mutex_unlock(&f->lock);
		return err;
	}
	if (!ref->sop_uid) {
		/* The whole series, one instance after the other, as WADO-RS streams it. */
		const char *const *uids = f->uids ? f->uids : series_uids;
		size_t n = f->uids ? f->nuids
				   : sizeof(series_uids) / sizeof(series_uids[0]) -
					     f->series_lacks_last;

		err = 0;
		for (size_t i = 0; i < n && !err; i++) {
			b = part10(uids[i], 5000, &len);
			err = sink->ops->begin(sink->ctx);
			if (!err)
				err = sink->ops->write(sink->ctx, b, len);
			if (!err)
				err = sink->ops->end(sink->ctx);
			free(b);
			usleep(f->uids ? 1000 : 50 * 1000);
		}
		return err;
	}
	b = part10_named(f->script == SERVE_WRONG_UID		 ? "7.7.7"
			 : f->script == SERVE_META_NAMES_ANOTHER ? "9.9.9.9"
								 : ref->sop_uid,
			 f->script == SERVE_WRONG_UID		     ? "7.7.7"
			 : f->script == SERVE_DATA_SET_NAMES_ANOTHER ? "7.7.7.7"
								     : ref->sop_uid,
			 f->extra			 ? f->extra
			 : f->script == SERVE_BARE_SMALL ? 5000
							 : 100000,
			 &len);
	for (size_t i = len - (f->extra ? f->extra - 12 : 0); i < len; i++)
		b[i] ^= f->salt;
	if (f->script == SERVE_NOT_DICOM)
		memcpy(b + 128, "JUNK", 4);
	skip = f->script == SERVE_BARE || f->script == SERVE_BARE_SMALL
		       ? part10_meta_size(ref->sop_uid)
		       : 0;
	err = sink->ops->begin(sink->ctx);
	for (size_t off = skip; !err && off < len; off += 999)
		err = sink->ops->write(sink->ctx, b + off, len - off < 999 ? len - off : 999);
	if (!err && f->script == SERVE_TRUNCATED)
		err = -EIO; /* cut: end() is never called */
	if (!err)
		err = sink->ops->end(sink->ctx);
	free(b);
	return err;
}

static const struct downloader_ops fake_ops = {
	.name = "fake", .fetches_series = true, .fetch = fake_fetch};

struct rig {
	char *dir;
	struct store *store;
	struct cache *cache;
	struct fake fake;
};

static void rig_up(struct rig *r, enum script script)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};

	memset(r, 0, sizeof(*r));
	r->dir = make_dir();
	r->fake.base.ops = &fake_ops;
	r->fake.script = script;
	pthread_mutex_init(&r->fake.lock, NULL);
	assert_int_equal(store_open(r->dir, 64 << 20, 32 << 20, &r->store), 0);
	assert_int_equal(cache_new(r->store, NULL, &r->fake.base, &cfg, &r->cache), 0);
}

static void rig_down(struct rig *r)
{
	cache_free(r->cache);
	store_close(r->store);
	remove_dir(r->dir);
}

static const struct instance_ref ref1 = {
	.study_uid = "1.2", .series_uid = "1.2.3", .sop_uid = "1.2.3.4"};

static void test_open_downloads_once_then_serves_from_store(void **state)
{
	struct cache_blob *b;
	struct rig r;
	char buf[4];

	(void)state;
	rig_up(&r, SERVE_OK);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_true(cache_blob_is_stored(b));
	assert_int_equal(cache_blob_read(b, buf, 4, 128), 4);
	assert_memory_equal(buf, "DICM", 4);
	cache_blob_close(b);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	cache_blob_close(b);
	assert_int_equal(r.fake.fetches, 1);
	rig_down(&r);
}

/* Downloads are held in memory buffers that the next ones reuse: a big instance (past the
 * buffer, so it moves to a file on the way), then smaller ones with other bytes, each kept and
 * served exactly as sent: no byte of one in another, no size but its own. */
static void test_reused_buffers_never_leak_one_instance_into_the_next(void **state)
{
	static const struct {
		const char *sop;
		size_t extra;
		unsigned char salt;
	} inst[] = {
		{"1.2.3.11", (5u << 20) + 4096, 0x11}, /* past the sink's 4 MiB buffer */
		{"1.2.3.12", (3u << 20) + 2, 0x22},
		{"1.2.3.13", 300000, 0x33},
		{"1.2.3.14", 20000, 0x44},
		{"1.2.3.15", (3u << 20) + 2, 0x55},
	};
	struct cache_blob *b;
	unsigned char *got;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_OK);
	got = malloc((6u << 20));
	assert_non_null(got);
	for (size_t i = 0; i < sizeof(inst) / sizeof(inst[0]); i++) {
		struct instance_ref ref = {
			.study_uid = "1.2", .series_uid = "1.2.3", .sop_uid = inst[i].sop};
		size_t len;
		unsigned char *want = part10(inst[i].sop, inst[i].extra, &len);
		uint64_t size;

		for (size_t k = len - (inst[i].extra - 12); k < len; k++)
			want[k] ^= inst[i].salt;
		r.fake.extra = inst[i].extra;
		r.fake.salt = inst[i].salt;
		assert_int_equal(cache_open(r.cache, &ref, NULL, 0, &b, NULL), 0);
		assert_true(cache_blob_is_stored(b));
		assert_int_equal(cache_blob_size(b), len);
		assert_int_equal(cache_blob_read(b, got, len + 100, 0), (long)len);
		assert_memory_equal(got, want, len);
		cache_blob_close(b);
		assert_int_equal(store_blob_size(r.store, inst[i].sop, &size), 0);
		assert_int_equal(size, len);
		free(want);
	}
	/* Each came once and is still whole in the store after the others. */
	assert_int_equal(r.fake.fetches, (int)(sizeof(inst) / sizeof(inst[0])));
	for (size_t i = 0; i < sizeof(inst) / sizeof(inst[0]); i++) {
		size_t len;
		unsigned char *want = part10(inst[i].sop, inst[i].extra, &len);

		for (size_t k = len - (inst[i].extra - 12); k < len; k++)
			want[k] ^= inst[i].salt;
		assert_int_equal(store_blob_read(r.store, inst[i].sop, 0, got, len + 100),
				 (long)len);
		assert_memory_equal(got, want, len);
		free(want);
	}
	free(got);
	rig_down(&r);
}

static void test_instance_bigger_than_the_cache_is_served_not_kept(void **state)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	struct cache_blob *b, *b2;
	char buf[8];
	uint64_t size;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	store_close(r.store);
	/* The fake's instance is ~100 kB; the cache keeps 50 kB. */
	assert_int_equal(store_open(r.dir, 64 << 20, 50000, &r.store), 0);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_false(cache_blob_is_stored(b));
	assert_int_equal(cache_blob_size(b), part10_size("1.2.3.4", 100000));
	assert_int_equal(cache_blob_read(b, buf, 4, 128), 4);
	assert_memory_equal(buf, "DICM", 4);
	assert_int_equal(cache_blob_read(b, buf, 8, part10_size("1.2.3.4", 100000) - 2), 2);
	assert_int_equal(cache_stored_size(r.cache, ref1.sop_uid, &size), -ENOENT);
	/* Not stored, but its size is exact from the open on: getattr must not answer an
	 * estimate, or readers stop there. */
	assert_int_equal(cache_exact_size(r.cache, ref1.sop_uid, &size), 0);
	assert_int_equal(size, part10_size(ref1.sop_uid, 100000));
	cache_blob_close(b);
	assert_int_equal(cache_exact_size(r.cache, ref1.sop_uid, &size), 0);
	assert_int_equal(size, part10_size(ref1.sop_uid, 100000));
	assert_int_equal(cache_exact_size(r.cache, "1.2.3.5", &size), -ENOENT);
	/* Not kept: the next open fetches it again. */
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b2, NULL), 0);
	cache_blob_close(b2);
	assert_int_equal(r.fake.fetches, 2);
	rig_down(&r);
}

/* max_instance_size: an instance of exactly the bound is kept; one byte more ends the download
 * with EFBIG and nothing is kept. */
static void test_instance_past_max_instance_size_is_efbig_and_not_kept(void **state)
{
	uint64_t want = part10_size(ref1.sop_uid, 100000), size;
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	struct cache_blob *b = NULL;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	cfg.max_instance_size = want - 1;
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), -EFBIG);
	assert_null(b);
	assert_int_equal(cache_stored_size(r.cache, ref1.sop_uid, &size), -ENOENT);
	cache_free(r.cache);
	cfg.max_instance_size = want;
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_true(cache_blob_is_stored(b));
	assert_int_equal(cache_blob_size(b), want);
	cache_blob_close(b);
	assert_int_equal(r.fake.fetches, 2);
	rig_down(&r);
}

/* The cache is full of open files (pinned, never evicted): the next instance is served from
 * its temporary file, and its size is exact for getattr all the same. */
static void test_instance_opened_while_the_cache_is_full_of_open_files_is_exact(void **state)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	struct instance_ref a = ref1, b2 = ref1, c3 = ref1;
	struct cache_blob *ba, *bb, *bc;
	uint64_t size;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	store_close(r.store);
	assert_int_equal(store_open(r.dir, 64 << 20, 250000, &r.store), 0);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	a.sop_uid = "1.2.3.10";
	b2.sop_uid = "1.2.3.11";
	c3.sop_uid = "1.2.3.12";
	assert_int_equal(cache_open(r.cache, &a, NULL, 0, &ba, NULL), 0);
	assert_int_equal(cache_open(r.cache, &b2, NULL, 0, &bb, NULL), 0);
	assert_true(cache_blob_is_stored(ba) && cache_blob_is_stored(bb));
	assert_int_equal(cache_open(r.cache, &c3, NULL, 0, &bc, NULL), 0);
	assert_false(cache_blob_is_stored(bc));
	assert_int_equal(cache_exact_size(r.cache, c3.sop_uid, &size), 0);
	assert_int_equal(size, cache_blob_size(bc));
	assert_int_equal(size, part10_size(c3.sop_uid, 100000));
	cache_blob_close(ba);
	cache_blob_close(bb);
	cache_blob_close(bc);
	rig_down(&r);
}

/* Another mount on the same cache_dir evicts what this one has open (its eviction cannot see
 * this process's pins): a read then fetches the instance again instead of failing ENOENT. */
static void test_blob_removed_by_another_process_while_open_is_fetched_again(void **state)
{
	MDB_val k = {.mv_size = strlen(ref1.sop_uid), .mv_data = (void *)ref1.sop_uid};
	struct cache_blob *b;
	struct rig r;
	MDB_txn *txn;
	char buf[4];

	(void)state;
	rig_up(&r, SERVE_OK);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_true(cache_blob_is_stored(b));
	/* What the other process's eviction does, behind this one's back. */
	assert_int_equal(mdb_txn_begin(r.store->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_del(txn, r.store->blob, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_false(store_has_blob(r.store, ref1.sop_uid));
	assert_int_equal(cache_blob_read(b, buf, 4, 128), 4);
	assert_memory_equal(buf, "DICM", 4);
	assert_int_equal(r.fake.fetches, 2);
	assert_int_equal(cache_blob_read(b, buf, 4, part10_size(ref1.sop_uid, 100000) - 4), 4);
	assert_int_equal(r.fake.fetches, 2);
	cache_blob_close(b);
	rig_down(&r);
}

static void check_rejected(enum script script)
{
	struct cache_blob *b = NULL;
	uint64_t size;
	struct rig r;

	rig_up(&r, script);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), -EIO);
	assert_null(b);
	assert_int_equal(cache_stored_size(r.cache, ref1.sop_uid, &size), -ENOENT);
	assert_int_equal(cache_stored_size(r.cache, "7.7.7", &size), -ENOENT);
	assert_int_equal(cache_exact_size(r.cache, ref1.sop_uid, &size), -ENOENT);
	/* A refused object is refused again for a few seconds without asking: the archive
	 * would send the same. A cut transfer may be the network's fault: asked again. */
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), -EIO);
	assert_int_equal(r.fake.fetches, script == SERVE_TRUNCATED ? 2 : 1);
	rig_down(&r);
}

static void test_wrong_uid_is_eio_and_not_cached(void **state)
{
	(void)state;
	check_rejected(SERVE_WRONG_UID);
}

static void test_not_part10_is_eio_and_not_cached(void **state)
{
	(void)state;
	check_rejected(SERVE_NOT_DICOM);
}

static void test_truncated_is_eio_and_not_cached(void **state)
{
	(void)state;
	check_rejected(SERVE_TRUNCATED);
}

/* The data set's own SOPInstanceUID names the instance, whatever the meta group says. */
static void test_data_set_naming_another_instance_is_eio(void **state)
{
	(void)state;
	check_rejected(SERVE_DATA_SET_NAMES_ANOTHER);
}

/* The whole stored blob of @sop, checked against @want (@len bytes). */
static void assert_stored_blob(struct rig *r, const char *sop, const unsigned char *want,
			       size_t len)
{
	struct cache_blob *b;
	unsigned char *got = malloc(len + 1);
	uint64_t size;

	assert_non_null(got);
	assert_int_equal(cache_stored_size(r->cache, sop, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(cache_open(r->cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_true(cache_blob_is_stored(b));
	assert_int_equal(cache_blob_size(b), len);
	assert_int_equal(cache_blob_read(b, got, len + 1, 0), len);
	assert_memory_equal(got, want, len);
	cache_blob_close(b);
	free(got);
}

static void test_meta_naming_another_instance_is_kept_as_it_came(void **state)
{
	struct cache_blob *b;
	unsigned char *sent;
	size_t len;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_META_NAMES_ANOTHER);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	cache_blob_close(b);
	sent = part10_named("9.9.9.9", ref1.sop_uid, 100000, &len);
	assert_stored_blob(&r, ref1.sop_uid, sent, len);
	assert_int_equal(r.fake.fetches, 1);
	free(sent);
	rig_down(&r);
}

/* A bare data set is kept as Part-10: trolley's meta header, then the data set as it came;
 * the size the cache tells is the final one. Bigger than the head the sink holds back, and
 * smaller. */
static void check_bare_kept_with_meta(enum script script, size_t extra)
{
	unsigned char meta[PART10_META_MAX], *sent, *want;
	struct cache_blob *b;
	size_t len, skip = part10_meta_size(ref1.sop_uid);
	ssize_t mlen;
	struct rig r;

	rig_up(&r, script);
	sent = part10(ref1.sop_uid, extra, &len);
	mlen = part10_meta_write(meta, sizeof(meta), TEST_SOP_CLASS, ref1.sop_uid,
				 "1.2.840.10008.1.2.1", NULL);
	assert_true(mlen > 0);
	want = malloc((size_t)mlen + len - skip);
	assert_non_null(want);
	memcpy(want, meta, (size_t)mlen);
	memcpy(want + mlen, sent + skip, len - skip);
	assert_int_equal(cache_open(r.cache, &ref1, NULL, 0, &b, NULL), 0);
	assert_int_equal(cache_blob_size(b), (size_t)mlen + len - skip);
	cache_blob_close(b);
	assert_stored_blob(&r, ref1.sop_uid, want, (size_t)mlen + len - skip);
	assert_int_equal(r.fake.fetches, 1);
	free(want);
	free(sent);
	rig_down(&r);
}

static void test_bare_data_set_is_kept_with_a_meta_header(void **state)
{
	(void)state;
	check_bare_kept_with_meta(SERVE_BARE, 100000);
	check_bare_kept_with_meta(SERVE_BARE_SMALL, 5000);
}

static void *open_one(void *arg)
{
	struct cache *c = arg;
	struct cache_blob *b;

	if (cache_open(c, &ref1, NULL, 0, &b, NULL) != 0)
		return (void *)1;
	cache_blob_close(b);
	return NULL;
}

static const struct instance_ref first = {
	.study_uid = "1.2", .series_uid = "1.2.3", .sop_uid = "1.2.3.1"};

static void *open_last(void *arg)
{
	struct cache *c = arg;
	struct instance_ref last = {
		.study_uid = "1.2", .series_uid = "1.2.3", .sop_uid = "1.2.3.4"};
	struct cache_blob *b;

	if (cache_open(c, &last, NULL, 0, &b, NULL) != 0)
		return (void *)1;
	cache_blob_close(b);
	return NULL;
}

static void check_prefetch(bool lacks_last, int want_single_fetches)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60, .prefetch = true};
	struct cache_blob *b;
	uint64_t size;
	struct rig r;
	pthread_t th;
	void *ret;

	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	r.fake.series_lacks_last = lacks_last;
	assert_int_equal(cache_open(r.cache, &first, series_uids, 4, &b, NULL), 0);
	cache_blob_close(b);
	/* Opened while the series streams: waits for its part, no transfer of its own. */
	assert_int_equal(pthread_create(&th, NULL, open_last, r.cache), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	cache_free(r.cache); /* joins the prefetch */
	r.cache = NULL;
	for (int i = 0; i < 4; i++) {
		/* Whole. Single fetches of the fake send 100000 bytes of data, its series 5000. */
		assert_int_equal(store_blob_size(r.store, series_uids[i], &size), 0);
		assert_int_equal(size,
				 part10_size(series_uids[i],
					     i == 0 || (lacks_last && i == 3) ? 100000 : 5000));
	}
	assert_int_equal(r.fake.series_fetches, 1);
	assert_int_equal(r.fake.fetches, want_single_fetches);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	rig_down(&r);
}

static void test_prefetch_fetches_the_series_once_and_wakes_waiters(void **state)
{
	(void)state;
	check_prefetch(false, 1);
}

static void test_instance_missing_from_series_reply_is_fetched_alone(void **state)
{
	(void)state;
	check_prefetch(true, 2);
}

struct last_open {
	struct cache *c;
	struct instance_ref ref;
};

static void *open_ref(void *arg)
{
	struct last_open *o = arg;
	struct cache_blob *b;

	if (cache_open(o->c, &o->ref, NULL, 0, &b, NULL) != 0)
		return (void *)1;
	cache_blob_close(b);
	return NULL;
}

/* 40 instances: batches of 16 go to the committer thread while the series streams on; every
 * instance lands, readers of late ones are woken, and nothing is fetched twice. */
static void test_long_series_is_committed_in_batches_behind_the_stream(void **state)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60, .prefetch = true};
	static char names[40][16];
	const char *uids[40];
	struct instance_ref ref = {.study_uid = "1.2", .series_uid = "1.2.3"};
	struct last_open last;
	struct cache_blob *b;
	uint64_t size;
	struct rig r;
	pthread_t th;
	void *ret;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "1.2.3.%d", 100 + i);
		uids[i] = names[i];
	}
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	r.fake.uids = uids;
	r.fake.nuids = 40;
	ref.sop_uid = uids[0];
	assert_int_equal(cache_open(r.cache, &ref, uids, 40, &b, NULL), 0);
	cache_blob_close(b);
	last.c = r.cache;
	last.ref = ref;
	last.ref.sop_uid = uids[39];
	assert_int_equal(pthread_create(&th, NULL, open_ref, &last), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
	cache_free(r.cache); /* joins the prefetch and its committer */
	r.cache = NULL;
	for (int i = 0; i < 40; i++) {
		assert_int_equal(store_blob_size(r.store, uids[i], &size), 0);
		assert_int_equal(size, part10_size(uids[i], i == 0 ? 100000 : 5000));
	}
	assert_int_equal(r.fake.series_fetches, 1);
	assert_int_equal(r.fake.fetches, 1);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	rig_down(&r);
}

static void test_sixteen_concurrent_opens_make_one_transfer(void **state)
{
	pthread_t th[16];
	struct rig r;
	void *ret;

	(void)state;
	rig_up(&r, SERVE_OK);
	r.fake.delay_ms = 200;
	for (int i = 0; i < 16; i++)
		assert_int_equal(pthread_create(&th[i], NULL, open_one, r.cache), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(r.fake.fetches, 1);
	rig_down(&r);
}

static int fake_metadata(struct downloader *d, const struct instance_ref *ref, struct buf *out,
			 struct errors_detail *why)
{
	(void)why;
	(void)d;
	return buf_printf(out, "[{\"series\": \"%s\"}]", ref->series_uid ? ref->series_uid : "");
}

static const struct downloader_ops fake_metadata_ops = {
	.name = "fake", .fetch = fake_fetch, .metadata = fake_metadata};

/* A SOURCE of 600 bytes: the key of a series' metadata is longer than LMDB's keys, and two
 * series of one study must not share a document (the key was cut at 512 bytes). */
static void test_metadata_of_series_stays_apart_with_a_long_source(void **state)
{
	char source[601], want[64];
	struct cache_config cfg = {.source = source, .meta_ttl = 60};
	struct buf out;
	uint64_t size;
	struct rig r;

	(void)state;
	memset(source, 'x', 600);
	source[600] = '\0';
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	r.fake.base.ops = &fake_metadata_ops;
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	buf_init(&out, 1 << 20);
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.3", &out, NULL), 0);
	out.len = 0;
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.4", &out, NULL), 0);
	snprintf(want, sizeof(want), "[{\"series\": \"%s\"}]", "1.2.4");
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	/* From the store now: each series its own document. */
	out.len = 0;
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.3", &out, NULL), 0);
	snprintf(want, sizeof(want), "[{\"series\": \"%s\"}]", "1.2.3");
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	assert_int_equal(cache_metadata_size(r.cache, "1.2", "1.2.3", &size), 0);
	assert_int_equal(size, strlen(want));
	assert_int_equal(cache_metadata_size(r.cache, "1.2", "1.2.5", &size), -ENOENT);
	buf_release(&out);
	rig_down(&r);
}

/* A study of two series whose instances alternate, one with a sequence that names the other
 * series (as ReferencedSeriesSequence does), a string with quotes and braces, and the layout
 * Orthanc writes (tabs, newlines). Each series' own document is told apart by a marker. */
static const char study_doc[] =
	"[\n\t{\n\t\t\"00080018\" : {\"vr\": \"UI\", \"Value\": [\"1.2.3.1\"]},\n"
	"\t\t\"0020000E\" : {\"vr\": \"UI\", \"Value\": [\"1.2.3\"]}\n\t},\n"
	"\t{\"00081115\": {\"vr\": \"SQ\", \"Value\": [{\"0020000E\": {\"vr\": \"UI\", "
	"\"Value\": [\"1.2.3\"]}}]}, \"00081030\": {\"vr\": \"LO\", \"Value\": [\"a \\\"}{[\"]},"
	" \"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.4\"]}, \"00080018\": {\"vr\": \"UI\","
	" \"Value\": [\"1.2.4.1\"]}},\n"
	"\t{\"0020000E\":{\"Value\":[\"1.2.3\"],\"vr\":\"UI\"},\"00080018\":{\"vr\":\"UI\","
	"\"Value\":[\"1.2.3.2\"]}}\n]\n";

static int metadata_calls;

static int fake_study_metadata(struct downloader *d, const struct instance_ref *ref,
			       struct buf *out, struct errors_detail *why)
{
	(void)why;
	(void)d;
	metadata_calls++;
	if (!ref->series_uid)
		return buf_add(out, study_doc, sizeof(study_doc) - 1);
	return buf_printf(out, "[{\"own\": \"%s\"}]", ref->series_uid);
}

static const struct downloader_ops fake_study_metadata_ops = {
	.name = "fake", .fetch = fake_fetch, .metadata = fake_study_metadata};

/* metadata.json of a study read first: each series' is cut from it, its instance objects byte
 * for byte, with no request of its own, and has its exact size from then on. A series the
 * study's does not hold is asked for. */
static void test_series_metadata_is_cut_from_the_studys(void **state)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	const char *first = strstr(study_doc, "{\n"), *second = strstr(study_doc, "\t{\"00081115");
	const char *third = strstr(study_doc, "\t{\"0020000E\":{");
	char want[2048];
	struct buf out;
	uint64_t size;
	struct rig r;
	int n;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	r.fake.base.ops = &fake_study_metadata_ops;
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	metadata_calls = 0;
	buf_init(&out, 1 << 20);
	assert_int_equal(cache_metadata(r.cache, "1.2", NULL, &out, NULL), 0);
	assert_int_equal(metadata_calls, 1);
	assert_int_equal(cache_metadata_size(r.cache, "1.2", "1.2.3", &size), -ENOENT);
	out.len = 0;
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.3", &out, NULL), 0);
	n = snprintf(want, sizeof(want), "[%.*s,%.*s]", (int)(strstr(first, "\n\t}") + 3 - first),
		     first, (int)(strstr(third, "}}\n]") + 2 - third - 1), third + 1);
	assert_int_equal(metadata_calls, 1);
	assert_int_equal(out.len, (size_t)n);
	assert_memory_equal(out.data, want, out.len);
	assert_int_equal(cache_metadata_size(r.cache, "1.2", "1.2.3", &size), 0);
	assert_int_equal(size, (uint64_t)n);
	out.len = 0;
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.4", &out, NULL), 0);
	n = snprintf(want, sizeof(want), "[%.*s]", (int)(strstr(second, "}},\n") + 2 - second - 1),
		     second + 1);
	assert_int_equal(metadata_calls, 1);
	assert_int_equal(out.len, (size_t)n);
	assert_memory_equal(out.data, want, out.len);
	out.len = 0;
	assert_int_equal(cache_metadata(r.cache, "1.2", "1.2.5", &out, NULL), 0);
	assert_int_equal(metadata_calls, 2);
	assert_string_equal(out.data, "[{\"own\": \"1.2.5\"}]");
	buf_release(&out);
	rig_down(&r);
}

/* Anything but a whole array of instance objects holding the series is -ENOENT, and leaves
 * the buffer as it was: the series is then asked for on its own. */
static void test_metadata_cut_refuses_what_it_does_not_know(void **state)
{
	static const char *const bad[] = {
		"",
		"{}",
		"[]",
		"[{\"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.3\"]}}",
		"[{\"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.3\"]}}] x",
		"[{\"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.3\"]}} {}]",
		"[{\"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.3\"]}}, {\"x\": \"\\",
		"[{\"0020000E\": {\"vr\": \"UI\", \"Value\": [\"1.2.33\"]}}]",
		"[{\"00081115\": {\"vr\": \"SQ\", \"Value\": [{\"0020000E\": {\"Value\": "
		"[\"1.2.3\"]}}]}}]",
		"[{\"0020000E\": {\"vr\": \"UI\"}}]",
		"[1, 2]",
	};
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 20);
	assert_int_equal(buf_add(&out, "kept", 4), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(metadata_cut_series(bad[i], strlen(bad[i]), "1.2.3", &out),
				 -ENOENT);
		assert_int_equal(out.len, 4);
		assert_string_equal(out.data, "kept");
	}
	/* The cut would not fit: the buffer's own error, the buffer as it was. */
	buf_release(&out);
	buf_init(&out, 8);
	assert_int_equal(metadata_cut_series(study_doc, sizeof(study_doc) - 1, "1.2.3", &out),
			 -E2BIG);
	assert_int_equal(out.len, 0);
	buf_release(&out);
}

/* The cache's documents (what media/fileset.c keeps: a study's DICOMDIR) are stored under the
 * keys the DICOMDIR builder used when it was part of cache/, "<kind>|<source>|<name>": a
 * cache folder filled before keeps serving what it holds. */
static void test_documents_keep_their_store_keys(void **state)
{
	struct rig r;
	struct buf out;
	int64_t stored_at;
	uint64_t size = 0;

	(void)state;
	rig_up(&r, SERVE_OK);
	buf_init(&out, 1 << 20);
	assert_int_equal(cache_doc_get(r.cache, "dicomdir", "1.2|abc", &out), -ENOENT);
	assert_int_equal(cache_doc_put(r.cache, "dicomdir", "1.2|abc", "DICM", 4), 0);
	assert_int_equal(store_doc_get(r.store, "dicomdir|test|1.2|abc", &out, &stored_at), 0);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "DICM", 4);
	out.len = 0;
	assert_int_equal(store_doc_put(r.store, "dicomdir-served|test|1.2", "abc", 3, 1), 0);
	assert_int_equal(cache_doc_get(r.cache, "dicomdir-served", "1.2", &out), 0);
	assert_string_equal(out.data, "abc");
	assert_int_equal(cache_doc_size(r.cache, "dicomdir", "1.2|abc", &size), 0);
	assert_int_equal(size, 4);
	buf_release(&out);
	rig_down(&r);
}

static int count_threads(void)
{
	char cmd[64];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/task | wc -l", (int)getpid());
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* One open in each of 20 series: their prefetches run on a pool of connections/2 workers, at
 * most that many at once, the threads stay that many, and an open of an instance whose series
 * waits in the queue fetches it at once rather than behind the other series. */
static void test_prefetch_pool_is_bounded_and_reaped(void **state)
{
	struct cache_config cfg = {
		.source = "test", .meta_ttl = 60, .prefetch = true, .connections = 4};
	static char names[20][3][16], series[20][16];
	const char *uids[20][3];
	struct instance_ref ref = {.study_uid = "1.9"};
	struct cache_blob *b;
	struct rig r;
	int threads, fetches;
	bool all;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	assert_int_equal(cache_new(r.store, NULL, &r.fake.base, &cfg, &r.cache), 0);
	r.fake.serve_members = true;
	threads = count_threads();
	for (int s = 0; s < 20; s++) {
		snprintf(series[s], sizeof(series[s]), "1.9.%d", s);
		for (int i = 0; i < 3; i++) {
			snprintf(names[s][i], sizeof(names[s][i]), "1.9.%d.%d", s, i);
			uids[s][i] = names[s][i];
		}
		ref.series_uid = series[s];
		ref.sop_uid = uids[s][0];
		assert_int_equal(cache_open(r.cache, &ref, uids[s], 3, &b, NULL), 0);
		cache_blob_close(b);
	}
	/* The last series waits behind the others (20 x 40 ms on two workers): its instance is
	 * fetched alone, now. */
	fetches = r.fake.fetches;
	ref.series_uid = series[19];
	ref.sop_uid = uids[19][2];
	assert_int_equal(cache_open(r.cache, &ref, uids[19], 3, &b, NULL), 0);
	cache_blob_close(b);
	assert_int_equal(r.fake.fetches, fetches + 1);
	for (int tries = 0; tries < 1000; tries++) {
		all = true;
		for (int s = 0; s < 20; s++)
			for (int i = 0; i < 3; i++)
				all = all && store_has_blob(r.store, uids[s][i]);
		if (all)
			break;
		usleep(10 * 1000);
	}
	assert_true(all);
	pthread_mutex_lock(&r.fake.lock);
	assert_int_equal(r.fake.series_max, 2);
	assert_int_equal(r.fake.series_fetches, 20);
	pthread_mutex_unlock(&r.fake.lock);
	/* The two workers, no thread per series (a batch's committer may still be ending). */
	for (int tries = 0; tries < 100 && count_threads() > threads + 2; tries++)
		usleep(10 * 1000);
	assert_true(count_threads() <= threads + 2);
	rig_down(&r);
}

/* A searcher of one study "1.9" of three series "1.9.<s>" of three instances "1.9.<s>.<i>",
 * counting its queries. */
struct walk_searcher {
	struct searcher base;
	int finds;
};

static int walk_find(struct searcher *sr, const struct query *q, struct attrset_list *out,
		     struct errors_detail *why)
{
	(void)why;
	const char *series = attrset_get(&q->match, TAG_SeriesInstanceUID);
	char uid[32];

	__atomic_add_fetch(&((struct walk_searcher *)sr)->finds, 1, __ATOMIC_RELAXED);
	for (int s = 0; s < 3; s++) {
		char se[16];

		snprintf(se, sizeof(se), "1.9.%d", s);
		if (q->level == QUERY_SERIES) {
			struct attrset *a = attrset_list_add(out);

			if (!a || attrset_set(a, TAG_StudyInstanceUID, "UI", "1.9") < 0 ||
			    attrset_set(a, TAG_SeriesInstanceUID, "UI", se) < 0)
				return -ENOMEM;
			continue;
		}
		if (!series || strcmp(series, se) != 0)
			continue;
		for (int i = 0; i < 3; i++) {
			struct attrset *a = attrset_list_add(out);

			snprintf(uid, sizeof(uid), "%s.%d", se, i);
			if (!a || attrset_set(a, TAG_StudyInstanceUID, "UI", "1.9") < 0 ||
			    attrset_set(a, TAG_SeriesInstanceUID, "UI", se) < 0 ||
			    attrset_set(a, TAG_SOPInstanceUID, "UI", uid) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static const struct searcher_ops walk_searcher_ops = {.name = "walk", .find = walk_find};

static bool series_stored(struct store *st, int s)
{
	char uid[32];

	for (int i = 0; i < 3; i++) {
		snprintf(uid, sizeof(uid), "1.9.%d.%d", s, i);
		if (!store_has_blob(st, uid))
			return false;
	}
	return true;
}

/* Opens in listing order (cp -r) read the next series of the folder's order ahead, without
 * an open in it; one series beyond the walk, not more. */
static void test_walk_reads_the_next_series_ahead_and_no_further(void **state)
{
	struct cache_config cfg = {
		.source = "test", .meta_ttl = 60, .prefetch = true, .connections = 8};
	struct walk_searcher ws = {.base.ops = &walk_searcher_ops};
	const char *series[] = {"1.9.0", "1.9.1", "1.9.2"};
	const char *uids[] = {"1.9.0.0", "1.9.0.1", "1.9.0.2"};
	struct instance_ref ref = {.study_uid = "1.9", .series_uid = "1.9.0"};
	struct cache_blob *b;
	struct rig r;

	(void)state;
	rig_up(&r, SERVE_OK);
	cache_free(r.cache);
	assert_int_equal(cache_new(r.store, &ws.base, &r.fake.base, &cfg, &r.cache), 0);
	r.fake.serve_members = true;
	cache_note_series_order(r.cache, "1.9", series, 3);
	for (int i = 0; i < 2; i++) {
		ref.sop_uid = uids[i];
		assert_int_equal(cache_open(r.cache, &ref, uids, 3, &b, NULL), 0);
		cache_blob_close(b);
	}
	for (int tries = 0; tries < 500 && !series_stored(r.store, 1); tries++)
		usleep(10 * 1000);
	assert_true(series_stored(r.store, 0));
	assert_true(series_stored(r.store, 1));
	/* The walk stopped in the first series: the third is not read. */
	usleep(200 * 1000);
	assert_false(series_stored(r.store, 2));
	pthread_mutex_lock(&r.fake.lock);
	assert_int_equal(r.fake.series_fetches, 2);
	assert_true(r.fake.series_max <= 1); /* the read-ahead started after the walked stream */
	pthread_mutex_unlock(&r.fake.lock);
	rig_down(&r);
}

/* A searcher that answers every query with one study, whose description the test sets. */
struct fake_searcher {
	struct searcher base;
	int finds;
	const char *description;
};

static int fake_find(struct searcher *s, const struct query *q, struct attrset_list *out,
		     struct errors_detail *why)
{
	(void)why;
	struct fake_searcher *f = (struct fake_searcher *)s;
	struct attrset *a = attrset_list_add(out);

	(void)q;
	f->finds++;
	assert_non_null(a);
	assert_int_equal(attrset_set(a, TAG_StudyInstanceUID, "UI", "1.2"), 0);
	assert_int_equal(attrset_set(a, TAG_StudyDescription, "LO", f->description), 0);
	return 0;
}

static const struct searcher_ops fake_searcher_ops = {.name = "fake", .find = fake_find};

/* Refresh (issue 18): a forget writes a mark, not the whole answer again with time 0, and an
 * answer the archive gives again unchanged is not written again: the stored answer keeps its
 * time, and the mark makes it fresh. A changed answer is written. */
static void test_forget_and_an_unchanged_answer_do_not_rewrite_the_stored_one(void **state)
{
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	struct fake_searcher fs = {.base.ops = &fake_searcher_ops, .description = "A"};
	struct attrset_list got, raw;
	struct cache *c;
	struct store *st;
	struct query q;
	int64_t at, old = (int64_t)time(NULL) - 30;
	char *dir = make_dir(), *key;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &st), 0);
	assert_int_equal(cache_new(st, &fs.base, NULL, &cfg, &c), 0);
	query_init(&q, QUERY_STUDY);
	key = query_key(&q, "test");
	attrset_list_init(&got);
	attrset_list_init(&raw);
	assert_int_equal(cache_find(c, &q, &got, NULL), 0);
	assert_int_equal(fs.finds, 1);
	/* As if stored 30 s ago (still fresh), to tell a rewrite from none. */
	assert_int_equal(store_meta_put(st, key, &got, old), 0);
	assert_int_equal(cache_forget(c, &q), 0);
	assert_int_equal(store_meta_get(st, key, &raw, &at), 0);
	assert_int_equal(at, old); /* the forget wrote no answer */
	attrset_list_release(&raw);
	attrset_list_release(&got);
	assert_int_equal(cache_find(c, &q, &got, NULL), 0);
	assert_int_equal(fs.finds, 2); /* forgotten: asked again */
	assert_int_equal(store_meta_get(st, key, &raw, &at), 0);
	assert_int_equal(at, old); /* the same answer: not written again */
	attrset_list_release(&raw);
	attrset_list_release(&got);
	assert_int_equal(cache_find(c, &q, &got, NULL), 0);
	assert_int_equal(fs.finds, 2); /* fresh by its mark */
	attrset_list_release(&got);
	fs.description = "B";
	assert_int_equal(cache_forget(c, &q), 0);
	assert_int_equal(cache_find(c, &q, &got, NULL), 0);
	assert_int_equal(fs.finds, 3);
	assert_string_equal(attrset_get(&got.v[0], TAG_StudyDescription), "B");
	assert_int_equal(store_meta_get(st, key, &raw, &at), 0);
	assert_true(at > old); /* changed: written */
	assert_string_equal(attrset_get(&raw.v[0], TAG_StudyDescription), "B");
	attrset_list_release(&raw);
	attrset_list_release(&got);
	free(key);
	query_release(&q);
	cache_free(c);
	store_close(st);
	remove_dir(dir);
}

/* One builder of a listing's query (cache/listing.c): what the mount asks for at a level is
 * in every query of it, whoever builds it and in whatever order, so that one folder's query
 * is one key; and more fields than a level may hold refuse the cache. */
static void test_every_listing_query_asks_the_levels_fields(void **state)
{
	static const uint32_t series_fields[] = {TAG_InstitutionName};
	static const uint32_t instance_fields[] = {TAG_AcquisitionNumber, TAG_BurnedInAnnotation};
	static uint32_t too_many[CACHE_INCLUDE_MAX + 1];
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	char *dir = make_dir(), *k1, *k2;
	struct query a, b;
	struct store *s;
	struct cache *c;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	cfg.include[QUERY_SERIES] = series_fields;
	cfg.ninclude[QUERY_SERIES] = 1;
	cfg.include[QUERY_INSTANCE] = instance_fields;
	cfg.ninclude[QUERY_INSTANCE] = 2;
	assert_int_equal(cache_new(s, NULL, NULL, &cfg, &c), 0);
	assert_int_equal(cache_query_init(c, &a, QUERY_INSTANCE, "1.2.3", "1.2.3.4"), 0);
	assert_int_equal(a.level, QUERY_INSTANCE);
	assert_string_equal(attrset_str(&a.match, TAG_StudyInstanceUID), "1.2.3");
	assert_string_equal(attrset_str(&a.match, TAG_SeriesInstanceUID), "1.2.3.4");
	assert_int_equal(a.ninclude, 2);
	assert_int_equal(a.include[0], TAG_AcquisitionNumber);
	assert_int_equal(a.include[1], TAG_BurnedInAnnotation);
	/* A query built elsewhere (a search folder's) gets the same fields, once. */
	query_init(&b, QUERY_INSTANCE);
	assert_int_equal(query_include(&b, TAG_BurnedInAnnotation), 0);
	assert_int_equal(attrset_set(&b.match, TAG_SeriesInstanceUID, "UI", "1.2.3.4"), 0);
	assert_int_equal(attrset_set(&b.match, TAG_StudyInstanceUID, "UI", "1.2.3"), 0);
	assert_int_equal(cache_query_include(c, &b), 0);
	assert_int_equal(b.ninclude, 2);
	k1 = query_key(&a, "test");
	k2 = query_key(&b, "test");
	assert_string_equal(k1, k2);
	free(k1);
	free(k2);
	query_release(&a);
	query_release(&b);
	/* The study level asks nothing more; the series level its own. */
	assert_int_equal(cache_query_init(c, &a, QUERY_STUDY, NULL, NULL), 0);
	assert_int_equal(a.ninclude, 0);
	assert_int_equal(a.match.n, 0);
	query_release(&a);
	assert_int_equal(cache_query_init(c, &a, QUERY_SERIES, "1.2.3", NULL), 0);
	assert_int_equal(a.ninclude, 1);
	assert_int_equal(a.include[0], TAG_InstitutionName);
	assert_int_equal(a.match.n, 1);
	query_release(&a);
	cache_free(c);
	cfg.include[QUERY_SERIES] = too_many;
	cfg.ninclude[QUERY_SERIES] = CACHE_INCLUDE_MAX + 1;
	assert_int_equal(cache_new(s, NULL, NULL, &cfg, &c), -EINVAL);
	store_close(s);
	remove_dir(dir);
}

/* A series' members come from the cache's answer to its instance listing: in the answer's
 * order, without a member whose UID is not one or that names another series; none stored is
 * -ENOENT for who may not wait for the archive. */
static void test_series_members_come_from_the_stored_listing(void **state)
{
	static const uint32_t instance_fields[] = {TAG_AcquisitionNumber};
	struct cache_config cfg = {.source = "test", .meta_ttl = 60};
	const char *sops[] = {"1.2.3.4.9", "1.2.3.4.x", "1.2.3.4.1", "1.2.3.4.5"};
	const char *series[] = {"1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.5"};
	struct cache_members m;
	struct attrset_list l;
	char *dir = make_dir(), *key;
	struct query q;
	struct store *s;
	struct cache *c;

	(void)state;
	assert_int_equal(store_open(dir, 64 << 20, 32 << 20, &s), 0);
	cfg.include[QUERY_INSTANCE] = instance_fields;
	cfg.ninclude[QUERY_INSTANCE] = 1;
	assert_int_equal(cache_new(s, NULL, NULL, &cfg, &c), 0);
	assert_int_equal(cache_series_members(c, "1.2.3", "1.2.3.4", MEMBERS_STORED, &m), -ENOENT);
	attrset_list_init(&l);
	for (size_t i = 0; i < 4; i++) {
		struct attrset *a = attrset_list_add(&l);

		assert_non_null(a);
		attrset_set(a, TAG_StudyInstanceUID, "UI", "1.2.3");
		attrset_set(a, TAG_SeriesInstanceUID, "UI", series[i]);
		attrset_set(a, TAG_SOPInstanceUID, "UI", sops[i]);
	}
	/* Stored as the folder's listing is: under the key of the builder's query. */
	assert_int_equal(cache_query_init(c, &q, QUERY_INSTANCE, "1.2.3", "1.2.3.4"), 0);
	key = query_key(&q, "test");
	query_release(&q);
	assert_int_equal(store_meta_put(s, key, &l, 100), 0);
	free(key);
	attrset_list_release(&l);
	assert_int_equal(cache_series_members(c, "1.2.3", "1.2.3.4", MEMBERS_STORED, &m), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.uids[0], "1.2.3.4.9");
	assert_string_equal(m.uids[1], "1.2.3.4.1");
	cache_members_release(&m);
	cache_free(c);
	store_close(s);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_round_trip_and_long_keys),
		cmocka_unit_test(test_blob_put_read_persists_across_reopen),
		cmocka_unit_test(test_blob_put_from_memory_and_a_batch_of_both),
		cmocka_unit_test(test_map_growth_is_allocated_before_it_is_written),
		cmocka_unit_test(test_reused_buffers_never_leak_one_instance_into_the_next),
		cmocka_unit_test(test_marker_is_on_disk_while_open_and_removed_at_clean_close),
		cmocka_unit_test(test_marker_of_another_boot_discards_the_cache),
		cmocka_unit_test(test_marker_of_this_boot_keeps_the_cache),
		cmocka_unit_test(test_blob_use_hands_the_bytes_without_a_copy),
		cmocka_unit_test(test_full_map_is_enospc_and_stores_nothing),
		cmocka_unit_test(test_floor_above_the_free_space_keeps_nothing),
		cmocka_unit_test(test_lru_evicts_least_recently_used_and_keeps_order_across_reopen),
		cmocka_unit_test(test_pinned_blobs_are_never_evicted),
		cmocka_unit_test(test_a_blob_being_evicted_cannot_be_pinned),
		cmocka_unit_test(test_documents_are_kept_within_their_budget_oldest_first),
		cmocka_unit_test(test_open_downloads_once_then_serves_from_store),
		cmocka_unit_test(test_instance_bigger_than_the_cache_is_served_not_kept),
		cmocka_unit_test(test_instance_past_max_instance_size_is_efbig_and_not_kept),
		cmocka_unit_test(
			test_instance_opened_while_the_cache_is_full_of_open_files_is_exact),
		cmocka_unit_test(test_blob_removed_by_another_process_while_open_is_fetched_again),
		cmocka_unit_test(test_wrong_uid_is_eio_and_not_cached),
		cmocka_unit_test(test_not_part10_is_eio_and_not_cached),
		cmocka_unit_test(test_data_set_naming_another_instance_is_eio),
		cmocka_unit_test(test_meta_naming_another_instance_is_kept_as_it_came),
		cmocka_unit_test(test_bare_data_set_is_kept_with_a_meta_header),
		cmocka_unit_test(test_truncated_is_eio_and_not_cached),
		cmocka_unit_test(test_sixteen_concurrent_opens_make_one_transfer),
		cmocka_unit_test(test_prefetch_fetches_the_series_once_and_wakes_waiters),
		cmocka_unit_test(test_instance_missing_from_series_reply_is_fetched_alone),
		cmocka_unit_test(test_long_series_is_committed_in_batches_behind_the_stream),
		cmocka_unit_test(test_prefetch_pool_is_bounded_and_reaped),
		cmocka_unit_test(test_walk_reads_the_next_series_ahead_and_no_further),
		cmocka_unit_test(test_metadata_of_series_stays_apart_with_a_long_source),
		cmocka_unit_test(test_series_metadata_is_cut_from_the_studys),
		cmocka_unit_test(test_metadata_cut_refuses_what_it_does_not_know),
		cmocka_unit_test(test_documents_keep_their_store_keys),
		cmocka_unit_test(test_forget_and_an_unchanged_answer_do_not_rewrite_the_stored_one),
		cmocka_unit_test(test_every_listing_query_asks_the_levels_fields),
		cmocka_unit_test(test_series_members_come_from_the_stored_listing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
