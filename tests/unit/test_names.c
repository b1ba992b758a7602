/* Naming rules of DESIGN.md §1 "Names" (fs/names.c) and the listings built from them
 * (tree_build_listing): every rule for every folder kind, hostile names and UIDs, uniqueness
 * that does not depend on order, lookups that find the listed entry, and a 100,000-entry
 * listing (quadratic work there would take minutes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/query.h"
#include "core/tags.h"
#include "fs/layout.h"
#include "fs/names.h"
#include "fs/tree.h"

/* The built-in layouts, parsed as the mount parses them. */
static struct layout tree_layout_, flat_layout_;
/* Not a names kind: an instance named as layout=flat names it. */
#define NAMES_FLAT_INSTANCE 99

static void parse_builtins(void)
{
	char why[256];
	size_t at;

	assert_int_equal(layout_parse("tree", &tree_layout_, why, sizeof(why), &at), 0);
	assert_int_equal(layout_parse("flat", &flat_layout_, why, sizeof(why), &at), 0);
}

static enum names_kind KIND(int kind)
{
	return kind == NAMES_FLAT_INSTANCE ? NAMES_INSTANCE : (enum names_kind)kind;
}

/* The format the tree layout (or flat, for NAMES_FLAT_INSTANCE) names @kind by. */
static const struct names_format *FMT(int kind)
{
	parse_builtins();
	switch (kind) {
	case NAMES_PATIENT:
		return &tree_layout_.fmt[LAYOUT_PATIENT];
	case NAMES_STUDY:
		return &tree_layout_.fmt[LAYOUT_STUDY];
	case NAMES_SERIES:
		return &tree_layout_.fmt[LAYOUT_SERIES];
	case NAMES_INSTANCE:
		return &tree_layout_.fmt[LAYOUT_INSTANCE];
	case NAMES_FLAT_INSTANCE:
		return &flat_layout_.fmt[LAYOUT_INSTANCE];
	default:
		return NULL;
	}
}

static void set(struct attrset *a, uint32_t tag, const char *v)
{
	assert_int_equal(attrset_set(a, tag, tags_vr(tag), v), 0);
}

/* The name of a patient / study / ... made of (tag, value) pairs ending with 0. */
static void name_of(int kind, char out[NAMES_BUF], ...)
{
	struct attrset a;
	va_list ap;
	uint32_t tag;

	attrset_init(&a);
	va_start(ap, out);
	while ((tag = va_arg(ap, uint32_t)) != 0)
		set(&a, tag, va_arg(ap, const char *));
	va_end(ap);
	names_entry(KIND(kind), FMT(kind), &a, out);
	assert_true(names_is_valid(out));
	attrset_release(&a);
}

static void test_patient_name_with_id(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	name_of(NAMES_PATIENT, out, TAG_PatientName, "Doe^John^^^", TAG_PatientID, "P1", 0);
	assert_string_equal(out, "Doe^John [P1]");
}

static void test_slash_and_controls_become_underscore(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	name_of(NAMES_PATIENT, out, TAG_PatientName, "O/Brien^Pat\x01", TAG_PatientID, "ID/2", 0);
	assert_string_equal(out, "O_Brien^Pat_ [ID_2]");
	/* Trailing '^' is trimmed in a PN only: an ID keeps it, so a query finds it as shown. */
	name_of(NAMES_PATIENT, out, TAG_PatientName, "A^", TAG_PatientID, "ID^", 0);
	assert_string_equal(out, "A [ID^]");
}

static void test_empty_fields_leave_out_their_separator(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	name_of(NAMES_STUDY, out, TAG_StudyDate, "20200301", TAG_StudyInstanceUID, "1.2.3", 0);
	assert_string_equal(out, "2020-03-01");
	name_of(NAMES_STUDY, out, TAG_StudyDate, "20200301", TAG_AccessionNumber, "A7", 0);
	assert_string_equal(out, "2020-03-01 [A7]");
	name_of(NAMES_STUDY, out, TAG_StudyDate, "20200301", TAG_StudyDescription, "CT HEAD",
		TAG_AccessionNumber, "A7", 0);
	assert_string_equal(out, "2020-03-01 CT HEAD [A7]");
	name_of(NAMES_PATIENT, out, TAG_PatientID, "X", 0);
	assert_string_equal(out, "[X]");
}

