/* Layout templates (fs/layout.c): every syntax error with its message and place, the level
 * rules, what each query must ask for, the searcher checks, and the names fs/names.c makes from
 * a template (separators, groups, literals, modifiers, empty values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tags.h"
#include "fs/layout.h"
#include "fs/names.h"

/* @text is refused with a reason holding @part, pointing at byte @at. */
static void refused(const char *text, const char *part, size_t at)
{
	struct layout l;
	char why[512] = "";
	size_t got = 9999;

	if (layout_parse(text, &l, why, sizeof(why), &got) != -EINVAL)
		fail_msg("accepted: %s", text);
	if (!strstr(why, part))
		fail_msg("%s: \"%s\" does not say \"%s\"", text, why, part);
	if (got != at)
		fail_msg("%s: points at %zu, not %zu (%s)", text, got, at, why);
}

static void parsed(const char *text, struct layout *l)
{
	char why[512] = "";
	size_t at;

	if (layout_parse(text, l, why, sizeof(why), &at) != 0)
		fail_msg("%s refused: %s at %zu", text, why, at);
}

static void test_component_count_and_empty_components(void **state)
{
	(void)state;
	refused("%PatientID", "1 component", 0);
	refused("%PatientID/%StudyDate/%SeriesNumber/%InstanceNumber/%InstanceNumber",
		"5 components", 0);
	refused("%StudyDate//%InstanceNumber", "empty component", 11);
	refused("/%StudyDate/%InstanceNumber", "empty component", 0);
	refused("%StudyDate/%InstanceNumber/", "empty component", 27);
	refused("", "1 component", 0);
}

static void test_percent_keywords_and_modifiers(void **state)
{
	(void)state;
	refused("%StudyDate/%/%InstanceNumber", "a literal '%' is %%", 11);
	refused("%StudyDate/%InstanceNumber 5%", "a literal '%' is %%", 28);
	refused("%StudyDate/%{InstanceNumber", "'%{' without its '}'", 11);
	refused("%StudyDate/%Foo", "unknown DICOM keyword \"Foo\"", 12);
	refused("%StudyDate/%{Bar}x", "unknown DICOM keyword \"Bar\"", 13);
	refused("%PatientID/%00080020/%InstanceNumber", "unknown DICOM keyword \"00080020\"", 12);
	refused("%StudyDate/%TransferSyntaxUID", "TransferSyntaxUID cannot name a folder", 12);
	refused("%{StudyDate:upper}/%InstanceNumber", "unknown modifier", 12);
	refused("%{StudyDate:}/%InstanceNumber", "unknown modifier", 12);
	refused("%StudyDate/%{InstanceNumber:iso}", ":iso is for dates", 13);
	refused("%StudyDate/%{InstanceNumber:verylongmodifiername}", "unknown modifier", 27);
}

static void test_groups(void **state)
{
	(void)state;
	refused("%StudyDate <<%AccessionNumber>>/%InstanceNumber", "groups do not nest", 12);
	refused("%StudyDate>/%InstanceNumber", "'>' without its '<'", 10);
	refused("%StudyDate <[%AccessionNumber]/%InstanceNumber", "'<' without its '>'", 11);
	refused("%StudyDate <plain>/%InstanceNumber", "a group <...> needs a keyword", 17);
}

static void test_text_that_no_name_may_hold(void **state)
{
	char long_text[LAYOUT_TEXT_MAX + 20];

	(void)state;
	refused("DICOM/%StudyDate/%InstanceNumber", "names no DICOM keyword", 0);
	refused("%StudyDate/files", "names no DICOM keyword", 11);
	refused(".%PatientID/%StudyDate/%InstanceNumber", "must not start with '.'", 0);
	refused("%PatientID/%StudyDate/.%InstanceNumber", "must not start with '.'", 22);
	refused("%PatientID/%StudyDate\x01/%InstanceNumber", "control character", 21);
	refused("%PatientID/%StudyDate\xff/%InstanceNumber", "not valid UTF-8", 21);
	refused("%PatientID/%StudyDate/\xc0\xaf%InstanceNumber", "not valid UTF-8", 22);
	refused(" %PatientID/%StudyDate/%InstanceNumber", "start or end with a space", 0);
	refused("%PatientID /%StudyDate/%InstanceNumber", "start or end with a space", 10);
	refused("%PatientID/%StudyDate/%InstanceNumber ", "start or end with a space", 37);
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	refused(long_text, "longer than 1024 bytes", LAYOUT_TEXT_MAX);
	memset(long_text, 0, sizeof(long_text));
	strcpy(long_text, "%StudyDate/");
	for (int i = 0; i < 40; i++)
		strcat(long_text, "%InstanceNumber-");
	refused(long_text, "too many fields", 11 + 16 * 16);
	memset(long_text, 0, sizeof(long_text));
	strcpy(long_text, "%StudyDate/%InstanceNumber");
	memset(long_text + strlen(long_text), '-', 300);
	refused(long_text, "too much literal text", 26);
}

