/* Two hash tables over one set of entries: by inode number (every operation) and by parent and
 * name (lookup), so a name seen again gets the same number while the kernel remembers it. One
 * lock, held only for table work: never across a query or a download. */
#include "fs/inodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

struct inode {
	uint64_t ino, parent;
	char *name;
	struct node node;
	uint64_t nlookup;
	struct listing *listing;
	struct listing *from; /* the listing the node was copied from (a reference), or NULL */
	struct inode *next_ino, *next_name;
};

struct inodes {
	pthread_mutex_t lock;
	struct inode **by_ino, **by_name;
	size_t nbuckets, count;
	uint64_t next_ino;
};

static uint64_t name_hash(uint64_t parent, const char *name)
{
	return hash_fnv64_str(HASH_FNV64_INIT ^ parent, name);
}

static void link_inode(struct inodes *t, struct inode *e)
{
	size_t bi = e->ino % t->nbuckets, bn = name_hash(e->parent, e->name) % t->nbuckets;

	e->next_ino = t->by_ino[bi];
	t->by_ino[bi] = e;
	e->next_name = t->by_name[bn];
	t->by_name[bn] = e;
}

static int grow(struct inodes *t)
{
	size_t old_n = t->nbuckets, n = old_n * 2;
	struct inode **bi = calloc(n, sizeof(*bi)), **bn = calloc(n, sizeof(*bn));
	struct inode **old_ino = t->by_ino;

	if (!bi || !bn) {
		free(bi);
		free(bn);
		return -ENOMEM;
	}
	free(t->by_name);
	t->by_ino = bi;
	t->by_name = bn;
	t->nbuckets = n;
	for (size_t i = 0; i < old_n; i++) {
		struct inode *e = old_ino[i], *next;

		for (; e; e = next) {
			next = e->next_ino;
			link_inode(t, e);
		}
	}
	free(old_ino);
	return 0;
}

static struct inode *find_ino(struct inodes *t, uint64_t ino)
{
	struct inode *e = t->by_ino[ino % t->nbuckets];

	while (e && e->ino != ino)
		e = e->next_ino;
	return e;
}

int inodes_new(struct inodes **out)
{
	struct inodes *t = calloc(1, sizeof(*t));
	struct inode *root;

	if (!t)
		return -ENOMEM;
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_name = calloc(t->nbuckets, sizeof(*t->by_name));
	root = calloc(1, sizeof(*root));
	if (!t->by_ino || !t->by_name || !root || !(root->name = strdup(""))) {
		free(root);
		free(t->by_ino);
		free(t->by_name);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	root->ino = INODES_ROOT;
	root->nlookup = 1; /* the root is never forgotten */
	node_init(&root->node, NODE_ROOT);
	link_inode(t, root);
	t->count = 1;
	t->next_ino = INODES_ROOT + 1;
	*out = t;
	return 0;
}

static void free_inode(struct inode *e)
{
	node_release(&e->node);
	listing_put(e->listing);
	listing_put(e->from);
	free(e->name);
	free(e);
}

void inodes_free(struct inodes *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct inode *e = t->by_ino[i], *next;

		for (; e; e = next) {
			next = e->next_ino;
			free_inode(e);
		}
	}
	free(t->by_ino);
	free(t->by_name);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct inode *find_name(struct inodes *t, uint64_t parent, const char *name)
{
	struct inode *e;

	for (e = t->by_name[name_hash(parent, name) % t->nbuckets]; e; e = e->next_name)
		if (e->parent == parent && strcmp(e->name, name) == 0)
			break;
	return e;
}

/* Record where the node came from: the same listing again means the same attributes. */
static void set_from(struct inode *e, struct listing *from)
{
	if (from)
		listing_get(from);
	listing_put(e->from);
	e->from = from;
}

int inodes_add(struct inodes *t, uint64_t parent, const char *name, const struct node *node,
	       struct listing *from, uint64_t *ino)
{
	struct inode *e;
	struct node copy;
	int err;

	/* `ls -l` of a big folder looks every entry up again from the same listing: no copy. */
	pthread_mutex_lock(&t->lock);
	e = find_name(t, parent, name);
	if (e && from && e->from == from) {
		e->nlookup++;
		*ino = e->ino;
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	pthread_mutex_unlock(&t->lock);
	err = node_copy(&copy, node);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	e = find_name(t, parent, name);
	if (e) {
		/* Same name again: keep the number, take the newer attributes. */
		node_release(&e->node);
		e->node = copy;
		set_from(e, from);
		e->nlookup++;
		*ino = e->ino;
		goto out_unlock;
	}
	if (t->count >= t->nbuckets * 2)
		grow(t); /* a failure only makes chains longer */
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		node_release(&copy);
		err = -ENOMEM;
		goto out_unlock;
	}
	e->ino = t->next_ino++;
	e->parent = parent;
	e->node = copy;
	set_from(e, from);
	e->nlookup = 1;
	link_inode(t, e);
	t->count++;
	*ino = e->ino;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	return err;
}

int inodes_with(struct inodes *t, uint64_t ino, int (*fn)(const struct node *n, void *ctx),
		void *ctx)
{
	struct inode *e;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e)
		err = fn(&e->node, ctx);
	pthread_mutex_unlock(&t->lock);
	return err;
}

