/* The shared model of what a searcher returns: a set of DICOM attributes, each a tag, a VR and
 * its value as UTF-8 text (several values joined by a backslash, as in DICOM itself; PN as its
 * Alphabetic group; numbers in decimal). Every layer speaks in attribute sets. */
#ifndef TROLLEY_ATTRS_H
#define TROLLEY_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct attr {
	uint32_t tag; /* (group << 16) | element */
	char vr[3];   /* two letters and NUL; "" when unknown */
	char *value;  /* owned, UTF-8, NUL-terminated, never NULL ("" when empty) */
};

struct attrset {
	struct attr *v; /* sorted by tag */
	size_t n, cap;
};

struct attrset_list {
	struct attrset *v;
	size_t n, cap;
	/* The archive holds more matches than these (a cap it would not page past, a search
	 * that ended in failure after answers): the list is known to be incomplete. */
	bool incomplete;
};

void attrset_init(struct attrset *s);
void attrset_release(struct attrset *s);
/** Set @tag to a copy of @value (NULL means ""), replacing an earlier value. @return 0 or -ENOMEM. */
int attrset_set(struct attrset *s, uint32_t tag, const char *vr, const char *value);
/** Same, with a value of @len bytes that need not be NUL-terminated. */
int attrset_setn(struct attrset *s, uint32_t tag, const char *vr, const char *value, size_t len);
/** @return the value of @tag (borrowed, valid until @s changes), or NULL if absent. */
const char *attrset_get(const struct attrset *s, uint32_t tag);
/** The value of @tag, or "" if absent: for naming, where absent and empty are alike. */
const char *attrset_str(const struct attrset *s, uint32_t tag);
/** Deep copy @src into an initialised, empty @dst. @return 0 or -ENOMEM. */
int attrset_copy(struct attrset *dst, const struct attrset *src);
/** Copy into @dst every attribute of @src that @dst lacks. @return 0 or -ENOMEM. */
int attrset_merge(struct attrset *dst, const struct attrset *src);

void attrset_list_init(struct attrset_list *l);
void attrset_list_release(struct attrset_list *l);
/** Append an empty set and return it (owned by @l), or NULL on ENOMEM. */
struct attrset *attrset_list_add(struct attrset_list *l);
/** Move the sets of @src to the end of @dst, leaving @src empty; an incomplete @src makes @dst
 * incomplete. @return 0 or -ENOMEM. */
int attrset_list_append(struct attrset_list *dst, struct attrset_list *src);

/**
 * Serialise @l into a malloc'd buffer (*out, *len; caller frees), a private format used only for
 * the cache. @return 0 or -ENOMEM.
 */
int attrset_list_pack(const struct attrset_list *l, unsigned char **out, size_t *len);
/**
 * Rebuild a list from @len bytes made by attrset_list_pack() into an initialised, empty @l.
 * Every length is checked. @return 0, -EINVAL for damaged bytes, or -ENOMEM.
 */
int attrset_list_unpack(const unsigned char *buf, size_t len, struct attrset_list *l);

#endif