static void test_all_empty_entries_use_uid_then_unnamed_never_empty(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	name_of(NAMES_STUDY, out, TAG_StudyInstanceUID, "1.2.3", 0);
	assert_string_equal(out, "1.2.3");
	name_of(NAMES_SERIES, out, TAG_SeriesInstanceUID, "1.2.3.4", 0);
	assert_string_equal(out, "1.2.3.4");
	name_of(NAMES_INSTANCE, out, TAG_SOPInstanceUID, "1.2.3.4.5", 0);
	assert_string_equal(out, "1.2.3.4.5.dcm");
	name_of(NAMES_INSTANCE, out, TAG_SOPInstanceUID, "1.2.3.4.5", TAG_InstanceNumber, "7", 0);
	assert_string_equal(out, "7.dcm");
	name_of(NAMES_SERIES, out, TAG_SeriesNumber, "3", TAG_Modality, "MR", 0);
	assert_string_equal(out, "3 MR");
	/* Fields and UID all empty (or only spaces): "unnamed", never "". */
	name_of(NAMES_PATIENT, out, TAG_PatientName, " ^^ ", 0);
	assert_string_equal(out, "unnamed");
	name_of(NAMES_STUDY, out, TAG_StudyInstanceUID, "", 0);
	assert_string_equal(out, "unnamed");
	name_of(NAMES_SERIES, out, TAG_SeriesDescription, "   ", 0);
	assert_string_equal(out, "unnamed");
	name_of(NAMES_INSTANCE, out, 0);
	assert_string_equal(out, "unnamed.dcm");
	name_of(NAMES_FLAT_INSTANCE, out, 0);
	assert_string_equal(out, "unnamed.dcm");
}

static void test_invalid_utf8_is_replaced_and_valid_kept(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_clean("M\xc3\xbcller^J\xc3\xbcrgen", out, sizeof(out), true);
	assert_string_equal(out, "M\xc3\xbcller^J\xc3\xbcrgen");
	names_clean("bad\xff\xc3", out, sizeof(out), false);
	assert_string_equal(out, "bad\xef\xbf\xbd\xef\xbf\xbd");
	names_clean("\xc0\xaf", out, sizeof(out), false); /* overlong '/' */
	assert_null(strchr(out, '/'));
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
	name_of(NAMES_SERIES, out, TAG_SeriesDescription, "\xed\xa0\x80x", 0); /* surrogate */
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
}

static void test_long_names_fit_255_bytes_at_char_boundary(void **state)
{
	struct attrset a;
	char longdesc[1200], out[NAMES_BUF], out2[NAMES_BUF];

	(void)state;
	/* 'é' is two bytes: a cut in the middle would leave invalid UTF-8. */
	for (int i = 0; i < 599; i++) {
		longdesc[2 * i] = (char)0xc3;
		longdesc[2 * i + 1] = (char)0xa9;
	}
	longdesc[1198] = '\0';
	attrset_init(&a);
	set(&a, TAG_StudyDate, "20200101");
	set(&a, TAG_StudyDescription, longdesc);
	set(&a, TAG_StudyInstanceUID, "1.2.3");
	names_entry(KIND(NAMES_STUDY), FMT(NAMES_STUDY), &a, out);
	assert_true(strlen(out) <= 255);
	assert_true(names_is_valid(out));
	assert_true(names_strip_suffix(out, NULL));
	set(&a, TAG_StudyInstanceUID, "1.2.4");
	names_entry(KIND(NAMES_STUDY), FMT(NAMES_STUDY), &a, out2);
	assert_string_not_equal(out, out2);
	/* A long instance number keeps its extension after the cut. */
	set(&a, TAG_InstanceNumber, longdesc);
	names_entry(KIND(NAMES_INSTANCE), FMT(NAMES_INSTANCE), &a, out);
	assert_true(strlen(out) <= 255 && names_is_valid(out));
	assert_string_equal(out + strlen(out) - 4, ".dcm");
	attrset_release(&a);
}

static void test_clash_suffixes_every_member_by_uid(void **state)
{
	char names[3][NAMES_BUF] = {"1.dcm", "1.dcm", "2.dcm"};
	char again[3][NAMES_BUF] = {"1.dcm", "2.dcm", "1.dcm"};
	const char *keys[3] = {"1.2.3.1", "1.2.3.2", "1.2.3.3"};
	const char *keys_again[3] = {"1.2.3.2", "1.2.3.3", "1.2.3.1"};

	(void)state;
	assert_int_equal(names_make_unique(names, keys, 3, NULL, 0), 0);
	assert_string_equal(names[2], "2.dcm");
	assert_string_not_equal(names[0], names[1]);
	assert_true(strncmp(names[0], "1 ~", 3) == 0);
	assert_int_equal(strlen(names[0]), strlen("1 ~xxxxxx.dcm"));
	/* The same objects listed in another order get the same names. */
	assert_int_equal(names_make_unique(again, keys_again, 3, NULL, 0), 0);
	assert_string_equal(again[2], names[0]);
	assert_string_equal(again[0], names[1]);
}

