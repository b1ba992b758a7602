/* libFuzzer harness: the de-identifier's readers of what an archive sends (deid/instance.c's
 * Part-10 walker in every transfer syntax, deid/json.c's DICOM JSON). Whatever comes in is
 * refused, withheld, or made into an object that is whole (core/part10.c's own check) and
 * that deid reads again as valid; nothing is ever read past the input (ASan). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/part10.h"
#include "deid/deid.h"

static struct deid *deid_for(bool options)
{
	static struct deid *plain, *all;
	struct deid **d = options ? &all : &plain;

	if (!*d) {
		struct deid_options o = {true, true, true, true, true};
		struct deid_key *k;

		if (deid_key_from_bytes("fuzz-key-fuzz-key-fuzz-key-fuzz-key", 35, &k) != 0)
			abort();
		if (deid_new(k, options ? &o : NULL, d) != 0)
			abort();
		deid_key_free(k);
	}
	return *d;
}

/* A UID handed by deid_instance_uids(): a UID, and its replacement one of ours. */
static int check_uid(void *ctx, const char *old_uid, const char *new_uid)
{
	(void)ctx;
	assert(old_uid[0] && strlen(old_uid) <= 64);
	assert(strncmp(new_uid, "2.25.", 5) == 0 && strlen(new_uid) < DEID_UID_MAX);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct deid *d = deid_for(size && data[0] & 1);
	unsigned char *copy = malloc(size ? size : 1);
	struct buf out, again;
	char why[128];
	int r;

	if (!copy)
		return 0;
	/* An exact-size copy: a read past the end is a heap overflow ASan sees. */
	memcpy(copy, data, size);
	buf_init(&out, 1u << 26);
	r = deid_instance(d, copy, size, &out, NULL);
	assert(r == 0 || r == DEID_WITHHELD || r == -EIO || r == -E2BIG || r == -ENOMEM);
	if (r == 0) {
		assert(part10_check_complete((unsigned char *)out.data, out.len, why,
					     sizeof(why)) == 0);
		buf_init(&again, 1u << 27);
		r = deid_instance(d, out.data, out.len, &again, NULL);
		assert(r == 0 || r == DEID_WITHHELD || r == -E2BIG || r == -ENOMEM);
		buf_release(&again);
	} else {
		assert(out.len == 0);
	}
	buf_release(&out);
	/* The custodian's walk (--deid-map) reads the same bytes. */
	r = deid_instance_uids(d, copy, size, check_uid, NULL, NULL);
	assert(r == 0 || r == DEID_WITHHELD || r == -EIO || r == -ENOMEM);
	buf_init(&out, 1u << 26);
	r = deid_json(d, (const char *)copy, size, &out);
	assert(r == 0 || r == -EIO || r == -E2BIG || r == -ENOMEM);
	buf_release(&out);
	free(copy);
	return 0;
}
