/* Streaming multipart parser (RFC 2046 §5.1). The HTTP layer feeds a WADO-RS or RAD-69 reply as
 * it arrives; part bodies go from the caller's buffer straight to part_data. The only bytes held
 * back are those that may begin a delimiter, and they are always a prefix of the delimiter
 * itself, so they need no copy: only part headers are buffered, up to MP_HEADERS_MAX. */
#include "protocols/multipart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
#define MP_BOUNDARY_MAX 70
/* Part headers are a few short lines; a block this long is not a reply we understand. */
#define MP_HEADERS_MAX (16u << 10)

enum mp_state {
	MP_START,      /* nothing seen yet: "--boundary" may open the body without a CRLF */
	MP_PREAMBLE,   /* before the first delimiter: dropped */
	MP_DELIM_END,  /* just after "--boundary": "--", padding or the line break */
	MP_CLOSE_DASH, /* after "--boundary-": the second dash of the close delimiter */
	MP_PADDING,    /* transport padding before the line break */
	MP_DELIM_CR,   /* the CR ending the delimiter line; its LF comes next */
	MP_HEADERS,    /* part headers, up to the empty line */
	MP_BODY,       /* part body: to part_data */
	MP_EPILOGUE,   /* after the close delimiter: dropped */
};

struct mp_parser {
	const struct mp_callbacks *cb;
	void *ctx;
	char delim[4 + MP_BOUNDARY_MAX]; /* CRLF "--" boundary, no NUL */
	size_t dlen;
	/* Bytes of delim matched so far. They were held back from part_data and are delim[0, matched),
	 * so they are delivered from delim if the match fails. */
	size_t matched;
	enum mp_state state;
	bool in_part; /* part_begin called, part_end not yet */
	int err;      /* sticky */
	size_t parts;
	struct buf headers;    /* the header block of the part being read */
	size_t line_start;     /* offset in headers of the line being read */
	struct buf ctype, cid; /* unfolded values of Content-Type and Content-ID */
};

static bool mp_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Read a quoted-string at @s (just after its opening quote; RFC 2045 §5.1, backslash quotes the
 * next character), writing the unquoted text to @out if @out is not NULL. @return the number of
 * unquoted characters, and in *end the character after the closing quote; -EINVAL if the string
 * has no closing quote.
 */
static long mp_unquote(const char *s, char *out, const char **end)
{
	long len = 0;

	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1])
			s++;
		if (out)
			out[len] = *s;
		len++;
	}
	if (*s != '"')
		return -EINVAL;
	*end = s + 1;
	return len;
}

/* A boundary value of @len characters is usable: RFC 2046 bounds its length, and the delimiter
 * matcher relies on it holding no CR (and LF could never be matched on a delimiter line). */
static int mp_check_boundary(const char *b, size_t len, size_t n)
{
	if (len == 0 || memchr(b, '\r', len) || memchr(b, '\n', len))
		return -EINVAL;
	if (len > MP_BOUNDARY_MAX || len + 1 > n)
		return -E2BIG;
	return 0;
}

int mp_boundary_from_content_type(const char *content_type, char *out, size_t n)
{
	const char *s = content_type;

	if (!s)
		return -EINVAL;
	while (mp_is_space(*s))
		s++;
	if (strncasecmp(s, "multipart/", 10) != 0)
		return -EINVAL;
	/* RFC 2045 §5.1: type "/" subtype *(";" attribute "=" value), values token or quoted. */
	s = strchr(s, ';');
	while (s) {
		const char *name, *end;
		size_t nlen, len;
		bool is_boundary;
		long qlen;
		int err;

		for (s++; mp_is_space(*s); s++)
			;
		name = s;
		nlen = strcspn(s, "=; \t");
		for (s += nlen; mp_is_space(*s); s++)
			;
		if (*s != '=') {
			/* A parameter without a value says nothing about the boundary. */
			s = strchr(s, ';');
			continue;
		}
		for (s++; mp_is_space(*s); s++)
			;
		is_boundary = nlen == 8 && strncasecmp(name, "boundary", 8) == 0;
		if (*s == '"') {
			qlen = mp_unquote(s + 1, NULL, &end);
			if (qlen < 0)
				return -EINVAL;
			if (is_boundary) {
				char tmp[MP_BOUNDARY_MAX + 1];

				/* Checked on a copy: the caller's @out is written only on success. */
				if (qlen > MP_BOUNDARY_MAX)
					return -E2BIG;
				mp_unquote(s + 1, tmp, &end);
				err = mp_check_boundary(tmp, (size_t)qlen, n);
				if (err)
					return err;
				memcpy(out, tmp, (size_t)qlen);
				out[qlen] = '\0';
				return 0;
			}
			s = end;
		} else {
			/* Servers send unquoted boundaries with tspecials in them ("----=_Part_1"):
			 * a token runs to the next separator whatever it holds. */
			len = strcspn(s, "; \t\r\n");
			if (is_boundary) {
				err = mp_check_boundary(s, len, n);
				if (err)
					return err;
				memcpy(out, s, len);
				out[len] = '\0';
				return 0;
			}
			s += len;
		}
		s = strchr(s, ';');
	}
	return -EINVAL;
}

