/* The check of DICOM JSON replies as curl hands them over: WADO-RS metadata
 * (protocols/wado_rs.c), and QIDO-RS answers, whose data sets protocols/dicom_json.c's reader
 * parses one at a time where this check says each ends; and the one JSON scanner of the cache,
 * which cuts a series' metadata out of its study's where this check says each data set ends
 * (cache/metadata.c). In core/ because both layers use it. A state machine with a bounded stack (one bit per level): a 256 MiB reply
 * costs a few dozen bytes to check instead of a cJSON tree of ~10 bytes per byte (2.5 GB at the
 * cap; measured in bench/json_memory.c).
 *
 * How deep it goes: all of RFC 8259 (grammar, numbers, escapes with their surrogate pairs, UTF-8
 * by Unicode's Table 3-7, no raw control bytes, nesting up to JSON_CHECK_DEPTH_MAX), and the
 * DICOM JSON shape at the levels trolley and every reader rely on: a top-level array of data
 * sets, each an object whose keys are tags (8 hex digits, PS3.18 §F.2.1.1) and whose values are
 * attribute objects with a two-letter "vr" string and, if present, an array as "Value". The
 * items inside sequences are only checked to be JSON: in an attribute's Value array a data set
 * (SQ) and a person name (PN, {"Alphabetic": ...}) are both objects, and which one it is can be
 * told only from "vr", which JSON lets come after "Value". Value types per VR are not checked
 * either: readers cope with an archive's small deviations there, and refusing them would lose
 * a whole series' metadata for one odd value. */
#include "core/json_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	ST_BOM,	    /* at the start: an optional UTF-8 byte order mark (sub: bytes of it seen) */
	ST_VALUE,   /* a value is due (sub 1: or the ']' of an empty array) */
	ST_KEY,	    /* a member name is due (sub 1: or the '}' of an empty object) */
	ST_COLON,   /* the ':' after a member name */
	ST_AFTER,   /* a value ended: ',' or the close of its container */
	ST_DONE,    /* the top-level value ended: only whitespace may follow */
	ST_STRING,  /* inside a string */
	ST_ESCAPE,  /* after a backslash */
	ST_HEX,	    /* inside \uXXXX (sub: digits read) */
	ST_PAIR_BS, /* a high surrogate was read: its pair's '\' is due */
	ST_PAIR_U,  /* ... and its 'u' */
	ST_UTF8,    /* inside a multi-byte UTF-8 sequence */
	ST_NUMBER,  /* inside a number (sub: the N_* phase) */
	ST_LITERAL, /* inside true, false or null */
};

enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

/* attr_flags */
#define F_VR_SEEN 1u /* the attribute object being read has its "vr" */
#define F_IN_KEY  2u /* the string being read is a member name */
#define F_COLLECT 4u /* ... whose content matters: its first bytes go to scratch */

/* member: what the name just read at the attribute level (depth 3) announces. */
enum { M_OTHER, M_VR, M_VALUE };

/* The levels whose shape is checked (depth counted inside the container). */
#define LEVEL_TOP     1 /* inside the top-level array */
#define LEVEL_DATASET 2 /* inside a data set: keys are tags */
#define LEVEL_ATTR    3 /* inside an attribute: "vr", "Value", ... */

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

void json_check_init(struct json_check *c, unsigned flags)
{
	memset(c, 0, sizeof(*c));
	c->flags = flags;
	c->state = ST_BOM;
}

static int fail(struct json_check *c, enum json_check_error e)
{
	c->error = e;
	return -EIO;
}

