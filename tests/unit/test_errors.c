/* /.trolley/errors' list (core/errors.c): a record takes its thread's note and only its own,
 * the list is bounded and newest first, and no field can break a line or forge one. */
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

static void test_record_takes_the_note_once(void **state)
{
	char l[4096];

	(void)state;
	errors_clear();
	errors_note("GET http://h/x", "HTTP 500", "%s", "boom");
	errors_record("/patients", -EIO, NULL);
	errors_record("/studies", -ENOENT, NULL); /* no note left: the errno's text */
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tENOENT\t/studies\t-\t-\tNo such file or directory");
	line_of(2, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/patients\tGET http://h/x\tHTTP 500\tboom");
	assert_int_equal(l[4], '-');
	assert_int_equal(l[19], 'Z');
}

static void test_forget_note_and_fallback_reason(void **state)
{
	char l[4096];

	(void)state;
	errors_clear();
	errors_note("GET http://h/old", "HTTP 404", "gone");
	errors_forget_note();
	errors_record("series 1.2", -EIO, "prefetch failed");
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\tseries 1.2\t-\t-\tprefetch failed");
}

static void *note_elsewhere(void *arg)
{
	(void)arg;
	errors_note("C-GET PACS@h:104", "DIMSE 0xa702", "out of resources");
	return NULL;
}

static void test_a_note_belongs_to_its_thread(void **state)
{
	pthread_t t;
	char l[4096];

	(void)state;
	errors_clear();
	pthread_create(&t, NULL, note_elsewhere, NULL);
	pthread_join(t, NULL);
	errors_record("/a.dcm", -EIO, NULL);
	line_of(1, l, sizeof(l));
	assert_null(strstr(l, "PACS"));
}

static void test_bounded_newest_first(void **state)
{
	char l[4096], want[64];

	(void)state;
	errors_clear();
	for (int i = 0; i < ERRORS_KEPT + 7; i++) {
		snprintf(want, sizeof(want), "/f%d", i);
		errors_record(want, -EIO, NULL);
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
	char l[4096];

	(void)state;
	errors_clear();
	errors_note("GET http://h/\x1b[2J", "HTTP 500", "a\tb\nEIO\t/forged");
	errors_record("/p\natient", -EIO, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tEIO\t/p\\x0aatient\tGET http://h/\\x1b[2J\t"
					     "HTTP 500\ta\\x09b\\x0aEIO\\x09/forged");
	line_of(2, l, sizeof(l));
	assert_string_equal(l, "");
}

static void test_incomplete_becomes_a_note(void **state)
{
	char l[4096];

	(void)state;
	errors_clear();
	assert_false(errors_take_incomplete());
	errors_note_incomplete("study query");
	assert_true(errors_take_incomplete());
	assert_false(errors_take_incomplete());
	errors_record("/studies", 0, NULL);
	line_of(1, l, sizeof(l));
	assert_string_equal(strchr(l, '\t'), "\tincomplete\t/studies\t-\tincomplete\tstudy query: "
					     "the archive holds more than it sent");
}

static void test_the_longest_list_fits_its_cap(void **state)
{
	static char path[5000], where[5000], reason[5000];
	struct buf b;

	(void)state;
	errors_clear();
	memset(path, '\n', sizeof(path) - 1); /* each byte escaped to 4 */
	memset(where, '\x1b', sizeof(where) - 1);
	memset(reason, '\t', sizeof(reason) - 1);
	for (int i = 0; i < ERRORS_KEPT; i++) {
		errors_note(where, where, "%s", reason);
		errors_record(path, -EIO, NULL);
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
	errors_record_by(1000, "/patients/a", -EIO, NULL);
	errors_record_by(2000, "/patients/b", -ENOENT, NULL);
	errors_record("/series 1.2 (prefetch)", -EIO, NULL);
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
		cmocka_unit_test(test_record_takes_the_note_once),
		cmocka_unit_test(test_forget_note_and_fallback_reason),
		cmocka_unit_test(test_a_note_belongs_to_its_thread),
		cmocka_unit_test(test_bounded_newest_first),
		cmocka_unit_test(test_fields_cannot_break_or_forge_a_line),
		cmocka_unit_test(test_incomplete_becomes_a_note),
		cmocka_unit_test(test_the_longest_list_fits_its_cap),
		cmocka_unit_test(test_a_user_sees_only_their_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
