/* DICOM JSON → attribute sets. The reply comes from the network: every member is checked for
 * type before use, and anything not of the model is an error, not a guess. A reply is checked as
 * it arrives (json_check.c) and each data set is parsed alone when it has ended: a whole reply
 * as one cJSON tree cost ~10 bytes per byte, 16 under ASan (measured in bench/json_memory.c). */
#include "protocols/dicom_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* A single attribute's values are capped: names and xattrs never need more. */
#define DJ_VALUE_MAX (1u << 20)

static int hex_tag(const char *s, uint32_t *tag)
{
	char *end;
	unsigned long v;

	if (!s || strlen(s) != 8)
		return -EIO;
	v = strtoul(s, &end, 16);
	if (*end)
		return -EIO;
	*tag = (uint32_t)v;
	return 0;
}

static int add_number(struct buf *b, double d)
{
	/* IS, US, SL, ... arrive as JSON numbers: print integers without a decimal point. */
	if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
		return buf_printf(b, "%.0f", d);
	return buf_printf(b, "%.17g", d);
}

static int add_value(struct buf *b, const cJSON *v)
{
	if (cJSON_IsString(v))
		return buf_add(b, v->valuestring, strlen(v->valuestring));
	if (cJSON_IsNumber(v))
		return add_number(b, v->valuedouble);
	if (cJSON_IsNull(v))
		return 0;
	if (cJSON_IsObject(v)) {
		/* PN: {"Alphabetic": "..", "Ideographic": .., "Phonetic": ..}; we name by Alphabetic. */
		const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(v, "Alphabetic");

		if (!alpha)
			return 0;
		if (!cJSON_IsString(alpha))
			return -EIO;
		return buf_add(b, alpha->valuestring, strlen(alpha->valuestring));
	}
	return -EIO;
}

int dicom_json_to_attrset(const cJSON *obj, struct attrset *out)
{
	const cJSON *el;
	struct buf b;
	int err = 0;

	if (!cJSON_IsObject(obj))
		return -EIO;
	buf_init(&b, DJ_VALUE_MAX);
	cJSON_ArrayForEach (el, obj) {
		const cJSON *vr, *value, *v;
		uint32_t tag;
		int first = 1;

		err = hex_tag(el->string, &tag);
		if (err)
			goto out;
		if (!cJSON_IsObject(el)) {
			err = -EIO;
			goto out;
		}
		vr = cJSON_GetObjectItemCaseSensitive(el, "vr");
		if (!cJSON_IsString(vr) || strlen(vr->valuestring) != 2) {
			err = -EIO;
			goto out;
		}
		if (strcmp(vr->valuestring, "SQ") == 0)
			continue;
		value = cJSON_GetObjectItemCaseSensitive(el, "Value");
		if (!value) {
			/* Present but empty (or bulk data / inline binary, which we do not keep). */
			if (cJSON_GetObjectItemCaseSensitive(el, "BulkDataURI") ||
			    cJSON_GetObjectItemCaseSensitive(el, "InlineBinary"))
				continue;
			err = attrset_set(out, tag, vr->valuestring, "");
			if (err)
				goto out;
			continue;
		}
		if (!cJSON_IsArray(value)) {
			err = -EIO;
			goto out;
		}
		b.len = 0;
		cJSON_ArrayForEach (v, value) {
			if (!first) {
				err = buf_add(&b, "\\", 1);
				if (err)
					goto out;
			}
			first = 0;
			err = add_value(&b, v);
			if (err)
				goto out;
		}
		err = attrset_setn(out, tag, vr->valuestring, b.data ? b.data : "", b.len);
		if (err)
			goto out;
	}
out:
	buf_release(&b);
	if (err == -E2BIG)
		err = -EIO;
	return err;
}

/* Strings as cJSON takes them (the names layer cleans what it shows), and RFC 8259 otherwise. */
void dicom_json_reader_init(struct dicom_json_reader *r, size_t set_max)
{
	json_check_init(&r->check, JSON_CHECK_ANY_STRING_BYTES | JSON_CHECK_LAX_ESCAPES);
	buf_init(&r->text, set_max);
	attrset_list_init(&r->sets);
	r->bad_set = false;
	r->repairs = 0;
	r->max_sets = SIZE_MAX;
	r->dropped = 0;
}

void dicom_json_reader_limit(struct dicom_json_reader *r, size_t max_sets)
{
	r->max_sets = max_sets;
}

void dicom_json_reader_release(struct dicom_json_reader *r)
{
	buf_release(&r->text);
	attrset_list_release(&r->sets);
}

/* r->text ends with a data set: what comes before it is only the '[', ',' and whitespace
 * between sets (and a byte order mark), so the set starts at the first '{'. */
static int reader_take_set(struct dicom_json_reader *r)
{
	const char *start = memchr(r->text.data, '{', r->text.len);
	size_t len = r->text.len - (size_t)(start ? start - r->text.data : 0);
	char *repaired = NULL;
	struct attrset *s;
	cJSON *obj;
	int err;

	if (!start)
		return -EIO;
	if (r->sets.n >= r->max_sets) {
		r->dropped++;
		r->text.len = 0;
		return 0;
	}
	/* cJSON refuses a lone surrogate: the set is given to it with "\ufffd" in its place. */
	if (json_check_repairs(&r->check) != r->repairs) {
		r->repairs = json_check_repairs(&r->check);
		if (json_check_repair(start, len, &repaired, &len) < 0)
			return -ENOMEM;
		start = repaired;
	}
	obj = cJSON_ParseWithLength(start, len);
	free(repaired);
	if (!obj) {
		/* cJSON takes all the check passes (it is the stricter): an allocation failed. */
		r->bad_set = true;
		return -EIO;
	}
	s = attrset_list_add(&r->sets);
	err = s ? dicom_json_to_attrset(obj, s) : -ENOMEM;
	if (err == -EIO)
		r->bad_set = true;
	cJSON_Delete(obj);
	r->text.len = 0;
	return err;
}

int dicom_json_reader_feed(struct dicom_json_reader *r, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		bool end;
		size_t n = json_check_step(&r->check, p, len, &end);
		int err;

		if (json_check_error(&r->check))
			return -EIO;
		err = buf_add(&r->text, p, n);
		if (err)
			return err;
		if (end) {
			err = reader_take_set(r);
			if (err)
				return err;
		}
		p += n;
		len -= n;
	}
	/* Between sets only separators wait here: keep the buffer from filling with them. */
	if (r->text.len && !memchr(r->text.data, '{', r->text.len))
		r->text.len = 0;
	return 0;
}

int dicom_json_reader_finish(struct dicom_json_reader *r)
{
	if (r->bad_set || json_check_error(&r->check))
		return -EIO;
	if (json_check_is_blank(&r->check))
		return 0;
	return json_check_finish(&r->check);
}

void dicom_json_reader_why(const struct dicom_json_reader *r, char *out, size_t size)
{
	if (r->bad_set)
		snprintf(out, size, "a data set outside the DICOM JSON model");
	else
		snprintf(out, size, "%s at byte %zu",
			 json_check_strerror(json_check_error(&r->check)),
			 json_check_offset(&r->check));
}

int dicom_json_parse_list(const char *json, size_t len, struct attrset_list *out)
{
	struct dicom_json_reader r;
	int err;

	dicom_json_reader_init(&r, len);
	err = dicom_json_reader_feed(&r, json, len);
	if (!err)
		err = dicom_json_reader_finish(&r);
	if (err == -E2BIG)
		err = -EIO;
	if (!err)
		err = attrset_list_append(out, &r.sets);
	dicom_json_reader_release(&r);
	return err;
}
