/* The registry: the list of protocol descriptors (protocols/protocol.h). Adding a protocol is
 * its file in protocols/ with its descriptor, and one line here. Everything else about it
 * (options, checks, names, schemes) is read from the descriptor. */
#include "protocols/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proto_config.h"

/* The descriptors, each defined in the file that implements it. */
extern const struct protocol qido_rs_protocol, wado_rs_protocol, wado_uri_protocol, mint_protocol,
	rad69_protocol, dimse_protocol;

/* The order of --help, of the URL checks, and of the URLs credentials go to (auth base). */
const struct protocol *const proto_registry[] = {
	&qido_rs_protocol, &wado_rs_protocol, &wado_uri_protocol,
	&mint_protocol,	   &rad69_protocol,   &dimse_protocol,
};
const size_t proto_registry_len = sizeof(proto_registry) / sizeof(proto_registry[0]);

const struct proto_searcher *proto_searcher_find(const char *name)
{
	for (size_t i = 0; name && i < proto_registry_len; i++)
		for (size_t k = 0; k < proto_registry[i]->nsearchers; k++)
			if (strcmp(proto_registry[i]->searchers[k].name, name) == 0)
				return &proto_registry[i]->searchers[k];
	return NULL;
}

const struct proto_downloader *proto_downloader_find(const char *name)
{
	for (size_t i = 0; name && i < proto_registry_len; i++)
		for (size_t k = 0; k < proto_registry[i]->ndownloaders; k++)
			if (strcmp(proto_registry[i]->downloaders[k].name, name) == 0)
				return &proto_registry[i]->downloaders[k];
	return NULL;
}

const struct proto_scheme *proto_scheme_find(const char *source)
{
	for (size_t i = 0; source && i < proto_registry_len; i++) {
		const struct proto_scheme *sc = proto_registry[i]->scheme;

		for (size_t k = 0; sc && k < 2; k++)
			if (sc->prefix[k] &&
			    strncmp(source, sc->prefix[k], strlen(sc->prefix[k])) == 0)
				return sc;
	}
	return NULL;
}

const struct proto_option *proto_option_at(size_t i)
{
	for (size_t p = 0; p < proto_registry_len; p++) {
		if (i < proto_registry[p]->noptions)
			return &proto_registry[p]->options[i];
		i -= proto_registry[p]->noptions;
	}
	return NULL;
}

int proto_settings_init(struct proto_settings *s)
{
	const struct proto_option *opt;
	size_t i;

	for (i = 0; (opt = proto_option_at(i)); i++) {
		if (i >= PROTO_OPTIONS_MAX)
			return -E2BIG;
		s->name[i] = opt->name;
	}
	return 0;
}

int proto_set_text(struct proto_settings *s, const char *name, const char *value)
{
	int i = proto_settings_index(s, name);
	char *copy;

	if (i < 0)
		return -ENOENT;
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(s->text[i]);
	s->text[i] = copy;
	return 0;
}

void proto_settings_release(struct proto_settings *s)
{
	for (size_t i = 0; i < PROTO_OPTIONS_MAX; i++) {
		free(s->text[i]);
		s->text[i] = NULL;
	}
}

bool proto_searcher_returns(const struct proto_searcher *s, enum query_level level, uint32_t tag)
{
	for (size_t i = 0; i < s->nreturns[level]; i++)
		if (s->returns[level][i] == tag)
			return true;
	return false;
}

bool proto_searchers_return(enum query_level level, uint32_t tag)
{
	for (size_t i = 0; i < proto_registry_len; i++)
		for (size_t k = 0; k < proto_registry[i]->nsearchers; k++)
			if (!proto_searcher_returns(&proto_registry[i]->searchers[k], level, tag))
				return false;
	return true;
}

void proto_names(bool downloaders, const char *sep, char *buf, size_t n)
{
	size_t len = 0;

	if (n)
		buf[0] = '\0';
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct protocol *p = proto_registry[i];
		size_t count = downloaders ? p->ndownloaders : p->nsearchers;

		for (size_t k = 0; k < count && len < n; k++) {
			const char *name =
				downloaders ? p->downloaders[k].name : p->searchers[k].name;
			int w = snprintf(buf + len, n - len, "%s%s", len ? sep : "", name);

			len += w > 0 ? (size_t)w : 0;
		}
	}
}

int proto_before_mount(const char *downloader, const struct proto_settings *s)
{
	const struct proto_downloader *d = proto_downloader_find(downloader);

	return d && d->before_mount ? d->before_mount(s) : 0;
}

int searcher_new(const char *name, const struct proto_config *cfg, struct searcher **out)
{
	const struct proto_searcher *s = proto_searcher_find(name);

	return s ? s->make(cfg, out) : -EINVAL;
}

void searcher_free(struct searcher *s)
{
	if (s)
		s->ops->free(s);
}

int downloader_new(const char *name, const struct proto_config *cfg, struct downloader **out)
{
	const struct proto_downloader *d = proto_downloader_find(name);

	return d ? d->make(cfg, out) : -EINVAL;
}

void downloader_free(struct downloader *d)
{
	if (d)
		d->ops->free(d);
}
