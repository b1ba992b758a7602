/* Each folder kind maps to one query: /patients and /studies to a study-level query, a patient to
 * the studies with its PatientID, a study to its series, a series to its instances. Children are
 * named by fs/names.c and kept sorted, so lookups after a listing are a binary search. */
#include "fs/tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tags.h"
#include "fs/search.h"

void node_init(struct node *n, enum node_kind kind)
{
	n->kind = kind;
	n->by_uid = false;
	attrset_init(&n->attrs);
}

void node_release(struct node *n)
{
	if (n)
		attrset_release(&n->attrs);
}

int node_copy(struct node *dst, const struct node *src)
{
	node_init(dst, src->kind);
	dst->by_uid = src->by_uid;
	return attrset_copy(&dst->attrs, &src->attrs);
}

bool node_is_dir(const struct node *n)
{
	return n->kind != NODE_INSTANCE && n->kind != NODE_STATUS && n->kind != NODE_METADATA;
}

bool node_is_control(const struct node *n)
{
	return n->kind == NODE_CONTROL || n->kind == NODE_STATUS;
}

void listing_get(struct listing *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_SEQ_CST);
}

void listing_put(struct listing *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		node_release(&l->v[i].node);
	free(l->v);
	free(l);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct listing_entry *)a)->name,
		      ((const struct listing_entry *)b)->name);
}

const struct listing_entry *listing_find(const struct listing *l, const char *name)
{
	struct listing_entry key;

	if (strlen(name) >= sizeof(key.name))
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_entry);
}

/* The child kind of a folder kind, and what names its children. */
static enum node_kind child_kind(const struct tree *t, enum node_kind k)
{
	switch (k) {
	case NODE_PATIENTS:
		return NODE_PATIENT;
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
		return t->flat ? NODE_INSTANCE : NODE_SERIES;
	default:
		return NODE_INSTANCE;
	}
}

/* The identity of a child: what the clash suffix is made from, and what duplicates share. */
static void child_key(const struct node *child, char *out, size_t n)
{
	switch (child->kind) {
	case NODE_PATIENT:
		names_patient_key(&child->attrs, out, n);
		break;
	case NODE_STUDY:
		snprintf(out, n, "%s", attrset_str(&child->attrs, TAG_StudyInstanceUID));
		break;
	case NODE_SERIES:
		snprintf(out, n, "%s", attrset_str(&child->attrs, TAG_SeriesInstanceUID));
		break;
	default:
		snprintf(out, n, "%s", attrset_str(&child->attrs, TAG_SOPInstanceUID));
		break;
	}
}

static void child_base_name(const struct node *dir, const struct node *child, char *out, size_t n)
{
	if (child->by_uid) {
		char key[NAMES_BUF];

		child_key(child, key, sizeof(key));
		names_clean(key, out, n);
		if (child->kind == NODE_INSTANCE)
			strncat(out, ".dcm", n - strlen(out) - 1);
		return;
	}
	switch (child->kind) {
	case NODE_PATIENT:
		names_patient(&child->attrs, out, n);
		break;
	case NODE_STUDY:
		names_study(&child->attrs, out, n);
		break;
	case NODE_SERIES:
		names_series(&child->attrs, out, n);
		break;
	default:
		if (dir->kind == NODE_STUDY)
			names_flat_instance(&child->attrs, out, n);
		else
			names_instance(&child->attrs, out, n);
		break;
	}
}

/*
 * A PatientName pattern that finds @name on any archive: every run of characters that a
 * folder name may have changed ('/' became '_'), that are wildcards, or that a server may
 * not match as sent (spaces, non-ASCII: Orthanc 1.10 neither percent-decodes QIDO values nor
 * matches non-ASCII letters) becomes '*'. It may match more; results are filtered exactly.
 */
static void name_pattern(const char *name, char *out, size_t n)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)name; *p && o + 2 < n; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '^' || *p == '-' || *p == '.';

		if (plain)
			out[o++] = (char)*p;
		else if (o == 0 || out[o - 1] != '*')
			out[o++] = '*';
	}
	out[o] = '\0';
}

