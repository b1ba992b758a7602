/* libFuzzer harness: the Part-10 checks every blob passes before the cache keeps it
 * (core/part10.c: part10_sop_uid, part10_check_complete). A UID that comes out is a C string
 * that fits its buffer. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/part10.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char uid[SOP_UID_MAX], why[128];

	if (part10_sop_uid(data, size, uid, sizeof(uid)) == 0)
		assert(strlen(uid) < sizeof(uid));
	(void)part10_check_complete(data, size, why, sizeof(why));
	return 0;
}
