/* Cache-through: query results from the store while fresh (meta_ttl), else from the searcher;
 * instances from the store, else from the downloader, one transfer per instance at a time
 * (single-flight), checked before they are kept. Sees protocols only through their interfaces. */
#ifndef TROLLEY_CACHE_H
#define TROLLEY_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/store.h"
#include "core/query.h"
#include "protocols/downloader.h"
#include "protocols/searcher.h"

struct cache_config {
	const char *source;  /* names the archive in cache keys; borrowed */
	bool prefetch;	     /* prefetch=series: opening an instance fetches its series */
	bool offline;	     /* serve only what is stored, whatever its age; never ask */
	long meta_ttl;	     /* seconds a query result stays fresh */
	uint64_t size_limit; /* cache_size, for the status */
	long connections;    /* connections=: series prefetches use at most half (0: 8) */
	/* A download larger than this is refused (0: CACHE_INSTANCE_MAX). */
	uint64_t max_instance_size;
	/* min_free=: bytes kept free on the disks temporary files go to (store_fs_floor()). */
	uint64_t min_free;
	/* What this mount asks for beyond a searcher's own answer, per enum query_level (the
	 * layout's includefields, the view's BurnedInAnnotation; copied by cache_new(), at most
	 * CACHE_INCLUDE_MAX a level): every query cache_query_init() builds of that level asks
	 * for them, so that a folder listed by fs/, the media view and the read-ahead is one
	 * query, one request and one stored answer. */
	const uint32_t *include[3];
	size_t ninclude[3];
};

/* The most fields cache_config may name at one level: a layout's 32 (LAYOUT_INCLUDE_MAX) and
 * the view's. */
#define CACHE_INCLUDE_MAX 40

/* The largest instance a download may deliver, by default (max_instance_size=). A bound is
 * needed: a download streams to a temporary file, and a compressed reply (curl inflates gzip,
 * deflate, br) of a few kilobytes can inflate to fill the disk. It must pass real objects: a
 * whole-slide level or a long multi-frame cine is 1-2 GiB; 4 GiB is also what one
 * explicit-length Pixel Data element can hold. A larger object needs max_instance_size=. */
#define CACHE_INSTANCE_MAX (4ull << 30)

/** The largest document read whole into memory: a metadata.json (the mount's and the
 * read-ahead's) or a DICOMDIR. One value, so that the read-ahead never stores a document
 * the mount could not open. */
#define CACHE_DOC_MAX (512u << 20)

/** Counters since the mount, for /.trolley/status. */
struct cache_stats {
	uint64_t query_hits, query_misses, query_errors, query_stale;
	uint64_t query_not_modified; /* misses the archive answered "unchanged" (304) */
	uint64_t open_hits, open_misses, open_waits;
	uint64_t transfers_active, transfers_done, transfer_errors, bytes_downloaded;
	uint64_t prefetches, prefetched, evictions;
	uint64_t blobs, blob_bytes, size_limit;
	struct store_room room; /* the disk under cache_dir: its floor, the effective limit */
	uint64_t spilled;	/* downloads held outside cache_dir (no room there) */
	const char *searcher, *downloader; /* protocol names, static */
	uint64_t incomplete;		   /* answers known to be cut, and the last one's query */
	char last_incomplete[256];
};

struct cache;
struct cache_blob;

/**
 * Make the cache layer over @store, @searcher and @downloader (all borrowed for its life).
 * @return 0 and @out (free with cache_free()), -EINVAL if @cfg names more than
 * CACHE_INCLUDE_MAX fields at a level, or -ENOMEM.
 */
int cache_new(struct store *store, struct searcher *searcher, struct downloader *downloader,
	      const struct cache_config *cfg, struct cache **out);
/** Stop background transfers (waiting for them to end) and free @c. */
void cache_free(struct cache *c);

/**
 * Answer @q: from the store if stored less than meta_ttl ago; else from the searcher, storing
 * the answer. If the searcher fails and an expired answer is stored, that is served with a
 * warning (stale-if-error). Appends to @out (initialised). An answer the searcher marks
 * incomplete is logged, counted for the status and not stored; @out is marked too, and so is
 * @why (may be NULL: the caller's detail, core/errors.h), which also gets what failed, also
 * when another reader's request for the same answer, which this one waited for, failed.
 * @return 0 or the searcher's -errno.
 */
int cache_find(struct cache *c, const struct query *q, struct attrset_list *out,
	       struct errors_detail *why);

/**
 * Begin @q, a query of @level as this mount asks every query of that level, whoever builds it
 * (a folder of fs/, the media view, the read-ahead, the de-identification map): matched on
 * @study_uid and @series_uid where given (NULL: not matched), asking for the fields of
 * cache_config.include at that level. Its answer is stored under a key made of exactly these
 * (query_key()), so two builders of one folder's query share one request and one answer. The
 * caller may add matches (a patient's, a date's) and a limit; its fields are this function's.
 * @return 0 (release @q with query_release()), or -ENOMEM (@q released).
 */
