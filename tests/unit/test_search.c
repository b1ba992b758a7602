/* /search folder names: every query feature, and each malformed name refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/tags.h"
#include "fs/search.h"

static void test_fields_wildcards_and_ranges(void **state)
{
	struct query q;
	char why[256];

	(void)state;
	assert_int_equal(
		search_parse("PatientName=B*&ModalitiesInStudy=CT&StudyDate=20200301-20200303", &q,
			     why, sizeof(why)),
		0);
	assert_int_equal(q.level, QUERY_STUDY);
	assert_string_equal(attrset_get(&q.match, TAG_PatientName), "B*");
	assert_string_equal(attrset_get(&q.match, TAG_ModalitiesInStudy), "CT");
	assert_string_equal(attrset_get(&q.match, TAG_StudyDate), "20200301-20200303");
	query_release(&q);
}

static void test_open_ended_ranges_limit_offset_includefield(void **state)
{
	struct query q;
	char why[256];

	(void)state;
	assert_int_equal(search_parse("StudyDate=-20200303&limit=5&offset=10&includefield="
				      "InstitutionName,00091001",
				      &q, why, sizeof(why)),
			 0);
	assert_string_equal(attrset_get(&q.match, TAG_StudyDate), "-20200303");
	assert_int_equal(q.limit, 5);
	assert_int_equal(q.offset, 10);
	assert_int_equal(q.ninclude, 2);
	assert_int_equal(q.include[0], 0x00080080u);
	assert_int_equal(q.include[1], 0x00091001u);
	query_release(&q);
	assert_int_equal(search_parse("StudyDate=20200301-", &q, why, sizeof(why)), 0);
	query_release(&q);
}

static void test_percent_escapes_carry_ampersand_and_slash(void **state)
{
	struct query q;
	char why[256];

	(void)state;
	assert_int_equal(search_parse("StudyDescription=A%26B%2FC", &q, why, sizeof(why)), 0);
	assert_string_equal(attrset_get(&q.match, TAG_StudyDescription), "A&B/C");
	query_release(&q);
}

static void check_refused(const char *name, const char *reason_part)
{
	struct query q;
	char why[256] = "";

	assert_int_equal(search_parse(name, &q, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, reason_part));
}

static void test_malformed_names_are_einval_with_reason(void **state)
{
	(void)state;
	check_refused("Bogus=1", "unknown DICOM keyword 'Bogus'");
	check_refused("PatientName", "not key=value");
	check_refused("StudyDate=2020", "expected YYYYMMDD");
	check_refused("StudyDate=20200101-2020", "expected YYYYMMDD");
	check_refused("limit=ten", "expected a number");
	check_refused("offset=-1", "expected a number");
	check_refused("PatientID=1&PatientID=2", "given twice");
	check_refused("StudyInstanceUID=1.2.x", "not a UID");
	check_refused("PatientName=%2", "escape");
	check_refused("includefield=NoSuchThing", "unknown keyword");
	check_refused("", "empty");
}

/* A tag is a keyword or exactly eight hex digits: strtoul's sign, "0x" and white space are not
 * digits, whether as a matching key or in includefield. */
static void test_hex_tags_are_exactly_eight_hex_digits(void **state)
{
	static const char *const bad[] = {"+0100010=x",
					  "-0100010=x",
					  " 0100010=x",
					  "0x100010=x",
					  "0X100010=x",
					  "00 10010=x",
					  "includefield=0x091001",
					  "includefield=+0091001"};
	struct query q;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(search_parse(bad[i], &q, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "unknown"));
	}
	assert_int_equal(search_parse("00100010=Doe*&includefield=0009100a", &q, why, sizeof(why)),
			 0);
	assert_string_equal(attrset_get(&q.match, TAG_PatientName), "Doe*");
	assert_int_equal(q.include[0], 0x0009100au);
	query_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_wildcards_and_ranges),
		cmocka_unit_test(test_open_ended_ranges_limit_offset_includefield),
		cmocka_unit_test(test_percent_escapes_carry_ampersand_and_slash),
		cmocka_unit_test(test_malformed_names_are_einval_with_reason),
		cmocka_unit_test(test_hex_tags_are_exactly_eight_hex_digits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
