/* A whole Part-10 object to its de-identified bytes: the data set is parsed into a tree of
 * elements that point into the input (every length checked against its container before it is
 * used), each element's fate is decided (deid/values.c), and a new object is written: zeroed
 * preamble, a new group 0002 (core/part10.c's writer), the cleaned data set in the input's
 * transfer syntax, with the de-identification attributes of PS3.15 E.1.1 added. The tree
 * holds pointers only; nothing is written until the whole input parsed, so a damaged object
 * never gives a half-cleaned file. */
#include "deid/internal.h"
#include "core/part10.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define UNDEFINED      0xFFFFFFFFu
#define MAX_DEPTH      32
#define TAG_ITEM       0xFFFEE000u
#define TAG_ITEM_END   0xFFFEE00Du
#define TAG_SEQ_END    0xFFFEE0DDu
#define TAG_PIXEL_DATA 0x7FE00010u
/* A deflated data set inflates to at most this: the cache's own ceiling for an instance. */
#define INFLATE_MAX (2u << 30)

struct item;

struct el {
	uint32_t tag;
	char vr[3];		  /* as written, or from the dictionary; "" unknown */
	const unsigned char *val; /* the value, or the raw fragments of encapsulated data */
	uint32_t len;
	bool sq, encaps;
	bool drop; /* a value that cannot be read, hence not cleaned: never written */
	struct item *items;
	size_t n_items, items_cap;
};

struct item {
	struct el *els;
	size_t n, cap;
};

struct parse {
	const unsigned char *p;
	bool explicit_vr, big;
	size_t count; /* elements and items so far */
	const char *why;
};

/* The most elements and items a data set may hold: an enhanced multi-frame image with its
 * per-frame functional groups has some hundred thousand; the cap keeps the tree (about 60
 * bytes each) under half a GiB whatever a hostile file of tiny elements says. */
#define MAX_ELEMENTS (8u << 20)

static uint16_t rd16(const struct parse *c, size_t off)
{
	const unsigned char *q = c->p + off;

	return c->big ? (uint16_t)(q[0] << 8 | q[1]) : (uint16_t)(q[0] | q[1] << 8);
}

static uint32_t rd32(const struct parse *c, size_t off)
{
	const unsigned char *q = c->p + off;

	return c->big ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
		      : (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
				(uint32_t)q[3] << 24;
}

static void item_release(struct item *it);

static void el_release(struct el *e)
{
	for (size_t i = 0; i < e->n_items; i++)
		item_release(&e->items[i]);
	free(e->items);
}

static void item_release(struct item *it)
{
	for (size_t i = 0; i < it->n; i++)
		el_release(&it->els[i]);
	free(it->els);
}

static struct el *item_add(struct item *it)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		struct el *v = realloc(it->els, cap * sizeof(*v));

		if (!v)
			return NULL;
		it->els = v;
		it->cap = cap;
	}
	memset(&it->els[it->n], 0, sizeof(struct el));
	return &it->els[it->n++];
}

static int parse_elements(struct parse *c, size_t *off, size_t end, bool until_item_end,
			  struct item *into, int depth);

static int fail(struct parse *c, const char *why)
{
	c->why = why;
	return -EIO;
}

/* The items of a sequence from *off: up to @end for a defined length, else up to the
 * sequence delimiter (which must come before @end). */