static void test_names_never_start_with_a_dot(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	/* The patient of issue 10 item 6, hidden from ls as "..^DOTS [HID-3]". */
	name_of(NAMES_PATIENT, out, TAG_PatientName, "..^DOTS", TAG_PatientID, "HID-3", 0);
	assert_string_equal(out, "_.^DOTS [HID-3]");
	name_of(NAMES_PATIENT, out, TAG_PatientName, ".hidden^x", 0);
	assert_string_equal(out, "_hidden^x");
	name_of(NAMES_PATIENT, out, TAG_PatientName, "..", 0);
	assert_string_equal(out, "_.");
	name_of(NAMES_PATIENT, out, TAG_PatientName, ".", 0);
	assert_string_equal(out, "_");
	name_of(NAMES_PATIENT, out, TAG_PatientID, ".", 0);
	assert_string_equal(out, "[.]"); /* only the first character can hide a name */
	name_of(NAMES_STUDY, out, TAG_StudyDate, ".2020", 0);
	assert_string_equal(out, "_2020");
	name_of(NAMES_SERIES, out, TAG_SeriesNumber, ".", TAG_Modality, "CT", 0);
	assert_string_equal(out, "_ CT");
	name_of(NAMES_INSTANCE, out, TAG_InstanceNumber, ".5", 0);
	assert_string_equal(out, "_5.dcm");
	name_of(NAMES_FLAT_INSTANCE, out, TAG_SeriesNumber, ".", TAG_InstanceNumber, "2", 0);
	assert_string_equal(out, "_-2.dcm");
	name_of(NAMES_INSTANCE, out, TAG_SOPInstanceUID, ".hidden", 0);
	assert_string_equal(out, "_hidden.dcm");
}

static void test_bad_uids_get_safe_distinct_names(void **state)
{
	static const char *const bad[] = {"",	  ".",	  "..",	  "1.2/../x", "1.2\n3", "\xff\xfe",
					  "1..2", "1.2.", " 1.2", "01.2/",    "/"};
	size_t n = sizeof(bad) / sizeof(bad[0]);
	char names[16][NAMES_BUF], out[NAMES_BUF];

	(void)state;
	name_of(NAMES_STUDY_UID, out, TAG_StudyInstanceUID, "1.2.840.10008.1", 0);
	assert_string_equal(out, "1.2.840.10008.1"); /* a real UID is its own name */
	name_of(NAMES_INSTANCE_UID, out, TAG_SOPInstanceUID, "1.2.3", 0);
	assert_string_equal(out, "1.2.3.dcm");
	for (size_t i = 0; i < n; i++) {
		struct attrset a;

		attrset_init(&a);
		set(&a, TAG_StudyInstanceUID, bad[i]);
		names_entry(KIND(NAMES_STUDY_UID), FMT(NAMES_STUDY_UID), &a, names[i]);
		assert_true(names_is_valid(names[i]));
		/* Always suffixed: it can never be the name of a real UID. */
		assert_true(names_strip_suffix(names[i], NULL));
		assert_false(query_uid_is_valid(names[i]));
		set(&a, TAG_SOPInstanceUID, bad[i]);
		names_entry(KIND(NAMES_INSTANCE_UID), FMT(NAMES_INSTANCE_UID), &a, out);
		assert_true(names_is_valid(out));
		names_entry(KIND(NAMES_FLAT_INSTANCE), FMT(NAMES_FLAT_INSTANCE), &a,
			    out); /* no InstanceNumber: named by UID */
		assert_true(names_is_valid(out));
		names_entry(KIND(NAMES_INSTANCE), FMT(NAMES_INSTANCE), &a, out);
		assert_true(names_is_valid(out));
		attrset_release(&a);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
	}
	name_of(NAMES_STUDY_UID, out, TAG_StudyInstanceUID, "", 0);
	assert_true(strncmp(out, "unnamed ~", 9) == 0);
	name_of(NAMES_STUDY_UID, out, TAG_StudyInstanceUID, "1.2/../x", 0);
	assert_true(strncmp(out, "1.2_.._x ~", 10) == 0);
	name_of(NAMES_FLAT_INSTANCE, out, TAG_SOPInstanceUID, "1/2", 0);
	assert_string_equal(out, "1_2.dcm");
}

