/* --deid-map: the original -> pseudonym CSV, made by the queries a listing of /studies and of
 * each study and series folder makes, through the same cache, and de-identified by the same
 * deid_attrset() the view names its folders with: the map says what the view shows. Each
 * instance is read too (through the cache), for the UIDs inside it that the view remaps
 * (references, frames of reference), by the walk deid_instance() makes. */
#include "fs/deid_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/query.h"
#include "core/tags.h"
#include "deid/deid.h"

/* The values written so far (a patient has many studies, a UID is referenced by many
 * instances), hashed into buckets. */
#define MAP_BUCKETS 65536

/* The largest instance read whole for the UIDs inside it (as the view rewrites: fs/view.c). */
#define MAP_INSTANCE_MAX (1ull << 30)

struct seen_id {
	struct seen_id *next;
	char id[];
};

struct seen_ids {
	struct seen_id *b[MAP_BUCKETS];
};

static bool seen_add(struct seen_ids *s, const char *id, int *err)
{
	uint32_t h = hash_fnv32_str(HASH_FNV32_INIT, id);
	struct seen_id *e;

	for (e = s->b[h % MAP_BUCKETS]; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return false;
	e = malloc(sizeof(*e) + strlen(id) + 1);
	if (!e) {
		*err = -ENOMEM;
		return false;
	}
	strcpy(e->id, id);
	e->next = s->b[h % MAP_BUCKETS];
	s->b[h % MAP_BUCKETS] = e;
	return true;
}

static void seen_release(struct seen_ids *s)
{
	for (size_t i = 0; i < MAP_BUCKETS; i++) {
		while (s->b[i]) {
			struct seen_id *e = s->b[i];

			s->b[i] = e->next;
			free(e);
		}
	}
}

/* RFC 4180: a field with a comma, a quote or a line break is quoted, quotes doubled. */
static void csv_field(FILE *out, const char *v)
{
	if (!strpbrk(v, ",\"\r\n")) {
		fputs(v, out);
		return;
	}
	fputc('"', out);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', out);
		fputc(*v, out);
	}
	fputc('"', out);
}

/* One line "@old,@new", unless @old was written already (a UID is referenced by many
 * instances) or is empty. @return 0 or -ENOMEM. */
static int write_once(FILE *out, struct seen_ids *ids, const char *old, const char *new)
{
	int err = 0;

	if (!*old || !seen_add(ids, old, &err))
		return err;
	csv_field(out, old);
	fputc(',', out);
	csv_field(out, new);
	fputc('\n', out);
	return 0;
}

/* One line for @tag of @orig, as @shown has it. Absent or empty originals name nothing. */
static int write_pair(FILE *out, struct seen_ids *ids, const struct attrset *orig,
		      const struct attrset *shown, uint32_t tag)
{
	return write_once(out, ids, attrset_str(orig, tag), attrset_str(shown, tag));
}

struct uid_lines {
	FILE *out;
	struct seen_ids *ids;
};

static int write_uid(void *ctx, const char *old_uid, const char *new_uid)
{
	struct uid_lines *u = ctx;

	return write_once(u->out, u->ids, old_uid, new_uid);
}

/* The UIDs inside instance @a (a listing's result): referenced instances, series and studies,
 * frames of reference, everything the view remaps in it. Its bytes come through the cache
 * (downloaded if not held). An instance that cannot be had is logged and skipped: the map
 * then lacks only what is inside it. @return 0 or -ENOMEM. */
static int map_instance(struct cache *c, const struct deid *d, const struct attrset *a,
			struct seen_ids *ids, FILE *out)
{
	struct instance_ref ref = {
		.study_uid = attrset_str(a, TAG_StudyInstanceUID),
		.series_uid = attrset_str(a, TAG_SeriesInstanceUID),
		.sop_uid = attrset_str(a, TAG_SOPInstanceUID),
		.sop_class = attrset_get(a, TAG_SOPClassUID),
	};
	struct uid_lines u = {out, ids};
	struct cache_blob *b;
	const char *why = NULL;
	uint64_t size, off = 0;
	char *in;
	int err;

