/* Lookup without a listing: which child of /patients or /studies a name looked up by its path
 * is, when no fresh listing of the folder is at hand (a PACS may be too big to list). The
 * answer is always the entry the folder's listing names so, whatever the name: fs/names.c
 * computes the names here as for the listing. /patients and /studies are this file's entries of
 * fs/kind.h. Called on FUSE worker threads; no state. */
#include "fs/lookup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tags.h"
#include "fs/kind.h"
#include "fs/layout.h"
#include "fs/names.h"
#include "fs/view.h"

/* A name depends on the entry and, through the clash suffixes, on its siblings; a targeted query
 * sees only some of them. So a query only finds candidates: the answer is the candidate whose
 * name, computed by fs/names.c as the listing computes it, is the name looked up. Among the
 * candidates of one query that is exact; a candidate whose clash partner the query did not
 * return is recognised by its suffix (names_match_round()). Where no query can find the
 * candidates (a made-up "unnamed", a cut name, an entry whose UID is not one), the whole folder
 * is listed, as readdir would. */
struct pick {
	enum names_kind nk;
	const struct names_format *fmt; /* how the folder names its children (borrowed) */
	const char *name;
	struct node found;	   /* the best candidate by suffix round so far */
	char *key;		   /* its identity (a candidate found twice is one) */
	struct errors_detail *why; /* the lookup's caller's: what failed */
	int round, ties;	   /* its round (INT_MAX: none yet); how many share it */
	bool exact;		   /* found by its name among the siblings of its own query */
};

static void pick_init(struct pick *p, const struct tree *t, const struct node *dir,
		      const char *name, struct errors_detail *why)
{
	memset(p, 0, sizeof(*p));
	p->why = why;
	p->nk = tree_child_names(t, dir, &p->fmt);
	p->name = name;
	p->round = INT_MAX;
}

static void pick_release(struct pick *p)
{
	if (p->key)
		node_release(&p->found);
	free(p->key);
}

/* Take @e as the answer (@exact), or as a candidate of suffix round @round. */
static int pick_take(struct pick *p, const struct listing_entry *e, int round, bool exact)
{
	char *key = names_key(p->nk, &e->node.attrs);

	if (!key)
		return -ENOMEM;
	if (!exact && p->key && strcmp(key, p->key) == 0) {
		free(key);
		return 0; /* the same entry through another query */
	}
	if (!exact && round > p->round) {
		free(key);
		return 0;
	}
	if (!exact && round == p->round) {
		p->ties++;
		free(key);
		return 0;
	}
	pick_release(p);
	p->key = key;
	p->round = round;
	p->ties = 1;
	p->exact = exact;
	return node_copy(&p->found, &e->node) < 0 ? -ENOMEM : 0;
}

/* Weigh the children @l (named among themselves) of a lookup of p->name. */
static int pick_from(struct pick *p, const struct listing *l)
{
	const struct listing_entry *e = listing_find(l, p->name);
	int err = 0;

	if (e && e->node.kind != NODE_METADATA)
		return pick_take(p, e, 0, true);
	/* The view's names are made from de-identified attributes: the entry's own attributes
	 * (the archive's) would recognise its original name. Its listings are whole folders,
	 * where the exact name is all there is to find. */
	if (view_active())
		return 0;
	for (size_t i = 0; i < l->n && !err; i++) {
		int round = names_match_round(p->nk, p->fmt, &l->v[i].node.attrs, p->name);

		if (round >= 0)
			err = pick_take(p, &l->v[i], round, false);
	}
	return err;
}

/* The answer: a candidate that no other shares. @return 0 and @out, or -ENOENT. */
static int pick_result(struct pick *p, struct node *out)
{
	if (!p->key || p->ties != 1)
		return -ENOENT;
	*out = p->found;
	free(p->key);
	p->key = NULL;
	return 0;
}

/* Run @q and weigh its results as children of @dir. */
static int pick_query(struct tree *t, const struct node *dir, struct query *q, struct pick *p)
{
	struct attrset_list results;
	struct listing *l = NULL;
	int err;

	attrset_list_init(&results);
	err = cache_find(t->cache, q, &results, p->why);
	if (!err)
		err = tree_build_listing(t, dir, &results, false, &l);
	if (!err)
		err = pick_from(p, l);
	listing_put(l);
	attrset_list_release(&results);
	return err;
}

/* The whole folder, as readdir shows it, searched for p->name: handed to the caller to keep. */
static int pick_listing(struct tree *t, const struct node *dir, struct pick *p,
			struct listing **listed)
{
	struct listing *l;
	int err = tree_query_list(t, dir, &l, p->why);

	if (err)
		return err;
	err = pick_from(p, l);
	*listed = l;
	return err;
}

