/* HTTP transport for QIDO-RS, WADO-RS, WADO-URI, MINT and RAD-69. Each request gets its own
 * easy handle (libcurl handles are not thread-safe); connections, DNS and TLS sessions are
 * reused through one share handle, and core/slots.h bounds parallel transfers (connections=),
 * with a reserve for queries that instance transfers never take. */
#include "protocols/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/pushback.h"
#include "core/slots.h"
#include "core/url.h"
#include "protocols/secrets.h"

#define HTTP_ERRBODY_MAX 512
#define HTTP_URL_LOG_MAX 2048
#define HTTP_ORIGIN_MAX	 512
/* Retry waits: the longest single one (a Retry-After beyond it is cut to it: the archive may
 * be ready sooner, and asking again once a minute costs it nothing), and the backoff without
 * Retry-After, doubling from the first to the last. */
#define HTTP_WAIT_MAX_MS      60000
#define HTTP_BACKOFF_FIRST_MS 500
#define HTTP_BACKOFF_MAX_MS   30000
/* Pacing, once one request in flight is still too many (see pace_slower()): the first gap
 * between request starts (100 a second), the longest, and the shortest kept (below it, none). */
#define HTTP_PACE_FIRST_US 10000
#define HTTP_PACE_MAX_US   2000000
#define HTTP_PACE_OFF_US   2000

/* The least a transfer must move, on average over each timeout= window, not to be ended as
 * stalled: 1 KiB a second. Low enough that a slow honest link (a hospital's VPN, a congested
 * uplink: tens of KB/s at worst) never trips it, and a 1 MB/s link is a thousand times above it;
 * high enough that an archive that trickles a byte a second (a reply stuck in a proxy, a
 * server keeping a connection alive) ends within timeout= seconds instead of never. */
#define HTTP_MIN_RATE 1024

struct http {
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	struct slots slots; /* connections=, a share kept for HTTP_QUERY */
	struct http_config cfg;
	char *password;		    /* from password_file */
	pthread_mutex_t token_lock; /* guards token */
	char *token;		    /* from token_file */
	pthread_mutex_t login_lock; /* guards logged_in; held across a login only */
	bool logged_in;
	pthread_mutex_t wait_lock; /* guards stopping, pace_us, next_start */
	pthread_cond_t wait_cond;  /* CLOCK_MONOTONIC; broadcast by http_stop() */
	bool stopping;
	long pace_us;			   /* at least this long between request starts (0: none) */
	struct timespec next_start;	   /* while pacing: when the next request may start */
	char auth_origin[HTTP_ORIGIN_MAX]; /* of cfg.auth_url; "" if none */
};

struct http_request;

struct http_call {
	struct http *h;
	const struct http_request *r;
	http_body_fn on_body;
	void *ctx;
	CURL *easy;
	struct http_response resp;
	int started;		      /* resp filled */
	int cb_err;		      /* error returned by on_body */
	struct buf errbody;	      /* start of a non-2xx body, for the log */
	char reason[128];	      /* reason phrase of the last status line */
	char warning[256];	      /* Warning headers of the last response, joined by ", " */
	struct http_validators got;   /* ETag and Last-Modified of the last response */
	char detail[CURL_ERROR_SIZE]; /* curl's own words for a failure */
	size_t bytes;
	bool withheld;	      /* credentials are configured but not for this origin */
	curl_off_t moved;     /* bytes received and sent when the window began */
	struct timespec last; /* when the window began (the transfer's start, then each window) */
	bool stalled;	      /* ended by on_progress: too little progress */
	curl_off_t crawled;   /* the bytes of the window that ended it */
	bool cancelled;	      /* ended by on_progress: nobody waits for it (core/cancel.h) */
	bool retry_after;     /* the last response had a Retry-After header */
	bool gave_up;	      /* pushed back until retry= was spent */
	unsigned tries;	      /* then: how many times it was asked */
	long spent_ms;	      /* and for how long */
	struct timespec t0;   /* when it asked for a slot, for the log */
	struct curl_slist *headers;
	char safe_url[HTTP_URL_LOG_MAX]; /* the URL without credentials, for the log */
};

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;

static void http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct http *h = userp;

	(void)easy;
	(void)access;
	pthread_mutex_lock(&h->locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *userp)
{
	struct http *h = userp;

	(void)easy;
	pthread_mutex_unlock(&h->locks[data]);
}

/* "scheme://host:port" of @url, lowercase, the port made explicit (http://a and http://a:80
 * are one origin). This is a browser's origin (RFC 6454): a name is compared as written, never
 * resolved (localhost and 127.0.0.1 differ), since an answer from DNS is no proof of identity,
 * and another port is another server. @return 0, -EINVAL (not a URL), -ENOMEM. */
static int url_origin(const char *url, char *out, size_t n)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLU *u = curl_url();
	int err = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    (size_t)snprintf(out, n, "%s://%s:%s", scheme, host, port) < n) {
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		err = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return err;
}

/* Copy @n bytes of @s, lowercase, into @out (size @size). @return false if it does not fit. */
static bool lower_copy(const char *s, size_t n, char *out, size_t size)
{
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return true;
}

/* curl's part @what of @u, or "" when it has none. @return a curl_free()'d string or NULL. */
static char *curl_part(CURLU *u, CURLUPart what)
{
	char *v = NULL;

	return curl_url_get(u, what, &v, 0) == CURLUE_OK ? v : NULL;
}

/* Whether "[a]" and "[b]" are one IPv6 address, however each is written: curl writes the
 * address anew ("[fe80::0]" is "[fe80::]"), in its own words, not glibc's. */