static bool is_ws(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool top_is_object(const struct json_check *c)
{
	unsigned d = c->depth - 1u;

	return c->stack[d / 8] & (1u << (d % 8));
}

/* A character of a string whose content matters; non-ASCII ones as a byte no name has. */
static void collect(struct json_check *c, uint32_t cp)
{
	if (!(c->attr_flags & F_COLLECT))
		return;
	if (c->scratch_len < sizeof(c->scratch) - 1)
		c->scratch[c->scratch_len] = cp < 0x80 ? (char)cp : (char)0x80;
	if (c->scratch_len < sizeof(c->scratch) - 1)
		c->scratch_len++;
}

static void value_done(struct json_check *c)
{
	c->state = c->depth == 0 ? ST_DONE : ST_AFTER;
}

/* A value begins with @b: its shape is checked against the level it is at. */
static int begin_value(struct json_check *c, unsigned char b)
{
	if (b == 0 || !strchr("[{\"-0123456789tfn", b))
		return fail(c, b < 0x20 ? JSON_CHECK_CONTROL : JSON_CHECK_SYNTAX);
	if (c->depth == 0 && b != '[')
		return fail(c, JSON_CHECK_NOT_ARRAY);
	if (c->depth == LEVEL_TOP && b != '{')
		return fail(c, JSON_CHECK_NOT_DATASET);
	if (c->depth == LEVEL_DATASET && b != '{')
		return fail(c, JSON_CHECK_BAD_ATTR);
	if (c->depth == LEVEL_ATTR &&
	    ((c->member == M_VR && b != '"') || (c->member == M_VALUE && b != '[')))
		return fail(c, JSON_CHECK_BAD_ATTR);
	switch (b) {
	case '[':
	case '{':
		if (c->depth >= JSON_CHECK_DEPTH_MAX)
			return fail(c, JSON_CHECK_DEPTH);
		if (b == '{')
			c->stack[c->depth / 8] |= (uint8_t)(1u << (c->depth % 8));
		else
			c->stack[c->depth / 8] &= (uint8_t) ~(1u << (c->depth % 8));
		c->depth++;
		if (c->depth == LEVEL_ATTR)
			c->attr_flags &= ~F_VR_SEEN;
		c->state = b == '{' ? ST_KEY : ST_VALUE;
		c->sub = 1;
		return 0;
	case '"':
		c->attr_flags &= ~(F_IN_KEY | F_COLLECT);
		if (c->depth == LEVEL_ATTR && c->member == M_VR)
			c->attr_flags |= F_COLLECT;
		c->scratch_len = 0;
		c->state = ST_STRING;
		return 0;
	case '-':
		c->state = ST_NUMBER;
		c->sub = N_MINUS;
		return 0;
	case 't':
	case 'f':
	case 'n':
		c->literal = b == 't' ? "true" : b == 'f' ? "false" : "null";
		c->lit_len = 1;
		c->state = ST_LITERAL;
		return 0;
	default:
		if (b >= '0' && b <= '9') {
			c->state = ST_NUMBER;
			c->sub = b == '0' ? N_ZERO : N_INT;
			return 0;
		}
		return fail(c, JSON_CHECK_SYNTAX);
	}
}

/* The close @b of the innermost container. */
static int close_container(struct json_check *c, unsigned char b, bool *element_end)
{
	bool object;

	if (c->depth == 0)
		return fail(c, JSON_CHECK_SYNTAX);
	object = top_is_object(c);
	if ((b == '}') != object)
		return fail(c, JSON_CHECK_SYNTAX);
	if (object && c->depth == LEVEL_ATTR && !(c->attr_flags & F_VR_SEEN))
		return fail(c, JSON_CHECK_BAD_ATTR);
	if (object && c->depth == LEVEL_DATASET)
		*element_end = true;
	c->depth--;
	value_done(c);
	return 0;
}

/* A string ended: check the content of those that matter. */
static int end_string(struct json_check *c)
{
	const char *s = c->scratch;
	unsigned n = c->scratch_len;

	if (c->attr_flags & F_IN_KEY) {
		c->state = ST_COLON;
		if (c->depth == LEVEL_DATASET) {
			if (n != 8)
				return fail(c, JSON_CHECK_BAD_TAG);
			for (unsigned i = 0; i < 8; i++)
				if (!is_hex(s[i]))
					return fail(c, JSON_CHECK_BAD_TAG);
		} else if (c->depth == LEVEL_ATTR) {
			c->member = n == 2 && memcmp(s, "vr", 2) == 0	   ? M_VR
				    : n == 5 && memcmp(s, "Value", 5) == 0 ? M_VALUE
									   : M_OTHER;
		}
		return 0;
	}
	if (c->attr_flags & F_COLLECT) {
		/* PS3.5 §6.2: every VR is two upper-case letters. */
		if (n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
			return fail(c, JSON_CHECK_BAD_ATTR);
		c->attr_flags |= F_VR_SEEN;
	}
	value_done(c);
	return 0;
}

/* A byte inside a string, outside escapes and multi-byte sequences (Unicode Table 3-7). */
static int string_byte(struct json_check *c, unsigned char b)
{
	if (b == '"')
		return end_string(c);
	if (b == '\\') {
		c->state = ST_ESCAPE;
		return 0;
	}
	if (c->flags & JSON_CHECK_ANY_STRING_BYTES) {
		collect(c, b);
		return 0;
	}
	if (b < 0x20)
		return fail(c, JSON_CHECK_CONTROL);
	if (b < 0x80) {
		collect(c, b);
		return 0;
	}
	c->lo = 0x80;
	c->hi = 0xBF;
	if (b >= 0xC2 && b <= 0xDF)
		c->need = 1;
	else if (b >= 0xE0 && b <= 0xEF)
		c->need = 2;
	else if (b >= 0xF0 && b <= 0xF4)
		c->need = 3;
	else
		return fail(c, JSON_CHECK_UTF8);
	if (b == 0xE0)
		c->lo = 0xA0; /* overlong */
	else if (b == 0xED)
		c->hi = 0x9F; /* UTF-16 surrogates */
	else if (b == 0xF0)
		c->lo = 0x90; /* overlong */
	else if (b == 0xF4)
		c->hi = 0x8F; /* past U+10FFFF */
	collect(c, 0x80);
	c->state = ST_UTF8;
	return 0;
}

/* A malformed escape: refused, or with JSON_CHECK_LAX_ESCAPES taken as U+FFFD, the string
 * going on in @state (a pending high surrogate dropped). @return -EIO, or @ret. */
static int bad_escape(struct json_check *c, uint8_t state, int ret)
{
	if (!(c->flags & JSON_CHECK_LAX_ESCAPES))
		return fail(c, JSON_CHECK_ESCAPE);
	c->repairs++;
	c->code = 0;
	collect(c, 0xFFFD);
	c->state = state;
	return ret;
}

static int escape_byte(struct json_check *c, unsigned char b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p = b ? strchr(from, b) : NULL;

	if (b == 'u') {
		c->state = ST_HEX;
		c->sub = 0;
		c->code &= 0xFFFF0000u;
		return 0;
	}
	/* Lax: the backslash was U+FFFD, and @b is read again as a byte of the string. */
	if (!p)
		return bad_escape(c, ST_STRING, 1);
	collect(c, (unsigned char)to[p - from]);
	c->state = ST_STRING;
	return 0;
}

/* A hex digit of \uXXXX; after the fourth, the code unit is checked for its surrogate pair. */
static int hex_byte(struct json_check *c, unsigned char b)
{
	uint32_t high = c->code >> 16, unit;

	/* Lax: a short \u (with a high surrogate before it, if any) was U+FFFD; @b is read
	 * again as a byte of the string. */
	if (!is_hex((char)b)) {
		if (high && (c->flags & JSON_CHECK_LAX_ESCAPES))
			c->repairs++; /* the high surrogate, alone: a U+FFFD of its own */
		return bad_escape(c, ST_STRING, 1);
	}
	unit = (c->code & 0xFFFFu) * 16 + (b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10);
	c->code = high << 16 | unit;
	if (++c->sub < 4)
		return 0;
	c->state = ST_STRING;
	if (high) {
		if (unit >= 0xDC00 && unit <= 0xDFFF) {
			c->code = 0;
			collect(c, 0x10000);
			return 0;
		}
		/* Lax: the high surrogate was alone; this unit is read on its own. */
		if (bad_escape(c, ST_STRING, 0) < 0)
			return -EIO;
	}
	if (unit >= 0xD800 && unit <= 0xDBFF) {
		c->code = unit << 16;
		c->state = ST_PAIR_BS;
	} else if (unit >= 0xDC00 && unit <= 0xDFFF) {
		return bad_escape(c, ST_STRING, 0);
	} else {
		c->code = 0;
		collect(c, unit);
	}
	return 0;
}

/* A byte of a number (RFC 8259 §6). @return 1 if the number ended before @b (which is then
 * read again in the state after it), 0 if @b was part of it, -EIO. */
static int number_byte(struct json_check *c, unsigned char b)
{
	bool digit = b >= '0' && b <= '9';

	switch (c->sub) {
	case N_MINUS:
		if (!digit)
			return fail(c, JSON_CHECK_NUMBER);
		c->sub = b == '0' ? N_ZERO : N_INT;
		return 0;
	case N_ZERO:
	case N_INT:
		if (digit && c->sub == N_ZERO)
			return fail(c, JSON_CHECK_NUMBER);
		if (digit)
			return 0;
		if (b == '.') {
			c->sub = N_DOT;
			return 0;
		}
		/* fall through */
	case N_FRAC:
		if (digit)
			return 0;
		if (b == 'e' || b == 'E') {
			c->sub = N_E;
			return 0;
		}
		break;
	case N_DOT:
		if (!digit)
			return fail(c, JSON_CHECK_NUMBER);
		c->sub = N_FRAC;
		return 0;
	case N_E:
		if (b == '+' || b == '-') {
			c->sub = N_ESIGN;
			return 0;
		}
		/* fall through */
	case N_ESIGN:
		if (!digit)
			return fail(c, JSON_CHECK_NUMBER);
		c->sub = N_EXP;
		return 0;
	case N_EXP:
		if (digit)
			return 0;
		break;
	}
	/* A letter, digit or sign glued to a number ("1.5.3", "1x") is no number either. */
	if (b == '.' || b == '+' || b == '-' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
		return fail(c, JSON_CHECK_NUMBER);
	value_done(c);
	return 1;
}

/* One byte. @return 0 consumed, 1 to be read again in the new state, -EIO. */
static int check_byte(struct json_check *c, unsigned char b, bool *element_end)
{
	switch (c->state) {
	case ST_BOM:
		if (b == bom[c->sub]) {
			if (++c->sub == sizeof(bom)) {
				c->state = ST_VALUE;
				c->sub = 0;
			}
			return 0;
		}
		if (c->sub)
			return fail(c, JSON_CHECK_SYNTAX);
		c->state = ST_VALUE;
		return 1;
	case ST_VALUE:
		if (is_ws(b))
			return 0;
		if (b == ']' && c->sub)
			return close_container(c, b, element_end);
		return begin_value(c, b);
	case ST_KEY:
		if (is_ws(b))
			return 0;
		if (b == '}' && c->sub)
			return close_container(c, b, element_end);
		if (b != '"')
			return fail(c, b < 0x20 ? JSON_CHECK_CONTROL : JSON_CHECK_SYNTAX);
		c->attr_flags |= F_IN_KEY;
		c->attr_flags &= ~F_COLLECT;
		if (c->depth == LEVEL_DATASET || c->depth == LEVEL_ATTR)
			c->attr_flags |= F_COLLECT;
		c->scratch_len = 0;
		c->state = ST_STRING;
		return 0;
	case ST_COLON:
		if (is_ws(b))
			return 0;
		if (b != ':')
			return fail(c, b < 0x20 ? JSON_CHECK_CONTROL : JSON_CHECK_SYNTAX);
		c->state = ST_VALUE;
		c->sub = 0;
		return 0;
	case ST_AFTER:
		if (is_ws(b))
			return 0;
		if (b == ',') {
			c->state = top_is_object(c) ? ST_KEY : ST_VALUE;
			c->sub = 0;
			return 0;
		}
		if (b == ']' || b == '}')
			return close_container(c, b, element_end);
		return fail(c, b < 0x20 ? JSON_CHECK_CONTROL : JSON_CHECK_SYNTAX);
	case ST_DONE:
		if (is_ws(b))
			return 0;
		return fail(c, b < 0x20 ? JSON_CHECK_CONTROL : JSON_CHECK_TRAILING);
	case ST_STRING:
		return string_byte(c, b);
	case ST_ESCAPE:
		return escape_byte(c, b);
	case ST_HEX:
		return hex_byte(c, b);
	case ST_PAIR_BS:
		/* Lax: a high surrogate alone; @b is read again as a byte of the string. */
		if (b != '\\')
			return bad_escape(c, ST_STRING, 1);
		c->state = ST_PAIR_U;
		return 0;
	case ST_PAIR_U:
		/* Lax: a high surrogate alone; the backslash read begins another escape. */
		if (b != 'u')
			return bad_escape(c, ST_ESCAPE, 1);
		c->state = ST_HEX;
		c->sub = 0;
		return 0;
	case ST_UTF8:
		if (b < c->lo || b > c->hi)
			return fail(c, JSON_CHECK_UTF8);
		c->lo = 0x80;
		c->hi = 0xBF;
		if (--c->need == 0)
			c->state = ST_STRING;
		return 0;
	case ST_NUMBER:
		return number_byte(c, b);
	case ST_LITERAL:
		if (b != (unsigned char)c->literal[c->lit_len])
			return fail(c, JSON_CHECK_SYNTAX);
		if (c->literal[++c->lit_len] == '\0')
			value_done(c);
		return 0;
	}
	return fail(c, JSON_CHECK_SYNTAX);
}

size_t json_check_step(struct json_check *c, const void *data, size_t len, bool *element_end)
{
	const unsigned char *p = data;
	size_t i = 0;

	*element_end = false;
	if (c->error)
		return 0;
	while (i < len) {
		int r = check_byte(c, p[i], element_end);

		if (r < 0)
			return i;
		if (r == 0) {
			i++;
			c->offset++;
		}
		if (*element_end)
			break;
	}
	return i;
}

int json_check_feed(struct json_check *c, const void *data, size_t len)
{
	const char *p = data;
	bool element_end;

	while (len && !c->error) {
		size_t n = json_check_step(c, p, len, &element_end);

		p += n;
		len -= n;
	}
	return c->error ? -EIO : 0;
}

int json_check_finish(struct json_check *c)
{
	if (c->error)
		return -EIO;
	if (c->state != ST_DONE)
		return fail(c, JSON_CHECK_TRUNCATED);
	return 0;
}

bool json_check_is_blank(const struct json_check *c)
{
	return !c->error && c->depth == 0 &&
	       ((c->state == ST_BOM && c->sub == 0) || c->state == ST_VALUE);
}

enum json_check_error json_check_error(const struct json_check *c)
{
	return c->error;
}

size_t json_check_offset(const struct json_check *c)
{
	return c->offset;
}

size_t json_check_repairs(const struct json_check *c)
{
	return c->repairs;
}

static int hex_value(char ch)
{
	return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* The code unit of the \uXXXX at @in[@i] (the backslash), or -1 if there is none whole. */
static long unit_at(const char *in, size_t len, size_t i)
{
	long unit = 0;

	if (i + 6 > len || in[i] != '\\' || in[i + 1] != 'u')
		return -1;
	for (size_t k = i + 2; k < i + 6; k++) {
		if (!is_hex(in[k]))
			return -1;
		unit = unit * 16 + hex_value(in[k]);
	}
	return unit;
}

/* The same reading as the check's lax mode, escape by escape: what it took as U+FFFD is
 * written so, and which bytes are inside strings agrees with it. */
int json_check_repair(const char *in, size_t len, char **out, size_t *out_len)
{
	static const char fffd[] = "\\ufffd";
	/* The longest growth is "\\x" (2 bytes) into 6: three times, plus the NUL. */
	char *o = malloc(len * 3 + 1);
	bool in_string = false;
	size_t n = 0;

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		size_t k;
		long unit;

		if (!in_string || in[i] != '\\') {
			if (in[i] == '"')
				in_string = !in_string;
			o[n++] = in[i++];
			continue;
		}
		if (i + 1 < len && in[i + 1] && strchr("\"\\/bfnrt", in[i + 1])) {
			memcpy(o + n, in + i, 2);
			n += 2;
			i += 2;
			continue;
		}
		if (i + 1 >= len || in[i + 1] != 'u') {
			memcpy(o + n, fffd, 6); /* the backslash; the byte after it is read on */
			n += 6;
			i++;
			continue;
		}
		unit = unit_at(in, len, i);
		if (unit < 0) {
			for (k = i + 2; k < len && k < i + 6 && is_hex(in[k]); k++)
				;
			memcpy(o + n, fffd, 6); /* a short \u, up to its last hex digit */
			n += 6;
			i = k;
			continue;
		}
		if (unit >= 0xD800 && unit <= 0xDBFF) {
			long low = unit_at(in, len, i + 6);

			if (low >= 0xDC00 && low <= 0xDFFF) {
				memcpy(o + n, in + i, 12);
				n += 12;
				i += 12;
				continue;
			}
		}
		if (unit >= 0xD800 && unit <= 0xDFFF)
			memcpy(o + n, fffd, 6); /* a surrogate alone */
		else
			memcpy(o + n, in + i, 6);
		n += 6;
		i += 6;
	}
	o[n] = '\0';
	*out = o;
	*out_len = n;
	return 0;
}

const char *json_check_strerror(enum json_check_error e)
{
	switch (e) {
	case JSON_CHECK_OK:
		return "valid";
	case JSON_CHECK_SYNTAX:
		return "not JSON";
	case JSON_CHECK_TRAILING:
		return "bytes after the JSON value";
	case JSON_CHECK_TRUNCATED:
		return "truncated";
	case JSON_CHECK_NUMBER:
		return "malformed number";
	case JSON_CHECK_ESCAPE:
		return "malformed escape";
	case JSON_CHECK_UTF8:
		return "invalid UTF-8";
	case JSON_CHECK_CONTROL:
		return "control byte";
	case JSON_CHECK_DEPTH:
		return "nested too deep";
	case JSON_CHECK_NOT_ARRAY:
		return "not an array";
	case JSON_CHECK_NOT_DATASET:
		return "an element is not an object";
	case JSON_CHECK_BAD_TAG:
		return "a key is not a tag";
	case JSON_CHECK_BAD_ATTR:
		return "an attribute without a valid vr";
	}
	return "?";
}
