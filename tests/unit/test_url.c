/* Unit tests for core/url.c and the two that read URLs with it: the option check
 * (url_check_web), the log's redactor (log_redact_url), and their agreement with libcurl's
 * parser (http_url_agrees, and curl_url() itself), over many spellings of one URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/url.h"
#include "protocols/http.h"

static void assert_span(const char *text, struct url_span s, const char *want)
{
	char got[256];

	assert_true(s.off + s.len <= strlen(text));
	snprintf(got, sizeof(got), "%.*s", (int)s.len, text + s.off);
	assert_string_equal(got, want);
}

static void test_parse_splits_the_parts(void **state)
{
	const char *t = "HTTPS://al:p@ss@Pacs.example:8443/dicom-web/studies?a=b@c&d#e@f";
	struct url u;

	(void)state;
	url_parse(t, strlen(t), &u);
	assert_span(t, u.scheme, "HTTPS");
	assert_span(t, u.slashes, "//");
	assert_true(u.has_userinfo);
	assert_span(t, u.userinfo, "al:p@ss"); /* to the last '@' */
	assert_span(t, u.host, "Pacs.example");
	assert_true(u.has_port);
	assert_span(t, u.port, "8443");
	assert_span(t, u.path, "/dicom-web/studies");
	assert_true(u.has_query);
	assert_span(t, u.query, "a=b@c&d");
	assert_true(u.has_fragment);
	assert_span(t, u.fragment, "e@f");

	t = "http://[fe80::1%25eth0]:8042";
	url_parse(t, strlen(t), &u);
	assert_false(u.has_userinfo);
	assert_span(t, u.host, "[fe80::1%25eth0]");
	assert_span(t, u.port, "8042");
	assert_span(t, u.path, "");
	assert_false(u.has_query);

	/* No slash after "http:": no scheme, as libcurl reads it when it guesses one. */
	t = "http:bob:pw@h/x";
	url_parse(t, strlen(t), &u);
	assert_int_equal(u.scheme.len, 0);
	assert_span(t, u.userinfo, "http:bob:pw");
	assert_span(t, u.host, "h");

	/* Any run of slashes and backslashes. */
	t = "http:/\\\\/bob@h";
	url_parse(t, strlen(t), &u);
	assert_span(t, u.scheme, "http");
	assert_span(t, u.slashes, "/\\\\/");
	assert_span(t, u.userinfo, "bob");

	/* '@' after the authority is not userinfo. */
	t = "http://h/p/a:b@c?x=y:z@w#f:g@h";
	url_parse(t, strlen(t), &u);
	assert_false(u.has_userinfo);
	assert_span(t, u.host, "h");

	/* Not even text: still a reading, within bounds. */
	url_parse("", 0, &u);
	assert_false(u.has_userinfo);
	url_parse("[", 1, &u);
	assert_span("[", u.host, "[");
}

/* A spelling, whether the option check takes it, and a secret it must never show. */
struct spelling {
	const char *url;
	bool ok;
	const char *secret; /* NULL: none in it */
};

static const struct spelling spellings[] = {
	{"http://127.0.0.1:8042/dicom-web", true, NULL},
	{"https://pacs.example/dicom-web", true, NULL},
	{"HTTP://PACS.example:80/", true, NULL},
	{"hTtPs://pacs", true, NULL},
	{"http://[::1]:8042/dicom-web", true, NULL},
	{"http://[2001:db8::7]/wado", true, NULL},
	{"http://[fe80::1%25eth0]:8042/", true, NULL},
	{"http://h/wado?requestType=WADO&x=bob:s3cr@h#frag@x", true, NULL},
	{"http://h/path/bob:s3cr@x", true, NULL},
	{"http://h#bob:s3cr@x", true, NULL},
	{"http://h_1.example~x/", true, NULL},
	{"http://1.example/", true, NULL},
	{"http://3com/", true, NULL},
	{"http://10.0.0.255:104/", true, NULL},
	{"https://[::1:0]/", true, NULL},	      /* glibc writes it ::0.1.0.0, curl not */
	{"https://[fe80::0%25eth0]:80/", true, NULL}, /* curl writes it [fe80::] */
	/* userinfo, however spelled */
	{"http://bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:/bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:///bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:////bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:\\\\bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:/\\bob:s3cr@h/dicom-web", false, "s3cr"},
	{"http:\\/bob:s3cr@h/dicom-web", false, "s3cr"},
	{"HTTP://bob:s3cr@h/", false, "s3cr"},
	{"HtTpS://bob:s3cr@h/", false, "s3cr"},
	{"http://bob%3As3cr@h/", false, "s3cr"},
	{"http://bob%3as3cr@h/", false, "s3cr"},
	{"http://bob:s3cr%40x@h/", false, "s3cr"},
	{"http://bob:s3cr@x@h/", false, "s3cr"},
	{"http://:s3cr@h/", false, "s3cr"},
	{"http://s3cr@h/", false, "s3cr"},
	{"http://@h/", false, NULL},
	{"http://bob:s3cr@[::1]:8042/", false, "s3cr"},
	{"http://bob;AUTH=s3cr@h/", false, "s3cr"},
	{"http://h\\@x/y", false, NULL},
	{"http://bob:s3cr@h?x", false, "s3cr"},
	{"http://bob:s3cr@h#x", false, "s3cr"},
	{"bob:s3cr@h/dicom-web", false, "s3cr"},
	{"//bob:s3cr@h/dicom-web", false, "s3cr"},
	{"mint+http://bob:s3cr@h/mint", false, "s3cr"},
	/* other shapes the check refuses */
	{"http://bob%40h/", false, NULL},
	{"http://h%2e/x", false, NULL},
	{"http://h/x y", false, NULL},
	{"http://h/x\ty", false, NULL},
	{"http://h/a\\b", false, NULL},
	{"http:///h/", false, NULL},
	{"http:/h/", false, NULL},
	{"http:h/", false, NULL},
	{"h/dicom-web", false, NULL},
	{"ftp://h/", false, NULL},
	{"file:///etc/passwd", false, NULL},
	{"http://h:0/", false, NULL},
	{"http://h:65536/", false, NULL},
	{"http://h:/x", false, NULL},
	{"http://h:8o/", false, NULL},
	{"http://h:80:80/", false, NULL},
	{"http://[::1/", false, NULL},
	{"http://[::1]x/", false, NULL},
	{"http://[zz::1]/", false, NULL},
	{"http://[fe80::1%eth0]/", false, NULL},
	{"http:///", false, NULL},
	/* numbers libcurl reads as another address (found by tests/fuzz/fuzz_url.c) */
	{"http://127.0.0/x", false, NULL},
	{"http://127.1/", false, NULL},
	{"http://0x7f.0.0.1/", false, NULL},
	{"http://2130706433/", false, NULL},
	{"http://127.000.0.1/", false, NULL},
	{"http://256.0.0.1/", false, NULL},
	{"http://h:042/", false, NULL},
	{"http://[fe80::1%25abcdefghijklmnop]/", false, NULL}, /* a zone over 15 bytes */
	{"http://", false, NULL},
	{"", false, NULL},
};

