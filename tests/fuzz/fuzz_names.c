/* libFuzzer harness: names + tree. The input is a folder kind and a list of attribute sets (what
 * an archive could answer); they are named and made unique by tree_build_listing(), the
 * function every listing goes through, and every naming rule of DESIGN.md §1 is asserted with
 * abort(): valid UTF-8, at most 255 bytes, no '/', NUL or control character, never empty, never
 * starting with a dot, never a junk name, unique and sorted, found by listing_find(), named the
 * same whatever the order of the answer, and recognisable by names_match_round() (what a lookup
 * without the listing uses). Inputs may carry a layout template: a random template that parses
 * names its levels, and every rule is asserted for its names too; one that does not parse must
 * say why and where.
 *
 * Sources (for tests/fuzz/meson.build): tests/fuzz/fuzz_names.c fs/names.c fs/layout.c
 * fs/node.c fs/tree.c fs/lookup.c fs/search.c core/attrs.c core/buf.c core/log.c core/part10.c core/query.c
 * core/tags.c cache/cache.c cache/evict.c cache/open.c cache/prefetch.c cache/query.c
 * cache/sink.c cache/spill.c cache/store.c (tree.c and lookup.c call the cache for
 * tree_query_list(), never reached here), with -I. (the repo root), -D_GNU_SOURCE, lmdb and threads. By hand, from the
 * repo root, with CORE and CACHE the core and cache files above:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. tests/fuzz/fuzz_names.c
 *     fs/names.c fs/layout.c fs/node.c fs/tree.c fs/lookup.c fs/search.c CORE CACHE -llmdb -lpthread -o fuzz_names
 *   ./fuzz_names -max_total_time=60 tests/fuzz/corpus/names
 *
 * Input: byte 0 picks the folder (low 3 bits), whether it holds metadata.json (bit 3) and
 * whether a template follows (bit 4: its text up to a 0x1D byte; without it the folder's layout
 * is tree, or flat where FOLDERS says so); then records separated by 0x1E, each of fields separated by 0x1F, given in the order of FIELDS
 * (missing fields are absent). A field "\x02" i r is replaced by the same field of record i with
 * the clash suffix of round r of record i's identity: the literal name that collides with a
 * suffixed one, which random bytes would almost never hit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tags.h"
#include "fs/layout.h"
#include "fs/names.h"
#include "fs/tree.h"

#define MAX_RECORDS 64

static const uint32_t FIELDS[] = {
	TAG_PatientName,      TAG_PatientID,	     TAG_StudyInstanceUID,  TAG_StudyDate,
	TAG_StudyDescription, TAG_AccessionNumber,   TAG_SeriesInstanceUID, TAG_SeriesNumber,
	TAG_Modality,	      TAG_SeriesDescription, TAG_SOPInstanceUID,    TAG_InstanceNumber,
	TAG_PatientSex,	      TAG_StudyID,	     TAG_ProtocolName,	    TAG_AcquisitionNumber,
};
#define NFIELDS (sizeof(FIELDS) / sizeof(FIELDS[0]))

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "naming rule broken: %s (%s:%d)\n", #cond, __FILE__,       \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct folder {
	enum node_kind kind;
	bool by_uid, flat;
};

static const struct folder FOLDERS[8] = {
	{NODE_PATIENTS, false, false}, {NODE_STUDIES, true, false}, {NODE_PATIENT, false, false},
	{NODE_STUDY, false, false},    {NODE_STUDY, false, true},   {NODE_SERIES, false, false},
	{NODE_SERIES, true, false},    {NODE_STUDY, true, true},
};

/* The value of field @f of a record: its bytes, or the suffixed copy of another record's. */
static void set_field(struct attrset_list *l, size_t rec, enum names_kind nk, uint32_t tag,
		      const uint8_t *v, size_t len)
{
	struct attrset *a = &l->v[rec];

	if (len == 3 && v[0] == 0x02 && l->n > 1) {
		size_t other = v[1] % rec ? v[1] % rec : 0;
		char value[NAMES_BUF];
		char *key;

		if (rec == 0)
			goto plain;
		key = names_key(nk, &l->v[other]);
		if (!key)
			return;
		snprintf(value, sizeof(value), "%s", attrset_str(&l->v[other], tag));
		names_add_suffix(value, key, 1 + v[2] % NAMES_ROUNDS);
		free(key);
		attrset_set(a, tag, tags_vr(tag), value);
		return;
	}
plain:
	attrset_setn(a, tag, tags_vr(tag), (const char *)v, len);
}

static int parse(const uint8_t *data, size_t size, enum names_kind nk, struct attrset_list *l)
{
	size_t i = 0;

	while (i < size && l->n < MAX_RECORDS) {
		size_t rec = l->n, field = 0;

		if (!attrset_list_add(l))
			return -1;
		while (i <= size && field < NFIELDS) {
			size_t start = i;

			while (i < size && data[i] != 0x1F && data[i] != 0x1E)
				i++;
			set_field(l, rec, nk, FIELDS[field++], data + start, i - start);
			if (i >= size || data[i] == 0x1E) {
				break;
			}
			i++; /* past 0x1F */
		}
		while (i < size && data[i] != 0x1E)
			i++;
		i++; /* past 0x1E */
	}
	return 0;
}

