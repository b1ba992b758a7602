/* libFuzzer harness: the Part-10 checks every blob passes before the cache keeps it
 * (core/part10.c: part10_inspect, part10_sop_uid, part10_check_complete, part10_meta_write).
 * A UID that comes out is a C string that fits its buffer, and an object that needs a meta
 * header is, with the header trolley writes in front of its data set, a sound Part-10 file
 * naming the same instance: what the sink stores must pass the sink's own check again. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/part10.h"

static void check_repaired(const uint8_t *data, size_t size, const struct part10_info *info)
{
	unsigned char meta[PART10_META_MAX];
	struct part10_info again;
	ssize_t m = part10_meta_write(meta, sizeof(meta), info->sop_class, info->sop_uid,
				      info->syntax, "FUZZ");
	size_t rest, len;
	unsigned char *whole;

	if (m < 0)
		return; /* a UID part10_inspect accepted but the writer does not: checked below */
	assert(info->ds_offset <= size);
	rest = size - info->ds_offset;
	len = (size_t)m + rest;
	whole = malloc(len);
	if (!whole)
		return;
	memcpy(whole, meta, (size_t)m);
	memcpy(whole + m, data + info->ds_offset, rest);
	/* The head alone decides, as in the sink: give it at most PART10_HEAD_MAX bytes. */
	if (part10_inspect(whole, len < PART10_HEAD_MAX ? len : PART10_HEAD_MAX, &again) == 0) {
		assert(!again.needs_meta);
		assert(strcmp(again.sop_uid, info->sop_uid) == 0);
		assert(again.ds_offset == (size_t)m);
	}
	free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uid[UID_MAX], why[128];
	struct part10_info info;

	if (part10_sop_uid(data, size, uid, sizeof(uid)) == 0)
		assert(strlen(uid) < sizeof(uid));
	if (part10_inspect(data, size, &info) == 0) {
		assert(strlen(info.sop_uid) > 0 && strlen(info.sop_uid) < UID_MAX);
		assert(info.ds_offset <= size);
		if (info.needs_meta)
			check_repaired(data, size, &info);
	}
	(void)part10_check_complete(data, size, why, sizeof(why));
	return 0;
}
