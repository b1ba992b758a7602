/* The flat forms: a QIDO/C-FIND attribute set cleaned by the same decisions as a data set
 * (deid/values.c), and the withholding rule a listing can apply before any file is read. */
#include "deid/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* SOP classes whose content the basic profile does not reach (PS3.15 E.1.1: the profile
 * cleans attributes, not the text of structured content, presentation states' annotations or
 * encapsulated documents): SR and KO (88.*), presentation states (11.*), encapsulated
 * documents (104.*: PDF, CDA, STL, OBJ, MTL). */
static const char *const withheld_roots[] = {
	"1.2.840.10008.5.1.4.1.1.88.",
	"1.2.840.10008.5.1.4.1.1.11.",
	"1.2.840.10008.5.1.4.1.1.104.",
};

bool deid_class_withheld(const char *sop_class, const char **why)
{
	for (size_t i = 0; i < sizeof(withheld_roots) / sizeof(withheld_roots[0]); i++)
		if (strncmp(sop_class, withheld_roots[i], strlen(withheld_roots[i])) == 0) {
			if (why)
				*why = i == 0	? "a structured report or key object selection"
				       : i == 1 ? "a presentation state"
						: "an encapsulated document";
			return true;
		}
	return false;
}

bool deid_withheld(const struct deid *d, const struct attrset *s, const char **why)
{
	const char *burned = attrset_get(s, 0x00280301u), *cls = attrset_get(s, 0x00080016u);

	(void)d;
	if (burned && strncmp(burned, "YES", 3) == 0) {
		if (why)
			*why = "BurnedInAnnotation is YES";
		return true;
	}
	return cls && deid_class_withheld(cls, why);
}

int deid_attrset(const struct deid *d, struct attrset *s)
{
	const char *pid = attrset_get(s, 0x00100020u);
	long offset = deid_date_offset(d, pid ? pid : "");
	bool have_pid = pid != NULL;
	struct buf nv;
	size_t keep = 0, i;
	int err = 0;

	buf_init(&nv, (size_t)1 << 30);
	for (i = 0; i < s->n; i++) {
		struct attr *a = &s->v[i];
		const struct deid_rule *r = deid_rule_find(a->tag);
		enum deid_fate fate;
		char *nvs;

		/* A set's sequences are not carried (core/attrs.h): nothing to recurse into. */
		err = deid_fate(d, offset, a->tag, a->vr, strcmp(a->vr, "SQ") == 0, a->value,
				strlen(a->value), &nv, &fate);
		if (err < 0)
			goto out;
		/* Without the patient's ID there is no offset to shift by: no date is kept. */
		if (!have_pid && d->opts.retain_dates && r && (r->opts & DEID_OPT_DATES) &&
		    fate == DEID_FATE_REPLACE)
			fate = DEID_FATE_EMPTY;
		switch (fate) {
		case DEID_FATE_DROP:
			free(a->value);
			continue;
		case DEID_FATE_EMPTY:
		case DEID_FATE_REPLACE:
			nvs = strdup(fate == DEID_FATE_REPLACE && nv.data ? nv.data : "");
			if (!nvs) {
				err = -ENOMEM;
				goto out;
			}
			free(a->value);
			a->value = nvs;
			break;
		default:
			break;
		}
		s->v[keep++] = *a;
	}
out:
	/* On failure the attributes not yet looked at move down unchanged, so the set stays
	 * sound for attrset_release() (the caller drops it: deid.h). */
	for (; i < s->n; i++)
		s->v[keep++] = s->v[i];
	s->n = keep;
	buf_release(&nv);
	return err;
}
