/* DICOM objects as archives keep them (PS3.10 §7.1): preamble, "DICM", group 0002 in explicit
 * VR little endian whatever the data set's syntax, then the data set. The sink (cache/sink.c)
 * asks part10_inspect() which instance an object is and whether trolley must write the meta
 * header (part10_meta_write()) in front of its data set, then part10_check_complete() whether
 * the object is whole. dcmtk/dimse_net.cc writes its DIMSE objects' header with
 * part10_meta_write() too. */
#include "core/part10.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool part10_vr_has_long_length(const unsigned char *vr)
{
	static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
					    "SV", "UC", "UN", "UR", "UT", "UV"};

	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (memcmp(vr, longs[i], 2) == 0)
			return true;
	return false;
}

/* Every VR of PS3.5 §6.2: what tells explicit VR from the length bytes of implicit VR. */
static bool vr_is_known(const unsigned char *vr)
{
	static const char vrs[] = "AEASATCSDADSDTFDFLISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUS"
				  "UTUV";

	for (size_t i = 0; i + 1 < sizeof(vrs); i += 2)
		if (vr[0] == vrs[i] && vr[1] == vrs[i + 1])
			return true;
	return false;
}

/* A UI value, its NUL (or, from some writers, space) padding dropped, if it is a UID (PS3.5
 * §9.1: digits and dots, components not empty, at most 64 characters). */
static bool uid_take(const unsigned char *v, size_t l, char *out)
{
	while (l && (v[l - 1] == '\0' || v[l - 1] == ' '))
		l--;
	if (l == 0 || l >= UID_MAX || v[0] == '.' || v[l - 1] == '.')
		return false;
	for (size_t i = 0; i < l; i++)
		if (!(v[i] == '.' ? v[i + 1] != '.' : v[i] >= '0' && v[i] <= '9'))
			return false;
	memcpy(out, v, l);
	out[l] = '\0';
	return true;
}

/* The data set walk of part10_check_complete(): lengths only, no values decoded. */
struct ds_walk {
	const unsigned char *p;
	size_t len;
	bool explicit_vr, big_endian;
	const char *why;
};

static uint16_t ds16(const struct ds_walk *w, size_t off)
{
	const unsigned char *p = w->p + off;

	return w->big_endian ? (uint16_t)(p[0] << 8 | p[1]) : le16(p);
}

static uint32_t ds32(const struct ds_walk *w, size_t off)
{
	const unsigned char *p = w->p + off;

	return w->big_endian
		       ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		       : le32(p);
}

#define DS_UNDEFINED 0xFFFFFFFFu
#define DS_MAX_DEPTH 32

static int ds_elements(struct ds_walk *w, size_t *off, size_t end, uint32_t stop, int depth);

/* Items of a sequence (or fragments of encapsulated pixel data) of @length at *off. Item tags
 * are always (FFFE,xxxx) with a 4-byte length, whatever the VR mode (PS3.5 §7.5). */
static int ds_items(struct ds_walk *w, size_t *off, size_t end, uint32_t length, int depth,
		    bool fragments)
{
	size_t stop_at = length == DS_UNDEFINED ? end : *off + length;

	if (length != DS_UNDEFINED && length > end - *off) {
		w->why = "a sequence runs past the end";
		return -EINVAL;
	}
	while (*off < stop_at) {
		uint32_t tag, ilen;

		if (stop_at - *off < 8) {
			w->why = "an item header is cut";
			return -EINVAL;
		}
		tag = (uint32_t)ds16(w, *off) << 16 | ds16(w, *off + 2);
		ilen = ds32(w, *off + 4);
		*off += 8;
		if (tag == 0xFFFEE0DDu) /* sequence delimitation */
			return length == DS_UNDEFINED ? 0 : (w->why = "a stray delimiter", -EINVAL);
		if (tag != 0xFFFEE000u) {
			w->why = "a sequence holds something that is not an item";
			return -EINVAL;
		}
		if (ilen == DS_UNDEFINED) {
			if (ds_elements(w, off, stop_at, 0xFFFEE00Du, depth + 1) < 0)
				return -EINVAL;
		} else if (ilen > stop_at - *off) {
			w->why = "an item runs past the end";
			return -EINVAL;
		} else if (fragments) {
			*off += ilen; /* compressed pixel data: bytes, not elements */
		} else {
			/* A defined-length item is walked too: it may be cut inside. */
			size_t item_end = *off + ilen;

			if (ds_elements(w, off, item_end, 0, depth + 1) < 0)
				return -EINVAL;
		}
	}
	if (length == DS_UNDEFINED) {
		w->why = "a sequence has no end";
		return -EINVAL;
	}
	return 0;
}

