/* The streaming multipart parser: exact part bodies whatever the feed sizes and split points, the
 * real WADO-RS and RAD-69 fixtures, near-delimiters in bodies, memory held back while streaming,
 * and every way a body can be malformed or cut short; then boundaries from Content-Type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/helpers.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocols/multipart.h"

#define MAX_PARTS 16

struct part {
	char *body;
	size_t len;
	char type[256], id[256];
};

/* What the callbacks saw, and which of them should fail. */
struct collect {
	struct part part[MAX_PARTS];
	int begun, ended;
	size_t delivered; /* body bytes over all parts */
	size_t data_calls;
	int fail_begin; /* 1-based part whose part_begin fails, 0 for none */
	int fail_data;	/* 1-based part whose first part_data fails */
	int fail_end;	/* 1-based part whose part_end fails */
	int fail_err;	/* what the failing callback returns */
	bool failed;	/* a callback has returned an error */
	int calls_after_failure;
};

static int c_begin(void *ctx, const char *type, const char *id)
{
	struct collect *c = ctx;
	struct part *p;

	if (c->failed)
		c->calls_after_failure++;
	assert_int_equal(c->begun, c->ended); /* parts never nest or overlap */
	assert_true(c->begun < MAX_PARTS);
	if (c->fail_begin == c->begun + 1) {
		c->failed = true;
		return c->fail_err;
	}
	p = &c->part[c->begun++];
	assert_true(strlen(type) < sizeof(p->type));
	assert_true(strlen(id) < sizeof(p->id));
	strcpy(p->type, type);
	strcpy(p->id, id);
	return 0;
}

static int c_data(void *ctx, const void *data, size_t len)
{
	struct collect *c = ctx;
	struct part *p;

	if (c->failed)
		c->calls_after_failure++;
	assert_int_equal(c->begun, c->ended + 1); /* only inside a part */
	assert_true(len > 0);
	p = &c->part[c->begun - 1];
	if (c->fail_data == c->begun) {
		c->failed = true;
		return c->fail_err;
	}
	p->body = realloc(p->body, p->len + len);
	assert_non_null(p->body);
	memcpy(p->body + p->len, data, len);
	p->len += len;
	c->delivered += len;
	c->data_calls++;
	return 0;
}

static int c_end(void *ctx)
{
	struct collect *c = ctx;

	if (c->failed)
		c->calls_after_failure++;
	assert_int_equal(c->begun, c->ended + 1);
	if (c->fail_end == c->begun) {
		c->failed = true;
		return c->fail_err;
	}
	c->ended++;
	return 0;
}

static const struct mp_callbacks cb = {c_begin, c_data, c_end};

static void collect_free(struct collect *c)
{
	for (int i = 0; i < MAX_PARTS; i++)
		free(c->part[i].body);
	memset(c, 0, sizeof(*c));
}

/*
 * Feed @len bytes in pieces ending at the @ncuts offsets of @cuts (ascending), then the rest.
 * @return the first feed error, else finish()'s result. Checks that the parser's count of parts
 * matches the part_end calls.
 */
static int parse_cuts(const char *boundary, const void *data, size_t len, const size_t *cuts,
		      size_t ncuts, struct collect *c)
{
	struct mp_parser *p = mp_parser_new(boundary, &cb, c);
	const char *d = data;
	size_t off = 0;
	int err = 0;

	assert_non_null(p);
	for (size_t i = 0; i <= ncuts && !err; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		assert_true(end >= off && end <= len);
		err = mp_parser_feed(p, d + off, end - off);
		off = end;
	}
	if (!err)
		err = mp_parser_finish(p);
	assert_int_equal(mp_parser_parts(p), (size_t)c->ended);
	mp_parser_free(p);
	return err;
}

/* Feed @len bytes @step at a time. */
static int parse_step(const char *boundary, const void *data, size_t len, size_t step,
		      struct collect *c)
{
	struct mp_parser *p = mp_parser_new(boundary, &cb, c);
	const char *d = data;
	int err = 0;

	assert_non_null(p);
	for (size_t off = 0; off < len && !err; off += step)
		err = mp_parser_feed(p, d + off, len - off < step ? len - off : step);
	if (!err)
		err = mp_parser_finish(p);
	assert_int_equal(mp_parser_parts(p), (size_t)c->ended);
	mp_parser_free(p);
	return err;
}

struct want {
	const char *type, *id;
	const char *body;
	size_t len;
};

#define WANT(t, i, b)                                                                              \
	{                                                                                          \
		t, i, b, sizeof(b) - 1                                                             \
	}

static void check_parts(const struct collect *c, const struct want *w, int n)
{
	assert_int_equal(c->begun, n);
	assert_int_equal(c->ended, n);
	for (int i = 0; i < n; i++) {
		assert_string_equal(c->part[i].type, w[i].type);
		assert_string_equal(c->part[i].id, w[i].id);
		assert_int_equal(c->part[i].len, w[i].len);
		if (w[i].len)
			assert_memory_equal(c->part[i].body, w[i].body, w[i].len);
	}
}

/* memmem() without _GNU_SOURCE. */
static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* Two parts between a preamble and an epilogue; header names in any case, values padded. */
static const char two_parts[] = "preamble to ignore\r\n"
				"--B0und\r\n"
				"Content-Type: application/dicom\r\n"
				"Content-ID: <one@example>\r\n"
				"\r\n"
				"first\r\nbody\r\n"
				"--B0und\r\n"
				"content-type:   text/plain  \r\n"
				"X-Other: x\r\n"
				"\r\n"
				"second\r\n\r\n"
				"--B0und--\r\n"
				"epilogue to ignore\r\n";

