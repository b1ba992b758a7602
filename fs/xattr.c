/* user.dicom.<Keyword> names: the PS3.6 keyword where we know it, else the tag's 8 hex digits,
 * so an attribute a server returns outside our table (includefield) is still visible. */
#include "fs/xattr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/tags.h"

static void xattr_name(uint32_t tag, char *out, size_t n)
{
	const char *kw = tags_keyword(tag);

	if (kw)
		snprintf(out, n, XATTR_PREFIX "%s", kw);
	else
		snprintf(out, n, XATTR_PREFIX "%08X", tag);
}

ssize_t xattr_list(const struct attrset *a, char *buf, size_t size)
{
	size_t len = 0;
	char name[128];

	for (size_t i = 0; i < a->n; i++) {
		size_t l;

		/* Group FFFF holds trolley's own bookkeeping, not DICOM. */
		if (a->v[i].tag >> 16 == 0xFFFF)
			continue;
		xattr_name(a->v[i].tag, name, sizeof(name));
		l = strlen(name) + 1;
		if (size) {
			if (len + l > size)
				return -ERANGE;
			memcpy(buf + len, name, l);
		}
		len += l;
	}
	return (ssize_t)len;
}

int xattr_get(const struct attrset *a, const char *name, const char **value)
{
	const char *v;
	uint32_t tag;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	tag = tags_by_keyword(name + strlen(XATTR_PREFIX));
	if (!tag || tag >> 16 == 0xFFFF)
		return -ENODATA;
	v = attrset_get(a, tag);
	if (!v)
		return -ENODATA;
	*value = v;
	return 0;
}