struct mp_parser *mp_parser_new(const char *boundary, const struct mp_callbacks *cb, void *ctx)
{
	struct mp_parser *p;
	size_t blen;

	if (!boundary || !cb)
		return NULL;
	blen = strlen(boundary);
	if (mp_check_boundary(boundary, blen, MP_BOUNDARY_MAX + 1))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	memcpy(p->delim, "\r\n--", 4);
	memcpy(p->delim + 4, boundary, blen);
	p->dlen = 4 + blen;
	p->state = MP_START;
	buf_init(&p->headers, MP_HEADERS_MAX);
	buf_init(&p->ctype, MP_HEADERS_MAX);
	buf_init(&p->cid, MP_HEADERS_MAX);
	return p;
}

void mp_parser_free(struct mp_parser *p)
{
	if (!p)
		return;
	buf_release(&p->headers);
	buf_release(&p->ctype);
	buf_release(&p->cid);
	free(p);
}

size_t mp_parser_parts(const struct mp_parser *p)
{
	return p->parts;
}

/* Deliver body bytes; preamble bytes go nowhere. */
static int mp_emit(struct mp_parser *p, const char *d, size_t n)
{
	int err;

	if (p->state != MP_BODY || n == 0 || !p->cb->part_data)
		return 0;
	err = p->cb->part_data(p->ctx, d, n);
	return err < 0 ? err : 0;
}

/* "--boundary" as the very first bytes of the body: RFC 2046 lets the first delimiter go
 * without its CRLF when there is no preamble. */
static int mp_start(struct mp_parser *p, const char *d, size_t len, size_t *used)
{
	const char *want = p->delim + 2;
	size_t wlen = p->dlen - 2, i = 0;

	while (i < len && p->matched < wlen && d[i] == want[p->matched]) {
		i++;
		p->matched++;
	}
	*used = i;
	if (p->matched == wlen) {
		p->matched = 0;
		p->state = MP_DELIM_END;
	} else if (i < len) {
		/* Not a delimiter: what matched was preamble, and the byte that broke the match
		 * is looked at again, as it may be the CR of one. */
		p->matched = 0;
		p->state = MP_PREAMBLE;
	}
	return 0;
}

/* Look for the delimiter in preamble or body bytes. @return 0 with all of @len used, or 0 with
 * *used just past a whole delimiter and the state moved on, or a callback's error. Body bytes
 * go out in runs as long as the feed: a CR that does not begin the delimiter (pixel data holds
 * one every 256 bytes or so) does not cut the run. */
