/* The streaming multipart parser: exact part bodies whatever the feed sizes, the real fixtures,
 * near-delimiters in bodies, and every way a body can be malformed or cut short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/helpers.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/multipart.h"

#define MAX_PARTS 8

struct collect {
	char *body[MAX_PARTS];
	size_t len[MAX_PARTS];
	char type[MAX_PARTS][128];
	char id[MAX_PARTS][128];
	int begun, ended;
	int fail_at_begin; /* 1-based part that part_begin refuses, 0 never */
};

static int c_begin(void *ctx, const char *type, const char *id)
{
	struct collect *c = ctx;

	assert_int_equal(c->begun, c->ended); /* no nested parts */
	assert_true(c->begun < MAX_PARTS);
	if (c->fail_at_begin && c->begun + 1 == c->fail_at_begin)
		return -ECANCELED;
	snprintf(c->type[c->begun], sizeof(c->type[0]), "%s", type);
	snprintf(c->id[c->begun], sizeof(c->id[0]), "%s", id);
	c->begun++;
	return 0;
}

static int c_data(void *ctx, const void *data, size_t len)
{
	struct collect *c = ctx;
	int i = c->begun - 1;

	assert_true(len > 0);
	c->body[i] = realloc(c->body[i], c->len[i] + len);
	memcpy(c->body[i] + c->len[i], data, len);
	c->len[i] += len;
	return 0;
}

static int c_end(void *ctx)
{
	struct collect *c = ctx;

	c->ended++;
	assert_int_equal(c->begun, c->ended);
	return 0;
}

static const struct mp_callbacks cb = {c_begin, c_data, c_end};

static void collect_free(struct collect *c)
{
	for (int i = 0; i < MAX_PARTS; i++)
		free(c->body[i]);
	memset(c, 0, sizeof(*c));
}

/* Parse @len bytes fed @step at a time; @return finish()'s result, or feed's error. */
static int parse(const char *boundary, const void *data, size_t len, size_t step, struct collect *c)
{
	struct mp_parser *p = mp_parser_new(boundary, &cb, c);
	const char *d = data;
	int err = 0;

	assert_non_null(p);
	for (size_t off = 0; off < len && !err; off += step)
		err = mp_parser_feed(p, d + off, len - off < step ? len - off : step);
	if (!err)
		err = mp_parser_finish(p);
	assert_int_equal((size_t)c->ended, mp_parser_parts(p));
	mp_parser_free(p);
	return err;
}

static const char two_parts[] = "preamble to ignore\r\n"
				"--B0und\r\n"
				"Content-Type: application/dicom\r\n"
				"Content-ID: <one>\r\n"
				"\r\n"
				"first\r\nbody\r\n"
				"--B0und  \t\r\n"
				"content-type:   text/plain  \r\n"
				"\r\n"
				"second\r\n"
				"--B0und--\r\n"
				"epilogue --B0und junk";

static void check_two_parts(struct collect *c)
{
	assert_int_equal(c->ended, 2);
	assert_int_equal(c->len[0], strlen("first\r\nbody"));
	assert_memory_equal(c->body[0], "first\r\nbody", c->len[0]);
	assert_string_equal(c->type[0], "application/dicom");
	assert_string_equal(c->id[0], "<one>");
	assert_int_equal(c->len[1], 6);
	assert_memory_equal(c->body[1], "second", 6);
	assert_string_equal(c->type[1], "text/plain");
	assert_string_equal(c->id[1], "");
}

static void test_two_parts_crlf_before_delimiter_is_not_body(void **state)
{
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse("B0und", two_parts, sizeof(two_parts) - 1, 4096, &c), 0);
	check_two_parts(&c);
	collect_free(&c);
}

static void test_same_parts_at_every_feed_size(void **state)
{
	(void)state;
	for (size_t step = 1; step <= sizeof(two_parts); step++) {
		struct collect c = {0};

		assert_int_equal(parse("B0und", two_parts, sizeof(two_parts) - 1, step, &c), 0);
		check_two_parts(&c);
		collect_free(&c);
	}
}

