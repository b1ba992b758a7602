/* libFuzzer harness: /search folder names (fs/search.c), as a user or a program types them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/query.h"
#include "fs/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1), why[256];
	struct query q;

	if (!name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0'; /* a folder name is a C string: it stops at the first NUL */
	if (search_parse(name, &q, why, sizeof(why)) == 0)
		query_release(&q);
	else
		(void)strlen(why);
	free(name);
	return 0;
}
