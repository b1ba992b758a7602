/* A protocol as one descriptor (curl's Curl_handler behind its Curl_scheme): the file that
 * implements a protocol says here, in one place, which SOURCE scheme it serves, which
 * searcher= and downloader= names it makes, its -o options and their checks, which of its URLs
 * credentials may go to, and for a searcher what it returns unasked. The registry
 * (protocols/registry.c) is the list of them: fs/opts.c, the usage text and the layout check
 * loop over it and test flags, never a protocol's name. Read once at start, never written:
 * any thread may read it. */
#ifndef TROLLEY_PROTOCOL_H
#define TROLLEY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/query.h"
#include "protocols/downloader.h"
#include "protocols/proto_config.h"
#include "protocols/searcher.h"

/** All registered protocols' options together (tests/unit/test_registry.c checks it). */
#define PROTO_OPTIONS_MAX 24

enum proto_option_type {
	PROTO_OPT_TEXT, /* NAME=TEXT */
	PROTO_OPT_URL,	/* NAME=URL: checked as a web URL without user or password (opts_urls()) */
	PROTO_OPT_INT,	/* NAME=N, read by fuse_opt as %d */
};

/* Option flags. */
/** With a SOURCE that is no web URL (dicom://), credentials go to the first of these given. */
#define PROTO_OPT_AUTH_BASE (1u << 0)

/** One -o option of a protocol. */
struct proto_option {
	const char *name; /* as users type it, without '=': "rad69" */
	enum proto_option_type type;
	unsigned flags;	   /* PROTO_OPT_* */
	const char *usage; /* its line(s) of --help after "    -o ", or NULL (on another's line) */
};

/**
 * The values of every registered option, by its index in the registry, beside its name
 * (proto_settings_init()), so that a protocol reads its own by name without the registry.
 * Text values are owned (freed by proto_settings_release()); an INT option not given is 0.
 */
struct proto_settings {
	const char *name[PROTO_OPTIONS_MAX];
	char *text[PROTO_OPTIONS_MAX];
	int num[PROTO_OPTIONS_MAX];
};

/* Searcher flags (curl's PROTOPT_). */
/** It can be asked for attributes beyond what it returns unasked (QIDO-RS includefield). */
#define PROTO_SEARCH_INCLUDE (1u << 0)
/** It can ask series attributes in an instance query (not hierarchical C-FIND). */
#define PROTO_SEARCH_SERIES_AT_INSTANCE (1u << 1)

/** A searcher= value. */
struct proto_searcher {
	const char *name; /* "qido-rs" */
	int (*make)(const struct proto_config *cfg, struct searcher **out);
	unsigned flags; /* PROTO_SEARCH_* */
	/* What it returns at each enum query_level without being asked: a layout template asks
	 * for anything else it names (fs/layout.c), or is refused without PROTO_SEARCH_INCLUDE. */
	const uint32_t *returns[3];
	size_t nreturns[3];
	const char *url;   /* the option naming where it searches, or NULL */
	bool url_required; /* without that option the mount is refused ("needs mint=URL") */
};

/** A downloader= value. */
struct proto_downloader {
	const char *name; /* "wado-rs" */
	int (*make)(const struct proto_config *cfg, struct downloader **out);
	const char *url; /* the option naming where it downloads from, or NULL */
	bool url_required;
	/** Optional: what can be checked before mounting only by trying (a port to listen on),
	 * with the message on stderr. @return 0 or -errno. */
	int (*before_mount)(const struct proto_settings *s);
};

/** A SOURCE scheme: what a SOURCE URL that starts with it means. */
struct proto_scheme {
	const char *prefix[2]; /* exact: "mint+http://", "mint+https://" */
	/* For the URL checks: the case-insensitive prefix that marks SOURCE as no web URL at all
	 * ("dicom://"), or the one dropped to make it one ("mint+"); NULL: SOURCE is one. */
	const char *not_web, *web_after;
	const char *what;  /* for the message on a SOURCE of no scheme: "a mint+http[s]:// URL" */
	const char *usage; /* its line(s) after "SOURCE: " in --help */
	const char *const *from_source; /* options that are SOURCE (web part) unless given */
	const char *searcher;		/* searcher= unless given */
	/* downloader= unless given: the first of these whose url option is given (or that has
	 * none); if none is, no_downloader is the message. */
	const char *downloaders[3];
	const char *no_downloader;
	/** Optional: read SOURCE into the settings (dicom://AE@host:port). Message on stderr.
	 * @return 0, -EINVAL or -ENOMEM. */
	int (*setup)(struct proto_settings *s, const char *source);
};

