/* DICOM JSON model (PS3.18 §F.2) to attribute sets: what QIDO-RS and WADO-RS metadata return. */
#ifndef TROLLEY_DICOM_JSON_H
#define TROLLEY_DICOM_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/attrs.h"

struct cJSON;

/**
 * Parse @len bytes of a DICOM JSON array (one object per match) and append one set per object
 * to @out. An empty body (QIDO's 204) is an empty list. Sequences, bulk data and inline binary
 * are left out: names and attributes need only text values.
 * @return 0; -EIO if the bytes are not a DICOM JSON array (nothing appended); -ENOMEM.
 */
int dicom_json_parse_list(const char *json, size_t len, struct attrset_list *out);

/** Whether @len bytes are a DICOM JSON array of objects (the shape of a metadata reply). */
bool dicom_json_is_dataset_array(const char *json, size_t len);

/** Convert one DICOM JSON object into @out (initialised). @return 0, -EIO, -ENOMEM. */
int dicom_json_to_attrset(const struct cJSON *obj, struct attrset *out);

#endif
