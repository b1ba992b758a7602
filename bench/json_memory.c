/* Peak memory of reading DICOM JSON, by hand (not a test: nothing is asserted). Builds a body of
 * N MiB from the shared fixtures (copies of one instance's WADO-RS metadata, or of QIDO study
 * results), then reads it one way and prints the peak RSS and what the reading added to the
 * body itself:
 *   meta-cjson  the whole body parsed with cJSON and walked into attribute sets (how wado_rs.c
 *               checked metadata before json_check.c)
 *   meta-stream json_check.c fed in 16 KiB pieces, as curl hands them over
 *   qido-cjson  the same cJSON parse of a QIDO page (how qido_rs.c read a page before)
 *   qido-stream dicom_json_parse_list(): one data set at a time (how it reads one now)
 * Build and run (an optimised build without sanitizers; numbers in the commit and the report):
 *   cc -O2 -I. -D_GNU_SOURCE bench/json_memory.c protocols/dicom_json.c core/json_check.c \
 *      core/attrs.c core/buf.c core/log.c core/tags.c -lcjson -lm -o /tmp/json_memory
 *   TROLLEY_FIXTURES=../shared/fixtures /tmp/json_memory meta-cjson 64 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/attrs.h"
#include "core/buf.h"
#include "protocols/dicom_json.h"
#include "core/json_check.h"
#include "bench/rss.h"
#include "tests/unit/helpers.h"

/* N MiB of copies of the elements of @fixture's array, without whitespace (as archives send it,
 * and the worst case: the metadata fixture is indented, a third of it whitespace). */
static char *make_body(const char *fixture, size_t mib, size_t *len)
{
	size_t flen = 0, n = 0, want = mib << 20;
	char *raw = test_read_fixture(fixture, &flen), *f, *s, *e, *body;
	cJSON *tree = raw ? cJSON_ParseWithLength(raw, flen) : NULL;

	free(raw);
	f = tree ? cJSON_PrintUnformatted(tree) : NULL;
	cJSON_Delete(tree);
	if (!f)
		return NULL;
	s = strchr(f, '[') + 1;
	e = strrchr(f, ']');
	body = malloc(want + (size_t)(e - s) + 16);
	body[n++] = '[';
	while (n < want) {
		if (n > 1)
			body[n++] = ',';
		memcpy(body + n, s, (size_t)(e - s));
		n += (size_t)(e - s);
	}
	body[n++] = ']';
	*len = n;
	free(f);
	return body;
}

/* What dicom_json.c did before: one cJSON tree of the whole body, then attribute sets. */
static int read_with_cjson(const char *body, size_t len, size_t *sets)
{
	struct attrset_list l;
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *obj;
	int err = 0;

	if (!root)
		return -1;
	attrset_list_init(&l);
	cJSON_ArrayForEach (obj, root) {
		err = dicom_json_to_attrset(obj, attrset_list_add(&l));
		if (err)
			break;
	}
	*sets = l.n;
	attrset_list_release(&l);
	cJSON_Delete(root);
	return err;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "meta-stream";
	size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 64, len = 0, sets = 0;
	bool meta = strncmp(mode, "meta", 4) == 0;
	char *body = make_body(meta ? "wadors_metadata_instance.json" : "qido_rs_study_level.json",
			       mib, &len);
	long base;
	int rc = -1;

	if (!body)
		return 2;
	base = rss_kib("VmRSS:");
	if (strcmp(mode, "meta-cjson") == 0 || strcmp(mode, "qido-cjson") == 0) {
		rc = read_with_cjson(body, len, &sets);
	} else if (strcmp(mode, "meta-stream") == 0) {
		struct json_check c;

		json_check_init(&c, 0);
		for (size_t at = 0; at < len; at += 16384)
			json_check_feed(&c, body + at, len - at < 16384 ? len - at : 16384);
		rc = json_check_finish(&c);
	} else if (strcmp(mode, "qido-stream") == 0) {
		struct attrset_list l;

		attrset_list_init(&l);
		rc = dicom_json_parse_list(body, len, &l);
		sets = l.n;
		attrset_list_release(&l);
	}
	printf("%s %zu MiB body (%zu bytes, %zu sets): rc %d, RSS with the body %ld MiB, "
	       "peak %ld MiB, added by the reading %ld MiB (%.1f bytes per byte)\n",
	       mode, mib, len, sets, rc, base >> 10, rss_kib("VmHWM:") >> 10,
	       (rss_kib("VmHWM:") - base) >> 10,
	       (double)(rss_kib("VmHWM:") - base) * 1024 / (double)len);
	free(body);
	return rc == 0 ? 0 : 1;
}
