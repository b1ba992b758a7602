/* The table of node kinds (fs/kind.c): every kind of the enum has an entry, each a folder (it
 * lists) or a file (it says its size and opens), never both; the fixed folders list the kinds
 * that name them as parent; dispatch reaches the entry. Fails when a kind is added without its
 * entry, or an entry lacks what its kind needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/tags.h"
#include "fs/kind.h"
#include "fs/tree.h"

static void test_every_kind_has_a_whole_entry(void **state)
{
	(void)state;
	for (int k = 0; k < NODE_KINDS; k++) {
		const struct kind_ops *o = kind_of((enum node_kind)k);

		assert_non_null(o);
		assert_non_null(o->name);
		if (o->list) {
			/* A folder: no size of its own, nothing to open. */
			assert_null(o->stat);
			assert_null(o->open);
			assert_false(o->size_of_open);
		} else {
			/* A file: its size and its open; no children. */
			assert_non_null(o->stat);
			assert_non_null(o->open);
			assert_null(o->lookup);
		}
		for (int j = 0; j < k; j++)
			assert_string_not_equal(o->name, kind_of((enum node_kind)j)->name);
		if (o->fixed_name) {
			/* Its parent is a folder, where no sibling has its name. */
			assert_non_null(kind_of(o->parent)->list);
			for (int j = 0; j < k; j++) {
				const struct kind_ops *p = kind_of((enum node_kind)j);

				if (p->fixed_name && p->parent == o->parent)
					assert_string_not_equal(o->fixed_name, p->fixed_name);
			}
		}
	}
	assert_null(kind_of(NODE_KINDS));
}

static void check_fixed(enum node_kind dir_kind, const char *const *names,
			const enum node_kind *kinds, size_t n)
{
	struct listing *l = NULL;
	struct node dir;

	node_init(&dir, dir_kind);
	assert_int_equal(kind_list(NULL, &dir, &l, NULL), 0);
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct listing_entry *e = listing_find(l, names[i]);

		assert_non_null(e);
		assert_int_equal(e->node.kind, kinds[i]);
		assert_int_equal(e->node.by_uid, kinds[i] == NODE_STUDIES);
	}
	for (size_t i = 1; i < l->n; i++)
		assert_true(strcmp(l->v[i - 1].name, l->v[i].name) < 0);
	listing_put(l);
	node_release(&dir);
}

/* The root and /.trolley list what they listed before the table. */
static void test_fixed_folders(void **state)
{
	static const char *const root[] = {"patients", "studies", "dates",
					   "search",   "media",	  ".trolley"};
	static const enum node_kind root_kinds[] = {NODE_PATIENTS, NODE_STUDIES, NODE_DATES,
						    NODE_SEARCHES, NODE_MEDIA,	 NODE_CONTROL};
	static const char *const control[] = {"status", "errors"};
	static const enum node_kind control_kinds[] = {NODE_STATUS, NODE_ERRORS};

	(void)state;
	check_fixed(NODE_ROOT, root, root_kinds, 6);
	check_fixed(NODE_CONTROL, control, control_kinds, 2);
}

/* Which folders are looked up by name before a listing, which are dirs, and where dispatch goes
 * for a kind that does not do it. */
static void test_dispatch(void **state)
{
	struct listing *l = NULL, *listed = (struct listing *)1;
	struct node n, out;

	(void)state;
	for (int k = 0; k < NODE_KINDS; k++) {
		bool want = k == NODE_PATIENTS || k == NODE_STUDIES || k == NODE_DATES ||
			    k == NODE_SEARCHES || k == NODE_MEDIA;
		bool file = k == NODE_INSTANCE || k == NODE_METADATA || k == NODE_STATUS ||
			    k == NODE_ERRORS || k == NODE_DICOMDIR;

		node_init(&n, (enum node_kind)k);
		assert_int_equal(kind_has_lookup(&n), want);
		assert_int_equal(kind_is_dir(&n), !file);
		node_release(&n);
	}
	node_init(&n, NODE_INSTANCE);
	assert_int_equal(kind_list(NULL, &n, &l, NULL), -ENOTDIR);
	assert_int_equal(kind_lookup(NULL, &n, "x", &out, &listed, NULL), -ENOENT);
	assert_null(listed);
	node_release(&n);
	/* /dates/<day>: a real day, by the entry of /dates. */
	node_init(&n, NODE_DATES);
	assert_int_equal(kind_lookup(NULL, &n, "2024-02-29", &out, &listed, NULL), 0);
	assert_null(listed);
	assert_int_equal(out.kind, NODE_DATE);
	assert_string_equal(attrset_str(&out.attrs, TAG_StudyDate), "20240229");
	node_release(&out);
	assert_int_equal(kind_lookup(NULL, &n, "2024-13-01", &out, &listed, NULL), -ENOENT);
	node_release(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_has_a_whole_entry),
		cmocka_unit_test(test_fixed_folders),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