static void test_junk_names_are_never_given(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	/* A lookup of a junk name is answered ENOENT locally: no entry may be called so. */
	name_of(NAMES_PATIENT, out, TAG_PatientName, "desktop.ini", 0);
	assert_true(strncmp(out, "desktop.ini ~", 13) == 0);
	name_of(NAMES_SERIES, out, TAG_SeriesDescription, "autorun.inf", 0);
	assert_false(names_is_junk(out));
	assert_true(names_is_junk(".Trash-1000"));
	assert_true(names_is_junk(".xdg-volume-info"));
	assert_true(names_is_junk("._foo"));
	assert_false(names_is_junk("Doe^John [P1]"));
	assert_false(names_is_junk("1.dcm"));
}

/* Uniqueness of @names (n of them, NAMES_BUF each) by sorting a copy; "" (left out) skipped. */
static void assert_unique(char (*names)[NAMES_BUF], size_t n)
{
	char(*copy)[NAMES_BUF] = malloc((n + 1) * sizeof(*copy));

	assert_non_null(copy);
	memcpy(copy, names, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n; i++) {
		if (!copy[i][0])
			continue;
		assert_true(names_is_valid(copy[i]));
		if (i > 0)
			assert_string_not_equal(copy[i], copy[i - 1]);
	}
	free(copy);
}

static void test_literal_name_equal_to_a_suffixed_one_stays_unique_in_any_order(void **state)
{
	/* "X ~h(k1)" is what "X" of key k1 becomes when it clashes with the second "X"; a third
	 * entry is literally called so. One pass gave two entries of that name. */
	char lit[NAMES_BUF] = "X";
	char names[6][NAMES_BUF];
	const char *keys[3] = {"1.1", "1.2", "1.3"};
	static const size_t orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
					    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	char first[3][NAMES_BUF];

	(void)state;
	names_add_suffix(lit, "1.1", 1);
	for (size_t o = 0; o < 6; o++) {
		const char *k[3];
		const char *base[3] = {"X", "X", lit};

		for (size_t i = 0; i < 3; i++) {
			snprintf(names[i], NAMES_BUF, "%s", base[orders[o][i]]);
			k[i] = keys[orders[o][i]];
		}
		assert_int_equal(names_make_unique(names, k, 3, NULL, 0), 0);
		assert_unique(names, 3);
		for (size_t i = 0; i < 3; i++) {
			if (o == 0)
				memcpy(first[orders[o][i]], names[i], NAMES_BUF);
			else
				assert_string_equal(first[orders[o][i]], names[i]);
		}
	}
	/* The literal name keeps its name; the clashing "X" of key 1.1 moves to round 2. */
	assert_string_equal(first[2], lit);
	assert_string_not_equal(first[0], lit);
	assert_true(names_strip_suffix(first[0], NULL));
}

static void test_reserved_names_never_move_and_are_never_taken(void **state)
{
	char names[3][NAMES_BUF] = {"metadata.json", "metadata.json", "a"};
	const char *keys[3] = {"1.1", "1.2", "1.3"};
	const char *reserved[1] = {"metadata.json"};

	(void)state;
	assert_int_equal(names_make_unique(names, keys, 3, reserved, 1), 0);
	assert_string_not_equal(names[0], "metadata.json");
	assert_string_not_equal(names[1], "metadata.json");
	assert_string_equal(names[2], "a");
	assert_unique(names, 3);
}

static void test_match_round_recognises_only_its_own_entry(void **state)
{
	struct attrset a, b;
	char na[NAMES_BUF], names[2][NAMES_BUF];
	const char *keys[2] = {"1.1", "1.2"};

	(void)state;
	attrset_init(&a);
	attrset_init(&b);
	set(&a, TAG_SeriesNumber, "4");
	set(&a, TAG_SeriesInstanceUID, "1.1");
	set(&b, TAG_SeriesNumber, "4");
	set(&b, TAG_SeriesInstanceUID, "1.2");
	names_entry(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &a, na);
	memcpy(names[0], na, NAMES_BUF);
	names_entry(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &b, names[1]);
	assert_int_equal(names_make_unique(names, keys, 2, NULL, 0), 0);
	assert_int_equal(names_match_round(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &a, "4"), 0);
	assert_int_equal(names_match_round(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &a, names[0]), 1);
	assert_int_equal(names_match_round(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &b, names[0]),
			 -1);
	assert_int_equal(names_match_round(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &b, names[1]), 1);
	assert_int_equal(names_match_round(KIND(NAMES_SERIES), FMT(NAMES_SERIES), &a, "5"), -1);
	assert_true(names_strip_suffix(names[0], na));
	assert_string_equal(na, "4");
	assert_false(names_strip_suffix("4 ~12345", NULL));
	assert_false(names_strip_suffix("4 ~12345g", NULL));
	assert_true(names_strip_suffix("4 ~abcdef.dcm", na));
	assert_string_equal(na, "4.dcm");
	attrset_release(&a);
	attrset_release(&b);
}

