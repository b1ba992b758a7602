/* Refresh: what it forgets (fs/tree.c's query of a folder, the cache's stored answers, the inode
 * table's listings) and what it tells the kernel. A folder's refresh runs on the FUSE worker
 * that answers the xattr read, so the next `ls` already sees it; SIGHUP's on a thread of its
 * own, woken through a pipe by the signal handler, which does nothing else (nothing a signal
 * handler may not do: no lock, no malloc, no log). */
#include "fs/refresh.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/tags.h"
#include "fs/ops.h"

void refresh_state_init(struct refresh_state *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->misses.lock, NULL);
	pthread_mutex_init(&r->limit.lock, NULL);
}

void refresh_note_miss(struct trolley_fs *fs, uint64_t parent, const char *name)
{
	struct refresh_misses *misses = &fs->refresh.misses;
	struct refresh_miss *m;

	if (strlen(name) >= sizeof(m->name))
		return;
	pthread_mutex_lock(&misses->lock);
	m = &misses->v[misses->next];
	misses->next = (misses->next + 1) % REFRESH_MISSES;
	m->parent = parent;
	m->when = time(NULL);
	strcpy(m->name, name);
	pthread_mutex_unlock(&misses->lock);
}

/* Drop the kernel's negative entries under @parent (0: under every folder). The notifications
 * go out after the lock is released: the kernel may send lookups while handling them. */
static void forget_misses(struct trolley_fs *fs, uint64_t parent)
{
	struct refresh_misses *misses = &fs->refresh.misses;
	struct refresh_miss *take = calloc(REFRESH_MISSES, sizeof(*take));
	time_t now = time(NULL);
	size_t n = 0;

	if (!take)
		return;
	pthread_mutex_lock(&misses->lock);
	for (size_t i = 0; i < REFRESH_MISSES; i++) {
		struct refresh_miss *m = &misses->v[i];

		if (!m->parent || (parent && m->parent != parent) ||
		    now - m->when > REFRESH_MISS_AGE)
			continue;
		take[n++] = *m;
		m->parent = 0;
	}
	pthread_mutex_unlock(&misses->lock);
	for (size_t i = 0; fs->se && i < n; i++)
		fuse_lowlevel_notify_inval_entry(fs->se, take[i].parent, take[i].name,
						 strlen(take[i].name));
	free(take);
}

/* The folder's attributes in the kernel are stale (offset 0, length 0: attributes and any
 * cached pages of it). */