/* The query that lists @dir, or -EINVAL for a kind with fixed children. */
static int dir_query(const struct tree *t, const struct node *dir, struct query *q)
{
	const struct attrset *a = &dir->attrs;
	int err = 0;

	switch (dir->kind) {
	case NODE_PATIENTS:
	case NODE_STUDIES:
		query_init(q, QUERY_STUDY);
		break;
	case NODE_PATIENT:
		query_init(q, QUERY_STUDY);
		if (attrset_str(a, TAG_PatientID)[0])
			err = attrset_set(&q->match, TAG_PatientID, "LO",
					  attrset_str(a, TAG_PatientID));
		else {
			char pattern[NAMES_BUF * 2];

			name_pattern(attrset_str(a, TAG_PatientName), pattern, sizeof(pattern));
			err = attrset_set(&q->match, TAG_PatientName, "PN", pattern);
		}
		break;
	case NODE_DATE:
		query_init(q, QUERY_STUDY);
		err = attrset_set(&q->match, TAG_StudyDate, "DA", attrset_str(a, TAG_StudyDate));
		break;
	case NODE_SEARCH: {
		char why[256];

		/* The name was checked at lookup: a failure here is memory. */
		err = search_parse(attrset_str(a, TREE_TAG_QUERY), q, why, sizeof(why));
		if (err)
			return err == -EINVAL ? -EIO : err;
		break;
	}
	case NODE_STUDY:
		query_init(q, t->flat ? QUERY_INSTANCE : QUERY_SERIES);
		err = attrset_set(&q->match, TAG_StudyInstanceUID, "UI",
				  attrset_str(a, TAG_StudyInstanceUID));
		break;
	case NODE_SERIES:
		query_init(q, QUERY_INSTANCE);
		err = attrset_set(&q->match, TAG_StudyInstanceUID, "UI",
				  attrset_str(a, TAG_StudyInstanceUID));
		if (!err)
			err = attrset_set(&q->match, TAG_SeriesInstanceUID, "UI",
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
	return 0;
}

/* Whether a result belongs in @dir (a patient folder shows only its own patient's studies: a
 * PatientID query also matches another patient with the same ID and a different name). */
static bool result_belongs(const struct node *dir, const struct attrset *r)
{
	char want[NAMES_BUF * 2], got[NAMES_BUF * 2];

	if (dir->kind != NODE_PATIENT)
		return true;
	names_patient_key(&dir->attrs, want, sizeof(want));
	names_patient_key(r, got, sizeof(got));
	return strcmp(want, got) == 0;
}

/* Study and series folders also hold metadata.json, the folder's attributes as the archive
 * gives them (WADO-RS metadata): a child that would take its name gets the clash suffix. */
static int add_metadata_entry(const struct node *dir, struct listing *l, size_t n)
{
	struct listing_entry *e = &l->v[n];

	for (size_t i = 0; i < n; i++) {
		char key[NAMES_BUF * 2];

		if (strcmp(l->v[i].name, TREE_METADATA_NAME) != 0)
			continue;
		child_key(&l->v[i].node, key, sizeof(key));
		names_add_suffix(l->v[i].name, key);
	}
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
	return 0;
}

/* Turn query results into named, unique, sorted children of @dir. */
static int build_listing(struct tree *t, const struct node *dir, struct attrset_list *results,
			 struct listing **out)
{
	enum node_kind kind = child_kind(t, dir->kind);
	struct listing *l;
	char(*names)[NAMES_BUF] = NULL;
	char **keys = NULL;
	size_t n = 0;
	int err = -ENOMEM;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->refs = 1;
	l->made = time(NULL);
	l->v = calloc(results->n + 1, sizeof(*l->v));
	keys = calloc(results->n + 1, sizeof(*keys)); /* +1: metadata.json has none */
	if (!l->v || !keys)
		goto out_fail;
	for (size_t i = 0; i < results->n; i++) {
		struct listing_entry *e = &l->v[n];
		char key[NAMES_BUF * 2];
		bool dup = false;

		if (!result_belongs(dir, &results->v[i]))
			continue;
		node_init(&e->node, kind);
		e->node.by_uid = dir->by_uid;
		/* Series and instances keep their parents' attributes too (for UIDs and dates);
		 * a study result already carries its patient's. */
		e->node.attrs = results->v[i];
		attrset_init(&results->v[i]);
		if ((dir->kind == NODE_STUDY || dir->kind == NODE_SERIES) &&
		    attrset_merge(&e->node.attrs, &dir->attrs) < 0) {
			node_release(&e->node);
			goto out_fail;
		}
		child_key(&e->node, key, sizeof(key));
		/* A patient appears once per study; a server may repeat a result: keep one. */
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(keys[j], key) == 0;
		if (dup) {
			node_release(&e->node);
			continue;
		}
		if (kind == NODE_PATIENT) {
			/* A patient folder is identified by the patient alone, not the first study. */
			struct attrset p;

			attrset_init(&p);
			if (attrset_set(&p, TAG_PatientName, "PN",
					attrset_str(&e->node.attrs, TAG_PatientName)) < 0 ||
			    attrset_set(&p, TAG_PatientID, "LO",
					attrset_str(&e->node.attrs, TAG_PatientID)) < 0) {
				attrset_release(&p);
				node_release(&e->node);
				goto out_fail;
			}
			attrset_release(&e->node.attrs);
			e->node.attrs = p;
		}
		keys[n] = strdup(key);
		if (!keys[n]) {
			node_release(&e->node);
			goto out_fail;
		}
		n++;
	}
	l->n = n;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		goto out_fail;
	for (size_t i = 0; i < n; i++)
		child_base_name(dir, &l->v[i].node, names[i], sizeof(names[i]));
	names_make_unique(names, (const char *const *)keys, n);
	for (size_t i = 0; i < n; i++)
		memcpy(l->v[i].name, names[i], sizeof(names[i]));
	if ((dir->kind == NODE_STUDY || dir->kind == NODE_SERIES) && cache_has_metadata(t->cache)) {
		if (add_metadata_entry(dir, l, n) < 0)
			goto out_fail;
		n++;
		l->n = n;
	}
	qsort(l->v, n, sizeof(*l->v), cmp_entry);
	err = 0;
	*out = l;
	l = NULL;
out_fail:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	if (l) {
		l->n = n;
		listing_put(l);
	}
	free(keys);
	free(names);
	return err;
}

/* Folders whose children are fixed: the root and /.trolley. */
struct fixed_child {
	enum node_kind parent, kind;
	const char *name;
};

/* clang-format off */
static const struct fixed_child fixed_children[] = {
	{NODE_ROOT, NODE_PATIENTS, "patients"},
	{NODE_ROOT, NODE_STUDIES, "studies"},
	{NODE_ROOT, NODE_DATES, "dates"},
	{NODE_ROOT, NODE_SEARCHES, "search"},
	{NODE_ROOT, NODE_CONTROL, ".trolley"},
	{NODE_CONTROL, NODE_STATUS, "status"},
};
/* clang-format on */

static int fixed_listing(enum node_kind parent, struct listing **out)
{
	size_t n = 0, all = sizeof(fixed_children) / sizeof(fixed_children[0]);
	struct listing *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->v = calloc(all, sizeof(*l->v));
	if (!l->v) {
		free(l);
		return -ENOMEM;
	}
	l->refs = 1;
	l->made = time(NULL);
	for (size_t i = 0; i < all; i++) {
		const struct fixed_child *f = &fixed_children[i];

		if (f->parent != parent)
			continue;
		snprintf(l->v[n].name, sizeof(l->v[n].name), "%s", f->name);
		node_init(&l->v[n].node, f->kind);
		l->v[n].node.by_uid = f->kind == NODE_STUDIES;
		n++;
	}
	l->n = n;
	qsort(l->v, n, sizeof(*l->v), cmp_entry);
	*out = l;
	return 0;
}

static struct listing *listing_new(size_t cap)
{
	struct listing *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->v = calloc(cap ? cap : 1, sizeof(*l->v));
	if (!l->v) {
		free(l);
		return NULL;
	}
	l->refs = 1;
	l->made = time(NULL);
	return l;
}

/* /search has no listing of its own: each search is a name looked up. */
static int empty_listing(struct listing **out)
{
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
static int recent_days_listing(struct listing **out)
{
	struct listing *l = listing_new(TREE_RECENT_DAYS);
	time_t now = time(NULL);

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
	qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
	*out = l;
	return 0;
}

int tree_list(struct tree *t, const struct node *dir, struct listing **out)
{
	struct attrset_list results;
	struct query q;
	int err;

	if (dir->kind == NODE_ROOT || dir->kind == NODE_CONTROL)
		return fixed_listing(dir->kind, out);
	if (dir->kind == NODE_DATES)
		return recent_days_listing(out);
	if (dir->kind == NODE_SEARCHES)
		return empty_listing(out);
	err = dir_query(t, dir, &q);
	if (err)
		return err == -EINVAL ? -ENOTDIR : err;
	attrset_list_init(&results);
	err = cache_find(t->cache, &q, &results);
	if (!err && t->max_results > 0 && q.limit == t->max_results &&
	    (dir->kind == NODE_PATIENTS || dir->kind == NODE_STUDIES) &&
	    (long)results.n >= q.limit) {
		log_warn("listing cut at max_results=%ld %s results: look up by name or search",
			 q.limit, query_level_name(q.level));
		cache_note_incomplete(t->cache, dir->kind == NODE_PATIENTS
							? "/patients cut at max_results"
							: "/studies cut at max_results");
	}
	if (!err)
		err = build_listing(t, dir, &results, out);
	attrset_list_release(&results);
	query_release(&q);
	return err;
}

bool tree_has_direct_lookup(const struct node *dir)
{
	return dir->kind == NODE_PATIENTS || dir->kind == NODE_STUDIES || dir->kind == NODE_DATES ||
	       dir->kind == NODE_SEARCHES;
}

static int search_node(struct tree *t, const char *name, struct node *out)
{
	char why[256] = "";
	struct query q;
	int err;

	err = search_parse(name, &q, why, sizeof(why));
	if (!err)
		err = cache_check_query(t->cache, &q, why, sizeof(why));
	query_release(&q);
	if (err == -EINVAL)
		log_error("search \"%s\": %s", name, why);
	if (err)
		return err;
	node_init(out, NODE_SEARCH);
	return attrset_set(&out->attrs, TREE_TAG_QUERY, "", name) < 0 ? -ENOMEM : 0;
}

/* "<name> [<id>]" possibly followed by a clash suffix: the PatientID, or "" if none. */
static void parse_patient_id(const char *name, char *id, size_t n)
{
	const char *open = strrchr(name, '[');
	const char *close = open ? strchr(open, ']') : NULL;

	id[0] = '\0';
	if (!open || !close)
		return;
	if (close[1] != '\0' && strncmp(close + 1, " ~", 2) != 0)
		return;
	snprintf(id, n, "%.*s", (int)(close - open - 1), open + 1);
}

/* The listing of a targeted query, searched for @name as a clashing or plain name. */
static int find_in_results(struct tree *t, const struct node *dir, struct query *q,
			   const char *name, struct node *out)
{
	struct attrset_list results;
	struct listing *l = NULL;
	int err;

	attrset_list_init(&results);
	err = cache_find(t->cache, q, &results);
	if (err)
		goto out;
	err = build_listing(t, dir, &results, &l);
	if (err)
		goto out;
	err = -ENOENT;
	for (size_t i = 0; i < l->n; i++) {
		char plain[NAMES_BUF], key[NAMES_BUF * 2];

		/* The subset may lack the clash partner that gave a name its suffix: accept both
		 * forms, each only for the entry it belongs to. */
		child_base_name(dir, &l->v[i].node, plain, sizeof(plain));
		child_key(&l->v[i].node, key, sizeof(key));
		if (strcmp(plain, name) != 0) {
			names_add_suffix(plain, key);
			if (strcmp(plain, name) != 0)
				continue;
		}
		err = node_copy(out, &l->v[i].node);
		break;
	}
out:
	listing_put(l);
	attrset_list_release(&results);
	return err;
}

int tree_lookup_direct(struct tree *t, const struct node *dir, const char *name, struct node *out)
{
	char id[NAMES_BUF], pattern[NAMES_BUF];
	struct query q;
	int err;

	if (dir->kind == NODE_STUDIES) {
		if (!query_uid_is_valid(name))
			return -ENOENT;
		query_init(&q, QUERY_STUDY);
		err = attrset_set(&q.match, TAG_StudyInstanceUID, "UI", name);
		if (!err)
			err = find_in_results(t, dir, &q, name, out);
		query_release(&q);
		return err;
	}
	if (dir->kind == NODE_DATES)
		return date_node(name, out);
	if (dir->kind == NODE_SEARCHES)
		return search_node(t, name, out);
	if (dir->kind != NODE_PATIENTS)
		return -ENOENT;
	parse_patient_id(name, id, sizeof(id));
	query_init(&q, QUERY_STUDY);
	if (id[0]) {
		/* '*' and '?' in an ID would be wildcards: such a name is looked up by listing. */
		if (strpbrk(id, "*?\\"))
			err = -ENOENT;
		else
			err = attrset_set(&q.match, TAG_PatientID, "LO", id);
	} else {
		/* No ID: match the name; the results are checked against it exactly. */
		name_pattern(name, pattern, sizeof(pattern));
		/* The folder name lost trailing '^' and spaces of the stored value. */
		if (pattern[0] && pattern[strlen(pattern) - 1] != '*')
			strcat(pattern, "*");
		err = attrset_set(&q.match, TAG_PatientName, "PN", pattern);
	}
	if (!err)
		err = find_in_results(t, dir, &q, name, out);
	query_release(&q);
	return err;
}

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
