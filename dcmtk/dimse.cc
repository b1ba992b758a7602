// C-FIND through dcmtk (dimse_net.cc's associations): one association per query (a PACS may
// drop idle ones), Study
// Root at the query's level, the match keys and the return keys we name folders by. Replies
// are converted to UTF-8 whatever their SpecificCharacterSet; limit and offset, which DIMSE
// lacks, are applied to the answers.
#include "dcmtk/dimse.h"
#include "dcmtk/dimse_net.hh"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/oflog/oflog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

extern "C" {
#include "core/errors.h"
#include "core/log.h"
#include "core/tags.h"
#include "protocols/proto_config.h"
}

namespace
{

struct find_searcher {
	struct searcher base;
	struct dimse_peer peer;
};

const uint32_t study_keys[] = {
	TAG_StudyInstanceUID, TAG_StudyDate,	     TAG_StudyTime,
	TAG_StudyDescription, TAG_AccessionNumber,   TAG_PatientName,
	TAG_PatientID,	      TAG_ModalitiesInStudy, TAG_SpecificCharacterSet};
const uint32_t series_keys[] = {TAG_StudyInstanceUID, TAG_SeriesInstanceUID,   TAG_SeriesNumber,
				TAG_Modality,	      TAG_SeriesDescription,   TAG_SeriesDate,
				TAG_SeriesTime,	      TAG_SpecificCharacterSet};
const uint32_t image_keys[] = {
	TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SOPInstanceUID, TAG_InstanceNumber,
	TAG_SOPClassUID,      TAG_ContentDate,	     TAG_ContentTime,	 TAG_Rows,
	TAG_Columns,	      TAG_BitsAllocated,     TAG_NumberOfFrames, TAG_SpecificCharacterSet};

DcmTagKey key_of(uint32_t tag)
{
	return DcmTagKey((Uint16)(tag >> 16), (Uint16)(tag & 0xffff));
}

void put_key(DcmDataset &ds, uint32_t tag, const char *value)
{
	DcmTag t(key_of(tag));

	ds.putAndInsertOFStringArray(t, OFString(value ? value : ""));
}

// The answer's elements (top level, text values) into @set.
int read_answer(DcmDataset *ds, struct attrset *set)
{
	for (unsigned long i = 0; i < ds->card(); i++) {
		DcmElement *el = ds->getElement(i);
		OFString value;
		DcmTag tag = el->getTag();
		uint32_t t = (uint32_t)tag.getGroup() << 16 | tag.getElement();

		if (tag.getGroup() == 0x0000 || el->ident() == EVR_SQ)
			continue;
		if (el->getOFStringArray(value).bad())
			continue;
		if (attrset_setn(set, t, tag.getVRName(), value.c_str(), value.length()) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct find_answers {
	struct find_searcher *f;
	const struct query *q;
	struct attrset_list *out;
	long skipped;
	int err;
};

/* Each pending answer as it comes: limit and offset applied, converted to UTF-8. */
void take_answer(void *ctx, T_DIMSE_C_FindRQ *, int, T_DIMSE_C_FindRSP *, DcmDataset *ds)
{
	struct find_answers *a = (struct find_answers *)ctx;
	struct attrset *set;

	if (!ds || a->err)
		return;
	if (a->q->offset && a->skipped < a->q->offset) {
		a->skipped++;
		return;
	}
	if (a->q->limit && (long)a->out->n >= a->q->limit)
		return;
	/* Answers past the cap are dropped (the association still reads them): the listing is
	 * held in memory, and an archive may answer a broad query with millions. */
	if (a->out->n >= SEARCHER_RESULTS_MAX) {
		if (!a->out->incomplete)
			log_warn("C-FIND %s: more than %d answers: the rest are left out and the "
				 "answer is incomplete; a narrower search shows them",
				 a->f->peer.name.c_str(), SEARCHER_RESULTS_MAX);
		a->out->incomplete = true;
		return;
	}
	/* Names are UTF-8: convert whatever SpecificCharacterSet came. */
	if (ds->convertToUTF8().bad())
		log_warn("C-FIND %s: an answer could not be converted to UTF-8",
			 a->f->peer.name.c_str());
	set = attrset_list_add(a->out);
	if (!set || read_answer(ds, set) < 0)
		a->err = -ENOMEM;
}

int find(struct searcher *s, const struct query *q, struct attrset_list *out,
	 struct errors_detail *why)
{
	struct find_searcher *f = (struct find_searcher *)s;
	static const char *const levels[] = {"STUDY", "SERIES", "IMAGE"};
	const uint32_t *keys = q->level == QUERY_STUDY	  ? study_keys
			       : q->level == QUERY_SERIES ? series_keys
							  : image_keys;
	size_t nkeys = q->level == QUERY_STUDY	  ? sizeof(study_keys) / sizeof(*keys)
		       : q->level == QUERY_SERIES ? sizeof(series_keys) / sizeof(*keys)
						  : sizeof(image_keys) / sizeof(*keys);
	struct find_answers a = {f, q, out, 0, 0};
	Uint16 status = 0;
	int err;

	try {
		DcmDataset ids;

		ids.putAndInsertOFStringArray(DCM_QueryRetrieveLevel, levels[q->level]);
		for (size_t i = 0; i < nkeys; i++)
			if (!attrset_get(&q->match, keys[i]))
				put_key(ids, keys[i], "");
		for (size_t i = 0; i < q->ninclude; i++)
			if (!attrset_get(&q->match, q->include[i]))
				put_key(ids, q->include[i], "");
		for (size_t i = 0; i < q->match.n; i++)
			put_key(ids, q->match.v[i].tag, q->match.v[i].value);
		err = dimse_find(&f->peer, DIMSE_SEARCH, "", &ids, take_answer, &a, &status, why);
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
	if (err == -ENOTSUP) {
		log_error("C-FIND %s: the archive does not accept Study Root C-FIND",
			  f->peer.name.c_str());
		return -EACCES;
	}
	if (err)
		return err;
	if (status != STATUS_Success && !DICOM_WARNING_STATUS(status) && out->n > 0 && !a.err) {
		/* Cancelled or failed after answers: archives end so at their own cap (Orthanc's
		 * LimitFindResults: 0xFE00) or on a timeout. What came is kept, marked incomplete. */
		log_warn("C-FIND %s: status 0x%04x after %zu answers: the answer is incomplete",
			 f->peer.name.c_str(), status, out->n);
		out->incomplete = true;
	} else if (status != STATUS_Success && !DICOM_WARNING_STATUS(status)) {
		log_error("C-FIND %s: status 0x%04x", f->peer.name.c_str(), status);
		char st[32];

		snprintf(st, sizeof(st), "DIMSE 0x%04x", status);
		errors_detail_set(why, ("C-FIND " + f->peer.name).c_str(), st,
				  "the archive refused the query");
		return -EIO;
	}
	return a.err;
}

void free_find(struct searcher *s)
{
	delete (struct find_searcher *)s;
}

const struct searcher_ops find_ops = {"c-find", find, nullptr, free_find, nullptr};

} // namespace

extern "C" int dimse_find_new(const struct proto_config *cfg, struct searcher **out)
{
	struct find_searcher *f;
	struct dimse_config dc;

	if (dimse_config_get(cfg, &dc) < 0)
		return -EINVAL;
	f = new (std::nothrow) find_searcher();
	if (!f)
		return -ENOMEM;
	f->base.ops = &find_ops;
	try {
		dimse_peer_init(&f->peer, cfg, &dc);
	} catch (const std::bad_alloc &) {
		delete f;
		return -ENOMEM;
	}
	/* dcmtk logs to stderr on its own: keep it to errors. */
	OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
	*out = &f->base;
	return 0;
}