static bool same_ipv6(const char *a, const char *b)
{
	struct in6_addr x, y;
	char buf[INET6_ADDRSTRLEN];
	size_t la = strlen(a), lb = strlen(b);

	if (la < 3 || lb < 3 || a[0] != '[' || b[0] != '[' || a[la - 1] != ']' ||
	    b[lb - 1] != ']' || la - 2 >= sizeof(buf) || lb - 2 >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%.*s", (int)(la - 2), a + 1);
	if (inet_pton(AF_INET6, buf, &x) != 1)
		return false;
	snprintf(buf, sizeof(buf), "%.*s", (int)(lb - 2), b + 1);
	return inet_pton(AF_INET6, buf, &y) == 1 && memcmp(&x, &y, sizeof(x)) == 0;
}

int http_url_agrees(const char *url, char *why, size_t n)
{
	char *scheme = NULL, *user = NULL, *password = NULL, *options = NULL, *host = NULL,
	     *port = NULL, *zone = NULL;
	char ours[HTTP_ORIGIN_MAX], theirs[HTTP_ORIGIN_MAX];
	const char *reason = NULL, *pct;
	size_t hlen, len = strlen(url);
	struct url u;
	CURLU *cu = curl_url();

	if (!cu)
		return -ENOMEM;
	url_parse(url, len, &u);
	/* The flags libcurl's easy handle itself parses CURLOPT_URL with (lib/url.c, 7.88):
	 * with a guessed scheme, "http:u:p@h" has a user "http". */
	if (curl_url_set(cu, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK) {
		reason = "is not a URL libcurl can read";
		goto out;
	}
	scheme = curl_part(cu, CURLUPART_SCHEME);
	user = curl_part(cu, CURLUPART_USER);
	password = curl_part(cu, CURLUPART_PASSWORD);
	options = curl_part(cu, CURLUPART_OPTIONS);
	host = curl_part(cu, CURLUPART_HOST);
	port = curl_part(cu, CURLUPART_PORT);
	zone = curl_part(cu, CURLUPART_ZONEID);
	if (user || password || options) {
		reason = "holds a user name or password in its URL, as libcurl reads it";
		goto out;
	}
	if (!scheme || !host || !lower_copy(url + u.scheme.off, u.scheme.len, ours, sizeof(ours)) ||
	    !lower_copy(scheme, strlen(scheme), theirs, sizeof(theirs)) || strcmp(ours, theirs)) {
		reason = "has a scheme that libcurl reads differently";
		goto out;
	}
	/* Ours keeps an IPv6 zone inside the brackets ("[fe80::1%25eth0]"), curl apart, and curl
	 * writes the address anew ("[fe80::0]" is "[fe80::]"): compare the addresses. */
	pct = memchr(url + u.host.off, '%', u.host.len);
	hlen = pct ? (size_t)(pct - (url + u.host.off)) : u.host.len;
	if (!lower_copy(url + u.host.off, hlen, ours, sizeof(ours) - 1) ||
	    !lower_copy(host, strlen(host), theirs, sizeof(theirs))) {
		reason = "has a host that libcurl reads differently";
		goto out;
	}
	if (pct)
		strcat(ours, "]");
	if ((ours[0] == '[' ? !same_ipv6(ours, theirs) : strcmp(ours, theirs) != 0) ||
	    (pct != NULL) != (zone != NULL)) {
		reason = "has a host that libcurl reads differently";
		goto out;
	}
	if (u.port.len != (port ? strlen(port) : 0) ||
	    (port && strncmp(url + u.port.off, port, u.port.len) != 0))
		reason = "has a port that libcurl reads differently";
out:
	if (reason && n)
		snprintf(why, n, "%s", reason);
	curl_free(scheme);
	curl_free(user);
	curl_free(password);
	curl_free(options);
	curl_free(host);
	curl_free(port);
	curl_free(zone);
	curl_url_cleanup(cu);
	return reason ? -EINVAL : 0;
}

/* Whether the credentials of user=, password_file= and token_file= may go with a request to
 * @url: only to the origin of the URL they were given for (http_config.auth_url). */
static bool may_send_credentials(const struct http *h, const char *url)
{
	char origin[HTTP_ORIGIN_MAX];

	return h->auth_origin[0] && url_origin(url, origin, sizeof(origin)) == 0 &&
	       strcmp(origin, h->auth_origin) == 0;
}

/* Free a header list that may hold a secret (Authorization, X-Password): curl frees without
 * wiping. */
static void headers_free_wiped(struct curl_slist *headers)
{
	for (struct curl_slist *l = headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(headers);
}

/* A condition whose timed waits count on CLOCK_MONOTONIC: a retry wait must not grow or
 * shrink when the wall clock is set. */
static void monotonic_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
}

int http_new(const struct http_config *cfg, struct http **out)
{
	struct http *h;
	int err;

	pthread_once(&http_global_once, http_global_init);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	if (h->cfg.timeout_s <= 0)
		h->cfg.timeout_s = 60;
	if (h->cfg.connect_timeout_s <= 0)
		h->cfg.connect_timeout_s = 10;
	if (h->cfg.max_connections <= 0)
		h->cfg.max_connections = 8;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->locks[i], NULL);
	h->slots = (struct slots)SLOTS_INIT;
	slots_limit(&h->slots, h->cfg.max_connections);
	pthread_mutex_init(&h->token_lock, NULL);
	pthread_mutex_init(&h->login_lock, NULL);
	pthread_mutex_init(&h->wait_lock, NULL);
	monotonic_cond_init(&h->wait_cond);
	pushback_watch(&h->slots, h->cfg.max_connections);
	if (cfg->auth_url && url_origin(cfg->auth_url, h->auth_origin, sizeof(h->auth_origin))) {
		log_error("credentials: cannot tell the host of the archive's URL");
		err = -EINVAL;
		goto out_free;
	}
	if (cfg->password_file) {
		err = secret_read_file(cfg->password_file, &h->password);
		if (err)
			goto out_free;
	}
	if (cfg->token_file) {
		err = secret_read_file(cfg->token_file, &h->token);
		if (err)
			goto out_free;
	}
	h->share = curl_share_init();
	if (!h->share) {
		err = -ENOMEM;
		goto out_free;
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	/* One cookie jar for every request: the session cookie of a login. */
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
	if (cfg->insecure)
		log_warn("insecure: TLS certificates of the archive are not verified");
	*out = h;
	return 0;
out_free:
	slots_release(&h->slots);
	secret_free(h->password);
	secret_free(h->token);
	free(h);
	return err;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	pushback_watch(NULL, 0);
	curl_share_cleanup(h->share);
	secret_free(h->password);
	secret_free(h->token);
	pthread_mutex_destroy(&h->token_lock);
	pthread_mutex_destroy(&h->login_lock);
	pthread_cond_destroy(&h->wait_cond);
	pthread_mutex_destroy(&h->wait_lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->locks[i]);
	slots_release(&h->slots);
	free(h);
}

int http_status_to_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 408:
	case 504:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static int curl_to_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
		return -EACCES;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Keep header value @v (@vl bytes, after the colon) in @out (size @n) if it fits whole and is
 * printable ASCII: it goes back in a request header, and a cut validator never matches. */
static void keep_validator(const char *v, size_t vl, char *out, size_t n)
{
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
	out[0] = '\0';
	if (vl == 0 || vl >= n)
		return;
	for (size_t i = 0; i < vl; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return;
	memcpy(out, v, vl);
	out[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	struct http_call *c = userp;
	size_t len = size * n;

	/* Keep the reason phrase of the (last) status line: "HTTP/1.1 500 Internal Error". */
	if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', len);
		const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - data)) : NULL;
		size_t rl = 0;

		if (sp2) {
			rl = len - (size_t)(sp2 + 1 - data);
			while (rl && (sp2[rl] == '\r' || sp2[rl] == '\n'))
				rl--;
			if (rl >= sizeof(c->reason))
				rl = sizeof(c->reason) - 1;
			memcpy(c->reason, sp2 + 1, rl);
		}
		c->reason[rl] = '\0';
		c->warning[0] = '\0';
		c->got.etag[0] = c->got.last_modified[0] = '\0';
		c->retry_after = false;
	} else if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		keep_validator(data + 5, len - 5, c->got.etag, sizeof(c->got.etag));
	} else if (len > 14 && strncasecmp(data, "Last-Modified:", 14) == 0) {
		keep_validator(data + 14, len - 14, c->got.last_modified,
			       sizeof(c->got.last_modified));
	} else if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		/* Its value (seconds or an HTTP date) is curl's to parse: CURLINFO_RETRY_AFTER. */
		c->retry_after = true;
	} else if (len > 8 && strncasecmp(data, "Warning:", 8) == 0) {
		size_t have = strlen(c->warning), room = sizeof(c->warning) - have - 1;
		const char *v = data + 8;
		size_t vl = len - 8;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (have && room > 2) {
			memcpy(c->warning + have, ", ", 2);
			have += 2;
			room -= 2;
		}
		if (vl > room)
			vl = room;
		memcpy(c->warning + have, v, vl);
		c->warning[have + vl] = '\0';
	}
	return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
	struct http_call *c = userp;
	size_t len = size * n;

	if (!c->started) {
		char *ct = NULL;

		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->resp.status);
		curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
		c->resp.content_type = ct ? ct : "";
		c->started = 1;
	}
	c->bytes += len;
	if (c->resp.status < 200 || c->resp.status >= 300) {
		/* Keep the start of an error body for the log; the rest is dropped. */
		size_t room = HTTP_ERRBODY_MAX - c->errbody.len;

		buf_add(&c->errbody, data, len < room ? len : room);
		return len;
	}
	c->cb_err = c->on_body(c->ctx, &c->resp, data, len);
	return c->cb_err ? 0 : len; /* 0 makes curl stop with CURLE_WRITE_ERROR */
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* timeout= bounds how long a transfer may go without real progress, waiting for the reply or
 * in its body: each window of timeout= seconds, from the transfer's start, must move at least
 * HTTP_MIN_RATE bytes a second on average, or the transfer ends. Counting any byte as progress
 * let a body trickled a byte a second run for as long as the archive liked (600 s with
 * timeout=5, measured). Big series take minutes legitimately, so no bound on the whole. curl's
 * own low-speed check (CURLOPT_LOW_SPEED_*) does not cover the wait for the reply's first byte
 * the same way and cannot be told about a cancel; this callback does both. curl calls it at
 * least once a second, idle or not, which is also how soon a cancelled transfer ends. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct http_call *c = userp;
	long window_ms = c->h->cfg.timeout_s * 1000;
	struct timespec now;

	(void)dltotal;
	(void)ultotal;
	if (cancel_requested()) {
		c->cancelled = true;
		return 1; /* curl ends the transfer with CURLE_ABORTED_BY_CALLBACK */
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ms_between(&c->last, &now) < window_ms)
		return 0;
	if (dlnow + ulnow - c->moved >= (curl_off_t)c->h->cfg.timeout_s * HTTP_MIN_RATE) {
		c->moved = dlnow + ulnow;
		c->last = now;
		return 0;
	}
	c->stalled = true;
	c->crawled = dlnow + ulnow - c->moved;
	return 1;
}