static void test_is_valid_checks_every_rule(void **state)
{
	char longname[300];

	(void)state;
	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_false(names_is_valid(""));
	assert_false(names_is_valid("."));
	assert_false(names_is_valid(".."));
	assert_false(names_is_valid(".x"));
	assert_false(names_is_valid("a/b"));
	assert_false(names_is_valid("a\tb"));
	assert_false(names_is_valid("a\xff"));
	assert_false(names_is_valid(longname));
	longname[255] = '\0';
	assert_true(names_is_valid(longname));
	assert_true(names_is_valid("Doe^John [P1]"));
	assert_true(names_is_valid("\xce\xa0.dcm"));
}

static void test_query_patterns_match_what_naming_changed(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	/* A shown name: '_' may have been '/' or a control character, so it is any one. */
	assert_true(names_query_pattern("O_Brien^Pat", true, out, sizeof(out)));
	assert_string_equal(out, "O?Brien^Pat");
	assert_true(names_query_pattern("_.^DOTS", true, out, sizeof(out)));
	assert_string_equal(out, "?.^DOTS");
	/* The archive's own value: '_' is itself; what a server may not match as sent, or a
	 * wildcard or separator of its own, matches anything. */
	assert_true(names_query_pattern("TW_1", false, out, sizeof(out)));
	assert_string_equal(out, "TW_1");
	assert_true(names_query_pattern("TW/1", false, out, sizeof(out)));
	assert_string_equal(out, "TW*1");
	assert_true(names_query_pattern("A B,C*\\D", false, out, sizeof(out)));
	assert_string_equal(out, "A*B*C*D");
	assert_true(names_query_pattern("M\xc3\xbcller", true, out, sizeof(out)));
	assert_string_equal(out, "M*ller");
	/* Nothing to match on: the caller lists instead of asking for everything. */
	assert_false(names_query_pattern("\xce\xa0 //", false, out, sizeof(out)));
	assert_false(names_query_pattern("", true, out, sizeof(out)));
}

/* A result set of @n studies; patient i % @patients; every 7th a duplicate of the one before
 * (a server may repeat results), names that clash in pairs. */
static void make_results(struct attrset_list *r, size_t n, size_t patients)
{
	attrset_list_init(r);
	for (size_t i = 0; i < n; i++) {
		struct attrset *s = attrset_list_add(r);
		char v[64];

		assert_non_null(s);
		snprintf(v, sizeof(v), "1.2.3.%zu", i % 7 == 6 ? i - 1 : i);
		set(s, TAG_StudyInstanceUID, v);
		snprintf(v, sizeof(v), "P%zu", i % patients);
		set(s, TAG_PatientID, v);
		set(s, TAG_PatientName, "Doe^John");
		set(s, TAG_StudyDate, "20200101");
		snprintf(v, sizeof(v), "desc %zu", (i % 7 == 6 ? i - 1 : i) / 2);
		set(s, TAG_StudyDescription, v);
	}
}

static void assert_listing_sound(const struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		assert_true(names_is_valid(l->v[i].name));
		if (i > 0)
			assert_true(strcmp(l->v[i - 1].name, l->v[i].name) < 0);
		assert_ptr_equal(listing_find(l, l->v[i].name), &l->v[i]);
	}
}

static void test_listing_of_100000_results_is_n_log_n(void **state)
{
	/* The quadratic duplicate check took 9.6 s for this (11.3 s for the patients) at -O2;
	 * under ASan it would take minutes. */
	const size_t n = 100000;
	struct tree t = {0};
	struct attrset_list r;
	struct listing *l;
	struct node dir;
	size_t unique = n - n / 7;

	(void)state;
	make_results(&r, n, n / 2);
	node_init(&dir, NODE_STUDIES);
	dir.by_uid = true;
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, unique);
	assert_listing_sound(l);
	listing_put(l);
	attrset_list_release(&r);

	/* The same studies by name, in one patient's folder: every description clashes once. */
	make_results(&r, n, 1);
	node_release(&dir);
	node_init(&dir, NODE_PATIENT);
	set(&dir.attrs, TAG_PatientID, "P0");
	set(&dir.attrs, TAG_PatientName, "Doe^John");
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, unique);
	assert_listing_sound(l);
	listing_put(l);
	attrset_list_release(&r);

	make_results(&r, n, n / 2);
	node_release(&dir);
	node_init(&dir, NODE_PATIENTS);
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, n / 2);
	assert_listing_sound(l);
	listing_put(l);
	attrset_list_release(&r);
	node_release(&dir);
}