static const struct want two_parts_want[] = {
	WANT("application/dicom", "<one@example>", "first\r\nbody"),
	WANT("text/plain", "", "second\r\n"),
};

static void test_two_parts_bodies_exact_and_crlf_before_delimiter_not_body(void **state)
{
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse_step("B0und", two_parts, sizeof(two_parts) - 1, 1 << 20, &c), 0);
	check_parts(&c, two_parts_want, 2);
	collect_free(&c);
}

static void test_two_parts_same_when_fed_one_byte_at_a_time(void **state)
{
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse_step("B0und", two_parts, sizeof(two_parts) - 1, 1, &c), 0);
	check_parts(&c, two_parts_want, 2);
	collect_free(&c);
}

static void test_two_parts_same_at_every_feed_size(void **state)
{
	(void)state;
	for (size_t step = 1; step <= sizeof(two_parts); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("B0und", two_parts, sizeof(two_parts) - 1, step, &c),
				 0);
		check_parts(&c, two_parts_want, 2);
		collect_free(&c);
	}
}

static void test_two_parts_same_at_every_pair_of_split_points(void **state)
{
	const size_t len = sizeof(two_parts) - 1;

	(void)state;
	/* Three feeds, cut anywhere: every place a delimiter or header line can be split. */
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			size_t cuts[2] = {i, j};
			struct collect c = {0};

			assert_int_equal(parse_cuts("B0und", two_parts, len, cuts, 2, &c), 0);
			check_parts(&c, two_parts_want, 2);
			collect_free(&c);
		}
	}
}

static void test_empty_feeds_change_nothing(void **state)
{
	struct collect c = {0};
	struct mp_parser *p = mp_parser_new("B0und", &cb, &c);
	const size_t len = sizeof(two_parts) - 1;

	(void)state;
	for (size_t off = 0; off < len; off++) {
		assert_int_equal(mp_parser_feed(p, two_parts + off, 0), 0);
		assert_int_equal(mp_parser_feed(p, two_parts + off, 1), 0);
	}
	assert_int_equal(mp_parser_finish(p), 0);
	check_parts(&c, two_parts_want, 2);
	mp_parser_free(p);
	collect_free(&c);
}

/* The path of a shared fixture: $TROLLEY_FIXTURES/dicomtrolley/@name. */
static void fixture_path(const char *name, char *path, size_t n)
{
	const char *root = getenv("TROLLEY_FIXTURES");

	snprintf(path, n, "%s/dicomtrolley/%s", root ? root : "../shared/fixtures", name);
}

/* The bytes of a fixture (caller frees); skips the test only if the file is not there. */
static char *read_fixture(const char *name, size_t *len)
{
	char path[4096], *b;

	fixture_path(name, path, sizeof(path));
	if (access(path, F_OK) != 0)
		skip();
	b = test_read_file(path, len);
	assert_non_null(b);
	return b;
}

/* The boundary named by a fixture's .content-type.txt. */
static void fixture_boundary(const char *stem, char *boundary, size_t n)
{
	char name[256], *ct;
	size_t len = 0;

	snprintf(name, sizeof(name), "%s.content-type.txt", stem);
	ct = read_fixture(name, &len);
	ct[strcspn(ct, "\r\n")] = '\0';
	assert_true(strncmp(ct, "multipart/form-data;", 20) == 0);
	assert_int_equal(mp_boundary_from_content_type(ct, boundary, n), 0);
	free(ct);
}

/*
 * A part's body is exactly the bytes between its header block's empty line and the CRLF of the
 * next delimiter: find it in the file and look at what surrounds it.
 */
static void check_body_is_slice_of(const char *file, size_t flen, const char *boundary,
				   const struct part *p)
{
	char delim[128];
	const char *at = find(file, flen, p->body, p->len);
	size_t off, dl;

	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	assert_non_null(at);
	off = (size_t)(at - file);
	assert_true(off >= 4);
	assert_memory_equal(at - 4, "\r\n\r\n", 4);
	assert_true(flen - off - p->len >= dl);
	assert_memory_equal(at + p->len, delim, dl);
}

/* A DICOM part is a whole Part-10 file: preamble, "DICM", and the patient we expect. */
static void check_dicom_part(const struct part *p, const char *patient, const char *sop)
{
	static const char zeros[128];
	char meta_sop[16];

	assert_string_equal(p->type, "application/dicom");
	assert_int_equal(p->len, 346);
	assert_memory_equal(p->body, zeros, 128);
	assert_memory_equal(p->body + 128, "DICM", 4);
	assert_non_null(find(p->body, p->len, patient, strlen(patient)));
	/* (0002,0003) UI, length 4: MediaStorageSOPInstanceUID, padded with NUL. */
	snprintf(meta_sop, sizeof(meta_sop), "%s", sop);
	assert_non_null(find(p->body, p->len, "\x02\x00\x03\x00UI\x04\x00", 8));
	assert_memory_equal(find(p->body, p->len, "\x02\x00\x03\x00UI\x04\x00", 8) + 8, meta_sop,
			    4);
	/* The file ends with its last element (0020,000E) "4.5\0", not with the CRLF. */
	assert_memory_equal(p->body + p->len - 4, "4.5\0", 4);
}

static void check_wado_fixture(const char *file, size_t len, const char *boundary,
			       struct collect *c)
{
	assert_int_equal(c->ended, 2);
	check_dicom_part(&c->part[0], "Patient_1", "6.1");
	check_dicom_part(&c->part[1], "Patient_2", "6.2");
	for (int i = 0; i < 2; i++)
		check_body_is_slice_of(file, len, boundary, &c->part[i]);
}

