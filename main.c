/* mount.trolley, the composition root: parse options, check what can be checked before
 * mounting (so `mount` itself fails with a clear message), mount, daemonise, then open the
 * cache and the protocols in the daemon (LMDB environments must not cross a fork) and serve
 * until unmounted. The one file that sees every layer: it wires fs/, cache/ and protocols/
 * together, so it sits in none of them. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <mntent.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/prctl.h>
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/store.h"
#include "core/cancel.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/tags.h"
#include "deid/deid.h"
#include "fs/deid_map.h"
#include "fs/layout.h"
#include "fs/opts.h"
#include "fs/ops.h"
#include "fs/refresh.h"
#include "fs/view.h"
#include "protocols/downloader.h"
#include "protocols/http.h"
#include "protocols/protocol.h"
#include "protocols/searcher.h"
#include "protocols/secrets.h"

/* The LMDB map: instance blobs up to cache_size plus room for query results and LMDB's own
 * pages. */
static uint64_t map_size_for(uint64_t cache_size)
{
	return cache_size + cache_size / 8 + (64ull << 20);
}

struct daemon {
	struct http *http;
	struct searcher *searcher;
	struct downloader *downloader;
	struct store *store;
	struct cache *cache;
	struct trolley_fs fs;
};

static void daemon_release(struct daemon *d)
{
	http_stop(d->http); /* a request waiting to be made again fails now, not in a minute */
	inodes_free(d->fs.inodes);
	cache_free(d->cache);
	store_close(d->store);
	downloader_free(d->downloader);
	searcher_free(d->searcher);
	http_free(d->http);
}

static int daemon_start(struct daemon *d, const struct trolley_opts *o)
{
	struct http_config hc = {
		.timeout_s = o->timeout,
		.max_connections = o->connections,
		.retry_s = o->retry,
		.insecure = o->insecure,
		.cacert = o->cacert,
		.cert = o->cert,
		.key = o->key,
		.user = o->user,
		.password_file = o->password_file,
		.token_file = o->token_file,
		.netrc = o->netrc,
		.login_url = o->login_url,
		.realm = o->realm,
		.auth_url = o->auth_url,
	};
	struct proto_config pc = {
		.settings = &o->proto,
		.dimse_timeout = o->timeout,
		.dimse_associations = o->connections,
		.retry = o->retry,
		.transfer_syntax = o->transfer_syntax,
		.page_size = o->page_size,
	};
	char names[256];
	struct cache_config cc = {
		.source = o->source,
		.meta_ttl = o->meta_ttl,
		.size_limit = o->cache_size,
		.max_instance_size = o->max_instance_size,
		.min_free = o->min_free,
		.prefetch = !o->prefetch || strcmp(o->prefetch, "series") == 0,
		.offline = o->offline,
		.connections = o->connections,
	};
	uint32_t instance_fields[LAYOUT_INCLUDE_MAX + 1];
	int err;

	/* Every query of a level asks what the layout names entries by beyond what the searcher
	 * returns unasked, and in the view what tells it what to withhold (cache_query_init()). */
	for (int lv = 0; o->layout_parsed && lv < 3; lv++) {
		cc.include[lv] = o->layout_parsed->include[lv];
		cc.ninclude[lv] = o->layout_parsed->ninclude[lv];
	}
	if (view_active()) {
		if (cc.ninclude[QUERY_INSTANCE])
			memcpy(instance_fields, cc.include[QUERY_INSTANCE],
			       cc.ninclude[QUERY_INSTANCE] * sizeof(*instance_fields));
		instance_fields[cc.ninclude[QUERY_INSTANCE]++] = TAG_BurnedInAnnotation;
		cc.include[QUERY_INSTANCE] = instance_fields;
	}
	err = http_new(&hc, &d->http);
	if (err)
		return err;
	pc.http = d->http;
	err = searcher_new(o->searcher, &pc, &d->searcher);
	if (err) {
		proto_names(false, ", ", names, sizeof(names));
		log_error("searcher=%s: unknown or incomplete (this version has %s)", o->searcher,
			  names);
		return err;
	}
	err = downloader_new(o->downloader, &pc, &d->downloader);
	if (err) {
		proto_names(true, ", ", names, sizeof(names));
		log_error("downloader=%s: unknown or incomplete (this version has %s)",
			  o->downloader, names);
		return err;
	}
	err = store_open(o->cache_dir, map_size_for(o->cache_size), o->cache_size, &d->store);
	if (err)
		return err;
	store_set_min_free(d->store, o->min_free);
	err = cache_new(d->store, d->searcher, d->downloader, &cc, &d->cache);
	if (err)
		return err;
	err = inodes_new(&d->fs.inodes);
	if (err)
		return err;
	d->fs.tree.cache = d->cache;
	d->fs.tree.max_results = o->max_results;
	d->fs.tree.layout = o->layout_parsed;
	d->fs.meta_ttl = o->meta_ttl > 0 ? o->meta_ttl : 1;
	d->fs.mounted = time(NULL);
	d->fs.uid = o->uid;
	d->fs.gid = o->gid;
	d->fs.umask = o->umask;
	d->fs.owner = getuid();
	return 0;
}

