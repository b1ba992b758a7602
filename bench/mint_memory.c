/* Peak memory of mint_parse() on a large reply, by hand (not a test: nothing is asserted).
 * Builds a studySearchResults body of N MiB from copies of the instance-level fixture's
 * studies, parses it at instance level, and prints the peak RSS and what the parse added to the
 * body itself. Build and run (optimised, without sanitizers):
 *   cc -O2 -I. -D_GNU_SOURCE -DTROLLEY_VERSION='"bench"' bench/mint_memory.c protocols/mint.c protocols/http.c \
 *      protocols/secrets.c core/attrs.c core/buf.c core/log.c core/tags.c core/query.c \
 *      core/slots.c core/pushback.c \
 *      $(pkg-config --cflags --libs libxml-2.0 libcurl) -o /tmp/mint_memory
 *   TROLLEY_FIXTURES=../shared/fixtures /tmp/mint_memory 32 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/attrs.h"
#include "protocols/mint.h"
#include "bench/rss.h"
#include "tests/unit/helpers.h"

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 32, flen = 0, n = 0, want = mib << 20;
	char *f = test_read_fixture("mint_search_instance_level.xml", &flen), *s, *e, *body;
	struct attrset_list l;
	long base;
	int rc;

	if (!f)
		return 2;
	s = strstr(f, "<study ");
	e = strstr(f, "</studySearchResults>");
	body = malloc(want + flen + 64);
	n = (size_t)(s - f);
	memcpy(body, f, n);
	while (n < want) {
		memcpy(body + n, s, (size_t)(e - s));
		n += (size_t)(e - s);
	}
	n += (size_t)sprintf(body + n, "</studySearchResults>");
	base = rss_kib("VmRSS:");
	attrset_list_init(&l);
	rc = mint_parse(body, n, MINT_INSTANCE, &l);
	printf("mint_parse %zu MiB body (%zu bytes, %zu sets): rc %d, RSS with the body %ld MiB, "
	       "peak %ld MiB, added by the parse %ld MiB (%.1f bytes per byte)\n",
	       mib, n, l.n, rc, base >> 10, rss_kib("VmHWM:") >> 10,
	       (rss_kib("VmHWM:") - base) >> 10,
	       (double)(rss_kib("VmHWM:") - base) * 1024 / (double)n);
	attrset_list_release(&l);
	free(body);
	free(f);
	return rc == 0 ? 0 : 1;
}