static void test_wado_rs_fixture_has_two_whole_dicom_parts(void **state)
{
	static const char stem[] = "wadors_multipart_response_2_instances";
	char boundary[128];
	size_t len = 0;
	char *file;

	(void)state;
	file = read_fixture("wadors_multipart_response_2_instances.bin", &len);
	fixture_boundary(stem, boundary, sizeof(boundary));
	assert_string_equal(boundary, "d987e71a41b041b497278f042f2c2024");
	for (size_t step = 1; step <= len; step = step < 16 ? step + 1 : step * 2) {
		struct collect c = {0};

		assert_int_equal(parse_step(boundary, file, len, step, &c), 0);
		check_wado_fixture(file, len, boundary, &c);
		collect_free(&c);
	}
	for (size_t k = 0; k <= len; k++) {
		struct collect c = {0};

		assert_int_equal(parse_cuts(boundary, file, len, &k, 1, &c), 0);
		check_wado_fixture(file, len, boundary, &c);
		collect_free(&c);
	}
	free(file);
}

static void check_rad69_fixture(const char *soap, size_t soap_len, struct collect *c)
{
	assert_int_equal(c->ended, 4);
	/* The SOAP part has a Content-Disposition and no Content-Type. */
	assert_string_equal(c->part[0].type, "");
	assert_int_equal(c->part[0].len, soap_len);
	assert_memory_equal(c->part[0].body, soap, soap_len);
	check_dicom_part(&c->part[1], "Patient_0", "6.0");
	check_dicom_part(&c->part[2], "Patient_1", "6.1");
	check_dicom_part(&c->part[3], "Patient_2", "6.2");
}

static void test_rad69_fixture_has_soap_part_then_three_dicom_parts(void **state)
{
	static const char stem[] = "rad69_multipart_response_3_instances";
	char boundary[128], *file, *soap;
	size_t len = 0, soap_len = 0;

	(void)state;
	file = read_fixture("rad69_multipart_response_3_instances.bin", &len);
	/* The fixture's first part is this file, byte for byte. */
	soap = read_fixture("rad69_response_soap_part.xml", &soap_len);
	fixture_boundary(stem, boundary, sizeof(boundary));
	for (size_t step = 1; step <= len; step = step < 16 ? step + 1 : step * 2) {
		struct collect c = {0};

		assert_int_equal(parse_step(boundary, file, len, step, &c), 0);
		check_rad69_fixture(soap, soap_len, &c);
		for (int i = 0; i < 4; i++)
			check_body_is_slice_of(file, len, boundary, &c.part[i]);
		collect_free(&c);
	}
	for (size_t k = 0; k <= len; k++) {
		struct collect c = {0};

		assert_int_equal(parse_cuts(boundary, file, len, &k, 1, &c), 0);
		check_rad69_fixture(soap, soap_len, &c);
		collect_free(&c);
	}
	free(soap);
	free(file);
}

static void test_near_delimiters_in_body_are_delivered_as_data(void **state)
{
	/* Everything that starts like the delimiter and is not one: a cut boundary, a boundary
	 * after a bare LF or without a line break, CRs before CRLF, a dash alone. */
	static const char want[] = "a\r\n--boundar\r\n--bound\r\r\n--bo\n--boundary\r\n-"
				   "x--boundary\r\n\r\n--\r\r\r\n--boundar";
	static const char body[] = "--boundary\r\n\r\n"
				   "a\r\n--boundar\r\n--bound\r\r\n--bo\n--boundary\r\n-"
				   "x--boundary\r\n\r\n--\r\r\r\n--boundar"
				   "\r\n--boundary--";
	const size_t len = sizeof(body) - 1;

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j += 3) {
			size_t cuts[2] = {i, j};
			struct collect c = {0};

			assert_int_equal(parse_cuts("boundary", body, len, cuts, 2, &c), 0);
			assert_int_equal(c.ended, 1);
			assert_int_equal(c.part[0].len, sizeof(want) - 1);
			assert_memory_equal(c.part[0].body, want, sizeof(want) - 1);
			collect_free(&c);
		}
	}
}

static void test_shorter_boundary_than_the_real_one_is_data(void **state)
{
	/* The parser's boundary is "boundaryX": "--boundary" alone, or followed by another
	 * character, is body. */
	static const struct want w[] = {WANT("", "", "1\r\n--boundary\r\n2\r\n--boundaryY--\r\n3")};
	static const char body[] = "--boundaryX\r\n\r\n"
				   "1\r\n--boundary\r\n2\r\n--boundaryY--\r\n3"
				   "\r\n--boundaryX--";

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("boundaryX", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 1);
		collect_free(&c);
	}
}

static void test_boundary_that_goes_on_is_eproto_and_ends_no_part(void **state)
{
	/* RFC 2046 §5.1.1: the boundary must not appear in a body. After "--boundary" only "--",
	 * padding or a line break may follow. */
	static const char body[] =
		"--boundary\r\n\r\npart\r\n--boundaryX\r\n\r\nmore\r\n--boundary--";

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("boundary", body, sizeof(body) - 1, step, &c), -EPROTO);
		assert_int_equal(c.begun, 1);
		assert_int_equal(c.ended, 0);
		collect_free(&c);
	}
}

