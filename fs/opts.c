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

/* clang-format off */
static const struct fuse_opt trolley_opt_table[] = {
	TROLLEY_OPT("searcher=%s", searcher, 0),
	TROLLEY_OPT("downloader=%s", downloader, 0),
	TROLLEY_OPT("qido=%s", qido, 0),
	TROLLEY_OPT("wado_rs=%s", wado_rs, 0),
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
	TROLLEY_OPT("wado_uri=%s", wado_uri, 0),
	TROLLEY_OPT("mint=%s", mint, 0),
	TROLLEY_OPT("login_url=%s", login_url, 0),
	TROLLEY_OPT("rad69=%s", rad69, 0),
	TROLLEY_OPT("aet=%s", aet, 0),
	TROLLEY_OPT("aec=%s", aec, 0),
	TROLLEY_OPT("dicom=%s", dicom, 0),
	TROLLEY_OPT("move_port=%d", move_port, 0),
	TROLLEY_OPT("move_from=%s", move_from, 0),
	TROLLEY_OPT("rad69_ignore=%s", rad69_ignore, 0),
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

int opts_parse(struct fuse_args *args, struct trolley_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->meta_ttl = -1;
	o->retry = LONG_MIN; /* not given */
	if (fuse_opt_parse(args, o, trolley_opt_table, opts_proc) < 0)
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

/* AEC@host:port (a dicom:// SOURCE without its scheme, or dicom=): the DIMSE peer. An aec=
 * option wins over the title given here. dcmtk 3.6.7 reads "host:port" with sscanf("%[^:]"):
 * an IPv6 address cannot be reached (measured: "Illegal service parameter"), so it is refused
 * here with a message rather than failing at the first listing. */
static int parse_dicom_peer(struct trolley_opts *o, const char *p)
{
	const char *at = strchr(p, '@'), *colon, *host;
	size_t hlen;
	char *end = NULL;
	long port;

	if (!at || at == p || at - p > 16) {
		fprintf(stderr, "mount.trolley: expected dicom://AETITLE@host:port (an AE title "
				"of 1 to 16 characters)\n");
		return -EINVAL;
	}
	colon = strrchr(at, ':');
	port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == at + 1 || !end || *end || port < 1 || port > 65535) {
		fprintf(stderr, "mount.trolley: expected dicom://AETITLE@host:port\n");
		return -EINVAL;
	}
	host = at + 1;
	hlen = (size_t)(colon - host);
	if (memchr(host, '[', hlen) || memchr(host, ':', hlen)) {
		fprintf(stderr, "mount.trolley: DICOM networking reaches IPv4 addresses and host "
				"names, not IPv6 addresses (dcmtk)\n");
		return -EINVAL;
	}
	if (!o->aec)
		o->aec = strndup(p, (size_t)(at - p));
	free(o->dimse_host);
	o->dimse_host = strndup(host, hlen);
	o->dimse_port = (int)port;
	return o->aec && o->dimse_host ? 0 : -ENOMEM;
}

/* dicom://AEC@host:port: C-FIND searches and C-GET downloads, unless a WADO URL is given
 * for downloads (an archive that speaks both). */
static int parse_dicom_source(struct trolley_opts *o)
{
	if (parse_dicom_peer(o, o->source + 8) < 0)
		return -EINVAL;
	if (!o->searcher)
		o->searcher = strdup("c-find");
	if (!o->downloader && o->wado_rs)
		o->downloader = strdup("wado-rs");
	if (!o->downloader && o->wado_uri)
		o->downloader = strdup("wado-uri");
	if (!o->downloader)
		o->downloader = strdup("c-get");
	return o->searcher && o->downloader ? 0 : -ENOMEM;
}

/* The DIMSE protocols need a peer, and C-MOVE a port of ours to receive on. */
static int check_dimse(const struct trolley_opts *o)
{
	bool find = o->searcher && strcmp(o->searcher, "c-find") == 0;
	bool get = o->downloader && strcmp(o->downloader, "c-get") == 0;
	bool move = o->downloader && strcmp(o->downloader, "c-move") == 0;

	if ((find || get || move) && !o->dimse_host) {
		fprintf(stderr,
			"mount.trolley: %s=%s needs a dicom://AE@host:port SOURCE or "
			"dicom=AE@host:port\n",
			find ? "searcher" : "downloader", find ? o->searcher : o->downloader);
		return -EINVAL;
	}
	if (move && (o->move_port < 1 || o->move_port > 65535)) {
		fprintf(stderr, "mount.trolley: downloader=c-move needs move_port=PORT, where "
				"the archive sends the instances (to aet=, default TROLLEY)\n");
		return -EINVAL;
	}
	if (o->aet && (!*o->aet || strlen(o->aet) > 16)) {
		fprintf(stderr, "mount.trolley: aet=%s: an AE title is 1 to 16 characters\n",
			o->aet);
		return -EINVAL;
	}
	return 0;
}

size_t opts_urls(const struct trolley_opts *o, struct opts_url *out)
{
	const struct opts_url all[] = {{"SOURCE", o->source},	    {"qido=", o->qido},
				       {"wado_rs=", o->wado_rs},    {"wado_uri=", o->wado_uri},
				       {"mint=", o->mint},	    {"rad69=", o->rad69},
				       {"login_url=", o->login_url}};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *url = all[i].url;

		/* dicom://AE@host:port names a DIMSE peer: its '@' follows an AE title. */
		if (!url || (i == 0 && strncasecmp(url, "dicom://", 8) == 0))
			continue;
		if (i == 0 && strncasecmp(url, "mint+", 5) == 0)
			url += 5;
		out[n].name = all[i].name;
		out[n++].url = url;
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
 * a dicom:// SOURCE: the WADO or RAD-69 URL, the only web host); the password of a login_url=
 * goes to login_url alone. netrc names its hosts itself, so with netrc every web URL counts.
 * Plain http is refused unless allow_http_auth says the user accepts it (main warns). */
static int scope_credentials(struct trolley_opts *o)
{
	const char *web[] = {o->qido, o->wado_rs, o->wado_uri, o->mint, o->rad69};
	const char *what = NULL, *base;

	if (strncmp(o->source, "mint+", 5) == 0)
		base = o->source + 5;
	else if (strncmp(o->source, "http", 4) == 0)
		base = o->source;
	else
		base = o->wado_rs ? o->wado_rs : o->wado_uri ? o->wado_uri : o->rad69;
	o->auth_url = base ? strdup(base) : NULL;
	if (base && !o->auth_url)
		return -ENOMEM;
	if (o->login_url && is_plain_http(o->login_url))
		what = "login_url= is plain http: the password";
	else if (((o->user && !o->login_url) || o->token_file) && is_plain_http(o->auth_url))
		what = o->token_file ? "the archive is plain http: the bearer token"
				     : "the archive is plain http: the password";
	for (size_t i = 0; !what && o->netrc && i < sizeof(web) / sizeof(web[0]); i++)
		if (web[i] && is_plain_http(web[i]))
			what = "a URL is plain http: netrc's password";
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
	bool mint = strcmp(o->searcher, "mint") == 0, find = strcmp(o->searcher, "c-find") == 0;
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
	/* MINT answers a fixed summary and has no includefield; a hierarchical C-FIND asks no
	 * series attribute in an instance query. */
	err = layout_check_searcher(o->layout_parsed, !mint, !find, why, sizeof(why));
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
	if (o->dicom && strncmp(o->source, "dicom://", 8) != 0 && parse_dicom_peer(o, o->dicom) < 0)
		return -EINVAL;
	if (strncmp(o->source, "mint+http://", 12) == 0 ||
	    strncmp(o->source, "mint+https://", 13) == 0) {
		/* MINT searches; downloads go to RAD-69 or WADO-URI, whichever is given. */
		if (!o->mint)
			o->mint = strdup(o->source + 5);
		if (!o->searcher)
			o->searcher = strdup("mint");
		if (!o->downloader && o->rad69)
			o->downloader = strdup("rad69");
		if (!o->downloader && o->wado_uri)
			o->downloader = strdup("wado-uri");
		if (!o->downloader) {
			fprintf(stderr, "mount.trolley: a mint+http source needs rad69=URL or "
					"wado_uri=URL for downloads\n");
			return -EINVAL;
		}
	} else if (strncmp(o->source, "dicom://", 8) == 0) {
		if (parse_dicom_source(o) < 0)
			return -EINVAL;
	} else if (strncmp(o->source, "http://", 7) != 0 &&
		   strncmp(o->source, "https://", 8) != 0) {
		fprintf(stderr, "mount.trolley: SOURCE must be an http[s]:// DICOMweb URL, a "
				"mint+http[s]:// URL or dicom://AE@host:port\n");
		return -EINVAL;
	}
	if (o->downloader && strcmp(o->downloader, "rad69") == 0 && !o->rad69) {
		fprintf(stderr, "mount.trolley: downloader=rad69 needs rad69=URL\n");
		return -EINVAL;
	}
	if (o->rad69_ignore && strcmp(o->rad69_ignore, "XDSMissingDocument") != 0) {
		fprintf(stderr,
			"mount.trolley: rad69_ignore=%s: only XDSMissingDocument can be "
			"ignored\n",
			o->rad69_ignore);
		return -EINVAL;
	}
	if (o->searcher && strcmp(o->searcher, "mint") == 0 && !o->mint) {
		fprintf(stderr, "mount.trolley: searcher=mint needs mint=URL\n");
		return -EINVAL;
	}
	if (o->login_url && (!o->user || !o->password_file)) {
		fprintf(stderr, "mount.trolley: login_url= needs user= and password_file=\n");
		return -EINVAL;
	}
	if (o->password_file && !o->user) {
		fprintf(stderr, "mount.trolley: password_file= needs user=\n");
		return -EINVAL;
	}
	if (o->downloader && strcmp(o->downloader, "wado-uri") == 0 && !o->wado_uri) {
		fprintf(stderr, "mount.trolley: downloader=wado-uri needs wado_uri=URL\n");
		return -EINVAL;
	}
	if (!o->searcher)
		o->searcher = strdup("qido-rs");
	if (!o->downloader)
		o->downloader = strdup("wado-rs");
	if (!o->qido && strncmp(o->source, "http", 4) == 0)
		o->qido = strdup(o->source);
	if (!o->wado_rs && strncmp(o->source, "http", 4) == 0)
		o->wado_rs = strdup(o->source);
	if (!o->searcher || !o->downloader)
		return -ENOMEM;
	if (scope_credentials(o) < 0)
		return -EINVAL;
	if (check_dimse(o) < 0)
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
	free(o->qido);
	free(o->wado_rs);
	free(o->cache_dir);
	free(o->cache_size_text);
	free(o->max_instance_size_text);
	free(o->min_free_text);
	free(o->loglevel);
	free(o->transfer_syntax);
	free(o->move_from);
	free(o->layout);
	free(o->layout_parsed);
	free(o->prefetch);
	free(o->cacert);
	free(o->cert);
	free(o->key);
	free(o->user);
	free(o->password_file);
	free(o->token_file);
	free(o->wado_uri);
	free(o->mint);
	free(o->login_url);
	free(o->rad69);
	free(o->aet);
	free(o->aec);
	free(o->dicom);
	free(o->dimse_host);
	free(o->rad69_ignore);
	free(o->realm);
	free(o->auth_url);
	free(o->unsupported);
	free(o->uid_text);
	free(o->gid_text);
	free(o->umask_text);
	free(o->deid);
	free(o->deid_map);
}

void opts_usage(const char *progname)
{
	printf("usage: %s [-f] [-d] [-o OPTIONS] SOURCE MOUNTPOINT\n"
	       "\n"
	       "SOURCE: http[s]://host[:port]/dicom-web (QIDO-RS and WADO-RS at that URL)\n"
	       "        mint+http[s]://host/path/mint (MINT search; rad69= or wado_uri= download)\n"
	       "        dicom://AEC@host:port (C-FIND search, C-GET download)\n"
	       "\n"
	       "trolley options:\n"
	       "    -o searcher=qido-rs|mint|c-find  how to search\n"
	       "    -o aet=AE,aec=AE           our AE title (TROLLEY) and the archive's\n"
	       "    -o downloader=wado-rs|wado-uri|rad69|c-get|c-move  how to download\n"
	       "    -o dicom=AEC@host:port     the DICOM peer for c-find/c-get/c-move when\n"
	       "                               SOURCE is not dicom://\n"
	       "    -o move_port=PORT          where our storage SCP takes C-MOVE sub-operations\n"
	       "    -o move_from=HOST          the host that sends them (default: the archive)\n"
	       "    -o qido=URL                QIDO-RS base URL (default: SOURCE)\n"
	       "    -o wado_rs=URL             WADO-RS base URL (default: SOURCE)\n"
	       "    -o wado_uri=URL            WADO-URI endpoint (for downloader=wado-uri)\n"
	       "    -o mint=URL                MINT base URL (for searcher=mint)\n"
	       "    -o rad69=URL               RAD-69 service (for downloader=rad69)\n"
	       "    -o rad69_ignore=XDSMissingDocument  missing documents without error lines\n"
	       "    -o cache_dir=DIR           LMDB cache (default "
	       "$XDG_CACHE_HOME/trolley/<hash>)\n"
	       "    -o cache_size=SIZE         cache map size, e.g. 500M, 20G (default 10G)\n"
	       "    -o max_instance_size=SIZE  a larger instance is refused (default 4G)\n"
	       "    -o min_free=SIZE           kept free on cache_dir's disk (default 5%%, <= 1G)\n"
	       "    -o meta_ttl=SECONDS        query results stay fresh this long (default 600)\n"
	       "    -o timeout=SECONDS         a stalled transfer fails after this (default 60)\n"
	       "    -o connections=N           parallel transfers, DICOM associations (default 8)\n"
	       "    -o retry=SECONDS           retry 429/502/503/504 this long (default 300)\n"
	       "    -o max_results=N           bound on /patients and /studies listings\n"
	       "    -o page_size=N             QIDO-RS results asked per request (default: up to 5000)\n"
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
	       "\n",
	       progname);
}
