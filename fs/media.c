/* The file-set view of a study (/media/<study>): its series and instances in file-ID order,
 * named as on a CD, and its DICOMDIR. The queries are the ones /studies/<study> makes (a series
 * query, then one instance query per series: every archive answers those, where a study-wide
 * instance query is relational and a strictly hierarchical C-FIND SCP refuses it), so the two
 * views share their cached answers, and every folder of the file-set and the DICOMDIR number
 * the same answers the same way: series by SeriesNumber (then SeriesInstanceUID), instances by
 * InstanceNumber (then SOPInstanceUID), from 1. /media, its file-set folders and DICOMDIR are this
 * file's entries of fs/kind.h. */
#include "fs/media.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/query.h"
#include "core/tags.h"
#include "fs/kind.h"
#include "fs/lookup.h"
#include "fs/ops.h"
#include "fs/view.h"
#include "media/fileset.h"

/* "S0001", "I00001" (any size_t fits), and "DICOM/S0001/I00001". */
#define MEDIA_NAME_BUF 24
#define MEDIA_ID_BUF   64

struct media_entry {
	const struct attrset *a; /* borrowed from the level's results */
	const char *uid;	 /* its SeriesInstanceUID or SOPInstanceUID */
	long number;		 /* SeriesNumber or InstanceNumber; LONG_MAX: none */
	size_t order;		 /* its place in the answer */
};

/* The series of a study, or the instances of a series, in file-ID order. */
struct media_level {
	struct attrset_list results;
	struct media_entry *v;
	size_t n;
};

