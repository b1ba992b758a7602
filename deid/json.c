/* DICOM JSON (PS3.18 F.2), as metadata.json shows it: each data set of the array cleaned by
 * the same decisions as a Part-10 data set (deid/values.c), a value's strings joined with
 * backslashes as DICOM text before the decision and split again after it. Data sets deid
 * withholds are left out of the array, as their instances are left out of folders. */
#include "deid/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of a JSON value as DICOM text: strings and PN Alphabetic groups joined with
 * backslashes; numbers printed. */
static int value_text(const cJSON *value, struct buf *t)
{
	const cJSON *v;
	bool first = true;
	int err = 0;

	t->len = 0;
	err = buf_add(t, "", 0);
	cJSON_ArrayForEach (v, value) {
		if (!first)
			err = buf_add(t, "\\", 1);
		first = false;
		if (cJSON_IsString(v))
			err = err ? err : buf_add(t, v->valuestring, strlen(v->valuestring));
		else if (cJSON_IsNumber(v))
			err = err ? err : buf_printf(t, "%.17g", v->valuedouble);
		else if (cJSON_IsObject(v)) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "Alphabetic");

			if (cJSON_IsString(a))
				err = err ? err
					  : buf_add(t, a->valuestring, strlen(a->valuestring));
		}
		if (err)
			return err;
	}
	return 0;
}

/* A Value array holding @s split at backslashes (PN as Alphabetic groups). */
static cJSON *value_array(const char *s, bool pn)
{
	cJSON *arr = cJSON_CreateArray();

	while (arr) {
		const char *e = strchr(s, '\\');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		char *part = strndup(s, l);
		cJSON *item;

		if (!part)
			goto fail;
		if (pn) {
			item = cJSON_CreateObject();
			if (item && !cJSON_AddStringToObject(item, "Alphabetic", part)) {
				cJSON_Delete(item);
				item = NULL;
			}
		} else {
			item = cJSON_CreateString(part);
		}
		free(part);
		if (!item || !cJSON_AddItemToArray(arr, item))
			goto fail;
		if (!e)
			return arr;
		s = e + 1;
	}
	return NULL;
fail:
	cJSON_Delete(arr);
	return NULL;
}

static int clean_object(const struct deid *d, long offset, cJSON *obj, struct buf *t,
			struct buf *nv, int depth);

static int clean_attr(const struct deid *d, long offset, cJSON *obj, cJSON *attr, uint32_t tag,
		      struct buf *t, struct buf *nv, int depth)
{
	const cJSON *jvr = cJSON_GetObjectItemCaseSensitive(attr, "vr");
	cJSON *value = cJSON_GetObjectItemCaseSensitive(attr, "Value"), *item, *arr;
	const char *vr = cJSON_IsString(jvr) ? jvr->valuestring : "";
	bool sq = strcmp(vr, "SQ") == 0;
	enum deid_fate fate;
	int err;

	/* A BulkDataURI is a URL of the archive's, naming the original UIDs. */
	if (cJSON_GetObjectItemCaseSensitive(attr, "BulkDataURI")) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, attr->string);
		return 0;
	}
	if (!sq && cJSON_IsArray(value)) {
		err = value_text(value, t);
		if (err < 0)
			return err;
	} else {
		t->len = 0;
		err = buf_add(t, "", 0);
		if (err < 0)
			return err;
	}
	err = deid_fate(d, offset, tag, vr, sq, t->data, t->len, nv, &fate);
	if (err < 0)
		return err;
	switch (fate) {
	case DEID_FATE_DROP:
		cJSON_DeleteItemFromObjectCaseSensitive(obj, attr->string);
		return 0;
	case DEID_FATE_EMPTY:
		cJSON_DeleteItemFromObjectCaseSensitive(attr, "Value");
		cJSON_DeleteItemFromObjectCaseSensitive(attr, "InlineBinary");
		return 0;
	case DEID_FATE_REPLACE:
		cJSON_DeleteItemFromObjectCaseSensitive(attr, "Value");
		cJSON_DeleteItemFromObjectCaseSensitive(attr, "InlineBinary");
		if (!nv->len)
			return 0;
		arr = value_array(nv->data, strcmp(vr, "PN") == 0);
		if (!arr || !cJSON_AddItemToObject(attr, "Value", arr)) {
			cJSON_Delete(arr);
			return -ENOMEM;
		}
		return 0;
	default:
		if (!sq || !cJSON_IsArray(value))
			return 0;
		cJSON_ArrayForEach (item, value) {
			if (!cJSON_IsObject(item))
				return -EIO;
			err = clean_object(d, offset, item, t, nv, depth + 1);
			if (err < 0)
				return err;
		}
		return 0;
	}
}

