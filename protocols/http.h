/* HTTP for every web protocol: libcurl easy handles per request (never shared between threads),
 * one share handle for connections, DNS and TLS sessions, timeouts, TLS and errno mapping. */
#ifndef TROLLEY_HTTP_H
#define TROLLEY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/errors.h"

struct http_config {
	long timeout_s;		/* less than 1 KiB/s over this long ends a transfer (0: 60) */
	long connect_timeout_s; /* 0: 10 */
	long max_connections;	/* parallel requests (0: 8); a quarter of them (at least one,
				 * none of one) only for HTTP_QUERY requests */
	long retry_s;		/* a request the archive pushes back (429, 503, 502, 504) is
				 * made again for up to this many seconds in all (0: never) */
	bool insecure;		/* skip TLS verification */
	const char *cacert;	/* borrowed for the life of the http; may be NULL */
	const char *cert, *key; /* client certificate and its key (PEM files); may be NULL */
	const char *user;	/* HTTP basic auth user; the password comes from password_file */
	const char *password_file;
	const char *token_file; /* bearer token, read again when the server answers 401 */
	bool netrc;		/* credentials from ~/.netrc */
	const char *login_url;	/* Vitrea-style login: POST with X-Userid/X-Password/X-Realm,
				 * then the session cookie; user and password_file are for it */
	const char *realm;	/* X-Realm of that login; may be NULL */
	const char *auth_url;	/* basic auth and the bearer token go only to requests whose
				 * origin (scheme://host:port) is this URL's; NULL: nowhere */
};

struct http;

/** What a request is, for the connections= slots: instance transfers (HTTP_BULK) never take
 * the slots kept for queries and metadata (HTTP_QUERY), so a listing never waits behind a
 * `cp -r`; a waiting query also goes before waiting transfers. */
enum http_kind {
	HTTP_QUERY, /* searches, metadata: small replies someone waits for */
	HTTP_BULK,  /* instances: may take minutes */
};

/** What the response callback learns before the first body byte. Borrowed for the call. */
struct http_response {
	long status;
	const char *content_type; /* "" if the server sent none */
	const char *url;	  /* redacted: safe to log */
	const char *warning;	  /* the Warning header(s), "" if none (QIDO-RS marks a cut
				   * answer with one) */
};

/**
 * Called with each piece of a 2xx response body, in order. @return 0 to go on, or a negative
 * errno that ends the transfer and becomes http_get()'s result.
 */
typedef int (*http_body_fn)(void *ctx, const struct http_response *resp, const void *data,
			    size_t len);

/** @return 0 and a new http in @out (caller frees with http_free()); -EPERM or -EINVAL if a
 * secret file is unsafe or unreadable (logged); -ENOMEM. */
int http_new(const struct http_config *cfg, struct http **out);
void http_free(struct http *h);

/** End every retry wait of @h now, and make no more: the requests waiting to be made again
 * fail with -ECANCELED (unmount, SIGTERM). Any thread; @h may be NULL. */
void http_stop(struct http *h);

/**
 * GET @url with "Accept: @accept" (may be NULL), streaming a 2xx body to @on_body, in a slot
 * of @kind. A transfer that moves less than 1 KiB a second on average over a window of
 * timeout= seconds (waiting for the reply or in its body) ends with -ETIMEDOUT.
 * Pushback (429, 503, 502, 504) is no failure while retry_s lasts: the request is made again
 * after the archive's Retry-After (seconds or an HTTP date, at most a minute), or else after
 * an exponential backoff with jitter; meanwhile the bound of requests in flight is halved on
 * each 429 or 503 and grows back by one per round of successes (core/slots.h). Only these
 * statuses are retried, and their bodies never reach @on_body, so @on_body never sees a byte
 * twice; a transfer cut after body bytes is not made again here. The wait for a slot, a retry
 * wait and the transfer end with -ECANCELED once the calling thread's token is cancelled
 * (core/cancel.h; checked at least once a second) or http_stop() was called; logged at info
 * level only.
 * Non-2xx statuses, transport errors and callback errors are logged here with the URL (without
 * credentials), the status and the reason, and put in @why (may be NULL; the caller's, filled
 * on this thread: core/errors.h) for /.trolley/errors. A callback that refuses the body may
 * put its own reason in @why first (with @where ""): it is kept. @status_out (may be NULL)
 * gets the HTTP status.
 * @return 0 on a 2xx; -ENOENT (404, 410), -EACCES (401, 403), -ETIMEDOUT (timeouts, 408, 504,
 * pushback past retry_s), -EIO (anything else: refused connection, 5xx, garbled), -ECANCELED,
 * or the callback's error.
 */
int http_get(struct http *h, enum http_kind kind, const char *url, const char *accept,
	     http_body_fn on_body, void *ctx, long *status_out, struct errors_detail *why);

