/* Streaming multipart parser (RFC 2046 §5.1). Bytes arrive in pieces of any size; body bytes
 * leave through part_data as soon as they cannot be the start of a delimiter, so memory holds
 * at most one feed plus the delimiter's length, never a whole part. */
#include "protocols/multipart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

/* RFC 2046 limits boundaries to 70 characters; delimiter = CRLF "--" boundary. */
#define MP_BOUNDARY_MAX 70
#define MP_HEADERS_MAX	(16u << 10)
/* Feeds are worked through in slices of this size, which bounds the working buffer. */
#define MP_SLICE (64u << 10)

enum mp_state { MP_PREAMBLE, MP_AFTER_DELIM, MP_HEADERS, MP_BODY, MP_EPILOGUE };

struct mp_parser {
	const struct mp_callbacks *cb;
	void *ctx;
	char delim[MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen;
	enum mp_state state;
	bool at_start; /* nothing consumed yet: "--boundary" may open the body */
	bool closed;   /* the close delimiter was seen */
	int err;       /* sticky */
	size_t parts;
	struct buf work; /* bytes received and not yet consumed */
};

static bool is_multipart(const char *ct)
{
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, "multipart/", 10) == 0;
}

int mp_boundary_from_content_type(const char *content_type, char *out, size_t n)
{
	const char *p;

	if (!content_type || !is_multipart(content_type))
		return -EINVAL;
	p = strchr(content_type, ';');
	while (p) {
		const char *name, *eq;
		size_t nlen, len = 0;

		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		name = p;
		eq = strchr(p, '=');
		if (!eq)
			return -EINVAL;
		nlen = (size_t)(eq - name);
		while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
			nlen--;
		p = eq + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			/* A quoted string: backslash escapes the next character (RFC 2045). */
			char tmp[MP_BOUNDARY_MAX * 2 + 2];

			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (len + 1 >= sizeof(tmp))
					return -E2BIG;
				tmp[len++] = *p;
			}
			if (*p != '"')
				return -EINVAL;
			p++;
			tmp[len] = '\0';
			if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
				if (len == 0)
					return -EINVAL;
				if (len + 1 > n || len > MP_BOUNDARY_MAX)
					return -E2BIG;
				memcpy(out, tmp, len + 1);
				return 0;
			}
			p = strchr(p, ';');
			continue;
		}
		len = strcspn(p, "; \t");
		if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
			if (len == 0)
				return -EINVAL;
			if (len + 1 > n || len > MP_BOUNDARY_MAX)
				return -E2BIG;
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
		p = strchr(p + len, ';');
	}
	return -EINVAL;
}

struct mp_parser *mp_parser_new(const char *boundary, const struct mp_callbacks *cb, void *ctx)
{
	size_t blen = strlen(boundary);
	struct mp_parser *p;

	if (blen == 0 || blen > MP_BOUNDARY_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	memcpy(p->delim, "\r\n--", 4);
	memcpy(p->delim + 4, boundary, blen);
	p->dlen = blen + 4;
	p->state = MP_PREAMBLE;
	p->at_start = true;
	/* Work holds at most one slice plus what was kept back (headers up to their cap). */
	buf_init(&p->work, MP_SLICE + MP_HEADERS_MAX + p->dlen + 16);
	return p;
}

void mp_parser_free(struct mp_parser *p)
{
	if (!p)
		return;
	buf_release(&p->work);
	free(p);
}

size_t mp_parser_parts(const struct mp_parser *p)
{
	return p->parts;
}

/* Trimmed value of header @name in the header block [h, h+len), or NULL. Copies into @out. */
static const char *header_value(const char *h, size_t len, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	const char *end = h + len;

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		const char *line_end = eol ? eol : end;
		size_t ll = (size_t)(line_end - h);

		if (ll && h[ll - 1] == '\r')
			ll--;
		if (ll > nl && strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= n)
				vl = n - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return out;
		}
		h = eol ? eol + 1 : end;
	}
	return NULL;
}

/* Find the end of the header block: CRLF CRLF, or LF LF from servers that send bare LF.
 * @return the length of the block including its blank line, or 0 if not yet complete. */
