/* The protocol registry (protocols/registry.c): every descriptor complete and consistent, so
 * that a half-registered protocol fails here and not on a user's mount. Names are unique,
 * each option is named once and reaches the command line, every name a descriptor refers to
 * is registered, and a searcher says what it returns unasked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tags.h"
#include "fs/opts.h"
#include "protocols/protocol.h"

static const struct proto_option *option_named(const char *name)
{
	const struct proto_option *opt;

	for (size_t i = 0; (opt = proto_option_at(i)); i++)
		if (strcmp(opt->name, name) == 0)
			return opt;
	return NULL;
}

static void test_protocols_have_unique_names_and_a_role(void **state)
{
	(void)state;
	assert_true(proto_registry_len > 0);
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct protocol *p = proto_registry[i];

		assert_non_null(p);
		assert_non_null(p->name);
		if (p->nsearchers + p->ndownloaders == 0)
			fail_msg("%s: neither a searcher nor a downloader", p->name);
		assert_true(!p->noptions || p->options);
		assert_true(!p->nsearchers || p->searchers);
		assert_true(!p->ndownloaders || p->downloaders);
		for (size_t k = 0; k < i; k++)
			if (strcmp(proto_registry[k]->name, p->name) == 0)
				fail_msg("protocol %s registered twice", p->name);
	}
}

/* A searcher= or downloader= name is given once, and leads to its own entry. */
static void test_searcher_and_downloader_names_are_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct protocol *p = proto_registry[i];

		for (size_t k = 0; k < p->nsearchers; k++) {
			const struct proto_searcher *s = &p->searchers[k];

			assert_non_null(s->name);
			assert_true(*s->name && !strchr(s->name, '|') && !strchr(s->name, ','));
			assert_non_null(s->make);
			if (proto_searcher_find(s->name) != s)
				fail_msg("searcher=%s is registered more than once", s->name);
		}
		for (size_t k = 0; k < p->ndownloaders; k++) {
			const struct proto_downloader *d = &p->downloaders[k];

			assert_non_null(d->name);
			assert_true(*d->name && !strchr(d->name, '|') && !strchr(d->name, ','));
			assert_non_null(d->make);
			if (proto_downloader_find(d->name) != d)
				fail_msg("downloader=%s is registered more than once", d->name);
		}
	}
	assert_null(proto_searcher_find("no-such-searcher"));
	assert_null(proto_downloader_find("no-such-downloader"));
}

/* Each option is named once, fits the settings, is in --help, and is what its flags say. */
static void test_each_option_is_named_once_and_documented(void **state)
{
	const struct proto_option *opt, *other;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (opt = proto_option_at(i)); i++, n++) {
		char want[64];

		assert_non_null(opt->name);
		assert_true(*opt->name && !strchr(opt->name, '=') && !strchr(opt->name, ','));
		for (size_t k = 0; k < i; k++)
			if (strcmp(proto_option_at(k)->name, opt->name) == 0)
				fail_msg("option %s= is declared twice", opt->name);
		if ((opt->flags & PROTO_OPT_AUTH_BASE) && opt->type != PROTO_OPT_URL)
			fail_msg("%s=: credentials may go only to a URL option", opt->name);
		/* In --help: on a line of its own, or named on another option's line. */
		snprintf(want, sizeof(want), "%s=", opt->name);
		if (opt->usage) {
			if (strncmp(opt->usage, want, strlen(want)) != 0)
				fail_msg("the usage line of %s= does not start with its name",
					 opt->name);
			continue;
		}
		for (size_t k = 0; (other = proto_option_at(k)); k++)
			if (other->usage && strstr(other->usage, want))
				break;
		if (!other)
			fail_msg("%s= is in no line of --help", opt->name);
	}
	assert_true(n <= PROTO_OPTIONS_MAX);
}

/* The option a searcher or downloader reads its URL from, and the ones a scheme fills from
 * SOURCE, are registered URL options. */
static void check_url_option(const char *who, const char *name)
{
	const struct proto_option *opt = option_named(name);

	if (!opt)
		fail_msg("%s names option %s=, which no protocol registers", who, name);
	if (opt->type != PROTO_OPT_URL)
		fail_msg("%s names option %s=, which is no URL option", who, name);
}

static void test_roles_name_registered_url_options(void **state)
{
	(void)state;
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct protocol *p = proto_registry[i];

		for (size_t k = 0; k < p->nsearchers; k++) {
			if (p->searchers[k].url)
				check_url_option(p->searchers[k].name, p->searchers[k].url);
			else if (p->searchers[k].url_required)
				fail_msg("%s requires a URL but names no option",
					 p->searchers[k].name);
		}
		for (size_t k = 0; k < p->ndownloaders; k++) {
			if (p->downloaders[k].url)
				check_url_option(p->downloaders[k].name, p->downloaders[k].url);
			else if (p->downloaders[k].url_required)
				fail_msg("%s requires a URL but names no option",
					 p->downloaders[k].name);
		}
	}
}

/* A searcher declares what it returns at every level, its UIDs at least (the layout asks for
 * the rest, and the cache keys answers by that). */
