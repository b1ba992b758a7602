/* Each folder kind maps to one query: /patients and /studies to a study-level query, a patient to
 * the studies with its PatientID, a study to its series, a series to its instances. Children are
 * named by fs/names.c and kept sorted, so lookups after a listing are a binary search; lookups
 * without one are fs/lookup.c's. The kinds listed by a query, /dates and /search are this file's
 * entries of fs/kind.h. */
#include "fs/tree.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tags.h"
#include "fs/kind.h"
#include "fs/search.h"
#include "fs/view.h"

/* An answer of this many results or more is a burst whose memory is handed back to the system
 * once its listing is built (a page of 5,000 instances is ~10 MiB of sets). */
#define TREE_TRIM_RESULTS 5000

static struct layout tree_default;
static pthread_once_t tree_default_once = PTHREAD_ONCE_INIT;

static void parse_default(void)
{
	char why[256];
	size_t at;

	/* The built-in text is checked by the unit tests: it always parses. */
	layout_parse("tree", &tree_default, why, sizeof(why), &at);
}

/* The tree's layout: the one given at mount, else the built-in tree. */
static const struct layout *layout_of(const struct tree *t)
{
	if (t->layout)
		return t->layout;
	pthread_once(&tree_default_once, parse_default);
	return &tree_default;
}

/* The child kind of a folder kind: the levels the layout has. */
static enum node_kind child_kind(const struct tree *t, enum node_kind k)
{
	const struct layout *l = layout_of(t);

	switch (k) {
	case NODE_PATIENTS:
		return l->has[LAYOUT_PATIENT] ? NODE_PATIENT : NODE_STUDY;
	case NODE_PATIENT:
	case NODE_STUDIES:
	case NODE_DATE:
	case NODE_SEARCH:
		return NODE_STUDY;
	case NODE_DATES:
		return NODE_DATE;
	case NODE_SEARCHES:
		return NODE_SEARCH;
	case NODE_STUDY:
		return l->has[LAYOUT_SERIES] ? NODE_SERIES : NODE_INSTANCE;
	default:
		return NODE_INSTANCE;
	}
}

/* How the children of @dir are named: by UID under /studies, else by the layout's format of
 * their level (*@fmt, borrowed from the tree). */
static enum names_kind child_names(const struct tree *t, const struct node *dir,
				   const struct names_format **fmt)
{
	const struct layout *l = layout_of(t);

	switch (child_kind(t, dir->kind)) {
	case NODE_PATIENT:
		*fmt = &l->fmt[LAYOUT_PATIENT];
		return NAMES_PATIENT;
	case NODE_STUDY:
		*fmt = &l->fmt[LAYOUT_STUDY];
		return dir->by_uid ? NAMES_STUDY_UID : NAMES_STUDY;
	case NODE_SERIES:
		*fmt = &l->fmt[LAYOUT_SERIES];
		return dir->by_uid ? NAMES_SERIES_UID : NAMES_SERIES;
	default:
		*fmt = &l->fmt[LAYOUT_INSTANCE];
		return dir->by_uid ? NAMES_INSTANCE_UID : NAMES_INSTANCE;
	}
}

enum names_kind tree_child_names(const struct tree *t, const struct node *dir,
				 const struct names_format **fmt)
{
	return child_names(t, dir, fmt);
}

const struct layout *tree_layout(const struct tree *t)
{
	return layout_of(t);
}

/* The UID that names an entry of @kind (0 for a patient). */
static uint32_t own_uid_tag(enum node_kind kind)
{
	switch (kind) {
	case NODE_STUDY:
		return TAG_StudyInstanceUID;
	case NODE_SERIES:
		return TAG_SeriesInstanceUID;
	case NODE_INSTANCE:
		return TAG_SOPInstanceUID;
	default:
		return 0;
	}
}

/* What a log line calls folder @dir: its place in the tree, with the UID or query that
 * identifies it (cleaned: it came from the archive or the user). */
