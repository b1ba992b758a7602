/* Part-10 header check (PS3.10 §7.1): preamble, "DICM", then group 0002 in explicit VR little
 * endian whatever the data set's transfer syntax. */
#include "core/part10.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* VRs with a 2-byte reserved field and a 4-byte length (PS3.5 §7.1.2). */
static int vr_has_long_length(const unsigned char *vr)
{
	static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
					    "SV", "UC", "UN", "UR", "UT", "UV"};

	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (memcmp(vr, longs[i], 2) == 0)
			return 1;
	return 0;
}

int part10_sop_uid(const unsigned char *head, size_t len, char *uid, size_t n)
{
	size_t off = 132;

	if (len < 132)
		return len > 128 && memcmp(head + 128, "DICM", len - 128) != 0 ? -EINVAL : -EAGAIN;
	if (memcmp(head + 128, "DICM", 4) != 0)
		return -EINVAL;
	for (;;) {
		uint16_t group, elem;
		uint32_t vlen;
		size_t hdr;

		if (len - off < 8)
			return len >= PART10_HEAD_MAX ? -EINVAL : -EAGAIN;
		group = le16(head + off);
		elem = le16(head + off + 2);
		if (group != 0x0002)
			return -EINVAL; /* meta group ended without (0002,0003) */
		if (vr_has_long_length(head + off + 4)) {
			if (len - off < 12)
				return -EAGAIN;
			vlen = le32(head + off + 8);
			hdr = 12;
		} else {
			vlen = le16(head + off + 6);
			hdr = 8;
		}
		if (vlen > PART10_HEAD_MAX)
			return -EINVAL;
		if (len - off - hdr < vlen)
			return len >= PART10_HEAD_MAX ? -EINVAL : -EAGAIN;
		if (elem == 0x0003) {
			const unsigned char *v = head + off + hdr;
			size_t l = vlen;

			/* UI values are padded with NUL to even length; some writers pad with space. */
			while (l && (v[l - 1] == '\0' || v[l - 1] == ' '))
				l--;
			if (l == 0 || l + 1 > n)
				return -EINVAL;
			memcpy(uid, v, l);
			uid[l] = '\0';
			return 0;
		}
		off += hdr + vlen;
	}
}