static void test_searchers_declare_what_they_return(void **state)
{
	static const uint32_t uid[3] = {TAG_StudyInstanceUID, TAG_SeriesInstanceUID,
					TAG_SOPInstanceUID};

	(void)state;
	for (size_t i = 0; i < proto_registry_len; i++) {
		for (size_t k = 0; k < proto_registry[i]->nsearchers; k++) {
			const struct proto_searcher *s = &proto_registry[i]->searchers[k];

			for (int lv = 0; lv < 3; lv++) {
				if (!s->nreturns[lv] || !s->returns[lv])
					fail_msg("searcher=%s declares nothing it returns at level "
						 "%d",
						 s->name, lv);
				for (int up = 0; up <= lv; up++)
					if (!proto_searcher_returns(s, (enum query_level)lv,
								    uid[up]))
						fail_msg("searcher=%s does not return its UIDs at "
							 "level %d",
							 s->name, lv);
			}
		}
	}
	/* What every searcher returns is what each returns. */
	assert_true(proto_searchers_return(QUERY_STUDY, TAG_StudyInstanceUID));
	assert_false(proto_searchers_return(QUERY_STUDY, TAG_PatientSex));
}

/* A scheme names a registered searcher and downloaders, always ends with a downloader or a
 * message, and no two schemes claim one prefix. */
static void test_schemes_are_complete(void **state)
{
	size_t schemes = 0;

	(void)state;
	for (size_t i = 0; i < proto_registry_len; i++) {
		const struct proto_scheme *sc = proto_registry[i]->scheme;
		bool fallback = false;

		if (!sc)
			continue;
		schemes++;
		assert_non_null(sc->prefix[0]);
		assert_non_null(sc->what);
		assert_non_null(sc->usage);
		assert_false(sc->not_web && sc->web_after);
		if (!proto_searcher_find(sc->searcher))
			fail_msg("scheme %s: searcher=%s is not registered", sc->prefix[0],
				 sc->searcher ? sc->searcher : "(none)");
		for (size_t k = 0; k < 3 && sc->downloaders[k]; k++) {
			const struct proto_downloader *d =
				proto_downloader_find(sc->downloaders[k]);

			if (!d)
				fail_msg("scheme %s: downloader=%s is not registered",
					 sc->prefix[0], sc->downloaders[k]);
			/* Always there: no URL, or one SOURCE gives. */
			fallback |= !d->url;
			for (size_t f = 0; d->url && sc->from_source && sc->from_source[f]; f++)
				fallback |= strcmp(sc->from_source[f], d->url) == 0;
		}
		if (!fallback && !sc->no_downloader)
			fail_msg("scheme %s may end without a downloader and without a message",
				 sc->prefix[0]);
		for (size_t k = 0; sc->from_source && sc->from_source[k]; k++)
			check_url_option(sc->prefix[0], sc->from_source[k]);
		for (size_t k = 0; k < 2 && sc->prefix[k]; k++)
			if (proto_scheme_find(sc->prefix[k]) != sc)
				fail_msg("SOURCE prefix %s is claimed twice", sc->prefix[k]);
	}
	assert_true(schemes > 0);
	assert_null(proto_scheme_find("gopher://x"));
}

/* Each option reaches its slot from the command line, and is read back by name. */
static void test_every_option_parses_into_its_setting(void **state)
{
	const struct proto_option *opt;

	(void)state;
	for (size_t i = 0; (opt = proto_option_at(i)); i++) {
		char arg[128];
		char *argv[] = {"mount.trolley", "-o", arg, NULL};
		struct fuse_args args = FUSE_ARGS_INIT(3, argv);
		struct trolley_opts o;
		bool num = opt->type == PROTO_OPT_INT;

		snprintf(arg, sizeof(arg), "%s=%s", opt->name, num ? "4242" : "http://h/x");
		assert_int_equal(opts_parse(&args, &o), 0);
		if (num)
			assert_int_equal(proto_num(&o.proto, opt->name), 4242);
		else if (!proto_text(&o.proto, opt->name) ||
			 strcmp(proto_text(&o.proto, opt->name), "http://h/x") != 0)
			fail_msg("-o %s did not reach its setting", arg);
		assert_int_equal(args.argc, 1); /* ours: nothing passed on to FUSE */
		fuse_opt_free_args(&args);
		opts_release(&o);
	}
}

static void test_settings_set_and_release(void **state)
{
	struct proto_settings s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(proto_settings_init(&s), 0);
	assert_int_equal(proto_set_text(&s, "no_such_option", "x"), -ENOENT);
	assert_int_equal(proto_set_text(&s, proto_option_at(0)->name, "one"), 0);
	assert_int_equal(proto_set_text(&s, proto_option_at(0)->name, "two"), 0);
	assert_string_equal(proto_text(&s, proto_option_at(0)->name), "two");
	assert_null(proto_text(&s, "no_such_option"));
	proto_settings_release(&s);
	assert_null(proto_text(&s, proto_option_at(0)->name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocols_have_unique_names_and_a_role),
		cmocka_unit_test(test_searcher_and_downloader_names_are_unique),
		cmocka_unit_test(test_each_option_is_named_once_and_documented),
		cmocka_unit_test(test_roles_name_registered_url_options),
		cmocka_unit_test(test_searchers_declare_what_they_return),
		cmocka_unit_test(test_schemes_are_complete),
		cmocka_unit_test(test_every_option_parses_into_its_setting),
		cmocka_unit_test(test_settings_set_and_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
