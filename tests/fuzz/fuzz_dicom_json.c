/* libFuzzer harness: DICOM JSON to attribute sets (protocols/dicom_json.c), as QIDO-RS and
 * WADO-RS metadata answers reach it. Every value that comes out must be a C string, and the
 * sets must survive the cache's pack/unpack round trip (core/attrs.c) unchanged. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/attrs.h"
#include "protocols/dicom_json.h"

static void round_trip(const struct attrset_list *list)
{
	struct attrset_list back;
	unsigned char *packed;
	size_t len;

	if (attrset_list_pack(list, &packed, &len) < 0)
		return;
	attrset_list_init(&back);
	assert(attrset_list_unpack(packed, len, &back) == 0);
	assert(back.n == list->n);
	for (size_t i = 0; i < back.n; i++) {
		assert(back.v[i].n == list->v[i].n);
		for (size_t j = 0; j < back.v[i].n; j++) {
			assert(back.v[i].v[j].tag == list->v[i].v[j].tag);
			assert(strcmp(back.v[i].v[j].value, list->v[i].v[j].value) == 0);
		}
	}
	attrset_list_release(&back);
	free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attrset_list list;

	attrset_list_init(&list);
	if (dicom_json_parse_list((const char *)data, size, &list) == 0) {
		for (size_t i = 0; i < list.n; i++)
			for (size_t j = 0; j < list.v[i].n; j++)
				(void)strlen(list.v[i].v[j].value);
		round_trip(&list);
	}
	attrset_list_release(&list);
	return 0;
}
