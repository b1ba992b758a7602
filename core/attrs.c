/* Attribute sets: small sorted arrays (a study has a few dozen attributes at most, so binary
 * search over an array beats a hash in both memory and speed), plus the cache's packed form. */
#include "core/attrs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void attrset_init(struct attrset *s)
{
	s->v = NULL;
	s->n = s->cap = 0;
}

void attrset_release(struct attrset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].value);
	free(s->v);
	attrset_init(s);
}

/* Index of @tag, or of where it would go (with *found 0). */
static size_t attrset_find(const struct attrset *s, uint32_t tag, int *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n && s->v[lo].tag == tag;
	return lo;
}

int attrset_setn(struct attrset *s, uint32_t tag, const char *vr, const char *value, size_t len)
{
	int found;
	size_t i = attrset_find(s, tag, &found);
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, value, len);
	copy[len] = '\0';
	if (found) {
		free(s->v[i].value);
		s->v[i].value = copy;
	} else {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 8;
			struct attr *v = realloc(s->v, cap * sizeof(*v));

			if (!v) {
				free(copy);
				return -ENOMEM;
			}
			s->v = v;
			s->cap = cap;
		}
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->v[i].tag = tag;
		s->v[i].value = copy;
		s->n++;
	}
	memset(s->v[i].vr, 0, sizeof(s->v[i].vr));
	if (vr)
		strncpy(s->v[i].vr, vr, 2);
	return 0;
}

int attrset_set(struct attrset *s, uint32_t tag, const char *vr, const char *value)
{
	if (!value)
		value = "";
	return attrset_setn(s, tag, vr, value, strlen(value));
}

const char *attrset_get(const struct attrset *s, uint32_t tag)
{
	int found;
	size_t i = attrset_find(s, tag, &found);

	return found ? s->v[i].value : NULL;
}

const char *attrset_str(const struct attrset *s, uint32_t tag)
{
	const char *v = attrset_get(s, tag);

	return v ? v : "";
}

int attrset_merge(struct attrset *dst, const struct attrset *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (attrset_get(dst, src->v[i].tag))
			continue;
		if (attrset_set(dst, src->v[i].tag, src->v[i].vr, src->v[i].value) < 0)
			return -ENOMEM;
	}
	return 0;
}

int attrset_copy(struct attrset *dst, const struct attrset *src)
{
	int err = attrset_merge(dst, src);

	if (err)
		attrset_release(dst);
	return err;
}

void attrset_list_init(struct attrset_list *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
	l->incomplete = false;
}

void attrset_list_release(struct attrset_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		attrset_release(&l->v[i]);
	free(l->v);
	attrset_list_init(l);
}

static int attrset_list_reserve(struct attrset_list *l, size_t want)
{
	size_t cap = l->cap ? l->cap : 16;
	struct attrset *v;

	if (want <= l->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	v = realloc(l->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->cap = cap;
	return 0;
}

struct attrset *attrset_list_add(struct attrset_list *l)
{
	if (attrset_list_reserve(l, l->n + 1) < 0)
		return NULL;
	attrset_init(&l->v[l->n]);
	return &l->v[l->n++];
}

int attrset_list_append(struct attrset_list *dst, struct attrset_list *src)
{
	dst->incomplete = dst->incomplete || src->incomplete;
	if (src->n == 0)
		return 0;
	if (attrset_list_reserve(dst, dst->n + src->n) < 0)
		return -ENOMEM;
	memcpy(&dst->v[dst->n], src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	free(src->v);
	attrset_list_init(src);
	return 0;
}

/* Packed form, little-endian: u32 count of sets; per set u32 count of attrs; per attr u32 tag,
 * 2 bytes VR, u32 value length, value bytes. */
static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int attrset_list_pack(const struct attrset_list *l, unsigned char **out, size_t *len)
{
	size_t need = 4, off = 0;
	unsigned char *buf;

	for (size_t i = 0; i < l->n; i++) {
		need += 4;
		for (size_t j = 0; j < l->v[i].n; j++)
			need += 10 + strlen(l->v[i].v[j].value);
	}
	buf = malloc(need);
	if (!buf)
		return -ENOMEM;
	put_u32(buf + off, (uint32_t)l->n);
	off += 4;
	for (size_t i = 0; i < l->n; i++) {
		put_u32(buf + off, (uint32_t)l->v[i].n);
		off += 4;
		for (size_t j = 0; j < l->v[i].n; j++) {
			const struct attr *a = &l->v[i].v[j];
			size_t vl = strlen(a->value);

			put_u32(buf + off, a->tag);
			memcpy(buf + off + 4, a->vr, 2);
			put_u32(buf + off + 6, (uint32_t)vl);
			memcpy(buf + off + 10, a->value, vl);
			off += 10 + vl;
		}
	}
	*out = buf;
	*len = off;
	return 0;
}

int attrset_list_unpack(const unsigned char *buf, size_t len, struct attrset_list *l)
{
	size_t off = 0;
	uint32_t nsets;
	int err = -EINVAL;

	if (len < 4)
		return -EINVAL;
	nsets = get_u32(buf);
	off = 4;
	/* Each set takes at least 4 bytes: a count larger than that cannot be genuine. */
	if (nsets > (len - off) / 4)
		return -EINVAL;
	for (uint32_t i = 0; i < nsets; i++) {
		struct attrset *s;
		uint32_t nattrs;

		if (len - off < 4)
			goto out_release;
		nattrs = get_u32(buf + off);
		off += 4;
		if (nattrs > (len - off) / 10)
			goto out_release;
		s = attrset_list_add(l);
		if (!s) {
			err = -ENOMEM;
			goto out_release;
		}
		for (uint32_t j = 0; j < nattrs; j++) {
			uint32_t tag, vl;
			char vr[3] = {0};

			if (len - off < 10)
				goto out_release;
			tag = get_u32(buf + off);
			memcpy(vr, buf + off + 4, 2);
			vl = get_u32(buf + off + 6);
			off += 10;
			if (vl > len - off)
				goto out_release;
			if (attrset_setn(s, tag, vr, (const char *)buf + off, vl) < 0) {
				err = -ENOMEM;
				goto out_release;
			}
			off += vl;
		}
	}
	if (off != len)
		goto out_release;
	return 0;
out_release:
	attrset_list_release(l);
	return err;
}