	/* Withheld by what the listing says: the view serves nothing of it, no need to fetch. */
	if (!query_uid_is_valid(ref.sop_uid) || deid_withheld(d, a, NULL))
		return 0;
	err = cache_open(c, &ref, NULL, 0, &b, NULL);
	if (err) {
		log_warn("deid map: instance %s: %s: the UIDs inside it are not in the map",
			 ref.sop_uid, strerror(-err));
		return 0;
	}
	size = cache_blob_size(b);
	in = size > MAP_INSTANCE_MAX ? NULL : malloc(size ? (size_t)size : 1);
	err = size > MAP_INSTANCE_MAX ? -EFBIG : in ? 0 : -ENOMEM;
	while (!err && off < size) {
		long got = cache_blob_read(b, in + off, (size_t)(size - off), off);

		if (got <= 0)
			err = got < 0 ? (int)got : -EIO;
		else
			off += (uint64_t)got;
	}
	cache_blob_close(b);
	if (!err)
		err = deid_instance_uids(d, in, (size_t)size, write_uid, &u, &why);
	free(in);
	if (err == -ENOMEM)
		return err;
	if (err < 0)
		log_warn("deid map: instance %s: %s: the UIDs inside it are not in the map",
			 ref.sop_uid, why ? why : strerror(-err));
	return 0;
}

/* Ask @q and write @tag of each result (and the PatientID of a study's). */
static int map_level(struct cache *c, const struct deid *d, const struct query *q, uint32_t tag,
		     struct seen_ids *ids, FILE *out, struct attrset_list *results)
{
	int err = cache_find(c, q, results, NULL);

	for (size_t i = 0; !err && i < results->n; i++) {
		struct attrset shown;

		attrset_init(&shown);
		err = attrset_copy(&shown, &results->v[i]);
		if (!err)
			err = deid_attrset(d, &shown);
		if (!err) {
			const char *pid = attrset_str(&results->v[i], TAG_PatientID);

			if (q->level == QUERY_STUDY && *pid)
				err = write_pair(out, ids, &results->v[i], &shown, TAG_PatientID);
			if (!err)
				err = write_pair(out, ids, &results->v[i], &shown, tag);
		}
		attrset_release(&shown);
	}
	return err;
}

int deid_map_write(struct cache *c, const struct deid *d, long max_results, FILE *out)
{
	struct attrset_list studies, series, instances;
	static struct seen_ids ids; /* one map per process: 32 KiB off the stack */
	struct query q;
	int err;

	attrset_list_init(&studies);
	fputs("id_old,id_new\n", out);
	err = cache_query_init(c, &q, QUERY_STUDY, NULL, NULL);
	q.limit = max_results > 0 ? max_results : 0;
	if (!err)
		err = map_level(c, d, &q, TAG_StudyInstanceUID, &ids, out, &studies);
	query_release(&q);
	if (!err && studies.incomplete)
		log_warn("deid map: the archive's list of studies is incomplete: the map is too");
	for (size_t i = 0; !err && i < studies.n; i++) {
		const char *study = attrset_str(&studies.v[i], TAG_StudyInstanceUID);

		if (!query_uid_is_valid(study))
			continue;
		attrset_list_init(&series);
		err = cache_query_init(c, &q, QUERY_SERIES, study, NULL);
		if (!err)
			err = map_level(c, d, &q, TAG_SeriesInstanceUID, &ids, out, &series);
		query_release(&q);
		for (size_t j = 0; !err && j < series.n; j++) {
			const char *uid = attrset_str(&series.v[j], TAG_SeriesInstanceUID);

			if (!query_uid_is_valid(uid))
				continue;
			attrset_list_init(&instances);
			err = cache_query_init(c, &q, QUERY_INSTANCE, study, uid);
			if (!err)
				err = map_level(c, d, &q, TAG_SOPInstanceUID, &ids, out,
						&instances);
			query_release(&q);
			for (size_t k = 0; !err && k < instances.n; k++)
				err = map_instance(c, d, &instances.v[k], &ids, out);
			attrset_list_release(&instances);
		}
		attrset_list_release(&series);
	}
	attrset_list_release(&studies);
	seen_release(&ids);
	if (fflush(out) != 0 && !err)
		err = -EIO;
	if (err)
		log_error("deid map: %s: the map is incomplete", strerror(-err));
	return err;
}
