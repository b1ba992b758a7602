// C-FIND through dcmtk's DcmSCU: one association per query (a PACS may drop idle ones), Study
// Root at the query's level, the match keys and the return keys we name folders by. Replies
// are converted to UTF-8 whatever their SpecificCharacterSet; limit and offset, which DIMSE
// lacks, are applied to the answers.
#include "protocols/dimse.h"
#include "protocols/dimse_net.hh"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

extern "C" {
#include "core/log.h"
#include "core/tags.h"
#include "protocols/proto_config.h"
}

namespace
{

struct dimse_find {
	struct searcher base;
	char *host, *aet, *aec;
	int port;
	long timeout;
};

const uint32_t study_keys[] = {TAG_StudyInstanceUID, TAG_StudyDate,	TAG_StudyTime,
			       TAG_StudyDescription, TAG_AccessionNumber, TAG_PatientName,
			       TAG_PatientID,	     TAG_ModalitiesInStudy, TAG_SpecificCharacterSet};
const uint32_t series_keys[] = {TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SeriesNumber,
				TAG_Modality,	      TAG_SeriesDescription, TAG_SeriesDate,
				TAG_SeriesTime,	      TAG_SpecificCharacterSet};
const uint32_t image_keys[] = {TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SOPInstanceUID,
			       TAG_InstanceNumber,   TAG_SOPClassUID,	    TAG_ContentDate,
			       TAG_ContentTime,	     TAG_Rows,		    TAG_Columns,
			       TAG_BitsAllocated,    TAG_NumberOfFrames,    TAG_SpecificCharacterSet};

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

int find(struct searcher *s, const struct query *q, struct attrset_list *out)
{
	struct dimse_find *f = (struct dimse_find *)s;
	static const char *const levels[] = {"STUDY", "SERIES", "IMAGE"};
	const uint32_t *keys = q->level == QUERY_STUDY	  ? study_keys
			       : q->level == QUERY_SERIES ? series_keys
							  : image_keys;
	size_t nkeys = q->level == QUERY_STUDY	  ? sizeof(study_keys) / sizeof(*keys)
		       : q->level == QUERY_SERIES ? sizeof(series_keys) / sizeof(*keys)
						  : sizeof(image_keys) / sizeof(*keys);
	OFList<QRResponse *> responses;
	long skipped = 0;
	int err = 0;

	try {
		DcmSCU scu;
		OFList<OFString> syntaxes;
		DcmDataset req;
		OFCondition cond;
		T_ASC_PresentationContextID pid;

		scu.setAETitle(f->aet);
		scu.setPeerAETitle(f->aec);
		scu.setPeerHostName(f->host);
		scu.setPeerPort((Uint16)f->port);
		scu.setConnectionTimeout((Sint32)f->timeout);
		scu.setACSETimeout((Uint32)f->timeout);
		scu.setDIMSETimeout((Uint32)f->timeout);
		scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
		syntaxes.push_back(UID_LittleEndianExplicitTransferSyntax);
		syntaxes.push_back(UID_LittleEndianImplicitTransferSyntax);
		scu.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, syntaxes);
		cond = scu.initNetwork();
		if (cond.good())
			cond = scu.negotiateAssociation();
		if (cond.bad()) {
			log_error("C-FIND %s@%s:%d as %s: association failed: %s", f->aec, f->host,
				  f->port, f->aet, cond.text());
			return strstr(cond.text(), "Rejected") ? -EACCES
			       : strstr(cond.text(), "imeout") ? -ETIMEDOUT
							       : -EIO;
		}
		pid = scu.findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
		req.putAndInsertOFStringArray(DCM_QueryRetrieveLevel, levels[q->level]);
		for (size_t i = 0; i < nkeys; i++)
			if (!attrset_get(&q->match, keys[i]))
				put_key(req, keys[i], "");
		for (size_t i = 0; i < q->ninclude; i++)
			if (!attrset_get(&q->match, q->include[i]))
				put_key(req, q->include[i], "");
		for (size_t i = 0; i < q->match.n; i++)
			put_key(req, q->match.v[i].tag, q->match.v[i].value);
		cond = scu.sendFINDRequest(pid, &req, &responses);
		if (cond.bad()) {
			log_error("C-FIND %s@%s:%d: %s", f->aec, f->host, f->port, cond.text());
			err = strstr(cond.text(), "imeout") ? -ETIMEDOUT : -EIO;
		}
		for (OFListIterator(QRResponse *) it = responses.begin();
		     !err && it != responses.end(); ++it) {
			QRResponse *r = *it;
			struct attrset *set;

			if (DICOM_WARNING_STATUS(r->m_status) || r->m_status == STATUS_Success) {
				if (!r->m_dataset)
					continue;
			} else if (DICOM_PENDING_STATUS(r->m_status) == 0) {
				log_error("C-FIND %s@%s:%d: status 0x%04x", f->aec, f->host, f->port,
					  r->m_status);
				err = r->m_status == 0xA700 ? -EIO : -EIO;
				break;
			}
			if (!r->m_dataset)
				continue;
			if (q->offset && skipped < q->offset) {
				skipped++;
				continue;
			}
			if (q->limit && (long)out->n >= q->limit)
				continue;
			/* Names are UTF-8: convert whatever SpecificCharacterSet came. */
			if (r->m_dataset->convertToUTF8().bad())
				log_warn("C-FIND %s@%s:%d: an answer could not be converted to UTF-8",
					 f->aec, f->host, f->port);
			set = attrset_list_add(out);
			if (!set || read_answer(r->m_dataset, set) < 0)
				err = -ENOMEM;
		}
		for (OFListIterator(QRResponse *) it = responses.begin(); it != responses.end(); ++it)
			delete *it;
		scu.releaseAssociation();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
	return err;
}

void free_find(struct searcher *s)
{
	struct dimse_find *f = (struct dimse_find *)s;

	free(f->host);
	free(f->aet);
	free(f->aec);
	free(f);
}

const struct searcher_ops find_ops = {"c-find", find, nullptr, free_find};

} // namespace

extern "C" int dimse_find_new(const struct proto_config *cfg, struct searcher **out)
{
	struct dimse_find *f;

	if (!cfg->dimse_host || !cfg->dimse_port || !cfg->aec)
		return -EINVAL;
	f = (struct dimse_find *)calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.ops = &find_ops;
	f->host = strdup(cfg->dimse_host);
	f->aet = strdup(cfg->aet ? cfg->aet : "TROLLEY");
	f->aec = strdup(cfg->aec);
	f->port = cfg->dimse_port;
	f->timeout = cfg->dimse_timeout > 0 ? cfg->dimse_timeout : 30;
	dimse_set_socket_timeouts((int)f->timeout);
	if (!f->host || !f->aet || !f->aec) {
		free_find(&f->base);
		return -ENOMEM;
	}
	/* dcmtk logs to stderr on its own: keep it to errors. */
	OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
	*out = &f->base;
	return 0;
}
