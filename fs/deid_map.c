/* --deid-map: the original -> pseudonym CSV, made by the queries a listing of /studies and of
 * each study and series folder makes, through the same cache, and de-identified by the same
 * deid_attrset() the view names its folders with: the map says what the view shows. */
#include "fs/deid_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tags.h"
#include "deid/deid.h"

/* The PatientIDs written so far (a patient has many studies), hashed into buckets. */
#define MAP_BUCKETS 4096

struct seen_id {
	struct seen_id *next;
	char id[];
};

struct seen_ids {
	struct seen_id *b[MAP_BUCKETS];
};

static bool seen_add(struct seen_ids *s, const char *id, int *err)
{
	uint32_t h = 2166136261u;
	struct seen_id *e;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
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

/* One line for @tag of @orig, as @shown has it. Absent or empty originals name nothing. */
static void write_pair(FILE *out, const struct attrset *orig, const struct attrset *shown,
		       uint32_t tag)
{
	const char *old = attrset_str(orig, tag);

	if (!*old)
		return;
	csv_field(out, old);
	fputc(',', out);
	csv_field(out, attrset_str(shown, tag));
	fputc('\n', out);
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

			if (q->level == QUERY_STUDY && *pid && seen_add(ids, pid, &err))
				write_pair(out, &results->v[i], &shown, TAG_PatientID);
			write_pair(out, &results->v[i], &shown, tag);
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
	query_init(&q, QUERY_STUDY);
	q.limit = max_results > 0 ? max_results : 0;
	err = map_level(c, d, &q, TAG_StudyInstanceUID, &ids, out, &studies);
	query_release(&q);
	if (!err && studies.incomplete)
		log_warn("deid map: the archive's list of studies is incomplete: the map is too");
	for (size_t i = 0; !err && i < studies.n; i++) {
		const char *study = attrset_str(&studies.v[i], TAG_StudyInstanceUID);

		if (!query_uid_is_valid(study))
			continue;
		attrset_list_init(&series);
		query_init(&q, QUERY_SERIES);
		err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", study);
		if (!err)
			err = map_level(c, d, &q, TAG_SeriesInstanceUID, &ids, out, &series);
		query_release(&q);
		for (size_t j = 0; !err && j < series.n; j++) {
			const char *uid = attrset_str(&series.v[j], TAG_SeriesInstanceUID);

			if (!query_uid_is_valid(uid))
				continue;
			attrset_list_init(&instances);
			query_init(&q, QUERY_INSTANCE);
			err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", study);
			if (!err)
				err = attrset_set(&q.match, TAG_SeriesInstanceUID, "UI", uid);
			if (!err)
				err = map_level(c, d, &q, TAG_SOPInstanceUID, &ids, out,
						&instances);
			query_release(&q);
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
