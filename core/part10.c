/* Part-10 header check (PS3.10 §7.1): preamble, "DICM", then group 0002 in explicit VR little
 * endian whatever the data set's transfer syntax. */
#include "core/part10.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* VRs with a 2-byte reserved field and a 4-byte length (PS3.5 §7.1.2). */
static int vr_has_long_length(const unsigned char *vr)
{
	static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
					    "SV", "UC", "UN", "UR", "UT", "UV"};

	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (memcmp(vr, longs[i], 2) == 0)
			return 1;
	return 0;
}

int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n)
{
	size_t off = 132;

	if (len < 132)
		return len > 128 && memcmp(head + 128, "DICM", len - 128) != 0 ? -EINVAL : -EAGAIN;
	if (memcmp(head + 128, "DICM", 4) != 0)
		return -EINVAL;
	for (;;) {
		uint16_t group, elem;
		uint32_t vlen;
		size_t hdr;

		if (len - off < 8)
			return len >= PART10_HEAD_MAX ? -EINVAL : -EAGAIN;
		group = le16(head + off);
		elem = le16(head + off + 2);
		if (group != 0x0002)
			return -EINVAL; /* meta group ended without (0002,0003) */
		if (vr_has_long_length(head + off + 4)) {
			if (len - off < 12)
				return -EAGAIN;
			vlen = le32(head + off + 8);
			hdr = 12;
		} else {
			vlen = le16(head + off + 6);
			hdr = 8;
		}
		if (vlen > PART10_HEAD_MAX)
			return -EINVAL;
		if (len - off - hdr < vlen)
			return len >= PART10_HEAD_MAX ? -EINVAL : -EAGAIN;
		if (elem == 0x0003) {
			const unsigned char *v = head + off + hdr;
			size_t l = vlen;

			/* UI values are padded with NUL to even length; some writers pad with space. */
			while (l && (v[l - 1] == '\0' || v[l - 1] == ' '))
				l--;
			if (l == 0 || l + 1 > n)
				return -EINVAL;
			memcpy(uid, v, l);
			uid[l] = '\0';
			return 0;
		}
		off += hdr + vlen;
	}
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
			if (vr_has_long_length(w->p + *off + 4)) {
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

int part10_check_complete(const unsigned char *data, size_t len, char *why, size_t n)
{
	struct ds_walk w = {.p = data, .len = len, .explicit_vr = true};
	char ts[SOP_UID_MAX] = "";
	size_t off = 132, off_ds;

	if (len < 132 || memcmp(data + 128, "DICM", 4) != 0) {
		snprintf(why, n, "no Part-10 preamble");
		return -EINVAL;
	}
	/* The meta group: explicit VR little endian, always. */
	while (len - off >= 8 && le16(data + off) == 0x0002) {
		uint16_t elem = le16(data + off + 2);
		size_t hdr = vr_has_long_length(data + off + 4) ? 12 : 8;
		uint32_t vlen;

		if (len - off < hdr) {
			snprintf(why, n, "the meta group is cut");
			return -EINVAL;
		}
		vlen = hdr == 12 ? le32(data + off + 8) : le16(data + off + 6);
		if (vlen > len - off - hdr) {
			snprintf(why, n, "the meta group is cut");
			return -EINVAL;
		}
		if (elem == 0x0010 && vlen < sizeof(ts)) {
			size_t tl = vlen;

			memcpy(ts, data + off + hdr, tl);
			ts[tl] = '\0';
			while (tl && (ts[tl - 1] == '\0' || ts[tl - 1] == ' '))
				ts[--tl] = '\0';
		}
		off += hdr + vlen;
	}
	if (strcmp(ts, "1.2.840.10008.1.2.1.99") == 0)
		return 0; /* deflated: the walk would need inflating; the header was checked */
	w.explicit_vr = strcmp(ts, "1.2.840.10008.1.2") != 0;
	w.big_endian = strcmp(ts, "1.2.840.10008.1.2.2") == 0;
	off_ds = off;
	if (ds_elements(&w, &off_ds, len, 0, 0) == 0)
		return 0;
	snprintf(why, n, "%s", w.why);
	/* Some writers declare explicit VR and write implicit (pydicom reads those with a
	 * warning): a file whose implicit walk ends exactly at its end is whole too. */
	if (w.explicit_vr && !w.big_endian) {
		w.explicit_vr = false;
		off_ds = off;
		if (ds_elements(&w, &off_ds, len, 0, 0) == 0)
			return 0;
	}
	return -EINVAL;
}