/** What the checks of a protocol see: the settings and what was chosen. */
struct proto_choice {
	struct proto_settings *settings;
	const char *source;
	const struct proto_searcher *searcher;	   /* NULL: not a registered name */
	const struct proto_downloader *downloader; /* NULL: not a registered name */
};

/** One protocol: one file's descriptor. */
struct protocol {
	const char *name;		   /* for messages and tests: "RAD-69" */
	const struct proto_scheme *scheme; /* or NULL */
	const struct proto_option *options;
	size_t noptions;
	const struct proto_searcher *searchers;
	size_t nsearchers;
	const struct proto_downloader *downloaders;
	size_t ndownloaders;
	/** Optional: check its options against each other and the choice, message on stderr.
	 * Called for every protocol, chosen or not (an option given is checked either way).
	 * @return 0, -EINVAL or -ENOMEM. */
	int (*check)(const struct proto_choice *c);
};

/** The registry, in the order of --help and of the URL checks. */
extern const struct protocol *const proto_registry[];
extern const size_t proto_registry_len;

/** The searcher/downloader called @name, or NULL. */
const struct proto_searcher *proto_searcher_find(const char *name);
const struct proto_downloader *proto_downloader_find(const char *name);
/** The scheme that @source starts with (exactly), or NULL. */
const struct proto_scheme *proto_scheme_find(const char *source);

/** Every registered option in order: @i from 0; NULL past the last. */
const struct proto_option *proto_option_at(size_t i);
/** Name every registered option in @s (zeroed by the caller). @return 0, or -E2BIG when
 * they are more than PROTO_OPTIONS_MAX. */
int proto_settings_init(struct proto_settings *s);
/** Set option @name to a copy of @value. @return 0, -ENOENT (no such option), -ENOMEM. */
int proto_set_text(struct proto_settings *s, const char *name, const char *value);
void proto_settings_release(struct proto_settings *s);

static inline int proto_settings_index(const struct proto_settings *s, const char *name)
{
	for (int i = 0; s && i < PROTO_OPTIONS_MAX && s->name[i]; i++)
		if (strcmp(s->name[i], name) == 0)
			return i;
	return -1;
}

/** The value of option @name (borrowed; NULL when not given or not registered). */
static inline const char *proto_text(const struct proto_settings *s, const char *name)
{
	int i = proto_settings_index(s, name);

	return i >= 0 ? s->text[i] : NULL;
}

/** The value of INT option @name (0 when not given). */
static inline int proto_num(const struct proto_settings *s, const char *name)
{
	int i = proto_settings_index(s, name);

	return i >= 0 ? s->num[i] : 0;
}

/** proto_text() of the settings a protocol is built from. */
static inline const char *proto_config_text(const struct proto_config *cfg, const char *name)
{
	return proto_text(cfg->settings, name);
}

static inline int proto_config_num(const struct proto_config *cfg, const char *name)
{
	return proto_num(cfg->settings, name);
}

/** Whether every registered searcher returns @tag unasked at @level. */
bool proto_searchers_return(enum query_level level, uint32_t tag);
/** Whether searcher @s returns @tag unasked at @level. */
bool proto_searcher_returns(const struct proto_searcher *s, enum query_level level, uint32_t tag);

/** The registered searcher (@downloaders: downloader) names joined by @sep into @buf. */
void proto_names(bool downloaders, const char *sep, char *buf, size_t n);

/** Run the before_mount() check of the downloader called @downloader. @return 0 or -errno. */
int proto_before_mount(const char *downloader, const struct proto_settings *s);

#endif