/* How long a new mount waits for the previous daemon of its cache_dir to exit: after an
 * unmount, the old daemon cancels its transfers and closes the cache, which takes well under a
 * second (measured 0.3 s after an export; core/cancel.h bounds its transfers' end to about a
 * second); `umount M && mount M` must not fail for that. Bounded, for a daemon that hangs. */
#define LOCK_WAIT_MS 10000
#define LOCK_POLL_MS 50

/* Whether the daemon holding the lock of @fd still serves: the lock file names its mount point
 * (written once it had the lock), and that is still a trolley mount. Unknown (not written
 * yet, unreadable) counts as leaving: the wait is bounded anyway. */
static bool holder_serves(int fd)
{
	char where[4096];
	ssize_t n = pread(fd, where, sizeof(where) - 1, 0);
	bool serves = false;
	struct mntent *m;
	FILE *mounts;

	if (n <= 0)
		return false;
	where[n] = '\0';
	mounts = setmntent("/proc/self/mounts", "r");
	if (!mounts)
		return true; /* cannot tell: refuse, as before */
	while (!serves && (m = getmntent(mounts)))
		serves = strcmp(m->mnt_dir, where) == 0 && strcmp(m->mnt_type, "fuse.trolley") == 0;
	endmntent(mounts);
	return serves;
}

/* One daemon per cache folder. LMDB itself lets several processes share an environment, but
 * the cache's pins (an open file is never evicted) and its byte count live in the daemon's
 * memory: a second daemon on the same folder evicted instances the first had open, whose
 * read() then failed with ENOENT after open() had succeeded (tests/integration/test_load.py).
 * The flock is held by the open file description, so it survives fuse_daemonize()'s fork and
 * dies with the daemon, also with kill -9. A daemon whose mount is gone but which is still
 * exiting is waited for (LOCK_WAIT_MS); one that serves a mount is refused at once. The file
 * then names @mountpoint, for the next mount to tell. @return the locked descriptor (kept
 * open for the daemon's life) or -errno. */
static int lock_cache_dir(const char *dir, const char *mountpoint)
{
	char path[4096], *where;
	int fd, waited = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/trolley.lock", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = -errno;

		fprintf(stderr, "mount.trolley: cache_dir=%s: %s: %s\n", dir, path, strerror(-err));
		return err;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		if (err == -EBUSY && waited < LOCK_WAIT_MS && !holder_serves(fd)) {
			if (!waited)
				log_info("cache_dir=%s: waiting for the previous mount.trolley to "
					 "exit",
					 dir);
			usleep(LOCK_POLL_MS * 1000);
			waited += LOCK_POLL_MS;
			continue;
		}
		if (err == -EBUSY)
			fprintf(stderr,
				"mount.trolley: cache_dir=%s: in use by another mount.trolley%s; "
				"unmount it, or give this mount a cache_dir= of its own\n",
				dir,
				waited >= LOCK_WAIT_MS ? " (its mount is gone, but it has not "
							 "exited in 10 s)"
						       : "");
		else
			fprintf(stderr, "mount.trolley: cache_dir=%s: locking %s: %s\n", dir, path,
				strerror(-err));
		close(fd);
		return err;
	}
	where = mountpoint ? realpath(mountpoint, NULL) : NULL;
	if (ftruncate(fd, 0) < 0 || (where && pwrite(fd, where, strlen(where), 0) < 0))
		log_debug("cache_dir=%s: cannot note the mount point in %s", dir, path);
	free(where);
	return fd;
}

