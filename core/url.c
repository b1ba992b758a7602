/* One URL reader for every place that must agree on where a URL's userinfo and host are: the
 * option check refuses what it finds, the log's redactor removes it. Lenient where a secret
 * could hide (any slashes, backslashes, no slash at all), strict where a URL is accepted. */
#include "core/url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_slash(char ch)
{
	return ch == '/' || ch == '\\';
}

/* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). Only a scheme followed
 * by a slash counts: "http:user:pw@host" has none, and libcurl, guessing the scheme, reads
 * "http:user:pw" as its userinfo. */
static size_t scheme_len(const char *t, size_t len)
{
	size_t j = 1;

	if (len == 0 || !is_alpha(t[0]))
		return 0;
	while (j < len &&
	       (is_alpha(t[j]) || is_digit(t[j]) || t[j] == '+' || t[j] == '-' || t[j] == '.'))
		j++;
	return j + 1 < len && t[j] == ':' && is_slash(t[j + 1]) ? j : 0;
}

static struct url_span span(size_t from, size_t to)
{
	return (struct url_span){from, to - from};
}

/* The host and port of the authority after its userinfo: [h, end). */
static void parse_host_port(const char *t, size_t h, size_t end, struct url *u)
{
	const char *close, *colon = NULL;

	if (h < end && t[h] == '[') {
		close = memchr(t + h, ']', end - h);
		if (close && (close + 1 == t + end || close[1] == ':'))
			colon = close + 1 < t + end ? close + 1 : NULL;
		else
			close = NULL; /* no closing bracket, or text after it: all of it is host */
		if (!close) {
			u->host = span(h, end);
			return;
		}
	} else {
		for (size_t i = end; i > h; i--) {
			if (t[i - 1] == ':') {
				colon = t + i - 1;
				break;
			}
		}
	}
	if (!colon) {
		u->host = span(h, end);
		return;
	}
	u->host = span(h, (size_t)(colon - t));
	u->has_port = true;
	u->port = span((size_t)(colon - t) + 1, end);
}

void url_parse(const char *t, size_t len, struct url *u)
{
	size_t i, a, h;

	memset(u, 0, sizeof(*u));
	i = scheme_len(t, len);
	u->scheme = span(0, i);
	if (i)
		i++; /* the ':' */
	a = i;
	while (i < len && is_slash(t[i]))
		i++;
	u->slashes = span(a, i);
	a = i;
	while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
		i++;
	u->authority = span(a, i);
	h = a;
	for (size_t j = i; j > a; j--) {
		if (t[j - 1] == '@') {
			u->has_userinfo = true;
			u->userinfo = span(a, j - 1);
			h = j;
			break;
		}
	}
	parse_host_port(t, h, i, u);
	a = i;
	while (i < len && t[i] != '?' && t[i] != '#')
		i++;
	u->path = span(a, i);
	if (i < len && t[i] == '?') {
		a = ++i;
		while (i < len && t[i] != '#')
			i++;
		u->has_query = true;
		u->query = span(a, i);
	}
	if (i < len && t[i] == '#') {
		u->has_fragment = true;
		u->fragment = span(i + 1, len);
	}
}

bool url_scheme_is(const struct url *u, const char *text, const char *scheme)
{
	return u->scheme.len == strlen(scheme) &&
	       strncasecmp(text + u->scheme.off, scheme, u->scheme.len) == 0;
}

static int refuse(char *why, size_t n, const char *reason)
{
	if (n)
		snprintf(why, n, "%s", reason);
	return -EINVAL;
}

/* "[" IPv6 [ "%25" zone ] "]", as RFC 6874 writes a zone; the address as inet_pton reads it. */
static bool is_ipv6_literal(const char *h, size_t len)
{
	char addr[64];
	struct in6_addr a6;
	size_t end = len - 1, zone;

	if (len < 4 || h[0] != '[' || h[end] != ']')
		return false;
	zone = 1;
	while (zone < end && h[zone] != '%')
		zone++;
	if (zone - 1 >= sizeof(addr))
		return false;
	memcpy(addr, h + 1, zone - 1);
	addr[zone - 1] = '\0';
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return false;
	if (zone == end)
		return true;
	/* A zone names an interface: at most IFNAMSIZ - 1 bytes (libcurl takes no more). */
	if (end - zone < 4 || end - zone - 3 > 15 || strncmp(h + zone, "%25", 3) != 0)
		return false;
	for (size_t i = zone + 3; i < end; i++)
		if (!is_alpha(h[i]) && !is_digit(h[i]) && !strchr("-._~", h[i]))
			return false;
	return true;
}

