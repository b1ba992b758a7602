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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qido_fixture_gives_three_studies),
		cmocka_unit_test(test_pn_numbers_and_multivalues),
		cmocka_unit_test(test_empty_body_is_empty_result),
		cmocka_unit_test(test_garbled_replies_are_eio_and_append_nothing),
		cmocka_unit_test(test_length_is_respected_without_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