/* Elements from *off to @end, or up to the delimiter @stop (consumed). */
static int ds_elements(struct ds_walk *w, size_t *off, size_t end, uint32_t stop, int depth)
{
	if (depth > DS_MAX_DEPTH) {
		w->why = "sequences nested too deep";
		return -EINVAL;
	}
	while (*off < end) {
		uint32_t tag, length;
		char vr[2] = {0, 0};
		size_t hdr;

		if (end - *off < 8) {
			w->why = "an element header is cut";
			return -EINVAL;
		}
		tag = (uint32_t)ds16(w, *off) << 16 | ds16(w, *off + 2);
		if (stop && tag == stop) {
			*off += 8;
			return 0;
		}
		if ((tag >> 16) == 0xFFFE) { /* item tags have no VR */
			length = ds32(w, *off + 4);
			hdr = 8;
		} else if (w->explicit_vr) {
			memcpy(vr, w->p + *off + 4, 2);
			if (part10_vr_has_long_length(w->p + *off + 4)) {
				if (end - *off < 12) {
					w->why = "an element header is cut";
					return -EINVAL;
				}
				length = ds32(w, *off + 8);
				hdr = 12;
			} else {
				length = ds16(w, *off + 6);
				hdr = 8;
			}
		} else {
			length = ds32(w, *off + 4);
			hdr = 8;
		}
		*off += hdr;
		if (length == DS_UNDEFINED) {
			/* SQ; UN holding a sequence, which is implicit VR inside (PS3.5 §6.2.2);
			 * or encapsulated pixel data, whose items are fragments. */
			bool was_explicit = w->explicit_vr;
			int err;

			if (memcmp(vr, "UN", 2) == 0)
				w->explicit_vr = false;
			err = ds_items(w, off, end, length, depth, tag == 0x7FE00010u);
			w->explicit_vr = was_explicit;
			if (err < 0)
				return -EINVAL;
			continue;
		}
		if (length > end - *off) {
			w->why = "an element runs past the end (the file is cut)";
			return -EINVAL;
		}
		if (memcmp(vr, "SQ", 2) == 0) {
			if (ds_items(w, off, end, length, depth, false) < 0)
				return -EINVAL;
			continue;
		}
		*off += length;
	}
	if (stop) {
		w->why = "an item has no end";
		return -EINVAL;
	}
	return 0;
}

/* The elements of a data set up to (0008,0018), read from its start; sequences are skipped
 * with the walk above. @strict is for a bare data set, where nothing else says it is DICOM:
 * group 0008 from the first element, ascending tags, known VRs, even lengths, valid UIDs. */
struct ds_uids {
	char cls[UID_MAX], uid[UID_MAX];
};

