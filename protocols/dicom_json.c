/* DICOM JSON → attribute sets. The reply comes from the network: every member is checked for
 * type before use, and anything not of the model is an error, not a guess. */
#include "protocols/dicom_json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
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

int dicom_json_parse_list(const char *json, size_t len, struct attrset_list *out)
{
	struct attrset_list tmp;
	const cJSON *obj;
	const char *end;
	cJSON *root;
	int err = 0;

	/* QIDO-RS 204 No Content, or whitespace only: no match. */
	while (len && (json[len - 1] == ' ' || json[len - 1] == '\n' || json[len - 1] == '\r' ||
		       json[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root)
		return -EIO;
	/* cJSON stops after the first value: anything but whitespace after it is garbage. */
	for (; end < json + len; end++) {
		if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
			err = -EIO;
			goto out_free_root;
		}
	}
	if (!cJSON_IsArray(root)) {
		err = -EIO;
		goto out_free_root;
	}
	attrset_list_init(&tmp);
	cJSON_ArrayForEach (obj, root) {
		struct attrset *s = attrset_list_add(&tmp);

		if (!s) {
			err = -ENOMEM;
			goto out_release;
		}
		err = dicom_json_to_attrset(obj, s);
		if (err)
			goto out_release;
	}
	err = attrset_list_append(out, &tmp);
out_release:
	attrset_list_release(&tmp);
out_free_root:
	cJSON_Delete(root);
	return err;
}

bool dicom_json_is_dataset_array(const char *json, size_t len)
{
	struct attrset_list l;
	bool ok;

	/* Parsing it the way QIDO replies are parsed checks every element's shape. */
	attrset_list_init(&l);
	ok = len > 0 && dicom_json_parse_list(json, len, &l) == 0;
	attrset_list_release(&l);
	return ok;
}
