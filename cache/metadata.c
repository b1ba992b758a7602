/* Cutting a series' metadata out of its study's (cache/metadata.h). The one JSON scanner,
 * core/json_check.c (fuzzed, and the check every DICOM JSON reply passes), says where each
 * instance object ends, and only that object is parsed (cJSON) to read its SeriesInstanceUID:
 * a study of thousands of instances is megabytes, and is never one tree. The document was
 * checked when it came; anything the check or the parse refuses now is -ENOENT. */
#include "cache/metadata.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/json_check.h"

/* Whether instance object @obj (@len bytes) has SeriesInstanceUID (0020000E) @series_uid
 * (the first string of its "Value"), as bytes (a UID has nothing to escape). An object whose
 * bytes do not hold "<@series_uid>" is not parsed: most of a study is other series.
 * @return 1, 0, or -ENOENT if @obj does not parse. */
static int is_of_series(const char *obj, size_t len, const char *series_uid)
{
	size_t n = strlen(series_uid);
	const char *at = obj, *end = obj + len;
	cJSON *set, *attr, *value, *first;
	int ret = 0;

	for (;; at++) {
		at = memmem(at, (size_t)(end - at), series_uid, n);
		if (!at)
			return 0;
		if (at > obj && at[-1] == '"' && (size_t)(end - at) > n && at[n] == '"')
			break;
	}
	set = cJSON_ParseWithLength(obj, len);
	if (!set)
		return -ENOENT;
	/* Case-insensitive: a tag's hex digits may be written "0020000e". */
	attr = cJSON_GetObjectItem(set, "0020000E");
	value = cJSON_GetObjectItemCaseSensitive(attr, "Value");
	first = cJSON_IsArray(value) ? cJSON_GetArrayItem(value, 0) : NULL;
	if (cJSON_IsString(first) && strcmp(first->valuestring, series_uid) == 0)
		ret = 1;
	cJSON_Delete(set);
	return ret;
}

int metadata_cut_series(const char *doc, size_t len, const char *series_uid, struct buf *out)
{
	struct json_check check;
	size_t at = 0, start_len = out->len, found = 0;
	int err;

	/* As lax as any check a stored document passed: its strings are not ours to judge. */
	json_check_init(&check, JSON_CHECK_ANY_STRING_BYTES | JSON_CHECK_LAX_ESCAPES);
	err = buf_add(out, "[", 1);
	while (!err && at < len) {
		size_t start = at;
		bool element_end = false;
		int mine;

		at += json_check_step(&check, doc + at, len - at, &element_end);
		if (json_check_error(&check) != JSON_CHECK_OK) {
			err = -ENOENT;
			break;
		}
		if (!element_end)
			break; /* all of @doc read: json_check_finish() says if it was whole */
		/* Before an element the check let through only the array's '[', commas and
		 * whitespace. */
		while (start < at && strchr("[, \t\r\n", doc[start]))
			start++;
		mine = is_of_series(doc + start, at - start, series_uid);
		if (mine < 0)
			err = mine;
		else if (mine && found++)
			err = buf_add(out, ",", 1);
		if (!err && mine)
			err = buf_add(out, doc + start, at - start);
	}
	if (!err && json_check_finish(&check) != 0)
		err = -ENOENT; /* not a whole array of data sets: not the document we know */
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