static void level_release(struct media_level *l)
{
	attrset_list_release(&l->results);
	free(l->v);
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

static int cmp_size(size_t a, size_t b)
{
	return a < b ? -1 : a > b;
}

/* By UID, the earlier answer first: the repeats of a UID follow its first. */
static int cmp_uid(const void *x, const void *y)
{
	const struct media_entry *a = x, *b = y;
	int c = strcmp(a->uid, b->uid);

	return c ? c : cmp_size(a->order, b->order);
}

/* File-ID order. */
static int cmp_number(const void *x, const void *y)
{
	const struct media_entry *a = x, *b = y;

	if (a->number != b->number)
		return a->number < b->number ? -1 : 1;
	return cmp_uid(x, y);
}

static int level_of(struct tree *t, const char *study, const char *series, struct media_level *l,
		    struct errors_detail *why);

/* In the view: whether every instance of series @a of @study is withheld (then noted hidden,
 * as /studies does when it lists the study: the same folders on both sides). */
static bool view_all_withheld(struct tree *t, const char *study, const struct attrset *a)
{
	const char *uid = attrset_str(a, TAG_SeriesInstanceUID);
	struct media_level s;
	bool all;

	if (!view_active() || !query_uid_is_valid(uid) || level_of(t, study, uid, &s, NULL) < 0)
		return false;
	all = s.n == 0 && s.results.n > 0;
	level_release(&s);
	if (all)
		view_note_hidden(uid, false);
	return all;
}

/*
 * The series of @study (@series NULL) or the instances of its series @series, as the archive
 * answers for /studies/<study>: each UID once (an archive may repeat one), answers for another
 * study or series left out (an archive that ignores the match), in file-ID order.
 */
static int level_of(struct tree *t, const char *study, const char *series, struct media_level *l,
		    struct errors_detail *why)
{
	uint32_t own = series ? TAG_SOPInstanceUID : TAG_SeriesInstanceUID;
	uint32_t num = series ? TAG_InstanceNumber : TAG_SeriesNumber;
	size_t kept = 0;
	struct query q;
	int err;

	memset(l, 0, sizeof(*l));
	attrset_list_init(&l->results);
	if (!query_uid_is_valid(study) || (series && !query_uid_is_valid(series)))
		return -EIO; /* tree_check_uids() said why, for the folder or the DICOMDIR */
	/* The query a folder of /studies makes (fs/tree.c): one answer. */
	err = cache_query_init(t->cache, &q, series ? QUERY_INSTANCE : QUERY_SERIES, study, series);
	if (!err)
		err = cache_find(t->cache, &q, &l->results, why);
	query_release(&q);
	if (err)
		goto out;
	err = -ENOMEM;
	l->v = calloc(l->results.n ? l->results.n : 1, sizeof(*l->v));
	if (!l->v)
		goto out;
	for (size_t i = 0; i < l->results.n; i++) {
		const struct attrset *a = &l->results.v[i];
		const char *st = attrset_get(a, TAG_StudyInstanceUID);
		const char *se = attrset_get(a, TAG_SeriesInstanceUID);

		if ((st && strcmp(st, study) != 0) || (series && se && strcmp(se, series) != 0))
			continue;
		if (series ? view_withholds(a)
			   : view_hides(a, false) || view_all_withheld(t, study, a))
			continue;
		l->v[l->n++] = (struct media_entry){a, attrset_str(a, own),
						    number_of(attrset_get(a, num)), i};
	}
	qsort(l->v, l->n, sizeof(*l->v), cmp_uid);
	for (size_t i = 0; i < l->n; i++)
		if (!kept || strcmp(l->v[kept - 1].uid, l->v[i].uid) != 0)
			l->v[kept++] = l->v[i];
	l->n = kept;
	qsort(l->v, l->n, sizeof(*l->v), cmp_number);
	err = 0;
	if (l->n > MEDIA_MAX_ENTRIES) {
		log_error("study %s: more than %u %s: no file-set (file IDs have at most 8 "
			  "characters)",
			  study, MEDIA_MAX_ENTRIES, series ? "instances in a series" : "series");
		err = -EIO;
	}
out:
	if (err)
		level_release(l);
	return err;
}

static void series_name(size_t series, char *out, size_t n)
{
	snprintf(out, n, "S%04zu", series);
}

static void instance_name(size_t instance, char *out, size_t n)
{
	snprintf(out, n, "I%05zu", instance);
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

/* Add child @name of kind @kind to @l, its attributes @more's (may be NULL) and @dir's, and,
 * for a folder, its @path in the file-set. */
static int add_entry(struct listing *l, const char *name, enum node_kind kind,
		     const struct node *dir, const struct attrset *more, const char *path)
{
	struct listing_entry *e = &l->v[l->n];
	char child[NAMES_BUF];

	snprintf(e->name, sizeof(e->name), "%s", name);
	node_init(&e->node, kind);
	if (path)
		snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "", name);
	if ((more && attrset_copy(&e->node.attrs, more) < 0) ||
	    (path && attrset_set(&e->node.attrs, MEDIA_TAG_PATH, "", child) < 0) ||
	    attrset_merge(&e->node.attrs, &dir->attrs) < 0) {
		node_release(&e->node);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* /media/<study>/DICOM: its series; /media/<study>/DICOM/Sxxxx: the instances of the series
 * its node names (the DICOM listing that made it gave it the SeriesInstanceUID). */
static int level_listing(struct tree *t, const struct node *dir, const char *path,
			 struct listing **out, struct errors_detail *why)
{
	const char *study = attrset_str(&dir->attrs, TAG_StudyInstanceUID);
	const char *series = attrset_get(&dir->attrs, TAG_SeriesInstanceUID);
	bool top = strcmp(path, MEDIA_FOLDER_NAME) == 0;
	char name[MEDIA_NAME_BUF];
	struct listing *l = NULL;
	struct media_level lv;
	int err;

	if (!top && !series)
		return -ENOENT;
	err = level_of(t, study, top ? NULL : series, &lv, why);
	if (err)
		return err;
	err = -ENOMEM;
	l = listing_new(lv.n);
	if (!l)
		goto out;
	for (size_t i = 0; i < lv.n; i++) {
		if (top)
			series_name(i + 1, name, sizeof(name));
		else
			instance_name(i + 1, name, sizeof(name));
		err = add_entry(l, name, top ? NODE_FILESET : NODE_INSTANCE, dir, lv.v[i].a,
				top ? path : NULL);
		if (err)
			goto out;
	}
	listing_sort(l);
	*out = l;
	l = NULL;
	err = 0;
out:
	listing_put(l);
	level_release(&lv);
	return err;
}

/* A file-set folder: its part of the layout. */
static int list_fileset(struct tree *t, const struct node *dir, struct listing **out,
			struct errors_detail *why)
{
	const char *path = attrset_str(&dir->attrs, MEDIA_TAG_PATH);
	struct listing *l;
	int err;

	/* A study whose UID from the archive is not one is shown, never asked for. */
	err = tree_check_uids(dir);
	if (err)
		return err;
	if (*path)
		return level_listing(t, dir, path, out, why);
	/* The file-set's root: no query (the DICOMDIR is made when opened). */
	l = listing_new(2);
	if (!l)
		return -ENOMEM;
	if (add_entry(l, MEDIA_DICOMDIR_NAME, NODE_DICOMDIR, dir, NULL, NULL) < 0 ||
	    add_entry(l, MEDIA_FOLDER_NAME, NODE_FILESET, dir, NULL, path) < 0) {
		listing_put(l);
		return -ENOMEM;
	}
	listing_sort(l);
	*out = l;
	return 0;
}

/* /media lists what /studies lists, each study as its file-set. */
static int list_media(struct tree *t, const struct node *dir, struct listing **out,
		      struct errors_detail *why)
{
	struct listing *l;
	struct node studies;
	int err;

	(void)dir;
	studies_node(&studies);
	err = tree_query_list(t, &studies, &l, why);
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

/* Child @name of /media (@dir), by the targeted query of /studies/<name>. */
static int media_lookup(struct tree *t, const struct node *dir, const char *name, struct node *out,
			struct listing **listed, struct errors_detail *why)
{
	struct node studies;
	int err;

	(void)dir;
	studies_node(&studies);
	err = lookup_study(t, &studies, name, out, listed, why);
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
	return fileset_dicomdir_size(t->cache, attrset_str(&n->attrs, TAG_StudyInstanceUID), size);
}

/* The instances of a study in file-ID order, for fileset_dicomdir(). The series' instance lists
 * are read one at a time and only what an item needs is kept of each (its UID, its class and
 * its file ID: ~250 bytes, against the ~600 of the attributes a listing gives): a server that
 * claimed 40 series of 10,000 instances took the daemon to 246 MB before any fetch, holding
 * every list at once. */
struct media_layout {
	struct media_level series;
	struct fileset_item *items; /* ref.sop_uid and ref.sop_class owned (strdup) */
	char (*ids)[MEDIA_ID_BUF];
	size_t n, cap;
	char id[17]; /* FNV-1a 64 of the file IDs and their SOPInstanceUIDs, in hex */
};

static void item_release(struct fileset_item *it)
{
	free((char *)it->ref.sop_uid);
	free((char *)it->ref.sop_class);
}

static void layout_release(struct media_layout *m)
{
	for (size_t i = 0; i < m->n; i++)
		item_release(&m->items[i]);
	level_release(&m->series);
	free(m->items);
	free(m->ids);
}

/* FNV-1a over the bytes and the NUL that ends them. */
static uint64_t hash_add(uint64_t h, const char *s)
{
	return hash_fnv64(h, s, strlen(s) + 1);
}

/* By SOPInstanceUID, then file-ID order. */
static int cmp_item_sop(const void *x, const void *y)
{
	const struct fileset_item *const *a = x, *const *b = y;
	int c = strcmp((*a)->ref.sop_uid, (*b)->ref.sop_uid);

	return c ? c : (*a > *b) - (*a < *b);
}

/* An archive that files one instance in two series: it is filed once, in the first (one file
 * per instance; dcmtk refuses a second record of one SOPInstanceUID). O(n log n). */
static int drop_repeats(struct media_layout *m, const char *study)
{
	struct fileset_item **by_sop = malloc((m->n ? m->n : 1) * sizeof(*by_sop));
	size_t kept = 0;

	if (!by_sop)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++)
		by_sop[i] = &m->items[i];
	qsort(by_sop, m->n, sizeof(*by_sop), cmp_item_sop);
	for (size_t i = 1; i < m->n; i++) {
		if (strcmp(by_sop[i]->ref.sop_uid, by_sop[i - 1]->ref.sop_uid) != 0)
			continue;
		log_warn("DICOMDIR of study %s: instance %s is listed in two series: it is filed "
			 "once, as %s",
			 study, by_sop[i]->ref.sop_uid, by_sop[i - 1]->file_id);
		by_sop[i]->file_id = NULL;
	}
	free(by_sop);
	for (size_t i = 0; i < m->n; i++) {
		if (m->items[i].file_id)
			m->items[kept++] = m->items[i];
		else
			item_release(&m->items[i]);
	}
	m->n = kept;
	return 0;
}

/* Room in @m for @more items. */
static int layout_grow(struct media_layout *m, size_t more)
{
	size_t cap = m->cap ? m->cap : 64;
	struct fileset_item *items;
	char(*ids)[MEDIA_ID_BUF];

	while (cap < m->n + more)
		cap *= 2;
	if (cap == m->cap)
		return 0;
	items = realloc(m->items, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	m->items = items;
	ids = realloc(m->ids, cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	m->ids = ids;
	m->cap = cap;
	return 0;
}

/* Add the instances of series @s (the @si-th, from 0) to @m's items (their file IDs are
 * pointed at once all are in: the array may move until then). */
static int add_series_items(struct media_layout *m, const char *study, size_t si,
			    struct media_level *s)
{
	char sname[MEDIA_NAME_BUF], iname[MEDIA_NAME_BUF];
	const char *series = m->series.v[si].uid;
	const char *sop_class;
	int err = layout_grow(m, s->n);

	if (err)
		return err;
	series_name(si + 1, sname, sizeof(sname));
	for (size_t j = 0; j < s->n; j++) {
		struct fileset_item *it = &m->items[m->n];

		/* An instance whose UID is not one can never be fetched: no DICOMDIR that
		 * silently lacks it. */
		if (!query_uid_is_valid(s->v[j].uid)) {
			log_error(
				"DICOMDIR of study %s: instance \"%s\" of series %s has an invalid "
				"UID from the archive: it cannot be fetched",
				study, s->v[j].uid, series);
			return -EIO;
		}
		instance_name(j + 1, iname, sizeof(iname));
		snprintf(m->ids[m->n], sizeof(m->ids[m->n]), MEDIA_FOLDER_NAME "/%s/%s", sname,
			 iname);
		memset(it, 0, sizeof(*it));
		it->ref.study_uid = study;
		it->ref.series_uid = series;
		it->ref.sop_uid = strdup(s->v[j].uid);
		sop_class = attrset_get(s->v[j].a, TAG_SOPClassUID);
		it->ref.sop_class = sop_class ? strdup(sop_class) : NULL;
		if (!it->ref.sop_uid || (sop_class && !it->ref.sop_class)) {
			item_release(it);
			return -ENOMEM;
		}
		m->n++;
	}
	return 0;
}

static int layout_of(struct tree *t, const char *study, struct media_layout *m,
		     struct errors_detail *why)
{
	uint64_t h = HASH_FNV64_INIT;
	size_t total = 0;
	int err;

	memset(m, 0, sizeof(*m));
	err = level_of(t, study, NULL, &m->series, why);
	if (err)
		return err;
	for (size_t i = 0; i < m->series.n && !err; i++) {
		struct media_level s;

		if (!query_uid_is_valid(m->series.v[i].uid)) {
			log_error("DICOMDIR of study %s: series \"%s\" has an invalid UID from the "
				  "archive: its instances cannot be listed",
				  study, m->series.v[i].uid);
			return -EIO;
		}
		err = level_of(t, study, m->series.v[i].uid, &s, why);
		if (err)
			return err;
		total += s.n;
		if (total > MEDIA_MAX_DICOMDIR) {
			log_error("DICOMDIR of study %s: more than %u instances (%zu in its first "
				  "%zu series of %zu): no DICOMDIR is made for it; its series are "
				  "in /studies",
				  study, MEDIA_MAX_DICOMDIR, total, i + 1, m->series.n);
			err = -EIO;
		}
		if (!err)
			err = add_series_items(m, study, i, &s);
		level_release(&s);
	}
	for (size_t i = 0; i < m->n; i++)
		m->items[i].file_id = m->ids[i];
	if (!err)
		err = drop_repeats(m, study);
	for (size_t i = 0; i < m->n; i++)
		h = hash_add(hash_add(h, m->items[i].file_id), m->items[i].ref.sop_uid);
	snprintf(m->id, sizeof(m->id), "%016llx", (unsigned long long)h);
	return err;
}

int media_dicomdir(struct tree *t, const struct node *n, struct buf *out, struct errors_detail *why)
{
	static const struct fileset_view deid_files = {view_instance};
	const char *study = attrset_str(&n->attrs, TAG_StudyInstanceUID);
	struct media_layout m;
	char id[sizeof(m.id) + 64];
	int err;

	err = layout_of(t, study, &m, why);
	/* The view's DICOMDIR is made from its own files, and stored under an id of the key
	 * too: small (~250 bytes an instance) against the rewrite of every instance it costs. */
	if (!err && view_active()) {
		view_fingerprint(id, sizeof(id));
		snprintf(id + strlen(id), sizeof(id) - strlen(id), "-%s", m.id);
		err = fileset_dicomdir_view(t->cache, study, id, m.items, m.n, &deid_files, out,
					    why);
	} else if (!err) {
		err = fileset_dicomdir(t->cache, study, m.id, m.items, m.n, out, why);
	}
	layout_release(&m);
	return err;
}

/* As metadata.json: exact once made (at the first open), direct_io until then. */
static double stat_dicomdir(const struct kind_req *r, const struct node *n, uint64_t *size)
{
	uint64_t made;

	if (media_dicomdir_size(&r->fs->tree, n, &made) == 0)
		*size = made;
	return 0;
}

/* A study's DICOMDIR: made at its first open, which fetches the whole study. */
static int open_dicomdir(const struct kind_req *r, const struct node *n, struct cache_blob **blob,
			 struct buf *text, struct fuse_file_info *fi)
{
	(void)blob;
	buf_init(text, CACHE_DOC_MAX);
	fi->direct_io = 1;
	return media_dicomdir(&r->fs->tree, n, text, r->why);
}

const struct kind_ops kind_media = {
	.name = "media",
	.parent = NODE_ROOT,
	.fixed_name = "media",
	.list = list_media,
	.lookup = media_lookup,
};

const struct kind_ops kind_fileset = {.name = "fileset", .list = list_fileset};

const struct kind_ops kind_dicomdir = {
	.name = "dicomdir",
	.stat = stat_dicomdir,
	.open = open_dicomdir,
};