static void test_delimiter_at_very_start_and_empty_headers(void **state)
{
	static const char body[] = "--x\r\n\r\nA\r\n--x\r\n\r\n\r\n--x--";
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse("x", body, sizeof(body) - 1, 1, &c), 0);
	assert_int_equal(c.ended, 2);
	assert_int_equal(c.len[0], 1);
	assert_int_equal(c.len[1], 0); /* an empty part */
	assert_string_equal(c.type[0], "");
	collect_free(&c);
}

static void test_near_delimiters_in_body_are_data(void **state)
{
	static const char body[] = "--bnd\r\n\r\n"
				   "a\r\n--bn\r\n-\r\r\n--bnX-\r\n--b"
				   "\r\n--bnd--";
	static const char want[] = "a\r\n--bn\r\n-\r\r\n--bnX-\r\n--b";
	struct collect c = {0};

	(void)state;
	/* "--bndX..." would be a boundary that goes on: not a delimiter, and not allowed. */
	for (size_t step = 1; step < sizeof(body); step++) {
		assert_int_equal(parse("bnd", body, sizeof(body) - 1, step, &c), 0);
		assert_int_equal(c.ended, 1);
		assert_int_equal(c.len[0], sizeof(want) - 1);
		assert_memory_equal(c.body[0], want, sizeof(want) - 1);
		collect_free(&c);
	}
}

static void test_bare_lf_headers_are_accepted(void **state)
{
	static const char body[] = "--q\r\nContent-Type: application/dicom\n\nDATA\r\n--q--\r\n";
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse("q", body, sizeof(body) - 1, 3, &c), 0);
	assert_int_equal(c.ended, 1);
	assert_string_equal(c.type[0], "application/dicom");
	assert_memory_equal(c.body[0], "DATA", 4);
	collect_free(&c);
}

static void test_truncated_bodies_are_eproto_without_part_end(void **state)
{
	static const char *const cut[] = {
		"--B0und\r\nContent-Type: app",			 /* in the headers */
		"--B0und\r\n\r\nhalf a bo",			 /* in a body */
		"--B0und\r\n\r\nwhole\r\n--B0und\r\n\r\nsecond", /* second body */
		"no delimiter at all",				 /* before any delimiter */
		"--B0und\r\n\r\nwhole\r\n--B0und",		 /* after a delimiter */
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		struct collect c = {0};

		assert_int_equal(parse("B0und", cut[i], strlen(cut[i]), 2, &c), -EPROTO);
		assert_true(c.begun - c.ended <= 1);
		collect_free(&c);
	}
}

static void test_malformed_after_delimiter_is_eproto(void **state)
{
	static const char body[] = "--B0und\r\n\r\nx\r\n--B0undX\r\n\r\ny\r\n--B0und--";
	struct collect c = {0};

	(void)state;
	assert_int_equal(parse("B0und", body, sizeof(body) - 1, 5, &c), -EPROTO);
	collect_free(&c);
}

static void test_oversized_headers_are_eproto(void **state)
{
	size_t n = 40000;
	char *body = malloc(n + 32);
	struct collect c = {0};

	(void)state;
	memcpy(body, "--h\r\nX-Long: ", 13);
	memset(body + 13, 'a', n - 13);
	assert_int_equal(parse("h", body, n, 1000, &c), -EPROTO);
	assert_int_equal(c.begun, 0);
	free(body);
}

static void test_callback_error_stops_and_sticks(void **state)
{
	struct collect c = {.fail_at_begin = 2};
	struct mp_parser *p = mp_parser_new("B0und", &cb, &c);

	(void)state;
	assert_int_equal(mp_parser_feed(p, two_parts, sizeof(two_parts) - 1), -ECANCELED);
	assert_int_equal(mp_parser_feed(p, "more", 4), -ECANCELED);
	assert_int_equal(mp_parser_finish(p), -ECANCELED);
	assert_int_equal(mp_parser_parts(p), 1);
	mp_parser_free(p);
	collect_free(&c);
}