/* One PatientID or PatientName query for the candidates of a patient folder name. */
static int pick_patients(struct tree *t, const struct node *dir, uint32_t tag, const char *value,
			 struct pick *p)
{
	struct query q;
	int err;

	/* The same attributes as the listing asks for, or the names would differ. */
	err = cache_query_init(t->cache, &q, QUERY_STUDY, NULL, NULL);
	if (err)
		return err;
	err = attrset_set(&q.match, tag, tag == TAG_PatientID ? "LO" : "PN", value);
	if (!err)
		err = pick_query(t, dir, &q, p);
	query_release(&q);
	return err;
}

/* What the queries for one form of a name came to, besides an error: a named outcome. */
enum { FORM_ASKED = 0, FORM_NEEDS_LISTING = 1 };

#define PATIENT_ID_TRIES 4 /* "[" in a name or an ID: the last few splits are tried */

/*
 * The targeted queries for a patient folder named @shown (@stripped: a name without its clash
 * suffix): "<name> [<id>]" by PatientID for each split at " [" from the end, then as a
 * PatientName without ID. Stops at an exact answer. @return FORM_ASKED, FORM_NEEDS_LISTING when no query
 * can find the candidates (the caller lists the folder), or -errno.
 */
static int pick_patient_form(struct tree *t, const struct node *dir, const char *shown,
			     bool stripped, struct pick *p)
{
	char pattern[NAMES_BUF * 2], id[NAMES_BUF];
	size_t len = strlen(shown);
	int tries = 0, err = 0;

	/* "unnamed" may be a patient with neither name nor ID, which no query can match; a cut
	 * name (cut to NAMES_MAX less the suffix, less up to 3 bytes of a character) lost the end
	 * of its name or ID. */
	if (strcmp(shown, NAMES_UNNAMED) == 0 ||
	    (stripped && len >= NAMES_MAX - NAMES_SUFFIX_LEN - 3))
		return FORM_NEEDS_LISTING;
	if (len >= 3 && shown[len - 1] == ']') {
		for (size_t i = len - 1;
		     i-- > 0 && tries < PATIENT_ID_TRIES && !err && !p->exact;) {
			if (shown[i] != '[' || (i > 0 && shown[i - 1] != ' '))
				continue;
			tries++;
			snprintf(id, sizeof(id), "%.*s", (int)(len - i - 2), shown + i + 1);
			if (!id[0])
				continue;
			if (!names_query_pattern(id, true, pattern, sizeof(pattern)))
				return FORM_NEEDS_LISTING;
			err = pick_patients(t, dir, TAG_PatientID, pattern, p);
		}
	}
	if (err || p->exact)
		return err;
	/* The folder name lost trailing '^' and spaces of the stored value. */
	if (!names_query_pattern(shown, true, pattern, sizeof(pattern)))
		return FORM_NEEDS_LISTING;
	if (pattern[strlen(pattern) - 1] != '*')
		strcat(pattern, "*");
	return pick_patients(t, dir, TAG_PatientName, pattern, p);
}

/* The one field of a patient format that is a single plain PatientID or PatientName between
 * literal text, or NULL: only such a name can be turned back into a query. */
static const struct names_part *single_field(const struct names_format *f)
{
	const struct names_part *field = NULL;

	if (f->nitems != 1)
		return NULL;
	for (size_t i = 0; i < f->nparts; i++) {
		const struct names_part *p = &f->parts[i];

		if (!p->tag && p->item != 0)
			continue; /* the prefix or the suffix */
		if (!p->tag || field || p->mods ||
		    (p->tag != TAG_PatientID && p->tag != TAG_PatientName))
			return NULL;
		field = p;
	}
	return field;
}

/* The literal prefix or suffix (@item -1 or nitems) of @f. */
static void fixed_text(const struct names_format *f, int item, char *out, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < f->nparts; i++) {
		const struct names_part *p = &f->parts[i];

		if (p->item == item && !p->tag && o + p->len < n) {
			memcpy(out + o, f->text + p->off, p->len);
			o += p->len;
		}
	}
	out[o] = '\0';
}

/* A patient folder of a template that names it by one field (%PatientID, sub-%PatientID): that
 * field's query, made from the name between the literal text. As pick_patient_form(). */
