/* The streaming check of DICOM JSON metadata (core/json_check.c): the shared fixtures pass,
 * each kind of malformed body fails for its own reason, and no way of cutting the body into
 * pieces changes the answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/helpers.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"

/* Whole, then byte by byte, then in 200 random splits: every way must give the same answer
 * and, on a failure, the same reason at the same offset. */
static enum json_check_error check_all_splits(const char *s, size_t len)
{
	struct json_check c;
	enum json_check_error whole;
	size_t whole_at;
	int rc;

	json_check_init(&c, 0);
	rc = json_check_feed(&c, s, len);
	if (rc == 0)
		rc = json_check_finish(&c);
	whole = json_check_error(&c);
	whole_at = json_check_offset(&c);
	assert_int_equal(rc, whole == JSON_CHECK_OK ? 0 : -EIO);

	json_check_init(&c, 0);
	for (size_t i = 0; i < len; i++)
		json_check_feed(&c, s + i, 1);
	json_check_finish(&c);
	assert_int_equal(json_check_error(&c), whole);
	assert_int_equal(json_check_offset(&c), whole_at);

	srand(7);
	for (int round = 0; round < 200; round++) {
		size_t at = 0;

		json_check_init(&c, 0);
		while (at < len) {
			size_t n = 1 + (size_t)rand() % (round % 2 ? 7 : 4096);

			if (n > len - at)
				n = len - at;
			json_check_feed(&c, s + at, n);
			at += n;
		}
		json_check_finish(&c);
		assert_int_equal(json_check_error(&c), whole);
		assert_int_equal(json_check_offset(&c), whole_at);
	}
	return whole;
}

static enum json_check_error check_str(const char *s)
{
	return check_all_splits(s, strlen(s));
}

/* Every JSON fixture is metadata but the login reply, which is an object. */
static void test_metadata_fixtures_pass_in_any_split(void **state)
{
	const char *root = getenv("TROLLEY_FIXTURES");
	char path[4096];
	struct dirent *e;
	int seen = 0;
	DIR *d;

	(void)state;
	snprintf(path, sizeof(path), "%s/dicomtrolley", root ? root : "../shared/fixtures");
	d = opendir(path);
	if (!d)
		skip();
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), len = 0;
		char *json;

		if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		json = test_read_fixture(e->d_name, &len);
		assert_non_null(json);
		if (strcmp(e->d_name, "vitrea_login_success.json") == 0) {
			assert_int_equal(check_all_splits(json, len), JSON_CHECK_NOT_ARRAY);
		} else {
			print_message("# %s\n", e->d_name);
			assert_int_equal(check_all_splits(json, len), JSON_CHECK_OK);
			seen++;
		}
		free(json);
	}
	closedir(d);
	assert_true(seen >= 2); /* wadors_metadata_instance.json, qido_rs_study_level.json */
}

static void test_valid_edge_cases_pass(void **state)
{
	static const char *const good[] = {
		"[]",
		" \r\n\t[ ] \n",
		"\xEF\xBB\xBF[]", /* a byte order mark: RFC 8259 §8.1 lets a parser ignore it */
		"[{}]",
		"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"M\xc3\xbcller^J\"}]}}]",
		/* key order is free: "vr" after "Value" */
		"[{\"00200013\":{\"Value\":[12,-0,1.5E-3,1e+5,0.25,-7e9],\"vr\":\"IS\"}}]",
		"[{\"00081030\":{\"vr\":\"LO\"}},{\"00081030\":{\"vr\":\"LO\",\"Value\":[null]}}]",
		"[{\"7fe00010\":{\"vr\":\"OW\",\"BulkDataURI\":\"http://x/"
		"b\",\"x\":[true,false]}}]",
		/* escapes, in keys too: \u0030 is '0', \u0076 'v' */
		"[{\"\\u00300100010\":{\"\\u0076r\":\"PN\",\"Value\":[\"a\\\"\\\\\\/"
		"\\b\\f\\n\\r\\t\"]}}]",
		/* a surrogate pair, and 4-byte and 3-byte UTF-8 at the edges of the ranges */
		"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uD834\\uDD1E \xf0\x90\x80\x80 "
		"\xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80 \xe0\xa0\x80 \\u0000\"]}}]",
		/* sequences: items are only checked to be JSON */
		"[{\"00081115\":{\"vr\":\"SQ\",\"Value\":[{\"00081150\":{\"vr\":\"UI\",\"Value\":"
		"[\"1.2\"]},\"free\":{\"x\":[[[]]]}}]}}]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		print_message("# good %zu\n", i);
		assert_int_equal(check_str(good[i]), JSON_CHECK_OK);
	}
}

