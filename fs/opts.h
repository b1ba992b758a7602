/* The command line of mount.trolley: our options in one fuse_opt table (sshfs's pattern), FUSE's
 * own passed through, the mount(8) helper's conventions accepted. */
#ifndef TROLLEY_OPTS_H
#define TROLLEY_OPTS_H

#include <fuse_opt.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/layout.h"
#include "protocols/protocol.h"

/* The default umask=: the modes of before (0555 folders, 0444 files). */
#define OPTS_UMASK_DEFAULT 022

struct trolley_opts {
	char *source;	  /* SOURCE as given (may hold credentials: never log it) */
	char *searcher;	  /* "qido-rs" */
	char *downloader; /* "wado-rs" */
	/* The protocols' own options (qido=, rad69=, aet=, ...: protocols/protocol.h); URLs from
	 * SOURCE unless given. */
	struct proto_settings proto;
	char *cache_dir;
	char *cache_size_text;
	uint64_t cache_size; /* bytes */
	char *max_instance_size_text;
	uint64_t max_instance_size; /* bytes; 0: the cache's default */
	char *min_free_text;
	uint64_t min_free; /* bytes kept free under cache_dir; UINT64_MAX: 5%, at most 1G */
	long meta_ttl;
	long timeout;
	long connections;
	long retry; /* seconds a request may be retried after 429/502/503/504, or DIMSE
		     * pushback (0: none) */
	long max_results;
	long page_size; /* QIDO-RS results per request (0: the protocol's default) */
	char *loglevel;
	char *transfer_syntax;
	char *layout;		      /* "tree" (default), "flat" or a template (fs/layout.h) */
	struct layout *layout_parsed; /* derived: the parsed layout (owned) */
	char *prefetch;		      /* "series" (default) or "none" */
	char *cacert;
	char *cert, *key; /* client certificate (PEM) and its key */
	char *user;
	char *password_file;
	char *token_file;
	int netrc;
	char *login_url;
	char *realm;
	int insecure;
	int allow_http_auth;  /* credentials may go over plain http (warned at mount) */
	char *auth_url;	      /* derived: credentials go only to this URL's origin; may be NULL */
	bool auth_plain_http; /* derived: they will travel unencrypted (allow_http_auth) */
	int offline;
	char *uid_text, *gid_text, *umask_text;
	uid_t uid;	   /* derived: owner of every file and folder (default: who mounts) */
	gid_t gid;	   /* derived: their group (default: who mounts' group) */
	mode_t umask;	   /* derived: taken from 0555 (folders) and 0444 (files) */
	char *unsupported; /* first option named in DESIGN.md that this build lacks */
	/* The de-identified view (fs/view.h): the key file, and the profile's options. */
	char *deid;
	int deid_keep_dates, deid_keep_patient, deid_keep_device, deid_keep_private;
	int deid_clean_descriptors;
	char *deid_map; /* --deid-map KEYFILE: print the custodian's mapping, mount nothing */
	int show_help;
	int show_version;
	int nonopt_count;
};

/**
 * Parse @args (mount.trolley's argv) into @o, leaving in @args what FUSE itself reads (the
 * mountpoint, -f, -d, -o FUSE options). @return 0 or -EINVAL (message printed to stderr).
 */
int opts_parse(struct fuse_args *args, struct trolley_opts *o);
/** Fill defaults and derived values (URLs from SOURCE, cache_dir). @return 0 or -EINVAL. */
int opts_finish(struct trolley_opts *o);
void opts_release(struct trolley_opts *o);
/** Parse "500M", "20G", "1048576" into bytes. @return 0 or -EINVAL. */
int opts_parse_size(const char *text, uint64_t *out);
/** A URL option by the name users know it ("SOURCE", "qido="), for messages. */
struct opts_url {
	char name[40];	 /* "SOURCE", "qido=" */
	const char *url; /* borrowed from the opts */
};
#define OPTS_URLS_MAX (2 + PROTO_OPTIONS_MAX)
/**
 * The URL options that are set (SOURCE without its "mint+", not a dicom:// SOURCE; the
 * protocols' URL options in registry order; login_url=), into @out
 * (room for OPTS_URLS_MAX). opts_finish() checks each with url_check_web(); main checks them
 * again against libcurl (http_url_agrees()). @return how many.
 */
size_t opts_urls(const struct trolley_opts *o, struct opts_url *out);
/** The usage text (our options). */
void opts_usage(const char *progname);

#endif
