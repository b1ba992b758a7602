/* The cache layer's life: made over a store, a searcher and a downloader; freed after its
 * background transfers have stopped. Also the counters behind /.trolley/status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/internal.h"

int cache_new(struct store *store, struct searcher *searcher, struct downloader *downloader,
	      const struct cache_config *cfg, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->store = store;
	c->searcher = searcher;
	c->downloader = downloader;
	c->cfg = *cfg;
	for (int lv = 0; lv < 3; lv++) {
		if (cfg->ninclude[lv] > CACHE_INCLUDE_MAX) {
			free(c);
			return -EINVAL;
		}
		if (cfg->ninclude[lv])
			memcpy(c->include[lv], cfg->include[lv],
			       cfg->ninclude[lv] * sizeof(*cfg->include[lv]));
		c->cfg.include[lv] = c->include[lv];
	}
	/* Instances too big for the cache are rare, failures rarer: a few hundred of each. */
	if (memo_init(&c->sizes, 512) || memo_init(&c->failures, 256) ||
	    memo_init(&c->failed_series, 256) || flight_table_init(&c->flights)) {
		flight_table_release(&c->flights);
		memo_release(&c->sizes);
		memo_release(&c->failures);
		memo_release(&c->failed_series);
		free(c);
		return -ENOMEM;
	}
	/* Half the connections at most go to background series, so that an open() (its own
	 * transfer, on its FUSE thread) finds one free. */
	c->max_workers = (size_t)((cfg->connections > 0 ? cfg->connections : 8) / 2);
	if (c->max_workers < 1)
		c->max_workers = 1;
	if (c->max_workers > PREFETCH_WORKERS_MAX)
		c->max_workers = PREFETCH_WORKERS_MAX;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_mutex_init(&c->qlock, NULL);
	pthread_cond_init(&c->qdone, NULL);
	pthread_mutex_init(&c->pool.lock, NULL);
	*out = c;
	return 0;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	prefetch_stop_all(c);
	flight_table_release(&c->flights);
	memo_release(&c->sizes);
	memo_release(&c->failures);
	memo_release(&c->failed_series);
	fetch_pool_release(c);
	pthread_cond_destroy(&c->qdone);
	pthread_mutex_destroy(&c->qlock);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
#define STAT_GET(field) out->field = __atomic_load_n(&c->stats.field, __ATOMIC_RELAXED)
	memset(out, 0, sizeof(*out));
	STAT_GET(query_hits);
	STAT_GET(query_misses);
	STAT_GET(query_errors);
	STAT_GET(query_stale);
	STAT_GET(query_not_modified);
	STAT_GET(open_hits);
	STAT_GET(open_misses);
	STAT_GET(open_waits);
	STAT_GET(transfers_active);
	STAT_GET(transfers_done);
	STAT_GET(transfer_errors);
	STAT_GET(bytes_downloaded);
	STAT_GET(prefetches);
	STAT_GET(prefetched);
	STAT_GET(incomplete);
	STAT_GET(spilled);
#undef STAT_GET
	pthread_mutex_lock(&c->lock);
	memcpy(out->last_incomplete, c->stats.last_incomplete, sizeof(out->last_incomplete));
	pthread_mutex_unlock(&c->lock);
	store_usage(c->store, &out->blobs, &out->blob_bytes);
	out->evictions = store_evictions(c->store);
	out->size_limit = c->cfg.size_limit;
	store_room(c->store, &out->room);
	out->searcher = c->searcher ? c->searcher->ops->name : "";
	out->downloader = c->downloader ? c->downloader->ops->name : "";
}
