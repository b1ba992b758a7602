/* MINT replies: the captured fixtures with all their quirks, and what is not MINT at all. */
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
#include "protocols/mint.h"

static size_t parse_fixture(const char *name, enum mint_level level, struct attrset_list *l)
{
	size_t len = 0;
	char *xml = test_read_fixture(name, &len);

	if (!xml)
		skip();
	attrset_list_init(l);
	assert_int_equal(mint_parse(xml, len, level, l), 0);
	free(xml);
	return l->n;
}

static void test_study_level_with_false_utf3_prolog(void **state)
{
	struct attrset_list l;

	(void)state;
	assert_int_equal(parse_fixture("mint_search_study_level.xml", MINT_STUDY, &l), 3);
	for (size_t i = 0; i < l.n; i++) {
		assert_non_null(attrset_get(&l.v[i], TAG_StudyInstanceUID));
		assert_non_null(attrset_get(&l.v[i], TAG_PatientName));
	}
	attrset_list_release(&l);
	assert_int_equal(parse_fixture("mint_search_any.xml", MINT_STUDY, &l), 3);
	assert_string_not_equal(attrset_str(&l.v[0], TAG_StudyInstanceUID),
				attrset_str(&l.v[1], TAG_StudyInstanceUID));
	attrset_list_release(&l);
}

static void test_series_before_study_attrs_get_the_study_attrs(void **state)
{
	struct attrset_list l;

	(void)state;
	assert_int_equal(parse_fixture("mint_search_series_level.xml", MINT_SERIES, &l), 5);
	for (size_t i = 0; i < l.n; i++) {
		assert_non_null(attrset_get(&l.v[i], TAG_SeriesInstanceUID));
		/* The study's attributes come after its series in the XML, yet each series has them. */
		assert_non_null(attrset_get(&l.v[i], TAG_PatientID));
		assert_non_null(attrset_get(&l.v[i], TAG_StudyInstanceUID));
	}
	attrset_list_release(&l);
}

static void test_instance_level_with_short_da_and_syntaxes(void **state)
{
	struct attrset_list l;

	(void)state;
	assert_int_equal(parse_fixture("mint_search_instance_level.xml", MINT_INSTANCE, &l), 14);
	for (size_t i = 0; i < l.n; i++) {
		assert_non_null(attrset_get(&l.v[i], TAG_SOPInstanceUID));
		assert_non_null(attrset_get(&l.v[i], TAG_SeriesInstanceUID));
		assert_non_null(attrset_get(&l.v[i], TAG_TransferSyntaxUID));
	}
	assert_string_equal(attrset_str(&l.v[0], TAG_PatientBirthDate), "1900");
	attrset_list_release(&l);
}

static void test_missing_val_is_empty(void **state)
{
	const char xml[] = "<studySearchResults xmlns=\"http://medical.nema.org/mint\">"
			   "<study><attr tag=\"00081030\" vr=\"LO\"/>"
			   "<attr tag=\"0020000d\" vr=\"UI\" val=\"1.2.3\"/></study>"
			   "</studySearchResults>";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(mint_parse(xml, sizeof(xml) - 1, MINT_STUDY, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(attrset_get(&l.v[0], TAG_StudyDescription), "");
	assert_string_equal(attrset_get(&l.v[0], TAG_StudyInstanceUID), "1.2.3");
	attrset_list_release(&l);
}

static void test_html_and_garbage_are_eio(void **state)
{
	static const char *const names[] = {"mint_error_500.html", "mint_401.html"};
	const char *bad[] = {"", "<html><body>500</body></html>", "<studySearchResults",
			     "<other xmlns=\"http://medical.nema.org/mint\"/>",
			     "<studySearchResults xmlns=\"http://medical.nema.org/mint\"><study>"
			     "<attr tag=\"zz\" vr=\"LO\" val=\"x\"/></study></studySearchResults>"};
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mint_parse(bad[i], strlen(bad[i]), MINT_STUDY, &l), -EIO);
	for (size_t i = 0; i < 2; i++) {
		size_t len = 0;
		char *html = test_read_fixture(names[i], &len);

		if (!html)
			continue;
		assert_int_equal(mint_parse(html, len, MINT_STUDY, &l), -EIO);
		free(html);
	}
	assert_int_equal(l.n, 0);
}

/* The streaming reader keeps the DOM parse's rules: only study > series > instance nestings of
 * MINT elements count (an <attr> or <series> inside a foreign element is not ours), a study's
 * attributes reach the series and instances before them, empty elements are elements, and the
 * own value wins over the parent's. */
static void test_only_mint_nestings_count(void **state)
{
	const char xml[] =
		"<m:studySearchResults xmlns:m=\"http://medical.nema.org/mint\">"
		"<m:study><m:series><m:instance><m:attr tag=\"00080018\" vr=\"UI\" val=\"1.2\"/>"
		"<m:attr tag=\"0020000E\" vr=\"UI\" val=\"own\"/></m:instance>"
		"<m:attr tag=\"0020000E\" vr=\"UI\" val=\"3.4\"/></m:series><m:series/>"
		"<x:series xmlns:x=\"urn:other\"><m:attr tag=\"0020000E\" vr=\"UI\" val=\"9\"/>"
		"</x:series><other><m:attr tag=\"00100010\" vr=\"PN\" val=\"no\"/></other>"
		"<m:attr tag=\"0020000D\" vr=\"UI\" val=\"5.6\"/></m:study><m:study/>"
		"<m:attr tag=\"00100020\" vr=\"LO\" val=\"root\"/></m:studySearchResults>";
	struct attrset_list l;

	(void)state;
	attrset_list_init(&l);
	assert_int_equal(mint_parse(xml, sizeof(xml) - 1, MINT_STUDY, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(attrset_str(&l.v[0], TAG_StudyInstanceUID), "5.6");
	assert_null(attrset_get(&l.v[0], TAG_PatientName));
	assert_null(attrset_get(&l.v[1], TAG_PatientID));
	attrset_list_release(&l);
	assert_int_equal(mint_parse(xml, sizeof(xml) - 1, MINT_SERIES, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(attrset_str(&l.v[0], TAG_SeriesInstanceUID), "3.4");
	assert_string_equal(attrset_str(&l.v[1], TAG_StudyInstanceUID), "5.6");
	assert_null(attrset_get(&l.v[1], TAG_SeriesInstanceUID));
	attrset_list_release(&l);
	assert_int_equal(mint_parse(xml, sizeof(xml) - 1, MINT_INSTANCE, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(attrset_str(&l.v[0], TAG_SOPInstanceUID), "1.2");
	assert_string_equal(attrset_str(&l.v[0], TAG_SeriesInstanceUID), "own");
	assert_string_equal(attrset_str(&l.v[0], TAG_StudyInstanceUID), "5.6");
	attrset_list_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_study_level_with_false_utf3_prolog),
		cmocka_unit_test(test_series_before_study_attrs_get_the_study_attrs),
		cmocka_unit_test(test_instance_level_with_short_da_and_syntaxes),
		cmocka_unit_test(test_missing_val_is_empty),
		cmocka_unit_test(test_html_and_garbage_are_eio),
		cmocka_unit_test(test_only_mint_nestings_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
