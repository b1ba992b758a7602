/* Where a download's temporary file goes (sink.c): beside the LMDB map in cache_dir while its
 * disk is above its floor (min_free=), else in $TMPDIR (default /tmp) while that disk is
 * above a floor of its own, else in memory (a memfd) while the system keeps an eighth of its
 * RAM available. An instance the cache has no room for is still checked and served, from
 * where it was held: a full disk makes the cache smaller, never an export shorter. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache/internal.h"
#include "core/log.h"

/* Memory is the last place: a part held there may grow while the system keeps this share of
 * its RAM available (MemAvailable), so that a full disk never turns into an OOM kill. */
#define SPILL_MEMORY_SHARE 8

const char *spill_tmpdir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

/* MemAvailable of /proc/meminfo in bytes, or 0 if it cannot be read. */
static uint64_t mem_available(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

bool spill_has_room(struct cache *c, enum spill_place where, uint64_t more)
{
	uint64_t floor, avail, ram;

	switch (where) {
	case SPILL_CACHE_DIR:
		return store_has_room(c->store, more);
	case SPILL_TMPDIR:
		if (store_fs_floor(spill_tmpdir(), c->cfg.min_free, &floor, &avail))
			return false;
		return avail >= floor && avail - floor >= more;
	case SPILL_MEMORY:
		ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
		avail = mem_available();
		return avail >= ram / SPILL_MEMORY_SHARE &&
		       avail - ram / SPILL_MEMORY_SHARE >= more;
	default:
		return false;
	}
}

const char *spill_place_name(enum spill_place where)
{
	return where == SPILL_CACHE_DIR ? "cache_dir"
	       : where == SPILL_TMPDIR	? "$TMPDIR"
					: "memory";
}

static int open_in(struct cache *c, enum spill_place where)
{
	char path[4096];
	int fd;

	switch (where) {
	case SPILL_CACHE_DIR:
		return store_tmpfile(c->store);
	case SPILL_TMPDIR:
		fd = open(spill_tmpdir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		/* Filesystems without O_TMPFILE: a named file, unlinked at once. */
		snprintf(path, sizeof(path), "%s/trolley-dl.XXXXXX", spill_tmpdir());
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		unlink(path);
		return fd;
	case SPILL_MEMORY:
		fd = memfd_create("trolley-instance", MFD_CLOEXEC);
		return fd < 0 ? -errno : fd;
	default:
		return -ENOSPC;
	}
}

int spill_open(struct cache *c, enum spill_place from, uint64_t need, enum spill_place *where)
{
	int fd = -ENOSPC;

	for (enum spill_place p = from; p < SPILL_NONE; p++) {
		if (!spill_has_room(c, p, need))
			continue;
		fd = open_in(c, p);
		if (fd < 0) {
			log_warn("cache: cannot make a temporary file in %s: %s",
				 spill_place_name(p), strerror(-fd));
			continue;
		}
		*where = p;
		return fd;
	}
	return fd;
}