static void test_levels_come_in_order_once(void **state)
{
	struct layout l;

	(void)state;
	refused("%StudyDate_%InstanceNumber/%SeriesNumber/%InstanceNumber",
		"only the last component", 0);
	refused("%StudyDate/%PatientID/%InstanceNumber", "names the patient level", 11);
	refused("%PatientID/%PatientName/%StudyDate/%InstanceNumber", "names the patient level",
		11);
	refused("%PatientID/%SeriesNumber/%InstanceNumber", "no study level", 0);
	refused("%PatientID/%InstanceNumber", "no study level", 0);
	refused("%StudyDate/%SeriesNumber/%StudyID/%InstanceNumber", "names the study level", 25);
	/* Each level by its deepest keyword: a study component may show the patient too. */
	parsed("%PatientID_%StudyDate/%Modality/%InstanceNumber", &l);
	assert_false(l.has[LAYOUT_PATIENT]);
	assert_true(l.has[LAYOUT_STUDY] && l.has[LAYOUT_SERIES] && l.has[LAYOUT_INSTANCE]);
	parsed("%PatientID/%StudyDate/%InstanceNumber", &l);
	assert_true(l.has[LAYOUT_PATIENT] && l.has[LAYOUT_STUDY] && !l.has[LAYOUT_SERIES]);
	/* The last component names the files, by one of their own attributes at least. */
	refused("%StudyInstanceUID/%SeriesNumber", "needs an instance attribute", 18);
	parsed("%StudyInstanceUID/%SeriesNumber_%InstanceNumber", &l);
	assert_true(l.has[LAYOUT_STUDY] && l.has[LAYOUT_INSTANCE] && !l.has[LAYOUT_SERIES]);
	parsed("tree", &l);
	assert_true(l.builtin && l.has[LAYOUT_PATIENT] && l.has[LAYOUT_SERIES]);
	parsed("flat", &l);
	assert_true(l.builtin && l.has[LAYOUT_PATIENT] && !l.has[LAYOUT_SERIES]);
	parsed(LAYOUT_TREE, &l);
	assert_false(l.builtin);
}

static bool includes(const struct layout *l, enum query_level q, uint32_t tag)
{
	for (size_t i = 0; i < l->ninclude[q]; i++)
		if (l->include[q][i] == tag)
			return true;
	return false;
}

static void test_what_each_query_asks_for(void **state)
{
	struct layout l;
	char why[512];

	(void)state;
	/* The tree asks for nothing beyond every searcher's defaults: its queries are as
	 * before templates. */
	parsed("tree", &l);
	assert_int_equal(l.ninclude[0] + l.ninclude[1] + l.ninclude[2], 0);
	parsed("%PatientID_%{PatientSex}/%StudyDate_%StudyID/%ProtocolName/%AcquisitionNumber", &l);
	assert_true(includes(&l, QUERY_STUDY, TAG_PatientSex));
	assert_true(includes(&l, QUERY_STUDY, TAG_StudyID));
	assert_false(includes(&l, QUERY_STUDY, TAG_StudyDate));
	assert_true(includes(&l, QUERY_SERIES, TAG_ProtocolName));
	assert_true(includes(&l, QUERY_INSTANCE, TAG_AcquisitionNumber));
	assert_false(l.series_at_instance);
	/* Without a series level the instance query brings the series' attributes. */
	parsed("flat", &l);
	assert_true(includes(&l, QUERY_INSTANCE, TAG_SeriesNumber));
	assert_true(l.series_at_instance);
	/* MINT cannot be asked for more; C-FIND asks no series attribute of an instance query. */
	parsed("%PatientSex/%StudyDate/%InstanceNumber", &l);
	assert_int_equal(layout_check_searcher(&l, false, true, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "%PatientSex"));
	assert_non_null(strstr(why, "no includefield"));
	assert_int_equal(layout_check_searcher(&l, true, false, why, sizeof(why)), 0);
	parsed("%StudyDate/%SeriesNumber_%InstanceNumber", &l);
	assert_int_equal(layout_check_searcher(&l, true, false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "%SeriesNumber is a series attribute"));
	assert_int_equal(layout_check_searcher(&l, false, true, why, sizeof(why)), 0);
	/* flat over C-FIND names instances by their number, as it always did. */
	parsed("flat", &l);
	assert_int_equal(layout_check_searcher(&l, true, false, why, sizeof(why)), 0);
	assert_false(includes(&l, QUERY_INSTANCE, TAG_SeriesNumber));
	parsed("tree", &l);
	assert_int_equal(layout_check_searcher(&l, false, false, why, sizeof(why)), 0);
}