static void describe_dir(const struct tree *t, const struct node *dir, char *out, size_t n)
{
	char what[NAMES_BUF];

	switch (dir->kind) {
	case NODE_PATIENTS:
		snprintf(out, n, "/patients");
		return;
	case NODE_STUDIES:
		snprintf(out, n, "/studies");
		return;
	case NODE_PATIENT:
		names_entry(NAMES_PATIENT, &layout_of(t)->fmt[LAYOUT_PATIENT], &dir->attrs, what);
		snprintf(out, n, "patient folder \"%s\"", what);
		return;
	case NODE_DATE:
		names_clean(attrset_str(&dir->attrs, TAG_StudyDate), what, sizeof(what), false);
		snprintf(out, n, "/dates folder of %s", what);
		return;
	case NODE_SEARCH:
		names_clean(attrset_str(&dir->attrs, TREE_TAG_QUERY), what, sizeof(what), false);
		snprintf(out, n, "/search/%s", what);
		return;
	case NODE_STUDY:
		names_clean(attrset_str(&dir->attrs, TAG_StudyInstanceUID), what, sizeof(what),
			    false);
		snprintf(out, n, "study %s", what);
		return;
	default:
		names_clean(attrset_str(&dir->attrs, TAG_SeriesInstanceUID), what, sizeof(what),
			    false);
		snprintf(out, n, "series %s", what);
		return;
	}
}

int tree_check_uids(const struct node *n)
{
	static const uint32_t tags[] = {TAG_StudyInstanceUID, TAG_SeriesInstanceUID,
					TAG_SOPInstanceUID};
	size_t want;

	switch (n->kind) {
	case NODE_STUDY:
	case NODE_FILESET:
	case NODE_DICOMDIR:
		want = 1;
		break;
	case NODE_SERIES:
	case NODE_METADATA:
		want = 2;
		break;
	case NODE_INSTANCE:
		want = 3;
		break;
	default:
		return 0;
	}
	for (size_t i = 0; i < want; i++) {
		const char *uid = attrset_get(&n->attrs, tags[i]);
		char shown[NAMES_BUF];

		/* A study's metadata.json, or an instance of a protocol that gives no series UID,
		 * asks for no series; the study and the entry's own UID are always asked for. */
		if (!uid && tags[i] == TAG_SeriesInstanceUID && own_uid_tag(n->kind) != tags[i])
			continue;
		if (query_uid_is_valid(uid))
			continue;
		/* The value as the archive sent it (log_msg escapes control bytes), cut to fit. */
		snprintf(shown, sizeof(shown), "%s", uid ? uid : "");
		log_error("%s \"%s\" from the archive is not a valid UID: never requested (the "
			  "folder shows it, but it cannot be listed or opened)",
			  tags_keyword(tags[i]), shown);
		return -EIO;
	}
	return 0;
}