int cache_query_init(const struct cache *c, struct query *q, enum query_level level,
		     const char *study_uid, const char *series_uid);
/**
 * Add to @q, built elsewhere (a search folder's query, parsed from its name), the fields
 * cache_query_init() asks for at its level. @return 0 or -ENOMEM.
 */
int cache_query_include(const struct cache *c, struct query *q);

/** The members of a series, as the cache's answer to its instance listing names them. */
struct cache_members {
	const char **uids; /* SOPInstanceUIDs in the answer's order, borrowed from answer */
	size_t n;
	struct attrset_list answer;
};

/** Where cache_series_members() may take the answer from. */
enum cache_members_from {
	MEMBERS_STORED, /* the stored answer only, whatever its age: never waits for a query */
	MEMBERS_ASK,	/* cache_find(): the stored answer while fresh, else the archive's */
};

/**
 * The members of series @series_uid of @study_uid: the instances of the answer to the
 * series' instance listing (cache_query_init(), the query its folder asks) whose
 * SOPInstanceUID is a UID and whose SeriesInstanceUID is this series' (an archive may ignore
 * the match; a member whose UID is not one is never asked for). Every part of the cache that
 * needs a series' members (the read-ahead, an opener joining its series' stream) takes them
 * here. @return 0 and @out (release with cache_members_release()), -ENOENT if no answer is
 * stored (MEMBERS_STORED), or cache_find()'s -errno.
 */
int cache_series_members(struct cache *c, const char *study_uid, const char *series_uid,
			 enum cache_members_from from, struct cache_members *out);
void cache_members_release(struct cache_members *m);
/**
 * Whether the instance of attributes @a is a member of series @series_uid as
 * cache_series_members() counts them: its SOPInstanceUID a UID, its SeriesInstanceUID this one.
 * For fs/, which names a series' members to cache_open() in its folder's order.
 */
bool cache_is_member(const struct attrset *a, const char *series_uid);

/** Count an answer known to be incomplete (@what: its query or folder, for the status), and
 * note it in @why (may be NULL). */
void cache_note_incomplete(struct cache *c, const char *what, struct errors_detail *why);

/**
 * Whether the searcher can run @q; if not, @why (size @n) says why.
 * @return 0 or -EINVAL.
 */
int cache_check_query(struct cache *c, const struct query *q, char *why, size_t n);

/**
 * Make instance @ref readable: from the store, or downloaded (waiting for a transfer of the same
 * instance already under way, alone or as part of its series). The instance is checked
 * (Part-10, its SOPInstanceUID) before it is kept. With prefetch, the first miss in a series
 * also starts one background transfer of the whole series for @siblings (the SOPInstanceUIDs
 * of the other instances of the series, borrowed for the call; may be NULL).
 * @return 0 and an open blob in @out (close with cache_blob_close()), or -errno; what failed
 * in @why (may be NULL: core/errors.h), also when the transfer this open waited for was
 * another's (an opener's, or a series prefetch's).
 */
int cache_open(struct cache *c, const struct instance_ref *ref, const char *const *siblings,
	       size_t nsiblings, struct cache_blob **out, struct errors_detail *why);
/**
 * Whether an open in @study_uid that the store answers should still name its series' members
 * to cache_open(): true while that study is walked cold (a read-ahead counts every open of
 * the walk, also those its stream already stored). A warm copy then skips the sibling walk.
 */
bool cache_walk_wants(struct cache *c, const char *study_uid);
/**
 * The order in which a study's folder shows its @n series (@series: SeriesInstanceUIDs,
 * borrowed for the call), for read-ahead: a walk of the study (cp -r) opens them in this order.
 * Cheap when told the same again (fs/ tells it at each open).
 */
void cache_note_series_order(struct cache *c, const char *study_uid, const char *const *series,
			     size_t n);
/** Exact size of an open blob. */
uint64_t cache_blob_size(const struct cache_blob *b);
/** Whether the blob is kept in the store (it then never changes: the kernel may keep its pages). */
bool cache_blob_is_stored(const struct cache_blob *b);
/** Copy up to @n bytes from @off. @return bytes copied (0 at the end) or -errno. */
long cache_blob_read(struct cache_blob *b, void *buf, size_t n, uint64_t off);
/**
 * Bytes of a blob handed to a reader: @len bytes at @data, straight from the LMDB map, for a
 * stored blob; for one kept in its download file, at offset @pos of that file @fd, @data NULL
 * (the reader reads or splices them from there). Borrowed: valid only during the call.
 */
