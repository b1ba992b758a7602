/* libFuzzer harness: the streaming multipart/related parser (protocols/multipart.c). Input:
 * one byte choosing how the body is cut into feeds (0: whole), the boundary up to a '\n'
 * (at most 70 bytes; else "fuzzb"), then the body. Asserts the callback order: data and end
 * only inside a part, and as many ends as mp_parser_parts() counts. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "protocols/multipart.h"

struct state {
	bool in_part;
	size_t ends;
	unsigned char sum; /* every body byte is read, so ASan sees a read out of bounds */
};

static int on_begin(void *ctx, const char *type, const char *id)
{
	struct state *s = ctx;

	assert(type && id);
	(void)strlen(type);
	(void)strlen(id);
	s->in_part = true;
	return 0;
}

static int on_data(void *ctx, const void *data, size_t len)
{
	struct state *s = ctx;

	assert(s->in_part);
	for (size_t i = 0; i < len; i++)
		s->sum ^= ((const unsigned char *)data)[i];
	return 0;
}

static int on_end(void *ctx)
{
	struct state *s = ctx;

	assert(s->in_part);
	s->in_part = false;
	s->ends++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mp_callbacks cb = {on_begin, on_data, on_end};
	struct state s = {0};
	char boundary[71] = "fuzzb";
	const uint8_t *nl;
	struct mp_parser *p;
	size_t step;
	int err = 0;

	if (size < 1)
		return 0;
	step = data[0];
	data++, size--;
	nl = memchr(data, '\n', size < 71 ? size : 71);
	if (nl && nl > data && !memchr(data, '\r', (size_t)(nl - data)) &&
	    !memchr(data, '\0', (size_t)(nl - data))) {
		memcpy(boundary, data, (size_t)(nl - data));
		boundary[nl - data] = '\0';
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	p = mp_parser_new(boundary, &cb, &s);
	if (!p)
		return 0;
	for (size_t off = 0; off < size && !err;) {
		size_t n = step ? step : size;

		if (n > size - off)
			n = size - off;
		err = mp_parser_feed(p, data + off, n);
		off += n;
	}
	if (!err)
		(void)mp_parser_finish(p);
	assert(mp_parser_parts(p) == s.ends);
	mp_parser_free(p);
	return 0;
}