static int copy_list(struct attrset_list *dst, const struct attrset_list *src, bool reverse)
{
	attrset_list_init(dst);
	for (size_t i = 0; i < src->n; i++) {
		struct attrset *a = attrset_list_add(dst);

		if (!a || attrset_copy(a, &src->v[reverse ? src->n - 1 - i : i]) < 0)
			return -1;
	}
	return 0;
}

static void check_listing(const struct listing *l, enum names_kind nk,
			  const struct names_format *fmt)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct listing_entry *e = &l->v[i];
		size_t len = strnlen(e->name, sizeof(e->name));

		CHECK(len > 0 && len <= NAMES_MAX);
		CHECK(names_is_valid(e->name));
		CHECK(e->name[0] != '.');
		CHECK(!strchr(e->name, '/'));
		CHECK(i == 0 || strcmp(l->v[i - 1].name, e->name) < 0); /* sorted, unique */
		CHECK(listing_find(l, e->name) == e);
		/* A last-resort name is a place among the siblings: only the listing knows it. */
		if (e->node.kind != NODE_METADATA && !names_is_last_resort(e->name))
			CHECK(names_match_round(nk, fmt, &e->node.attrs, e->name) >= 0);
	}
}

/* The same answer in another order lists the same names for the same entries. */
static void check_same(const struct listing *a, const struct listing *b, enum names_kind nk)
{
	CHECK(a->n == b->n);
	for (size_t i = 0; i < a->n; i++) {
		char *ka, *kb;

		CHECK(strcmp(a->v[i].name, b->v[i].name) == 0);
		CHECK(a->v[i].node.kind == b->v[i].node.kind);
		if (a->v[i].node.kind == NODE_METADATA)
			continue;
		ka = names_key(nk, &a->v[i].node.attrs);
		kb = names_key(nk, &b->v[i].node.attrs);
		if (ka && kb)
			CHECK(strcmp(ka, kb) == 0);
		free(ka);
		free(kb);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct attrset_list results, first, second;
	struct listing *la = NULL, *lb = NULL;
	const struct folder *f;
	struct tree t = {0};
	const struct names_format *fmt;
	char text[LAYOUT_TEXT_MAX + 1], why[512];
	struct layout layout;
	enum names_kind nk;
	size_t skip, at;
	struct node dir;
	bool metadata;

	if (!quiet) {
		/* The warnings about bad UIDs are expected here: keep the output readable. */
		log_set_level(LOG_LEVEL_ERROR);
		quiet = true;
	}
	if (size < 1)
		return 0;
	f = &FOLDERS[data[0] & 7];
	metadata = (data[0] & 8) && (f->kind == NODE_STUDY || f->kind == NODE_SERIES);
	skip = 1;
	if (data[0] & 0x10) {
		const uint8_t *end = memchr(data + 1, 0x1D, size - 1);
		size_t len = end ? (size_t)(end - data - 1) : size - 1;

		if (len > sizeof(text) - 1)
			return 0;
		memcpy(text, data + 1, len);
		text[len] = '\0';
		skip += len + (end ? 1 : 0);
		if (strlen(text) != len)
			return 0; /* a NUL: no option value can hold one */
	} else {
		strcpy(text, f->flat ? "flat" : "tree");
	}
	why[0] = '\0';
	if (layout_parse(text, &layout, why, sizeof(why), &at) < 0) {
		/* Refused with a reason that points into the text. */
		CHECK(why[0] && at <= strlen(text));
		return 0;
	}
	/* Every template that parses names within the rules: each level's format alone, too. */
	for (int lv = 0; lv < LAYOUT_LEVELS; lv++)
		CHECK(!layout.has[lv] || layout.fmt[lv].nitems > 0);
	CHECK(layout.has[LAYOUT_STUDY] && layout.has[LAYOUT_INSTANCE]);
	t.layout = &layout;
	node_init(&dir, f->kind);
	dir.by_uid = f->by_uid;
	nk = tree_child_names(&t, &dir, &fmt);
	attrset_list_init(&results);
	attrset_list_init(&first);
	attrset_list_init(&second);
	if (parse(data + skip, size - skip, nk, &results) < 0)
		goto out;
	if (f->kind == NODE_PATIENT && results.n > 0) {
		/* The folder of the first record's patient. */
		attrset_set(&dir.attrs, TAG_PatientName, "PN",
			    attrset_str(&results.v[0], TAG_PatientName));
		attrset_set(&dir.attrs, TAG_PatientID, "LO",
			    attrset_str(&results.v[0], TAG_PatientID));
	}
	if (copy_list(&first, &results, false) < 0 || copy_list(&second, &results, true) < 0)
		goto out;
	if (tree_build_listing(&t, &dir, &first, metadata, &la) < 0 ||
	    tree_build_listing(&t, &dir, &second, metadata, &lb) < 0)
		goto out;
	check_listing(la, nk, fmt);
	check_listing(lb, nk, fmt);
	/* Which duplicate of one identity is kept may differ; their names may not. */
	check_same(la, lb, nk);
out:
	listing_put(la);
	listing_put(lb);
	attrset_list_release(&results);
	attrset_list_release(&first);
	attrset_list_release(&second);
	node_release(&dir);
	return 0;
}
