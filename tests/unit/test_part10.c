/* DICOM objects as archives keep them (core/part10.c): the data set's own SOPInstanceUID in
 * every transfer syntax, meta groups that name another instance, bare data sets, damaged meta
 * groups, garbage, the meta header trolley writes, and the whole-file check. Real files come
 * from Debian's python3-pydicom. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/part10.h"
#include "tests/unit/helpers.h"

#define CT_SMALL_UID "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
#define CT_IMAGE     "1.2.840.10008.5.1.4.1.1.2"

static unsigned char *slurp(const char *name, size_t *len)
{
	char path[512];
	unsigned char *b;

	snprintf(path, sizeof(path), "/usr/lib/python3/dist-packages/pydicom/data/test_files/%s",
		 name);
	b = (unsigned char *)test_read_file(path, len);
	if (!b)
		fail_msg("cannot read %s (Debian's python3-pydicom)", path);
	return b;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Where a sound Part-10 file's data set starts: after its group length's span. */
static size_t ds_start(const unsigned char *b)
{
	return 144 + le32(b + 140);
}

static void assert_inspects(const unsigned char *b, size_t len, const char *uid, const char *syntax,
			    bool needs_meta, size_t ds_offset)
{
	struct part10_info info;

	assert_int_equal(part10_inspect(b, len < PART10_HEAD_MAX ? len : PART10_HEAD_MAX, &info),
			 0);
	assert_string_equal(info.sop_uid, uid);
	assert_string_equal(info.syntax, syntax);
	assert_int_equal(info.needs_meta, needs_meta);
	assert_int_equal(info.ds_offset, ds_offset);
	if (needs_meta)
		assert_non_null(info.why);
}

static void test_data_set_uid_in_every_syntax(void **state)
{
	static const struct {
		const char *file, *uid, *syntax;
	} files[] = {
		{"CT_small.dcm", CT_SMALL_UID, PART10_TS_EXPLICIT_LE},
		{"MR_small_implicit.dcm", "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457",
		 PART10_TS_IMPLICIT_LE},
		{"MR_small_bigendian.dcm", "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457",
		 PART10_TS_EXPLICIT_BE},
		{"image_dfl.dcm", "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0",
		 PART10_TS_DEFLATED_LE},
		{"JPEG2000.dcm", NULL, "1.2.840.10008.1.2.4.91"},
	};
	char uid[UID_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		unsigned char *b = slurp(files[i].file, &len);

		assert_int_equal(part10_sop_uid(b, len, uid, sizeof(uid)), 0);
		if (files[i].uid)
			assert_string_equal(uid, files[i].uid);
		assert_inspects(b, len, uid, files[i].syntax, false, ds_start(b));
		free(b);
	}
}

static void test_too_few_bytes_ask_for_more(void **state)
{
	size_t len;
	unsigned char *b = slurp("CT_small.dcm", &len);
	char uid[UID_MAX];

	(void)state;
	assert_int_equal(part10_sop_uid(b, 100, uid, sizeof(uid)), -EAGAIN);
	assert_int_equal(part10_sop_uid(b, 140, uid, sizeof(uid)), -EAGAIN);
	assert_int_equal(part10_sop_uid(b, len, uid, 10), -ENAMETOOLONG);
	b[129] = 'X';
	assert_int_equal(part10_sop_uid(b, len, uid, sizeof(uid)), -EINVAL);
	free(b);
}

/* rtplan.dcm's meta group says 1.2.999...; its data set, the instance, is 1.2.777.... */
static void test_meta_naming_another_instance_is_sound_and_named_by_its_data_set(void **state)
{
	size_t len;
	unsigned char *b = slurp("rtplan.dcm", &len);
	char why[128];

	(void)state;
	assert_non_null(memmem(b, 400, "1.2.999.999.99.9.9999.9999.20030903150023", 41));
	assert_inspects(b, len, "1.2.777.777.77.7.7777.7777.20030903150023", PART10_TS_IMPLICIT_LE,
			false, ds_start(b));
	assert_int_equal(part10_check_complete(b, len, why, sizeof(why)), 0);
	free(b);
}

