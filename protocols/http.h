/* HTTP for every web protocol: libcurl easy handles per request (never shared between threads),
 * one share handle for connections, DNS and TLS sessions, timeouts, TLS and errno mapping. */
#ifndef TROLLEY_HTTP_H
#define TROLLEY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_config {
	long timeout_s;		/* no progress for this long ends a transfer (0: 60) */
	long connect_timeout_s; /* 0: 10 */
	long max_connections;	/* parallel requests (0: 8); a quarter of them (at least one,
				 * none of one) only for HTTP_QUERY requests */
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

/**
 * GET @url with "Accept: @accept" (may be NULL), streaming a 2xx body to @on_body, in a slot
 * of @kind. A transfer that receives nothing for timeout= seconds ends with -ETIMEDOUT.
 * Non-2xx statuses, transport errors and callback errors are logged here with the URL (without
 * credentials), the status and the reason. @status_out (may be NULL) gets the HTTP status.
 * @return 0 on a 2xx; -ENOENT (404, 410), -EACCES (401, 403), -ETIMEDOUT (timeouts, 408, 504),
 * -EIO (anything else: refused connection, 5xx, garbled), or the callback's error.
 */
int http_get(struct http *h, enum http_kind kind, const char *url, const char *accept,
	     http_body_fn on_body, void *ctx, long *status_out);

/**
 * As http_get(), but the statuses in @handled (0-terminated) are the caller's to handle: they
 * are logged at info level, not as errors (WADO-RS asks again after a 406 to its Accept).
 */
int http_get_handling(struct http *h, enum http_kind kind, const char *url, const char *accept,
		      const long *handled, http_body_fn on_body, void *ctx, long *status_out);

/**
 * POST @len bytes of @body (of @content_type) to @url, the reply handled as by http_get().
 * @return as http_get().
 */
int http_post(struct http *h, enum http_kind kind, const char *url, const char *content_type,
	      const void *body, size_t len, const char *accept, http_body_fn on_body, void *ctx,
	      long *status_out);

/** @return errno (negative) for an HTTP status; 0 for 2xx. */
int http_status_to_errno(long status);

/** Percent-encode @s for a query parameter value, leaving the wildcards '*' and '?' as they are
 * (caller frees). @return NULL on ENOMEM. */
char *http_escape(const char *s);

#endif
