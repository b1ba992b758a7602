/* libFuzzer harness: the streaming DICOM JSON check (core/json_check.c) against cJSON, the
 * parser it replaced in wado_rs.c. For every input:
 *  - cutting it into pieces (in both modes) (byte by byte, or at points drawn from the input) never changes the
 *    answer, its reason or its offset;
 *  - what the check accepts, cJSON parses, into the shape the check promises, with as many data
 *    sets as json_check_step() reported;
 *  - what cJSON parses into that shape, the check accepts, except where cJSON is lenient and RFC
 *    8259 is not. Those known differences, each confirmed from the input where it can be:
 *      numbers: cJSON reads them with strtod, so "01", "1.", "-.5", "1.e5" pass it (NUMBER;
 *               not confirmed independently);
 *      control bytes: cJSON skips every byte <= 0x20 as whitespace and takes raw control
 *               bytes inside strings (CONTROL: the input has a byte < 0x20);
 *      UTF-8: cJSON does not check it (UTF8: the input is not valid UTF-8);
 *      nesting: cJSON follows 1000 levels, the check JSON_CHECK_DEPTH_MAX (DEPTH: the input
 *               has more brackets than that);
 *      \u escapes: cJSON 1.7.15's parse_hex4() reads a non-hex digit as the end of a 0, so
 *               "\u00|w" passes it as U+0000 (ESCAPE: the input has a \u without 4 hex
 *               digits after it);
 *      "\u0000": cJSON's keys and strings are C strings that end there, so a key
 *               "00100010\u0000" looks like a tag to it (the input holds a \u0000 escape). */
#include <assert.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* The shape json_check.c checks, on cJSON's tree. */
static bool has_shape(const cJSON *root)
{
	const cJSON *ds, *attr, *m;

	if (!cJSON_IsArray(root))
		return false;
	cJSON_ArrayForEach (ds, root) {
		if (!cJSON_IsObject(ds))
			return false;
		cJSON_ArrayForEach (attr, ds) {
			bool vr = false;

			if (strlen(attr->string) != 8)
				return false;
			for (int i = 0; i < 8; i++)
				if (!is_hex(attr->string[i]))
					return false;
			if (!cJSON_IsObject(attr))
				return false;
			cJSON_ArrayForEach (m, attr) {
				if (strcmp(m->string, "vr") == 0) {
					const char *s = m->valuestring;

					if (!cJSON_IsString(m) || strlen(s) != 2 || s[0] < 'A' ||
					    s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
						return false;
					vr = true;
				} else if (strcmp(m->string, "Value") == 0 && !cJSON_IsArray(m)) {
					return false;
				}
			}
			if (!vr)
				return false;
		}
	}
	return true;
}

static bool cjson_accepts(const uint8_t *data, size_t size, int *elements)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
	bool ok;

	if (!root)
		return false;
	ok = has_shape(root);
	/* cJSON stops after the first value; dicom_json.c refuses more than whitespace after it. */
	for (; ok && end < (const char *)data + size; end++)
		if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t')
			ok = false;
	*elements = cJSON_GetArraySize(root);
	cJSON_Delete(root);
	return ok;
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t b = p[i];
		uint32_t cp;
		size_t k;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF)
			k = 1, cp = b & 0x1F;
		else if (b >= 0xE0 && b <= 0xEF)
			k = 2, cp = b & 0x0F;
		else if (b >= 0xF0 && b <= 0xF4)
			k = 3, cp = b & 0x07;
		else
			return false;
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (p[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
}

static bool has_control(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20)
			return true;
	return false;
}

static bool has_short_hex_escape(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\\' || p[i + 1] != 'u')
			continue;
		for (size_t j = i + 2; j < i + 6; j++)
			if (j >= n || !is_hex((char)p[j]))
				return true;
	}
	return false;
}

static size_t brackets(const uint8_t *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] == '[' || p[i] == '{';
	return c;
}

/* The whole input in pieces whose sizes come from @seed; the data sets counted as they end. */
static enum json_check_error check_in_pieces(const uint8_t *data, size_t size, uint32_t seed,
					     size_t *offset, int *elements)
{
	struct json_check c;
	size_t at = 0;

	json_check_init(&c, 0);
	*elements = 0;
	while (at < size) {
		size_t n, used;
		bool end;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 17;
		if (n > size - at)
			n = size - at;
		/* step() may stop early at the end of a data set: go on from there. */
		used = json_check_step(&c, data + at, n, &end);
		*elements += end;
		if (json_check_error(&c))
			break;
		at += used;
	}
	json_check_finish(&c);
	*offset = json_check_offset(&c);
	return json_check_error(&c);
}

