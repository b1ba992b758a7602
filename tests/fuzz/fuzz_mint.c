/* libFuzzer harness: MINT studySearchResults documents (protocols/mint.c's mint_parse), at the
 * level the first byte chooses. */
#include <stdint.h>
#include <string.h>

#include "core/attrs.h"
#include "protocols/mint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attrset_list list;

	if (size < 1)
		return 0;
	attrset_list_init(&list);
	if (mint_parse((const char *)data + 1, size - 1, (enum mint_level)(data[0] % 3), &list) ==
	    0)
		for (size_t i = 0; i < list.n; i++)
			for (size_t j = 0; j < list.v[i].n; j++)
				(void)strlen(list.v[i].v[j].value);
	attrset_list_release(&list);
	return 0;
}