/* One printable line from an error body, for the log. */
static void error_excerpt(struct buf *b, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < b->len && j + 1 < n; i++) {
		unsigned char ch = (unsigned char)b->data[i];

		out[j++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	out[j] = '\0';
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = malloc(len * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		/* RFC 3986 unreserved characters, plus what DICOMweb gives a meaning in a value:
		 * '*' and '?' (wildcards), '^' (PN components) and ',' (value lists). Orthanc 1.10
		 * does not percent-decode QIDO values (measured: %2A, %5E, %20 never match), so
		 * these must go unescaped; every other byte is escaped. */
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~*?^,", ch)) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Credentials for one request: basic auth from user= and password_file=, a bearer token from
 * token_file=, ~/.netrc, a client certificate. */
static int set_auth(struct http *h, CURL *easy, const char *url, struct curl_slist **headers,
		    bool *withheld)
{
	bool ours = may_send_credentials(h, url);
	char *line;
	int n;

	/* netrc names its hosts itself, and a client certificate proves who we are without
	 * giving a secret away: both go wherever curl's own rules send them. */
	if (h->cfg.netrc)
		curl_easy_setopt(easy, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	if (h->cfg.cert)
		curl_easy_setopt(easy, CURLOPT_SSLCERT, h->cfg.cert);
	if (h->cfg.key)
		curl_easy_setopt(easy, CURLOPT_SSLKEY, h->cfg.key);
	*withheld = !ours && ((h->cfg.user && !h->cfg.login_url) || h->cfg.token_file);
	if (!ours)
		return 0;
	if (h->cfg.user && !h->cfg.login_url) {
		/* Preemptive basic auth: no 401 round trip per request (Orthanc, nginx). */
		curl_easy_setopt(easy, CURLOPT_USERNAME, h->cfg.user);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, h->password ? h->password : "");
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	if (!h->cfg.token_file)
		return 0;
	pthread_mutex_lock(&h->token_lock);
	n = asprintf(&line, "Authorization: Bearer %s", h->token);
	pthread_mutex_unlock(&h->token_lock);
	if (n < 0)
		return -ENOMEM;
	*headers = curl_slist_append(*headers, line);
	explicit_bzero(line, (size_t)n);
	free(line);
	return *headers ? 0 : -ENOMEM;
}

/* After a 401: read token_file again (an outside refresher may have replaced the token).
 * @return true if the token changed, so the request is worth one more try. */
static bool token_refreshed(struct http *h)
{
	char *fresh = NULL;
	bool changed;

	if (!h->cfg.token_file || secret_read_file(h->cfg.token_file, &fresh) < 0)
		return false;
	pthread_mutex_lock(&h->token_lock);
	changed = strcmp(fresh, h->token) != 0;
	if (changed) {
		secret_free(h->token);
		h->token = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&h->token_lock);
	secret_free(fresh);
	return changed;
}

/* One request as http_get() and http_post() describe it. */
struct http_request {
	enum http_kind kind;
	const char *method; /* "GET" or "POST" */
	const char *url;
	const char *accept;
	const char *content_type; /* of the POST body */
	const void *body;
	size_t body_len;
	http_body_fn on_body;
	void *ctx;
	const long *handled;	      /* statuses the caller handles: logged at info level only */
	struct http_validators *cond; /* a conditional GET: sent, then the reply's (2xx) */
	struct errors_detail *why;    /* the caller's, for its failure; may be NULL */
};

static bool is_handled(const struct http_request *r, long status)
{
	for (const long *s = r->handled; s && *s; s++)
		if (*s == status)
			return true;
	return false;
}

/* What /.trolley/errors shows of a failed request, into the caller's detail @why
 * (core/errors.h): the same URL as the log line beside each call, already without
 * credentials. */
static void __attribute__((format(printf, 6, 7)))
note_failure(struct errors_detail *why, bool refused, const char *method, const char *safe_url,
	     long status, const char *fmt, ...)
{
	char where[HTTP_URL_LOG_MAX + 16], st[32], reason[512];
	va_list ap;

	snprintf(where, sizeof(where), "%s %s", method, safe_url);
	if (status)
		snprintf(st, sizeof(st), "HTTP %ld", status);
	else
		snprintf(st, sizeof(st), "no reply");
	if (!why)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (refused)
		errors_detail_refused(why, where, st, "%s", reason);
	else
		errors_detail_set(why, where, st, "%s", reason);
}

/* Make @c's easy handle for @r, every option set; the caller performs it (in a slot) and ends
 * it with call_done(), then call_release() whatever happened. @return 0 or -ENOMEM. */
static int call_init(struct http_call *c, struct http *h, const struct http_request *r)
{
	const char *url = r->url;
	char accept_hdr[512], ctype_hdr[512], inm_hdr[300], ims_hdr[100];
	int err;

	memset(c, 0, sizeof(*c));
	c->h = h;
	c->r = r;
	c->on_body = r->on_body;
	c->ctx = r->ctx;
	log_redact_url(url, c->safe_url, sizeof(c->safe_url));
	c->resp.url = c->safe_url;
	c->resp.content_type = "";
	c->resp.warning = c->warning;
	buf_init(&c->errbody, HTTP_ERRBODY_MAX);
	c->easy = curl_easy_init();
	if (!c->easy)
		return -ENOMEM;
	if (r->accept) {
		snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", r->accept);
		c->headers = curl_slist_append(c->headers, accept_hdr);
	}
	if (r->content_type) {
		snprintf(ctype_hdr, sizeof(ctype_hdr), "Content-Type: %s", r->content_type);
		c->headers = curl_slist_append(c->headers, ctype_hdr);
	}
	if (r->cond && r->cond->etag[0]) {
		snprintf(inm_hdr, sizeof(inm_hdr), "If-None-Match: %s", r->cond->etag);
		c->headers = curl_slist_append(c->headers, inm_hdr);
	}
	if (r->cond && r->cond->last_modified[0]) {
		snprintf(ims_hdr, sizeof(ims_hdr), "If-Modified-Since: %s", r->cond->last_modified);
		c->headers = curl_slist_append(c->headers, ims_hdr);
	}
	err = set_auth(h, c->easy, url, &c->headers, &c->withheld);
	if (err)
		return err;
	if (r->body) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, r->body);
	}
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	/* Credentials come only from user=, password_file=, token_file= and netrc, and go only
	 * to their origin: a user name in a URL (refused at mount) would bypass that. */
	curl_easy_setopt(c->easy, CURLOPT_DISALLOW_USERNAME_IN_URL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->detail);
	curl_easy_setopt(c->easy, CURLOPT_COOKIEFILE, ""); /* the shared jar, no file */
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, h->cfg.connect_timeout_s);
	curl_easy_setopt(c->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->easy, CURLOPT_XFERINFODATA, c);
	/* Queries ask for any encoding curl inflates (JSON shrinks tenfold). Instances ask for
	 * none: pixel data hardly compresses, and Orthanc 1.10 gzips a WADO-URI reply when
	 * asked, measured at 15-20 ms of its CPU per 512 KiB instance against 1 ms plain (a
	 * cold series over WADO-URI took 5x longer). "identity" still lets curl inflate a
	 * server that compresses unasked (test_bounds.py's gzip replies). */
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, r->kind == HTTP_BULK ? "identity" : "");
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "trolley/" TROLLEY_VERSION);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Redirects are not followed (FOLLOWLOCATION stays off); were they, curl must not carry
	 * the credentials to another host: UNRESTRICTED_AUTH stays off too, said here so that
	 * nobody turns it on without reading this. */
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (h->cfg.insecure) {
		curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (h->cfg.cacert)
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, h->cfg.cacert);
	return 0;
}