/* The name @text gives the entry of @level with (tag, value) pairs ending with 0. */
static void name_in(const char *text, enum layout_level level, char out[NAMES_BUF], ...)
{
	static const enum names_kind kinds[] = {NAMES_PATIENT, NAMES_STUDY, NAMES_SERIES,
						NAMES_INSTANCE};
	struct layout l;
	struct attrset a;
	va_list ap;
	uint32_t tag;

	parsed(text, &l);
	assert_true(l.has[level]);
	attrset_init(&a);
	va_start(ap, out);
	while ((tag = va_arg(ap, uint32_t)) != 0)
		assert_int_equal(attrset_set(&a, tag, tags_vr(tag), va_arg(ap, const char *)), 0);
	va_end(ap);
	names_entry(kinds[level], &l.fmt[level], &a, out);
	assert_true(names_is_valid(out));
	attrset_release(&a);
}

#define HEUDICONV "%PatientID/%StudyDate_%AccessionNumber/%Modality_%SeriesNumber/%InstanceNumber"

static void test_empty_values_leave_out_their_separator(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	name_in(HEUDICONV, LAYOUT_STUDY, out, TAG_StudyDate, "20200301", TAG_AccessionNumber, "A1",
		TAG_StudyInstanceUID, "1.2.3", 0);
	assert_string_equal(out, "20200301_A1");
	name_in(HEUDICONV, LAYOUT_STUDY, out, TAG_StudyDate, "20200301", TAG_StudyInstanceUID,
		"1.2.3", 0);
	assert_string_equal(out, "20200301");
	name_in(HEUDICONV, LAYOUT_STUDY, out, TAG_AccessionNumber, "A1", 0);
	assert_string_equal(out, "A1");
	/* Nothing to show: the UID of the entry, then "unnamed". */
	name_in(HEUDICONV, LAYOUT_STUDY, out, TAG_StudyInstanceUID, "1.2.3", 0);
	assert_string_equal(out, "1.2.3");
	name_in(HEUDICONV, LAYOUT_PATIENT, out, TAG_PatientName, "Doe^J", 0);
	assert_string_equal(out, "unnamed");
	name_in(HEUDICONV, LAYOUT_INSTANCE, out, TAG_SOPInstanceUID, "1.2.3.4", 0);
	assert_string_equal(out, "1.2.3.4.dcm");
	/* Of three fields, the separator before the next shown one is used. */
	name_in("%StudyDate/%SeriesNumber-%Modality+%SeriesDescription/%InstanceNumber",
		LAYOUT_SERIES, out, TAG_SeriesNumber, "3", TAG_SeriesDescription, "T1", 0);
	assert_string_equal(out, "3+T1");
	/* Fields of the parents alone do not name an entry: the UID does, as layout=flat names
	 * an instance without InstanceNumber. */
	name_in("flat", LAYOUT_INSTANCE, out, TAG_SeriesNumber, "8", TAG_SOPInstanceUID, "1.2.9",
		0);
	assert_string_equal(out, "1.2.9.dcm");
	name_in("flat", LAYOUT_INSTANCE, out, TAG_SeriesNumber, "8", TAG_InstanceNumber, "3", 0);
	assert_string_equal(out, "8-3.dcm");
	name_in("flat", LAYOUT_INSTANCE, out, TAG_InstanceNumber, "3", 0);
	assert_string_equal(out, "3.dcm");
	name_in("%PatientID/%PatientID_%StudyDate/%InstanceNumber", LAYOUT_STUDY, out,
		TAG_PatientID, "P1", TAG_StudyInstanceUID, "1.2.5", 0);
	assert_string_equal(out, "1.2.5");
	/* A value of spaces is empty. */
	name_in(HEUDICONV, LAYOUT_SERIES, out, TAG_Modality, "  ", TAG_SeriesNumber, "4", 0);
	assert_string_equal(out, "4");
}