static int ds_find_uids(struct ds_walk *w, size_t off, bool strict, struct ds_uids *u)
{
	uint32_t last = 0;
	bool first = true;

	u->cls[0] = u->uid[0] = '\0';
	while (off < w->len) {
		uint32_t tag, length;
		const unsigned char *vr = NULL;
		size_t hdr = 8;

		if (w->len - off < 8)
			return -EAGAIN;
		tag = (uint32_t)ds16(w, off) << 16 | ds16(w, off + 2);
		if (tag > 0x00080018u || (tag >> 16) == 0xFFFE)
			return -EINVAL; /* past where (0008,0018) would be: the data set has none */
		if (strict && ((tag >> 16) != 0x0008 || (!first && tag <= last)))
			return -EINVAL;
		if (w->explicit_vr) {
			vr = w->p + off + 4;
			if (strict && !vr_is_known(vr))
				return -EINVAL;
			if (part10_vr_has_long_length(vr)) {
				if (w->len - off < 12)
					return -EAGAIN;
				length = ds32(w, off + 8);
				hdr = 12;
			} else {
				length = ds16(w, off + 6);
			}
		} else {
			length = ds32(w, off + 4);
		}
		off += hdr;
		if (length == DS_UNDEFINED) {
			bool was_explicit = w->explicit_vr;
			int err;

			if (vr && memcmp(vr, "UN", 2) == 0)
				w->explicit_vr = false;
			else if (vr && memcmp(vr, "SQ", 2) != 0)
				return -EINVAL; /* only SQ and UN have an undefined length here */
			err = ds_items(w, &off, w->len, length, 0, false);
			w->explicit_vr = was_explicit;
			if (err < 0)
				return -EINVAL;
		} else {
			if (strict && length % 2)
				return -EINVAL;
			if (length > w->len - off)
				return -EAGAIN;
			if (tag == 0x00080016u && !uid_take(w->p + off, length, u->cls) && strict)
				return -EINVAL;
			if (tag == 0x00080018u) {
				if (!uid_take(w->p + off, length, u->uid))
					return -EINVAL;
				return strict && !u->cls[0] ? -EINVAL : 0;
			}
			off += length;
		}
		last = tag;
		first = false;
	}
	return -EAGAIN;
}

/* Raw deflate (RFC 1951, PS3.5 §10.2), with a zlib wrapper as a few old writers used. */
struct inflater {
	z_stream z;
	bool ready;
};

static int inflater_start(struct inflater *f, const unsigned char *p, size_t len, int bits)
{
	memset(f, 0, sizeof(*f));
	if (inflateInit2(&f->z, bits) != Z_OK)
		return -ENOMEM;
	f->ready = true;
	f->z.next_in = (unsigned char *)p;
	f->z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	return 0;
}

static void inflater_end(struct inflater *f)
{
	if (f->ready)
		inflateEnd(&f->z);
	f->ready = false;
}

/* Inflate the start of a deflated data set into @out (@cap bytes); the number made, or -1. */
static long inflate_head(const unsigned char *p, size_t len, unsigned char *out, size_t cap)
{
	static const int modes[] = {-15, 15};

	for (size_t m = 0; m < 2; m++) {
		struct inflater f;
		int r;
		long got;

		if (inflater_start(&f, p, len, modes[m]) < 0)
			return -1;
		f.z.next_out = out;
		f.z.avail_out = (uInt)cap;
		r = inflate(&f.z, Z_SYNC_FLUSH);
		got = (long)(cap - f.z.avail_out);
		inflater_end(&f);
		if ((r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) && got > 0)
			return got;
	}
	return -1;
}

/* Whether the deflate stream of @len bytes ends with them. A few bytes may follow its end: a
 * pad byte to even length, or (pydicom's image_dfl.dcm) an 8-byte gzip-like trailer. A cut
 * stream never reaches its end. */
#define INFLATE_TRAILER_MAX 8

static bool inflate_is_whole(const unsigned char *p, size_t len)
{
	static const int modes[] = {-15, 15};
	unsigned char *out = malloc(PART10_HEAD_MAX);
	bool whole = false;

	if (!out)
		return false;
	for (size_t m = 0; m < 2 && !whole; m++) {
		struct inflater f;
		int r;

		if (inflater_start(&f, p, len, modes[m]) < 0)
			break;
		do {
			f.z.next_out = out;
			f.z.avail_out = PART10_HEAD_MAX;
			r = inflate(&f.z, Z_NO_FLUSH);
		} while (r == Z_OK);
		whole = r == Z_STREAM_END && f.z.avail_in <= INFLATE_TRAILER_MAX;
		inflater_end(&f);
	}
	free(out);
	return whole;
}

static void ds_mode(struct ds_walk *w, const char *syntax)
{
	w->explicit_vr = strcmp(syntax, PART10_TS_IMPLICIT_LE) != 0;
	w->big_endian = strcmp(syntax, PART10_TS_EXPLICIT_BE) == 0;
}

