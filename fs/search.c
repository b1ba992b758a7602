/* Search folder names. A malformed name is refused here with the reason, before any request. */
#include "fs/search.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tags.h"

static bool is_da(const char *s, size_t len)
{
	if (len != 8)
		return false;
	for (size_t i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool search_is_date_range(const char *v)
{
	const char *dash = strchr(v, '-');
	size_t len = strlen(v);

	if (!dash)
		return is_da(v, len);
	if (strchr(dash + 1, '-'))
		return false;
	if (dash == v)
		return is_da(v + 1, len - 1);
	if (dash == v + len - 1)
		return is_da(v, len - 1);
	return is_da(v, (size_t)(dash - v)) && is_da(dash + 1, strlen(dash + 1));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode %XX in place. @return 0, or -EINVAL for a broken escape or an escaped NUL. */
static int unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

static int parse_long(const char *v, long *out)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (!*v || *end || x < 0)
		return -EINVAL;
	*out = x;
	return 0;
}

static int add_includes(struct query *q, char *list, char *why, size_t n)
{
	for (char *save = NULL, *kw = strtok_r(list, ",", &save); kw;
	     kw = strtok_r(NULL, ",", &save)) {
		uint32_t tag = tags_by_keyword(kw);

		if (!tag) {
			snprintf(why, n, "includefield: unknown keyword '%s'", kw);
			return -EINVAL;
		}
		if (query_include(q, tag) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_pair(struct query *q, char *pair, char *why, size_t n)
{
	char *eq = strchr(pair, '='), *key = pair, *value;
	uint32_t tag;

	if (!eq) {
		snprintf(why, n, "'%s' is not key=value", pair);
		return -EINVAL;
	}
	*eq = '\0';
	value = eq + 1;
	if (unescape(value) < 0) {
		snprintf(why, n, "%s: broken %%XX escape", key);
		return -EINVAL;
	}
	if (strcmp(key, "limit") == 0 || strcmp(key, "offset") == 0) {
		long *dst = key[0] == 'l' ? &q->limit : &q->offset;

		if (parse_long(value, dst) < 0) {
			snprintf(why, n, "%s=%s: expected a number", key, value);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "includefield") == 0)
		return add_includes(q, value, why, n);
	tag = tags_by_keyword(key);
	if (!tag) {
		snprintf(why, n, "unknown DICOM keyword '%s'", key);
		return -EINVAL;
	}
	if (attrset_get(&q->match, tag)) {
		snprintf(why, n, "%s given twice", key);
		return -EINVAL;
	}
	if (strcmp(tags_vr(tag), "DA") == 0 && *value && !search_is_date_range(value)) {
		snprintf(why, n, "%s=%s: expected YYYYMMDD or a range A-B (open ends allowed)", key,
			 value);
		return -EINVAL;
	}
	if (strcmp(tags_vr(tag), "UI") == 0 && *value && !query_uid_is_valid(value)) {
		snprintf(why, n, "%s=%s: not a UID", key, value);
		return -EINVAL;
	}
	return attrset_set(&q->match, tag, tags_vr(tag), value) < 0 ? -ENOMEM : 0;
}

int search_parse(const char *name, struct query *q, char *why, size_t n)
{
	char *copy = strdup(name);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	query_init(q, QUERY_STUDY);
	if (!*name) {
		snprintf(why, n, "empty query");
		err = -EINVAL;
		goto out;
	}
	for (char *save = NULL, *pair = strtok_r(copy, "&", &save); pair && !err;
	     pair = strtok_r(NULL, "&", &save))
		err = parse_pair(q, pair, why, n);
out:
	free(copy);
	if (err)
		query_release(q);
	return err;
}
