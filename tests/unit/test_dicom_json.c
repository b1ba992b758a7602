/* DICOM JSON reading: the real QIDO fixture, PN, numbers, multi-values, and garbled replies. */
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

#include "core/tags.h"
#include "protocols/dicom_json.h"

static void test_qido_fixture_gives_three_studies(void **state)
{
	struct attrset_list l;
	size_t len = 0;
	char *json = test_read_fixture("qido_rs_study_level.json", &len);

	(void)state;
	if (!json)
		skip();
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list(json, len, &l), 0);
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < l.n; i++) {
		assert_non_null(attrset_get(&l.v[i], TAG_StudyInstanceUID));
		assert_non_null(attrset_get(&l.v[i], TAG_PatientName));
		/* IS values are JSON numbers: they come out as integers. */
		assert_null(strchr(attrset_str(&l.v[i], TAG_NumberOfStudyRelatedInstances), '.'));
	}
	attrset_list_release(&l);
	free(json);
}

static void test_pn_numbers_and_multivalues(void **state)
{
	const char *json =
		"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"M\xc3\xbcller^J\"}]},"
		"\"00200013\":{\"vr\":\"IS\",\"Value\":[12]},"
		"\"00080061\":{\"vr\":\"CS\",\"Value\":[\"CT\",\"MR\"]},"
		"\"00081030\":{\"vr\":\"LO\"},"
		"\"00081190\":{\"vr\":\"UR\",\"Value\":[\"http://x/studies/1\"]},"
		"\"7FE00010\":{\"vr\":\"OW\",\"BulkDataURI\":\"http://x/bulk\"},"
		"\"00081115\":{\"vr\":\"SQ\",\"Value\":[{}]}}]";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list(json, strlen(json), &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(attrset_get(&l.v[0], TAG_PatientName), "M\xc3\xbcller^J");
	assert_string_equal(attrset_get(&l.v[0], TAG_InstanceNumber), "12");
	assert_string_equal(attrset_get(&l.v[0], TAG_ModalitiesInStudy), "CT\\MR");
	assert_string_equal(attrset_get(&l.v[0], TAG_StudyDescription), "");
	assert_null(attrset_get(&l.v[0], 0x7FE00010u));
	assert_null(attrset_get(&l.v[0], 0x00081115u));
	attrset_list_release(&l);
}

static void test_empty_body_is_empty_result(void **state)
{
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list("", 0, &l), 0);
	assert_int_equal(dicom_json_parse_list(" \r\n", 3, &l), 0);
	assert_int_equal(dicom_json_parse_list("[]", 2, &l), 0);
	assert_int_equal(l.n, 0);
}

static void test_garbled_replies_are_eio_and_append_nothing(void **state)
{
	static const char *const bad[] = {
		"{\"not\": json",
		"{\"00100010\":{\"vr\":\"PN\"}}",		    /* an object, not an array */
		"[{\"0010001\":{\"vr\":\"PN\"}}]",		    /* 7-digit tag */
		"[{\"00100010\":{\"Value\":[\"x\"]}}]",		    /* no vr */
		"[{\"00100010\":{\"vr\":\"PN\",\"Value\":\"x\"}}]", /* Value not an array */
		"[1, 2]",
		"<html>500</html>",
	};
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_non_null(attrset_list_add(&l)); /* something already there must survive */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dicom_json_parse_list(bad[i], strlen(bad[i]), &l), -EIO);
		assert_int_equal(l.n, 1);
	}
	attrset_list_release(&l);
}

static void test_length_is_respected_without_nul(void **state)
{
	const char json[] = "[]garbage";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list(json, 2, &l), 0);
	assert_int_equal(dicom_json_parse_list(json, sizeof(json) - 1, &l), -EIO);
}

/* A reader fed the QIDO fixture byte by byte gives the sets of one parse of the whole. */
static void test_reader_in_pieces_gives_the_same_sets(void **state)
{
	struct dicom_json_reader r;
	struct attrset_list whole;
	size_t len = 0;
	char *json = test_read_fixture("qido_rs_study_level.json", &len);

	(void)state;
	if (!json)
		skip();
	attrset_list_init(&whole);
	assert_int_equal(dicom_json_parse_list(json, len, &whole), 0);
	dicom_json_reader_init(&r, 1 << 20);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(dicom_json_reader_feed(&r, json + i, 1), 0);
	assert_int_equal(dicom_json_reader_finish(&r), 0);
	assert_int_equal(r.sets.n, whole.n);
	for (size_t i = 0; i < whole.n; i++) {
		assert_int_equal(r.sets.v[i].n, whole.v[i].n);
		for (size_t j = 0; j < whole.v[i].n; j++) {
			assert_int_equal(r.sets.v[i].v[j].tag, whole.v[i].v[j].tag);
			assert_string_equal(r.sets.v[i].v[j].value, whole.v[i].v[j].value);
		}
	}
	dicom_json_reader_release(&r);
	attrset_list_release(&whole);
	free(json);
}

/* The reader holds one data set's text at a time, never the reply: 2,000 results through a
 * reader whose sets may be at most 256 bytes long. */