static void test_literals_groups_and_modifiers(void **state)
{
	char out[NAMES_BUF];
	const char *bids = "sub-%{PatientID:alnum}/ses-%StudyDate/%Modality <run-%SeriesNumber>/"
			   "%InstanceNumber";

	(void)state;
	/* A prefix and a suffix are always shown, around the UID or "unnamed" too. */
	name_in(bids, LAYOUT_PATIENT, out, TAG_PatientID, "P-0_1", 0);
	assert_string_equal(out, "sub-P01");
	name_in(bids, LAYOUT_PATIENT, out, TAG_PatientID, "", 0);
	assert_string_equal(out, "sub-unnamed");
	name_in("%StudyDate/%SeriesNumber (%Modality)/%InstanceNumber", LAYOUT_SERIES, out,
		TAG_Modality, "CT", TAG_SeriesInstanceUID, "1.2", 0);
	assert_string_equal(out, "CT)"); /* the suffix stays: a group would leave it out */
	name_in("%StudyDate/<(%Modality)> %SeriesNumber/%InstanceNumber", LAYOUT_SERIES, out,
		TAG_SeriesNumber, "7", 0);
	assert_string_equal(out, "7");
	name_in("%StudyDate/<(%Modality)> %SeriesNumber/%InstanceNumber", LAYOUT_SERIES, out,
		TAG_SeriesNumber, "7", TAG_Modality, "MR", 0);
	assert_string_equal(out, "(MR) 7");
	/* A group shows only when every field in it has a value. */
	name_in(bids, LAYOUT_SERIES, out, TAG_Modality, "MR", TAG_SeriesNumber, "2", 0);
	assert_string_equal(out, "MR run-2");
	name_in(bids, LAYOUT_SERIES, out, TAG_Modality, "MR", 0);
	assert_string_equal(out, "MR");
	name_in("%StudyDate/%SeriesNumber <%Modality-%BodyPartExamined>/%InstanceNumber",
		LAYOUT_SERIES, out, TAG_SeriesNumber, "1", TAG_Modality, "CT", 0);
	assert_string_equal(out, "1");
	/* Escapes, and a keyword glued to letters with braces. */
	name_in("%StudyDate/100%% %<%Modality%>/%InstanceNumber", LAYOUT_SERIES, out, TAG_Modality,
		"CT", 0);
	assert_string_equal(out, "100% <CT>");
	name_in("%StudyDate/%{SeriesNumber}a/%InstanceNumber", LAYOUT_SERIES, out, TAG_SeriesNumber,
		"5", 0);
	assert_string_equal(out, "5a");
	name_in("%{StudyDate:iso}/%InstanceNumber", LAYOUT_STUDY, out, TAG_StudyDate, "20200301",
		0);
	assert_string_equal(out, "2020-03-01");
	/* Values are cleaned as every name is: '/' and control characters, PN's '^'. */
	name_in("%PatientName/%StudyDate/%InstanceNumber", LAYOUT_PATIENT, out, TAG_PatientName,
		"O/Brien^Pat^^", 0);
	assert_string_equal(out, "O_Brien^Pat");
	/* A value that would start the name with a dot does not. */
	name_in("%PatientID/%StudyDate/%InstanceNumber", LAYOUT_PATIENT, out, TAG_PatientID, "..",
		0);
	assert_string_equal(out, "_.");
	name_in("%PatientID/%StudyDate/%InstanceNumber", LAYOUT_INSTANCE, out, TAG_InstanceNumber,
		"3", 0);
	assert_string_equal(out, "3.dcm");
}

static void test_long_values_are_cut_with_a_suffix(void **state)
{
	char out[NAMES_BUF], value[400];

	(void)state;
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	name_in("%StudyDate/%SeriesDescription_%SeriesNumber/%InstanceNumber", LAYOUT_SERIES, out,
		TAG_SeriesDescription, value, TAG_SeriesNumber, "1", TAG_SeriesInstanceUID, "1.2",
		0);
	assert_int_equal(strlen(out), NAMES_MAX);
	assert_true(names_strip_suffix(out, NULL));
	name_in("%StudyDate/%InstanceNumber_%SOPInstanceUID", LAYOUT_INSTANCE, out,
		TAG_InstanceNumber, value, TAG_SOPInstanceUID, "1.2", 0);
	assert_int_equal(strlen(out), NAMES_MAX);
	assert_true(strcmp(out + NAMES_MAX - 4, ".dcm") == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_component_count_and_empty_components),
		cmocka_unit_test(test_percent_keywords_and_modifiers),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_text_that_no_name_may_hold),
		cmocka_unit_test(test_levels_come_in_order_once),
		cmocka_unit_test(test_what_each_query_asks_for),
		cmocka_unit_test(test_empty_values_leave_out_their_separator),
		cmocka_unit_test(test_literals_groups_and_modifiers),
		cmocka_unit_test(test_long_values_are_cut_with_a_suffix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