static int clean_object(const struct deid *d, long offset, cJSON *obj, struct buf *t,
			struct buf *nv, int depth)
{
	cJSON *attr = obj->child;

	if (depth > 32)
		return -EIO;
	while (attr) {
		cJSON *next = attr->next; /* attr may be deleted */
		char *end;
		unsigned long tag;
		int err;

		if (!attr->string || strlen(attr->string) != 8 || !cJSON_IsObject(attr))
			return -EIO;
		tag = strtoul(attr->string, &end, 16);
		if (*end)
			return -EIO;
		err = clean_attr(d, offset, obj, attr, (uint32_t)tag, t, nv, depth);
		if (err < 0)
			return err;
		attr = next;
	}
	return 0;
}

/* The text of a top-level single-valued attribute, or NULL. */
static const char *top_string(const cJSON *obj, const char *key)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *v = a ? cJSON_GetObjectItemCaseSensitive(a, "Value") : NULL;
	const cJSON *first = cJSON_IsArray(v) ? v->child : NULL;

	return cJSON_IsString(first) ? first->valuestring : NULL;
}

static int add_text(cJSON *obj, const char *key, const char *vr, const char *text)
{
	cJSON *a = cJSON_CreateObject(), *arr = value_array(text, false);

	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (!a || !arr || !cJSON_AddStringToObject(a, "vr", vr) ||
	    !cJSON_AddItemToObject(a, "Value", arr)) {
		cJSON_Delete(a);
		cJSON_Delete(arr);
		return -ENOMEM;
	}
	if (!cJSON_AddItemToObject(obj, key, a)) {
		cJSON_Delete(a);
		return -ENOMEM;
	}
	return 0;
}

/* DeidentificationMethodCodeSequence, as deid_instance() writes it. */
static int add_codes(const struct deid *d, cJSON *obj)
{
	struct deid_code codes[DEID_CODES_MAX];
	size_t n = deid_method_codes(d, codes);
	cJSON *a = cJSON_CreateObject(), *items = cJSON_CreateArray();
	int err = 0;

	cJSON_DeleteItemFromObjectCaseSensitive(obj, "00120064");
	if (!a || !items || !cJSON_AddStringToObject(a, "vr", "SQ"))
		err = -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		cJSON *it = cJSON_CreateObject();

		if (!it || !cJSON_AddItemToArray(items, it)) {
			cJSON_Delete(it);
			err = -ENOMEM;
			break;
		}
		err = add_text(it, "00080100", "SH", codes[i].value);
		if (!err)
			err = add_text(it, "00080102", "SH", "DCM");
		if (!err)
			err = add_text(it, "00080104", "LO", codes[i].meaning);
	}
	if (!err && cJSON_AddItemToObject(a, "Value", items)) {
		items = NULL;
		if (cJSON_AddItemToObject(obj, "00120064", a))
			return 0;
	}
	cJSON_Delete(items);
	cJSON_Delete(a);
	return err ? err : -ENOMEM;
}

int deid_json(const struct deid *d, const char *in, size_t len, struct buf *out)
{
	cJSON *root = cJSON_ParseWithLength(in, len), *ds;
	struct buf t, nv;
	char *text = NULL;
	int err = 0;

	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -EIO;
	}
	buf_init(&t, (size_t)1 << 30);
	buf_init(&nv, (size_t)1 << 30);
	ds = root->child;
	while (ds) {
		cJSON *next = ds->next;
		const char *pid, *cls, *burned, *why;

		if (!cJSON_IsObject(ds)) {
			err = -EIO;
			goto out;
		}
		cls = top_string(ds, "00080016");
		burned = top_string(ds, "00280301");
		if ((cls && deid_class_withheld(cls, &why)) ||
		    (burned && strcmp(burned, "YES") == 0)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(root, ds));
			ds = next;
			continue;
		}
		pid = top_string(ds, "00100020");
		/* The offset is taken before the ID is replaced. */
		err = clean_object(d, deid_date_offset(d, pid ? pid : ""), ds, &t, &nv, 0);
		if (!err)
			err = add_text(ds, "00120062", "CS", "YES");
		if (!err)
			err = add_text(ds, "00120063", "LO", DEID_METHOD);
		if (!err)
			err = add_codes(d, ds);
		if (!err)
			err = add_text(ds, "00280303", "CS",
				       d->opts.retain_dates ? "MODIFIED" : "REMOVED");
		if (err)
			goto out;
		ds = next;
	}
	text = cJSON_PrintUnformatted(root);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	err = buf_add(out, text, strlen(text));
out:
	free(text);
	buf_release(&t);
	buf_release(&nv);
	cJSON_Delete(root);
	return err;
}