static int parse_items(struct parse *c, size_t *off, size_t end, bool undefined, struct el *e,
		       int depth)
{
	while (undefined || *off < end) {
		uint32_t tag, ilen;
		struct item *v;
		int err;

		if (end - *off < 8)
			return fail(c, "an item header is cut");
		tag = (uint32_t)rd16(c, *off) << 16 | rd16(c, *off + 2);
		ilen = rd32(c, *off + 4);
		*off += 8;
		if (tag == TAG_SEQ_END) {
			if (!undefined)
				return fail(c,
					    "a sequence delimiter in a sequence of defined length");
			return 0;
		}
		if (tag != TAG_ITEM)
			return fail(c, "a sequence holds something that is not an item");
		if (++c->count > MAX_ELEMENTS)
			return fail(c, "too many items");
		if (e->n_items == e->items_cap) {
			size_t cap = e->items_cap ? e->items_cap * 2 : 4;

			v = realloc(e->items, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			e->items = v;
			e->items_cap = cap;
		}
		memset(&e->items[e->n_items], 0, sizeof(struct item));
		e->n_items++;
		if (ilen == UNDEFINED) {
			err = parse_elements(c, off, end, true, &e->items[e->n_items - 1],
					     depth + 1);
		} else {
			size_t item_end;

			if (ilen > end - *off)
				return fail(c, "an item runs past its sequence");
			item_end = *off + ilen;
			err = parse_elements(c, off, item_end, false, &e->items[e->n_items - 1],
					     depth + 1);
		}
		if (err < 0)
			return err;
	}
	return 0;
}

/* Encapsulated pixel data (PS3.5 A.4): fragments up to the sequence delimiter, kept raw. */
static int parse_fragments(struct parse *c, size_t *off, size_t end, struct el *e)
{
	size_t start = *off;

	for (;;) {
		uint32_t tag, flen;

		if (end - *off < 8)
			return fail(c, "a pixel data fragment header is cut");
		tag = (uint32_t)rd16(c, *off) << 16 | rd16(c, *off + 2);
		flen = rd32(c, *off + 4);
		*off += 8;
		if (tag == TAG_SEQ_END)
			break;
		if (tag != TAG_ITEM || flen == UNDEFINED || flen > end - *off)
			return fail(c, "a pixel data fragment is damaged");
		*off += flen;
	}
	if (*off - start > UINT32_MAX)
		return fail(c, "encapsulated pixel data too large");
	e->val = c->p + start;
	e->len = (uint32_t)(*off - start);
	e->encaps = true;
	return 0;
}

static bool looks_like_items(const struct parse *c, size_t off, uint32_t len)
{
	/* An undeclared sequence (implicit VR, a tag no dictionary here knows): its value
	 * starts with an item tag, which no text or number of a standard attribute does. */
	return len >= 8 && c->p[off] == 0xFE && c->p[off + 1] == 0xFF && c->p[off + 2] == 0x00 &&
	       c->p[off + 3] == 0xE0;
}

static int parse_elements(struct parse *c, size_t *off, size_t end, bool until_item_end,
			  struct item *into, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(c, "sequences nested too deep");
	while (until_item_end || *off < end) {
		uint32_t tag, len;
		char vr[3] = "";
		struct el *e;
		int err;

		if (end - *off < 8)
			return fail(c, until_item_end ? "an item has no end"
						      : "an element header is cut");
		tag = (uint32_t)rd16(c, *off) << 16 | rd16(c, *off + 2);
		if (until_item_end && tag == TAG_ITEM_END) {
			*off += 8;
			return 0;
		}
		if (tag >> 16 == 0xFFFE)
			return fail(c, "a delimiter where an element should be");
		if (c->explicit_vr) {
			vr[0] = (char)c->p[*off + 4];
			vr[1] = (char)c->p[*off + 5];
			if (vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z')
				return fail(c, "an element has no valid VR");
			if (part10_vr_has_long_length(c->p + *off + 4)) {
				if (end - *off < 12)
					return fail(c, "an element header is cut");
				len = rd32(c, *off + 8);
				*off += 12;
			} else {
				len = rd16(c, *off + 6);
				*off += 8;
			}
		} else {
			len = rd32(c, *off + 4);
			*off += 8;
			if (deid_dict_is_sq(tag))
				strcpy(vr, "SQ");
			else if (deid_dict_is_ui(tag))
				strcpy(vr, "UI");
		}
		if (++c->count > MAX_ELEMENTS)
			return fail(c, "too many elements");
		e = item_add(into);
		if (!e)
			return -ENOMEM;
		e->tag = tag;
		memcpy(e->vr, vr, 3);
		if (len == UNDEFINED) {
			bool was_explicit = c->explicit_vr;

			if (tag == TAG_PIXEL_DATA) {
				err = parse_fragments(c, off, end, e);
				if (err < 0)
					return err;
				continue;
			}
			if (c->explicit_vr && strcmp(vr, "SQ") != 0 && strcmp(vr, "UN") != 0)
				return fail(c, "an undefined length on a VR that cannot have one");
			/* UN of undefined length: a sequence in implicit VR (PS3.5 §6.2.2). */
			if (strcmp(vr, "UN") == 0) {
				if (c->big)
					return fail(c, "an undefined-length UN in big endian");
				c->explicit_vr = false;
			}
			e->sq = true;
			strcpy(e->vr, "SQ");
			err = parse_items(c, off, end, true, e, depth);
			c->explicit_vr = was_explicit;
			if (err < 0)
				return err;
			continue;
		}
		if (len > end - *off)
			return fail(c, "an element runs past its end");
		if (strcmp(vr, "SQ") == 0 ||
		    ((!c->explicit_vr || strcmp(vr, "UN") == 0) &&
		     (deid_dict_is_sq(tag) || ((tag >> 16 & 1) == 0 && !deid_dict_is_ui(tag) &&
					       looks_like_items(c, *off, len))))) {
			bool was_explicit = c->explicit_vr, un = strcmp(vr, "UN") == 0;
			bool guessed = !un && strcmp(vr, "SQ") != 0 && !deid_dict_is_sq(tag);
			size_t seq_end = *off + len, start = *off;
			const char *why = c->why;

			if (un && c->big) {
				e->drop = true; /* implicit VR inside big endian: cannot be read */
				*off += len;
				continue;
			}
			if (un)
				c->explicit_vr = false;
			e->sq = true;
			strcpy(e->vr, "SQ");
			err = parse_items(c, off, seq_end, false, e, depth);
			c->explicit_vr = was_explicit;
			if (err == 0 && *off != seq_end)
				err = fail(c, "a sequence's items do not fill it");
			if (err == -EIO && (un || guessed)) {
				/* Not a sequence after all: a UN value the dictionary calls a sequence
				 * is dropped (it cannot be cleaned); a value that only looked like one
				 * is an ordinary value. */
				el_release(e);
				e->items = NULL;
				e->n_items = e->items_cap = 0;
				e->sq = false;
				strcpy(e->vr, vr);
				e->drop = un;
				c->why = why;
				*off = start;
			} else if (err < 0) {
				return err;
			} else {
				continue;
			}
		}
		e->val = c->p + *off;
		e->len = len;
		*off += len;
	}
	return 0;
}

/* The output: elements written in the input's VR mode and byte order. */
struct writer {
	struct buf *out;
	bool explicit_vr, big;
	int err;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (!w->err)
		w->err = buf_add(w->out, p, n);
}

static void put16(struct writer *w, uint16_t v)
{
	unsigned char b[2];

	if (w->big) {
		b[0] = (unsigned char)(v >> 8);
		b[1] = (unsigned char)v;
	} else {
		b[0] = (unsigned char)v;
		b[1] = (unsigned char)(v >> 8);
	}
	put(w, b, 2);
}

static void put32(struct writer *w, uint32_t v)
{
	if (w->big) {
		put16(w, (uint16_t)(v >> 16));
		put16(w, (uint16_t)v);
	} else {
		put16(w, (uint16_t)v);
		put16(w, (uint16_t)(v >> 16));
	}
}

static void put_tag(struct writer *w, uint32_t tag)
{
	put16(w, (uint16_t)(tag >> 16));
	put16(w, (uint16_t)tag);
}

/* An element header. A VR unknown in explicit mode (an implicit element inside a UN sequence
 * that the dictionary here does not know) is written UN. */
static void put_header(struct writer *w, uint32_t tag, const char *vr, uint32_t len)
{
	put_tag(w, tag);
	if (!w->explicit_vr) {
		put32(w, len);
		return;
	}
	if (!vr[0])
		vr = "UN";
	put(w, vr, 2);
	if (part10_vr_has_long_length((const unsigned char *)vr)) {
		put16(w, 0);
		put32(w, len);
	} else if (len > 0xFFFF) {
		w->err = -EIO; /* a short-length VR cannot carry it: never made by deid */
	} else {
		put16(w, (uint16_t)len);
	}
}

/* A text value, padded to even length (NUL for UI, space otherwise). */
static void put_text(struct writer *w, uint32_t tag, const char *vr, const char *s, size_t n)
{
	bool pad = n % 2;

	if (n > UINT32_MAX - 1) {
		w->err = -E2BIG;
		return;
	}
	put_header(w, tag, vr, (uint32_t)(n + pad));
	put(w, s, n);
	if (pad)
		put(w, strcmp(vr, "UI") == 0 ? "\0" : " ", 1);
}

static void put_seq_start(struct writer *w, uint32_t tag)
{
	put_header(w, tag, "SQ", UNDEFINED);
}

static void put_seq_end(struct writer *w)
{
	put_tag(w, TAG_SEQ_END);
	put32(w, 0);
}

static void put_item_start(struct writer *w)
{
	put_tag(w, TAG_ITEM);
	put32(w, UNDEFINED);
}

static void put_item_end(struct writer *w)
{
	put_tag(w, TAG_ITEM_END);
	put32(w, 0);
}

/* What the whole walk needs besides the writer. */
struct job {
	const struct deid *d;
	long offset;
	struct buf nv;
	char sop_class[UID_MAX], sop_uid[DEID_UID_MAX];
};

static void write_items(struct job *j, struct writer *w, const struct item *it, int top);

static void write_el(struct job *j, struct writer *w, const struct el *e)
{
	enum deid_fate fate;
	int err;

	if (e->drop)
		return;
	err = deid_fate(j->d, j->offset, e->tag, e->vr, e->sq, (const char *)e->val,
			e->sq || e->encaps ? 0 : e->len, &j->nv, &fate);
	if (err < 0) {
		w->err = err;
		return;
	}
	switch (fate) {
	case DEID_FATE_DROP:
		return;
	case DEID_FATE_EMPTY:
		if (e->sq) {
			put_seq_start(w, e->tag);
			put_seq_end(w);
		} else {
			put_header(w, e->tag, e->vr, 0);
		}
		return;
	case DEID_FATE_REPLACE: {
		/* A replaced value is text of the attribute's own VR: an element that came as UN
		 * (or implicit, unknown) goes out with the table's VR when it has one. */
		const struct deid_rule *r = deid_rule_find(e->tag);
		const char *vr = e->vr;

		if ((!vr[0] || strcmp(vr, "UN") == 0) && r)
			vr = r->vr;
		put_text(w, e->tag, vr[0] ? vr : "UN", j->nv.data ? j->nv.data : "", j->nv.len);
		return;
	}
	case DEID_FATE_ITEMS:
	case DEID_FATE_KEEP:
		if (e->sq) {
			put_seq_start(w, e->tag);
			for (size_t i = 0; i < e->n_items; i++) {
				put_item_start(w);
				write_items(j, w, &e->items[i], 0);
				put_item_end(w);
			}
			put_seq_end(w);
		} else if (e->encaps) {
			put_header(w, e->tag, e->vr, UNDEFINED);
			put(w, e->val, e->len);
		} else {
			put_header(w, e->tag, e->vr, e->len);
			put(w, e->val, e->len);
		}
		return;
	}
}

/* The attributes E.1.1 says a de-identified instance carries, written in tag order. */
static const char method[] = DEID_METHOD;

static void write_code(struct writer *w, const char *value, const char *meaning)
{
	put_item_start(w);
	put_text(w, 0x00080100u, "SH", value, strlen(value));
	put_text(w, 0x00080102u, "SH", "DCM", 3);
	put_text(w, 0x00080104u, "LO", meaning, strlen(meaning));
	put_item_end(w);
}

static void write_added(struct job *j, struct writer *w, uint32_t tag)
{
	const struct deid_options *o = &j->d->opts;
	struct deid_code codes[DEID_CODES_MAX];
	const char *ltim;

	switch (tag) {
	case 0x00120062u: /* PatientIdentityRemoved */
		put_text(w, tag, "CS", "YES", 3);
		break;
	case 0x00120063u: /* DeidentificationMethod */
		put_text(w, tag, "LO", method, strlen(method));
		break;
	case 0x00120064u: /* DeidentificationMethodCodeSequence: CID 7050 */
		put_seq_start(w, tag);
		for (size_t i = 0; i < deid_method_codes(j->d, codes); i++)
			write_code(w, codes[i].value, codes[i].meaning);
		put_seq_end(w);
		break;
	case 0x00280303u: /* LongitudinalTemporalInformationModified (PS3.15 E.2) */
		ltim = o->retain_dates ? "MODIFIED" : "REMOVED";
		put_text(w, tag, "CS", ltim, strlen(ltim));
		break;
	}
}

static const uint32_t added_tags[] = {0x00120062u, 0x00120063u, 0x00120064u, 0x00280303u};
#define N_ADDED (sizeof(added_tags) / sizeof(added_tags[0]))

static void write_items(struct job *j, struct writer *w, const struct item *it, int top)
{
	size_t a = 0;

	for (size_t i = 0; i < it->n && !w->err; i++) {
		const struct el *e = &it->els[i];

		if (top) {
			/* Command and meta groups have no place in a data set; group 0002 is
			 * written anew in front of it. */
			if (e->tag >> 16 == 0x0000 || e->tag >> 16 == 0x0002)
				continue;
			while (a < N_ADDED && added_tags[a] <= e->tag)
				write_added(j, w, added_tags[a++]);
			if (a > 0 && added_tags[a - 1] == e->tag)
				continue; /* replaced by ours */
		}
		write_el(j, w, e);
	}
	while (top && a < N_ADDED && !w->err)
		write_added(j, w, added_tags[a++]);
}

/* A top-level text value, its padding dropped, into @out (@n bytes); "" if absent. */
static void top_text(const struct item *ds, uint32_t tag, char *out, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < ds->n; i++) {
		const struct el *e = &ds->els[i];
		size_t l;

		if (e->tag != tag || e->sq || e->encaps)
			continue;
		l = e->len < n - 1 ? e->len : n - 1;
		memcpy(out, e->val, l);
		while (l && (out[l - 1] == ' ' || out[l - 1] == '\0'))
			l--;
		out[l] = '\0';
		return;
	}
}

/* Inflate a deflated data set (PS3.5 §10: raw deflate; a zlib wrapper from a few old
 * writers too) into a malloc'd buffer. */
static int inflate_all(const unsigned char *p, size_t len, unsigned char **out, size_t *out_len)
{
	static const int modes[] = {-15, 15};

	for (size_t m = 0; m < 2; m++) {
		z_stream z;
		size_t cap = len * 4 + 4096, got = 0;
		unsigned char *b = NULL;
		int r;

		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, modes[m]) != Z_OK)
			return -ENOMEM;
		z.next_in = (unsigned char *)p;
		z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
		do {
			unsigned char *nb;

			if (got == cap) {
				if (cap >= INFLATE_MAX)
					break;
				cap = cap * 2 > INFLATE_MAX ? INFLATE_MAX : cap * 2;
			}
			nb = realloc(b, cap);
			if (!nb) {
				free(b);
				inflateEnd(&z);
				return -ENOMEM;
			}
			b = nb;
			z.next_out = b + got;
			z.avail_out = (uInt)(cap - got > UINT32_MAX ? UINT32_MAX : cap - got);
			r = inflate(&z, Z_NO_FLUSH);
			got = (size_t)(z.next_out - b);
		} while (r == Z_OK);
		inflateEnd(&z);
		if (r == Z_STREAM_END) {
			*out = b;
			*out_len = got;
			return 0;
		}
		free(b);
	}
	return -EIO;
}

