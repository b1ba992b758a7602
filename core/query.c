/* Queries and their cache keys. The key includes the source so two archives sharing a cache
 * folder by accident can never see each other's results. */
#include "core/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/uid.h"

void query_init(struct query *q, enum query_level level)
{
	memset(q, 0, sizeof(*q));
	q->level = level;
	attrset_init(&q->match);
}

void query_release(struct query *q)
{
	if (!q)
		return;
	attrset_release(&q->match);
	free(q->include);
	q->include = NULL;
	q->ninclude = 0;
}

int query_include(struct query *q, uint32_t tag)
{
	uint32_t *v;

	for (size_t i = 0; i < q->ninclude; i++)
		if (q->include[i] == tag)
			return 0;
	v = realloc(q->include, (q->ninclude + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	q->include = v;
	q->include[q->ninclude++] = tag;
	return 0;
}

const char *query_level_name(enum query_level level)
{
	switch (level) {
	case QUERY_STUDY:
		return "study";
	case QUERY_SERIES:
		return "series";
	case QUERY_INSTANCE:
		return "instance";
	}
	return "?";
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

char *query_key(const struct query *q, const char *source)
{
	struct buf b;
	uint32_t *inc = NULL;
	int err = 0;

	buf_init(&b, 1 << 16);
	err |= buf_printf(&b, "%s|%s|%ld|%ld", source ? source : "", query_level_name(q->level),
			  q->limit, q->offset);
	/* match is kept sorted by tag, so its order is already canonical. */
	for (size_t i = 0; i < q->match.n; i++)
		err |= buf_printf(&b, "|%08x=%s", q->match.v[i].tag, q->match.v[i].value);
	if (q->ninclude) {
		inc = malloc(q->ninclude * sizeof(*inc));
		if (!inc)
			goto out_fail;
		memcpy(inc, q->include, q->ninclude * sizeof(*inc));
		qsort(inc, q->ninclude, sizeof(*inc), cmp_u32);
		for (size_t i = 0; i < q->ninclude; i++)
			err |= buf_printf(&b, "|+%08x", inc[i]);
		free(inc);
	}
	if (err)
		goto out_fail;
	return buf_take_string(&b);
out_fail:
	buf_release(&b);
	return NULL;
}

bool query_uid_is_valid(const char *s)
{
	size_t n = 0;
	char prev = '.';

	if (!s)
		return false;
	for (; s[n]; n++) {
		if (s[n] == '.') {
			if (prev == '.')
				return false;
		} else if (s[n] < '0' || s[n] > '9') {
			return false;
		}
		prev = s[n];
	}
	return n > 0 && n <= UID_LEN_MAX && prev != '.';
}