static int mp_scan(struct mp_parser *p, const char *d, size_t len, size_t *used)
{
	size_t i = 0, run;
	int err;

	/* A delimiter prefix held back from the last feed: go on matching it. */
	while (p->matched && i < len) {
		if (d[i] != p->delim[p->matched]) {
			/* The held bytes were body after all. CR is only the delimiter's first
			 * byte (a boundary holds none), so no tail of them can start another
			 * match: all go, and d[i] is looked at again, as it may be a CR. */
			err = mp_emit(p, p->delim, p->matched);
			if (err)
				return err;
			p->matched = 0;
			break;
		}
		i++;
		if (++p->matched == p->dlen) {
			/* The part ends once the delimiter line is known to be one. */
			p->matched = 0;
			p->state = MP_DELIM_END;
			*used = i;
			return 0;
		}
	}
	if (p->matched) {
		*used = len; /* all of it was more of the delimiter */
		return 0;
	}
	run = i;
	/* The whole delimiter: memmem skips ahead by its length, where looking at each CR would
	 * stop every 16 bytes or so in 12-bit pixel data (its high bytes are 0x00 to 0x0F). */
	if (len - i >= p->dlen) {
		const char *hit = memmem(d + i, len - i, p->delim, p->dlen);

		if (hit) {
			size_t k = (size_t)(hit - d);

			err = mp_emit(p, d + run, k - run);
			if (err)
				return err;
			p->state = MP_DELIM_END;
			*used = k + p->dlen;
			return 0;
		}
		i = len - (p->dlen - 1);
	}
	/* None: the feed may still end inside one, which is held back (as delim[0, matched)). */
	while (i < len) {
		const char *cr = memchr(d + i, '\r', len - i);
		size_t k;

		if (!cr)
			break;
		k = (size_t)(cr - d);
		if (memcmp(d + k, p->delim, len - k) == 0) {
			err = mp_emit(p, d + run, k - run);
			if (err)
				return err;
			p->matched = len - k;
			*used = len;
			return 0;
		}
		i = k + 1;
	}
	*used = len;
	return mp_emit(p, d + run, len - run);
}

/* The delimiter line is whole and valid: the part before it, if any, ended. Not sooner: a
 * body cut inside the delimiter line, or a "boundary" that goes on, ends no part. */
static int mp_part_end(struct mp_parser *p)
{
	int err;

	if (!p->in_part)
		return 0;
	p->in_part = false;
	if (p->cb->part_end) {
		err = p->cb->part_end(p->ctx);
		if (err < 0)
			return err;
	}
	p->parts++;
	return 0;
}

static int mp_headers_begin(struct mp_parser *p)
{
	buf_consume(&p->headers, p->headers.len);
	p->line_start = 0;
	p->state = MP_HEADERS;
	return mp_part_end(p);
}

/* What follows "--boundary", one byte at a time: "--" closes the body; otherwise transport
 * padding (RFC 2046 §5.1.1: linear white space) and CRLF. Anything else means the boundary went
 * on, and a boundary must not appear in a body, so the body is malformed. */
static int mp_delim_end(struct mp_parser *p, char c)
{
	switch (p->state) {
	case MP_DELIM_END:
		if (c == '-') {
			p->state = MP_CLOSE_DASH;
			return 0;
		}
		/* fall through */
	case MP_PADDING:
		if (mp_is_space(c)) {
			p->state = MP_PADDING;
			return 0;
		}
		if (c == '\r') {
			p->state = MP_DELIM_CR;
			return 0;
		}
		/* Servers that end header lines with a bare LF end this line so too. */
		if (c == '\n')
			return mp_headers_begin(p);
		return -EPROTO;
	case MP_CLOSE_DASH:
		if (c != '-')
			return -EPROTO;
		p->state = MP_EPILOGUE;
		return mp_part_end(p);
	case MP_DELIM_CR:
		if (c != '\n')
			return -EPROTO;
		return mp_headers_begin(p);
	default:
		return -EPROTO;
	}
}

/* Append to @to the value part of a header line, for the field being unfolded. */
static int mp_add_value(struct buf *to, const char *v, size_t n)
{
	int err = buf_add(to, v, n);

	return err == -E2BIG ? -EPROTO : err;
}

/* A NUL-terminated copy of @b's contents without surrounding white space ("" if empty). */
static const char *mp_trimmed(struct buf *b)
{
	char *s = b->data, *e;

	if (!s)
		return "";
	e = s + b->len;
	while (s < e && mp_is_space(*s))
		s++;
	while (e > s && mp_is_space(e[-1]))
		e--;
	*e = '\0';
	return s;
}

/*
 * Parse the header block [h, h + len) (whole lines, each ending in LF or CRLF, without the empty
 * line) into p->ctype and p->cid. Continuation lines are unfolded (RFC 5322 §2.2.3: remove the
 * line break, keep the white space). Lines that are not fields mean the bytes are not headers.
 */