/* (0008,0016) and (0008,0018) of the data set at @off of @p, in @syntax. */
static int ds_uids_in(const unsigned char *p, size_t len, size_t off, const char *syntax,
		      bool strict, struct ds_uids *u)
{
	struct ds_walk w = {.p = p, .len = len};
	unsigned char *plain;
	long n;
	int err;

	ds_mode(&w, syntax);
	if (strcmp(syntax, PART10_TS_DEFLATED_LE) != 0)
		return ds_find_uids(&w, off, strict, u);
	plain = malloc(PART10_HEAD_MAX);
	if (!plain)
		return -ENOMEM;
	n = inflate_head(p + off, len - off, plain, PART10_HEAD_MAX);
	if (n < 0) {
		free(plain);
		return -EINVAL;
	}
	w.p = plain;
	w.len = (size_t)n;
	err = ds_find_uids(&w, 0, strict, u);
	free(plain);
	return err;
}

/* What the file meta group says, and whether it is sound. */
struct meta_scan {
	size_t end; /* the first byte after group 0002 */
	bool explicit_vr, has_length, length_right, odd;
	bool has_uid, has_syntax;
	char uid[UID_MAX], cls[UID_MAX], syntax[UID_MAX];
};

/* Walk group 0002 from @off: by its group length where that ends on an element boundary
 * followed by another group (a deflated data set may start with bytes that read as a group
 * 0002 tag), else element by element while the tags are group 0002. */
static int meta_scan(const unsigned char *p, size_t len, size_t off, struct meta_scan *m)
{
	size_t declared_end = 0;

	memset(m, 0, sizeof(*m));
	if (len - off < 8)
		return -EAGAIN;
	if (le16(p + off) != 0x0002)
		return -EINVAL;
	m->explicit_vr = vr_is_known(p + off + 4);
	for (;;) {
		uint16_t elem;
		uint32_t vlen;
		size_t hdr = 8;

		if (declared_end && off == declared_end &&
		    (len - off < 2 || le16(p + off) != 0x0002 ||
		     strcmp(m->syntax, PART10_TS_DEFLATED_LE) == 0)) {
			m->length_right = true;
			break;
		}
		if (len - off < 8)
			return -EAGAIN;
		if (le16(p + off) != 0x0002)
			break;
		elem = le16(p + off + 2);
		if (!m->explicit_vr) {
			vlen = le32(p + off + 4);
		} else if (part10_vr_has_long_length(p + off + 4)) {
			if (len - off < 12)
				return -EAGAIN;
			vlen = le32(p + off + 8);
			hdr = 12;
		} else {
			vlen = le16(p + off + 6);
		}
		if (vlen > PART10_HEAD_MAX)
			return -EINVAL;
		if (len - off - hdr < vlen)
			return -EAGAIN;
		if (vlen % 2)
			m->odd = true;
		if (elem == 0x0000 && vlen == 4 && !m->has_length) {
			m->has_length = true;
			declared_end = off + hdr + 4 + le32(p + off + hdr);
		} else if (elem == 0x0002) {
			uid_take(p + off + hdr, vlen, m->cls);
		} else if (elem == 0x0003) {
			m->has_uid = uid_take(p + off + hdr, vlen, m->uid);
		} else if (elem == 0x0010) {
			m->has_syntax = uid_take(p + off + hdr, vlen, m->syntax);
		}
		off += hdr + vlen;
	}
	m->end = off;
	return 0;
}

/* Explicit VR little endian, implicit VR little endian, explicit VR big endian: the order a
 * data set of unknown syntax is tried in. */
static const char *const bare_syntaxes[] = {PART10_TS_EXPLICIT_LE, PART10_TS_IMPLICIT_LE,
					    PART10_TS_EXPLICIT_BE};

static int inspect_bare(const unsigned char *p, size_t len, struct part10_info *info)
{
	int again = 0;

	for (size_t i = 0; i < 3; i++) {
		struct ds_uids u;
		int err = ds_uids_in(p, len, 0, bare_syntaxes[i], true, &u);

		if (err == 0) {
			snprintf(info->sop_uid, sizeof(info->sop_uid), "%s", u.uid);
			snprintf(info->sop_class, sizeof(info->sop_class), "%s", u.cls);
			snprintf(info->syntax, sizeof(info->syntax), "%s", bare_syntaxes[i]);
			info->ds_offset = 0;
			info->needs_meta = true;
			info->why = "no file meta header";
			return 0;
		}
		if (err == -EAGAIN)
			again = err;
	}
	return again ? again : -EINVAL;
}

