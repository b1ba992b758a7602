/* Option parsing. Names are the ones users type (cache_size, meta_ttl); secrets are never
 * accepted as option values (they would be visible in /proc/<pid>/cmdline). */
#include "fs/opts.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/url.h"

#define TROLLEY_OPT(t, p, v)                                                                       \
	{                                                                                          \
		t, offsetof(struct trolley_opts, p), v                                             \
	}

enum { KEY_HELP, KEY_VERSION, KEY_DISCARD_HELPER, KEY_UNSUPPORTED };

/* Our options but the protocols' own, which opts_parse() puts in front from the registry. */
/* clang-format off */
static const struct fuse_opt trolley_opt_table[] = {
	TROLLEY_OPT("searcher=%s", searcher, 0),
	TROLLEY_OPT("downloader=%s", downloader, 0),
	TROLLEY_OPT("cache_dir=%s", cache_dir, 0),
	TROLLEY_OPT("cache_size=%s", cache_size_text, 0),
	TROLLEY_OPT("max_instance_size=%s", max_instance_size_text, 0),
	TROLLEY_OPT("min_free=%s", min_free_text, 0),
	TROLLEY_OPT("meta_ttl=%ld", meta_ttl, 0),
	TROLLEY_OPT("timeout=%ld", timeout, 0),
	TROLLEY_OPT("connections=%ld", connections, 0),
	TROLLEY_OPT("retry=%ld", retry, 0),
	TROLLEY_OPT("max_results=%ld", max_results, 0),
	TROLLEY_OPT("page_size=%ld", page_size, 0),
	TROLLEY_OPT("loglevel=%s", loglevel, 0),
	TROLLEY_OPT("transfer_syntax=%s", transfer_syntax, 0),
	TROLLEY_OPT("layout=%s", layout, 0),
	TROLLEY_OPT("prefetch=%s", prefetch, 0),
	TROLLEY_OPT("cacert=%s", cacert, 0),
	TROLLEY_OPT("cert=%s", cert, 0),
	TROLLEY_OPT("key=%s", key, 0),
	TROLLEY_OPT("user=%s", user, 0),
	TROLLEY_OPT("password_file=%s", password_file, 0),
	TROLLEY_OPT("token_file=%s", token_file, 0),
	TROLLEY_OPT("netrc", netrc, 1),
	TROLLEY_OPT("login_url=%s", login_url, 0),
	TROLLEY_OPT("realm=%s", realm, 0),
	TROLLEY_OPT("insecure", insecure, 1),
	TROLLEY_OPT("allow_http_auth", allow_http_auth, 1),
	TROLLEY_OPT("offline", offline, 1),
	TROLLEY_OPT("uid=%s", uid_text, 0),
	TROLLEY_OPT("gid=%s", gid_text, 0),
	TROLLEY_OPT("umask=%s", umask_text, 0),
	TROLLEY_OPT("deid=%s", deid, 0),
	TROLLEY_OPT("deid_keep_dates", deid_keep_dates, 1),
	TROLLEY_OPT("deid_keep_patient", deid_keep_patient, 1),
	TROLLEY_OPT("deid_keep_device", deid_keep_device, 1),
	TROLLEY_OPT("deid_keep_private", deid_keep_private, 1),
	TROLLEY_OPT("deid_clean_descriptors", deid_clean_descriptors, 1),
	TROLLEY_OPT("--deid-map %s", deid_map, 0),
	TROLLEY_OPT("--deid-map=%s", deid_map, 0),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* What mount(8) and fstab hand a helper that means nothing to a FUSE mount. */
	FUSE_OPT_KEY("-n", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("-s", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("-v", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("-t ", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("rw", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("auto", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("noauto", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("user", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("users", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("nouser", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("owner", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("group", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("defaults", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("nofail", KEY_DISCARD_HELPER),
	FUSE_OPT_KEY("comment=%s", KEY_DISCARD_HELPER),
	FUSE_OPT_END,
};
/* clang-format on */

static int opts_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct trolley_opts *o = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		/* The first plain argument is SOURCE (ours), the second the mountpoint (FUSE's). */
		if (o->nonopt_count++ == 0) {
			o->source = strdup(arg);
			return o->source ? 0 : -1;
		}
		return 1;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_DISCARD_HELPER:
		return 0;
	case KEY_UNSUPPORTED:
		if (!o->unsupported) {
			size_t n = strcspn(arg, "=");

			o->unsupported = strndup(arg, n);
		}
		return 0;
	case FUSE_OPT_KEY_OPT:
		/* fstab's x-* options are for other programs (systemd, GUIs): not ours. */
		return strncmp(arg, "x-", 2) == 0 ? 0 : 1;
	default:
		return 1;
	}
}

#define OPTS_TABLE_LEN (sizeof(trolley_opt_table) / sizeof(trolley_opt_table[0]))

int opts_parse(struct fuse_args *args, struct trolley_opts *o)
{
	struct fuse_opt table[PROTO_OPTIONS_MAX + OPTS_TABLE_LEN];
	char templ[PROTO_OPTIONS_MAX][48];
	const struct proto_option *opt;
	size_t i;

	memset(o, 0, sizeof(*o));
	o->meta_ttl = -1;
	o->retry = LONG_MIN; /* not given */
	if (proto_settings_init(&o->proto) < 0)
		return -EINVAL;
	/* Each protocol's options, as its descriptor names them, into o->proto by index. */
	for (i = 0; (opt = proto_option_at(i)); i++) {
		bool num = opt->type == PROTO_OPT_INT;

		snprintf(templ[i], sizeof(templ[i]), "%s=%s", opt->name, num ? "%d" : "%s");
		table[i].templ = templ[i];
		table[i].offset =
			num ? offsetof(struct trolley_opts, proto.num) + i * sizeof(int)
			    : offsetof(struct trolley_opts, proto.text) + i * sizeof(char *);
		table[i].value = 0;
	}
	memcpy(table + i, trolley_opt_table, sizeof(trolley_opt_table));
	if (fuse_opt_parse(args, o, table, opts_proc) < 0)
		return -EINVAL;
	return 0;
}

int opts_parse_size(const char *text, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mult = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mult = 1ull << 30;
		break;
	case 't':
	case 'T':
		mult = 1ull << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] != '\0' && strcmp(end + 1, "B") != 0 && strcmp(end + 1, "iB") != 0)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

static int default_cache_dir(struct trolley_opts *o)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char path[4096];

	/* One folder per archive, so two mounts of different archives never share a map. */
	if (xdg && *xdg)
		snprintf(path, sizeof(path), "%s/trolley/%016llx", xdg,
			 (unsigned long long)hash_fnv64_str(HASH_FNV64_INIT, o->source));
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.cache/trolley/%016llx", home,
			 (unsigned long long)hash_fnv64_str(HASH_FNV64_INIT, o->source));
	else
		return -EINVAL;
	o->cache_dir = strdup(path);
	return o->cache_dir ? 0 : -ENOMEM;
}

/* SOURCE as a web URL: NULL for one that names no web host (dicom://), without the prefix of a
 * scheme that wraps one (mint+). Case-insensitive, as the URL checks read it. */
static const char *source_web(const char *source)
{
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct proto_scheme *sc = proto_registry[i]->scheme;

		if (!sc)
			continue;
		if (sc->not_web && strncasecmp(source, sc->not_web, strlen(sc->not_web)) == 0)
			return NULL;
		if (sc->web_after && strncasecmp(source, sc->web_after, strlen(sc->web_after)) == 0)
			return source + strlen(sc->web_after);
	}
	return source;
}

size_t opts_urls(const struct trolley_opts *o, struct opts_url *out)
{
	const struct proto_option *opt;
	const char *url = o->source ? source_web(o->source) : NULL;
	size_t n = 0;

	/* dicom://AE@host:port names a DIMSE peer: its '@' follows an AE title. */
	if (url) {
		snprintf(out[n].name, sizeof(out[n].name), "SOURCE");
		out[n++].url = url;
	}
	for (size_t i = 0; (opt = proto_option_at(i)); i++) {
		url = opt->type == PROTO_OPT_URL ? proto_text(&o->proto, opt->name) : NULL;
		if (!url)
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s=", opt->name);
		out[n++].url = url;
	}
	if (o->login_url) {
		snprintf(out[n].name, sizeof(out[n].name), "login_url=");
		out[n++].url = o->login_url;
	}
	return n;
}

/* Every URL option is read by core/url.h, not only SOURCE: a user name or password in any of
 * them is in the process list for every user to read, and libcurl would send it as Basic auth
 * to whatever host the URL names, plain http or not, outside the origin scoping of user=. The
 * message names the option, never its value. */
static int check_urls(const struct trolley_opts *o)
{
	struct opts_url urls[OPTS_URLS_MAX];
	size_t n = opts_urls(o, urls);
	char why[256];

	for (size_t i = 0; i < n; i++) {
		struct url u;

		url_parse(urls[i].url, strlen(urls[i].url), &u);
		if (u.has_userinfo)
			fprintf(stderr,
				"mount.trolley: %s holds a password or user name in its URL, which "
				"every user can read in the process list: give user= and "
				"password_file= instead\n",
				urls[i].name);
		else if (url_check_web(urls[i].url, why, sizeof(why)) < 0)
			fprintf(stderr, "mount.trolley: %s %s\n", urls[i].name, why);
		else
			continue;
		return -EINVAL;
	}
	return 0;
}

static bool is_plain_http(const char *url)
{
	return url && strncasecmp(url, "https://", 8) != 0;
}

/* Which URL's origin (scheme://host:port) the credentials are for, and whether they would
 * travel unencrypted. Basic auth, the bearer token and netrc go to the web host of SOURCE (for
 * a dicom:// SOURCE: the first URL option given whose protocol marks it PROTO_OPT_AUTH_BASE,
 * the WADO or RAD-69 URL, the only web host); the password of a login_url= goes to login_url
 * alone. netrc names its hosts itself, so with netrc every web URL counts. Plain http is
 * refused unless allow_http_auth says the user accepts it (main warns). */
static int scope_credentials(struct trolley_opts *o)
{
	const struct proto_scheme *sc = proto_scheme_find(o->source);
	const struct proto_option *opt;
	const char *what = NULL, *base = NULL;

	if (sc && !sc->not_web)
		base = o->source + (sc->web_after ? strlen(sc->web_after) : 0);
	for (size_t i = 0; !base && (opt = proto_option_at(i)); i++)
		if (opt->flags & PROTO_OPT_AUTH_BASE)
			base = proto_text(&o->proto, opt->name);
	o->auth_url = base ? strdup(base) : NULL;
	if (base && !o->auth_url)
		return -ENOMEM;
	if (o->login_url && is_plain_http(o->login_url))
		what = "login_url= is plain http: the password";
	else if (((o->user && !o->login_url) || o->token_file) && is_plain_http(o->auth_url))
		what = o->token_file ? "the archive is plain http: the bearer token"
				     : "the archive is plain http: the password";
	for (size_t i = 0; !what && o->netrc && (opt = proto_option_at(i)); i++) {
		const char *url = proto_text(&o->proto, opt->name);

		if (opt->type == PROTO_OPT_URL && url && is_plain_http(url))
			what = "a URL is plain http: netrc's password";
	}
	if (!what)
		return 0;
	if (!o->allow_http_auth) {
		fprintf(stderr,
			"mount.trolley: %s would be sent unencrypted, for anyone on the network "
			"to read: use https, or -o allow_http_auth to accept that\n",
			what);
		return -EINVAL;
	}
	o->auth_plain_http = true;
	return 0;
}

/* layout=: parsed and checked against the searcher now, so that a bad template fails the mount
 * with the reason and a caret under the bad part, not a listing later. */
static int parse_layout(struct trolley_opts *o)
{
	const char *text = o->layout ? o->layout : "tree";
	char why[512];
	size_t at = 0;
	int err;

	o->layout_parsed = calloc(1, sizeof(*o->layout_parsed));
	if (!o->layout_parsed)
		return -ENOMEM;
	err = layout_parse(text, o->layout_parsed, why, sizeof(why), &at);
	if (err) {
		fprintf(stderr, "mount.trolley: layout: %s\n    %s\n    %*s^\n", why, text, (int)at,
			"");
		return err;
	}
	/* What the searcher can be asked for is its descriptor's (PROTO_SEARCH_* flags). */
	err = layout_fit_searcher(o->layout_parsed, proto_searcher_find(o->searcher), why,
				  sizeof(why));
	if (err)
		fprintf(stderr, "mount.trolley: layout=%s with searcher=%s: %s\n", text,
			o->searcher, why);
	return err;
}

/* A number, or a user (group if @group) name: fstab may hold either. */
static int parse_id(const char *text, bool group, unsigned *out)
{
	char *end, buf[4096];
	unsigned long v;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (*text && !*end && !errno && *text != '-' && *text != '+' && v < (unsigned)-1) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		if (getgrnam_r(text, &gr, buf, sizeof(buf), &grp) == 0 && grp) {
			*out = grp->gr_gid;
			return 0;
		}
	} else if (getpwnam_r(text, &pw, buf, sizeof(buf), &pwp) == 0 && pwp) {
		*out = pwp->pw_uid;
		return 0;
	}
	return -EINVAL;
}

/* uid=, gid=, umask=: who owns the files and folders of the mount and who may read them. The
 * kernel checks the modes (default_permissions is always on), so they are what decides, once
 * allow_other lets other users in at all. */
static int parse_owner(struct trolley_opts *o)
{
	unsigned id;
	char *end;
	unsigned long mask;

	o->uid = getuid();
	o->gid = getgid();
	o->umask = OPTS_UMASK_DEFAULT;
	if (o->uid_text) {
		if (parse_id(o->uid_text, false, &id) < 0) {
			fprintf(stderr, "mount.trolley: uid=%s: not a user name or number\n",
				o->uid_text);
			return -EINVAL;
		}
		o->uid = (uid_t)id;
	}
	if (o->gid_text) {
		if (parse_id(o->gid_text, true, &id) < 0) {
			fprintf(stderr, "mount.trolley: gid=%s: not a group name or number\n",
				o->gid_text);
			return -EINVAL;
		}
		o->gid = (gid_t)id;
	}
	if (o->umask_text) {
		errno = 0;
		mask = strtoul(o->umask_text, &end, 8);
		if (!*o->umask_text || *end || errno || mask > 0777 || *o->umask_text == '-') {
			fprintf(stderr,
				"mount.trolley: umask=%s: expected an octal mask such as 022 "
				"or 077\n",
				o->umask_text);
			return -EINVAL;
		}
		o->umask = (mode_t)mask;
	}
	return 0;
}

/* SOURCE starts with no registered scheme: say which there are. */
static int source_refused(void)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < proto_registry_len; i++)
		n += proto_registry[i]->scheme != NULL;
	fprintf(stderr, "mount.trolley: SOURCE must be ");
	for (size_t i = 0; i < proto_registry_len; i++) {
		const char *sep = k == 0 ? "" : k + 1 == n ? " or " : ", ";

		if (!proto_registry[i]->scheme)
			continue;
		fprintf(stderr, "%s%s", sep, proto_registry[i]->scheme->what);
		k++;
	}
	fprintf(stderr, "\n");
	return -EINVAL;
}

/* The SOURCE scheme's protocol reads SOURCE (dicom://), the options its scheme takes from
 * SOURCE default to it (qido=, wado_rs=, mint=), and searcher= and downloader= to the scheme's.
 * Each in the descriptor (protocols/protocol.h). */
static int apply_source(struct trolley_opts *o)
{
	const struct proto_scheme *sc = proto_scheme_find(o->source);
	const char *web;
	int err;

	if (!sc)
		return source_refused();
	web = o->source + (sc->web_after ? strlen(sc->web_after) : 0);
	if (sc->setup) {
		err = sc->setup(&o->proto, o->source);
		if (err)
			return err;
	}
	for (size_t i = 0; sc->from_source && sc->from_source[i]; i++)
		if (!proto_text(&o->proto, sc->from_source[i]) &&
		    proto_set_text(&o->proto, sc->from_source[i], web) < 0)
			return -ENOMEM;
	if (!o->searcher && !(o->searcher = strdup(sc->searcher)))
		return -ENOMEM;
	for (size_t i = 0; !o->downloader && i < 3 && sc->downloaders[i]; i++) {
		const struct proto_downloader *d = proto_downloader_find(sc->downloaders[i]);

		if (d && (!d->url || proto_text(&o->proto, d->url)) &&
		    !(o->downloader = strdup(d->name)))
			return -ENOMEM;
	}
	if (!o->downloader) {
		fprintf(stderr, "mount.trolley: %s\n",
			sc->no_downloader ? sc->no_downloader : "no downloader= for this SOURCE");
		return -EINVAL;
	}
	return 0;
}

/* The URL a chosen searcher or downloader needs, then each protocol's own checks, chosen or
 * not (an option given is checked either way). */
static int check_protocols(struct trolley_opts *o)
{
	struct proto_choice c = {
		.settings = &o->proto,
		.source = o->source,
		.searcher = proto_searcher_find(o->searcher),
		.downloader = proto_downloader_find(o->downloader),
	};

	if (c.searcher && c.searcher->url_required && !proto_text(&o->proto, c.searcher->url)) {
		fprintf(stderr, "mount.trolley: searcher=%s needs %s=URL\n", c.searcher->name,
			c.searcher->url);
		return -EINVAL;
	}
	if (c.downloader && c.downloader->url_required &&
	    !proto_text(&o->proto, c.downloader->url)) {
		fprintf(stderr, "mount.trolley: downloader=%s needs %s=URL\n", c.downloader->name,
			c.downloader->url);
		return -EINVAL;
	}
	for (size_t i = 0; i < proto_registry_len; i++) {
		int err = proto_registry[i]->check ? proto_registry[i]->check(&c) : 0;

		if (err)
			return err;
	}
	return 0;
}

int opts_finish(struct trolley_opts *o)
{
	if (o->unsupported) {
		fprintf(stderr, "mount.trolley: option '%s' is not supported by this version\n",
			o->unsupported);
		return -EINVAL;
	}
	if (!o->source) {
		fprintf(stderr, "mount.trolley: missing SOURCE (see mount.trolley --help)\n");
		return -EINVAL;
	}
	if (check_urls(o) < 0)
		return -EINVAL;
	if (!o->deid && !o->deid_map &&
	    (o->deid_keep_dates || o->deid_keep_patient || o->deid_keep_device ||
	     o->deid_keep_private || o->deid_clean_descriptors)) {
		fprintf(stderr, "mount.trolley: the deid_* options need deid=KEYFILE\n");
		return -EINVAL;
	}
	if (apply_source(o) < 0 || check_protocols(o) < 0)
		return -EINVAL;
	if (o->login_url && (!o->user || !o->password_file)) {
		fprintf(stderr, "mount.trolley: login_url= needs user= and password_file=\n");
		return -EINVAL;
	}
	if (o->password_file && !o->user) {
		fprintf(stderr, "mount.trolley: password_file= needs user=\n");
		return -EINVAL;
	}
	if (scope_credentials(o) < 0)
		return -EINVAL;
	if (parse_layout(o) < 0)
		return -EINVAL;
	if (o->prefetch && strcmp(o->prefetch, "series") != 0 && strcmp(o->prefetch, "none") != 0) {
		fprintf(stderr, "mount.trolley: prefetch=%s: expected series or none\n",
			o->prefetch);
		return -EINVAL;
	}
	if (o->meta_ttl < 0)
		o->meta_ttl = 600;
	if (o->timeout < 0 || o->connections < 0 || o->max_results < 0 ||
	    (o->retry < 0 && o->retry != LONG_MIN)) {
		fprintf(stderr, "mount.trolley: timeout, connections, retry and max_results must "
				"not be negative\n");
		return -EINVAL;
	}
	if (o->page_size < 0 || o->page_size > 5000) {
		fprintf(stderr, "mount.trolley: page_size=%ld: expected 1 to 5000\n", o->page_size);
		return -EINVAL;
	}
	if (!o->timeout)
		o->timeout = 60;
	if (!o->connections)
		o->connections = 8;
	/* Five minutes: a cloud archive's quota window is a second to a minute, and a busy
	 * archive recovers in seconds; past that a user would rather see the error. */
	if (o->retry == LONG_MIN)
		o->retry = 300;
	o->cache_size = 10ull << 30;
	if (o->cache_size_text && (opts_parse_size(o->cache_size_text, &o->cache_size) < 0 ||
				   o->cache_size < (1ull << 20))) {
		fprintf(stderr,
			"mount.trolley: cache_size=%s: expected a size such as 500M or 20G "
			"(at least 1M)\n",
			o->cache_size_text);
		return -EINVAL;
	}
	if (o->max_instance_size_text &&
	    (opts_parse_size(o->max_instance_size_text, &o->max_instance_size) < 0 ||
	     o->max_instance_size < (1ull << 10))) {
		fprintf(stderr,
			"mount.trolley: max_instance_size=%s: expected a size such as 500M or 8G "
			"(at least 1K)\n",
			o->max_instance_size_text);
		return -EINVAL;
	}
	if (parse_owner(o) < 0)
		return -EINVAL;
	/* The default is a share of the filesystem, known at mount (cache/store.c). */
	o->min_free = UINT64_MAX;
	if (o->min_free_text && opts_parse_size(o->min_free_text, &o->min_free) < 0) {
		fprintf(stderr,
			"mount.trolley: min_free=%s: expected a size such as 500M or 2G (0: no "
			"floor)\n",
			o->min_free_text);
		return -EINVAL;
	}
	if (!o->cache_dir && default_cache_dir(o) < 0) {
		fprintf(stderr, "mount.trolley: no cache_dir given and neither XDG_CACHE_HOME nor "
				"HOME is set\n");
		return -EINVAL;
	}
	return 0;
}

void opts_release(struct trolley_opts *o)
{
	free(o->source);
	free(o->searcher);
	free(o->downloader);
	free(o->cache_dir);
	free(o->cache_size_text);
	free(o->max_instance_size_text);
	free(o->min_free_text);
	free(o->loglevel);
	free(o->transfer_syntax);
	free(o->layout);
	free(o->layout_parsed);
	free(o->prefetch);
	free(o->cacert);
	free(o->cert);
	free(o->key);
	free(o->user);
	free(o->password_file);
	free(o->token_file);
	free(o->login_url);
	free(o->realm);
	free(o->auth_url);
	free(o->unsupported);
	free(o->uid_text);
	free(o->gid_text);
	free(o->umask_text);
	free(o->deid);
	free(o->deid_map);
	proto_settings_release(&o->proto);
}

void opts_usage(const char *progname)
{
	const struct proto_option *opt;
	char names[256];
	bool first = true;

	printf("usage: %s [-f] [-d] [-o OPTIONS] SOURCE MOUNTPOINT\n\n", progname);
	for (size_t i = 0; i < proto_registry_len; i++) {
		if (!proto_registry[i]->scheme)
			continue;
		printf("%s%s\n", first ? "SOURCE: " : "        ", proto_registry[i]->scheme->usage);
		first = false;
	}
	printf("\ntrolley options:\n");
	proto_names(false, "|", names, sizeof(names));
	printf("    -o searcher=%s  how to search\n", names);
	proto_names(true, "|", names, sizeof(names));
	printf("    -o downloader=%s  how to download\n", names);
	for (size_t i = 0; (opt = proto_option_at(i)); i++)
		if (opt->usage)
			printf("    -o %s\n", opt->usage);
	printf("    -o cache_dir=DIR           LMDB cache (default "
	       "$XDG_CACHE_HOME/trolley/<hash>)\n"
	       "    -o cache_size=SIZE         cache map size, e.g. 500M, 20G (default 10G)\n"
	       "    -o max_instance_size=SIZE  a larger instance is refused (default 4G)\n"
	       "    -o min_free=SIZE           kept free on cache_dir's disk (default 5%%, <= 1G)\n"
	       "    -o meta_ttl=SECONDS        query results stay fresh this long (default 600)\n"
	       "    -o timeout=SECONDS         a stalled transfer fails after this (default 60)\n"
	       "    -o connections=N           parallel transfers, DICOM associations (default 8)\n"
	       "    -o retry=SECONDS           retry 429/502/503/504 this long (default 300)\n"
	       "    -o max_results=N           bound on /patients and /studies listings\n"
	       "    -o page_size=N             QIDO-RS results asked per request (default: up to "
	       "5000)\n"
	       "    -o layout=tree|flat|TEMPLATE  how /patients is laid out and named, e.g.\n"
	       "                               "
	       "%%PatientID/%%StudyDate/%%SeriesNumber/%%InstanceNumber\n"
	       "                               (flat: a study folder holds all its instances)\n"
	       "    -o prefetch=series|none    opening a file fetches its series (default series)\n"
	       "    -o transfer_syntax=UID     ask WADO-RS, C-GET for it (default: as stored)\n"
	       "    -o cacert=FILE             CA certificates for https\n"
	       "    -o cert=FILE,key=FILE      client certificate and key (PEM) for https\n"
	       "    -o user=NAME               HTTP basic auth user\n"
	       "    -o password_file=FILE      its password (the file must be mode 600)\n"
	       "    -o token_file=FILE         bearer token, read again on HTTP 401 (mode 600)\n"
	       "    -o netrc                   credentials from ~/.netrc\n"
	       "    -o login_url=URL           Vitrea-style login with user= and password_file=\n"
	       "    -o realm=REALM             the X-Realm of that login\n"
	       "    -o insecure                do not verify TLS certificates\n"
	       "    -o allow_http_auth         send credentials over plain http (a warning)\n"
	       "    -o offline                 serve only what is cached; never contact the "
	       "archive\n"
	       "    -o uid=USER,gid=GROUP      who owns the files (default: who mounts)\n"
	       "    -o umask=MASK              mode bits taken from 0555/0444 (default 022)\n"
	       "    -o deid=KEYFILE            the de-identified view (PS3.15 Annex E basic\n"
	       "                               profile, keyed by KEYFILE: mode 600, 32+ bytes)\n"
	       "    -o deid_keep_dates         its options, each off by default: modified dates,\n"
	       "    -o deid_keep_patient       patient characteristics, device identity, safe\n"
	       "    -o deid_keep_device        private attributes; clean descriptors\n"
	       "    -o deid_keep_private\n"
	       "    -o deid_clean_descriptors\n"
	       "    --deid-map KEYFILE SOURCE  print the original,pseudonym CSV of every UID and\n"
	       "                               PatientID (the custodian's; mounts nothing)\n"
	       "    -o loglevel=LEVEL          error, warn (default), info or debug\n"
	       "    -f                         stay in the foreground, log to stderr\n"
	       "    -d                         FUSE debug output (implies -f)\n"
	       "\n");
}