/* What deid_instance_uids() walks with. */
struct uid_walk {
	const struct deid *d;
	long offset;
	struct buf nv;
	int (*fn)(void *ctx, const char *old_uid, const char *new_uid);
	void *ctx;
	int err;
};

/* Each UID of the UI value @v (@len bytes, padded) that the view replaces, to w->fn. */
static void walk_uid_value(struct uid_walk *w, const char *v, size_t len)
{
	for (size_t i = 0; i <= len && !w->err;) {
		size_t j = i, k;
		char src[DEID_UID_MAX], uid[DEID_UID_MAX];

		while (j < len && v[j] != '\\')
			j++;
		k = j;
		while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\0'))
			k--;
		if (k > i && k - i < sizeof(src)) {
			memcpy(src, v + i, k - i);
			src[k - i] = '\0';
			if (deid_uid(w->d, src, uid, sizeof(uid)) == 0 && strcmp(src, uid) != 0)
				w->err = w->fn(w->ctx, src, uid);
		}
		i = j + 1;
	}
}

/* The elements of @it as write_items() would write them, their replaced UIDs to w->fn. */
static void walk_uids(struct uid_walk *w, const struct item *it, int top)
{
	for (size_t i = 0; i < it->n && !w->err; i++) {
		const struct el *e = &it->els[i];
		enum deid_fate fate;
		int err;

		if (e->drop || (top && (e->tag >> 16 == 0x0000 || e->tag >> 16 == 0x0002)))
			continue;
		err = deid_fate(w->d, w->offset, e->tag, e->vr, e->sq, (const char *)e->val,
				e->sq || e->encaps ? 0 : e->len, &w->nv, &fate);
		if (err < 0) {
			w->err = err;
			return;
		}
		if (e->sq && (fate == DEID_FATE_ITEMS || fate == DEID_FATE_KEEP)) {
			for (size_t k = 0; k < e->n_items && !w->err; k++)
				walk_uids(w, &e->items[k], 0);
		} else if (!e->sq && !e->encaps && fate == DEID_FATE_REPLACE &&
			   (strcmp(e->vr, "UI") == 0 ||
			    ((!e->vr[0] || strcmp(e->vr, "UN") == 0) && deid_dict_is_ui(e->tag)))) {
			walk_uid_value(w, (const char *)e->val, e->len);
		}
	}
}

