/* The de-identified view's own rules in fs/view.c: which /search keys it refuses, how it cuts
 * UIDs out of the errors file, and that neither does anything on an identified mount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identified_mount_searches_anything),
		cmocka_unit_test(test_identifying_keys_are_refused_with_the_key_named),
		cmocka_unit_test(test_keys_that_name_no_one_are_allowed),
		cmocka_unit_test(test_errors_keep_the_path_and_lose_every_original_uid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