/* The object trolley keeps for @b: its meta header, then the bytes from the data set on. */
static unsigned char *with_meta(const unsigned char *b, size_t len, size_t *out_len)
{
	struct part10_info info;
	unsigned char *out = malloc(PART10_META_MAX + len);
	ssize_t m;

	assert_non_null(out);
	assert_int_equal(part10_inspect(b, len < PART10_HEAD_MAX ? len : PART10_HEAD_MAX, &info),
			 0);
	assert_true(info.needs_meta);
	m = part10_meta_write(out, PART10_META_MAX, info.sop_class, info.sop_uid, info.syntax,
			      NULL);
	assert_true(m > 0);
	memcpy(out + m, b + info.ds_offset, len - info.ds_offset);
	*out_len = (size_t)m + len - info.ds_offset;
	return out;
}

/* Kept as Part-10: sound now, the same instance, whole, the data set bytes unchanged. */
static void assert_kept_well(const unsigned char *b, size_t len, const char *uid,
			     const char *syntax, size_t ds_offset)
{
	size_t n;
	unsigned char *kept = with_meta(b, len, &n);
	char why[128];

	assert_inspects(kept, n, uid, syntax, false, ds_start(kept));
	assert_int_equal(n - ds_start(kept), len - ds_offset);
	assert_memory_equal(kept + ds_start(kept), b + ds_offset, len - ds_offset);
	assert_int_equal(part10_check_complete(kept, n, why, sizeof(why)), 0);
	assert_int_equal(part10_check_complete(kept, n - 3, why, sizeof(why)), -EINVAL);
	free(kept);
}