/* The query that lists @dir, or -EINVAL for a kind with fixed children. */
static int dir_query(const struct tree *t, const struct node *dir, struct query *q)
{
	const struct attrset *a = &dir->attrs;
	char pattern[NAMES_BUF * 4];
	int err = 0;

	/* A folder of an entry whose UID is not one is shown, never asked for. */
	err = tree_check_uids(dir);
	if (err)
		return err;
	switch (dir->kind) {
	case NODE_PATIENTS:
	case NODE_STUDIES:
		err = cache_query_init(t->cache, q, QUERY_STUDY, NULL, NULL);
		break;
	case NODE_PATIENT:
		err = cache_query_init(t->cache, q, QUERY_STUDY, NULL, NULL);
		/* A pattern of the archive's own values: exact for a plain ID, else it matches
		 * more ("TW/1" is asked as "TW*1": a '/' sent escaped never matches on Orthanc)
		 * and select_results() keeps only this patient's studies. Nothing to match on
		 * lists all. */
		if (err)
			break;
		if (names_query_pattern(attrset_str(a, TAG_PatientID), false, pattern,
					sizeof(pattern)))
			err = attrset_set(&q->match, TAG_PatientID, "LO", pattern);
		else if (names_query_pattern(attrset_str(a, TAG_PatientName), false, pattern,
					     sizeof(pattern)))
			err = attrset_set(&q->match, TAG_PatientName, "PN", pattern);
		break;
	case NODE_DATE:
		err = cache_query_init(t->cache, q, QUERY_STUDY, NULL, NULL);
		if (!err)
			err = attrset_set(&q->match, TAG_StudyDate, "DA",
					  attrset_str(a, TAG_StudyDate));
		break;
	case NODE_SEARCH: {
		char why[256];

		/* The name was checked at lookup: a failure here is memory. */
		err = search_parse(attrset_str(a, TREE_TAG_QUERY), q, why, sizeof(why));
		if (err)
			return err == -EINVAL ? -EIO : err;
		err = cache_query_include(t->cache, q);
		break;
	}
	case NODE_STUDY:
		err = cache_query_init(t->cache, q,
				       layout_of(t)->has[LAYOUT_SERIES] ? QUERY_SERIES
									: QUERY_INSTANCE,
				       attrset_str(a, TAG_StudyInstanceUID), NULL);
		break;
	case NODE_SERIES:
		err = cache_query_init(t->cache, q, QUERY_INSTANCE,
				       attrset_str(a, TAG_StudyInstanceUID),
				       attrset_str(a, TAG_SeriesInstanceUID));
		break;
	default:
		return -EINVAL;
	}
	if (err) {
		query_release(q);
		return err;
	}
	if (t->max_results > 0 && (dir->kind == NODE_PATIENTS || dir->kind == NODE_STUDIES))
		q->limit = t->max_results;
	/* What the archive counted for this folder, when its own listing said: paging then
	 * knows it has every child (fs/ never pages; the searcher does). */
	if (dir->kind == NODE_SERIES)
		q->expect = strtol(attrset_str(a, TAG_NumberOfSeriesRelatedInstances), NULL, 10);
	else if (dir->kind == NODE_STUDY)
		q->expect = strtol(attrset_str(a, !layout_of(t)->has[LAYOUT_SERIES]
							  ? TAG_NumberOfStudyRelatedInstances
							  : TAG_NumberOfStudyRelatedSeries),
				   NULL, 10);
	if (q->expect < 0)
		q->expect = 0;
	return 0;
}

/* A patient folder is identified by the patient alone, not by the study that brought it: it
 * keeps PatientName, PatientID and what else the layout names patients by. */
static int reduce_to_patient(const struct tree *t, struct attrset *a)
{
	struct attrset p;

	attrset_init(&p);
	for (size_t i = 0; i < a->n; i++) {
		const struct attr *x = &a->v[i];

		if ((x->tag == TAG_PatientName || x->tag == TAG_PatientID ||
		     layout_names_patient_by(layout_of(t), x->tag)) &&
		    attrset_set(&p, x->tag, x->vr, x->value) < 0) {
			attrset_release(&p);
			return -ENOMEM;
		}
	}
	/* Absent and empty are alike for naming; a patient key needs both. */
	if (attrset_set(&p, TAG_PatientName, "PN", attrset_str(a, TAG_PatientName)) < 0 ||
	    attrset_set(&p, TAG_PatientID, "LO", attrset_str(a, TAG_PatientID)) < 0) {
		attrset_release(&p);
		return -ENOMEM;
	}
	attrset_release(a);
	*a = p;
	return 0;
}

/* The identity of each result that belongs in @dir (a patient folder shows only its own
 * patient's studies: a PatientID query also matches another patient with the same ID and a
 * different name). keys[i] is NULL for a result left out. */
static int select_results(const struct node *dir, enum names_kind nk,
			  const struct attrset_list *results, char **keys)
{
	char *want = dir->kind == NODE_PATIENT ? names_key(NAMES_PATIENT, &dir->attrs) : NULL;
	int err = -ENOMEM;

	if (dir->kind == NODE_PATIENT && !want)
		goto out;
	for (size_t i = 0; i < results->n; i++) {
		if (want) {
			char *got = names_key(NAMES_PATIENT, &results->v[i]);
			bool mine = got && strcmp(got, want) == 0;

			if (!got)
				goto out;
			free(got);
			if (!mine)
				continue;
		}
		keys[i] = names_key(nk, &results->v[i]);
		if (!keys[i])
			goto out;
	}
	err = 0;
out:
	free(want);
	return err;
}