static int parse_object(const void *in, size_t len, struct parse *c, struct item *ds,
			struct part10_info *info, unsigned char **plain, const char **syntax,
			const char **reason);

int deid_instance_uids(const struct deid *d, const void *in, size_t len,
		       int (*fn)(void *ctx, const char *old_uid, const char *new_uid), void *ctx,
		       const char **why)
{
	struct uid_walk w = {.d = d, .fn = fn, .ctx = ctx};
	struct part10_info info;
	struct parse c = {0};
	struct item ds = {0};
	unsigned char *plain = NULL;
	const char *syntax, *reason = NULL;
	char pid[DEID_MSG_MAX], sop_class[UID_MAX], burned[8];
	int err = parse_object(in, len, &c, &ds, &info, &plain, &syntax, &reason);

	if (err < 0)
		goto out;
	top_text(&ds, 0x00080016u, sop_class, sizeof(sop_class));
	if (!sop_class[0])
		memcpy(sop_class, info.sop_class, sizeof(sop_class));
	top_text(&ds, 0x00280301u, burned, sizeof(burned));
	if (strcmp(burned, "YES") == 0 || deid_class_withheld(sop_class, &reason)) {
		if (!reason)
			reason = "BurnedInAnnotation is YES";
		err = DEID_WITHHELD;
		goto out;
	}
	top_text(&ds, 0x00100020u, pid, sizeof(pid));
	w.offset = deid_date_offset(d, pid);
	buf_init(&w.nv, (size_t)1 << 30);
	walk_uids(&w, &ds, 1);
	buf_release(&w.nv);
	err = w.err;
out:
	item_release(&ds);
	free(plain);
	if (why)
		*why = reason;
	return err;
}