/* Before the fork: the cache folder and the secret files must be usable, or mounting fails
 * here, with the message on the user's terminal. The cache folder's lock goes to *lock_fd. */
/* Whether @dir is @mountpoint or lies under it. A cache there would be reached through the
 * mount itself: the daemon's own LMDB access would wait on its own FUSE requests (it hung in
 * uninterruptible sleep). Both exist here, so realpath() settles links and "..". */
static bool is_inside(const char *dir, const char *mountpoint)
{
	char *d = realpath(dir, NULL), *m = realpath(mountpoint, NULL);
	bool inside = false;

	if (d && m) {
		size_t n = strlen(m);

		inside = strncmp(d, m, n) == 0 && (d[n] == '\0' || d[n] == '/' || n == 1);
	}
	free(d);
	free(m);
	return inside;
}

static int check_before_mount(const struct trolley_opts *o, const char *mountpoint, int *lock_fd)
{
	const char *files[] = {o->password_file, o->token_file};
	struct store *s;
	int err = store_mkdir(o->cache_dir);

	if (err) {
		log_error("cache folder %s: %s", o->cache_dir, strerror(-err));
		return err;
	}
	if (mountpoint && is_inside(o->cache_dir, mountpoint)) {
		log_error("cache_dir=%s is inside the mount point %s: give a cache_dir= outside it",
			  o->cache_dir, mountpoint);
		return -EINVAL;
	}
	/* Locked before the store is opened: opening may discard the cache, and closing removes
	 * the marker of unsynced writes (cache/store.c), which must not happen under a daemon
	 * still writing there. */
	err = lock_cache_dir(o->cache_dir, mountpoint);
	if (err < 0)
		return err;
	*lock_fd = err;
	err = store_open(o->cache_dir, map_size_for(o->cache_size), o->cache_size, &s);
	if (err)
		return err;
	store_close(s);
	/* What the downloader can check only by trying (C-MOVE: its port to listen on). */
	err = proto_before_mount(o->downloader, &o->proto);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *secret;

		if (!files[i])
			continue;
		err = secret_read_file(files[i], &secret);
		if (err)
			return err;
		secret_free(secret);
	}
	return 0;
}

/* opts_finish() read the URL options with core/url.h; libcurl, which sends the requests,
 * must read them the same way (no userinfo, the same host and port), or the check looked at
 * another URL than the one used. */
static int check_urls_with_curl(const struct trolley_opts *o)
{
	struct opts_url urls[OPTS_URLS_MAX];
	size_t n = opts_urls(o, urls);
	char why[256];

	for (size_t i = 0; i < n; i++) {
		if (http_url_agrees(urls[i].url, why, sizeof(why)) < 0) {
			fprintf(stderr, "mount.trolley: %s %s\n", urls[i].name, why);
			return -EINVAL;
		}
	}
	return 0;
}

static int add_fsname(struct fuse_args *args, const char *source)
{
	char safe[1024], opt[1200] = "subtype=trolley,fsname=";
	char *opts = NULL;
	int err;

	/* /proc/mounts shows the fsname: never with credentials, commas escaped by libfuse. */
	log_redact_url(source, safe, sizeof(safe));
	err = fuse_opt_add_opt_escaped(&opts, safe);
	if (err)
		return -ENOMEM;
	strncat(opt, opts, sizeof(opt) - strlen(opt) - 1);
	free(opts);
	if (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opt) ||
	    fuse_opt_add_arg(args, "-oro,default_permissions"))
		return -ENOMEM;
	return 0;
}

/* libfuse's handlers of SIGTERM and SIGINT end the session loop, which then joins its
 * workers; a worker in a transfer that trickles (or waiting for one) held the daemon as long
 * as the archive liked. This one cancels every wait and transfer first (core/cancel.h), then
 * hands the signal to libfuse's. */
static struct sigaction fuse_on_term, fuse_on_int;

static void on_stop_signal(int sig)
{
	const struct sigaction *fuse_sa = sig == SIGINT ? &fuse_on_int : &fuse_on_term;

	cancel_all();
	if (fuse_sa->sa_handler != SIG_DFL && fuse_sa->sa_handler != SIG_IGN)
		fuse_sa->sa_handler(sig);
}

static int stop_signals_catch(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, &fuse_on_term) < 0)
		return -errno;
	if (sigaction(SIGINT, &sa, &fuse_on_int) < 0) {
		sigaction(SIGTERM, &fuse_on_term, NULL);
		return -errno;
	}
	return 0;
}