static void add_study(struct attrset_list *r, const char *uid, const char *desc)
{
	struct attrset *s = attrset_list_add(r);

	assert_non_null(s);
	set(s, TAG_StudyInstanceUID, uid);
	set(s, TAG_StudyDescription, desc);
}

static void test_hostile_uids_never_break_a_studies_listing(void **state)
{
	struct tree t = {0};
	struct attrset_list r;
	struct listing *l;
	struct node dir;
	size_t bad = 0;

	(void)state;
	attrset_list_init(&r);
	add_study(&r, "", "");
	add_study(&r, ".", "");
	add_study(&r, "..", "");
	add_study(&r, "1.2/../x", "");
	add_study(&r, "1.2\x01\xff", "");
	add_study(&r, "1.2.3", "");
	add_study(&r, "1.2.3", ""); /* repeated by the server: one entry */
	add_study(&r, "1.2.4", "");
	node_init(&dir, NODE_STUDIES);
	dir.by_uid = true;
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, 7);
	assert_listing_sound(l);
	assert_non_null(listing_find(l, "1.2.3"));
	assert_non_null(listing_find(l, "1.2.4"));
	for (size_t i = 0; i < l->n; i++) {
		int err = tree_check_uids(&l->v[i].node);

		/* Shown, but never asked for: listing or opening it is EIO. */
		if (!query_uid_is_valid(attrset_str(&l->v[i].node.attrs, TAG_StudyInstanceUID))) {
			assert_int_equal(err, -EIO);
			bad++;
		} else {
			assert_int_equal(err, 0);
		}
	}
	assert_int_equal(bad, 5);
	listing_put(l);
	attrset_list_release(&r);
	node_release(&dir);
}

static void test_flat_study_with_raw_uid_instances_and_metadata_clash(void **state)
{
	struct tree t = {0};

	parse_builtins();
	t.layout = &flat_layout_;
	struct attrset_list r;
	struct listing *l;
	struct node dir;
	static const char *const sops[] = {"1/2", "1.2\x7f", "\xc3", "", "1.2.9"};

	(void)state;
	attrset_list_init(&r);
	for (size_t i = 0; i < sizeof(sops) / sizeof(sops[0]); i++) {
		struct attrset *s = attrset_list_add(&r);

		set(s, TAG_SOPInstanceUID, sops[i]);
		set(s, TAG_SeriesInstanceUID, "1.2.5");
	}
	node_init(&dir, NODE_STUDY);
	set(&dir.attrs, TAG_StudyInstanceUID, "1.2.4");
	assert_int_equal(tree_build_listing(&t, &dir, &r, true, &l), 0);
	assert_int_equal(l->n, 6);
	assert_listing_sound(l);
	assert_non_null(listing_find(l, "1.2.9.dcm"));
	assert_non_null(listing_find(l, "1_2.dcm"));
	assert_int_equal(listing_find(l, "metadata.json")->node.kind, NODE_METADATA);
	listing_put(l);
	attrset_list_release(&r);
	node_release(&dir);
}

static void test_patient_folder_keeps_its_own_patient_and_one_duplicate_by_name(void **state)
{
	struct tree t = {0};
	struct attrset_list r;
	struct listing *l;
	struct node dir;

	(void)state;
	attrset_list_init(&r);
	add_study(&r, "1.1", "first");
	set(&r.v[0], TAG_PatientID, "P");
	set(&r.v[0], TAG_PatientName, "A");
	add_study(&r, "1.2", "other patient, same ID");
	set(&r.v[1], TAG_PatientID, "P");
	set(&r.v[1], TAG_PatientName, "B");
	add_study(&r, "1.1", "repeated");
	set(&r.v[2], TAG_PatientID, "P");
	set(&r.v[2], TAG_PatientName, "A");
	node_init(&dir, NODE_PATIENT);
	set(&dir.attrs, TAG_PatientID, "P");
	set(&dir.attrs, TAG_PatientName, "A");
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, 1);
	assert_string_equal(l->v[0].name, "first");
	listing_put(l);
	/* The same answer the other way round keeps the same one: names never follow order. */
	attrset_list_release(&r);
	attrset_list_init(&r);
	add_study(&r, "1.1", "repeated");
	set(&r.v[0], TAG_PatientID, "P");
	set(&r.v[0], TAG_PatientName, "A");
	add_study(&r, "1.1", "first");
	set(&r.v[1], TAG_PatientID, "P");
	set(&r.v[1], TAG_PatientName, "A");
	assert_int_equal(tree_build_listing(&t, &dir, &r, false, &l), 0);
	assert_int_equal(l->n, 1);
	assert_string_equal(l->v[0].name, "first");
	listing_put(l);
	attrset_list_release(&r);
	node_release(&dir);
}