/* Parse the object @in (@len bytes) into @ds, as deid_instance() does: @plain (caller frees)
 * holds an inflated data set, @syntax the one it is in. @return 0 or -EIO / -ENOMEM with
 * @reason. */
static int parse_object(const void *in, size_t len, struct parse *c, struct item *ds,
			struct part10_info *info, unsigned char **plain, const char **syntax,
			const char **reason)
{
	const unsigned char *p = in;
	size_t off, end;
	int err;

	err = part10_inspect(p, len < PART10_HEAD_MAX ? len : PART10_HEAD_MAX, info);
	if (err < 0) {
		*reason = "not a DICOM object";
		return -EIO;
	}
	*syntax = info->syntax;
	c->p = p;
	off = info->ds_offset;
	end = len;
	if (strcmp(*syntax, PART10_TS_DEFLATED_LE) == 0) {
		size_t plain_len;

		err = inflate_all(p + off, len - off, plain, &plain_len);
		if (err < 0) {
			*reason = "the deflated data set does not inflate";
			return err;
		}
		c->p = *plain;
		off = 0;
		end = plain_len;
		*syntax = PART10_TS_EXPLICIT_LE;
	}
	c->explicit_vr = strcmp(*syntax, PART10_TS_IMPLICIT_LE) != 0;
	c->big = strcmp(*syntax, PART10_TS_EXPLICIT_BE) == 0;
	err = parse_elements(c, &off, end, false, ds, 0);
	if (err == -EIO && c->explicit_vr && !c->big) {
		const char *first_why = c->why;

		item_release(ds);
		memset(ds, 0, sizeof(*ds));
		c->count = 0;
		off = c->p == p ? info->ds_offset : 0;
		c->explicit_vr = false;
		err = parse_elements(c, &off, end, false, ds, 0);
		if (err == -EIO)
			c->why = first_why;
	}
	if (err < 0)
		*reason = err == -EIO ? c->why : "out of memory";
	return err;
}

