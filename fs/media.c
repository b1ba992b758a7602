/* The file-set view of a study (/media/<study>): the study's instances in file-ID order, named
 * as on a CD, and its DICOMDIR. The layout is a function of the instance query's answer alone,
 * so every folder of the file-set and the DICOMDIR agree on which file is which: series by
 * SeriesNumber (then SeriesInstanceUID), instances by InstanceNumber (then SOPInstanceUID),
 * numbered from 1. */
#include "fs/media.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/fileset.h"
#include "core/log.h"
#include "core/query.h"
#include "core/tags.h"
#include "fs/lookup.h"

/* "S0001", "I00001" (any size_t fits), and "DICOM/S0001/I00001". */
#define MEDIA_NAME_BUF 24
#define MEDIA_ID_BUF   64

struct media_entry {
	const struct attrset *a; /* borrowed from the layout's results */
	const char *series_uid, *sop_uid;
	long series_number, instance_number; /* LONG_MAX: none */
	size_t series;			     /* 1-based, in file-ID order */
	size_t instance;		     /* 1-based within its series */
};

/* A study's file-set: its instances (results), in file-ID order (v). */
struct media_layout {
	struct attrset_list results;
	struct media_entry *v;
	size_t n, nseries;
	char id[17]; /* FNV-1a 64 of the file IDs and their SOPInstanceUIDs, in hex */
};

static void layout_release(struct media_layout *m)
{
	attrset_list_release(&m->results);
	free(m->v);
}

/* An IS value as a number, LONG_MAX if it is empty or not one (then it sorts last). */
static long number_of(const char *s)
{
	char *end;
	long v;

	if (!s)
		return LONG_MAX;
	errno = 0;
	v = strtol(s, &end, 10);
	while (*end == ' ')
		end++;
	if (end == s || *end || errno)
		return LONG_MAX;
	return v;
}

static int cmp_long(long a, long b)
{
	return a < b ? -1 : a > b;
}

/* Instances grouped by series UID, in instance order within it. */
static int cmp_in_series(const void *x, const void *y)
{
	const struct media_entry *a = x, *b = y;
	int c = strcmp(a->series_uid, b->series_uid);

	if (!c)
		c = cmp_long(a->instance_number, b->instance_number);
	if (!c)
		c = strcmp(a->sop_uid, b->sop_uid);
	return c;
}

/* Series in file-ID order: by the number of the series, then its UID. */
static int cmp_series(const void *x, const void *y)
{
	const struct media_entry *a = x, *b = y;
	int c = cmp_long(a->series_number, b->series_number);

	if (!c)
		c = strcmp(a->series_uid, b->series_uid);
	if (!c)
		c = cmp_long((long)a->instance, (long)b->instance);
	return c;
}

static int cmp_sop(const void *x, const void *y)
{
	const struct media_entry *a = x, *b = y;
	int c = strcmp(a->sop_uid, b->sop_uid);

	/* The earlier result wins: the same answer gives the same layout. */
	return c ? c : (a->a > b->a) - (a->a < b->a);
}

static void series_name(size_t series, char *out, size_t n)
{
	snprintf(out, n, "S%04zu", series);
}

static void instance_name(size_t instance, char *out, size_t n)
{
	snprintf(out, n, "I%05zu", instance);
}

static void file_id(const struct media_entry *e, char *out, size_t n)
{
	char s[MEDIA_NAME_BUF], i[MEDIA_NAME_BUF];

	series_name(e->series, s, sizeof(s));
	instance_name(e->instance, i, sizeof(i));
	snprintf(out, n, MEDIA_FOLDER_NAME "/%s/%s", s, i);
}

static uint64_t hash_add(uint64_t h, const char *s)
{
	/* FNV-1a over the bytes and the NUL that ends them. */
	do {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	} while (*s++);
	return h;
}

/* Drop repeated SOPInstanceUIDs (an archive may send one twice): one file per instance. */
static void drop_repeats(struct media_layout *m)
{
	size_t kept = 0;

	qsort(m->v, m->n, sizeof(*m->v), cmp_sop);
	for (size_t i = 0; i < m->n; i++)
		if (!kept || strcmp(m->v[kept - 1].sop_uid, m->v[i].sop_uid) != 0)
			m->v[kept++] = m->v[i];
	m->n = kept;
}

