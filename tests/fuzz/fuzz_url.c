/* libFuzzer harness: URLs as a user types them into an option (core/url.c), against libcurl's
 * reading of the same text. For every input (cut at its first NUL, as an option is):
 *  - every part url_parse() gives lies within the text, in order;
 *  - what url_check_web() accepts, libcurl reads with the same scheme, host and port and with no
 *    user name, password or login options (http_url_agrees());
 *  - what libcurl, parsing as its easy handle does, reads a user name or password in, the
 *    check refuses;
 *  - the redactor's output never holds the userinfo the parser found (when it is long enough,
 *    and written once in the input, for the test to mean something). */
#include <assert.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/url.h"
#include "protocols/http.h"

static void check_span(struct url_span s, size_t *at, size_t len)
{
	assert(s.off + s.len <= len);
	if (s.len) {
		assert(s.off >= *at);
		*at = s.off + s.len;
	}
}

static bool curl_sees_userinfo(const char *text)
{
	const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS};
	CURLU *u = curl_url();
	bool seen = false;

	if (u && curl_url_set(u, CURLUPART_URL, text,
			      CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
		for (size_t i = 0; i < 3; i++) {
			char *v = NULL;

			if (curl_url_get(u, parts[i], &v, 0) == CURLUE_OK)
				seen = true;
			curl_free(v);
		}
	}
	curl_url_cleanup(u);
	return seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), why[256], out[8192], secret[256];
	struct url u;
	size_t len, at = 0;
	bool ok;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);
	url_parse(text, len, &u);
	check_span(u.scheme, &at, len);
	check_span(u.slashes, &at, len);
	check_span(u.userinfo, &at, len);
	check_span(u.host, &at, len);
	check_span(u.port, &at, len);
	check_span(u.path, &at, len);
	check_span(u.query, &at, len);
	check_span(u.fragment, &at, len);
	ok = url_check_web(text, why, sizeof(why)) == 0;
	if (ok)
		assert(http_url_agrees(text, why, sizeof(why)) == 0);
	if (curl_sees_userinfo(text))
		assert(!ok);
	if (u.has_userinfo && u.userinfo.len >= 6 && u.userinfo.len < sizeof(secret) &&
	    len < sizeof(out)) {
		memcpy(secret, text + u.userinfo.off, u.userinfo.len);
		secret[u.userinfo.len] = '\0';
		if (strstr(text, secret) == text + u.userinfo.off &&
		    strstr(text + u.userinfo.off + 1, secret) == NULL) {
			log_redact_url(text, out, sizeof(out));
			assert(strstr(out, secret) == NULL);
		}
	}
	free(text);
	return 0;
}
