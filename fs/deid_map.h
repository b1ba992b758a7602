/* The custodian's mapping (mount.trolley --deid-map KEYFILE SOURCE): which pseudonym the
 * de-identified view gives each UID and PatientID of the archive, as CSV "id_old,id_new" (the
 * format the MIDI-B benchmark's scoring script reads). Never part of a mount: it holds the
 * originals, so it goes to whoever runs it, who holds the key and the archive's access. */
#ifndef TROLLEY_DEID_MAP_H
#define TROLLEY_DEID_MAP_H

#include <stdio.h>

#include "cache/cache.h"

struct deid;

/**
 * Walk every study the archive lists (within @max_results, 0: all), its series and their
 * instances, and write to @out one line per PatientID, StudyInstanceUID, SeriesInstanceUID
 * and SOPInstanceUID: the archive's value and the one the view shows (the same function,
 * deid_attrset(), makes both). A PatientID is written once. @return 0, or the first query's
 * -errno (logged; what was written stays written).
 */
int deid_map_write(struct cache *c, const struct deid *d, long max_results, FILE *out);

#endif