static void test_quoted_boundary_with_space_and_colon(void **state)
{
	static const struct want w[] = {WANT("application/dicom", "", "x y:z")};
	static const char body[] = "--a b:c\r\nContent-Type: application/dicom\r\n\r\n"
				   "x y:z\r\n--a b:c--\r\n";
	char boundary[80];
	struct collect c = {0};

	(void)state;
	assert_int_equal(
		mp_boundary_from_content_type(
			"multipart/related; type=\"application/dicom\"; boundary=\"a b:c\"",
			boundary, sizeof(boundary)),
		0);
	assert_string_equal(boundary, "a b:c");
	assert_int_equal(parse_step(boundary, body, sizeof(body) - 1, 1, &c), 0);
	check_parts(&c, w, 1);
	collect_free(&c);
}

static void test_preamble_is_ignored_even_when_it_looks_like_a_delimiter(void **state)
{
	static const struct want w[] = {WANT("text/plain", "", "body")};
	/* "--B" that is not at the very start nor after CRLF, and cut delimiters, are preamble. */
	static const char body[] = "-x--B\r\n--\r\n-B\r\n--\nB\r\r\n\r\n--"
				   "\r\n--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n--B--";

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("B", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 1);
		collect_free(&c);
	}
}

static void test_first_delimiter_at_start_or_after_crlf(void **state)
{
	static const struct want w[] = {WANT("", "", "1")};
	static const char *const bodies[] = {
		"--B\r\n\r\n1\r\n--B--",      /* at the very start */
		"\r\n--B\r\n\r\n1\r\n--B--",  /* after CRLF, empty preamble */
		"-\r\n--B\r\n\r\n1\r\n--B--", /* after a preamble that began like it */
		"--\r\n--B\r\n\r\n1\r\n--B--",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		for (size_t step = 1; step <= strlen(bodies[i]); step++) {
			struct collect c = {0};

			assert_int_equal(parse_step("B", bodies[i], strlen(bodies[i]), step, &c),
					 0);
			check_parts(&c, w, 1);
			collect_free(&c);
		}
	}
}

static void test_transport_padding_after_delimiters_is_skipped(void **state)
{
	static const struct want w[] = {WANT("a/b", "", "1"), WANT("", "", "2")};
	static const char body[] = "--B \t \r\nContent-Type: a/b\r\n\r\n1"
				   "\r\n--B\t\r\n\r\n2"
				   "\r\n--B--  \t\r\n";
	static const char *const bad[] = {"--B  x\r\n\r\n1\r\n--B--", "--B\rx\r\n\r\n1\r\n--B--",
					  "--B-x\r\n\r\n1\r\n--B--"};
	struct collect c = {0};

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		assert_int_equal(parse_step("B", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 2);
		collect_free(&c);
	}
	/* Padding then anything but the line break is not a delimiter line. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_step("B", bad[i], strlen(bad[i]), 1, &c), -EPROTO);
		assert_int_equal(c.begun, 0);
		collect_free(&c);
	}
}

static void test_epilogue_is_ignored_even_when_it_holds_parts(void **state)
{
	static const struct want w[] = {WANT("", "", "only")};
	static const char body[] = "--B\r\n\r\nonly\r\n--B--"
				   "\r\n--B\r\nContent-Type: x/y\r\n\r\nfake\r\n--B--\r\n\x01\xff";
	struct collect c = {0};
	struct mp_parser *p;

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		assert_int_equal(parse_step("B", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 1);
		collect_free(&c);
	}
	/* Feeds after the close delimiter, however broken, are accepted and dropped. */
	p = mp_parser_new("B", &cb, &c);
	assert_int_equal(mp_parser_feed(p, body, strlen("--B\r\n\r\nonly\r\n--B--")), 0);
	assert_int_equal(mp_parser_feed(p, "garbage\r\n--B\r\nno colon\r\n\r\n", 26), 0);
	assert_int_equal(mp_parser_finish(p), 0);
	assert_int_equal(mp_parser_parts(p), 1);
	check_parts(&c, w, 1);
	mp_parser_free(p);
	collect_free(&c);
}

static void test_bare_lf_header_lines_are_accepted(void **state)
{
	static const struct want w[] = {
		WANT("application/dicom", "<a>", "DATA\n\n"),
		WANT("text/plain", "", "x"),
	};
	static const char body[] = "--q\nContent-Type: application/dicom\nContent-ID: <a>\n\n"
				   "DATA\n\n"
				   "\r\n--q\r\nContent-Type: text/plain\n\r\nx\r\n--q--\r\n";

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("q", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 2);
		collect_free(&c);
	}
}

static void test_folded_header_is_unfolded_and_first_of_a_kind_wins(void **state)
{
	static const struct want w[] = {
		WANT("application/xop+xml; charset=utf-8;\ttype=\"application/soap+xml\"",
		     "<root.message@cxf.apache.org>", "<soap/>"),
	};
	static const char body[] = "--MIMEBoundary\r\n"
				   "CONTENT-TYPE : application/xop+xml; charset=utf-8;\r\n"
				   "\ttype=\"application/soap+xml\"\r\n"
				   "Content-Transfer-Encoding: binary\r\n"
				   "Content-Id:<root.message@cxf.apache.org>\r\n"
				   "Content-Type: text/plain\r\n"
				   "\r\n<soap/>\r\n--MIMEBoundary--\r\n";
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse_step("MIMEBoundary", body, sizeof(body) - 1, 7, &c), 0);
	check_parts(&c, w, 1);
	collect_free(&c);
}