int deid_instance(const struct deid *d, const void *in, size_t len, struct buf *out,
		  const char **why)
{
	struct part10_info info;
	struct parse c = {0};
	struct item ds = {0};
	struct job j = {.d = d};
	struct writer w = {.out = out};
	unsigned char *plain = NULL, meta[PART10_META_MAX];
	size_t start_len = out->len;
	char pid[DEID_MSG_MAX], burned[8];
	const char *syntax, *reason = NULL;
	ssize_t mlen;
	int err;

	err = parse_object(in, len, &c, &ds, &info, &plain, &syntax, &reason);
	if (err < 0)
		goto out_free;
	/* What the content says before anything is written: withheld classes and burned-in
	 * annotation (PS3.15 E.1.1: the profile cannot clean pixels). */
	top_text(&ds, 0x00080016u, j.sop_class, sizeof(j.sop_class));
	if (!j.sop_class[0])
		memcpy(j.sop_class, info.sop_class, sizeof(j.sop_class));
	top_text(&ds, 0x00280301u, burned, sizeof(burned));
	if (strcmp(burned, "YES") == 0) {
		reason = "BurnedInAnnotation is YES";
		err = DEID_WITHHELD;
		goto out_free;
	}
	if (deid_class_withheld(j.sop_class, &reason)) {
		err = DEID_WITHHELD;
		goto out_free;
	}
	top_text(&ds, 0x00100020u, pid, sizeof(pid));
	j.offset = deid_date_offset(d, pid);
	err = deid_uid(d, info.sop_uid, j.sop_uid, sizeof(j.sop_uid));
	if (err < 0) {
		reason = "the SOPInstanceUID is not a UID";
		err = -EIO;
		goto out_free;
	}
	mlen = part10_meta_write(meta, sizeof(meta), j.sop_class, j.sop_uid, syntax, NULL);
	if (mlen < 0) {
		reason = "the SOP class or transfer syntax is not a writable UID";
		err = -EIO;
		goto out_free;
	}
	w.explicit_vr = c.explicit_vr;
	w.big = c.big;
	buf_init(&j.nv, (size_t)1 << 30);
	put(&w, meta, (size_t)mlen);
	write_items(&j, &w, &ds, 1);
	buf_release(&j.nv);
	err = w.err;
	if (err < 0)
		reason = err == -E2BIG ? "the result is larger than allowed" : "out of memory";
out_free:
	item_release(&ds);
	free(plain);
	if (err != 0) {
		/* Never a half-written object: the caller's buffer is as it was. */
		out->len = start_len;
		if (out->data)
			out->data[start_len] = '\0';
	}
	if (why)
		*why = reason;
	return err;
}
