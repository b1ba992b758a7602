/* For the memory probes of bench/ (json_memory.c, mint_memory.c): a field of
 * /proc/self/status in KiB (VmHWM, VmRSS, RssAnon...), or -1. */
#ifndef TROLLEY_BENCH_RSS_H
#define TROLLEY_BENCH_RSS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline long rss_kib(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

#endif