static void test_header_block_that_is_not_headers_is_eproto(void **state)
{
	static const char *const bodies[] = {
		"--B\r\nno colon here\r\n\r\nx\r\n--B--",
		"--B\r\n: empty name\r\n\r\nx\r\n--B--",
		"--B\r\n folded first line\r\n\r\nx\r\n--B--",
		"--B\r\nBad Name: x\r\n\r\nx\r\n--B--",
		"--B\r\n\x01\x02\x7f: binary\r\n\r\nx\r\n--B--",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct collect c = {0};

		assert_int_equal(parse_step("B", bodies[i], strlen(bodies[i]), 3, &c), -EPROTO);
		assert_int_equal(c.begun, 0);
		collect_free(&c);
	}
	/* A NUL in a header value: values are handed on as C strings. */
	{
		static const char nul[] = "--B\r\nContent-Type: a\0b\r\n\r\nx\r\n--B--";
		struct collect c = {0};

		assert_int_equal(parse_step("B", nul, sizeof(nul) - 1, 64, &c), -EPROTO);
		assert_int_equal(c.begun, 0);
	}
}

static void test_empty_parts_and_parts_without_headers(void **state)
{
	static const struct want w[] = {WANT("", "", ""), WANT("a/b", "", ""),
					WANT("", "", "\r\n")};
	static const char body[] = "--x\r\n\r\n"
				   "\r\n--x\r\nContent-Type: a/b\r\n\r\n"
				   "\r\n--x\r\n\r\n\r\n"
				   "\r\n--x--";

	(void)state;
	for (size_t step = 1; step < sizeof(body); step++) {
		struct collect c = {0};

		assert_int_equal(parse_step("x", body, sizeof(body) - 1, step, &c), 0);
		check_parts(&c, w, 3);
		collect_free(&c);
	}
	/* A close delimiter alone: no parts, and no error (the caller decides on zero parts). */
	{
		struct collect c = {0};

		assert_int_equal(parse_step("x", "--x--", 5, 1, &c), 0);
		assert_int_equal(c.begun, 0);
	}
}

static void test_truncated_body_is_eproto_without_part_end(void **state)
{
	static const struct {
		const char *body;
		int begun, ended;
	} cut[] = {
		{"", 0, 0},
		{"no delimiter at all", 0, 0},
		{"--B0un", 0, 0},			    /* inside the first delimiter */
		{"--B0und", 0, 0},			    /* before its line break */
		{"--B0und\r", 0, 0},			    /* inside its line break */
		{"--B0und\r\nContent-Type: app", 0, 0},	    /* inside the headers */
		{"--B0und\r\nContent-Type: a/b\r\n", 0, 0}, /* before the empty line */
		{"--B0und\r\n\r\nhalf a bo", 1, 0},	    /* inside a body */
		{"--B0und\r\n\r\nbody\r\n--B0", 1, 0},	    /* inside the next delimiter */
		{"--B0und\r\n\r\nbody\r\n--B0und", 1, 0},   /* before its line break */
		{"--B0und\r\n\r\nbody\r\n--B0und-", 1, 0},  /* half a close delimiter */
		{"--B0und\r\n\r\nwhole\r\n--B0und\r\n\r\nsecond", 2, 1}, /* a second body */
		{"--B0und\r\n\r\nwhole\r\n--B0und\r\n", 1, 1},		 /* no second part */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		for (size_t step = 1; step <= 3; step++) {
			struct collect c = {0};

			assert_int_equal(
				parse_step("B0und", cut[i].body, strlen(cut[i].body), step, &c),
				-EPROTO);
			assert_int_equal(c.begun, cut[i].begun);
			assert_int_equal(c.ended, cut[i].ended);
			collect_free(&c);
		}
	}
}

static void test_every_cut_of_a_body_before_its_close_is_eproto(void **state)
{
	const size_t len = sizeof(two_parts) - 1;
	const size_t closed = (size_t)(strstr(two_parts, "--B0und--") - two_parts) + 9;

	(void)state;
	for (size_t k = 0; k < len; k++) {
		struct collect c = {0};

		assert_int_equal(parse_step("B0und", two_parts, k, 5, &c),
				 k < closed ? -EPROTO : 0);
		assert_true(c.begun - c.ended <= 1);
		/* A part ends only when the line of the delimiter after it is whole. */
		if (k < closed)
			assert_true(c.ended < 2);
		for (int i = 0; i < c.ended; i++) {
			assert_int_equal(c.part[i].len, two_parts_want[i].len);
			assert_memory_equal(c.part[i].body, two_parts_want[i].body,
					    two_parts_want[i].len);
		}
		collect_free(&c);
	}
}

/* A body whose first part has a header block of @hlen bytes in all, empty line included. */
static char *body_with_headers(size_t hlen, size_t line, size_t *len)
{
	static const char tail[] = "x\r\n--h--";
	char *b = malloc(5 + hlen + sizeof(tail));
	size_t off = 5, left = hlen - 2;

	assert_non_null(b);
	memcpy(b, "--h\r\n", 5);
	/* Lines "X-A: aaa...\r\n" of at most @line bytes fill all but the final CRLF. */
	while (left) {
		size_t n = left < line ? left : line;

		if (left - n > 0 && left - n < 7)
			n = left - 7; /* leave room for one more whole line */
		assert_true(n >= 7);
		memcpy(b + off, "X-A: ", 5);
		memset(b + off + 5, 'a', n - 7);
		memcpy(b + off + n - 2, "\r\n", 2);
		off += n;
		left -= n;
	}
	memcpy(b + off, "\r\n", 2);
	off += 2;
	memcpy(b + off, tail, sizeof(tail) - 1);
	*len = off + sizeof(tail) - 1;
	return b;
}