/* @c is about to run, its slot taken: waiting for the slot is no stall. */
static void call_started(struct http_call *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->last);
}

/* The retries of one request: its budget runs from its first try. */
struct http_retry {
	struct timespec start;
	unsigned tries; /* pushbacks so far */
};

static void retry_init(struct http_retry *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->start);
	t->tries = 0;
}

/* What comes after a call: its result (call_done()), or the same request again. */
enum http_next {
	HTTP_NEXT_DONE,
	HTTP_NEXT_AGAIN,
};

static bool is_pushback(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

static void timespec_add_us(struct timespec *t, long us)
{
	t->tv_sec += us / 1000000;
	t->tv_nsec += (us % 1000000) * 1000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

/* Whether @t is at or before @now. */
static bool reached(const struct timespec *t, const struct timespec *now)
{
	return t->tv_sec < now->tv_sec || (t->tv_sec == now->tv_sec && t->tv_nsec <= now->tv_nsec);
}

/* May a request start now? If so its start is counted; if not, *@when says when one may.
 * Without pacing, always. */
static bool pace_try(struct http *h, struct timespec *when)
{
	struct timespec now;
	bool go;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&h->wait_lock);
	go = !h->pace_us || reached(&h->next_start, &now);
	if (go && h->pace_us) {
		h->next_start = now;
		timespec_add_us(&h->next_start, h->pace_us);
	} else if (!go) {
		*when = h->next_start;
	}
	pthread_mutex_unlock(&h->wait_lock);
	return go;
}

/* A 429 with one request in flight: the bound of core/slots.h cannot go lower, but an
 * archive that counts requests a second (a token bucket: AWS HealthImaging's 50 GETs a
 * second) still turns most away when one at a time is faster than that, as it is on a short
 * round trip (measured on loopback: 575 429s for 300 GETs against 50 a second). So the gap
 * between request starts doubles, and shrinks by a thirty-second at each success: AIMD on
 * the rate, below AIMD on the requests in flight. */
static void pace_slower(struct http *h, const char *safe_url)
{
	long pace;

	pthread_mutex_lock(&h->wait_lock);
	pace = h->pace_us ? h->pace_us * 2 : HTTP_PACE_FIRST_US;
	if (pace > HTTP_PACE_MAX_US)
		pace = HTTP_PACE_MAX_US;
	if (!h->pace_us)
		clock_gettime(CLOCK_MONOTONIC, &h->next_start);
	h->pace_us = pace;
	pthread_mutex_unlock(&h->wait_lock);
	log_info("%s: pushed back with one request in flight: one request each %ld ms at most",
		 safe_url, pace / 1000);
}

/* A request went well: pace a little faster. @return whether no pacing is left (then the
 * bound of requests in flight may grow). */
static bool pace_faster(struct http *h)
{
	bool off;

	pthread_mutex_lock(&h->wait_lock);
	if (h->pace_us) {
		h->pace_us -= h->pace_us / 32;
		if (h->pace_us < HTTP_PACE_OFF_US)
			h->pace_us = 0;
	}
	off = !h->pace_us;
	pthread_mutex_unlock(&h->wait_lock);
	return off;
}

static void timespec_add_ms(struct timespec *t, long ms)
{
	timespec_add_us(t, ms * 1000);
}

/* A random number in [0, n), n > 0: jitter only, nothing secret. */
static long jitter(long n)
{
	static __thread unsigned seed;

	if (!seed) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		seed = (unsigned)now.tv_nsec ^ (unsigned)(uintptr_t)&seed;
	}
	return (long)(rand_r(&seed) % (unsigned long)n);
}

/* How long to wait before try @tries + 1 after a pushback of @c. The archive's Retry-After
 * if it gave one (curl parses both forms; a date in the past or a value it cannot read is 0:
 * then as without), plus up to a fifth more (at most a second), so that the GETs one burst
 * pushed back do not all come back in the same instant. Without it, exponential backoff with
 * "equal jitter" (half the step fixed, half random), as AWS's SDKs do. */