static int pick_field_form(struct tree *t, const struct node *dir, const struct names_part *f,
			   const char *shown, bool stripped, struct pick *p)
{
	char prefix[NAMES_BUF], suffix[NAMES_BUF], value[NAMES_BUF], pattern[NAMES_BUF * 2];
	size_t len = strlen(shown), plen, slen;

	fixed_text(p->fmt, -1, prefix, sizeof(prefix));
	fixed_text(p->fmt, p->fmt->nitems, suffix, sizeof(suffix));
	plen = strlen(prefix);
	slen = strlen(suffix);
	if (stripped && len >= NAMES_MAX - NAMES_SUFFIX_LEN - 3)
		return FORM_NEEDS_LISTING;
	if (len < plen + slen || strncmp(shown, prefix, plen) != 0 ||
	    strcmp(shown + len - slen, suffix) != 0)
		return FORM_ASKED; /* no entry of this form has this name */
	snprintf(value, sizeof(value), "%.*s", (int)(len - plen - slen), shown + plen);
	if (strcmp(value, NAMES_UNNAMED) == 0 ||
	    !names_query_pattern(value, true, pattern, sizeof(pattern)))
		return FORM_NEEDS_LISTING;
	if (f->tag == TAG_PatientName && pattern[strlen(pattern) - 1] != '*')
		strcat(pattern, "*"); /* the folder name lost trailing '^' and spaces */
	return pick_patients(t, dir, f->tag, pattern, p);
}

/* The queries for a patient folder named @shown, by the patient format of the layout: the
 * tree's "<name> [<id>]", a single field, or none (the caller lists /patients). */
static int pick_form(struct tree *t, const struct node *dir, const char *shown, bool stripped,
		     struct pick *p)
{
	const struct layout *l = tree_layout(t);
	const struct names_part *f;

	if (l->builtin)
		return pick_patient_form(t, dir, shown, stripped, p);
	f = single_field(p->fmt);
	if (f)
		return pick_field_form(t, dir, f, shown, stripped, p);
	return FORM_NEEDS_LISTING;
}

int lookup_patient(struct tree *t, const struct node *dir, const char *name, struct node *out,
		   struct listing **listed, struct errors_detail *why)
{
	char base[NAMES_BUF];
	struct pick p;
	int err = FORM_ASKED;

	/* No listing can show a name that breaks a rule: no query for it. */
	if (!names_is_valid(name))
		return -ENOENT;
	pick_init(&p, t, dir, name, why);
	/* Without a patient level, /patients holds studies, which no query can find by such a
	 * name, and a last-resort name is a place among siblings: the folder is listed. */
	if (p.nk != NAMES_PATIENT || names_is_last_resort(name))
		err = FORM_NEEDS_LISTING;
	/* A pseudonym is a one-way function of the patient: no query can find it, only a
	 * listing of /patients that names each patient so. */
	if (view_active())
		err = FORM_NEEDS_LISTING;
	/* A name with a clash suffix is found without it first (a clash is likelier than a
	 * patient named so), then as it is. */
	if (err == FORM_ASKED && names_strip_suffix(name, base))
		err = pick_form(t, dir, base, true, &p);
	if (err == FORM_ASKED && !p.exact)
		err = pick_form(t, dir, name, false, &p);
	if (err == FORM_NEEDS_LISTING) {
		pick_release(&p);
		pick_init(&p, t, dir, name, why);
		err = pick_listing(t, dir, &p, listed);
	}
	if (!err)
		err = pick_result(&p, out);
	pick_release(&p);
	return err;
}

int lookup_study(struct tree *t, const struct node *dir, const char *name, struct node *out,
		 struct listing **listed, struct errors_detail *why)
{
	struct query q;
	struct pick p;
	int err;

	if (!names_is_valid(name))
		return -ENOENT; /* as lookup_patient() */
	pick_init(&p, t, dir, name, why);
	if (view_active()) {
		/* A pseudonymised UID is an HMAC of the original: nothing to ask the archive
		 * for. /studies is listed (one study-level query, within max_results) and the
		 * name found among the UIDs mapped forward; an original UID names nothing. */
		err = pick_listing(t, dir, &p, listed);
	} else if (query_uid_is_valid(name)) {
		/* A UID is its own name: the query is exact. */
		err = cache_query_init(t->cache, &q, QUERY_STUDY, name, NULL);
		if (!err)
			err = pick_query(t, dir, &q, &p);
		query_release(&q);
	} else if (names_strip_suffix(name, NULL) || names_is_last_resort(name)) {
		/* A study whose UID is not one (shown with a suffix) can be found by no query, nor
		 * one named by its place among its siblings. */
		err = pick_listing(t, dir, &p, listed);
	} else {
		err = -ENOENT;
	}
	if (!err)
		err = pick_result(&p, out);
	pick_release(&p);
	return err;
}

const struct kind_ops kind_patients = {
	.name = "patients",
	.parent = NODE_ROOT,
	.fixed_name = "patients",
	.list = tree_query_list,
	.lookup = lookup_patient,
};

const struct kind_ops kind_studies = {
	.name = "studies",
	.parent = NODE_ROOT,
	.fixed_name = "studies",
	.by_uid = true,
	.list = tree_query_list,
	.lookup = lookup_study,
};