static void test_headers_over_16_kib_are_eproto(void **state)
{
	struct collect c = {0};
	size_t len;
	char *b;

	(void)state;
	/* Exactly 16 KiB of header block, in short lines and in one long line, is accepted. */
	b = body_with_headers(16384, 100, &len);
	assert_int_equal(parse_step("h", b, len, 1000, &c), 0);
	assert_int_equal(c.ended, 1);
	collect_free(&c);
	free(b);
	b = body_with_headers(16384, 16382, &len);
	assert_int_equal(parse_step("h", b, len, 1, &c), 0);
	assert_int_equal(c.ended, 1);
	collect_free(&c);
	free(b);
	/* One byte more is not. */
	b = body_with_headers(16385, 100, &len);
	assert_int_equal(parse_step("h", b, len, 1000, &c), -EPROTO);
	assert_int_equal(c.begun, 0);
	collect_free(&c);
	free(b);
	b = body_with_headers(16385, 16383, &len);
	assert_int_equal(parse_step("h", b, len, 1, &c), -EPROTO);
	assert_int_equal(c.begun, 0);
	collect_free(&c);
	free(b);
}

static void test_endless_header_line_fails_during_feed_not_at_finish(void **state)
{
	struct collect c = {0};
	struct mp_parser *p = mp_parser_new("h", &cb, &c);
	char chunk[1024];
	size_t fed = 0;
	int err = 0;

	(void)state;
	memset(chunk, 'a', sizeof(chunk));
	assert_int_equal(mp_parser_feed(p, "--h\r\nX-Long: ", 13), 0);
	/* Memory stays bounded: the feed that crosses 16 KiB fails, later ones too. */
	while (!err && fed < (1u << 20)) {
		err = mp_parser_feed(p, chunk, sizeof(chunk));
		fed += sizeof(chunk);
	}
	assert_int_equal(err, -EPROTO);
	assert_true(fed <= 16384 + sizeof(chunk));
	assert_int_equal(mp_parser_feed(p, "\r\n\r\n", 4), -EPROTO);
	assert_int_equal(mp_parser_finish(p), -EPROTO);
	assert_int_equal(c.begun, 0);
	mp_parser_free(p);
}

static void test_malformed_body_error_is_sticky(void **state)
{
	static const char bad[] = "--B\r\n\r\nx\r\n--B?";
	struct collect c = {0};
	struct mp_parser *p = mp_parser_new("B", &cb, &c);

	(void)state;
	assert_int_equal(mp_parser_feed(p, bad, sizeof(bad) - 1), -EPROTO);
	/* What follows would be a valid continuation; the parser does not resume. */
	assert_int_equal(mp_parser_feed(p, "\r\n\r\ny\r\n--B--", 12), -EPROTO);
	assert_int_equal(mp_parser_finish(p), -EPROTO);
	assert_int_equal(mp_parser_parts(p), 0);
	assert_int_equal(c.begun, 1);
	assert_int_equal(c.ended, 0);
	mp_parser_free(p);
	collect_free(&c);
}

/* Parse two_parts in one feed with one callback failing; check the error and that it sticks. */
static void check_callback_failure(struct collect *c, int err, size_t parts)
{
	struct mp_parser *p = mp_parser_new("B0und", &cb, c);

	c->fail_err = err;
	assert_int_equal(mp_parser_feed(p, two_parts, sizeof(two_parts) - 1), err);
	assert_true(c->failed);
	assert_int_equal(mp_parser_feed(p, "x", 1), err);
	assert_int_equal(mp_parser_finish(p), err);
	assert_int_equal(mp_parser_finish(p), err);
	assert_int_equal(mp_parser_parts(p), parts);
	assert_int_equal(c->calls_after_failure, 0);
	mp_parser_free(p);
	collect_free(c);
}

static void test_callback_error_is_returned_unchanged_and_sticky(void **state)
{
	struct collect c = {0};

	(void)state;
	c.fail_begin = 2;
	check_callback_failure(&c, -ECANCELED, 1);
	c.fail_data = 1;
	check_callback_failure(&c, -EIO, 0);
	c.fail_end = 2;
	check_callback_failure(&c, -ENOSPC, 1);
	/* Not mistaken for the parser's own limits. */
	c.fail_data = 2;
	check_callback_failure(&c, -E2BIG, 1);
	c.fail_begin = 1;
	check_callback_failure(&c, -EPROTO, 0);
}

static void test_body_bytes_leave_as_they_arrive(void **state)
{
	static const char head[] = "--boundary\r\n\r\n";
	const size_t held_max = strlen("\r\n--boundary") - 1;
	struct collect c = {0};
	struct mp_parser *p = mp_parser_new("boundary", &cb, &c);
	char chunk[4096];
	size_t fed = 0;
	uint32_t x = 12345;

	(void)state;
	assert_int_equal(mp_parser_feed(p, head, sizeof(head) - 1), 0);
	/* Nothing that cannot start a delimiter is kept back. */
	assert_int_equal(mp_parser_feed(p, "abc", 3), 0);
	assert_int_equal(c.delivered, 3);
	assert_int_equal(mp_parser_feed(p, "\r\n--bo", 6), 0);
	assert_int_equal(c.delivered, 3);
	assert_int_equal(mp_parser_feed(p, "x", 1), 0);
	assert_int_equal(c.delivered, 10);
	fed = 10;
	/* 4 MiB of bytes rich in CR, LF and dashes: never more than a delimiter's worth held. */
	for (int i = 0; i < 1024; i++) {
		for (size_t k = 0; k < sizeof(chunk); k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			chunk[k] = "\r\n-b\x00\xff"[x % 6];
		}
		assert_int_equal(mp_parser_feed(p, chunk, sizeof(chunk)), 0);
		fed += sizeof(chunk);
		assert_true(c.delivered <= fed);
		assert_true(fed - c.delivered <= held_max);
	}
	assert_int_equal(c.ended, 0);
	assert_int_equal(mp_parser_feed(p, "\r\n--boundary--", 14), 0);
	assert_int_equal(mp_parser_finish(p), 0);
	assert_int_equal(c.ended, 1);
	assert_int_equal(c.part[0].len, fed);
	mp_parser_free(p);
	collect_free(&c);
}