static long pushback_wait_ms(struct http_call *c, unsigned tries)
{
	curl_off_t after = 0;
	long ms, step = HTTP_BACKOFF_FIRST_MS;

	if (c->retry_after && curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &after) != CURLE_OK)
		after = 0;
	if (after > 0) {
		ms = after > HTTP_WAIT_MAX_MS / 1000 ? HTTP_WAIT_MAX_MS : (long)after * 1000;
		return ms + jitter(ms / 5 < 1000 ? ms / 5 + 1 : 1000);
	}
	for (unsigned i = 0; i < tries && step < HTTP_BACKOFF_MAX_MS; i++)
		step *= 2;
	if (step > HTTP_BACKOFF_MAX_MS)
		step = HTTP_BACKOFF_MAX_MS;
	return step / 2 + jitter(step / 2);
}

/* The performed call @c (a try of @t, its slot taken in window @epoch) ended with @rc. A 2xx
 * lets the bound of requests in flight grow; a pushback halves it (429, 503: the archive is
 * over its quota or its capacity; a proxy's 502 and 504 say nothing of the load) and, while
 * retry= lasts, makes the request again after *@until. Whatever the call got, its body never
 * reached the caller's on_body (on_write keeps non-2xx bodies for the log), so nothing is
 * delivered twice. A pushback past the budget is marked in @c for call_done(). */
static enum http_next pushback_check(struct http_call *c, CURLcode rc, struct http_retry *t,
				     unsigned epoch, struct timespec *until)
{
	struct http *h = c->h;
	long status = 0, limit, before, wait_ms, spent_ms;
	struct timespec now;

	if (rc != CURLE_OK || c->stalled)
		return HTTP_NEXT_DONE;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		if (!pace_faster(h))
			return HTTP_NEXT_DONE;
		before = slots_current(&h->slots);
		limit = slots_went_well(&h->slots);
		if (limit != before)
			log_debug("%s: %ld requests in flight allowed again (connections=%ld)",
				  c->safe_url, limit, h->cfg.max_connections);
		return HTTP_NEXT_DONE;
	}
	if (!is_pushback(status))
		return HTTP_NEXT_DONE;
	pushback_note_status(status);
	if (status == 429 || status == 503) {
		before = slots_current(&h->slots);
		limit = slots_back_off(&h->slots, epoch);
		if (limit != before)
			log_info("%s: HTTP %ld: at most %ld requests in flight now "
				 "(connections=%ld)",
				 c->safe_url, status, limit, h->cfg.max_connections);
		/* 429 counts requests over time; a 503 is about load, which the bound of requests
		 * in flight already follows (paced on every n-th 503, the gap would only grow). */
		if (before == 1 && status == 429)
			pace_slower(h, c->safe_url);
	}
	if (h->cfg.retry_s <= 0)
		return HTTP_NEXT_DONE; /* retry=0: the status is the answer */
	wait_ms = pushback_wait_ms(c, t->tries);
	clock_gettime(CLOCK_MONOTONIC, &now);
	spent_ms = ms_between(&t->start, &now);
	if (spent_ms + wait_ms > h->cfg.retry_s * 1000) {
		c->gave_up = true;
		c->tries = t->tries + 1;
		c->spent_ms = spent_ms;
		pushback_note_given_up();
		return HTTP_NEXT_DONE;
	}
	t->tries++;
	*until = now;
	timespec_add_ms(until, wait_ms);
	pushback_note_retry();
	log_info("%s %s: HTTP %ld %s: asking again in %ld ms (try %u)", c->r->method, c->safe_url,
		 status, c->reason, wait_ms, t->tries + 1);
	return HTTP_NEXT_AGAIN;
}

/* Wait until @until (CLOCK_MONOTONIC) or http_stop(). Every retry wait of this file is this
 * one call, on a condition rather than a sleep, so that whatever must end waits early
 * (unmount, SIGTERM, a reader that gave up) has one place to wake them. @return 0 at
 * @until, -ECANCELED when stopped. */
static int http_wait_until(struct http *h, const struct timespec *until)
{
	int err = 0;

	/* The reader who waits may give up (a FUSE interrupt) or the daemon stop (cancel_all):
	 * the wait ends then too, in a tick (core/cancel.h). */
	pthread_mutex_lock(&h->wait_lock);
	while (!h->stopping && !err)
		err = cancel_cond_timedwait(&h->wait_cond, &h->wait_lock, CLOCK_MONOTONIC, until);
	if (h->stopping || err == -EINTR)
		err = -ECANCELED;
	else
		err = 0; /* the deadline passed */
	pthread_mutex_unlock(&h->wait_lock);
	return err;
}

static bool http_stopping(struct http *h)
{
	bool stopping;

	pthread_mutex_lock(&h->wait_lock);
	stopping = h->stopping;
	pthread_mutex_unlock(&h->wait_lock);
	return stopping;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->wait_lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->wait_cond);
	pthread_mutex_unlock(&h->wait_lock);
}

/* The performed call @c ended with @rc: its errno, logged with the URL and the status. */
static int call_done(struct http_call *c, CURLcode rc, bool may_retry)
{
	const struct http_request *r = c->r;
	struct http *h = c->h;
	const char *method = r->method, *safe_url = c->safe_url;
	char excerpt[HTTP_ERRBODY_MAX + 1];
	struct timespec t1;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (c->cancelled || (rc == CURLE_WRITE_ERROR && c->cb_err == -ECANCELED)) {
		/* Nobody waits for it any more (a reader's signal, unmount): not the archive's
		 * fault, so no error line and nothing in /.trolley/errors. */
		log_info("%s %s: cancelled after %zu bytes", method, safe_url, c->bytes);
		return -ECANCELED;
	}
	if (c->stalled && !c->crawled) {
		rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(c->detail, sizeof(c->detail), "nothing received for %ld s: timeout=%ld",
			 h->cfg.timeout_s, h->cfg.timeout_s);
	} else if (c->stalled) {
		rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(c->detail, sizeof(c->detail),
			 "%lld bytes in %ld s, less than %d a second: timeout=%ld",
			 (long long)c->crawled, h->cfg.timeout_s, HTTP_MIN_RATE, h->cfg.timeout_s);
	}
	if (!c->started)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->resp.status);

	if (rc == CURLE_WRITE_ERROR && c->cb_err) {
		/* The protocol or the cache refused the body and said why; this line ties that to
		 * the request. */
		err = c->cb_err;
		log_warn("%s %s: HTTP %ld, reply refused after %zu bytes (%s)", method, safe_url,
			 c->resp.status, c->bytes, strerror(-err));
		note_failure(r->why, true, method, safe_url, c->resp.status,
			     "reply refused after %zu bytes (%s)", c->bytes, strerror(-err));
		return err;
	}
	if (rc != CURLE_OK) {
		err = curl_to_errno(rc);
		/* The error buffer adds which certificate, which host, how many bytes short. */
		if (c->resp.status)
			log_error("%s %s: HTTP %ld, transfer failed after %zu bytes: %s (%s)",
				  method, safe_url, c->resp.status, c->bytes,
				  curl_easy_strerror(rc), c->detail);
		else
			log_error("%s %s: %s (%s)", method, safe_url, curl_easy_strerror(rc),
				  c->detail);
		note_failure(r->why, false, method, safe_url, c->resp.status,
			     "transfer failed after %zu bytes: %s (%s)", c->bytes,
			     curl_easy_strerror(rc), c->detail);
		return err;
	}
	if (r->cond && c->resp.status == 304) {
		/* Asked conditionally: "what you have is current" is an answer, not a failure. */
		log_debug("%s %s -> 304 Not Modified (%ld ms)", method, safe_url,
			  ms_between(&c->t0, &t1));
		return 0;
	}
	err = http_status_to_errno(c->resp.status);
	if (!err && r->cond)
		*r->cond = c->got;
	if (err && c->gave_up) {
		/* The archive asked to wait for longer than the user lets a file wait. */
		error_excerpt(&c->errbody, excerpt, sizeof(excerpt));
		log_error("%s %s: HTTP %ld %s: still so after %u tries in %ld s, giving up "
			  "(retry=%ld)%s%s",
			  method, safe_url, c->resp.status, c->reason, c->tries, c->spent_ms / 1000,
			  h->cfg.retry_s, excerpt[0] ? ": " : "", excerpt);
		note_failure(r->why, false, method, safe_url, c->resp.status,
			     "%s: still so after %u tries in %ld s (retry=%ld)", c->reason,
			     c->tries, c->spent_ms / 1000, h->cfg.retry_s);
		return -ETIMEDOUT;
	}
	if (err) {
		error_excerpt(&c->errbody, excerpt, sizeof(excerpt));
		/* Not found is a warning (a folder may simply be gone); a 401 that a new token or
		 * login may cure is only information until that fails too. */
		if ((c->resp.status == 401 && may_retry) || is_handled(r, c->resp.status))
			log_info("%s %s: HTTP %ld %s", method, safe_url, c->resp.status, c->reason);
		else if (err == -ENOENT)
			log_warn("%s %s: HTTP %ld %s", method, safe_url, c->resp.status, c->reason);
		else
			log_error("%s %s: HTTP %ld %s%s%s%s%s", method, safe_url, c->resp.status,
				  c->reason, excerpt[0] ? ": " : "", excerpt,
				  c->withheld && err == -EACCES ? "; credentials are sent only to "
								: "",
				  c->withheld && err == -EACCES ? h->auth_origin : "");
		note_failure(r->why, false, method, safe_url, c->resp.status, "%s%s%s", c->reason,
			     excerpt[0] ? ": " : "", excerpt);
		return err;
	}
	log_debug("%s %s -> %ld (%zu bytes, %ld ms)", method, safe_url, c->resp.status, c->bytes,
		  ms_between(&c->t0, &t1));
	return 0;
}