/* A host name as written: letters, digits, '-', '.', '_', '~' (RFC 3986's unreserved set).
 * No percent-escapes: "bob%40host" is a user name to one reader and a host to another. */
static bool is_host_name(const char *h, size_t len)
{
	/* RFC 1035 §2.3.4: a name is at most 255 bytes on the wire, 253 written. */
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(h[i]) && !is_digit(h[i]) && !strchr("-._~", h[i]))
			return false;
	return true;
}

/* A label libcurl (and a browser) reads as a number: decimal, octal (a leading 0) or hex
 * (0x). */
static bool is_number_label(const char *l, size_t len)
{
	size_t i = 0;

	if (len >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
		for (i = 2; i < len; i++)
			if (!is_digit(l[i]) && !strchr("abcdefABCDEF", l[i]))
				return false;
		return true;
	}
	for (; i < len; i++)
		if (!is_digit(l[i]))
			return false;
	return len > 0;
}

/* Whether every label of @h is a number: libcurl then reads the host as an IPv4 address and
 * writes it anew ("127.1" and "0x7f.1" are 127.0.0.1, "127.0.0" is 127.0.0.0). */
static bool is_numeric_host(const char *h, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && h[i] != '.')
			continue;
		if (!is_number_label(h + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* Four decimal numbers from 0 to 255, without leading zeros: the one way of writing an IPv4
 * address that every reader takes as written. */
static bool is_dotted_quad(const char *h, size_t len)
{
	size_t start = 0, parts = 0;

	for (size_t i = 0; i <= len; i++) {
		unsigned v = 0;

		if (i < len && h[i] != '.')
			continue;
		if (i == start || i - start > 3 || (i - start > 1 && h[start] == '0'))
			return false;
		for (size_t j = start; j < i; j++) {
			if (!is_digit(h[j]))
				return false;
			v = v * 10 + (unsigned)(h[j] - '0');
		}
		if (v > 255)
			return false;
		parts++;
		start = i + 1;
	}
	return parts == 4;
}

static bool is_port(const char *p, size_t len)
{
	unsigned v = 0;

	/* No leading zero: libcurl writes "042" as 42, and a check must see what is used. */
	if (len == 0 || len > 5 || p[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

int url_check_web(const char *text, char *why, size_t n)
{
	size_t len = strlen(text);
	struct url u;

	url_parse(text, len, &u);
	/* First, so that a URL with a secret is refused for that, whatever else is wrong. */
	if (u.has_userinfo)
		return refuse(why, n,
			      "holds a user name or password in its URL (an '@' before the host)");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
			return refuse(why, n, "holds a space or a control character");
	if (memchr(text, '\\', len))
		return refuse(why, n,
			      "holds a backslash, which programs read differently (a browser as "
			      "'/', libcurl as part of a name)");
	if (!url_scheme_is(&u, text, "http") && !url_scheme_is(&u, text, "https"))
		return refuse(why, n, "is not an http:// or https:// URL");
	if (u.slashes.len != 2)
		return refuse(why, n,
			      "needs exactly two slashes after the scheme (http://host/...)");
	if (!is_host_name(text + u.host.off, u.host.len) &&
	    !is_ipv6_literal(text + u.host.off, u.host.len))
		return refuse(why, n,
			      "has a host that is neither a name (letters, digits, '-', '.', '_', "
			      "'~'; no %-escapes) nor an address ([IPv6] in brackets)");
	if (is_numeric_host(text + u.host.off, u.host.len) &&
	    !is_dotted_quad(text + u.host.off, u.host.len))
		return refuse(
			why, n,
			"has a numeric host that is not written as four numbers from 0 to 255 "
			"(a.b.c.d, no leading zeros), which libcurl would read as another "
			"address");
	if (u.has_port && !is_port(text + u.port.off, u.port.len))
		return refuse(why, n,
			      "has a port that is not a number from 1 to 65535 (no leading zeros)");
	return 0;
}