static void test_check_refuses_every_spelling_of_userinfo(void **state)
{
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const struct spelling *s = &spellings[i];
		int err = url_check_web(s->url, why, sizeof(why));

		if ((err == 0) != s->ok)
			fail_msg("%s: %s", s->url, err ? why : "accepted");
		if (s->secret)
			assert_null(strstr(why, s->secret));
	}
	assert_int_equal(url_check_web("http://a:b@h/", NULL, 0), -EINVAL);
	assert_int_equal(url_check_web("http://a:b@h/", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "user name or password"));
	assert_int_equal(url_check_web("http://h\\@x/", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "user name or password"));
	{
		char host[300] = "http://";

		memset(host + 7, 'a', 254);
		assert_int_equal(url_check_web(host, NULL, 0), -EINVAL); /* a name past 253 */
		host[7 + 253] = '\0';
		assert_int_equal(url_check_web(host, NULL, 0), 0);
	}
}

static void test_redactor_drops_the_secret_of_every_spelling(void **state)
{
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const struct spelling *s = &spellings[i];

		log_redact_url(s->url, out, sizeof(out));
		if (s->secret && strstr(out, s->secret))
			fail_msg("%s -> %s", s->url, out);
		if (s->ok && !strchr(s->url, '?'))
			assert_string_equal(out, s->url); /* a URL without userinfo is kept */
	}
	assert_string_equal(log_redact_url("http:/bob:s3cr@h:8042/dicom-web", out, sizeof(out)),
			    "http:/h:8042/dicom-web");
	assert_string_equal(log_redact_url("http:bob:s3cr@h/x", out, sizeof(out)), "h/x");
	assert_string_equal(
		log_redact_url("HTTP:\\\\bob%3As3cr@h/x?access_token=t#f", out, sizeof(out)),
		"HTTP:\\\\h/x?access_token=***#f");
	assert_string_equal(log_redact_url("dicom://PACS@h:104", out, sizeof(out)),
			    "dicom://h:104");
	assert_string_equal(log_redact_url("http://h/p?x=b:s@c", out, sizeof(out)),
			    "http://h/p?x=b:s@c");
}

/* What libcurl's easy handle would do with the URL (lib/url.c parses CURLOPT_URL with these
 * flags): whether it would send a user name or password. */
static bool curl_sees_userinfo(const char *url)
{
	CURLU *u = curl_url();
	char *v = NULL;
	bool seen = false;

	if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK) {
		const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS};

		for (size_t i = 0; i < 3; i++) {
			if (curl_url_get(u, parts[i], &v, 0) == CURLUE_OK)
				seen = true;
			curl_free(v);
			v = NULL;
		}
	}
	curl_url_cleanup(u);
	return seen;
}

static void test_check_and_curl_agree(void **state)
{
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const struct spelling *s = &spellings[i];
		bool ours = url_check_web(s->url, NULL, 0) == 0;

		/* What curl would send credentials for, the check refuses... */
		if (curl_sees_userinfo(s->url))
			assert_false(ours);
		/* ...and what the check accepts, curl reads alike. */
		if (ours && http_url_agrees(s->url, why, sizeof(why)) != 0)
			fail_msg("%s: %s", s->url, why);
	}
	assert_int_equal(http_url_agrees("http://bob:s3cr@h/", why, sizeof(why)), -EINVAL);
	assert_null(strstr(why, "s3cr"));
	assert_int_equal(http_url_agrees("http:bob:s3cr@h/", why, sizeof(why)), -EINVAL);
	assert_int_equal(http_url_agrees("http://h\\@x/", why, sizeof(why)), -EINVAL);
	/* A host ours reads otherwise: the '%' of a zone curl takes, an escape it decodes. */
	assert_int_equal(http_url_agrees("http://h%2e/", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "host"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_splits_the_parts),
		cmocka_unit_test(test_check_refuses_every_spelling_of_userinfo),
		cmocka_unit_test(test_redactor_drops_the_secret_of_every_spelling),
		cmocka_unit_test(test_check_and_curl_agree),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