static void test_reader_holds_one_set_at_a_time(void **state)
{
	const char *set = "{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"1.2.3\"]}}";
	struct dicom_json_reader r;
	char why[128];

	(void)state;
	dicom_json_reader_init(&r, 256);
	assert_int_equal(dicom_json_reader_feed(&r, " [", 2), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(dicom_json_reader_feed(&r, i ? " ,\n" : "\n", i ? 3 : 1), 0);
		assert_int_equal(dicom_json_reader_feed(&r, set, strlen(set)), 0);
	}
	assert_int_equal(dicom_json_reader_feed(&r, "]\n", 2), 0);
	assert_int_equal(dicom_json_reader_finish(&r), 0);
	assert_int_equal(r.sets.n, 2000);
	assert_string_equal(attrset_get(&r.sets.v[1999], 0x00080018u), "1.2.3");
	assert_true(r.text.cap <= 256);
	dicom_json_reader_release(&r);

	/* One set over the limit is refused, not grown into. */
	dicom_json_reader_init(&r, 16);
	assert_int_equal(dicom_json_reader_feed(&r, "[", 1), 0);
	assert_int_equal(dicom_json_reader_feed(&r, set, strlen(set)), -E2BIG);
	dicom_json_reader_release(&r);

	/* A refusal says why and where. */
	dicom_json_reader_init(&r, 256);
	assert_int_equal(dicom_json_reader_feed(&r, "[{\"x\":1}]", 9), -EIO);
	assert_int_equal(dicom_json_reader_finish(&r), -EIO);
	dicom_json_reader_why(&r, why, sizeof(why));
	assert_string_equal(why, "a key is not a tag at byte 4");
	dicom_json_reader_release(&r);
}

/* QIDO values are taken as cJSON took them (the names layer cleans what it shows): a Latin-1
 * byte or a raw tab in one result must not empty a listing. The JSON around them still is. */
static void test_qido_strings_may_hold_any_byte(void **state)
{
	const char *json =
		"[{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"M\xfcller\tJ\"}]}}]";
	const char *truncated = "[{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"M\xfc";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list(json, strlen(json), &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(attrset_get(&l.v[0], TAG_PatientName), "M\xfcller\tJ");
	assert_int_equal(dicom_json_parse_list(truncated, strlen(truncated), &l), -EIO);
	assert_int_equal(l.n, 1);
	attrset_list_release(&l);
}

/* One lone surrogate in one result's UID (issue 17): that value holds U+FFFD, every other
 * result and value is read as sent. */
static void test_a_lone_surrogate_is_fffd_and_the_other_results_stay(void **state)
{
	const char *json =
		"[{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"1.2.3\"]}},"
		"{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"1.2.\\udcff4\"]}},"
		"{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"1.2.5\"]},"
		"\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"\\u00c4\\x\"}]}}]";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(dicom_json_parse_list(json, strlen(json), &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(attrset_get(&l.v[0], TAG_SOPInstanceUID), "1.2.3");
	assert_string_equal(attrset_get(&l.v[1], TAG_SOPInstanceUID), "1.2.\xef\xbf\xbd"
								      "4");
	assert_string_equal(attrset_get(&l.v[2], TAG_SOPInstanceUID), "1.2.5");
	assert_string_equal(attrset_get(&l.v[2], TAG_PatientName), "\xc3\x84\xef\xbf\xbdx");
	attrset_list_release(&l);
}

/* The count limit applies while the reply is read: sets past it are checked, never kept. */
static void test_reader_keeps_at_most_its_limit_and_still_checks_the_rest(void **state)
{
	const char *json = "[{\"00100020\":{\"vr\":\"LO\"}},{\"00100020\":{\"vr\":\"LO\"}},"
			   "{\"00100020\":{\"vr\":\"LO\"}},{\"00100020\":{\"vr\":\"LO\"}}]";
	const char *bad = "[{\"00100020\":{\"vr\":\"LO\"}},{\"00100020\":{\"vr\":\"LO\"}},"
			  "{\"0010002\":{\"vr\":\"LO\"}}]";
	struct dicom_json_reader r;

	(void)state;
	dicom_json_reader_init(&r, 1 << 20);
	dicom_json_reader_limit(&r, 1);
	assert_int_equal(dicom_json_reader_feed(&r, json, strlen(json)), 0);
	assert_int_equal(dicom_json_reader_finish(&r), 0);
	assert_int_equal(r.sets.n, 1);
	assert_int_equal(r.dropped, 3);
	dicom_json_reader_release(&r);
	dicom_json_reader_init(&r, 1 << 20);
	dicom_json_reader_limit(&r, 1);
	assert_int_equal(dicom_json_reader_feed(&r, bad, strlen(bad)), -EIO);
	dicom_json_reader_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qido_fixture_gives_three_studies),
		cmocka_unit_test(test_pn_numbers_and_multivalues),
		cmocka_unit_test(test_empty_body_is_empty_result),
		cmocka_unit_test(test_garbled_replies_are_eio_and_append_nothing),
		cmocka_unit_test(test_length_is_respected_without_nul),
		cmocka_unit_test(test_reader_in_pieces_gives_the_same_sets),
		cmocka_unit_test(test_reader_holds_one_set_at_a_time),
		cmocka_unit_test(test_qido_strings_may_hold_any_byte),
		cmocka_unit_test(test_a_lone_surrogate_is_fffd_and_the_other_results_stay),
		cmocka_unit_test(test_reader_keeps_at_most_its_limit_and_still_checks_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