int inodes_get(struct inodes *t, uint64_t ino, struct node *out)
{
	struct inode *e;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e)
		err = node_copy(out, &e->node);
	pthread_mutex_unlock(&t->lock);
	return err;
}

static void unlink_inode(struct inodes *t, struct inode *e)
{
	struct inode **pp;

	for (pp = &t->by_ino[e->ino % t->nbuckets]; *pp; pp = &(*pp)->next_ino) {
		if (*pp == e) {
			*pp = e->next_ino;
			break;
		}
	}
	for (pp = &t->by_name[name_hash(e->parent, e->name) % t->nbuckets]; *pp;
	     pp = &(*pp)->next_name) {
		if (*pp == e) {
			*pp = e->next_name;
			break;
		}
	}
	t->count--;
}

void inodes_forget(struct inodes *t, uint64_t ino, uint64_t n)
{
	struct inode *e;

	if (ino == INODES_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e) {
		e->nlookup = e->nlookup > n ? e->nlookup - n : 0;
		if (e->nlookup == 0) {
			unlink_inode(t, e);
			free_inode(e);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

struct listing *inodes_listing(struct inodes *t, uint64_t ino, time_t max_age)
{
	struct listing *l = NULL;
	struct inode *e;
	time_t now = time(NULL);

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e && e->listing && now - e->listing->made < max_age && now >= e->listing->made) {
		l = e->listing;
		listing_get(l);
	}
	pthread_mutex_unlock(&t->lock);
	return l;
}

uint64_t inodes_parent(struct inodes *t, uint64_t ino)
{
	uint64_t parent = 0;
	struct inode *e;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e)
		parent = e->parent;
	pthread_mutex_unlock(&t->lock);
	return parent;
}

struct listing *inodes_parent_listing(struct inodes *t, uint64_t ino, time_t max_age)
{
	uint64_t parent = inodes_parent(t, ino);

	return parent ? inodes_listing(t, parent, max_age) : NULL;
}

void inodes_set_listing(struct inodes *t, uint64_t ino, struct listing *l)
{
	struct listing *old = NULL;
	struct inode *e;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino);
	if (e) {
		old = e->listing;
		listing_get(l);
		e->listing = l;
	}
	pthread_mutex_unlock(&t->lock);
	listing_put(old);
}

uint64_t inodes_count(struct inodes *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int inodes_path(struct inodes *t, uint64_t ino, char *out, size_t n)
{
	/* Built from the end: each name goes in front of what is there. */
	size_t at = n - 1;
	struct inode *e;
	int err = 0;

	if (n < 2)
		return -ENAMETOOLONG;
	out[at] = '\0';
	pthread_mutex_lock(&t->lock);
	for (e = find_ino(t, ino); e && e->ino != INODES_ROOT; e = find_ino(t, e->parent)) {
		size_t len = strlen(e->name);

		if (len + 1 > at) {
			err = -ENAMETOOLONG;
			break;
		}
		at -= len;
		memcpy(out + at, e->name, len);
		out[--at] = '/';
	}
	if (!e && !err)
		err = -ENOENT;
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	if (at == n - 1)
		out[--at] = '/'; /* the root */
	memmove(out, out + at, n - at);
	return 0;
}

size_t inodes_drop_listings(struct inodes *t, uint64_t ino, void (*fn)(uint64_t ino, void *ctx),
			    void *ctx)
{
	struct listing **dropped;
	uint64_t *inos;
	size_t n = 0, cap;

	/* Collected under the lock, handed to @fn and freed after it: @fn may notify the kernel,
	 * which may call back into the table. */
	pthread_mutex_lock(&t->lock);
	cap = ino ? 1 : t->count;
	dropped = calloc(cap ? cap : 1, sizeof(*dropped));
	inos = calloc(cap ? cap : 1, sizeof(*inos));
	for (size_t b = 0; dropped && inos && b < t->nbuckets && n < cap; b++) {
		for (struct inode *e = t->by_ino[b]; e && n < cap; e = e->next_ino) {
			if (!e->listing || (ino && e->ino != ino))
				continue;
			inos[n] = e->ino;
			dropped[n++] = e->listing;
			e->listing = NULL;
		}
	}
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		listing_put(dropped[i]);
		if (fn)
			fn(inos[i], ctx);
	}
	free(dropped);
	free(inos);
	return n;
}
