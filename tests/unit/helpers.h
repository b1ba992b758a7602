/* What several unit tests share: reading a whole file, and finding the shared fixtures. */
#ifndef TROLLEY_TEST_HELPERS_H
#define TROLLEY_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

/** The bytes of @path (caller frees) and their number in @len, or NULL if it cannot be read. */
static inline char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/** A file of ../shared/fixtures/dicomtrolley ($TROLLEY_FIXTURES/dicomtrolley), as above. */
static inline char *test_read_fixture(const char *name, size_t *len)
{
	const char *root = getenv("TROLLEY_FIXTURES");
	char path[4096];

	snprintf(path, sizeof(path), "%s/dicomtrolley/%s", root ? root : "../shared/fixtures",
		 name);
	return test_read_file(path, len);
}

#endif