static int mp_parse_headers(struct mp_parser *p, const char *h, size_t len)
{
	struct buf *cur = NULL; /* the field being unfolded, if one we keep */
	bool any = false, have_ctype = false, have_cid = false;
	size_t off = 0;
	int err;

	buf_consume(&p->ctype, p->ctype.len);
	buf_consume(&p->cid, p->cid.len);
	while (off < len) {
		const char *line = h + off, *colon, *lf = memchr(line, '\n', len - off);
		size_t ll, nl;

		if (!lf)
			return -EPROTO;
		ll = (size_t)(lf - line);
		off += ll + 1;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll == 0 || memchr(line, '\0', ll))
			return -EPROTO; /* values are handed on as C strings */
		if (mp_is_space(line[0])) {
			if (!any)
				return -EPROTO;
			if (cur) {
				err = mp_add_value(cur, line, ll);
				if (err)
					return err;
			}
			continue;
		}
		colon = memchr(line, ':', ll);
		if (!colon)
			return -EPROTO;
		nl = (size_t)(colon - line);
		while (nl && mp_is_space(line[nl - 1]))
			nl--;
		if (nl == 0)
			return -EPROTO;
		/* RFC 5322 §2.2: a field name is printable ASCII; binary here is a lost body. */
		for (size_t i = 0; i < nl; i++)
			if ((unsigned char)line[i] < 33 || (unsigned char)line[i] > 126)
				return -EPROTO;
		any = true;
		cur = NULL;
		if (!have_ctype && nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
			cur = &p->ctype;
			have_ctype = true;
		} else if (!have_cid && nl == 10 && strncasecmp(line, "Content-ID", 10) == 0) {
			cur = &p->cid;
			have_cid = true;
		}
		if (cur) {
			err = mp_add_value(cur, colon + 1, ll - (size_t)(colon + 1 - line));
			if (err)
				return err;
		}
	}
	return 0;
}

/* Header bytes up to and including the next LF. When that LF ends an empty line, the block is
 * complete: the part begins. The whole block, empty line included, must fit MP_HEADERS_MAX. */
static int mp_headers(struct mp_parser *p, const char *d, size_t len, size_t *used)
{
	const char *lf = memchr(d, '\n', len);
	size_t n = lf ? (size_t)(lf - d) + 1 : len, line_len;
	int err;

	err = buf_add(&p->headers, d, n);
	if (err)
		return err == -E2BIG ? -EPROTO : err;
	*used = n;
	if (!lf)
		return 0;
	line_len = p->headers.len - p->line_start;
	if (line_len > 2 || (line_len == 2 && p->headers.data[p->line_start] != '\r')) {
		p->line_start = p->headers.len;
		return 0;
	}
	err = mp_parse_headers(p, p->headers.data, p->line_start);
	if (err)
		return err;
	p->state = MP_BODY;
	p->matched = 0;
	p->in_part = true;
	if (!p->cb->part_begin)
		return 0;
	err = p->cb->part_begin(p->ctx, mp_trimmed(&p->ctype), mp_trimmed(&p->cid));
	return err < 0 ? err : 0;
}

int mp_parser_feed(struct mp_parser *p, const void *data, size_t len)
{
	const char *d = data;
	int err = 0;

	if (p->err)
		return p->err;
	while (len && !err) {
		size_t used = 0;

		switch (p->state) {
		case MP_START:
			err = mp_start(p, d, len, &used);
			break;
		case MP_PREAMBLE:
		case MP_BODY:
			err = mp_scan(p, d, len, &used);
			break;
		case MP_DELIM_END:
		case MP_CLOSE_DASH:
		case MP_PADDING:
		case MP_DELIM_CR:
			err = mp_delim_end(p, d[0]);
			used = 1;
			break;
		case MP_HEADERS:
			err = mp_headers(p, d, len, &used);
			break;
		case MP_EPILOGUE:
			/* RFC 2046 §5.1.1: the epilogue is to be ignored. */
			used = len;
			break;
		}
		d += used;
		len -= used;
	}
	p->err = err;
	return err;
}

int mp_parser_finish(struct mp_parser *p)
{
	/* Held-back bytes and a part without its delimiter are dropped: part_end is only ever
	 * called for a part that ended. */
	if (!p->err && p->state != MP_EPILOGUE)
		p->err = -EPROTO;
	return p->err;
}