struct cache_bytes {
	const void *data;
	size_t len;
	int fd;
	int64_t pos;
};

/**
 * Hand up to @n bytes from @off to @use (0 bytes at the end), without a copy: @b's bytes are
 * valid only during the call (for a stored blob it runs inside the store's read transaction, so
 * @use must not block on the network). @return what @use returned, or -errno without calling it.
 */
int cache_blob_use(struct cache_blob *b, uint64_t off, size_t n,
		   int (*use)(void *ctx, const struct cache_bytes *b), void *ctx);
void cache_blob_close(struct cache_blob *b);

/**
 * The DICOM JSON metadata of a study (@series_uid NULL) or series, appended to @out: from the
 * store while fresh (meta_ttl); a series' cut from its study's stored, fresh metadata (its
 * instance objects byte for byte, then stored as the series' own, as old as the study's);
 * else from the downloader (then stored). @return 0; -ENOTSUP if the downloader has no
 * metadata; or the downloader's -errno (what failed in @why, which may be NULL).
 */
int cache_metadata(struct cache *c, const char *study_uid, const char *series_uid, struct buf *out,
		   struct errors_detail *why);

/**
 * The study's metadata made of the stored, fresh metadata of its @n series (one JSON array of
 * all their instances, which is what the archive's study metadata is), appended to @out and
 * stored as the study's, as old as the oldest of them. Saves the study-level request when a `cp -r` has read every series
 * folder's metadata.json first. The study's own, if stored and fresh, serves as it is.
 * @return 0; -ENOENT if a series' metadata is not at hand.
 */
int cache_metadata_from_series(struct cache *c, const char *study_uid,
			       const char *const *series_uids, size_t n, struct buf *out);

/** Whether the downloader can fetch metadata (so folders offer metadata.json). */
bool cache_has_metadata(struct cache *c);
/** Size of the stored metadata of a study or series, if stored. @return 0 or -ENOENT. */
int cache_metadata_size(struct cache *c, const char *study_uid, const char *series_uid,
			uint64_t *size);

/**
 * Refresh: forget the stored answer to @q, so the next cache_find() of it asks the searcher.
 * The answer stays stored, expired, for stale-if-error. @return 0 (also if none is stored), or
 * the store's -errno.
 */
int cache_forget(struct cache *c, const struct query *q);
/** Refresh: forget the stored metadata of a study (@series_uid NULL) or series. As above. */
int cache_forget_metadata(struct cache *c, const char *study_uid, const char *series_uid);
/** Refresh: forget every answer and metadata stored until now (SIGHUP); never an instance. */
void cache_forget_all(struct cache *c);
/** Whether the cache serves only what is stored (offline): a refresh then has nothing to ask. */
bool cache_is_offline(const struct cache *c);

/** A snapshot of the counters and of the store's use. */
void cache_get_stats(struct cache *c, struct cache_stats *out);

/** Exact size of instance @sop if it is stored. @return 0 or -ENOENT. */
int cache_stored_size(struct cache *c, const char *sop, uint64_t *size);
/**
 * Exact size of instance @sop if it is known: stored, or served from its temporary file since
 * it was opened (an instance bigger than the cache; the size of an instance never changes).
 * @return 0 or -ENOENT (then only an estimate can be given).
 */
int cache_exact_size(struct cache *c, const char *sop, uint64_t *size);

/*
 * Documents made from the cache's instances by a module above it (the DICOMDIR,
 * media/fileset.h), kept in the store under @kind (a word without '|') and @name, for this
 * archive only. They never expire: @name must pin what the document holds.
 */
/** Append the document to @out. @return 0, -ENOENT, -EIO (damaged), -ENOMEM or -E2BIG. */
int cache_doc_get(struct cache *c, const char *kind, const char *name, struct buf *out);
/** Size of the document. @return 0, -ENOENT or -ENOMEM. */
int cache_doc_size(struct cache *c, const char *kind, const char *name, uint64_t *size);
/** Store @len bytes as the document. @return 0, -ENOSPC (map full), -EIO or -ENOMEM. */
int cache_doc_put(struct cache *c, const char *kind, const char *name, const void *data,
		  size_t len);
/** Count a document served from the store (@hit) or made anew among the query hits and
 * misses of /.trolley/status. */
void cache_count_doc(struct cache *c, bool hit);
/**
 * Make a new empty folder "<@prefix>XXXXXX" (mode 0700) in the cache folder, for files that
 * must have names (dcmtk makes a DICOMDIR of named files), on the cache's filesystem. The
 * caller removes it. @return 0 and its path in @path (size @n), or -errno.
 */
int cache_tmpdir(struct cache *c, const char *prefix, char *path, size_t n);
#endif
