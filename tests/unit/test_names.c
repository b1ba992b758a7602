/* Naming rules of DESIGN.md §1: readable, UTF-8, <= 255 bytes, no '/', unique and stable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/tags.h"
#include "fs/names.h"

static void set(struct attrset *a, uint32_t tag, const char *v)
{
	assert_int_equal(attrset_set(a, tag, tags_vr(tag), v), 0);
}

static void test_patient_name_with_id(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_PatientName, "Doe^John^^^");
	set(&a, TAG_PatientID, "P1");
	names_patient(&a, out, sizeof(out));
	assert_string_equal(out, "Doe^John [P1]");
	attrset_release(&a);
}

static void test_slash_and_controls_become_underscore(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_PatientName, "O/Brien^Pat\x01");
	set(&a, TAG_PatientID, "ID/2");
	names_patient(&a, out, sizeof(out));
	assert_string_equal(out, "O_Brien^Pat_ [ID_2]");
	assert_null(strchr(out, '/'));
	attrset_release(&a);
}

static void test_empty_fields_leave_out_their_separator(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_StudyDate, "20200301");
	set(&a, TAG_StudyInstanceUID, "1.2.3");
	names_study(&a, out, sizeof(out));
	assert_string_equal(out, "2020-03-01");
	set(&a, TAG_AccessionNumber, "A7");
	names_study(&a, out, sizeof(out));
	assert_string_equal(out, "2020-03-01 [A7]");
	set(&a, TAG_StudyDescription, "CT HEAD");
	names_study(&a, out, sizeof(out));
	assert_string_equal(out, "2020-03-01 CT HEAD [A7]");
	attrset_release(&a);

	attrset_init(&a);
	set(&a, TAG_PatientID, "X");
	names_patient(&a, out, sizeof(out));
	assert_string_equal(out, "[X]");
	attrset_release(&a);
}

static void test_all_empty_study_and_series_use_uid(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_StudyInstanceUID, "1.2.3");
	set(&a, TAG_SeriesInstanceUID, "1.2.3.4");
	set(&a, TAG_SOPInstanceUID, "1.2.3.4.5");
	names_study(&a, out, sizeof(out));
	assert_string_equal(out, "1.2.3");
	names_series(&a, out, sizeof(out));
	assert_string_equal(out, "1.2.3.4");
	names_instance(&a, out, sizeof(out));
	assert_string_equal(out, "1.2.3.4.5.dcm");
	set(&a, TAG_InstanceNumber, "7");
	names_instance(&a, out, sizeof(out));
	assert_string_equal(out, "7.dcm");
	set(&a, TAG_SeriesNumber, "3");
	set(&a, TAG_Modality, "MR");
	names_series(&a, out, sizeof(out));
	assert_string_equal(out, "3 MR");
	attrset_release(&a);
}

static void test_invalid_utf8_is_replaced_and_valid_kept(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_clean("M\xc3\xbcller^J\xc3\xbcrgen", out, sizeof(out));
	assert_string_equal(out, "M\xc3\xbcller^J\xc3\xbcrgen");
	names_clean("bad\xff\xc3", out, sizeof(out));
	assert_string_equal(out, "bad\xef\xbf\xbd\xef\xbf\xbd");
	names_clean("\xc0\xaf", out, sizeof(out)); /* overlong '/' */
	assert_null(strchr(out, '/'));
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_long_names_fit_255_bytes_at_char_boundary(void **state)
{
	struct attrset a;
	char longdesc[1200], out[NAMES_BUF], out2[NAMES_BUF];

	(void)state;
	/* 'é' is two bytes: a cut in the middle would leave invalid UTF-8. */
	for (int i = 0; i < 599; i++) {
		longdesc[2 * i] = (char)0xc3;
		longdesc[2 * i + 1] = (char)0xa9;
	}
	longdesc[1198] = '\0';
	attrset_init(&a);
	set(&a, TAG_StudyDate, "20200101");
	set(&a, TAG_StudyDescription, longdesc);
	set(&a, TAG_StudyInstanceUID, "1.2.3");
	names_study(&a, out, sizeof(out));
	assert_true(strlen(out) <= 255);
	assert_non_null(strstr(out, " ~"));
	set(&a, TAG_StudyInstanceUID, "1.2.4");
	names_study(&a, out2, sizeof(out2));
	assert_string_not_equal(out, out2);
	for (size_t i = 0; out[i]; i++) {
		/* no lone continuation byte after the cut: every é is whole */
		if ((unsigned char)out[i] == 0xc3)
			assert_int_equal((unsigned char)out[i + 1], 0xa9);
	}
	attrset_release(&a);
}