/**
 * As http_get(), but the statuses in @handled (0-terminated) are the caller's to handle: they
 * are logged at info level, not as errors (WADO-RS asks again after a 406 to its Accept).
 */
int http_get_handling(struct http *h, enum http_kind kind, const char *url, const char *accept,
		      const long *handled, http_body_fn on_body, void *ctx, long *status_out,
		      struct errors_detail *why);

/** What a reply said identifies it (its validators), for asking again conditionally. */
struct http_validators {
	char etag[256];		/* the ETag header as sent (quotes, W/ included); "" if none */
	char last_modified[64]; /* the Last-Modified header; "" if none */
};

/**
 * A conditional GET (RFC 9110 13.1): as http_get(), with If-None-Match: @v->etag and
 * If-Modified-Since: @v->last_modified where those are set. On a 2xx, @v gets the reply's own
 * validators ("" for those it lacked, or that were too long or not printable ASCII).
 * @return 1 when the archive answered 304 Not Modified (nothing reached @on_body; @v as it
 * was), else as http_get().
 */
int http_get_cond(struct http *h, enum http_kind kind, const char *url, const char *accept,
		  struct http_validators *v, http_body_fn on_body, void *ctx, long *status_out,
		  struct errors_detail *why);

/**
 * POST @len bytes of @body (of @content_type) to @url, the reply handled as by http_get().
 * @return as http_get().
 */
int http_post(struct http *h, enum http_kind kind, const char *url, const char *content_type,
	      const void *body, size_t len, const char *accept, http_body_fn on_body, void *ctx,
	      long *status_out, struct errors_detail *why);

/** Many GETs for http_get_each(), numbered 0 to n - 1, run in lanes numbered 0 to nlanes - 1:
 * a lane runs one GET at a time, so what a caller keeps per GET in flight (a buffer) it keeps
 * per lane. Every callback runs on the thread that called http_get_each(), one at a time. */
struct http_each {
	const char *accept; /* the Accept header of every GET; may be NULL */
	size_t n;	    /* how many GETs */
	size_t nlanes;	    /* at most this many at once (0: 1); fewer when no slot is free */
	void *ctx;	    /* for the callbacks */
	/** Write the URL of GET @i into @out (@len bytes). @return 0, or an errno that is then
	 * GET @i's result (it is not made). */
	int (*url_of)(void *ctx, size_t i, char *out, size_t len);
	/** A piece of the 2xx body of the GET running in @lane, in order; as http_body_fn. */
	int (*on_body)(void *ctx, size_t lane, const struct http_response *resp, const void *data,
		       size_t len);
	/** GET @i, which ran in @lane, is over: @err is what http_get() would have returned for
	 * it (already logged), @status its HTTP status (0 if none). The lane is idle until this
	 * returns. @return 0 to go on, or an errno that ends every GET still running. */
	int (*on_done)(void *ctx, size_t lane, size_t i, int err, long status);
	struct errors_detail *why; /* the caller's, for a GET's failure; may be NULL */
};

/**
 * Make the GETs of @e, several at once on one curl multi handle, each in a slot of @kind (as
 * http_get()): the first waits for its slot, the others are started only while a slot is free
 * and nobody else waits for one (slots_try_take_bulk()), so never more than connections=
 * transfers go out, queries keep their reserve, and a caller never holds slots while it waits
 * for more. HTTP_QUERY GETs run one at a time. Each GET is one http_get() as to timeouts,
 * credentials (a 401 that a new token or a new login may cure is asked again once), pushback
 * (a GET the archive pushed back waits aside, holding neither a lane nor a slot, while the
 * lanes go on with the others, then is made again), logging and its result, which on_done() gets: one GET's failure
 * does not stop the others.
 * @return 0 when every GET was made and reported; on_done()'s error (the GETs not reported then
 * were not made or were cut short); a login's error; -ENOMEM, -EIO (curl's multi failed).
 */
int http_get_each(struct http *h, enum http_kind kind, const struct http_each *e);

/**
 * Whether libcurl reads @url as core/url.h does: the scheme, host and port the same (case
 * aside), and no user name, password or login options. The URL options are checked with
 * url_check_web() and then with this at mount, so that no request goes where the check did
 * not look. On refusal @why (size @n, may be 0) says why without quoting the URL.
 * @return 0, -EINVAL, -ENOMEM.
 */
int http_url_agrees(const char *url, char *why, size_t n);

/** @return errno (negative) for an HTTP status; 0 for 2xx. */
int http_status_to_errno(long status);

/** Percent-encode @s for a query parameter value, leaving the wildcards '*' and '?' as they are
 * (caller frees). @return NULL on ENOMEM. */
char *http_escape(const char *s);

#endif
