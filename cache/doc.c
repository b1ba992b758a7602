/* Documents other modules make from the cache's instances and keep in its store (the DICOMDIR
 * of media/fileset.c): their keys name the archive, so two archives never share one, and they
 * have no expiry (the name must pin the content). The store's document table, as metadata's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cache/internal.h"

/* "@kind|<source>|@name": the key a document always had (a cache folder of an older trolley
 * keeps its DICOMDIRs). @return the key (caller frees) or NULL. */
static char *doc_key(struct cache *c, const char *kind, const char *name)
{
	char *key;

	if (asprintf(&key, "%s|%s|%s", kind, c->cfg.source, name) < 0)
		return NULL;
	return key;
}

int cache_doc_get(struct cache *c, const char *kind, const char *name, struct buf *out)
{
	char *key = doc_key(c, kind, name);
	int64_t stored_at;
	int err;

	if (!key)
		return -ENOMEM;
	err = store_doc_get(c->store, key, out, &stored_at);
	free(key);
	return err;
}

int cache_doc_size(struct cache *c, const char *kind, const char *name, uint64_t *size)
{
	char *key = doc_key(c, kind, name);
	int err;

	if (!key)
		return -ENOMEM;
	err = store_doc_size(c->store, key, size);
	free(key);
	return err;
}

int cache_doc_put(struct cache *c, const char *kind, const char *name, const void *data, size_t len)
{
	char *key = doc_key(c, kind, name);
	int err;

	if (!key)
		return -ENOMEM;
	err = store_doc_put(c->store, key, data, len, (int64_t)time(NULL));
	free(key);
	return err;
}

void cache_count_doc(struct cache *c, bool hit)
{
	if (hit)
		STAT_ADD(c, query_hits, 1);
	else
		STAT_ADD(c, query_misses, 1);
}

int cache_tmpdir(struct cache *c, const char *prefix, char *path, size_t n)
{
	return store_tmpdir(c->store, prefix, path, n);
}