static void call_release(struct http_call *c)
{
	buf_release(&c->errbody);
	headers_free_wiped(c->headers);
	c->headers = NULL;
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
}

/* Make @r, again after each pushback while retry= lasts (pushback_check()). */
static int http_attempt(struct http *h, const struct http_request *r, long *status_out,
			bool may_retry)
{
	struct http_retry t;
	struct timespec until;
	struct http_call c;
	unsigned epoch;
	CURLcode rc;
	int err;

	retry_init(&t);
	for (;;) {
		err = call_init(&c, h, r);
		if (err)
			break;
		clock_gettime(CLOCK_MONOTONIC, &c.t0);
		while (!err && !pace_try(h, &until))
			err = http_wait_until(h, &until);
		if (!err && slots_take(&h->slots, r->kind == HTTP_QUERY))
			err = -ECANCELED;
		if (err) {
			log_info("%s %s: not asked: cancelled", r->method, c.safe_url);
			break;
		}
		epoch = slots_epoch(&h->slots);
		call_started(&c);
		rc = curl_easy_perform(c.easy);
		slots_give(&h->slots, r->kind == HTTP_QUERY);
		if (pushback_check(&c, rc, &t, epoch, &until) == HTTP_NEXT_DONE) {
			err = call_done(&c, rc, may_retry);
			break;
		}
		/* Waiting holds no slot: the others go on within the lowered bound. */
		call_release(&c);
		err = http_wait_until(h, &until);
		if (err) {
			log_info("%s %s: not asked again: cancelled", r->method, c.safe_url);
			break;
		}
	}
	if (status_out)
		*status_out = c.resp.status;
	call_release(&c);
	return err;
}

/* The start of a login reply, for the log ("Login failed: bad username/password"). */
static size_t on_login_body(char *data, size_t size, size_t n, void *userp)
{
	struct buf *b = userp;
	size_t len = size * n, room = b->max - b->len;

	buf_add(b, data, len < room ? len : room);
	return len;
}

/* Log in the Vitrea way: POST login_url with X-Userid, X-Password and X-Realm; the session
 * cookie it sets lands in the shared jar. Called with login_lock held. */
static int vitrea_login(struct http *h)
{
	char safe[HTTP_URL_LOG_MAX], excerpt[HTTP_ERRBODY_MAX + 1], *line = NULL;
	struct curl_slist *headers = NULL;
	struct buf body;
	long status = 0;
	CURLcode rc;
	CURL *easy;
	int err = 0, n;

	easy = curl_easy_init();
	if (!easy)
		return -ENOMEM;
	buf_init(&body, HTTP_ERRBODY_MAX);
	log_redact_url(h->cfg.login_url, safe, sizeof(safe));
	n = asprintf(&line, "X-Password: %s", h->password ? h->password : "");
	if (n < 0) {
		err = -ENOMEM;
		goto out;
	}
	headers = curl_slist_append(headers, line);
	explicit_bzero(line, (size_t)n);
	free(line);
	if (asprintf(&line, "X-Userid: %s", h->cfg.user) < 0) {
		err = -ENOMEM;
		goto out;
	}
	headers = curl_slist_append(headers, line);
	free(line);
	if (h->cfg.realm && asprintf(&line, "X-Realm: %s", h->cfg.realm) >= 0) {
		headers = curl_slist_append(headers, line);
		free(line);
	}
	curl_easy_setopt(easy, CURLOPT_URL, h->cfg.login_url);
	curl_easy_setopt(easy, CURLOPT_DISALLOW_USERNAME_IN_URL, 1L);
	curl_easy_setopt(easy, CURLOPT_SHARE, h->share);
	curl_easy_setopt(easy, CURLOPT_COOKIEFILE, "");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, h->cfg.connect_timeout_s);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, h->cfg.timeout_s);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_login_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
	if (h->cfg.insecure) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (h->cfg.cacert)
		curl_easy_setopt(easy, CURLOPT_CAINFO, h->cfg.cacert);
	rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		log_error("login at %s: %s", safe, curl_easy_strerror(rc));
		err = curl_to_errno(rc);
	} else if (status < 200 || status >= 300) {
		error_excerpt(&body, excerpt, sizeof(excerpt));
		log_error("login at %s as %s: HTTP %ld: %s", safe, h->cfg.user, status, excerpt);
		err = http_status_to_errno(status);
	} else {
		log_info("logged in at %s as %s", safe, h->cfg.user);
	}
out:
	buf_release(&body);
	headers_free_wiped(headers);
	curl_easy_cleanup(easy);
	return err;
}

/* Log in unless logged in already; @again: the session was refused, log in anew. */
static int ensure_login(struct http *h, bool again)
{
	int err = 0;

	pthread_mutex_lock(&h->login_lock);
	if (again || !h->logged_in) {
		err = vitrea_login(h);
		h->logged_in = err == 0;
	}
	pthread_mutex_unlock(&h->login_lock);
	return err;
}

