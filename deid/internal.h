/* What the files of deid/ share and nobody else sees: the de-identifier's struct, the HMAC
 * under its key, and Table E.1-1 (deid/table.c). */
#ifndef TROLLEY_DEID_INTERNAL_H
#define TROLLEY_DEID_INTERNAL_H

#include "deid/deid.h"

/** The most bytes of a derivation's message hashed as they are (label, NUL, value). */
#define DEID_MSG_MAX 1024

struct deid {
	struct deid_options opts;
	size_t key_len;
	unsigned char key[DEID_KEY_MAX];
};

/** HMAC-SHA256(key, @label NUL @value) into @mac. @return 0 or -ENOMEM (OpenSSL failed). */
int deid_hmac(const struct deid *d, const char *label, const void *value, size_t len,
	      unsigned char mac[32]);

/** The basic profile's action for an attribute (Table E.1-1), the combined codes resolved the
 * way deid.h says. */
enum deid_act {
	DEID_ACT_D,   /**< dummy: pseudonym for text, a fixed date, a remapped UID, else empty */
	DEID_ACT_Z,   /**< empty */
	DEID_ACT_X,   /**< removed */
	DEID_ACT_U,   /**< UID remapped */
	DEID_ACT_ZD,  /**< Z/D: dummy (some are type 1 in enhanced IODs) */
	DEID_ACT_XZ,  /**< X/Z: emptied (keeps type 2 attributes present; a sequence removed) */
	DEID_ACT_XD,  /**< X/D: emptied (a sequence removed) */
	DEID_ACT_XZD, /**< X/Z/D: dummy (a sequence removed) */
	DEID_ACT_XZU, /**< X/Z/U*: a reference sequence kept, its items cleaned, UIDs remapped */
};

/* Which option changes a row: patient characteristics and device identity keep it (K),
 * clean descriptors cleans it (C), retain dates shifts a DA/DT and keeps a TM (C). */
#define DEID_OPT_PATIENT 1u
#define DEID_OPT_DEVICE	 2u
#define DEID_OPT_DESC	 4u
#define DEID_OPT_DATES	 8u

struct deid_rule {
	uint32_t tag, mask; /* mask 0xFFFFFFFF but for repeating groups (50xx, 60xx) */
	char vr[3];
	unsigned char act; /* enum deid_act */
	unsigned char opts;
};

/** The row of @tag, or NULL if the table does not name it (then it is kept). */
const struct deid_rule *deid_rule_find(uint32_t tag);
/** Whether PS3.6 gives @tag the VR SQ / UI (for implicit VR and UN). */
bool deid_dict_is_sq(uint32_t tag);
bool deid_dict_is_ui(uint32_t tag);

/** What becomes of one attribute (deid_fate()). */
enum deid_fate {
	DEID_FATE_KEEP,	   /**< as it is */
	DEID_FATE_DROP,	   /**< removed */
	DEID_FATE_EMPTY,   /**< present, zero length (a sequence without items) */
	DEID_FATE_REPLACE, /**< the text in @nv (possibly empty) */
	DEID_FATE_ITEMS,   /**< a sequence kept, each item cleaned by the same rules */
};

/**
 * Decide the fate of attribute @tag, VR @vr ("" or NULL if unknown: the table's is used),
 * whose value is the text @v of @len bytes (padding included; ignored for @is_sq), for a
 * patient whose date offset is @offset. On DEID_FATE_REPLACE the new text is in @nv (emptied
 * first; without padding). @return 0 or -ENOMEM / -E2BIG from @nv.
 */
int deid_fate(const struct deid *d, long offset, uint32_t tag, const char *vr, bool is_sq,
	      const char *v, size_t len, struct buf *nv, enum deid_fate *fate);
/** Whether @vr is a text VR a pseudonym may replace. */
bool deid_vr_is_text(const char *vr);

/** Whether @sop_class is one deid withholds (SR, KO, PR, encapsulated documents); @why. */
bool deid_class_withheld(const char *sop_class, const char **why);

/** DeidentificationMethod (0012,0063): what was applied, in words (LO: at most 64). */
#define DEID_METHOD "DICOM PS3.15 " DEID_EDITION " Table E.1-1 Basic Profile"

/** A code of CID 7050 (scheme DCM) for DeidentificationMethodCodeSequence (0012,0064). */
struct deid_code {
	const char *value, *meaning;
};
#define DEID_CODES_MAX 5
/** The codes of what @d applies (113100 and one per option used) into @out. @return how many. */
size_t deid_method_codes(const struct deid *d, struct deid_code out[DEID_CODES_MAX]);

#endif
