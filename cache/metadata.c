/* Cutting a series' metadata out of its study's (cache/metadata.h). A small JSON scanner that
 * finds each instance object's extent and its SeriesInstanceUID without building a tree: a study
 * of thousands of instances is megabytes, and each of its series is cut from it once. The
 * document was checked as DICOM JSON when it came; the scanner still stops at the end of the
 * buffer and answers -ENOENT for anything it does not expect. */
#include "cache/metadata.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct scan {
	const char *p, *e;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static bool take(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->e && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A string at s->p: its content (between the quotes, escapes as they are) in @v, @n. */
static bool scan_string(struct scan *s, const char **v, size_t *n)
{
	const char *start;

	skip_ws(s);
	if (s->p >= s->e || *s->p != '"')
		return false;
	start = ++s->p;
	while (s->p < s->e && *s->p != '"') {
		if (*s->p == '\\' && s->e - s->p < 2)
			return false;
		s->p += *s->p == '\\' ? 2 : 1;
	}
	if (s->p >= s->e)
		return false;
	*v = start;
	*n = (size_t)(s->p - start);
	s->p++;
	return true;
}

/* Any value: a string, a nested object or array (strings inside skipped whole), a literal. */
static bool skip_value(struct scan *s)
{
	const char *v;
	size_t n, depth = 0;

	skip_ws(s);
	if (s->p >= s->e)
		return false;
	if (*s->p == '"')
		return scan_string(s, &v, &n);
	if (*s->p != '{' && *s->p != '[') {
		while (s->p < s->e && !strchr(",]} \t\r\n", *s->p))
			s->p++;
		return s->p < s->e;
	}
	while (s->p < s->e) {
		char c = *s->p;

		if (c == '"') {
			if (!scan_string(s, &v, &n))
				return false;
			continue;
		}
		s->p++;
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return true;
	}
	return false;
}

/* The first string of "Value" in the attribute object at s->p (e.g. {"vr":"UI","Value":[..]}):
 * @v, @n, or NULL if it has none; s->p moves past the object. */
static bool scan_uid_attribute(struct scan *s, const char **v, size_t *n)
{
	const char *key;
	size_t klen;

	*v = NULL;
	if (!take(s, '{'))
		return false;
	if (take(s, '}'))
		return true;
	do {
		if (!scan_string(s, &key, &klen) || !take(s, ':'))
			return false;
		if (klen == 5 && memcmp(key, "Value", 5) == 0) {
			struct scan in = *s;

			if (take(&in, '[') && scan_string(&in, v, n) == false)
				*v = NULL;
		}
		if (!skip_value(s))
			return false;
	} while (take(s, ','));
	return take(s, '}');
}

/* One instance object at s->p: its SeriesInstanceUID in @v, @n (NULL if none). */
static bool scan_instance(struct scan *s, const char **v, size_t *n)
{
	const char *key;
	size_t klen;

	*v = NULL;
	if (!take(s, '{'))
		return false;
	if (take(s, '}'))
		return true;
	do {
		if (!scan_string(s, &key, &klen) || !take(s, ':'))
			return false;
		if (klen == 8 &&
		    (memcmp(key, "0020000E", 8) == 0 || memcmp(key, "0020000e", 8) == 0)) {
			if (!scan_uid_attribute(s, v, n))
				return false;
		} else if (!skip_value(s)) {
			return false;
		}
	} while (take(s, ','));
	return take(s, '}');
}

int metadata_cut_series(const char *doc, size_t len, const char *series_uid, struct buf *out)
{
	struct scan s = {doc, doc + len};
	size_t want = strlen(series_uid), start_len = out->len, found = 0;
	int err = 0;

	if (!take(&s, '['))
		return -ENOENT;
	err = buf_add(out, "[", 1);
	if (!take(&s, ']')) {
		do {
			const char *start, *uid;
			size_t n;

			skip_ws(&s);
			start = s.p;
			if (!scan_instance(&s, &uid, &n)) {
				err = -ENOENT;
				break;
			}
			if (!uid || n != want || memcmp(uid, series_uid, n) != 0)
				continue;
			if (found++)
				err = buf_add(out, ",", 1);
			if (!err)
				err = buf_add(out, start, (size_t)(s.p - start));
		} while (!err && take(&s, ','));
		if (!err && !take(&s, ']'))
			err = -ENOENT;
	}
	skip_ws(&s);
	if (!err && s.p != s.e)
		err = -ENOENT; /* something after the array: not the document we know */
	if (!err && !found)
		err = -ENOENT;
	if (!err)
		err = buf_add(out, "]", 1);
	if (err)
		out->len = start_len;
	if (err && out->data)
		out->data[out->len] = '\0';
	return err;
}