static void test_clash_suffixes_every_member_by_uid(void **state)
{
	char names[3][NAMES_BUF] = {"1.dcm", "1.dcm", "2.dcm"};
	char again[3][NAMES_BUF] = {"1.dcm", "2.dcm", "1.dcm"};
	const char *keys[3] = {"1.2.3.1", "1.2.3.2", "1.2.3.3"};
	const char *keys_again[3] = {"1.2.3.2", "1.2.3.3", "1.2.3.1"};

	(void)state;
	names_make_unique(names, keys, 3);
	assert_string_equal(names[2], "2.dcm");
	assert_string_not_equal(names[0], names[1]);
	assert_true(strncmp(names[0], "1 ~", 3) == 0);
	assert_int_equal(strlen(names[0]), strlen("1 ~xxxxxx.dcm"));
	/* The same objects listed in another order get the same names. */
	names_make_unique(again, keys_again, 3);
	assert_string_equal(again[2], names[0]);
	assert_string_equal(again[0], names[1]);
}

static void test_dot_names_are_never_dot_or_dotdot(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_PatientName, "..");
	names_patient(&a, out, sizeof(out));
	assert_string_not_equal(out, "..");
	set(&a, TAG_PatientName, ".");
	names_patient(&a, out, sizeof(out));
	assert_string_not_equal(out, ".");
	attrset_release(&a);
}

static void test_flat_instance_names(void **state)
{
	struct attrset a;
	char out[NAMES_BUF];

	(void)state;
	attrset_init(&a);
	set(&a, TAG_SOPInstanceUID, "1.2.3");
	names_flat_instance(&a, out, sizeof(out));
	assert_string_equal(out, "1.2.3.dcm");
	set(&a, TAG_InstanceNumber, "12");
	names_flat_instance(&a, out, sizeof(out));
	assert_string_equal(out, "12.dcm");
	set(&a, TAG_SeriesNumber, "3");
	names_flat_instance(&a, out, sizeof(out));
	assert_string_equal(out, "3-12.dcm");
	attrset_release(&a);
}

static void test_junk_names(void **state)
{
	(void)state;
	assert_true(names_is_junk(".Trash-1000"));
	assert_true(names_is_junk(".xdg-volume-info"));
	assert_true(names_is_junk("._foo"));
	assert_true(names_is_junk("desktop.ini"));
	assert_false(names_is_junk("Doe^John [P1]"));
	assert_false(names_is_junk("1.dcm"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patient_name_with_id),
		cmocka_unit_test(test_slash_and_controls_become_underscore),
		cmocka_unit_test(test_empty_fields_leave_out_their_separator),
		cmocka_unit_test(test_all_empty_study_and_series_use_uid),
		cmocka_unit_test(test_invalid_utf8_is_replaced_and_valid_kept),
		cmocka_unit_test(test_long_names_fit_255_bytes_at_char_boundary),
		cmocka_unit_test(test_clash_suffixes_every_member_by_uid),
		cmocka_unit_test(test_dot_names_are_never_dot_or_dotdot),
		cmocka_unit_test(test_flat_instance_names),
		cmocka_unit_test(test_junk_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