/* A small deterministic property run: random names drawn from a tiny alphabet (so they
 * clash), some equal to others' suffixed names, made unique in two orders. */
static void test_uniqueness_property_over_adversarial_sets(void **state)
{
	enum { N = 64 };
	char names[N][NAMES_BUF], again[N][NAMES_BUF], keybuf[N][16];
	const char *keys[N], *keys_again[N];
	unsigned seed = 12345;

	(void)state;
	for (int run = 0; run < 200; run++) {
		for (int i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			snprintf(keybuf[i], sizeof(keybuf[i]), "1.%d", i);
			keys[i] = keybuf[i];
			snprintf(names[i], NAMES_BUF, "%c", 'a' + (seed >> 16) % 3);
			if ((seed >> 8) % 4 == 0 && i > 0) {
				/* another entry's round-1 or round-2 name, literally */
				names_add_suffix(names[i], keybuf[(seed >> 20) % i],
						 1 + (int)((seed >> 4) % 2));
			}
		}
		for (int i = 0; i < N; i++) {
			memcpy(again[N - 1 - i], names[i], NAMES_BUF);
			keys_again[N - 1 - i] = keys[i];
		}
		assert_int_equal(names_make_unique(names, keys, N, NULL, 0), 0);
		assert_int_equal(names_make_unique(again, keys_again, N, NULL, 0), 0);
		assert_unique(names, N);
		for (int i = 0; i < N; i++) {
			assert_true(names[i][0]); /* nobody left out */
			assert_string_equal(names[i], again[N - 1 - i]);
		}
	}
}

/* The attack of issue 18: the hash suffixes are public, so an archive's values can be chosen
 * to take each name the victim would move to, round after round. The victim stays in its
 * folder (named by its place), in any order, and the blockers keep their literal names. */
static void test_names_chosen_to_block_every_round_cannot_push_an_entry_out(void **state)
{
	enum { N = NAMES_ROUNDS + 2 };
	const char *victim = "P1\\Doe^John";
	char names[N][NAMES_BUF], again[N][NAMES_BUF], base[N][NAMES_BUF], keybuf[N][32];
	const char *keys[N], *keys_again[N];

	(void)state;
	/* Entry 0 is the victim; entry 1 has the same name; entry r + 1 is literally the name
	 * the victim would take in round r. */
	for (int i = 0; i < N; i++) {
		if (i)
			snprintf(keybuf[i], sizeof(keybuf[i]), "\\attacker %d", i);
		else
			snprintf(keybuf[i], sizeof(keybuf[i]), "%s", victim);
		keys[i] = keybuf[i];
		snprintf(base[i], NAMES_BUF, "Doe^John [P1]");
		if (i >= 2)
			names_add_suffix(base[i], victim, i - 1);
	}
	memcpy(names, base, sizeof(names));
	for (int i = 0; i < N; i++) {
		memcpy(again[N - 1 - i], base[i], NAMES_BUF);
		keys_again[N - 1 - i] = keys[i];
	}
	assert_int_equal(names_make_unique(names, keys, N, NULL, 0), 0);
	assert_int_equal(names_make_unique(again, keys_again, N, NULL, 0), 0);
	assert_unique(names, N);
	for (int i = 0; i < N; i++) {
		assert_true(names[i][0]);
		assert_string_equal(names[i], again[N - 1 - i]);
	}
	assert_true(names_is_last_resort(names[0]));
	assert_string_equal(names[0], "Doe^John [P1] ~#1");
	for (int i = 2; i < N; i++)
		assert_string_equal(names[i], base[i]);
}