static size_t headers_end(const char *d, size_t len)
{
	/* A part with no headers starts with its blank line at once. */
	if (len >= 2 && d[0] == '\r' && d[1] == '\n')
		return 2;
	if (len >= 1 && d[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (d[i] != '\n')
			continue;
		if (d[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int step_preamble(struct mp_parser *p, bool *more)
{
	const char *d = p->work.data, *hit;
	size_t len = p->work.len, keep;

	if (p->at_start) {
		/* "--boundary" as the very first bytes, without the CRLF. */
		size_t want = p->dlen - 2;

		if (len < want && memcmp(d, p->delim + 2, len) == 0) {
			*more = true;
			return 0;
		}
		p->at_start = false;
		if (len >= want && memcmp(d, p->delim + 2, want) == 0) {
			buf_consume(&p->work, want);
			p->state = MP_AFTER_DELIM;
			return 0;
		}
	}
	hit = memmem(d, len, p->delim, p->dlen);
	if (hit) {
		buf_consume(&p->work, (size_t)(hit - d) + p->dlen);
		p->state = MP_AFTER_DELIM;
		return 0;
	}
	/* Keep what may be the start of a delimiter; the rest of the preamble is dropped. */
	keep = len < p->dlen - 1 ? len : p->dlen - 1;
	buf_consume(&p->work, len - keep);
	*more = true;
	return 0;
}

static int step_after_delim(struct mp_parser *p, bool *more)
{
	const char *d = p->work.data;
	size_t len = p->work.len, i = 0;

	if (len < 2) {
		*more = true;
		return 0;
	}
	if (d[0] == '-' && d[1] == '-') {
		p->closed = true;
		p->state = MP_EPILOGUE;
		buf_consume(&p->work, len);
		return 0;
	}
	/* Transport padding (RFC 2046: linear white space) before the CRLF. */
	while (i < len && (d[i] == ' ' || d[i] == '\t'))
		i++;
	if (i == len) {
		if (len > 256)
			return -EPROTO;
		*more = true;
		return 0;
	}
	if (d[i] == '\n') {
		i++;
	} else if (d[i] == '\r') {
		if (i + 1 == len) {
			*more = true;
			return 0;
		}
		if (d[i + 1] != '\n')
			return -EPROTO;
		i += 2;
	} else {
		return -EPROTO; /* the "boundary" went on: it was not a delimiter */
	}
	buf_consume(&p->work, i);
	p->state = MP_HEADERS;
	return 0;
}

static int step_headers(struct mp_parser *p, bool *more)
{
	char ct[256], cid[256];
	size_t end = headers_end(p->work.data, p->work.len);
	int err;

	if (!end) {
		if (p->work.len > MP_HEADERS_MAX)
			return -EPROTO;
		*more = true;
		return 0;
	}
	if (end > MP_HEADERS_MAX)
		return -EPROTO;
	if (!header_value(p->work.data, end, "Content-Type", ct, sizeof(ct)))
		ct[0] = '\0';
	if (!header_value(p->work.data, end, "Content-ID", cid, sizeof(cid)))
		cid[0] = '\0';
	buf_consume(&p->work, end);
	p->state = MP_BODY;
	err = p->cb->part_begin(p->ctx, ct, cid);
	return err;
}

static int step_body(struct mp_parser *p, bool *more)
{
	const char *d = p->work.data, *hit;
	size_t len = p->work.len, keep, emit;
	int err;

	hit = memmem(d, len, p->delim, p->dlen);
	if (hit) {
		emit = (size_t)(hit - d);
		if (emit) {
			err = p->cb->part_data(p->ctx, d, emit);
			if (err)
				return err;
		}
		buf_consume(&p->work, emit + p->dlen);
		p->state = MP_AFTER_DELIM;
		err = p->cb->part_end(p->ctx);
		if (!err)
			p->parts++;
		return err;
	}
	/* Hold back only a tail that could still become a delimiter. */
	keep = len < p->dlen - 1 ? len : p->dlen - 1;
	while (keep && memcmp(d + len - keep, p->delim, keep) != 0)
		keep--;
	emit = len - keep;
	if (emit) {
		err = p->cb->part_data(p->ctx, d, emit);
		if (err)
			return err;
		buf_consume(&p->work, emit);
	}
	*more = true;
	return 0;
}

static int run(struct mp_parser *p)
{
	bool more = false;
	int err = 0;

	while (!err && !more) {
		switch (p->state) {
		case MP_PREAMBLE:
			err = step_preamble(p, &more);
			break;
		case MP_AFTER_DELIM:
			err = step_after_delim(p, &more);
			break;
		case MP_HEADERS:
			err = step_headers(p, &more);
			break;
		case MP_BODY:
			err = step_body(p, &more);
			break;
		case MP_EPILOGUE:
			buf_consume(&p->work, p->work.len);
			more = true;
			break;
		}
	}
	return err;
}

int mp_parser_feed(struct mp_parser *p, const void *data, size_t len)
{
	const char *d = data;

	if (p->err)
		return p->err;
	while (len) {
		size_t n = len < MP_SLICE ? len : MP_SLICE;
		int err;

		if (p->state == MP_EPILOGUE)
			return 0;
		err = buf_add(&p->work, d, n);
		if (!err)
			err = run(p);
		if (err) {
			p->err = err == -E2BIG ? -EPROTO : err;
			return p->err;
		}
		d += n;
		len -= n;
	}
	return 0;
}

int mp_parser_finish(struct mp_parser *p)
{
	if (p->err)
		return p->err;
	if (!p->closed)
		p->err = -EPROTO;
	return p->err;
}
