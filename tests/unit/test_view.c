/* The de-identified view's own rules in fs/view.c: which /search keys it refuses, how it cuts
 * UIDs out of the errors file, and that neither does anything on an identified mount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/tags.h"
#include "deid/deid.h"
#include "fs/search.h"
#include "fs/view.h"

static struct deid_key *key;
static struct deid *deid;

static int setup(void **state)
{
	static const char secret[] = "0123456789abcdef0123456789abcdef";

	(void)state;
	if (deid_key_from_bytes(secret, 32, &key) || deid_new(key, NULL, &deid))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	view_set(NULL);
	deid_free(deid);
	deid_key_free(key);
	return 0;
}

static int search_verdict(const char *name, char *why, size_t n)
{
	struct query q;
	int err;

	assert_int_equal(search_parse(name, &q, why, n), 0);
	err = view_check_search(&q, why, n);
	query_release(&q);
	return err;
}

static void test_identified_mount_searches_anything(void **state)
{
	char why[256] = "";

	(void)state;
	view_set(NULL);
	assert_false(view_active());
	assert_int_equal(search_verdict("PatientName=Doe*&StudyDate=20200301", why, sizeof(why)),
			 0);
}

static void test_identifying_keys_are_refused_with_the_key_named(void **state)
{
	static const char *const refused[] = {
		"PatientName=Doe*",
		"PatientID=PID001",
		"AccessionNumber=ACC1",
		"StudyDate=20200301-",
		"StudyInstanceUID=1.2.3",
		"StudyDescription=CT*",
		"ModalitiesInStudy=CT&PatientBirthDate=19700101",
	};
	char why[256];

	(void)state;
	view_set(deid);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why[0] = '\0';
		assert_int_equal(search_verdict(refused[i], why, sizeof(why)), -EACCES);
		assert_non_null(strstr(why, "refused on a de-identified mount"));
	}
	assert_int_equal(search_verdict("PatientName=Doe*", why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "PatientName"));
}

/* With Modified Dates each patient's dates move by their own offset: a date search cannot be
 * translated into the archive's dates, and the refusal says so. */
static void test_date_searches_are_refused_saying_why(void **state)
{
	struct deid_options o = {.retain_dates = true};
	struct deid *shifted;
	char why[256];

	(void)state;
	view_set(deid);
	assert_int_equal(search_verdict("StudyDate=20200301-20200303", why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "StudyDate: dates are removed in this view"));
	assert_int_equal(deid_new(key, &o, &shifted), 0);
	view_set(shifted);
	assert_int_equal(search_verdict("StudyDate=20200301-20200303", why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "StudyDate: this view shifts dates by an offset that differs "
				    "per patient"));
	assert_int_equal(
		search_verdict("ModalitiesInStudy=CT&PatientBirthDate=19700101", why, sizeof(why)),
		-EACCES);
	assert_non_null(strstr(why, "PatientBirthDate: this view shifts dates"));
	view_set(NULL);
	deid_free(shifted);
}

static void test_keys_that_name_no_one_are_allowed(void **state)
{
	char why[256] = "";

	(void)state;
	view_set(deid);
	assert_int_equal(search_verdict("ModalitiesInStudy=CT&limit=5&offset=1&includefield="
					"StudyDescription",
					why, sizeof(why)),
			 0);
	assert_int_equal(
		search_verdict("Modality=MR&BodyPartExamined=KNEE&PatientSex=F", why, sizeof(why)),
		0);
}

static void test_errors_keep_the_path_and_lose_every_original_uid(void **state)
{
	static const char text[] =
		"# header 1.2.3.4 stays\n"
		"2026-01-01T00:00:00Z\tEIO\t/studies/2.25.123/2.25.456/2.25.789.dcm\t"
		"GET http://pacs/dicom-web/studies/1.2.826.0.1.3680043.8.498.1/series/"
		"1.2.826.0.1.3680043.8.498.2\tHTTP 500\tno instance 1.2.3.4.5 in 10.0.0.1:80\n"
		/* A background transfer's failure: no path in the mount, the archive's series. */
		"2026-01-01T00:00:01Z\tENOENT\tseries 1.2.777.777.77.7.7777.7777\tGET "
		"http://pacs/dicom-web/studies/1.2.826.0.1.3680043.8.498.1\tHTTP 404\tgone\n";
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_add(&b, text, strlen(text)), 0);
	view_set(NULL);
	view_redact_errors(&b);
	assert_string_equal(b.data, text);
	view_set(deid);
	view_redact_errors(&b);
	assert_int_equal(b.len, strlen(text));
	assert_non_null(strstr(b.data, "/studies/2.25.123/2.25.456/2.25.789.dcm\t"));
	assert_null(strstr(b.data, "3680043"));
	assert_null(strstr(b.data, "1.2.3.4.5"));
	assert_null(strstr(b.data, "7777"));
	assert_non_null(strstr(b.data, "\tseries (uid)"));
	assert_non_null(strstr(b.data, "HTTP 500"));
	assert_non_null(strstr(b.data, "(uid)"));
	buf_release(&b);
}