/* Number the series and instances of m->v and put them in file-ID order. */
static int number_entries(struct media_layout *m, const char *study_uid)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char id[MEDIA_ID_BUF];

	qsort(m->v, m->n, sizeof(*m->v), cmp_in_series);
	for (size_t i = 0, start = 0; i < m->n; i++) {
		if (i && strcmp(m->v[i].series_uid, m->v[i - 1].series_uid) != 0)
			start = i;
		m->v[i].instance = i - start + 1;
		/* A series' place is its first instance's SeriesNumber: one per series, even if
		 * the archive's instances disagree. */
		m->v[i].series_number = m->v[start].series_number;
	}
	qsort(m->v, m->n, sizeof(*m->v), cmp_series);
	m->nseries = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (!i || strcmp(m->v[i].series_uid, m->v[i - 1].series_uid) != 0)
			m->nseries++;
		m->v[i].series = m->nseries;
		if (m->nseries > MEDIA_MAX_ENTRIES || m->v[i].instance > MEDIA_MAX_ENTRIES) {
			log_error("study %s: more than %u series or instances in a series: no "
				  "file-set (file IDs have at most 8 characters)",
				  study_uid, MEDIA_MAX_ENTRIES);
			return -EIO;
		}
		file_id(&m->v[i], id, sizeof(id));
		h = hash_add(hash_add(h, id), m->v[i].sop_uid);
	}
	snprintf(m->id, sizeof(m->id), "%016llx", (unsigned long long)h);
	return 0;
}

/* The file-set of study @study_uid, from its instance query (kept for meta_ttl, like every
 * listing: all folders of a file-set and its DICOMDIR come from the same answer). */
static int layout_of(struct tree *t, const char *study_uid, struct media_layout *m)
{
	struct query q;
	int err;

	memset(m, 0, sizeof(*m));
	attrset_list_init(&m->results);
	if (!query_uid_is_valid(study_uid))
		return -EIO; /* tree_check_uids() said why */
	query_init(&q, QUERY_INSTANCE);
	err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", study_uid);
	if (!err)
		err = cache_find(t->cache, &q, &m->results);
	query_release(&q);
	if (err)
		goto out;
	err = -ENOMEM;
	m->v = calloc(m->results.n ? m->results.n : 1, sizeof(*m->v));
	if (!m->v)
		goto out;
	for (size_t i = 0; i < m->results.n; i++) {
		const struct attrset *a = &m->results.v[i];

		/* An answer for another study (a server that ignores the match) is not this
		 * study's: it goes nowhere, as in the study's own folder. */
		if (strcmp(attrset_str(a, TAG_StudyInstanceUID), study_uid) != 0 &&
		    attrset_get(a, TAG_StudyInstanceUID))
			continue;
		m->v[m->n++] = (struct media_entry){
			.a = a,
			.series_uid = attrset_str(a, TAG_SeriesInstanceUID),
			.sop_uid = attrset_str(a, TAG_SOPInstanceUID),
			.series_number = number_of(attrset_get(a, TAG_SeriesNumber)),
			.instance_number = number_of(attrset_get(a, TAG_InstanceNumber)),
		};
	}
	drop_repeats(m);
	err = number_entries(m, study_uid);
out:
	if (err)
		layout_release(m);
	return err;
}

bool media_is_folder(const struct node *dir)
{
	return dir->kind == NODE_MEDIA || dir->kind == NODE_FILESET;
}

/* A /studies entry becomes the file-set of its study. */
static int adopt_study(struct node *n)
{
	if (n->kind != NODE_STUDY)
		return 0;
	n->kind = NODE_FILESET;
	return attrset_set(&n->attrs, MEDIA_TAG_PATH, "", "") < 0 ? -ENOMEM : 0;
}

static int adopt_listing(struct listing *l)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (adopt_study(&l->v[i].node) < 0)
			return -ENOMEM;
	return 0;
}

static void studies_node(struct node *n)
{
	node_init(n, NODE_STUDIES);
	n->by_uid = true;
}

/* Add child @name of kind @kind to @l, its attributes @dir's plus @more (may be NULL). */
static struct listing_entry *add_entry(struct listing *l, const char *name, enum node_kind kind,
				       const struct node *dir, const struct attrset *more)
{
	struct listing_entry *e = &l->v[l->n];

	snprintf(e->name, sizeof(e->name), "%s", name);
	node_init(&e->node, kind);
	if ((more && attrset_copy(&e->node.attrs, more) < 0) ||
	    attrset_merge(&e->node.attrs, &dir->attrs) < 0) {
		node_release(&e->node);
		return NULL;
	}
	l->n++;
	return e;
}

/* The folder path of a child of file-set folder @path. @return 0 or -ENOMEM. */
static int set_path(struct listing_entry *e, const char *path, const char *name)
{
	char child[NAMES_BUF];

	snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "", name);
	return attrset_set(&e->node.attrs, MEDIA_TAG_PATH, "", child) < 0 ? -ENOMEM : 0;
}