static void test_malformed_bodies_fail_for_their_reason(void **state)
{
	static const struct {
		const char *json;
		enum json_check_error why;
	} bad[] = {
		{"", JSON_CHECK_TRUNCATED},
		{"  \n", JSON_CHECK_TRUNCATED},
		{"[{\"00100010\":{\"vr\":\"PN\"}}", JSON_CHECK_TRUNCATED},
		{"[{\"00100010\":{\"vr\":\"P", JSON_CHECK_TRUNCATED},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[1", JSON_CHECK_TRUNCATED},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uD834", JSON_CHECK_TRUNCATED},
		{"[] x", JSON_CHECK_TRAILING},
		{"[][]", JSON_CHECK_TRAILING},
		{"[{}]}", JSON_CHECK_TRAILING},
		{"[{]", JSON_CHECK_SYNTAX},
		{"[{}", JSON_CHECK_TRUNCATED},
		{"[{},]", JSON_CHECK_SYNTAX},
		{"[{}}", JSON_CHECK_SYNTAX},
		{"[{\"00100010\" {\"vr\":\"PN\"}}]", JSON_CHECK_SYNTAX},
		{"[{\"00100010\":{\"vr\":\"PN\",}}]", JSON_CHECK_SYNTAX},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[tru]}}]", JSON_CHECK_SYNTAX},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":['a']}}]", JSON_CHECK_SYNTAX},
		{"<html>error</html>", JSON_CHECK_SYNTAX},
		{"\xEF\xBB[]", JSON_CHECK_SYNTAX},
		{"\xEF\xBB\xBF]", JSON_CHECK_SYNTAX},
		{"\xEF\xBB\xBF\xEF\xBB\xBF[]", JSON_CHECK_SYNTAX},
		{"]", JSON_CHECK_SYNTAX},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[01]}}]", JSON_CHECK_NUMBER},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[1.]}}]", JSON_CHECK_NUMBER},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[-]}}]", JSON_CHECK_NUMBER},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[1e]}}]", JSON_CHECK_NUMBER},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[1.5.3]}}]", JSON_CHECK_NUMBER},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[+1]}}]", JSON_CHECK_SYNTAX},
		{"[{\"00200013\":{\"vr\":\"IS\",\"Value\":[.5]}}]", JSON_CHECK_SYNTAX},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\x41\"]}}]", JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\u12G4\"]}}]", JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uDD1E\"]}}]", JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uD834x\"]}}]", JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uD834\\n\"]}}]", JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\\uD834\\uD834\"]}}]",
		 JSON_CHECK_ESCAPE},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xff\"]}}]", JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xc3\"]}}]", JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xc0\xaf\"]}}]", JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xe0\x80\xaf\"]}}]", JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xed\xa0\x80\"]}}]", JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xf4\x90\x80\x80\"]}}]",
		 JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"\xf5\x80\x80\x80\"]}}]",
		 JSON_CHECK_UTF8},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"a\tb\"]}}]", JSON_CHECK_CONTROL},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[\"a\nb\"]}}]", JSON_CHECK_CONTROL},
		{"\f[]", JSON_CHECK_CONTROL},
		{"{\"00100010\":{\"vr\":\"PN\"}}", JSON_CHECK_NOT_ARRAY},
		{"\"[]\"", JSON_CHECK_NOT_ARRAY},
		{"null", JSON_CHECK_NOT_ARRAY},
		{"[[]]", JSON_CHECK_NOT_DATASET},
		{"[{},1]", JSON_CHECK_NOT_DATASET},
		{"[{\"0010001\":{\"vr\":\"PN\"}}]", JSON_CHECK_BAD_TAG},
		{"[{\"001000100\":{\"vr\":\"PN\"}}]", JSON_CHECK_BAD_TAG},
		{"[{\"0010001G\":{\"vr\":\"PN\"}}]", JSON_CHECK_BAD_TAG},
		{"[{\"+0010001\":{\"vr\":\"PN\"}}]", JSON_CHECK_BAD_TAG},
		{"[{\"0010001\xc3\xa4\":{\"vr\":\"PN\"}}]", JSON_CHECK_BAD_TAG},
		{"[{\"00100010\":\"PN\"}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"Value\":[]}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":1}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":\"pn\"}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":\"PNX\"}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":\"P\\u0000\"}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":\"PN\",\"Value\":\"x\"}}]", JSON_CHECK_BAD_ATTR},
		{"[{\"00100010\":{\"vr\":\"PN\",\"vr\":2}}]", JSON_CHECK_BAD_ATTR},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		print_message("# bad %zu\n", i);
		assert_int_equal(check_str(bad[i].json), bad[i].why);
	}
}

