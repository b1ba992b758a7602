/* libFuzzer harness: a RAD-69 reply as protocols/rad69.c reads it (the SOAP part, its
 * DocumentResponse/RegistryError walk, the cid map, each document checked by its Part-10
 * header). rad69.c is included so its static reply path is driven without a network: the
 * input is the Content-Type up to a '\n', then the body, fed in pieces the first byte sizes.
 * The sink checks that begin/write/end come in order. */
#include "protocols/rad69.c"

#include <assert.h>

struct fuzz_sink {
	bool open;
};

static int fs_begin(void *ctx)
{
	struct fuzz_sink *s = ctx;

	s->open = true;
	return 0;
}

static int fs_write(void *ctx, const void *data, size_t len)
{
	struct fuzz_sink *s = ctx;

	(void)data;
	(void)len;
	assert(s->open);
	return 0;
}

static int fs_end(void *ctx)
{
	struct fuzz_sink *s = ctx;

	assert(s->open);
	s->open = false;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sink_ops ops = {fs_begin, fs_write, fs_end, NULL};
	struct rad69 r = {.url = (char *)"http://fuzz/rad69"};
	struct fuzz_sink fs = {0};
	struct sink sink = {&ops, &fs};
	struct rad69_call c = {.r = &r, .sink = &sink, .url = "http://fuzz/rad69"};
	struct http_response resp = {.status = 200, .url = "http://fuzz/rad69"};
	char ctype[256] = "";
	const uint8_t *nl;
	size_t step;
	int err = 0;

	if (size < 1)
		return 0;
	step = data[0];
	data++, size--;
	nl = memchr(data, '\n', size < sizeof(ctype) ? size : sizeof(ctype));
	if (!nl)
		return 0;
	memcpy(ctype, data, (size_t)(nl - data));
	ctype[nl - data] = '\0';
	if (strlen(ctype) != (size_t)(nl - data))
		return 0; /* a header value holds no NUL */
	resp.content_type = ctype;
	size -= (size_t)(nl + 1 - data);
	data = nl + 1;
	buf_init(&c.soap, RAD69_SOAP_MAX);
	for (size_t off = 0; off < size && !err;) {
		size_t n = step ? step : size;

		if (n > size - off)
			n = size - off;
		err = r_body(&c, &resp, data + off, n);
		off += n;
	}
	/* The tail of rad69_fetch(): finish the body, read the SOAP part, and free. */
	if (!err && c.mp && mp_parser_finish(c.mp) == 0 && c.part <= 1)
		parse_soap(&c);
	else if (!err && !c.mp)
		parse_soap(&c);
	(void)is_missing(&c, "1.2.3");
	mp_parser_free(c.mp);
	map_release(&c.map);
	for (size_t i = 0; i < c.nmissing; i++)
		free(c.missing[i]);
	free(c.missing);
	buf_release(&c.soap);
	return 0;
}