/* FNV-1a as fs/names.c computes it, to find two keys whose every round's suffix is the same. */
static uint32_t fnv(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct hk {
	uint32_t h;
	uint32_t i;
};

static int cmp_hk(const void *a, const void *b)
{
	const struct hk *x = a, *y = b;

	return x->h < y->h ? -1 : x->h > y->h;
}

/* Keys with one 32-bit FNV state (found among 300,000 hex keys, which hold a dozen such pairs)
 * clash in every round whatever the round number adds: names
 * the same give both the last-resort suffix, in key order (before ".dcm"), and a literal name
 * of that form is suffixed instead of taking it. */
static void test_keys_clashing_in_every_round_get_distinct_last_resort_names(void **state)
{
	enum { K = 300000 };
	struct hk *v = malloc(K * sizeof(*v));
	char k1[32] = "", k2[32] = "", names[3][NAMES_BUF], lit[NAMES_BUF];
	const char *keys[3];
	struct attrset a;

	(void)state;
	assert_non_null(v);
	for (uint32_t i = 0; i < K; i++) {
		char key[32];

		snprintf(key, sizeof(key), "1.2.%x", i);
		v[i] = (struct hk){fnv(key), i};
	}
	qsort(v, K, sizeof(*v), cmp_hk);
	for (uint32_t i = 1; i < K && !k1[0]; i++) {
		if (v[i].h != v[i - 1].h)
			continue;
		snprintf(k1, sizeof(k1), "1.2.%x", v[i - 1].i < v[i].i ? v[i - 1].i : v[i].i);
		snprintf(k2, sizeof(k2), "1.2.%x", v[i - 1].i < v[i].i ? v[i].i : v[i - 1].i);
	}
	free(v);
	assert_true(k1[0]);
	if (strcmp(k1, k2) > 0) {
		char t[32];

		memcpy(t, k1, sizeof(t));
		memcpy(k1, k2, sizeof(t));
		memcpy(k2, t, sizeof(t));
	}
	/* Both "5.dcm" with colliding keys; a third literally "5 ~#1.dcm". */
	keys[0] = k2;
	keys[1] = k1;
	keys[2] = "1.3";
	snprintf(names[0], NAMES_BUF, "5.dcm");
	snprintf(names[1], NAMES_BUF, "5.dcm");
	attrset_init(&a);
	set(&a, TAG_InstanceNumber, "5 ~#1");
	set(&a, TAG_SOPInstanceUID, "1.3");
	names_entry(KIND(NAMES_INSTANCE), FMT(NAMES_INSTANCE), &a, names[2]);
	assert_false(names_is_last_resort(names[2]));
	memcpy(lit, "5 ~#1.dcm", 10);
	assert_int_equal(names_match_round(KIND(NAMES_INSTANCE), FMT(NAMES_INSTANCE), &a, lit), -1);
	attrset_release(&a);
	assert_int_equal(names_make_unique(names, keys, 3, NULL, 0), 0);
	assert_unique(names, 3);
	assert_string_equal(names[1], "5 ~#1.dcm"); /* k1 sorts first */
	assert_string_equal(names[0], "5 ~#2.dcm");
	assert_true(names_is_last_resort(names[0]));
	assert_false(names_is_last_resort("5 ~#.dcm"));
	assert_false(names_is_last_resort("5~#1"));
	assert_true(names_is_last_resort("5 ~#12"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patient_name_with_id),
		cmocka_unit_test(test_slash_and_controls_become_underscore),
		cmocka_unit_test(test_empty_fields_leave_out_their_separator),
		cmocka_unit_test(test_all_empty_entries_use_uid_then_unnamed_never_empty),
		cmocka_unit_test(test_invalid_utf8_is_replaced_and_valid_kept),
		cmocka_unit_test(test_long_names_fit_255_bytes_at_char_boundary),
		cmocka_unit_test(test_clash_suffixes_every_member_by_uid),
		cmocka_unit_test(test_names_never_start_with_a_dot),
		cmocka_unit_test(test_bad_uids_get_safe_distinct_names),
		cmocka_unit_test(test_junk_names_are_never_given),
		cmocka_unit_test(
			test_literal_name_equal_to_a_suffixed_one_stays_unique_in_any_order),
		cmocka_unit_test(test_reserved_names_never_move_and_are_never_taken),
		cmocka_unit_test(test_match_round_recognises_only_its_own_entry),
		cmocka_unit_test(test_is_valid_checks_every_rule),
		cmocka_unit_test(test_query_patterns_match_what_naming_changed),
		cmocka_unit_test(test_listing_of_100000_results_is_n_log_n),
		cmocka_unit_test(test_hostile_uids_never_break_a_studies_listing),
		cmocka_unit_test(test_flat_study_with_raw_uid_instances_and_metadata_clash),
		cmocka_unit_test(
			test_patient_folder_keeps_its_own_patient_and_one_duplicate_by_name),
		cmocka_unit_test(test_uniqueness_property_over_adversarial_sets),
		cmocka_unit_test(test_names_chosen_to_block_every_round_cannot_push_an_entry_out),
		cmocka_unit_test(test_keys_clashing_in_every_round_get_distinct_last_resort_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
