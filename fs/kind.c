/* The table of node kinds and the dispatch through it. The folders of fixed children, the root
 * and /.trolley, are this file's: each lists the kinds whose entries name it as their parent,
 * so a new top-level folder or control file is its own entry only. */
#include "fs/kind.h"

#include <errno.h>
#include <stdio.h>

#include "fs/view.h"

/* clang-format off */
static const struct kind_ops *const kinds[] = {
	[NODE_ROOT] = &kind_root,
	[NODE_PATIENTS] = &kind_patients,
	[NODE_PATIENT] = &kind_patient,
	[NODE_STUDIES] = &kind_studies,
	[NODE_STUDY] = &kind_study,
	[NODE_SERIES] = &kind_series,
	[NODE_INSTANCE] = &kind_instance,
	[NODE_DATES] = &kind_dates,
	[NODE_DATE] = &kind_date,
	[NODE_SEARCHES] = &kind_searches,
	[NODE_SEARCH] = &kind_search,
	[NODE_METADATA] = &kind_metadata,
	[NODE_CONTROL] = &kind_control,
	[NODE_STATUS] = &kind_status,
	[NODE_MEDIA] = &kind_media,
	[NODE_FILESET] = &kind_fileset,
	[NODE_DICOMDIR] = &kind_dicomdir,
	[NODE_ERRORS] = &kind_errors,
};
/* clang-format on */

_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == NODE_KINDS,
	       "every node kind has an entry in the table");

static int kind_list_fixed(struct tree *t, const struct node *dir, struct listing **out,
			   struct errors_detail *why);

const struct kind_ops kind_root = {
	.name = "root",
	.list = kind_list_fixed,
};

const struct kind_ops kind_control = {
	.name = "control",
	.parent = NODE_ROOT,
	.fixed_name = ".trolley",
	.list = kind_list_fixed,
};

const struct kind_ops *kind_of(enum node_kind k)
{
	return (unsigned)k < NODE_KINDS ? kinds[k] : NULL;
}

bool kind_is_dir(const struct node *n)
{
	return kind_of(n->kind)->list != NULL;
}

int kind_list(struct tree *t, const struct node *dir, struct listing **out,
	      struct errors_detail *why)
{
	const struct kind_ops *k = kind_of(dir->kind);

	return k->list ? k->list(t, dir, out, why) : -ENOTDIR;
}

bool kind_has_lookup(const struct node *dir)
{
	return kind_of(dir->kind)->lookup != NULL;
}

int kind_lookup(struct tree *t, const struct node *dir, const char *name, struct node *out,
		struct listing **listed, struct errors_detail *why)
{
	const struct kind_ops *k = kind_of(dir->kind);

	*listed = NULL;
	return k->lookup ? k->lookup(t, dir, name, out, listed, why) : -ENOENT;
}

/* The listing of a folder whose children are fixed: the kinds whose entry names @dir's kind as
 * their parent (less those the view hides when it is active). */
static int kind_list_fixed(struct tree *t, const struct node *dir, struct listing **out,
			   struct errors_detail *why)
{
	struct listing *l = listing_new(NODE_KINDS);

	(void)t;
	(void)why;
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < NODE_KINDS; i++) {
		const struct kind_ops *k = kinds[i];

		if (!k->fixed_name || k->parent != dir->kind)
			continue;
		/* The view has no /dates: a folder named by a real day, whose studies it would
		 * show, ties pseudonyms to days. */
		if (view_active() && k->view_hides)
			continue;
		snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", k->fixed_name);
		node_init(&l->v[l->n].node, (enum node_kind)i);
		l->v[l->n].node.by_uid = k->by_uid;
		l->n++;
	}
	listing_sort(l);
	*out = l;
	return 0;
}
