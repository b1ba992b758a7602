/* URLs as trolley reads them: one parser for the check of every URL option at mount time
 * (fs/opts.c), for the log's redactor (core/log.c) and, through the comparison with libcurl's
 * own parser, for the HTTP layer (protocols/http.c). Pure C, no libcurl: core stays curl-free. */
#ifndef TROLLEY_URL_H
#define TROLLEY_URL_H

#include <stdbool.h>
#include <stddef.h>

/** A part of the parsed text: @len bytes at @off. */
struct url_span {
	size_t off, len;
};

/**
 * The parts of a URL, as offsets into the text it was parsed from. The reading is lenient on
 * purpose, so that it finds a user name or password wherever libcurl, a browser or RFC 3986
 * would send one:
 *  - a scheme is "ALPHA *(ALPHA / DIGIT / + / - / .)" followed by ':' and then '/' or '\'
 *    (RFC 3986 §3.1); text without one (no scheme, or "http:user@host" with no slash) has the
 *    authority at its start, as libcurl reads it when it guesses the scheme;
 *  - any run of '/' and '\' after the scheme is skipped (browsers do that for http; curl
 *    takes one to three '/');
 *  - the authority ends at the first '/', '?' or '#' (curl's rule; a browser also stops at
 *    '\', which only makes its authority shorter), and its userinfo at the LAST '@' in it
 *    (a password may hold an unescaped '@');
 *  - the host is "[...]" (an IPv6 literal, brackets kept) or what precedes the last ':'.
 * A '@' in the path, query or fragment is not userinfo.
 */
struct url {
	struct url_span scheme;	   /* without its ':'; len 0: none */
	struct url_span slashes;   /* the '/' and '\' between "scheme:" and the authority */
	struct url_span authority; /* userinfo, '@', host, ':', port */
	bool has_userinfo;	   /* an '@' in the authority, even with nothing before it */
	struct url_span userinfo;  /* before that '@' (may be empty) */
	struct url_span host;	   /* "[v6]" with its brackets; may be empty */
	bool has_port;		   /* a ':' after the host, even with no digits */
	struct url_span port;
	struct url_span path;	  /* up to '?' or '#'; may be empty */
	bool has_query;		  /* a '?' */
	struct url_span query;	  /* after the '?', without it */
	bool has_fragment;	  /* a '#' */
	struct url_span fragment; /* after the '#', without it */
};

/** Split @len bytes of @text (no NUL needed) into @out. Never fails: every text has a reading. */
void url_parse(const char *text, size_t len, struct url *out);

/**
 * Whether @text is a URL that trolley sends requests to: "http://" or "https://" (the scheme
 * in any case) with exactly two slashes, no userinfo (no '@' before the host, not even an
 * empty one or a percent-escaped one), a host that is a name of letters, digits, '-', '.',
 * '_', '~' (no percent-escapes; a numeric one as a.b.c.d with no leading zeros, since
 * libcurl rewrites "127.1" or "0x7f.1") or a bracketed IPv6 literal (with an optional "%25zone"), an
 * optional port of 1 to 65535, and no space, control byte or backslash anywhere. On refusal
 * @why (size @n, may be 0) says why in words that never quote the URL (it may hold a secret).
 * @return 0 or -EINVAL.
 */
int url_check_web(const char *text, char *why, size_t n);

/** Whether the scheme of @u (parsed from @text) is @scheme, compared without case. */
bool url_scheme_is(const struct url *u, const char *text, const char *scheme);

#endif