static int inspect_meta(const unsigned char *p, size_t len, size_t off, struct part10_info *info)
{
	struct meta_scan m;
	struct ds_uids u;
	int err = meta_scan(p, len, off, &m);

	if (err)
		return err;
	info->ds_offset = m.end;
	info->needs_meta = true;
	if (off != 132)
		info->why = "no 128-byte preamble";
	else if (!m.explicit_vr)
		info->why = "a meta group that is not explicit VR little endian";
	else if (!m.has_length)
		info->why = "no group length (0002,0000)";
	else if (!m.length_right)
		info->why = "a wrong group length (0002,0000)";
	else if (m.odd)
		info->why = "a meta element of odd length";
	else if (!m.has_uid)
		info->why = "no MediaStorageSOPInstanceUID (0002,0003)";
	else if (!m.has_syntax)
		info->why = "no valid TransferSyntaxUID (0002,0010)";
	else
		info->needs_meta = false;
	if (m.has_syntax) {
		err = ds_uids_in(p, len, m.end, m.syntax, false, &u);
		/* Some writers declare explicit VR and write implicit (pydicom reads those with a
		 * warning). */
		if (err == -EINVAL && strcmp(m.syntax, PART10_TS_EXPLICIT_LE) == 0)
			err = ds_uids_in(p, len, m.end, PART10_TS_IMPLICIT_LE, false, &u);
		snprintf(info->syntax, sizeof(info->syntax), "%s", m.syntax);
	} else {
		/* No syntax to go by: the data set must show its own, as a bare one does. */
		err = -EINVAL;
		for (size_t i = 0; i < 3 && err; i++) {
			err = ds_uids_in(p, len, m.end, bare_syntaxes[i], true, &u);
			snprintf(info->syntax, sizeof(info->syntax), "%s", bare_syntaxes[i]);
		}
	}
	if (err == -ENOMEM)
		return err;
	if (err == 0) {
		snprintf(info->sop_uid, sizeof(info->sop_uid), "%s", u.uid);
		snprintf(info->sop_class, sizeof(info->sop_class), "%s", u.cls[0] ? u.cls : m.cls);
	} else if (!info->needs_meta) {
		/* A sound meta group before a data set not read as far as (0008,0018) (too few
		 * bytes yet, or an element this walk cannot read): the meta group's copy of the
		 * UID names it, as before; the whole check walks the data set later. */
		snprintf(info->sop_uid, sizeof(info->sop_uid), "%s", m.uid);
		snprintf(info->sop_class, sizeof(info->sop_class), "%s", m.cls);
	} else {
		return err;
	}
	if (info->needs_meta && !info->sop_class[0])
		return -EINVAL; /* nothing to write as MediaStorageSOPClassUID */
	return 0;
}

int part10_inspect(const unsigned char *head, size_t len, struct part10_info *info)
{
	struct part10_info got;
	int err;

	memset(&got, 0, sizeof(got));
	if (len >= 132 && memcmp(head + 128, "DICM", 4) == 0)
		err = inspect_meta(head, len, 132, &got);
	else if (len >= 4 && memcmp(head, "DICM", 4) == 0)
		err = inspect_meta(head, len, 4, &got); /* a writer that left the preamble out */
	else if (len >= 2 && le16(head) == 0x0002)
		err = inspect_meta(head, len, 0, &got); /* ... and "DICM" too */
	else
		err = -EINVAL;
	/* A data set that happens to hold "DICM" at byte 128 is still a data set. */
	if (err == -EINVAL)
		err = inspect_bare(head, len, &got);
	if (err == -EINVAL && len < 132 && len < PART10_HEAD_MAX)
		err = -EAGAIN; /* a preamble may still come */
	if (err)
		return err;
	*info = got;
	return 0;
}

int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n)
{
	struct part10_info info;
	int err = part10_inspect(head, len, &info);

	if (err)
		return err;
	if (strlen(info.sop_uid) + 1 > n)
		return -ENAMETOOLONG;
	memcpy(uid, info.sop_uid, strlen(info.sop_uid) + 1);
	return 0;
}

/* An element of the file meta group (explicit VR little endian, PS3.10 §7.1), its value padded
 * to even length with @pad (NUL for UI, space for text: PS3.5 §6.2). */