/* What the view learns (sizes at open) is bounded: the least recently used goes first, the
 * ones in use stay. */
static void test_what_the_view_learns_is_bounded(void **state)
{
	char uid[64];
	uint64_t size;

	(void)state;
	view_set(deid);
	view_forget_all();
	for (unsigned i = 0; i < VIEW_REMEMBER_MAX + 1000; i++) {
		snprintf(uid, sizeof(uid), "1.2.3.%u", i);
		view_note_size(uid, 1000 + i);
		/* The first one is used all along: it stays. */
		if (i % 1000 == 0)
			assert_int_equal(view_size("1.2.3.0", &size), 0);
	}
	assert_int_equal(view_remembered(), VIEW_REMEMBER_MAX);
	assert_int_equal(view_size("1.2.3.0", &size), 0);
	assert_int_equal(size, 1000);
	assert_int_equal(view_size("1.2.3.1", &size), -ENOENT);
	snprintf(uid, sizeof(uid), "1.2.3.%u", VIEW_REMEMBER_MAX + 999);
	assert_int_equal(view_size(uid, &size), 0);
	assert_int_equal(size, 1000 + VIEW_REMEMBER_MAX + 999);
	view_forget_all();
	assert_int_equal(view_remembered(), 0);
	view_set(NULL);
}

/* A series or study folder of only withheld classes is left out by its Modality, once counted. */
static void test_folders_of_withheld_modalities_are_hidden(void **state)
{
	struct attrset a;

	(void)state;
	view_set(deid);
	view_forget_all();
	attrset_init(&a);
	assert_int_equal(attrset_set(&a, TAG_SeriesInstanceUID, "UI", "1.2.3.4"), 0);
	assert_int_equal(attrset_set(&a, TAG_StudyInstanceUID, "UI", "1.2.3.5"), 0);
	assert_int_equal(attrset_set(&a, TAG_Modality, "CS", "CT"), 0);
	assert_int_equal(attrset_set(&a, TAG_ModalitiesInStudy, "CS", "SR\\CT"), 0);
	assert_false(view_hides(&a, false));
	assert_false(view_hides(&a, true));
	assert_int_equal(attrset_set(&a, TAG_Modality, "CS", "SR"), 0);
	assert_int_equal(attrset_set(&a, TAG_ModalitiesInStudy, "CS", "SR\\KO\\DOC"), 0);
	assert_true(view_hides(&a, false));
	assert_true(view_hides(&a, true));
	assert_true(view_hides(&a, false));
	assert_int_equal(view_hidden(), 2);
	/* Learned: a CT series found to hold only withheld instances. */
	assert_int_equal(attrset_set(&a, TAG_SeriesInstanceUID, "UI", "1.2.3.6"), 0);
	assert_int_equal(attrset_set(&a, TAG_Modality, "CS", "CT"), 0);
	assert_false(view_hides(&a, false));
	assert_true(view_note_hidden("1.2.3.6", false));
	assert_false(view_note_hidden("1.2.3.6", false));
	assert_true(view_hides(&a, false));
	attrset_release(&a);
	view_forget_all();
	view_set(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identified_mount_searches_anything),
		cmocka_unit_test(test_identifying_keys_are_refused_with_the_key_named),
		cmocka_unit_test(test_keys_that_name_no_one_are_allowed),
		cmocka_unit_test(test_date_searches_are_refused_saying_why),
		cmocka_unit_test(test_errors_keep_the_path_and_lose_every_original_uid),
		cmocka_unit_test(test_what_the_view_learns_is_bounded),
		cmocka_unit_test(test_folders_of_withheld_modalities_are_hidden),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