/* libfuse's own back, so that fuse_remove_signal_handlers() recognises and removes them. */
static void stop_signals_release(void)
{
	sigaction(SIGINT, &fuse_on_int, NULL);
	sigaction(SIGTERM, &fuse_on_term, NULL);
}

/* The de-identified view's key and profile, from deid=KEYFILE (or --deid-map KEYFILE) and the
 * deid_* options: loaded before the mount, so a key file others can read, or one too short,
 * fails `mount` with the reason on the user's terminal. The key's bytes are never printed. */
static int deid_start(const struct trolley_opts *o, const char *path, struct deid_key **key,
		      struct deid **d)
{
	struct deid_options dopts = {
		.retain_dates = o->deid_keep_dates,
		.retain_patient_chars = o->deid_keep_patient,
		.retain_device = o->deid_keep_device,
		.retain_safe_private = o->deid_keep_private,
		.clean_descriptors = o->deid_clean_descriptors,
	};
	const char *why = NULL;
	int err = deid_key_load(path, key, &why);

	if (err == -EPERM)
		fprintf(stderr,
			"mount.trolley: deid=%s: group or others may read the key file: make it "
			"private (chmod 600) and give the view a new key\n",
			path);
	else if (err)
		fprintf(stderr, "mount.trolley: deid=%s: %s\n", path, why ? why : strerror(-err));
	if (err)
		return err;
	err = deid_new(*key, &dopts, d);
	if (err)
		fprintf(stderr, "mount.trolley: deid=%s: %s\n", path, strerror(-err));
	return err;
}

/* --deid-map KEYFILE SOURCE: the custodian's CSV on stdout, through a cache of its own folder
 * (cache_dir=, locked as a mount locks it), and no mount. @return the exit status. */
