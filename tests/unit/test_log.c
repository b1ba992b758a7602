/* Log hygiene: server text cannot forge or hide a log line, and URLs lose their credentials
 * (userinfo and credential query values) before they are logged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/log.h"

/* A call site's budget: @burst lines a window, the rest counted and reported with the first
 * line let through after the window. */
static void test_limit_lets_a_burst_through_then_counts(void **state)
{
	struct log_limit l = LOG_LIMIT_INIT(3, 10);
	unsigned long n, s;
	unsigned passed = 0;

	(void)state;
	for (int i = 0; i < 100; i++) /* 100 lines within 5 s */
		passed += log_limit_pass(&l, 1000 + 50 * (uint64_t)i, &n, &s);
	assert_int_equal(passed, 3);
	/* Still the same window: nothing through, nothing reported. */
	assert_false(log_limit_pass(&l, 9000, &n, &s));
	/* The next window: the first line goes, with the 98 suppressed before it. */
	assert_true(log_limit_pass(&l, 12000, &n, &s));
	assert_int_equal(n, 98);
	assert_int_equal(s, 11);
	assert_true(log_limit_pass(&l, 12001, &n, &s));
	assert_int_equal(n, 0);
	assert_int_equal(s, 0);
}

static void test_limit_quiet_site_is_never_held_back(void **state)
{
	struct log_limit l = LOG_LIMIT_INIT(2, 10);
	unsigned long n, s;

	(void)state;
	/* One line every 6 s: never more than two in a window. */
	for (int i = 0; i < 20; i++) {
		assert_true(log_limit_pass(&l, 6000 * (uint64_t)i, &n, &s));
		assert_int_equal(n, 0);
	}
}

static void test_escape_controls_del_c1_and_invalid_utf8(void **state)
{
	static const char in[] = "a\nb\r\tc\x1b[31m\x7f"
				 "\xc3\xa9"	/* é: kept */
				 "\xc2\x85"	/* U+0085 NEL, a C1 control */
				 "\xff\xc3"	/* not UTF-8 */
				 "\xe2\x82\xac" /* €: kept */
				 "\xc0\xaf";	/* overlong '/' */
	char out[256];
	size_t n = log_escape(in, sizeof(in) - 1, out, sizeof(out));

	(void)state;
	assert_string_equal(out, "a\\x0ab\\x0d\\x09c\\x1b[31m\\x7f\xc3\xa9\\xc2\\x85\\xff\\xc3"
				 "\xe2\x82\xac\\xc0\\xaf");
	assert_int_equal(n, strlen(out));
}

static void test_escape_cuts_at_a_whole_character(void **state)
{
	char out[6];

	(void)state;
	log_escape("ab\ncd", 5, out, sizeof(out));
	assert_string_equal(out, "ab"); /* "\x0a" would not fit: left out whole */
	log_escape("a\xc3\xa9\xc3\xa9", 5, out, 5);
	assert_string_equal(out, "a\xc3\xa9");
	log_escape("x\0y", 3, out, sizeof(out));
	assert_string_equal(out, "x\\x00");
}

static void test_redact_userinfo_and_credential_query_values(void **state)
{
	char out[512];

	(void)state;
	assert_string_equal(log_redact_url("https://al:p@ss@h:1/a?b=1", out, sizeof(out)),
			    "https://h:1/a?b=1");
	assert_string_equal(log_redact_url("http://h/w?x=a:b@c", out, sizeof(out)),
			    "http://h/w?x=a:b@c");
	assert_string_equal(
		log_redact_url("https://h/wado?access_token=t1&requestType=WADO&X-Amz-Signature=s"
			       "&x-amz-credential=c&sig=z&apiKey=k&Password=p&jsessionid=j"
			       "&objectUID=1.2#frag",
			       out, sizeof(out)),
		"https://h/wado?access_token=***&requestType=WADO&X-Amz-Signature=***"
		"&x-amz-credential=***&sig=***&apiKey=***&Password=***&jsessionid=***"
		"&objectUID=1.2#frag");
	/* QIDO matching keys and paging stay readable. */
	assert_string_equal(log_redact_url("http://h/studies?PatientName=A*&limit=5&offset=0&"
					   "includefield=00080080&token",
					   out, sizeof(out)),
			    "http://h/studies?PatientName=A*&limit=5&offset=0&"
			    "includefield=00080080&token");
	assert_string_equal(log_redact_url("https://h/x?token=abcdef", out, 12), "https://h/x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_lets_a_burst_through_then_counts),
		cmocka_unit_test(test_limit_quiet_site_is_never_held_back),
		cmocka_unit_test(test_escape_controls_del_c1_and_invalid_utf8),
		cmocka_unit_test(test_escape_cuts_at_a_whole_character),
		cmocka_unit_test(test_redact_userinfo_and_credential_query_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