static void test_boundary_from_content_type(void **state)
{
	char b[80];

	(void)state;
	assert_int_equal(mp_boundary_from_content_type(
				 "multipart/related; type=\"application/dicom\"; boundary=abc", b,
				 sizeof(b)),
			 0);
	assert_string_equal(b, "abc");
	assert_int_equal(mp_boundary_from_content_type(
				 "Multipart/Related;BOUNDARY=\"a b:c\";type=application/dicom", b,
				 sizeof(b)),
			 0);
	assert_string_equal(b, "a b:c");
	assert_int_equal(mp_boundary_from_content_type(
				 "multipart/form-data; boundary=d987e71a41b041b497278f042f2c2024",
				 b, sizeof(b)),
			 0);
	assert_int_equal(
		mp_boundary_from_content_type("application/dicom; boundary=x", b, sizeof(b)),
		-EINVAL);
	assert_int_equal(mp_boundary_from_content_type("multipart/related; type=x", b, sizeof(b)),
			 -EINVAL);
	assert_int_equal(
		mp_boundary_from_content_type("multipart/related; boundary=\"\"", b, sizeof(b)),
		-EINVAL);
	assert_int_equal(mp_boundary_from_content_type("multipart/related; boundary=abcdef", b, 4),
			 -E2BIG);
	assert_null(mp_parser_new("", &cb, NULL));
}

static void check_fixture(const char *stem, int parts, int first_dicom)
{
	char name[256], boundary[128], *body, *ctype;
	size_t len = 0, clen = 0;

	snprintf(name, sizeof(name), "%s.bin", stem);
	body = test_read_fixture(name, &len);
	snprintf(name, sizeof(name), "%s.content-type.txt", stem);
	ctype = test_read_fixture(name, &clen);
	if (!body || !ctype)
		skip();
	ctype[strcspn(ctype, "\r\n")] = '\0';
	assert_int_equal(mp_boundary_from_content_type(ctype, boundary, sizeof(boundary)), 0);
	for (size_t step = 1; step <= 4097; step += 4096) {
		struct collect c = {0};

		assert_int_equal(parse(boundary, body, len, step, &c), 0);
		assert_int_equal(c.ended, parts);
		for (int i = first_dicom; i < parts; i++) {
			/* A DICOM part is exactly a Part-10 file: preamble, "DICM", no trailing CRLF. */
			assert_true(c.len[i] > 132);
			assert_memory_equal(c.body[i] + 128, "DICM", 4);
			assert_false(c.body[i][c.len[i] - 2] == '\r' &&
				     c.body[i][c.len[i] - 1] == '\n');
		}
		collect_free(&c);
	}
	free(body);
	free(ctype);
}

static void test_wado_rs_fixture_two_instances(void **state)
{
	(void)state;
	check_fixture("wadors_multipart_response_2_instances", 2, 0);
}

static void test_rad69_fixture_soap_part_then_three_instances(void **state)
{
	(void)state;
	check_fixture("rad69_multipart_response_3_instances", 4, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_parts_crlf_before_delimiter_is_not_body),
		cmocka_unit_test(test_same_parts_at_every_feed_size),
		cmocka_unit_test(test_delimiter_at_very_start_and_empty_headers),
		cmocka_unit_test(test_near_delimiters_in_body_are_data),
		cmocka_unit_test(test_bare_lf_headers_are_accepted),
		cmocka_unit_test(test_truncated_bodies_are_eproto_without_part_end),
		cmocka_unit_test(test_malformed_after_delimiter_is_eproto),
		cmocka_unit_test(test_oversized_headers_are_eproto),
		cmocka_unit_test(test_callback_error_stops_and_sticks),
		cmocka_unit_test(test_boundary_from_content_type),
		cmocka_unit_test(test_wado_rs_fixture_two_instances),
		cmocka_unit_test(test_rad69_fixture_soap_part_then_three_instances),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