/* Pixel data holds a CR every 256 bytes or so: each must not cost a part_data call (the cache
 * writes each call to disk), so a feed's body goes out in one piece. */
static void test_cr_in_body_does_not_split_a_feed(void **state)
{
	static const char head[] = "--b0undary\r\n\r\n";
	struct collect c = {0};
	struct mp_parser *p = mp_parser_new("b0undary", &cb, &c);
	char chunk[65536];

	(void)state;
	for (size_t k = 0; k < sizeof(chunk); k++)
		chunk[k] = k % 97 == 0 ? '\r' : k % 89 == 0 ? '\n' : (char)('a' + k % 26);
	memcpy(chunk + 1000, "\r\n--b0undar", 12); /* a near-delimiter too */
	assert_int_equal(mp_parser_feed(p, head, sizeof(head) - 1), 0);
	assert_int_equal(mp_parser_feed(p, chunk, sizeof(chunk)), 0);
	assert_int_equal(c.data_calls, 1);
	assert_int_equal(c.delivered, sizeof(chunk));
	assert_int_equal(mp_parser_feed(p, "\r\n--b0undary--", 14), 0);
	assert_int_equal(mp_parser_finish(p), 0);
	assert_int_equal(c.part[0].len, sizeof(chunk));
	assert_memory_equal(c.part[0].body, chunk, sizeof(chunk));
	mp_parser_free(p);
	collect_free(&c);
}

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void test_random_parts_survive_random_feed_sizes(void **state)
{
	/* Pieces that make partial delimiters likely; a body holding the whole delimiter is
	 * drawn again, as RFC 2046 forbids it. */
	static const char *const pieces[] = {"\r",    "\n",	"-",	   "--",       "\r\n",
					     "\r\n-", "\r\n--", "\r\n--b", "\r\n--bd", "\r\n--bd-",
					     "b",     "d",	"\0",	   "\xff",     "data "};
	static const char delim[] = "\r\n--bd-";
	uint32_t x = 2463534242u;

	(void)state;
	for (int round = 0; round < 500; round++) {
		struct want w[6];
		char bodies[6][128], msg[4096];
		size_t len = 0, nparts = rnd(&x) % 6;
		struct collect c = {0};
		struct mp_parser *p;

		if (rnd(&x) % 2)
			len += (size_t)snprintf(msg, sizeof(msg), "preamble\r\n");
		for (size_t i = 0; i < nparts; i++) {
			size_t bl;

			do {
				bl = 0;
				for (size_t n = rnd(&x) % 12; n; n--) {
					const char *s = pieces[rnd(&x) % 15];
					size_t sl = s[0] ? strlen(s) : 1;

					memcpy(bodies[i] + bl, s, sl);
					bl += sl;
				}
			} while (find(bodies[i], bl, delim, sizeof(delim) - 1));
			w[i] = (struct want){"t/x", "", bodies[i], bl};
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						"%s--bd-\r\nContent-Type: t/x\r\n\r\n",
						len ? "\r\n" : "");
			memcpy(msg + len, bodies[i], bl);
			len += bl;
		}
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s--bd---\r\n",
					len ? "\r\n" : "");
		p = mp_parser_new("bd-", &cb, &c);
		for (size_t off = 0; off < len;) {
			size_t n = 1 + rnd(&x) % 9;

			if (n > len - off)
				n = len - off;
			assert_int_equal(mp_parser_feed(p, msg + off, n), 0);
			off += n;
		}
		assert_int_equal(mp_parser_finish(p), 0);
		check_parts(&c, w, (int)nparts);
		mp_parser_free(p);
		collect_free(&c);
	}
}

static void test_parser_refuses_unusable_boundaries(void **state)
{
	char b71[72], b70[71];
	struct mp_parser *p;

	(void)state;
	memset(b71, 'a', 71);
	b71[71] = '\0';
	memset(b70, 'a', 70);
	b70[70] = '\0';
	assert_null(mp_parser_new("", &cb, NULL));
	assert_null(mp_parser_new(NULL, &cb, NULL));
	assert_null(mp_parser_new(b71, &cb, NULL));
	assert_null(mp_parser_new("a\r\nb", &cb, NULL));
	p = mp_parser_new(b70, &cb, NULL);
	assert_non_null(p);
	mp_parser_free(p);
	mp_parser_free(NULL);
}

/* mp_boundary_from_content_type() into a buffer of @n bytes: 0 and @want, or @err. */
static void check_boundary(const char *ct, size_t n, int err, const char *want)
{
	char out[160];

	assert_true(n <= sizeof(out));
	memset(out, '#', sizeof(out));
	assert_int_equal(mp_boundary_from_content_type(ct, out, n), err);
	if (err == 0)
		assert_string_equal(out, want);
	else
		assert_int_equal(out[0], '#'); /* out-parameters are written only on success */
}