static void invalidate_folder(uint64_t ino, void *ctx)
{
	struct trolley_fs *fs = ctx;

	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

static void utc_now(char *out)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, REFRESH_VALUE_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Any reader of a folder may refresh it (with allow_other, any local user), and each refresh
 * costs the archive a new query of the folder and the store a write: a getfattr loop made the
 * daemon rewrite a folder's stored data per call. So a folder refreshed less than
 * REFRESH_INTERVAL ago is answered by that refresh (its time, no work: what it made the next
 * listing fetch is what the caller sees), and all refreshes together draw on a budget of
 * REFRESH_BURST that grows back by one each REFRESH_PERIOD; past it a refresh is EAGAIN. A user
 * who refreshes a few folders by hand never meets either. */
#define REFRESH_INTERVAL 10 /* seconds between two refreshes of one folder */

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* What the limit says of a refresh of @ino now, with limit->lock held. */
enum limit_verdict { LIMIT_GO, LIMIT_RECENT, LIMIT_SPENT };

/* Decide on a refresh of @ino: LIMIT_RECENT with @value of the refresh within the interval,
 * LIMIT_SPENT when the budget is, else LIMIT_GO with a token taken and @ino's slot reserved
 * (@slot; released by limit_undo() if the refresh fails). */
static enum limit_verdict limit_take(struct refresh_limit *limit, uint64_t ino, char *value,
				     size_t *slot)
{
	int64_t now = mono_now();
	enum limit_verdict v = LIMIT_GO;

	pthread_mutex_lock(&limit->lock);
	for (size_t i = 0; i < REFRESH_RECENT; i++) {
		struct refresh_recent *r = &limit->v[i];

		if (r->ino == ino && now - r->when < REFRESH_INTERVAL) {
			memcpy(value, r->value, REFRESH_VALUE_LEN + 1);
			v = LIMIT_RECENT;
			goto out;
		}
	}
	if (limit->filled == 0) {
		limit->tokens = REFRESH_BURST;
		limit->filled = now;
	}
	limit->tokens += (double)(now - limit->filled) / REFRESH_PERIOD;
	if (limit->tokens > REFRESH_BURST)
		limit->tokens = REFRESH_BURST;
	limit->filled = now;
	if (limit->tokens < 1) {
		v = LIMIT_SPENT;
		goto out;
	}
	limit->tokens -= 1;
	*slot = limit->next;
	limit->next = (limit->next + 1) % REFRESH_RECENT;
	limit->v[*slot].ino = ino;
	limit->v[*slot].when = now;
	utc_now(limit->v[*slot].value);
	memcpy(value, limit->v[*slot].value, REFRESH_VALUE_LEN + 1);
out:
	pthread_mutex_unlock(&limit->lock);
	return v;
}

/* A refresh that failed does not stand for the next ones (its token stays spent). */
static void limit_undo(struct refresh_limit *limit, uint64_t ino, size_t slot)
{
	pthread_mutex_lock(&limit->lock);
	if (limit->v[slot].ino == ino)
		limit->v[slot].ino = 0;
	pthread_mutex_unlock(&limit->lock);
}

/* Whether an over-budget line is due (one per REFRESH_INTERVAL: a stranger's loop must not
 * flood the log). */
static bool limit_warn_due(struct refresh_limit *limit)
{
	int64_t now = mono_now();
	bool due;

	pthread_mutex_lock(&limit->lock);
	due = limit->warned == 0 || now - limit->warned >= REFRESH_INTERVAL;
	if (due)
		limit->warned = now;
	pthread_mutex_unlock(&limit->lock);
	return due;
}

int refresh_folder(struct trolley_fs *fs, uint64_t ino, char *value)
{
	const char **series = NULL;
	char path[4096];
	struct listing *l;
	struct node dir;
	size_t n = 0, slot = 0;
	int err;

	err = inodes_get(fs->inodes, ino, &dir);
	if (err)
		return err;
	if (!node_is_dir(&dir)) {
		err = -ENODATA; /* instances never change: nothing to refresh */
		goto out;
	}
	if (inodes_path(fs->inodes, ino, path, sizeof(path)) != 0)
		strcpy(path, "?");
	if (cache_is_offline(fs->tree.cache)) {
		log_info("refresh of %s: offline, there is no archive to ask; the stored listing "
			 "stays",
			 path);
		err = -EOPNOTSUPP;
		goto out;
	}
	switch (limit_take(&fs->refresh.limit, ino, value, &slot)) {
	case LIMIT_RECENT:
		log_debug("refresh of %s: refreshed less than %d s ago, answered by that refresh",
			  path, REFRESH_INTERVAL);
		err = 0;
		goto out;
	case LIMIT_SPENT:
		if (limit_warn_due(&fs->refresh.limit))
			log_warn("refresh of %s: more than %d refreshes in a short time: refused "
				 "(EAGAIN) until the budget grows back (one each %d s)",
				 path, REFRESH_BURST, REFRESH_PERIOD);
		err = -EAGAIN;
		goto out;
	case LIMIT_GO:
		break;
	}
	/* A study's metadata.json may be made of its series' (cache_metadata_from_series): those
	 * of the series it lists now are forgotten with it. */
	l = inodes_listing(fs->inodes, ino, fs->meta_ttl);
	if (l && dir.kind == NODE_STUDY)
		series = calloc(l->n ? l->n : 1, sizeof(*series));
	for (size_t i = 0; series && i < l->n; i++)
		if (l->v[i].node.kind == NODE_SERIES)
			series[n++] = attrset_str(&l->v[i].node.attrs, TAG_SeriesInstanceUID);
	err = tree_forget(&fs->tree, &dir, series, n);
	free(series);
	listing_put(l);
	if (err) {
		limit_undo(&fs->refresh.limit, ino, slot);
		goto out;
	}
	__atomic_add_fetch(&fs->refreshes, 1, __ATOMIC_ACQ_REL);
	inodes_drop_listings(fs->inodes, ino, invalidate_folder, fs);
	forget_misses(fs, ino);
	log_info("refresh of %s: its listing%s will be asked again", path,
		 dir.kind == NODE_STUDY || dir.kind == NODE_SERIES ? " and metadata.json" : "");
out:
	node_release(&dir);
	return err;
}

static void refresh_all(struct trolley_fs *fs)
{
	size_t n;

	if (cache_is_offline(fs->tree.cache)) {
		log_info("refresh (SIGHUP): offline, there is no archive to ask; the stored "
			 "listings stay");
		return;
	}
	cache_forget_all(fs->tree.cache);
	__atomic_add_fetch(&fs->refreshes, 1, __ATOMIC_ACQ_REL);
	n = inodes_drop_listings(fs->inodes, 0, invalidate_folder, fs);
	forget_misses(fs, 0);
	log_info("refresh (SIGHUP): every listing and metadata.json will be asked again (%zu "
		 "folders in memory dropped)",
		 n);
}

static struct {
	int pipe[2];
	pthread_t thread;
	bool running;
	struct sigaction old;
} hup = {.pipe = {-1, -1}};

static void on_sighup(int sig)
{
	int saved = errno;
	char c = 'h';

	(void)sig;
	/* Non-blocking: a burst of signals fills the pipe at worst; one refresh covers them. */
	if (write(hup.pipe[1], &c, 1) < 0)
		c = 0; /* full: a refresh is due already */
	errno = saved;
}

static void *refresh_run(void *arg)
{
	struct trolley_fs *fs = arg;
	char buf[64];

	for (;;) {
		ssize_t got = read(hup.pipe[0], buf, sizeof(buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		/* 'q' is refresh_stop(); several 'h' at once are one refresh. */
		if (memchr(buf, 'q', (size_t)got))
			break;
		refresh_all(fs);
	}
	return NULL;
}

int refresh_start(struct trolley_fs *fs)
{
	struct sigaction sa;
	int err;

	if (pipe2(hup.pipe, O_CLOEXEC) < 0)
		return -errno;
	fcntl(hup.pipe[1], F_SETFL, O_NONBLOCK);
	err = -pthread_create(&hup.thread, NULL, refresh_run, fs);
	if (err)
		goto out_close;
	pthread_setname_np(hup.thread, "refresh");
	hup.running = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sighup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGHUP, &sa, &hup.old) < 0) {
		err = -errno;
		refresh_stop();
		return err;
	}
	return 0;
out_close:
	close(hup.pipe[0]);
	close(hup.pipe[1]);
	hup.pipe[0] = hup.pipe[1] = -1;
	return err;
}

void refresh_stop(void)
{
	bool closed = false;
	char c = 'q';

	if (!hup.running)
		return;
	/* libfuse's handler back first: no signal may write to a pipe being closed. */
	sigaction(SIGHUP, &hup.old, NULL);
	if (write(hup.pipe[1], &c, 1) < 0) {
		close(hup.pipe[1]); /* full: the thread then reads the end of the pipe */
		closed = true;
	}
	pthread_join(hup.thread, NULL);
	close(hup.pipe[0]);
	if (!closed)
		close(hup.pipe[1]);
	hup.pipe[0] = hup.pipe[1] = -1;
	hup.running = false;
}