static int fileset_listing(struct tree *t, const struct node *dir, struct listing **out)
{
	const char *study = attrset_str(&dir->attrs, TAG_StudyInstanceUID);
	const char *path = attrset_str(&dir->attrs, MEDIA_TAG_PATH);
	char name[MEDIA_NAME_BUF];
	struct media_layout m;
	struct listing *l = NULL;
	struct listing_entry *e;
	size_t series = 0;
	int err;

	err = layout_of(t, study, &m);
	if (err)
		return err;
	err = -ENOMEM;
	l = listing_new(m.n > 2 ? m.n : 2);
	if (!l)
		goto out;
	if (!*path) {
		e = add_entry(l, MEDIA_DICOMDIR_NAME, NODE_DICOMDIR, dir, NULL);
		if (!e || attrset_set(&e->node.attrs, MEDIA_TAG_LAYOUT, "", m.id) < 0)
			goto out;
		e = add_entry(l, MEDIA_FOLDER_NAME, NODE_FILESET, dir, NULL);
		if (!e || set_path(e, path, MEDIA_FOLDER_NAME) < 0)
			goto out;
	} else if (strcmp(path, MEDIA_FOLDER_NAME) == 0) {
		for (size_t i = 0; i < m.n; i++) {
			if (m.v[i].series == series)
				continue;
			series = m.v[i].series;
			series_name(series, name, sizeof(name));
			e = add_entry(l, name, NODE_FILESET, dir, NULL);
			if (!e || set_path(e, path, name) < 0 ||
			    attrset_set(&e->node.attrs, TAG_SeriesInstanceUID, "UI",
					m.v[i].series_uid) < 0)
				goto out;
		}
	} else if (sscanf(path, MEDIA_FOLDER_NAME "/S%zu", &series) == 1) {
		for (size_t i = 0; i < m.n; i++) {
			if (m.v[i].series != series)
				continue;
			instance_name(m.v[i].instance, name, sizeof(name));
			if (!add_entry(l, name, NODE_INSTANCE, dir, m.v[i].a))
				goto out;
		}
	}
	listing_sort(l);
	*out = l;
	l = NULL;
	err = 0;
out:
	listing_put(l);
	layout_release(&m);
	return err;
}

int media_list(struct tree *t, const struct node *dir, struct listing **out)
{
	struct listing *l;
	struct node studies;
	int err;

	if (dir->kind == NODE_FILESET)
		return fileset_listing(t, dir, out);
	/* /media lists what /studies lists, each study as its file-set. */
	studies_node(&studies);
	err = tree_list(t, &studies, &l);
	node_release(&studies);
	if (err)
		return err;
	err = adopt_listing(l);
	if (err) {
		listing_put(l);
		return err;
	}
	*out = l;
	return 0;
}

int media_lookup(struct tree *t, const struct node *dir, const char *name, struct node *out,
		 struct listing **listed)
{
	struct node studies;
	int err;

	(void)dir;
	studies_node(&studies);
	err = lookup_study(t, &studies, name, out, listed);
	node_release(&studies);
	if (!err && adopt_study(out) < 0) {
		node_release(out);
		err = -ENOMEM;
	}
	if (adopt_listing(*listed) < 0) {
		/* Not kept: a half-adopted listing would show /studies entries here. */
		listing_put(*listed);
		*listed = NULL;
	}
	return err;
}

int media_dicomdir_size(struct tree *t, const struct node *n, uint64_t *size)
{
	return cache_dicomdir_size(t->cache, attrset_str(&n->attrs, TAG_StudyInstanceUID),
				   attrset_str(&n->attrs, MEDIA_TAG_LAYOUT), size);
}

int media_dicomdir(struct tree *t, const struct node *n, struct buf *out)
{
	const char *study = attrset_str(&n->attrs, TAG_StudyInstanceUID);
	struct fileset_item *items = NULL;
	char(*ids)[MEDIA_ID_BUF] = NULL;
	struct media_layout m;
	int err;

	err = layout_of(t, study, &m);
	if (err)
		return err;
	if (strcmp(m.id, attrset_str(&n->attrs, MEDIA_TAG_LAYOUT)) != 0)
		log_warn("study %s changed since its file-set was listed: its DICOMDIR describes "
			 "it as it is now (list the folder again to see the same)",
			 study);
	err = -ENOMEM;
	items = calloc(m.n ? m.n : 1, sizeof(*items));
	ids = calloc(m.n ? m.n : 1, sizeof(*ids));
	if (!items || !ids)
		goto out;
	for (size_t i = 0; i < m.n; i++) {
		const struct attrset *a = m.v[i].a;
		const char *series = attrset_get(a, TAG_SeriesInstanceUID);

		/* An instance whose UIDs are not UIDs can never be fetched: no DICOMDIR that
		 * silently lacks it. */
		if (!query_uid_is_valid(m.v[i].sop_uid) ||
		    (series && !query_uid_is_valid(series))) {
			log_error("DICOMDIR of study %s: instance \"%s\" of series \"%s\" has an "
				  "invalid UID from the archive: it cannot be fetched",
				  study, m.v[i].sop_uid, m.v[i].series_uid);
			err = -EIO;
			goto out;
		}
		file_id(&m.v[i], ids[i], sizeof(ids[i]));
		items[i].file_id = ids[i];
		items[i].ref.study_uid = study;
		items[i].ref.series_uid = series;
		items[i].ref.sop_uid = m.v[i].sop_uid;
		items[i].ref.sop_class = attrset_get(a, TAG_SOPClassUID);
	}
	err = cache_dicomdir(t->cache, study, m.id, items, m.n, out);
out:
	free(items);
	free(ids);
	layout_release(&m);
	return err;
}
