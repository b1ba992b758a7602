/* Lookup without a listing of the folder: the children of /patients and /studies, by a targeted
 * query where one can find the candidates, else by listing the folder (by tree_query_list()). */
#ifndef TROLLEY_LOOKUP_H
#define TROLLEY_LOOKUP_H

#include "fs/tree.h"

/**
 * Child @name of /patients (@dir): by PatientID or PatientName queries made from the name, or
 * by listing /patients for a name no query can find ("unnamed", a cut name). The entry is the
 * one the listing names @name. When /patients was listed, the listing goes to @listed (a
 * reference for the caller; untouched otherwise: the caller sets it to NULL first). A name no
 * listing can show (names_is_valid()) is -ENOENT without a query. The lookup of /patients'
 * entry of fs/kind.h.
 * @return 0 and @out (release with node_release()), -ENOENT, or -errno.
 */
int lookup_patient(struct tree *t, const struct node *dir, const char *name, struct node *out,
		   struct listing **listed, struct errors_detail *why);

/** Child @name of /studies (@dir): by its StudyInstanceUID, or, for the name of a study whose
 * UID is not one, by listing /studies. As lookup_patient(). */
int lookup_study(struct tree *t, const struct node *dir, const char *name, struct node *out,
		 struct listing **listed, struct errors_detail *why);

#endif
