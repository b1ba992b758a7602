/* Nodes and listings: plain objects, no I/O. A listing is shared between the inode table, open
 * folders and lookups, so it is counted; its entries are kept sorted for a binary search. */
#include "fs/node.h"

#include <stdlib.h>
#include <string.h>

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

struct listing *listing_new(size_t cap)
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

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct listing_entry *)a)->name,
		      ((const struct listing_entry *)b)->name);
}

void listing_sort(struct listing *l)
{
	qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
}

const struct listing_entry *listing_find(const struct listing *l, const char *name)
{
	struct listing_entry key;

	if (strlen(name) >= sizeof(key.name))
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_entry);
}
