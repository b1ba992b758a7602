/* Logging: one global level; stderr while in the foreground, syslog after daemonising (stderr is
 * then /dev/null, and a mount helper's messages must still reach the admin). */
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <pthread.h>
#include <time.h>

#include "core/url.h"

#define LOG_LINE_MAX 2048

static enum log_level log_threshold = LOG_LEVEL_WARN;
static int log_to_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_words[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_parse_level(const char *word, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(log_words) / sizeof(log_words[0]); i++) {
		if (strcmp(word, log_words[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_use_syslog(void)
{
	openlog("trolley", LOG_PID, LOG_DAEMON);
	log_to_syslog = 1;
}

int log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char raw[LOG_LINE_MAX], line[LOG_LINE_MAX * 4 + 1];
	int len;

	len = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (len < 0)
		return;
	/* Every argument may hold server text (an error body, a RAD-69 fault string, a C-FIND
	 * value, a content type): escaping the whole line here, in the one place every message
	 * passes, means no caller can forget it. Our own formats hold no control characters. */
	log_escape(raw, (size_t)len < sizeof(raw) ? (size_t)len : sizeof(raw) - 1, line,
		   sizeof(line));
	if (log_to_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	/* One write per line under a lock so lines from FUSE threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "trolley: %s: %s\n", log_words[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

bool log_limit_pass(struct log_limit *l, uint64_t now_ms, unsigned long *suppressed,
		    unsigned long *over_s)
{
	uint64_t window_ms = (uint64_t)l->window_s * 1000;
	bool pass;

	pthread_mutex_lock(&l->lock);
	*suppressed = 0;
	*over_s = 0;
	/* Fixed windows from the first line: a new one begins with the first line after the
	 * last one ended (0 is never a start: CLOCK_MONOTONIC ms + 1). */
	if (!l->window_start || now_ms + 1 - l->window_start >= window_ms) {
		if (l->suppressed && l->window_start)
			l->suppressed_s = (unsigned long)((now_ms + 1 - l->window_start) / 1000);
		l->window_start = now_ms + 1;
		l->used = 0;
	}
	pass = l->used < l->burst;
	if (pass) {
		l->used++;
		*suppressed = l->suppressed;
		*over_s = l->suppressed ? (l->suppressed_s ? l->suppressed_s : l->window_s) : 0;
		l->suppressed = 0;
		l->suppressed_s = 0;
	} else {
		l->suppressed++;
	}
	pthread_mutex_unlock(&l->lock);
	return pass;
}

void log_msg_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
	unsigned long suppressed, over_s;
	struct timespec t;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!log_limit_pass(l, (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000,
			    &suppressed, &over_s))
		return;
	/* The format names the call site (it is ours: no server text in it). */
	if (suppressed)
		log_msg(level, "%lu more lines like \"%.60s\" were suppressed in the last %lu s",
			suppressed, fmt, over_s);
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Length of the valid UTF-8 sequence at @s (at most @len bytes) that is not a C1 control
 * (U+0080..U+009F), or 0. Overlong forms and surrogates are invalid (RFC 3629 §4). */
static size_t utf8_printable_len(const unsigned char *s, size_t len)
{
	size_t need;
	unsigned cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (len < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return need;
}

size_t log_escape(const char *s, size_t len, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t j = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < len;) {
		size_t k = u[i] >= 0x20 && u[i] < 0x7f ? 1 : utf8_printable_len(u + i, len - i);

		if (k) {
			if (j + k >= n)
				break;
			memcpy(out + j, s + i, k);
			j += k;
			i += k;
			continue;
		}
		if (j + 4 >= n)
			break;
		out[j++] = '\\';
		out[j++] = 'x';
		out[j++] = hex[u[i] >> 4];
		out[j++] = hex[u[i] & 15];
		i++;
	}
	out[j] = '\0';
	return j;
}

/* Query parameters whose values are credentials, by name (case-insensitive). Only these are
 * hidden: the other values (QIDO matching keys, WADO-URI UIDs, limit, offset) are what a
 * reader of the log needs to tell which request failed. The list covers OAuth 2 (RFC 6750
 * §2.3 access_token; id_token, refresh_token, code), signed URLs (AWS X-Amz-Signature,
 * -Credential, -Security-Token; Google X-Goog-*; Azure SAS sig), API keys (key, api_key,
 * apikey, *key), passwords and session ids (jsessionid): a name that contains "token",
 * "secret", "passw", "credential", "session" or "signature", ends in "key", starts with
 * "x-amz-" or "x-goog-", or is one of the short names below. */
static bool is_credential_param(const char *name, size_t len)
{
	static const char *const exact[] = {"sig", "code", "auth", "pass", "pwd", "sid"};
	static const char *const within[] = {"token",	   "secret",  "passw",
					     "credential", "session", "signature"};
	char low[64];

	if (len == 0 || len >= sizeof(low))
		return len >= sizeof(low); /* an odd, long name: hide rather than guess */
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(low, exact[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof(within) / sizeof(within[0]); i++)
		if (strstr(low, within[i]))
			return true;
	return (len >= 3 && strcmp(low + len - 3, "key") == 0) || strncmp(low, "x-amz-", 6) == 0 ||
	       strncmp(low, "x-goog-", 7) == 0;
}

struct log_out {
	char *p;
	size_t n, len;
};

static void out_add(struct log_out *o, const char *s, size_t len)
{
	size_t room = o->n - 1 - o->len;

	if (len > room)
		len = room;
	memcpy(o->p + o->len, s, len);
	o->len += len;
	o->p[o->len] = '\0';
}

char *log_redact_url(const char *url, char *out, unsigned long n)
{
	struct log_out o = {.p = out, .n = n};
	const char *q, *end;
	struct url u;
	size_t host;

	if (n == 0)
		return out;
	out[0] = '\0';
	if (!url)
		return out;
	/* The reading of core/url.h, the same as the option check's: whatever the slashes,
	 * backslashes or scheme, all before the authority's last '@' goes. */
	url_parse(url, strlen(url), &u);
	out_add(&o, url, u.authority.off);
	host = u.has_userinfo ? u.userinfo.off + u.userinfo.len + 1 : u.authority.off;
	out_add(&o, url + host, u.authority.off + u.authority.len - host);
	out_add(&o, url + u.path.off, u.path.len);
	if (u.has_query) {
		out_add(&o, "?", 1);
		q = url + u.query.off;
		end = q + u.query.len;
		for (const char *p = q; p < end;) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			size_t plen = amp ? (size_t)(amp - p) : (size_t)(end - p), nlen;
			const char *eq = memchr(p, '=', plen);

			nlen = eq ? (size_t)(eq - p) : plen;
			if (eq && is_credential_param(p, nlen)) {
				out_add(&o, p, nlen + 1);
				out_add(&o, "***", 3);
			} else {
				out_add(&o, p, plen);
			}
			p += plen;
			if (p < end) {
				out_add(&o, "&", 1);
				p++;
			}
		}
	}
	if (u.has_fragment) {
		out_add(&o, "#", 1);
		out_add(&o, url + u.fragment.off, u.fragment.len);
	}
	return out;
}