static int deid_map_main(struct trolley_opts *o)
{
	struct deid_key *key = NULL;
	struct deid *dd = NULL;
	struct daemon d = {0};
	int lock_fd = -1, ret = 1;

	if (deid_start(o, o->deid_map, &key, &dd) < 0)
		goto out;
	if (check_before_mount(o, NULL, &lock_fd) < 0)
		goto out;
	if (daemon_start(&d, o) < 0) {
		log_error("deid map: cannot start: see the messages above");
		goto out_release;
	}
	ret = deid_map_write(d.cache, dd, o->max_results, stdout) < 0;
out_release:
	daemon_release(&d);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	deid_free(dd);
	deid_key_free(key);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = {0};
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct trolley_opts o;
	struct daemon d = {0};
	struct deid_key *deid_key = NULL;
	struct deid *deid = NULL;
	enum log_level level = LOG_LEVEL_WARN;
	char safe[1024];
	int lock_fd = -1;
	int ret = 1;

	/* Not dumpable, always: no core file and no ptrace or /proc/PID/mem, environ, maps for
	 * other processes of the same user. The daemon holds passwords and tokens when they are
	 * configured, and always session cookies, TLS keys and patient data in its buffers; a
	 * crash report loses the core file, but the sanitizer builds still print their reports.
	 * Set first, before any secret is read; fuse_daemonize()'s fork inherits it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A fixed mmap threshold: glibc raises it to the size of each large block freed, so after
	 * the first prefetch batch LMDB's pages (a blob's worth each) come from the arenas of the
	 * short-lived committer threads and stay there, fragmented, when freed: that doubled the
	 * peak private memory of an export (74 MB against 36 MB, bench/memory.py). Above 128 KiB
	 * (glibc's default) a block is mapped and given back when freed. */
	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024))
		log_debug("cannot fix malloc's mmap threshold");
	/* mtimes come from DICOM dates in local time (fs/tree.c, mktime). With TZ unset glibc
	 * stats /etc/localtime at every mktime, one system call per stat reply (413 in a warm
	 * cp -r of 400 files); a TZ naming the same file is read once. A zone changed while
	 * mounted shows at the next mount, which also keeps mtimes stable (viewers re-index a
	 * file whose mtime moves). */
	if (!getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 0);
	handles_init(&d.fs.handles);
	refresh_state_init(&d.fs.refresh);
	if (opts_parse(&args, &o) < 0)
		goto out_free_args;
	if (o.show_help) {
		opts_usage(argv[0]);
		fuse_lowlevel_help();
		ret = 0;
		goto out_free_args;
	}
	if (o.show_version) {
		printf("mount.trolley %s\n", TROLLEY_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_free_args;
	}
	if (opts_finish(&o) < 0 || check_urls_with_curl(&o) < 0)
		goto out_free_args;
	if (o.loglevel && log_parse_level(o.loglevel, &level) < 0) {
		fprintf(stderr, "mount.trolley: loglevel=%s: expected error, warn, info or debug\n",
			o.loglevel);
		goto out_free_args;
	}
	log_set_level(level);
	if (o.deid_map) {
		ret = deid_map_main(&o);
		goto out_free_args;
	}
	if (o.deid && deid_start(&o, o.deid, &deid_key, &deid) < 0)
		goto out_free_args;
	view_set(deid);
	if (o.auth_plain_http)
		log_warn("allow_http_auth: credentials go to the archive over plain http, readable "
			 "by anyone on the network path");
	if (add_fsname(&args, o.source) < 0)
		goto out_free_args;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_free_args;
	if (!cmd.mountpoint) {
		fprintf(stderr, "mount.trolley: missing MOUNTPOINT (see mount.trolley --help)\n");
		goto out_free_cmd;
	}
	if (check_before_mount(&o, cmd.mountpoint, &lock_fd) < 0)
		goto out_free_cmd;

	se = fuse_session_new(&args, &trolley_ops, sizeof(trolley_ops), &d.fs);
	if (!se)
		goto out_free_cmd;
	d.fs.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (stop_signals_catch() < 0) {
		fuse_remove_signal_handlers(se);
		goto out_destroy;
	}
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_remove_handlers;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (!cmd.foreground)
		log_use_syslog();
	if (daemon_start(&d, &o) < 0) {
		log_error("cannot start: see the messages above");
		goto out_unmount;
	}
	log_info("serving %s on %s", log_redact_url(o.source, safe, sizeof(safe)), cmd.mountpoint);
	if (deid)
		log_info("deid: the mount is the de-identified view (PS3.15 Annex E basic "
			 "profile%s%s%s%s%s)",
			 o.deid_keep_dates ? ", modified dates" : "",
			 o.deid_keep_patient ? ", patient characteristics" : "",
			 o.deid_keep_device ? ", device identity" : "",
			 o.deid_keep_private ? ", safe private" : "",
			 o.deid_clean_descriptors ? ", clean descriptors" : "");
	/* SIGHUP refreshes the listings from here on (libfuse's handler would end the session);
	 * a mount that cannot refresh still serves. */
	if (refresh_start(&d.fs) < 0)
		log_warn("cannot start the refresh thread: SIGHUP ends the mount");
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	/* Under a Type=notify service (mount.trolley -f): the mount is up and the cache and
	 * archive connections are open, so units ordered after this one may use it. Before the
	 * loop: requests that come meanwhile wait in the kernel's queue. */
	if (notify_send("READY=1\nSTATUS=serving") < 0)
		log_warn("cannot tell the service manager that the mount is ready (NOTIFY_SOCKET)");
	/* Downloads block a worker each while open() waits: up to 64 requests run at once. Of
	 * the workers left idle, 10 stay and the rest end (libfuse 3.14 also warns about its
	 * max threads value unless max_idle_threads is given). */
	fuse_loop_cfg_set_idle_threads(loop, 10);
	fuse_loop_cfg_set_max_threads(loop, 64);
	fuse_loop_cfg_set_clone_fd(loop, 0);
	ret = fuse_session_loop_mt(se, loop) != 0;
	fuse_loop_cfg_destroy(loop);
	notify_send("STOPPING=1");
out_unmount:
	/* Unmounted or signalled: what still runs (prefetch, a transfer nobody waits for) ends
	 * now, and nothing half-done is kept (a sink keeps only whole, checked instances). */
	cancel_all();
	refresh_stop();
	fuse_session_unmount(se);
out_remove_handlers:
	stop_signals_release();
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	daemon_release(&d);
out_free_cmd:
	if (lock_fd >= 0)
		close(lock_fd); /* after the store is closed: the next daemon may open it */
	free(cmd.mountpoint);
out_free_args:
	fuse_opt_free_args(&args);
	opts_release(&o);
	view_set(NULL);
	deid_free(deid);
	deid_key_free(deid_key);
	return ret;
}