static void test_nesting_is_bounded(void **state)
{
	char deep[2 * JSON_CHECK_DEPTH_MAX + 64];
	size_t n = 0;

	(void)state;
	/* A sequence item at the deepest level allowed passes; one more level is refused. */
	for (int extra = 0; extra < 2; extra++) {
		int open;

		n = 0;
		n += (size_t)sprintf(deep, "[{\"00081115\":{\"vr\":\"SQ\",\"Value\":");
		open = 4 + JSON_CHECK_DEPTH_MAX - 4 + extra; /* [ { { [ then as many [ */
		for (int i = 4; i < open; i++)
			deep[n++] = '[';
		deep[n++] = '[';
		deep[n++] = ']';
		for (int i = 4; i < open; i++)
			deep[n++] = ']';
		n += (size_t)sprintf(deep + n, "}}]");
		deep[n] = '\0';
		assert_int_equal(check_all_splits(deep, n),
				 extra ? JSON_CHECK_DEPTH : JSON_CHECK_OK);
	}
}

static void test_step_stops_after_each_data_set(void **state)
{
	const char *json = "[{\"00100010\":{\"vr\":\"PN\"}} , {} ,{\"00081115\":{\"vr\":\"SQ\","
			   "\"Value\":[{}]}}]";
	size_t len = strlen(json), at = 0, ends[4], nends = 0;
	struct json_check c;

	(void)state;
	json_check_init(&c, 0);
	while (at < len) {
		bool end;

		at += json_check_step(&c, json + at, len - at, &end);
		if (end) {
			assert_true(nends < 4);
			ends[nends++] = at;
		}
	}
	assert_int_equal(json_check_finish(&c), 0);
	assert_int_equal(nends, 3);
	assert_int_equal(json[ends[0] - 1], '}');
	assert_int_equal(ends[0], strlen("[{\"00100010\":{\"vr\":\"PN\"}}"));
	assert_memory_equal(json + ends[1] - 2, "{}", 2);
	assert_int_equal(ends[2], len - 1);
}

static void test_failure_stays_and_says_where(void **state)
{
	struct json_check c;

	(void)state;
	json_check_init(&c, 0);
	assert_int_equal(json_check_feed(&c, "[{\"x", 4), 0);
	assert_int_equal(json_check_feed(&c, "\":1}]", 5), -EIO);
	assert_int_equal(json_check_error(&c), JSON_CHECK_BAD_TAG);
	assert_int_equal(json_check_offset(&c), 4);
	assert_int_equal(json_check_feed(&c, "[]", 2), -EIO);
	assert_int_equal(json_check_finish(&c), -EIO);
	assert_int_equal(json_check_error(&c), JSON_CHECK_BAD_TAG);
	assert_string_equal(json_check_strerror(JSON_CHECK_BAD_TAG), "a key is not a tag");
}

