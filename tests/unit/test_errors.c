/* /.trolley/errors' list (core/errors.c): a record takes the detail it is given (filled on any
 * thread), the list is bounded and newest first, and no field can break a line or forge one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"

/* Line @i (0: the header) of the list, into @out. */
static void line_of(int i, char *out, size_t n)
{
	struct buf b;
	const char *s;

	buf_init(&b, 1 << 20);
	assert_int_equal(errors_text(&b), 0);
	s = b.data;
	for (; i > 0 && s; i--) {
		s = strchr(s, '\n');
		s = s ? s + 1 : NULL;
	}
	assert_non_null(s);
	snprintf(out, n, "%.*s", (int)(strchrnul(s, '\n') - s), s);
	buf_release(&b);
}

static void test_record_takes_the_detail_it_is_given(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT;
	char l[4096];

	(void)state;
	errors_clear();
	errors_detail_set(&d, "GET http://h/x", "HTTP 500", "%s", "boom");
	errors_record(&d, "/patients", -EIO, NULL);
	errors_record(NULL, "/studies", -ENOENT, NULL); /* no detail: the errno's text */
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tENOENT\t/studies\t-\t-\tNo such file or directory");
	line_of(2, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/patients\tGET http://h/x\tHTTP 500\tboom");
	assert_int_equal(l[4], '-');
	assert_int_equal(l[19], 'Z');
}

static void test_empty_detail_and_fallback_reason(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT;
	char l[4096];

	(void)state;
	errors_clear();
	errors_record(&d, "series 1.2", -EIO, "prefetch failed");
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\tseries 1.2\t-\t-\tprefetch failed");
	/* A NULL detail takes nothing: whoever fails with none to fill only logs. */
	errors_detail_set(NULL, "GET http://h/y", "HTTP 500", "x");
	errors_detail_incomplete(NULL, "x");
	assert_false(errors_detail_is_incomplete(NULL));
}

/* What a thread working for the request fills (a page asked ahead, the C-MOVE storage SCP)
 * is the request's: the value travels, not the thread. */
static void *fill_elsewhere(void *arg)
{
	errors_detail_set(arg, "C-GET PACS@h:104", "DIMSE 0xa702", "out of resources");
	return NULL;
}

static void test_a_detail_filled_on_another_thread_is_recorded(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT;
	pthread_t t;
	char l[4096];

	(void)state;
	errors_clear();
	pthread_create(&t, NULL, fill_elsewhere, &d);
	pthread_join(t, NULL);
	errors_record(&d, "/a.dcm", -EIO, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/a.dcm\tC-GET PACS@h:104\tDIMSE 0xa702\tout "
					     "of resources");
}

/* A reader's refusal names no request; the request's failure adds where and status. */
static void test_a_refusal_keeps_the_readers_reason(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT, copy = ERRORS_DETAIL_INIT;
	char l[4096];

	(void)state;
	errors_clear();
	errors_detail_set(&d, "", "", "not a DICOM Part-10 file");
	errors_detail_refused(&d, "GET http://h/i", "HTTP 200", "reply refused");
	errors_detail_copy(&copy, &d);
	errors_record(&copy, "/i.dcm", -EIO, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/i.dcm\tGET http://h/i\tHTTP 200\tnot a "
					     "DICOM Part-10 file");
}

static void test_bounded_newest_first(void **state)
{
	char l[4096], want[64];

	(void)state;
	errors_clear();
	for (int i = 0; i < ERRORS_KEPT + 7; i++) {
		snprintf(want, sizeof(want), "/f%d", i);
		errors_record(NULL, want, -EIO, NULL);
	}
	line_of(0, l, sizeof(l));
	assert_non_null(strstr(l, "the last 100 of 107"));
	line_of(1, l, sizeof(l));
	assert_non_null(strstr(l, "\t/f106\t"));
	line_of(ERRORS_KEPT, l, sizeof(l));
	assert_non_null(strstr(l, "\t/f7\t"));
	assert_int_equal(errors_count(), ERRORS_KEPT + 7);
}

static void test_fields_cannot_break_or_forge_a_line(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT;
	char l[4096];

	(void)state;
	errors_clear();
	errors_detail_set(&d, "GET http://h/\x1b[2J", "HTTP 500", "a\tb\nEIO\t/forged");
	errors_record(&d, "/p\natient", -EIO, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/p\\x0aatient\tGET http://h/\\x1b[2J\t"
					     "HTTP 500\ta\\x09b\\x0aEIO\\x09/forged");
	line_of(2, l, sizeof(l));
	assert_string_equal(l, "");
}

static void test_incomplete_is_recorded_with_err_0(void **state)
{
	struct errors_detail d = ERRORS_DETAIL_INIT;
	char l[4096];

	(void)state;
	errors_clear();
	assert_false(errors_detail_is_incomplete(&d));
	errors_detail_incomplete(&d, "study query");
	assert_true(errors_detail_is_incomplete(&d));
	errors_record(&d, "/studies", 0, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tincomplete\t/studies\t-\tincomplete\tstudy query: "
					     "the archive holds more than it sent");
}

static void test_the_longest_list_fits_its_cap(void **state)
{
	static char path[5000], where[5000], reason[5000];
	struct errors_detail d = ERRORS_DETAIL_INIT;
	struct buf b;

	(void)state;
	errors_clear();
	memset(path, '\n', sizeof(path) - 1); /* each byte escaped to 4 */
	memset(where, '\x1b', sizeof(where) - 1);
	memset(reason, '\t', sizeof(reason) - 1);
	for (int i = 0; i < ERRORS_KEPT; i++) {
		errors_detail_set(&d, where, where, "%s", reason);
		errors_record(&d, path, -EIO, NULL);
	}
	buf_init(&b, ERRORS_TEXT_MAX);
	assert_int_equal(errors_text(&b), 0);
	assert_true(b.len > ERRORS_KEPT * 8000);
	buf_release(&b);
}

/* errors_text_of(): a user's own failures, none of another user's or of nobody's. */
static void test_a_user_sees_only_their_own(void **state)
{
	struct buf b;

	(void)state;
	errors_clear();
	errors_record_by(1000, NULL, "/patients/a", -EIO, NULL);
	errors_record_by(2000, NULL, "/patients/b", -ENOENT, NULL);
	errors_record(NULL, "/series 1.2 (prefetch)", -EIO, NULL);
	buf_init(&b, 1 << 20);
	assert_int_equal(errors_text_of(&b, 1000), 0);
	assert_non_null(strstr(b.data, "yours among the last"));
	assert_non_null(strstr(b.data, "/patients/a"));
	assert_null(strstr(b.data, "/patients/b"));
	assert_null(strstr(b.data, "prefetch"));
	buf_release(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(errors_text_of(&b, 3000), 0);
	assert_int_equal(strchr(b.data, '\n') - b.data + 1, (long)b.len); /* the header alone */
	buf_release(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(errors_text(&b), 0);
	assert_non_null(strstr(b.data, "/patients/a"));
	assert_non_null(strstr(b.data, "/patients/b"));
	assert_non_null(strstr(b.data, "prefetch"));
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_takes_the_detail_it_is_given),
		cmocka_unit_test(test_empty_detail_and_fallback_reason),
		cmocka_unit_test(test_a_detail_filled_on_another_thread_is_recorded),
		cmocka_unit_test(test_a_refusal_keeps_the_readers_reason),
		cmocka_unit_test(test_bounded_newest_first),
		cmocka_unit_test(test_fields_cannot_break_or_forge_a_line),
		cmocka_unit_test(test_incomplete_is_recorded_with_err_0),
		cmocka_unit_test(test_the_longest_list_fits_its_cap),
		cmocka_unit_test(test_a_user_sees_only_their_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