/* Lax escapes (QIDO, on top of the lenient mode, whose answer was @lenient): they pass all
 * the lenient mode does, in any split the same; they refuse only for an escape what it
 * refused for one; and what they pass, repaired by json_check_repair(), the lenient mode
 * passes without a repair, with as many data sets, and cJSON parses. */
static void lax_escapes(const uint8_t *data, size_t size, enum json_check_error lenient)
{
	const unsigned flags = JSON_CHECK_ANY_STRING_BYTES | JSON_CHECK_LAX_ESCAPES;
	struct json_check c, one;
	enum json_check_error lax;
	size_t repairs, out_len, used;
	int sets = 0, sets_after = 0;
	char *out;
	bool end;

	json_check_init(&c, flags);
	for (size_t at = 0; at < size && !json_check_error(&c); at += used) {
		used = json_check_step(&c, data + at, size - at, &end);
		sets += end;
	}
	json_check_finish(&c);
	lax = json_check_error(&c);
	repairs = json_check_repairs(&c);
	json_check_init(&one, flags);
	for (size_t i = 0; i < size; i++)
		json_check_feed(&one, data + i, 1);
	json_check_finish(&one);
	assert(json_check_error(&one) == lax && json_check_offset(&one) == json_check_offset(&c));
	assert(json_check_repairs(&one) == repairs);
	assert(lenient != JSON_CHECK_OK || (lax == JSON_CHECK_OK && repairs == 0));
	assert(lax != JSON_CHECK_ESCAPE);
	if (lenient != JSON_CHECK_ESCAPE)
		assert(lax == lenient);
	if (lax != JSON_CHECK_OK)
		return;
	assert(json_check_repair((const char *)data, size, &out, &out_len) == 0);
	json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES);
	for (size_t at = 0; at < out_len && !json_check_error(&c); at += used) {
		used = json_check_step(&c, out + at, out_len - at, &end);
		sets_after += end;
	}
	assert(json_check_finish(&c) == 0 && sets_after == sets);
	if (!memmem(out, out_len, "\\u0000", 6)) {
		int n;

		assert(cjson_accepts((const uint8_t *)out, out_len, &n) && n == sets);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_check c;
	enum json_check_error whole, e;
	size_t whole_at, at;
	int elements = 0, counted[3];
	bool cjson_ok;

	json_check_init(&c, 0);
	if (json_check_feed(&c, data, size) == 0)
		json_check_finish(&c);
	whole = json_check_error(&c);
	whole_at = json_check_offset(&c);

	json_check_init(&c, 0);
	for (size_t i = 0; i < size; i++)
		json_check_feed(&c, data + i, 1);
	json_check_finish(&c);
	assert(json_check_error(&c) == whole && json_check_offset(&c) == whole_at);
	for (uint32_t seed = 1; seed <= 3; seed++) {
		e = check_in_pieces(data, size, seed * 2654435761u + (uint32_t)size, &at,
				    &counted[seed - 1]);
		assert(e == whole && at == whole_at);
	}

	/* The lenient mode (QIDO) passes all the strict one does, in any split too. */
	json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES);
	if (json_check_feed(&c, data, size) == 0)
		json_check_finish(&c);
	e = json_check_error(&c);
	at = json_check_offset(&c);
	assert(whole != JSON_CHECK_OK || e == JSON_CHECK_OK);
	json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES);
	for (size_t i = 0; i < size; i++)
		json_check_feed(&c, data + i, 1);
	json_check_finish(&c);
	assert(json_check_error(&c) == e && json_check_offset(&c) == at);

	lax_escapes(data, size, e);

	cjson_ok = cjson_accepts(data, size, &elements);
	if (whole == JSON_CHECK_OK) {
		assert(cjson_ok);
		for (int i = 0; i < 3; i++)
			assert(counted[i] == elements);
		return 0;
	}
	assert(whole_at <= size);
	if (!cjson_ok)
		return 0;
	if (memmem(data, size, "\\u0000", 6))
		return 0;
	switch (whole) {
	case JSON_CHECK_NUMBER:
		return 0;
	case JSON_CHECK_CONTROL:
		assert(has_control(data, size));
		return 0;
	case JSON_CHECK_UTF8:
		assert(!valid_utf8(data, size));
		return 0;
	case JSON_CHECK_ESCAPE:
		assert(has_short_hex_escape(data, size));
		return 0;
	case JSON_CHECK_DEPTH:
		assert(brackets(data, size) > JSON_CHECK_DEPTH_MAX);
		return 0;
	default:
		/* cJSON took it as metadata and the check refused it for no known reason. */
		assert(0 && "json_check refused what cJSON parsed as metadata");
		return 0;
	}
}