static void test_bare_data_sets_in_three_syntaxes(void **state)
{
	static const struct {
		const char *file, *uid, *cls, *syntax;
	} files[] = {
		{"rtstruct.dcm", "1.2.826.0.1.3680043.8.498.2010020400001",
		 "1.2.840.10008.5.1.4.1.1.481.3", PART10_TS_IMPLICIT_LE},
		{"ExplVR_LitEndNoMeta.dcm", "1.2.333.4444.5.6.7.8", "1.2.840.10008.5.1.4.1.1.481.8",
		 PART10_TS_EXPLICIT_LE},
		{"ExplVR_BigEndNoMeta.dcm", "1.2.333.4444.5.6.7.8", "1.2.840.10008.5.1.4.1.1.481.8",
		 PART10_TS_EXPLICIT_BE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		unsigned char *b = slurp(files[i].file, &len);
		struct part10_info info;
		char why[128];

		assert_inspects(b, len, files[i].uid, files[i].syntax, true, 0);
		assert_int_equal(part10_inspect(b, len, &info), 0);
		assert_string_equal(info.sop_class, files[i].cls);
		assert_int_equal(part10_check_complete(b, len, why, sizeof(why)), 0);
		assert_int_equal(part10_check_complete(b, len - 1, why, sizeof(why)), -EINVAL);
		assert_kept_well(b, len, files[i].uid, files[i].syntax, 0);
		free(b);
	}
}

/* A meta group written by hand, in front of CT_small's data set. */
struct meta_recipe {
	bool preamble, dicm, implicit, group_length, odd, syntax;
	int length_error;
};

static size_t put(unsigned char *p, uint16_t elem, const char *vr, const char *v, size_t len,
		  bool implicit)
{
	size_t h = 8;

	p[0] = 0x02;
	p[1] = 0;
	p[2] = (unsigned char)elem;
	p[3] = (unsigned char)(elem >> 8);
	if (implicit) {
		p[4] = (unsigned char)len;
		p[5] = (unsigned char)(len >> 8);
		p[6] = p[7] = 0;
	} else if (strcmp(vr, "OB") == 0) {
		memcpy(p + 4, "OB\0\0", 4);
		p[8] = (unsigned char)len;
		p[9] = (unsigned char)(len >> 8);
		p[10] = p[11] = 0;
		h = 12;
	} else {
		memcpy(p + 4, vr, 2);
		p[6] = (unsigned char)len;
		p[7] = (unsigned char)(len >> 8);
	}
	memcpy(p + h, v, len);
	return h + len;
}

static unsigned char *damaged(const struct meta_recipe *r, const unsigned char *ct, size_t ct_len,
			      size_t *len, size_t *ds_offset)
{
	unsigned char *b = calloc(1, 1024 + ct_len), group[512];
	size_t g = 0, off = 0, ds = ds_start(ct);
	/* 47 characters: odd, so a sound writer pads it to 48 with a NUL. */
	size_t ul = r->odd ? strlen(CT_SMALL_UID) : strlen(CT_SMALL_UID) + 1;

	assert_non_null(b);
	g += put(group + g, 0x0001, "OB", "\0\1", 2, r->implicit);
	g += put(group + g, 0x0002, "UI", CT_IMAGE "\0", 26, r->implicit);
	g += put(group + g, 0x0003, "UI", CT_SMALL_UID "\0", ul, r->implicit);
	if (r->syntax)
		g += put(group + g, 0x0010, "UI", PART10_TS_EXPLICIT_LE "\0", 20, r->implicit);
	if (r->preamble)
		off = 128;
	if (r->dicm) {
		memcpy(b + off, "DICM", 4);
		off += 4;
	}
	if (r->group_length) {
		char v[4];
		uint32_t gl = (uint32_t)((int)g + r->length_error);

		for (int i = 0; i < 4; i++)
			v[i] = (char)(gl >> (8 * i));
		off += put(b + off, 0x0000, "UL", v, 4, r->implicit);
	}
	memcpy(b + off, group, g);
	off += g;
	memcpy(b + off, ct + ds, ct_len - ds);
	*ds_offset = off;
	*len = off + ct_len - ds;
	return b;
}

static void test_damaged_meta_groups_get_a_new_one(void **state)
{
	static const struct meta_recipe sound = {true, true, false, true, false, true, 0};
	static const struct meta_recipe bad[] = {
		{true, true, false, false, false, true, 0},  /* no group length */
		{true, true, false, true, false, true, 2},   /* group length too long */
		{true, true, false, true, false, true, -8},  /* ... too short */
		{true, true, false, true, true, true, 0},    /* an odd-length UID, not padded */
		{true, true, true, true, false, true, 0},    /* implicit VR */
		{true, true, false, true, false, false, 0},  /* no transfer syntax */
		{false, true, false, true, false, true, 0},  /* no preamble */
		{false, false, false, true, false, true, 0}, /* neither preamble nor DICM */
	};
	size_t ct_len, len, ds;
	unsigned char *ct = slurp("CT_small.dcm", &ct_len), *b;
	char why[128];

	(void)state;
	b = damaged(&sound, ct, ct_len, &len, &ds);
	assert_inspects(b, len, CT_SMALL_UID, PART10_TS_EXPLICIT_LE, false, ds);
	free(b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct part10_info info;

		b = damaged(&bad[i], ct, ct_len, &len, &ds);
		assert_inspects(b, len, CT_SMALL_UID, PART10_TS_EXPLICIT_LE, true, ds);
		assert_int_equal(part10_inspect(b, len, &info), 0);
		assert_string_equal(info.sop_class, CT_IMAGE);
		assert_int_equal(part10_check_complete(b, len, why, sizeof(why)), 0);
		assert_kept_well(b, len, CT_SMALL_UID, PART10_TS_EXPLICIT_LE, ds);
		free(b);
	}
	free(ct);
}

/* A meta group without a group length and a data set without (0008,0018): nothing names it
 * (-EAGAIN: the data set ends before a (0008,0018) could come; the sink refuses either). */
static void test_no_sop_instance_uid_is_refused(void **state)
{
	size_t len;
	unsigned char *b = slurp("no_meta_group_length.dcm", &len);
	struct part10_info info;
	int err;

	(void)state;
	err = part10_inspect(b, len, &info);
	assert_true(err == -EINVAL || err == -EAGAIN);
	free(b);
}

static void assert_refused(const unsigned char *b, size_t len)
{
	struct part10_info info;
	char why[128];

	assert_int_equal(part10_inspect(b, len, &info), -EINVAL);
	assert_int_equal(part10_check_complete(b, len, why, sizeof(why)), -EINVAL);
}

static void test_garbage_is_not_dicom(void **state)
{
	static const char html[] = "<html><body>502 Bad Gateway</body></html>";
	static const char json[] =
		"{\"Details\": \"Accessing an inexistent item\", \"HttpStatus\": "
		"404, \"Message\": \"Accessing an inexistent item\"}";
	unsigned char b[8192];
	size_t rtlen;
	unsigned char *rt = slurp("rtstruct.dcm", &rtlen);
	uint32_t x = 12345;

	(void)state;
	memset(b, ' ', sizeof(b));
	memcpy(b, html, strlen(html));
	assert_refused(b, sizeof(b));
	memcpy(b, json, strlen(json));
	assert_refused(b, sizeof(b));
	memset(b, 0, sizeof(b));
	assert_refused(b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	assert_refused(b, sizeof(b));
	memcpy(b + 128, "DICM", 4); /* a magic, then noise */
	assert_refused(b, sizeof(b));
	/* Almost a bare data set: each of these breaks one rule of the strict reading. */
	memcpy(b, rt, 300);
	b[0] = 0x10; /* (0010,0005): not group 0008 */
	assert_refused(b, sizeof(b));
	memcpy(b, rt, 300);
	b[4] = 0x0b; /* an odd length */
	assert_refused(b, sizeof(b));
	memcpy(b, rt, 300);
	memcpy(b + 0x22, "\x08\x00\x01\x00", 4); /* (0008,0001) after (0008,0012): not ascending */
	assert_refused(b, sizeof(b));
	memcpy(b, rt, 300);
	b[0x80] = 'x'; /* the SOPInstanceUID is no UID */
	assert_refused(b, sizeof(b));
	memcpy(b, rt, 300);
	b[0x54] = 0x17; /* (0008,0017) instead of (0008,0016): no SOPClassUID to write */
	assert_refused(b, sizeof(b));
	memcpy(b, rt, rtlen); /* the same, untouched, is a data set */
	assert_int_equal(part10_sop_uid(b, rtlen, (char[UID_MAX]){0}, UID_MAX), 0);
	free(rt);
}

/* The header part10_meta_write() makes, read back element by element. */
static void test_meta_header_reads_back(void **state)
{
	static const struct {
		uint16_t elem;
		const char *vr;
		size_t len;
		const char *value;
	} want[] = {
		{0x0001, "OB", 2, "\0\1"},
		{0x0002, "UI", 26, CT_IMAGE "\0"},
		{0x0003, "UI", 48, CT_SMALL_UID "\0"},
		{0x0010, "UI", 18, PART10_TS_IMPLICIT_LE "\0"},
		{0x0012, "UI", 44, PART10_IMPL_CLASS_UID},
		{0x0013, "SH", 10, PART10_IMPL_VERSION " "},
		{0x0016, "AE", 8, "ORTHANC "},
	};
	unsigned char m[PART10_META_MAX], zeros[128] = {0};
	size_t off = 144;
	ssize_t n;

	(void)state;
	n = part10_meta_write(m, sizeof(m), CT_IMAGE, CT_SMALL_UID, PART10_TS_IMPLICIT_LE,
			      "ORTHANC");
	assert_true(n > 144);
	assert_memory_equal(m, zeros, 128);
	assert_memory_equal(m + 128, "DICM\x02\x00\x00\x00UL\x04\x00", 12);
	assert_int_equal(le32(m + 140), (size_t)n - 144);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t h = strcmp(want[i].vr, "OB") == 0 ? 12 : 8;

		assert_int_equal(m[off], 0x02);
		assert_int_equal(m[off + 1], 0x00);
		assert_int_equal(m[off + 2] | m[off + 3] << 8, want[i].elem);
		assert_memory_equal(m + off + 4, want[i].vr, 2);
		assert_int_equal(h == 12 ? le32(m + off + 8)
					 : (uint32_t)(m[off + 6] | m[off + 7] << 8),
				 want[i].len);
		assert_memory_equal(m + off + h, want[i].value, want[i].len);
		off += h + want[i].len;
	}
	assert_int_equal(off, (size_t)n);
	/* Without an AE title, no (0002,0016); the header is its own sound file meta group. */
	n = part10_meta_write(m, sizeof(m), CT_IMAGE, CT_SMALL_UID, PART10_TS_IMPLICIT_LE, NULL);
	assert_int_equal(n, off - 16);
	assert_int_equal(part10_meta_write(m, (size_t)n - 1, CT_IMAGE, CT_SMALL_UID,
					   PART10_TS_IMPLICIT_LE, NULL),
			 -ENOSPC);
	assert_int_equal(part10_meta_write(m, sizeof(m), "1..2", CT_SMALL_UID, "1.2", NULL),
			 -EINVAL);
	assert_int_equal(part10_meta_write(m, sizeof(m), CT_IMAGE, "", "1.2", NULL), -EINVAL);
	assert_int_equal(
		part10_meta_write(m, sizeof(m), CT_IMAGE, "1.2", "1.2", "SEVENTEEN_LETTERS"),
		-EINVAL);
	assert_int_equal(part10_meta_write(m, sizeof(m), CT_IMAGE,
					   "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20."
					   "21.22.23.24.25.26.27",
					   "1.2", NULL),
			 -EINVAL);
}

static void test_whole_files_pass_and_cut_ones_fail(void **state)
{
	/* Explicit and implicit VR, big endian, encapsulated JPEG 2000 and RLE, sequences,
	 * deflated. */
	static const char *const files[] = {"CT_small.dcm",	      "MR_small_implicit.dcm",
					    "MR_small_bigendian.dcm", "JPEG2000.dcm",
					    "MR_small_RLE.dcm",	      "rtplan.dcm",
					    "image_dfl.dcm"};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len = 0;
		unsigned char *b = slurp(files[i], &len);

		assert_int_equal(part10_check_complete(b, len, why, sizeof(why)), 0);
		/* Cut inside the last element (the pixel data, or a sequence), or inside the
		 * deflate stream: a cut that falls exactly between two elements cannot be told
		 * from a shorter file. */
		/* image_dfl.dcm's deflate stream is followed by 8 bytes that hold no data. */
		size_t from = strcmp(files[i], "image_dfl.dcm") == 0 ? 9 : 1;

		for (size_t k = from; k < from + 6; k++)
			assert_int_equal(part10_check_complete(b, len - k, why, sizeof(why)),
					 -EINVAL);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_set_uid_in_every_syntax),
		cmocka_unit_test(test_too_few_bytes_ask_for_more),
		cmocka_unit_test(
			test_meta_naming_another_instance_is_sound_and_named_by_its_data_set),
		cmocka_unit_test(test_bare_data_sets_in_three_syntaxes),
		cmocka_unit_test(test_damaged_meta_groups_get_a_new_one),
		cmocka_unit_test(test_no_sop_instance_uid_is_refused),
		cmocka_unit_test(test_garbage_is_not_dicom),
		cmocka_unit_test(test_meta_header_reads_back),
		cmocka_unit_test(test_whole_files_pass_and_cut_ones_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