/* Entries of one identity: a patient appears once per study, and a server may repeat a result
 * (or send one UID twice with other fields). One is kept, chosen by its name and not by its
 * place in the answer, so the same answer in another order gives the same names. Sorting makes
 * this O(n log n). */
struct dup_ref {
	const char *key, *name;
	size_t index;
};

static int cmp_dup_ref(const void *a, const void *b)
{
	const struct dup_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (!c)
		c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Drop the repeated identities of the @l->n entries (their @names and @keys move along). */
static int drop_duplicates(struct listing *l, char (*names)[NAMES_BUF], char **keys)
{
	struct dup_ref *refs = malloc((l->n + 1) * sizeof(*refs));
	bool *dup = calloc(l->n + 1, sizeof(*dup));
	size_t kept = 0;
	int err = -ENOMEM;

	if (!refs || !dup)
		goto out;
	for (size_t i = 0; i < l->n; i++)
		refs[i] = (struct dup_ref){keys[i], names[i], i};
	qsort(refs, l->n, sizeof(*refs), cmp_dup_ref);
	for (size_t i = 1; i < l->n; i++)
		dup[refs[i].index] = strcmp(refs[i].key, refs[i - 1].key) == 0;
	for (size_t i = 0; i < l->n; i++) {
		if (dup[i]) {
			node_release(&l->v[i].node);
			free(keys[i]);
			continue;
		}
		if (kept != i) {
			l->v[kept] = l->v[i];
			memcpy(names[kept], names[i], NAMES_BUF);
			keys[kept] = keys[i];
		}
		kept++;
	}
	l->n = kept;
	err = 0;
out:
	free(refs);
	free(dup);
	return err;
}

/* Study and series folders also hold metadata.json, the folder's attributes as the archive
 * gives them (WADO-RS metadata); names_make_unique() keeps that name free of children. */
static int add_metadata_entry(const struct node *dir, struct listing *l)
{
	struct listing_entry *e = &l->v[l->n];

	snprintf(e->name, sizeof(e->name), "%s", TREE_METADATA_NAME);
	node_init(&e->node, NODE_METADATA);
	if (attrset_set(&e->node.attrs, TAG_StudyInstanceUID, "UI",
			attrset_str(&dir->attrs, TAG_StudyInstanceUID)) < 0 ||
	    (dir->kind == NODE_SERIES &&
	     attrset_set(&e->node.attrs, TAG_SeriesInstanceUID, "UI",
			 attrset_str(&dir->attrs, TAG_SeriesInstanceUID)) < 0) ||
	    attrset_merge(&e->node.attrs, &dir->attrs) < 0) { /* the dates, for its mtime */
		node_release(&e->node);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* Say which entries of @dir the archive sent with a UID that is not one (shown, never asked
 * for) and which no hash suffix could place (named by the last-resort suffix, whose numbers
 * depend on their siblings: names chosen to clash, or astronomic luck). One line each. */
static void log_bad_entries(const struct tree *t, const struct node *dir, size_t bad_uids,
			    const char *bad_example, size_t last_resort, const char *last_example)
{
	char where[NAMES_BUF * 2];

	if (!bad_uids && !last_resort)
		return;
	describe_dir(t, dir, where, sizeof(where));
	if (bad_uids)
		log_warn("%s: %zu entries have an invalid UID from the archive (one is shown as "
			 "\"%s\"): they are listed but never requested",
			 where, bad_uids, bad_example);
	if (last_resort)
		log_warn("%s: %zu entries still clash after %d suffixes (names chosen to clash?): "
			 "named by their place instead (one is \"%s\")",
			 where, last_resort, NAMES_ROUNDS, last_example);
}

/* An entry's name in the de-identified view: made from its de-identified attributes, and so
 * is its identity (*@key, replaced), which the clash suffix is a hash of: a suffix made from an
 * original UID or PatientID would be a short unkeyed hash of it. */
static int view_name(enum names_kind nk, const struct names_format *fmt, const struct attrset *a,
		     char name[NAMES_BUF], char **key)
{
	struct attrset shown;
	char *k;
	int err = view_attrs(a, &shown);

	if (err)
		return err;
	names_entry(nk, fmt, &shown, name);
	k = names_key(nk, &shown);
	attrset_release(&shown);
	if (!k)
		return -ENOMEM;
	free(*key);
	*key = k;
	return 0;
}

/* Whether the view leaves result @a, a child of kind @kind, out. A patient's results are its
 * studies: a patient with only such studies is left out too. */
static bool view_leaves_out(enum node_kind kind, const struct attrset *a)
{
	return (kind == NODE_INSTANCE && view_withholds(a)) ||
	       (kind == NODE_SERIES && view_hides(a, false)) ||
	       ((kind == NODE_STUDY || kind == NODE_PATIENT) && view_hides(a, true));
}

int tree_build_listing(const struct tree *t, const struct node *dir, struct attrset_list *results,
		       bool metadata, struct listing **out)
{
	static const char *const reserved[] = {TREE_METADATA_NAME};
	enum node_kind kind = child_kind(t, dir->kind);
	const struct names_format *fmt;
	enum names_kind nk = child_names(t, dir, &fmt);
	char bad_example[NAMES_BUF] = "", last_example[NAMES_BUF] = "";
	size_t n = 0, bad_uids = 0, last_resort = 0, left_out = 0;
	char(*names)[NAMES_BUF] = NULL;
	char **keys, **ekeys = NULL;
	struct listing *l;
	int err = -ENOMEM;

	l = listing_new(results->n + 1); /* +1: metadata.json */
	keys = calloc(results->n + 1, sizeof(*keys));
	if (!l || !keys)
		goto out;
	err = select_results(dir, nk, results, keys);
	if (err)
		goto out;
	err = -ENOMEM;
	ekeys = calloc(results->n + 1, sizeof(*ekeys));
	names = malloc((results->n + 1) * sizeof(*names));
	if (!ekeys || !names)
		goto out;
	for (size_t i = 0; i < results->n; i++) {
		struct listing_entry *e = &l->v[n];

		if (!keys[i])
			continue;
		/* The de-identified view lists no instance it would not serve, nor a folder of
		 * only such instances. */
		if (view_active() && view_leaves_out(kind, &results->v[i])) {
			free(keys[i]);
			keys[i] = NULL;
			left_out++;
			continue;
		}
		node_init(&e->node, kind);
		e->node.by_uid = dir->by_uid;
		/* Series and instances keep their parents' attributes too (for UIDs and dates);
		 * a study result already carries its patient's. */
		e->node.attrs = results->v[i];
		attrset_init(&results->v[i]);
		l->n = ++n;
		ekeys[n - 1] = keys[i];
		keys[i] = NULL;
		if (((dir->kind == NODE_STUDY || dir->kind == NODE_SERIES) &&
		     attrset_merge(&e->node.attrs, &dir->attrs) < 0) ||
		    (kind == NODE_PATIENT && reduce_to_patient(t, &e->node.attrs) < 0))
			goto out;
		if (!view_active())
			names_entry(nk, fmt, &e->node.attrs, names[n - 1]);
		else if (view_name(nk, fmt, &e->node.attrs, names[n - 1], &ekeys[n - 1]) < 0)
			goto out; /* err is -ENOMEM here */
	}
	/* A series or study whose every child the view left out is left out of its parent too. */
	if (left_out && !l->n && (dir->kind == NODE_SERIES || dir->kind == NODE_STUDY))
		view_note_hidden(attrset_str(&dir->attrs, dir->kind == NODE_STUDY
								  ? TAG_StudyInstanceUID
								  : TAG_SeriesInstanceUID),
				 dir->kind == NODE_STUDY);
	err = drop_duplicates(l, names, ekeys);
	if (err)
		goto out;
	n = l->n;
	err = names_make_unique(names, (const char *const *)ekeys, n, reserved, metadata ? 1 : 0);
	if (err)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct listing_entry *e = &l->v[i];
		uint32_t uid = own_uid_tag(kind);

		if (names_is_last_resort(names[i]) && !last_resort++)
			memcpy(last_example, names[i], sizeof(last_example));
		if (uid && !query_uid_is_valid(attrset_str(&e->node.attrs, uid)) && !bad_uids++)
			memcpy(bad_example, names[i], sizeof(bad_example));
		memcpy(e->name, names[i], sizeof(e->name));
	}
	log_bad_entries(t, dir, bad_uids, bad_example, last_resort, last_example);
	if (metadata) {
		err = add_metadata_entry(dir, l);
		if (err)
			goto out;
	}
	listing_sort(l);
	/* Duplicates dropped, the array was sized for every result: 100,000 results of one
	 * patient kept 27 MiB for one entry as long as the listing lived (measured). */
	if (l->n + 1 < results->n / 2) {
		struct listing_entry *v = realloc(l->v, (l->n + 1) * sizeof(*l->v));

		if (v)
			l->v = v;
	}
	*out = l;
	l = NULL;
	err = 0;
out:
	for (size_t i = 0; keys && i < results->n; i++)
		free(keys[i]);
	for (size_t i = 0; ekeys && i < n; i++)
		free(ekeys[i]);
	listing_put(l);
	free(keys);
	free(ekeys);
	free(names);
	return err;
}

/* /search has no listing of its own: each search is a name looked up. */
static int empty_listing(struct tree *t, const struct node *dir, struct listing **out,
			 struct errors_detail *why)
{
	(void)t;
	(void)dir;
	(void)why;
	*out = listing_new(0);
	return *out ? 0 : -ENOMEM;
}

static int date_node(const char *name, struct node *out)
{
	char da[32];
	int y, m, d;
	char tail;

	/* YYYY-MM-DD exactly, a real calendar day. */
	if (strlen(name) != 10 || sscanf(name, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
	    name[4] != '-' || name[7] != '-' || m < 1 || m > 12 || d < 1 || d > 31 || y < 1800)
		return -ENOENT;
	snprintf(da, sizeof(da), "%04d%02d%02d", y, m, d);
	node_init(out, NODE_DATE);
	return attrset_set(&out->attrs, TAG_StudyDate, "DA", da) < 0 ? -ENOMEM : 0;
}

/* /dates lists the last TREE_RECENT_DAYS days, newest first in time, with no query: a day's
 * studies are queried when that day is opened. */
static int recent_days_listing(struct tree *t, const struct node *dir, struct listing **out,
			       struct errors_detail *why)
{
	struct listing *l = listing_new(TREE_RECENT_DAYS);
	time_t now = time(NULL);

	(void)t;
	(void)dir;
	(void)why;
	if (!l)
		return -ENOMEM;
	for (int i = 0; i < TREE_RECENT_DAYS; i++) {
		time_t t = now - (time_t)i * 86400;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(l->v[l->n].name, sizeof(l->v[l->n].name), "%Y-%m-%d", &tm);
		if (date_node(l->v[l->n].name, &l->v[l->n].node) < 0) {
			listing_put(l);
			return -ENOMEM;
		}
		l->n++;
	}
	listing_sort(l);
	*out = l;
	return 0;
}

/*
 * The view lists no series of only withheld instances: before a study's series are named, each
 * one's instances are asked for, with the query its own folder makes (so its listing, kept for
 * meta_ttl, costs nothing more), and a series whose every instance is withheld by what the
 * answer says (SOP class, BurnedInAnnotation) is noted hidden (fs/view.h). An archive whose
 * answers do not say (dcmqrscp's C-FIND) leaves it to the opens. A failed query hides nothing.
 */
static void view_check_series(struct tree *t, const struct node *dir,
			      const struct attrset_list *series)
{
	for (size_t i = 0; i < series->n; i++) {
		const struct attrset *a = &series->v[i];
		struct attrset_list instances;
		struct node child;
		struct query q;
		size_t held = 0;

		if (view_hides(a, false))
			continue;
		node_init(&child, NODE_SERIES);
		if (attrset_copy(&child.attrs, a) < 0 ||
		    attrset_merge(&child.attrs, &dir->attrs) < 0 || dir_query(t, &child, &q) < 0) {
			node_release(&child);
			continue;
		}
		attrset_list_init(&instances);
		if (cache_find(t->cache, &q, &instances, NULL) == 0)
			for (size_t j = 0; j < instances.n; j++)
				held += view_withholds(&instances.v[j]);
		if (held && held == instances.n)
			view_note_hidden(attrset_str(a, TAG_SeriesInstanceUID), false);
		attrset_list_release(&instances);
		query_release(&q);
		node_release(&child);
	}
}

int tree_query_list(struct tree *t, const struct node *dir, struct listing **out,
		    struct errors_detail *why)
{
	struct attrset_list results;
	struct query q;
	bool big;
	int err;

	err = dir_query(t, dir, &q);
	if (err)
		return err == -EINVAL ? -ENOTDIR : err;
	attrset_list_init(&results);
	err = cache_find(t->cache, &q, &results, why);
	if (!err && t->max_results > 0 && q.limit == t->max_results &&
	    (dir->kind == NODE_PATIENTS || dir->kind == NODE_STUDIES) &&
	    (long)results.n >= q.limit) {
		log_warn("listing cut at max_results=%ld %s results: look up by name or search",
			 q.limit, query_level_name(q.level));
		cache_note_incomplete(t->cache,
				      dir->kind == NODE_PATIENTS ? "/patients cut at max_results"
								 : "/studies cut at max_results",
				      why);
	}
	if (!err && view_active() && dir->kind == NODE_STUDY && q.level == QUERY_SERIES)
		view_check_series(t, dir, &results);
	if (!err)
		err = tree_build_listing(t, dir, &results,
					 (dir->kind == NODE_STUDY || dir->kind == NODE_SERIES) &&
						 cache_has_metadata(t->cache),
					 out);
	big = results.n >= TREE_TRIM_RESULTS;
	attrset_list_release(&results);
	query_release(&q);
	/* glibc keeps what a burst freed (the sets, cJSON trees and names of a big answer) in
	 * its arenas: a 100,000-result listing left ~50 MiB resident after it was built
	 * (measured, test_bounds.py). Handing it back costs a walk of the heap, once per big
	 * answer. */
	if (big)
		malloc_trim(0);
	return err;
}

int tree_forget(struct tree *t, const struct node *dir, const char *const *series_uids, size_t n)
{
	const char *study = attrset_get(&dir->attrs, TAG_StudyInstanceUID);
	struct query q;
	int err = 0;

	if (dir->kind == NODE_STUDY && study) {
		err = cache_forget_metadata(t->cache, study, NULL);
		for (size_t i = 0; !err && i < n; i++)
			err = cache_forget_metadata(t->cache, study, series_uids[i]);
	} else if (dir->kind == NODE_SERIES && study) {
		err = cache_forget_metadata(t->cache, study,
					    attrset_str(&dir->attrs, TAG_SeriesInstanceUID));
	}
	if (err)
		return err;
	if (dir_query(t, dir, &q) != 0)
		return 0; /* fixed children (the root, /dates, /.trolley): nothing stored */
	err = cache_forget(t->cache, &q);
	query_release(&q);
	return err;
}

static int search_node(struct tree *t, const char *name, struct node *out)
{
	char why[256] = "";
	struct query q;
	int err;

	err = search_parse(name, &q, why, sizeof(why));
	if (!err)
		err = view_check_search(&q, why, sizeof(why));
	if (!err)
		err = cache_check_query(t->cache, &q, why, sizeof(why));
	query_release(&q);
	if (err == -EINVAL || err == -EACCES)
		log_error("search \"%s\": %s", name, why);
	if (err)
		return err;
	node_init(out, NODE_SEARCH);
	return attrset_set(&out->attrs, TREE_TAG_QUERY, "", name) < 0 ? -ENOMEM : 0;
}

/* /dates/YYYY-MM-DD: any real day, listed or not. */
static int lookup_date(struct tree *t, const struct node *dir, const char *name, struct node *out,
		       struct listing **listed, struct errors_detail *why)
{
	(void)t;
	(void)dir;
	(void)listed;
	(void)why;
	return date_node(name, out);
}

/* /search/<query>: any query search_parse() takes. */
static int lookup_search(struct tree *t, const struct node *dir, const char *name, struct node *out,
			 struct listing **listed, struct errors_detail *why)
{
	(void)dir;
	(void)listed;
	(void)why;
	return search_node(t, name, out);
}

/* The folders this file lists: those of a query, and /dates and /search. */
const struct kind_ops kind_patient = {.name = "patient", .list = tree_query_list};
const struct kind_ops kind_study = {.name = "study", .list = tree_query_list};
const struct kind_ops kind_series = {.name = "series", .list = tree_query_list};
const struct kind_ops kind_date = {.name = "date", .list = tree_query_list};
const struct kind_ops kind_search = {.name = "search", .list = tree_query_list};

const struct kind_ops kind_dates = {
	.name = "dates",
	.parent = NODE_ROOT,
	.fixed_name = "dates",
	.view_hides = true,
	.list = recent_days_listing,
	.lookup = lookup_date,
};

const struct kind_ops kind_searches = {
	.name = "searches",
	.parent = NODE_ROOT,
	.fixed_name = "search",
	.list = empty_listing,
	.lookup = lookup_search,
};

/* DA (YYYYMMDD) and TM (HHMMSS.frac, parts optional) to local time, as a viewer shows them. */
static time_t dicom_time(const char *da, const char *tm)
{
	struct tm t = {0};
	int y, mo, d, h = 0, mi = 0, s = 0;

	if (!da || strlen(da) < 8 || sscanf(da, "%4d%2d%2d", &y, &mo, &d) != 3)
		return 0;
	if (tm && *tm) {
		char hh[3] = {0}, mm[3] = {0}, ss[3] = {0};

		strncpy(hh, tm, 2);
		if (strlen(tm) >= 4)
			strncpy(mm, tm + 2, 2);
		if (strlen(tm) >= 6)
			strncpy(ss, tm + 4, 2);
		h = atoi(hh);
		mi = atoi(mm);
		s = atoi(ss);
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	t.tm_year = y - 1900;
	t.tm_mon = mo - 1;
	t.tm_mday = d;
	t.tm_hour = h;
	t.tm_min = mi;
	t.tm_sec = s;
	t.tm_isdst = -1;
	return mktime(&t);
}

time_t tree_mtime(const struct node *n)
{
	const struct attrset *a = &n->attrs;
	time_t t = 0;

	if (n->kind == NODE_INSTANCE)
		t = dicom_time(attrset_get(a, TAG_ContentDate), attrset_get(a, TAG_ContentTime));
	if (!t && (n->kind == NODE_INSTANCE || n->kind == NODE_SERIES))
		t = dicom_time(attrset_get(a, TAG_SeriesDate), attrset_get(a, TAG_SeriesTime));
	if (!t)
		t = dicom_time(attrset_get(a, TAG_StudyDate), attrset_get(a, TAG_StudyTime));
	return t;
}

uint64_t tree_estimated_size(const struct node *n)
{
	const struct attrset *a = &n->attrs;
	uint64_t rows = strtoull(attrset_str(a, TAG_Rows), NULL, 10);
	uint64_t cols = strtoull(attrset_str(a, TAG_Columns), NULL, 10);
	uint64_t bits = strtoull(attrset_str(a, TAG_BitsAllocated), NULL, 10);
	uint64_t spp = strtoull(attrset_str(a, TAG_SamplesPerPixel), NULL, 10);
	uint64_t frames = strtoull(attrset_str(a, TAG_NumberOfFrames), NULL, 10);

	/* Pixel data plus a typical header: a guess for ls -l until the file is opened. */
	if (!spp)
		spp = 1;
	if (!frames)
		frames = 1;
	if (rows > 65535 || cols > 65535 || bits > 64 || spp > 4 || frames > 1000000)
		return 4096;
	return rows * cols * ((bits + 7) / 8) * spp * frames + 4096;
}