/* Whether a request of @h to @url may be asked again after a 401: a token is re-read only for
 * its own origin (another host's 401 is not its fault); a login session may have expired. */
static bool may_retry_401(struct http *h, const char *url)
{
	return (h->cfg.token_file && may_send_credentials(h, url)) || h->cfg.login_url;
}

/* After @r got a 401 (@err): a new token in token_file or a new login may cure it. @return 0
 * to try once more, else the error to give. */
static int retry_after_401(struct http *h, const struct http_request *r, int err)
{
	char safe[HTTP_URL_LOG_MAX];

	if (h->cfg.token_file && may_send_credentials(h, r->url)) {
		if (token_refreshed(h)) {
			log_info("token_file changed: trying again");
			return 0;
		}
		log_error("%s %s: HTTP 401 and token_file holds no new token", r->method,
			  log_redact_url(r->url, safe, sizeof(safe)));
		return err;
	}
	if (h->cfg.login_url) {
		/* The session expired: one new login, one more try. */
		log_info("session refused: logging in again");
		return ensure_login(h, true);
	}
	return err;
}

static int http_request_run(struct http *h, const struct http_request *r, long *status_out)
{
	bool may_retry = may_retry_401(h, r->url);
	long status = 0;
	int err;

	if (h->cfg.login_url) {
		err = ensure_login(h, false);
		if (err)
			return err;
	}
	/* A 401 body never reaches on_body, so the request can be made again from scratch. */
	err = http_attempt(h, r, &status, may_retry);
	if (status == 401 && may_retry) {
		err = retry_after_401(h, r, err);
		if (!err)
			err = http_attempt(h, r, &status, false);
	}
	if (status_out)
		*status_out = status;
	return err;
}

int http_get(struct http *h, enum http_kind kind, const char *url, const char *accept,
	     http_body_fn on_body, void *ctx, long *status_out, struct errors_detail *why)
{
	return http_get_handling(h, kind, url, accept, NULL, on_body, ctx, status_out, why);
}

int http_get_handling(struct http *h, enum http_kind kind, const char *url, const char *accept,
		      const long *handled, http_body_fn on_body, void *ctx, long *status_out,
		      struct errors_detail *why)
{
	struct http_request r = {.kind = kind,
				 .method = "GET",
				 .url = url,
				 .accept = accept,
				 .on_body = on_body,
				 .ctx = ctx,
				 .handled = handled,
				 .why = why};

	return http_request_run(h, &r, status_out);
}

int http_get_cond(struct http *h, enum http_kind kind, const char *url, const char *accept,
		  struct http_validators *v, http_body_fn on_body, void *ctx, long *status_out,
		  struct errors_detail *why)
{
	struct http_request r = {.kind = kind,
				 .method = "GET",
				 .url = url,
				 .accept = accept,
				 .on_body = on_body,
				 .ctx = ctx,
				 .cond = v,
				 .why = why};
	char safe[HTTP_URL_LOG_MAX];
	long status = 0;
	bool asked = v->etag[0] || v->last_modified[0];
	int err = http_request_run(h, &r, &status);

	if (status_out)
		*status_out = status;
	/* A 304 to a request that named nothing to compare with is no answer at all. */
	if (!err && status == 304 && !asked) {
		log_error("GET %s: HTTP 304 Not Modified to an unconditional request",
			  log_redact_url(url, safe, sizeof(safe)));
		return -EIO;
	}
	return !err && status == 304 ? 1 : err;
}

int http_post(struct http *h, enum http_kind kind, const char *url, const char *content_type,
	      const void *body, size_t len, const char *accept, http_body_fn on_body, void *ctx,
	      long *status_out, struct errors_detail *why)
{
	struct http_request r = {.kind = kind,
				 .method = "POST",
				 .url = url,
				 .accept = accept,
				 .content_type = content_type,
				 .body = body,
				 .body_len = len,
				 .on_body = on_body,
				 .ctx = ctx,
				 .why = why};

	return http_request_run(h, &r, status_out);
}

/* One lane of http_get_each(): the GET it runs now, if any. */
struct http_lane {
	const struct http_each *e;
	size_t index;	       /* of this lane */
	size_t item;	       /* the GET it runs (or runs again after a 401) */
	bool busy;	       /* its call is in the multi handle, a slot held */
	bool again;	       /* run item again (a 401 that may be cured), or resume it */
	bool retried;	       /* item is the second try after a 401 */
	struct http_retry t;   /* item's pushbacks */
	unsigned epoch;	       /* of the slot its call holds */
	struct http_request r; /* of item; url points to url[] */
	struct http_call c;    /* valid while busy */
	char url[HTTP_URL_LOG_MAX];
};

static int lane_on_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct http_lane *l = ctx;

	return l->e->on_body(l->e->ctx, l->index, resp, data, len);
}

/* A GET of http_get_each() that the archive pushed back waits here until it may be made
 * again, holding neither a lane nor a slot: nothing of its body was received, so a lane has
 * nothing to keep for it, and the lanes go on with the other GETs meanwhile. Were it to keep
 * its lane, a burst of 429s (measured: a bucket of 50 a second on loopback) had every lane
 * asleep for its Retry-After at once, and the series came at 10 GETs a second. */
struct http_deferred {
	size_t item;
	bool retried; /* its try after a 401 is used */
	struct http_retry t;
	struct timespec until; /* not before this */
};

struct http_deferred_list {
	struct http_deferred *v;
	size_t n, cap;
};

static int deferred_add(struct http_deferred_list *dl, const struct http_lane *l,
			const struct timespec *until)
{
	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? dl->cap * 2 : 16;
		struct http_deferred *v = realloc(dl->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		dl->v = v;
		dl->cap = cap;
	}
	dl->v[dl->n++] = (struct http_deferred){
		.item = l->item, .retried = l->retried, .t = l->t, .until = *until};
	return 0;
}

/* Whether a GET waits in @dl; the first moment one may go in *@first. */
static bool deferred_first(const struct http_deferred_list *dl, struct timespec *first)
{
	for (size_t i = 0; i < dl->n; i++)
		if (i == 0 || reached(&dl->v[i].until, first))
			*first = dl->v[i].until;
	return dl->n > 0;
}

/* Move a GET of @dl whose wait is over at @now into lane @l (which then resumes it), first
 * come first served; with @l NULL, move nothing. @return whether there was one. */
static bool deferred_take(struct http_deferred_list *dl, const struct timespec *now,
			  struct http_lane *l)
{
	size_t best = dl->n;

	for (size_t i = 0; i < dl->n; i++)
		if (reached(&dl->v[i].until, now) &&
		    (best == dl->n || reached(&dl->v[i].until, &dl->v[best].until)))
			best = i;
	if (best == dl->n || !l)
		return best != dl->n;
	l->item = dl->v[best].item;
	l->retried = dl->v[best].retried;
	l->t = dl->v[best].t;
	l->again = true;
	dl->v[best] = dl->v[--dl->n];
	return true;
}

