/* Layout templates (-o layout=TEMPLATE): which levels the /patients tree has and how each level
 * is named, parsed once at mount time into one struct names_format per level (fs/names.c
 * expands them, so every naming rule holds for any template), plus the attributes each query
 * must ask for beyond what every searcher returns (each says so in its descriptor). "tree" and "flat" are two built-in
 * templates. The syntax is documented in mount.trolley(8). Pure functions; a parsed layout is
 * read-only and shared by every thread. */
#ifndef TROLLEY_LAYOUT_H
#define TROLLEY_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/query.h"
#include "fs/names.h"

/** The levels a template names, in the order they must come. */
enum layout_level {
	LAYOUT_PATIENT = 0,
	LAYOUT_STUDY,
	LAYOUT_SERIES,
	LAYOUT_INSTANCE,
	LAYOUT_LEVELS
};

/** Longest template accepted. */
#define LAYOUT_TEXT_MAX 1024
/** Most attributes one query level may have to ask for. */
#define LAYOUT_INCLUDE_MAX 32

/** The built-in templates. */
#define LAYOUT_TREE                                                                                \
	"%PatientName <[%PatientID]>/%{StudyDate:iso} %StudyDescription <[%AccessionNumber]>/"     \
	"%SeriesNumber %Modality %SeriesDescription/%InstanceNumber"
#define LAYOUT_FLAT                                                                                \
	"%PatientName <[%PatientID]>/%{StudyDate:iso} %StudyDescription <[%AccessionNumber]>/"     \
	"%SeriesNumber-%InstanceNumber"

struct layout {
	bool has[LAYOUT_LEVELS];		 /* which levels are folders (instance always) */
	struct names_format fmt[LAYOUT_LEVELS];	 /* how each present level is named */
	uint32_t include[3][LAYOUT_INCLUDE_MAX]; /* per enum query_level: tags to ask for */
	size_t ninclude[3];
	/* Series attributes asked at the instance level (the series level is dropped): a
	 * hierarchical C-FIND cannot ask them (PS3.4 C.4.1.1.3.1: above the query level only
	 * unique keys). */
	bool series_at_instance;
	bool builtin; /* "tree" or "flat" */
};

/**
 * Parse @text ("tree", "flat" or a template) into @out. @return 0, or -EINVAL with the reason
 * in @why (size @n) and in *@at the byte offset in @text of the bad part.
 */
int layout_parse(const char *text, struct layout *out, char *why, size_t n, size_t *at);

/**
 * Whether the searcher can give what @l needs: @can_include (it can ask for attributes beyond
 * its defaults: not MINT), @upper_at_instance (it can ask series attributes in an instance
 * query: not hierarchical C-FIND). A built-in template asks only what the searcher can (flat
 * over C-FIND names instances by their number alone). @return 0 or -EINVAL with the reason.
 */
int layout_check_searcher(struct layout *l, bool can_include, bool upper_at_instance, char *why,
			  size_t n);

struct proto_searcher;
/**
 * Fit @l to the searcher @s (protocols/protocol.h; NULL: not a registered one, checked as one
 * that can do everything): what it returns unasked is not asked of it, then
 * layout_check_searcher() with its flags. @return 0 or -EINVAL with the reason.
 */
int layout_fit_searcher(struct layout *l, const struct proto_searcher *s, char *why, size_t n);

/** Whether @tag is an attribute of the patient level that @l names patients by. */
bool layout_names_patient_by(const struct layout *l, uint32_t tag);

/** The level of a template keyword's attribute, or -1 if a template may not use @tag. */
int layout_tag_level(uint32_t tag);

#endif