/* Lax escapes (QIDO): each malformed escape is one U+FFFD, counted, the string goes on where
 * the check says, and json_check_repair() writes the same reading as RFC 8259 JSON. A body
 * that is not JSON is still refused. */
static void test_lax_escapes_read_as_fffd_and_repair_to_the_same_strings(void **state)
{
	static const struct {
		const char *in, *repaired;
		size_t repairs;
	} cases[] = {
		{"[\"\\udcff\"]", "[\"\\ufffd\"]", 1},
		{"[\"1.2.\\udcff3\"]", "[\"1.2.\\ufffd3\"]", 1},
		{"[\"\\uD834x\"]", "[\"\\ufffdx\"]", 1},
		{"[\"\\uD834\\n\"]", "[\"\\ufffd\\n\"]", 1},
		{"[\"\\uD834\\\"\"]", "[\"\\ufffd\\\"\"]", 1},
		{"[\"\\uD834\\uD834\\uDD1E\"]", "[\"\\ufffd\\uD834\\uDD1E\"]", 1},
		{"[\"\\uD834\\u12\"]", "[\"\\ufffd\\ufffd\"]", 2},
		{"[\"\\uD834\\x\"]", "[\"\\ufffd\\ufffdx\"]", 2},
		{"[\"\\x41\"]", "[\"\\ufffdx41\"]", 1},
		{"[\"\\u12G4\"]", "[\"\\ufffdG4\"]", 1},
		{"[\"\\u12\"]", "[\"\\ufffd\"]", 1},
		{"[\"\\uD834\"]", "[\"\\ufffd\"]", 1},
		{"[\"ok \\uD834\\uDD1E \\u00e9\"]", "[\"ok \\uD834\\uDD1E \\u00e9\"]", 0},
	};
	struct json_check c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t len = strlen(in), out_len;
		char *out;

		assert_int_equal(json_check_repair(in, len, &out, &out_len), 0);
		assert_string_equal(out, cases[i].repaired);
		assert_int_equal(out_len, strlen(cases[i].repaired));
		free(out);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256], *out;
		size_t out_len;

		snprintf(body, sizeof(body), "[{\"0020000D\":{\"vr\":\"UI\",\"Value\":%s}}]",
			 cases[i].in);
		json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES | JSON_CHECK_LAX_ESCAPES);
		for (size_t k = 0; body[k]; k++)
			assert_int_equal(json_check_feed(&c, body + k, 1), 0);
		assert_int_equal(json_check_finish(&c), 0);
		assert_int_equal(json_check_repairs(&c), cases[i].repairs);
		/* Repaired, the strict check (and so cJSON) takes it. */
		assert_int_equal(json_check_repair(body, strlen(body), &out, &out_len), 0);
		json_check_init(&c, 0);
		assert_int_equal(json_check_feed(&c, out, out_len), 0);
		assert_int_equal(json_check_finish(&c), 0);
		free(out);
		/* Without the flag, every one but the last is refused. */
		json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES);
		(void)json_check_feed(&c, body, strlen(body));
		assert_int_equal(json_check_finish(&c), cases[i].repairs ? -EIO : 0);
	}
	/* Not JSON stays refused. */
	json_check_init(&c, JSON_CHECK_ANY_STRING_BYTES | JSON_CHECK_LAX_ESCAPES);
	(void)json_check_feed(&c, "<html>\\udcff</html>", 19);
	assert_int_equal(json_check_error(&c), JSON_CHECK_SYNTAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata_fixtures_pass_in_any_split),
		cmocka_unit_test(test_valid_edge_cases_pass),
		cmocka_unit_test(test_malformed_bodies_fail_for_their_reason),
		cmocka_unit_test(test_nesting_is_bounded),
		cmocka_unit_test(test_step_stops_after_each_data_set),
		cmocka_unit_test(test_failure_stays_and_says_where),
		cmocka_unit_test(test_lax_escapes_read_as_fffd_and_repair_to_the_same_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