static size_t meta_put(unsigned char *out, uint16_t elem, const char *vr, const void *value,
		       size_t len, char pad)
{
	size_t even = len + len % 2, hdr;

	out[0] = 0x02;
	out[1] = 0x00;
	out[2] = (unsigned char)(elem & 0xff);
	out[3] = (unsigned char)(elem >> 8);
	memcpy(out + 4, vr, 2);
	if (part10_vr_has_long_length((const unsigned char *)vr)) {
		out[6] = out[7] = 0;
		for (int i = 0; i < 4; i++)
			out[8 + i] = (unsigned char)(even >> (8 * i));
		hdr = 12;
	} else {
		out[6] = (unsigned char)(even & 0xff);
		out[7] = (unsigned char)(even >> 8);
		hdr = 8;
	}
	memcpy(out + hdr, value, len);
	if (len % 2)
		out[hdr + len] = (unsigned char)pad;
	return hdr + even;
}

static bool uid_is_writable(const char *uid)
{
	char copy[UID_MAX];

	return uid && uid_take((const unsigned char *)uid, strlen(uid), copy) &&
	       strcmp(copy, uid) == 0;
}

ssize_t part10_meta_write(unsigned char *out, size_t cap, const char *sop_class,
			  const char *sop_uid, const char *syntax, const char *source_aet)
{
	unsigned char m[PART10_META_MAX];
	size_t n = 144, aet = source_aet ? strlen(source_aet) : 0;

	if (!uid_is_writable(sop_class) || !uid_is_writable(sop_uid) || !uid_is_writable(syntax) ||
	    aet > 16)
		return -EINVAL;
	memset(m, 0, 128);
	memcpy(m + 128, "DICM", 4);
	n += meta_put(m + n, 0x0001, "OB", "\0\1", 2, '\0');
	n += meta_put(m + n, 0x0002, "UI", sop_class, strlen(sop_class), '\0');
	n += meta_put(m + n, 0x0003, "UI", sop_uid, strlen(sop_uid), '\0');
	n += meta_put(m + n, 0x0010, "UI", syntax, strlen(syntax), '\0');
	n += meta_put(m + n, 0x0012, "UI", PART10_IMPL_CLASS_UID, strlen(PART10_IMPL_CLASS_UID),
		      '\0');
	n += meta_put(m + n, 0x0013, "SH", PART10_IMPL_VERSION, strlen(PART10_IMPL_VERSION), ' ');
	if (aet)
		n += meta_put(m + n, 0x0016, "AE", source_aet, aet, ' ');
	/* (0002,0000) UL: the length of the rest of the group. */
	memcpy(m + 132, "\x02\x00\x00\x00UL\x04\x00", 8);
	for (int i = 0; i < 4; i++)
		m[140 + i] = (unsigned char)((n - 144) >> (8 * i));
	if (n > cap)
		return -ENOSPC;
	memcpy(out, m, n);
	return (ssize_t)n;
}

int part10_check_complete(const unsigned char *data, size_t len, char *why, size_t n)
{
	struct part10_info info;
	struct ds_walk w = {.p = data, .len = len};
	size_t off;

	if (part10_inspect(data, len < PART10_HEAD_MAX ? len : PART10_HEAD_MAX, &info) != 0) {
		snprintf(why, n, "no DICOM header");
		return -EINVAL;
	}
	if (strcmp(info.syntax, PART10_TS_DEFLATED_LE) == 0) {
		if (inflate_is_whole(data + info.ds_offset, len - info.ds_offset))
			return 0;
		snprintf(why, n, "the deflated data set is cut");
		return -EINVAL;
	}
	ds_mode(&w, info.syntax);
	off = info.ds_offset;
	if (ds_elements(&w, &off, len, 0, 0) == 0)
		return 0;
	snprintf(why, n, "%s", w.why);
	/* Some writers declare explicit VR and write implicit (pydicom reads those with a
	 * warning): a file whose implicit walk ends exactly at its end is whole too. */
	if (w.explicit_vr && !w.big_endian) {
		w.explicit_vr = false;
		off = info.ds_offset;
		if (ds_elements(&w, &off, len, 0, 0) == 0)
			return 0;
	}
	return -EINVAL;
}
