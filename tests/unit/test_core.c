/* The shared model: attribute sets and their packed form, capped buffers, the Part-10 check,
 * query keys, URL redaction, the keyword table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/helpers.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/attrs.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/query.h"
#include "core/slots.h"
#include "core/tags.h"

static void test_attrset_sorted_replace_merge(void **state)
{
	struct attrset a, b;

	(void)state;
	attrset_init(&a);
	attrset_init(&b);
	assert_int_equal(attrset_set(&a, TAG_SeriesNumber, "IS", "2"), 0);
	assert_int_equal(attrset_set(&a, TAG_PatientName, "PN", "X"), 0);
	assert_int_equal(attrset_set(&a, TAG_PatientName, "PN", "Y"), 0);
	assert_int_equal(a.n, 2);
	assert_true(a.v[0].tag < a.v[1].tag);
	assert_string_equal(attrset_get(&a, TAG_PatientName), "Y");
	assert_null(attrset_get(&a, TAG_Modality));
	assert_string_equal(attrset_str(&a, TAG_Modality), "");
	attrset_set(&b, TAG_PatientName, "PN", "keep");
	attrset_set(&b, TAG_Modality, "CS", "CT");
	assert_int_equal(attrset_merge(&b, &a), 0);
	assert_string_equal(attrset_get(&b, TAG_PatientName), "keep");
	assert_string_equal(attrset_get(&b, TAG_SeriesNumber), "2");
	attrset_release(&a);
	attrset_release(&b);
}

static void test_pack_round_trip_and_damaged_bytes(void **state)
{
	struct attrset_list l, back;
	unsigned char *packed;
	size_t len;

	(void)state;
	attrset_list_init(&l);
	attrset_set(attrset_list_add(&l), TAG_PatientName, "PN", "M\xc3\xbcller");
	attrset_list_add(&l);
	attrset_set(attrset_list_add(&l), TAG_StudyDate, "DA", "");
	assert_int_equal(attrset_list_pack(&l, &packed, &len), 0);
	attrset_list_init(&back);
	assert_int_equal(attrset_list_unpack(packed, len, &back), 0);
	assert_int_equal(back.n, 3);
	assert_string_equal(attrset_get(&back.v[0], TAG_PatientName), "M\xc3\xbcller");
	assert_int_equal(back.v[1].n, 0);
	assert_string_equal(attrset_get(&back.v[2], TAG_StudyDate), "");
	attrset_list_release(&back);
	/* Every cut, and a length that points past the end, is refused with nothing left. */
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_equal(attrset_list_unpack(packed, cut, &back), -EINVAL);
		assert_int_equal(back.n, 0);
	}
	packed[0] = 0xff; /* a huge count of sets */
	assert_int_equal(attrset_list_unpack(packed, len, &back), -EINVAL);
	free(packed);
	attrset_list_release(&l);
}

/* An incomplete answer stays marked when it is moved into the caller's list, also an empty
 * one; release forgets it. */
static void test_incomplete_mark_survives_append(void **state)
{
	struct attrset_list dst, src;

	(void)state;
	attrset_list_init(&dst);
	attrset_list_init(&src);
	assert_false(dst.incomplete);
	attrset_list_add(&src);
	assert_int_equal(attrset_list_append(&dst, &src), 0);
	assert_false(dst.incomplete);
	src.incomplete = true;
	assert_int_equal(attrset_list_append(&dst, &src), 0);
	assert_true(dst.incomplete);
	assert_int_equal(dst.n, 1);
	attrset_list_release(&dst);
	assert_false(dst.incomplete);
	attrset_list_add(&src);
	src.incomplete = true;
	assert_int_equal(attrset_list_append(&dst, &src), 0);
	assert_true(dst.incomplete);
	assert_false(src.incomplete);
	attrset_list_release(&dst);
}

static void test_buf_cap_fails_and_keeps_contents(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_add(&b, "abcd", 4), 0);
	assert_int_equal(buf_add(&b, "efghi", 5), -E2BIG);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "abcd");
	assert_int_equal(buf_printf(&b, "%d", 123), 0);
	assert_string_equal(b.data, "abcd123");
	buf_consume(&b, 2);
	assert_string_equal(b.data, "cd123");
	s = buf_take_string(&b);
	assert_string_equal(s, "cd123");
	assert_null(b.data);
	free(s);
	buf_release(&b);
}

static void test_query_key_is_canonical(void **state)
{
	struct query a, b;
	char *ka, *kb, *kc;

	(void)state;
	query_init(&a, QUERY_STUDY);
	query_init(&b, QUERY_STUDY);
	attrset_set(&a.match, TAG_PatientID, "LO", "1");
	attrset_set(&a.match, TAG_StudyDate, "DA", "2020");
	query_include(&a, 0x00080080u);
	query_include(&a, 0x00081030u);
	attrset_set(&b.match, TAG_StudyDate, "DA", "2020");
	attrset_set(&b.match, TAG_PatientID, "LO", "1");
	query_include(&b, 0x00081030u);
	query_include(&b, 0x00080080u);
	ka = query_key(&a, "src");
	kb = query_key(&b, "src");
	kc = query_key(&b, "other");
	assert_string_equal(ka, kb);
	assert_string_not_equal(ka, kc);
	free(kb);
	b.limit = 5;
	kb = query_key(&b, "src");
	assert_string_not_equal(ka, kb);
	free(ka);
	free(kb);
	free(kc);
	query_release(&a);
	query_release(&b);
}