static void test_boundary_from_content_type_finds_it_anywhere(void **state)
{
	(void)state;
	check_boundary("multipart/related; type=\"application/dicom\"; boundary=abc", 80, 0, "abc");
	check_boundary("multipart/related;boundary=abc;type=\"application/dicom\"", 80, 0, "abc");
	check_boundary("Multipart/Related ; BOUNDARY = \"a b:c\" ; type=application/dicom", 80, 0,
		       "a b:c");
	check_boundary("  multipart/form-data; BoUnDaRy=d987e71a41b041b497278f042f2c2024", 80, 0,
		       "d987e71a41b041b497278f042f2c2024");
	/* JavaMail's boundaries hold '=' and '.'; servers send them unquoted too. */
	check_boundary("multipart/related; boundary=----=_Part_1_2.3; start=\"<x>\"", 80, 0,
		       "----=_Part_1_2.3");
	check_boundary("multipart/related; boundary=\"a\\\"b\"", 80, 0, "a\"b");
	/* "boundary=" inside another parameter's quoted value is not the parameter. */
	check_boundary("multipart/related; start-info=\"x; boundary=evil\"; boundary=good", 80, 0,
		       "good");
	check_boundary("multipart/related; xboundary=no; boundary=yes", 80, 0, "yes");
	check_boundary("multipart/related; charset; boundary=yes", 80, 0, "yes");
	/* A long quoted parameter other than the boundary is no reason to fail. */
	check_boundary(
		"multipart/related; start-info=\"ssssssssssssssssssssssssssssssssssssssssssssss"
		"sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"
		"sssssssssssssssssssssssssssssssssssssssssssssssss\"; boundary=b",
		80, 0, "b");
}

static void test_boundary_from_content_type_refuses_what_it_cannot_use(void **state)
{
	char b70[128], b71[128];

	(void)state;
	check_boundary(NULL, 80, -EINVAL, NULL);
	check_boundary("application/dicom; boundary=x", 80, -EINVAL, NULL);
	check_boundary("text/plain; x=multipart/related; boundary=x", 80, -EINVAL, NULL);
	check_boundary("multipart/related", 80, -EINVAL, NULL);
	check_boundary("multipart/related; type=\"application/dicom\"", 80, -EINVAL, NULL);
	check_boundary("multipart/related; boundary=", 80, -EINVAL, NULL);
	check_boundary("multipart/related; boundary=\"\"", 80, -EINVAL, NULL);
	check_boundary("multipart/related; boundary=\"abc", 80, -EINVAL, NULL);
	check_boundary("multipart/related; boundary;", 80, -EINVAL, NULL);
	/* It must fit @n with its NUL. */
	check_boundary("multipart/related; boundary=abcdef", 7, 0, "abcdef");
	check_boundary("multipart/related; boundary=abcdef", 6, -E2BIG, NULL);
	check_boundary("multipart/related; boundary=\"abcdef\"", 6, -E2BIG, NULL);
	check_boundary("multipart/related; boundary=abcdef", 0, -E2BIG, NULL);
	/* RFC 2046 §5.1.1: at most 70 characters, whatever room the caller has. */
	snprintf(b70, sizeof(b70), "multipart/related; boundary=%070d", 7);
	check_boundary(b70, 71, 0, b70 + 28);
	snprintf(b71, sizeof(b71), "multipart/related; boundary=%071d", 7);
	check_boundary(b71, 160, -E2BIG, NULL);
	snprintf(b71, sizeof(b71), "multipart/related; boundary=\"%071d\"", 7);
	check_boundary(b71, 160, -E2BIG, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_parts_bodies_exact_and_crlf_before_delimiter_not_body),
		cmocka_unit_test(test_two_parts_same_when_fed_one_byte_at_a_time),
		cmocka_unit_test(test_two_parts_same_at_every_feed_size),
		cmocka_unit_test(test_two_parts_same_at_every_pair_of_split_points),
		cmocka_unit_test(test_empty_feeds_change_nothing),
		cmocka_unit_test(test_wado_rs_fixture_has_two_whole_dicom_parts),
		cmocka_unit_test(test_rad69_fixture_has_soap_part_then_three_dicom_parts),
		cmocka_unit_test(test_near_delimiters_in_body_are_delivered_as_data),
		cmocka_unit_test(test_shorter_boundary_than_the_real_one_is_data),
		cmocka_unit_test(test_boundary_that_goes_on_is_eproto_and_ends_no_part),
		cmocka_unit_test(test_quoted_boundary_with_space_and_colon),
		cmocka_unit_test(test_preamble_is_ignored_even_when_it_looks_like_a_delimiter),
		cmocka_unit_test(test_first_delimiter_at_start_or_after_crlf),
		cmocka_unit_test(test_transport_padding_after_delimiters_is_skipped),
		cmocka_unit_test(test_epilogue_is_ignored_even_when_it_holds_parts),
		cmocka_unit_test(test_bare_lf_header_lines_are_accepted),
		cmocka_unit_test(test_folded_header_is_unfolded_and_first_of_a_kind_wins),
		cmocka_unit_test(test_header_block_that_is_not_headers_is_eproto),
		cmocka_unit_test(test_empty_parts_and_parts_without_headers),
		cmocka_unit_test(test_truncated_body_is_eproto_without_part_end),
		cmocka_unit_test(test_every_cut_of_a_body_before_its_close_is_eproto),
		cmocka_unit_test(test_headers_over_16_kib_are_eproto),
		cmocka_unit_test(test_endless_header_line_fails_during_feed_not_at_finish),
		cmocka_unit_test(test_malformed_body_error_is_sticky),
		cmocka_unit_test(test_callback_error_is_returned_unchanged_and_sticky),
		cmocka_unit_test(test_body_bytes_leave_as_they_arrive),
		cmocka_unit_test(test_cr_in_body_does_not_split_a_feed),
		cmocka_unit_test(test_random_parts_survive_random_feed_sizes),
		cmocka_unit_test(test_parser_refuses_unusable_boundaries),
		cmocka_unit_test(test_boundary_from_content_type_finds_it_anywhere),
		cmocka_unit_test(test_boundary_from_content_type_refuses_what_it_cannot_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