/* Start @l's next GET (item @item) in the multi handle; its slot is taken. @return 0, or the
 * GET's own error (it is over: the caller reports it and gives the slot back). */
static int lane_start(struct http *h, CURLM *multi, struct http_lane *l, size_t item,
		      enum http_kind kind)
{
	const struct http_each *e = l->e;
	int err;

	if (!l->again) {
		l->retried = false;
		retry_init(&l->t);
	}
	l->again = false;
	l->item = item;
	err = e->url_of(e->ctx, item, l->url, sizeof(l->url));
	if (err)
		return err;
	l->r = (struct http_request){.kind = kind,
				     .method = "GET",
				     .url = l->url,
				     .accept = e->accept,
				     .on_body = lane_on_body,
				     .ctx = l,
				     .why = e->why};
	err = call_init(&l->c, h, &l->r);
	if (!err && curl_multi_add_handle(multi, l->c.easy) != CURLM_OK)
		err = -ENOMEM;
	if (err) {
		call_release(&l->c);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &l->c.t0);
	l->epoch = slots_epoch(&h->slots);
	call_started(&l->c);
	l->busy = true;
	return 0;
}

/* Take a slot for one more GET: wait for it when none runs (as http_get() does), else only a
 * free one (see slots_try_take_bulk()). @return 1 (taken), 0 (not now), or -ECANCELED (the
 * wait was cancelled). */
static int lane_slot(struct http *h, enum http_kind kind, size_t running)
{
	if (running && kind == HTTP_BULK)
		return slots_try_take_bulk(&h->slots);
	if (running)
		return 0; /* queries run one at a time here: they hold no reserve hostage */
	return slots_take(&h->slots, kind == HTTP_QUERY) ? -ECANCELED : 1;
}

/* The call of @l is over (@rc): report it, unless a 401 makes it worth another try or a
 * pushback sends it to wait in @dl. @return on_done's answer, or -ENOMEM. */
static int lane_finish(struct http *h, CURLM *multi, struct http_lane *l, CURLcode rc,
		       enum http_kind kind, struct http_deferred_list *dl)
{
	struct timespec until;
	const struct http_each *e = l->e;
	bool may_retry = !l->retried && may_retry_401(h, l->url);
	long status;
	int err;

	curl_multi_remove_handle(multi, l->c.easy);
	slots_give(&h->slots, kind == HTTP_QUERY);
	l->busy = false;
	if (pushback_check(&l->c, rc, &l->t, l->epoch, &until) == HTTP_NEXT_AGAIN) {
		call_release(&l->c);
		return deferred_add(dl, l, &until);
	}
	err = call_done(&l->c, rc, may_retry);
	status = l->c.resp.status;
	call_release(&l->c);
	if (status == 401 && may_retry) {
		/* A 401 body never reached on_body: the GET can be made again from scratch. */
		err = retry_after_401(h, &l->r, err);
		if (!err) {
			l->again = true;
			l->retried = true;
			return 0;
		}
	}
	return e->on_done(e->ctx, l->index, l->item, err, status);
}

int http_get_each(struct http *h, enum http_kind kind, const struct http_each *e)
{
	struct http_deferred_list dl = {0};
	struct http_lane *lanes;
	size_t next = 0, running = 0, nlanes = e->nlanes ? e->nlanes : 1;
	CURLM *multi;
	int err = 0;

	if (h->cfg.login_url) {
		err = ensure_login(h, false);
		if (err)
			return err;
	}
	multi = curl_multi_init();
	lanes = calloc(nlanes, sizeof(*lanes));
	if (!multi || !lanes) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nlanes; i++) {
		lanes[i].e = e;
		lanes[i].index = i;
	}
	for (;;) {
		CURLMsg *msg;
		CURLMcode mc;
		int still, left, finished = 0;
		struct timespec now, first, pace_at;
		bool waiting, paced = false;

		if (http_stopping(h) && dl.n) {
			err = -ECANCELED;
			break;
		}
		/* Fill the idle lanes while slots are free; a lane whose GET got a 401 that a new
		 * token or login may cure runs it again first, then the GETs pushed back whose
		 * wait is over go before new ones. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (size_t i = 0; i < nlanes && !err; i++) {
			struct http_lane *l = &lanes[i];
			size_t item;
			int gerr, got;

			if (l->busy ||
			    (!l->again && next == e->n && !deferred_take(&dl, &now, NULL)))
				continue;
			got = lane_slot(h, kind, running);
			if (got < 0)
				err = got;
			if (got <= 0)
				break;
			if (!pace_try(h, &pace_at)) {
				slots_give(&h->slots, kind == HTTP_QUERY);
				paced = true;
				break;
			}
			if (!l->again)
				deferred_take(&dl, &now, l);
			item = l->again ? l->item : next++;
			gerr = lane_start(h, multi, l, item, kind);
			if (!gerr) {
				running++;
				continue;
			}
			slots_give(&h->slots, kind == HTTP_QUERY);
			l->again = false;
			err = e->on_done(e->ctx, i, item, gerr, 0);
			i--; /* the lane is idle again */
		}
		waiting = !err && deferred_first(&dl, &first);
		if (!err && paced && (!waiting || reached(&pace_at, &first))) {
			first = pace_at;
			waiting = true;
		}
		if (err || (!running && !waiting))
			break;
		if (!running) {
			/* Every GET left waits (after a pushback, or for the pace): nothing to poll
			 * meanwhile. */
			err = http_wait_until(h, &first);
			if (err)
				break;
			continue;
		}
		mc = curl_multi_perform(multi, &still);
		if (mc != CURLM_OK) {
			size_t b = 0;

			while (!lanes[b].busy)
				b++; /* running > 0: one is */
			log_error("GET %s and %zu more at once: %s", lanes[b].c.safe_url,
				  running - 1, curl_multi_strerror(mc));
			err = -EIO;
			break;
		}
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct http_call *c = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			running--;
			finished++;
			/* The lane of the call: calls are the lanes' own members. */
			for (size_t i = 0; i < nlanes; i++) {
				if (&lanes[i].c == c) {
					int derr = lane_finish(h, multi, &lanes[i],
							       msg->data.result, kind, &dl);

					if (derr && !err)
						err = derr;
					break;
				}
			}
		}
		if (err)
			break;
		if (!finished && running) {
			long ms = 1000;

			/* Not past the moment a waiting GET may go again. One whose wait is
			 * over waits for a slot, as a new GET does: that is no reason to spin. */
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (waiting && ms_between(&now, &first) > 0 &&
			    ms_between(&now, &first) < ms)
				ms = ms_between(&now, &first);
			curl_multi_poll(multi, NULL, 0, (int)ms, NULL);
		}
	}
out:
	/* Stopped early (on_done's error, no memory, http_stop()): the GETs still running end
	 * here, not reported; their slots go back. */
	for (size_t i = 0; lanes && i < nlanes; i++) {
		if (!lanes[i].busy)
			continue;
		curl_multi_remove_handle(multi, lanes[i].c.easy);
		slots_give(&h->slots, kind == HTTP_QUERY);
		call_release(&lanes[i].c);
	}
	free(lanes);
	free(dl.v);
	if (multi)
		curl_multi_cleanup(multi);
	return err;
}