static void test_uid_validity(void **state)
{
	(void)state;
	assert_true(query_uid_is_valid("1.2.840.10008.1.2.1"));
	assert_false(query_uid_is_valid(""));
	assert_false(query_uid_is_valid("1..2"));
	assert_false(query_uid_is_valid("1.2."));
	assert_false(query_uid_is_valid(".1"));
	assert_false(query_uid_is_valid("1.2/../x"));
	assert_false(query_uid_is_valid("1.2?x=1"));
	assert_false(query_uid_is_valid(
		"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27"));
}

static void test_redact_url_drops_credentials(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(
		log_redact_url("https://alice:s3cret@pacs:8042/dicom-web?x=a@b", out, sizeof(out)),
		"https://pacs:8042/dicom-web?x=a@b");
	assert_string_equal(log_redact_url("http://pacs/dicom-web", out, sizeof(out)),
			    "http://pacs/dicom-web");
	assert_string_equal(log_redact_url("http://pacs/a@b", out, sizeof(out)), "http://pacs/a@b");
	log_redact_url("https://u:p@host/a-very-long-path-that-does-not-fit-in-the-buffer", out,
		       16);
	assert_int_equal(strlen(out), 15);
	assert_null(strstr(out, "u:p"));
}

static void test_keywords_and_hex_tags(void **state)
{
	(void)state;
	assert_int_equal(tags_by_keyword("PatientName"), TAG_PatientName);
	assert_int_equal(tags_by_keyword("0020000D"), TAG_StudyInstanceUID);
	assert_int_equal(tags_by_keyword("00091001"), 0x00091001u);
	assert_int_equal(tags_by_keyword("Nonsense"), 0);
	assert_int_equal(tags_by_keyword("0020000G"), 0);
	assert_string_equal(tags_keyword(TAG_SeriesInstanceUID), "SeriesInstanceUID");
	assert_string_equal(tags_vr(TAG_StudyDate), "DA");
	assert_null(tags_keyword(0x00091001u));
}

static void *take_bulk(void *arg)
{
	slots_take(arg, false);
	return NULL;
}

static long slots_bulk_waiting(struct slots *s)
{
	long n;

	pthread_mutex_lock(&s->lock);
	n = s->bulk_waiting;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* A caller running several transfers takes more bulk slots only while they are free and
 * nobody waits: never the query reserve, never ahead of a transfer that has none. */
static void test_slots_try_take_bulk_gives_way(void **state)
{
	struct slots s = SLOTS_INIT;
	pthread_t waiter;

	(void)state;
	slots_limit(&s, 8); /* 6 for bulk transfers, 2 kept for queries */
	slots_take(&s, false);
	for (int i = 1; i < 6; i++)
		assert_true(slots_try_take_bulk(&s));
	assert_false(slots_try_take_bulk(&s)); /* the rest is the queries' */
	slots_take(&s, true);
	slots_give(&s, true);
	/* Another transfer waits for a slot: a freed one is its, whoever runs first. */
	assert_int_equal(pthread_create(&waiter, NULL, take_bulk, &s), 0);
	while (slots_bulk_waiting(&s) == 0)
		sched_yield();
	slots_give(&s, false);
	assert_false(slots_try_take_bulk(&s));
	pthread_join(waiter, NULL);
	for (int i = 0; i < 6; i++)
		slots_give(&s, false);
	assert_int_equal(s.busy, 0);
	assert_true(slots_try_take_bulk(&s));
	slots_give(&s, false);
	slots_release(&s);
}

/* AIMD: a pushback halves the bound once per window (a burst of 429s to requests sent
 * together counts once), never below one; successes add one per bound's worth; the bound
 * holds new takers back, and the query reserve shrinks with it. */
static void test_slots_back_off_and_grow_back(void **state)
{
	struct slots s = SLOTS_INIT;
	unsigned epoch;

	(void)state;
	slots_limit(&s, 8);
	assert_int_equal(slots_current(&s), 8);
	epoch = slots_epoch(&s);
	assert_int_equal(slots_back_off(&s, epoch), 4);
	assert_int_equal(slots_back_off(&s, epoch), 4); /* the same window */
	assert_int_equal(slots_back_off(&s, slots_epoch(&s)), 2);
	assert_int_equal(slots_back_off(&s, slots_epoch(&s)), 1);
	assert_int_equal(slots_back_off(&s, slots_epoch(&s)), 1); /* never below one */
	/* One slot: a bulk transfer may take it, and nothing more goes out. */
	assert_true(slots_try_take_bulk(&s));
	assert_false(slots_try_take_bulk(&s));
	slots_give(&s, false);
	/* +1 after as many successes as the bound. */
	assert_int_equal(slots_went_well(&s), 2);
	assert_int_equal(slots_went_well(&s), 2);
	assert_int_equal(slots_went_well(&s), 3);
	for (int i = 0; i < 100; i++)
		slots_went_well(&s);
	assert_int_equal(slots_current(&s), 8); /* never above connections= */
	assert_int_equal(s.bulk_max, 6);
	slots_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attrset_sorted_replace_merge),
		cmocka_unit_test(test_pack_round_trip_and_damaged_bytes),
		cmocka_unit_test(test_incomplete_mark_survives_append),
		cmocka_unit_test(test_buf_cap_fails_and_keeps_contents),
		cmocka_unit_test(test_query_key_is_canonical),
		cmocka_unit_test(test_uid_validity),
		cmocka_unit_test(test_redact_url_drops_credentials),
		cmocka_unit_test(test_keywords_and_hex_tags),
		cmocka_unit_test(test_slots_try_take_bulk_gives_way),
		cmocka_unit_test(test_slots_back_off_and_grow_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
