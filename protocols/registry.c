/* The table of protocols: adding one is a file in protocols/ and a line here. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "dcmtk/dimse.h"
#include "protocols/downloader.h"
#include "protocols/mint.h"
#include "protocols/qido_rs.h"
#include "protocols/rad69.h"
#include "protocols/searcher.h"
#include "protocols/wado_rs.h"
#include "protocols/wado_uri.h"

struct searcher_entry {
	const char *name;
	int (*make)(const struct proto_config *cfg, struct searcher **out);
};

struct downloader_entry {
	const char *name;
	int (*make)(const struct proto_config *cfg, struct downloader **out);
};

/* clang-format off */
static const struct searcher_entry searchers[] = {
	{"qido-rs", qido_rs_new},
	{"mint", mint_new},
	{"c-find", dimse_find_new},
};
/* clang-format on */

/* clang-format off */
static const struct downloader_entry downloaders[] = {
	{"wado-rs", wado_rs_new},
	{"wado-uri", wado_uri_new},
	{"rad69", rad69_new},
	{"c-get", dimse_get_new},
	{"c-move", dimse_move_new},
};
/* clang-format on */

int searcher_new(const char *name, const struct proto_config *cfg, struct searcher **out)
{
	for (size_t i = 0; i < sizeof(searchers) / sizeof(searchers[0]); i++)
		if (strcmp(searchers[i].name, name) == 0)
			return searchers[i].make(cfg, out);
	return -EINVAL;
}

void searcher_free(struct searcher *s)
{
	if (s)
		s->ops->free(s);
}

int downloader_new(const char *name, const struct proto_config *cfg, struct downloader **out)
{
	for (size_t i = 0; i < sizeof(downloaders) / sizeof(downloaders[0]); i++)
		if (strcmp(downloaders[i].name, name) == 0)
			return downloaders[i].make(cfg, out);
	return -EINVAL;
}

void downloader_free(struct downloader *d)
{
	if (d)
		d->ops->free(d);
}
