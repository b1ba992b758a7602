// The C-GET and C-MOVE downloaders (Study Root). C-GET brings the instances back on its own
// association as C-STORE sub-operations; C-MOVE asks the archive to send them to our storage
// SCP (dimse_scp.cc). Before either, a C-FIND at IMAGE level learns the SOP classes to come
// and, where the archive says, the syntaxes they are stored in (storage_offer()), so that the
// files come as stored: C-GET offers those, the storage SCP accepts those.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/oflog/oflog.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

#include "dcmtk/dimse.h"
#include "dcmtk/dimse_scp.hh"

extern "C" {
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/pushback.h"
}

namespace
{

struct dimse_retriever {
	struct downloader base;
	struct dimse_peer peer;
	bool move;
	struct dimse_scp *scp; /* C-MOVE only */
	/* Whether the archive answers C-FIND with the stored syntax: 0 not known yet, 1 it
	 * does (ask before every retrieve), -1 it does not (ask only for a class not listed). */
	std::atomic<int> tells{0};
	/* C-MOVE from an archive that told: one at a time, so that the storage SCP accepts only
	 * the syntaxes of the instances that one brings (see dimse_scp_expect()). */
	pthread_mutex_t told_move;
};

/* C-GET message IDs. A C-MOVE's is the storage SCP's (dimse_scp_expect()): random, as the
 * C-STOREs it brings must name it. */
std::atomic<unsigned> next_message_id{1};

/* How often a C-MOVE without responses looks whether its sub-operations still come. */
const int MOVE_POLL_SECONDS = 1;

Uint16 message_id()
{
	unsigned id = next_message_id.fetch_add(1) % 0xffff;

	return (Uint16)(id ? id : 1);
}

const char *level_of(const struct instance_ref *ref)
{
	return ref->sop_uid ? "IMAGE" : "SERIES";
}

const char *uid_of(const struct instance_ref *ref)
{
	return ref->sop_uid ? ref->sop_uid : ref->series_uid;
}

/* The retrieve identifier (PS3.4 C.4.2.2.1): unique keys down to the level. */
void retrieve_keys(DcmDataset &ds, const struct instance_ref *ref, const char *level)
{
	ds.putAndInsertString(DCM_QueryRetrieveLevel, level);
	ds.putAndInsertString(DCM_StudyInstanceUID, ref->study_uid);
	ds.putAndInsertString(DCM_SeriesInstanceUID, ref->series_uid);
	if (ref->sop_uid)
		ds.putAndInsertString(DCM_SOPInstanceUID, ref->sop_uid);
}

/* One instance as an IMAGE level C-FIND answered it. */
struct stored_instance {
	std::string sop_uid, sop_class, syntax; /* syntax empty: not said */
};

/* What an IMAGE level C-FIND told of the instances to come. */
struct stored_answers {
	std::vector<dimse_stored> *stored;
	std::vector<stored_instance> *each;
	bool told; /* an answer named its stored syntax */
};

void add_stored(std::vector<dimse_stored> &stored, const char *c, const char *ts)
{
	auto it = std::find_if(stored.begin(), stored.end(),
			       [c](const dimse_stored &s) { return s.sop_class == c; });

	if (it == stored.end()) {
		stored.push_back({c, {}});
		it = stored.end() - 1;
	}
	if (ts && *ts &&
	    std::find(it->syntaxes.begin(), it->syntaxes.end(), ts) == it->syntaxes.end())
		it->syntaxes.push_back(ts);
}

void collect_stored(void *ctx, T_DIMSE_C_FindRQ *, int, T_DIMSE_C_FindRSP *, DcmDataset *ids)
{
	struct stored_answers *a = (struct stored_answers *)ctx;
	const char *c = NULL, *ts = NULL, *sop = NULL;
	OFString avail;

	if (!ids || ids->findAndGetString(DCM_SOPClassUID, c).bad() || !c || !*c)
		return;
	/* pixelmed answers (0002,0010) from its database; (0008,3002) Available Transfer Syntax
	 * UID, when an archive gives exactly one, is the one it has. */
	if (ids->findAndGetString(DCM_TransferSyntaxUID, ts).bad() || !ts || !*ts) {
		ts = NULL;
		if (ids->findAndGetOFStringArray(DCM_AvailableTransferSyntaxUID, avail).good() &&
		    !avail.empty() && avail.find('\\') == OFString_npos)
			ts = avail.c_str();
	}
	try {
		add_stored(*a->stored, c, ts);
		a->told |= ts != NULL;
		if (ids->findAndGetString(DCM_SOPInstanceUID, sop).good() && sop && *sop)
			a->each->push_back({sop, c, ts ? ts : ""});
	} catch (const std::bad_alloc &) {
	}
}

/* The SOP classes of what @ref names, and the syntaxes the archive stored them in where it
 * says (*@told), in all and for @each instance. @return 0 (possibly nothing: the archive does not say, does not answer
 * C-FIND, or has no such instance), or an association error (logged). */
int find_stored(const struct dimse_peer *p, const struct instance_ref *ref,
		std::vector<dimse_stored> &stored, std::vector<stored_instance> &each, bool *told,
		struct errors_detail *why)
{
	std::string about = std::string(" for the SOP classes of ") + uid_of(ref);
	struct stored_answers a = {&stored, &each, false};
	DcmDataset ids;
	Uint16 status;
	int err;

	retrieve_keys(ids, ref, "IMAGE");
	if (!ref->sop_uid)
		ids.putAndInsertString(DCM_SOPInstanceUID, "");
	ids.putAndInsertString(DCM_SOPClassUID, "");
	/* Group 0002 does not belong in a data set, but it is how pixelmed tells (dcmtk and
	 * Orthanc ignore it); an archive that fails the query for it is asked again without. */
	ids.putAndInsertString(DCM_TransferSyntaxUID, "");
	ids.putAndInsertString(DCM_AvailableTransferSyntaxUID, "");
	err = dimse_find(p, DIMSE_BULK, about.c_str(), &ids, collect_stored, &a, &status, why);
	if (!err && stored.empty() && status != STATUS_Success && !DICOM_WARNING_STATUS(status)) {
		log_debug("C-FIND %s%s: status 0x%04x; asked again without the syntax keys",
			  p->name.c_str(), about.c_str(), status);
		ids.findAndDeleteElement(DCM_TransferSyntaxUID);
		ids.findAndDeleteElement(DCM_AvailableTransferSyntaxUID);
		err = dimse_find(p, DIMSE_BULK, about.c_str(), &ids, collect_stored, &a, &status,
				 why);
	}
	*told = a.told;
	/* An archive that retrieves but does not answer C-FIND: every class is offered. */
	return err == -ENOTSUP ? 0 : err;
}

struct counts {
	Uint16 status;
	unsigned completed, failed, warning;
	size_t received;
	int sink_err;
};

/* The next DIMSE command of @op on @assoc into @msg (its status detail dropped). @return 0,
 * or the network's error, logged. */
int next_command(struct dimse_retriever *r, T_ASC_Association *assoc, const char *op,
		 const struct instance_ref *ref, T_ASC_PresentationContextID *pid,
		 T_DIMSE_Message *msg, struct errors_detail *why)
{
	DcmDataset *detail = NULL;
	OFCondition cond;

	memset(msg, 0, sizeof(*msg));
	*pid = 0;
	cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, r->peer.timeout, pid, msg, &detail,
				    NULL);
	delete detail;
	if (cond.good())
		return 0;
	if (cancel_requested()) {
		log_info("%s %s of %s %s: cancelled", op, r->peer.name.c_str(), level_of(ref),
			 uid_of(ref));
		return -ECANCELED;
	}
	if (cond == DIMSE_NODATAAVAILABLE) {
		log_error("%s %s of %s %s: the archive sent nothing for %d s", op,
			  r->peer.name.c_str(), level_of(ref), uid_of(ref), r->peer.timeout);
		errors_detail_set(why, (std::string(op) + " " + r->peer.name).c_str(), "no reply",
				  "%s %s: the archive sent nothing for %d s", level_of(ref),
				  uid_of(ref), r->peer.timeout);
	} else {
		log_error("%s %s of %s %s: %s", op, r->peer.name.c_str(), level_of(ref),
			  uid_of(ref), cond.text());
		errors_detail_set(why, (std::string(op) + " " + r->peer.name).c_str(), "no reply",
				  "%s %s: %s", level_of(ref), uid_of(ref), cond.text());
	}
	return dimse_cond_errno(cond);
}

/* C-GET: the C-STORE sub-operations come on this association, between C-GET responses. */
int get_loop(struct dimse_retriever *r, T_ASC_Association *assoc, const struct instance_ref *ref,
	     struct sink *sink, struct counts *n, struct errors_detail *why)
{
	const char *peer = r->peer.name.c_str();
	struct dimse_expect expect = {ref->study_uid, ref->series_uid, "C-GET"};

	for (;;) {
		T_DIMSE_Message msg;
		T_ASC_PresentationContextID pid;
		int err = next_command(r, assoc, "C-GET", ref, &pid, &msg, why);

		if (err)
			return err;
		if (msg.CommandField == DIMSE_C_GET_RSP) {
			T_DIMSE_C_GetRSP *g = &msg.msg.CGetRSP;

			if (DICOM_PENDING_STATUS(g->DimseStatus))
				continue;
			n->status = g->DimseStatus;
			n->completed = g->NumberOfCompletedSubOperations;
			n->failed = g->NumberOfFailedSubOperations;
			n->warning = g->NumberOfWarningSubOperations;
			return 0;
		}
		if (msg.CommandField == DIMSE_C_STORE_RQ) {
			T_DIMSE_C_StoreRQ *s = &msg.msg.CStoreRQ;
			/* An instance level C-GET that brings another instance: not for us. */
			bool wanted = !ref->sop_uid ||
				      strcmp(ref->sop_uid, s->AffectedSOPInstanceUID) == 0;
			/* Its data set's own UIDs must be the request's and of @ref's series, as
			 * the C-MOVE storage SCP checks them: an archive (or a relay) that sends
			 * another instance under this name is refused, and nothing is kept. */
			err = dimse_receive_store(assoc, pid, s, r->peer.timeout,
						  wanted ? sink : NULL, &expect,
						  r->peer.aec.c_str(), peer, NULL, why);
			if (!err)
				n->received++;
			else if (wanted && !n->sink_err)
				n->sink_err = err == -EBADMSG ? -EIO : err;
			/* Unmounting: stop now; the association is aborted. */
			if (err == -ECANCELED)
				return err;
			continue;
		}
		log_error("C-GET %s: unexpected DIMSE command 0x%04x", peer,
			  (unsigned)msg.CommandField);
		return -EIO;
	}
}

/* The next C-MOVE response on @assoc into @msg. The archive need not send pending responses
 * (PS3.4 C.4.2.3.1: "may"), and a series may take longer than timeout= to move: it has
 * stopped only when neither a response nor a sub-operation for @wait came for timeout=
 * seconds. @return 0, or the network's error (-ETIMEDOUT), logged. */
int move_command(struct dimse_retriever *r, T_ASC_Association *assoc,
		 const struct instance_ref *ref, struct dimse_move_wait *wait,
		 T_ASC_PresentationContextID *pid, T_DIMSE_Message *msg)
{
	int silent = 0; /* seconds without a response */

	for (;;) {
		DcmDataset *detail = NULL;
		OFCondition cond;

		memset(msg, 0, sizeof(*msg));
		*pid = 0;
		cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, MOVE_POLL_SECONDS, pid, msg,
					    &detail, NULL);
		delete detail;
		if (cond.good())
			return 0;
		if (cancel_requested()) {
			log_info("C-MOVE %s of %s %s: cancelled", r->peer.name.c_str(),
				 level_of(ref), uid_of(ref));
			return -ECANCELED;
		}
		if (cond != DIMSE_NODATAAVAILABLE) {
			log_error("C-MOVE %s of %s %s: %s", r->peer.name.c_str(), level_of(ref),
				  uid_of(ref), cond.text());
			return dimse_cond_errno(cond);
		}
		silent += MOVE_POLL_SECONDS;
		if (silent < r->peer.timeout || dimse_scp_idle(r->scp, wait) < r->peer.timeout)
			continue;
		log_error("C-MOVE %s of %s %s: no response and no sub-operation for %d s",
			  r->peer.name.c_str(), level_of(ref), uid_of(ref), silent);
		return -ETIMEDOUT;
	}
}

/* C-MOVE: only responses come here; the instances go to the SCP. */
int move_loop(struct dimse_retriever *r, T_ASC_Association *assoc, const struct instance_ref *ref,
	      struct dimse_move_wait *wait, struct counts *n)
{
	for (;;) {
		T_DIMSE_Message msg;
		T_ASC_PresentationContextID pid;
		OFCondition cond;
		int err = move_command(r, assoc, ref, wait, &pid, &msg);

		if (err)
			return err;
		if (msg.CommandField != DIMSE_C_MOVE_RSP) {
			log_error("C-MOVE %s: unexpected DIMSE command 0x%04x",
				  r->peer.name.c_str(), (unsigned)msg.CommandField);
			return -EIO;
		}
		/* A data set after a failure response lists the failed SOP instances: drop it. */
		if (msg.msg.CMoveRSP.DataSetType != DIMSE_DATASET_NULL) {
			DcmDataset *ds = NULL;

			cond = DIMSE_receiveDataSetInMemory(assoc, DIMSE_NONBLOCKING,
							    r->peer.timeout, &pid, &ds, NULL, NULL);
			delete ds;
			if (cond.bad())
				return dimse_cond_errno(cond);
		}
		if (DICOM_PENDING_STATUS(msg.msg.CMoveRSP.DimseStatus))
			continue;
		n->status = msg.msg.CMoveRSP.DimseStatus;
		n->completed = msg.msg.CMoveRSP.NumberOfCompletedSubOperations;
		n->failed = msg.msg.CMoveRSP.NumberOfFailedSubOperations;
		n->warning = msg.msg.CMoveRSP.NumberOfWarningSubOperations;
		return 0;
	}
}

int send_request(struct dimse_retriever *r, T_ASC_Association *assoc,
		 T_ASC_PresentationContextID pid, const char *model, Uint16 id,
		 const struct instance_ref *ref)
{
	T_DIMSE_Message msg;
	DcmDataset ids;
	OFCondition cond;

	memset(&msg, 0, sizeof(msg));
	retrieve_keys(ids, ref, level_of(ref));
	if (r->move) {
		T_DIMSE_C_MoveRQ *m = &msg.msg.CMoveRQ;

		msg.CommandField = DIMSE_C_MOVE_RQ;
		m->MessageID = id;
		OFStandard::strlcpy(m->AffectedSOPClassUID, model, sizeof(m->AffectedSOPClassUID));
		m->Priority = DIMSE_PRIORITY_MEDIUM;
		m->DataSetType = DIMSE_DATASET_PRESENT;
		OFStandard::strlcpy(m->MoveDestination, r->peer.aet.c_str(),
				    sizeof(m->MoveDestination));
	} else {
		T_DIMSE_C_GetRQ *g = &msg.msg.CGetRQ;

		msg.CommandField = DIMSE_C_GET_RQ;
		g->MessageID = id;
		OFStandard::strlcpy(g->AffectedSOPClassUID, model, sizeof(g->AffectedSOPClassUID));
		g->Priority = DIMSE_PRIORITY_MEDIUM;
		g->DataSetType = DIMSE_DATASET_PRESENT;
	}
	cond = DIMSE_sendMessageUsingMemoryData(assoc, pid, &msg, NULL, &ids, NULL, NULL, NULL);
	if (cond.bad()) {
		log_error("%s %s: sending the request: %s", r->move ? "C-MOVE" : "C-GET",
			  r->peer.name.c_str(), cond.text());
		return dimse_cond_errno(cond);
	}
	return 0;
}

/* What the reader sees, from the final response and what arrived: -EBUSY (not logged) for
 * the archive's "out of resources", which retrieve() waits out. */
int outcome(struct dimse_retriever *r, const struct instance_ref *ref, const struct counts *n,
	    struct errors_detail *why)
{
	const char *op = r->move ? "C-MOVE" : "C-GET";
	int err = dimse_retrieve_status_errno(n->status);

	/* Unmounting refused the rest: the archive's failure count is ours, not news. */
	if (n->sink_err == -ECANCELED)
		return n->sink_err;
	if (dimse_is_pushback(n->status) && !n->sink_err) {
		log_warn_limited("%s %s of %s %s: status 0x%04x (out of resources; %u completed); "
				 "trying again",
				 op, r->peer.name.c_str(), level_of(ref), uid_of(ref), n->status,
				 n->completed);
		return -EBUSY;
	}
	if (n->status != STATUS_Success) {
		char st[32];

		log_error("%s %s of %s %s: status 0x%04x (%u completed, %u failed, %u warning)", op,
			  r->peer.name.c_str(), level_of(ref), uid_of(ref), n->status, n->completed,
			  n->failed, n->warning);
		snprintf(st, sizeof(st), "DIMSE 0x%04x", n->status);
		errors_detail_set(why, (std::string(op) + " " + r->peer.name).c_str(), st,
				  "%s %s: %u completed, %u failed, %u warning", level_of(ref),
				  uid_of(ref), n->completed, n->failed, n->warning);
	}
	if (n->sink_err)
		return n->sink_err;
	/* Warnings (0xB000 with no failures) still delivered every instance. */
	if (err && n->status == 0xB000 && n->failed == 0)
		err = 0;
	if (!err && ref->sop_uid && n->received == 0) {
		log_warn("%s %s: the archive has no instance %s", op, r->peer.name.c_str(),
			 ref->sop_uid);
		errors_detail_set(why, (std::string(op) + " " + r->peer.name).c_str(),
				  "DIMSE 0x0000", "the archive has no instance %s", ref->sop_uid);
		return -ENOENT;
	}
	return err;
}

/* The classes and stored syntaxes to offer for C-GET of @ref (or to accept in C-MOVE's storage
 * SCP), and each instance's where the archive says (@each). Only pixelmed of the archives tried says what it stored (C-FIND
 * (0002,0010)); it also chooses among the offered contexts by its own preference, so it must
 * be offered the stored syntax alone. The first C-GET of a mount asks; an archive that does
 * not tell is not asked again when the listing gave the instance's class (one association
 * per open). */
int storage_offer(struct dimse_retriever *r, const struct instance_ref *ref,
		  std::vector<dimse_stored> &stored, std::vector<stored_instance> &each,
		  struct errors_detail *why)
{
	bool listed = ref->sop_uid && ref->sop_class && *ref->sop_class;
	bool told = false;
	int err;

	if (listed && (r->tells.load() < 0 || !r->peer.syntax.empty())) {
		stored.push_back({ref->sop_class, {}});
		return 0;
	}
	err = find_stored(&r->peer, ref, stored, each, &told, why);
	if (err)
		return err;
	if (told)
		r->tells.store(1);
	else if (!stored.empty())
		r->tells.store(-1);
	if (stored.empty() && listed)
		stored.push_back({ref->sop_class, {}});
	return 0;
}

/* One association offering @ctx, and on it the retrieve of each of @refs in turn (the first
 * error ends it). */
int retrieve_on(struct dimse_retriever *r, const std::vector<dimse_context> &ctx,
		const std::vector<const struct instance_ref *> &refs,
		const std::vector<dimse_stored> &stored, struct sink *sink,
		struct errors_detail *why)
{
	const char *model = ctx[0].abstract.c_str();
	const char *op = r->move ? "C-MOVE" : "C-GET";
	T_ASC_Network *net = NULL;
	T_ASC_Association *assoc = NULL;
	T_ASC_PresentationContextID pid;
	bool told = false;
	int err;

	err = dimse_associate(&r->peer, op, DIMSE_BULK, ctx, &net, &assoc, why);
	if (err)
		return err;
	pid = ASC_findAcceptedPresentationContextID(assoc, model);
	if (!pid) {
		/* Many archives move but do not get: say what to try. */
		log_error("%s %s as %s: the archive does not accept %s (Study Root)%s", op,
			  r->peer.name.c_str(), r->peer.aet.c_str(), op,
			  r->move ? "" : "; try downloader=c-move,move_port=PORT");
		err = -EACCES;
	}
	for (const dimse_stored &s : stored)
		told |= r->move && !s.syntaxes.empty();
	for (size_t i = 0; !err && i < refs.size(); i++) {
		const struct instance_ref *ref = refs[i];
		struct dimse_move_wait *wait = NULL;
		struct counts n = {};
		Uint16 id = message_id();

		if (told)
			pthread_mutex_lock(&r->told_move);
		if (r->move) {
			wait = dimse_scp_expect(r->scp, ref, stored, sink, why, &id);
			if (!wait) {
				if (told)
					pthread_mutex_unlock(&r->told_move);
				err = -ENOMEM;
				break;
			}
		}
		err = send_request(r, assoc, pid, model, id, ref);
		if (!err)
			err = r->move ? move_loop(r, assoc, ref, wait, &n)
				      : get_loop(r, assoc, ref, sink, &n, why);
		if (wait)
			n.received = dimse_scp_done(r->scp, wait, &n.sink_err);
		if (told)
			pthread_mutex_unlock(&r->told_move);
		if (!err)
			err = outcome(r, ref, &n, why);
	}
	dimse_release(net, assoc, DIMSE_BULK,
		      err == -ETIMEDOUT || err == -EIO || err == -ECANCELED);
	return err;
}

/* A series whose instances of one class are stored in more than one syntax, from an archive
 * that told: one association per syntax of a class, each offering only that syntax (C-GET) or
 * expecting only it (C-MOVE: the storage SCP accepts no other), and on it an IMAGE level
 * retrieve of each instance stored in it; else an archive that chooses by its own preference
 * would send them all in one of the syntaxes. */
int get_by_syntax(struct dimse_retriever *r, const struct instance_ref *ref,
		  const std::vector<dimse_stored> &stored, const std::vector<stored_instance> &each,
		  const dimse_context &model, struct sink *sink, struct errors_detail *why)
{
	size_t groups = 0;
	int err = 0;

	for (const dimse_stored &s : stored)
		groups = std::max(groups, s.syntaxes.size());
	for (size_t g = 0; !err && g < groups; g++) {
		std::vector<dimse_stored> these;
		std::vector<dimse_context> ctx = {model};
		std::vector<struct instance_ref> refs;
		std::vector<const struct instance_ref *> ptrs;

		for (const dimse_stored &s : stored)
			if (s.syntaxes.size() > g)
				these.push_back({s.sop_class, {s.syntaxes[g]}});
		for (const stored_instance &e : each) {
			auto it = std::find_if(these.begin(), these.end(),
					       [&e](const dimse_stored &s) {
						       return s.sop_class == e.sop_class &&
							      s.syntaxes[0] == e.syntax;
					       });
			if (it != these.end())
				refs.push_back({ref->study_uid, ref->series_uid, e.sop_uid.c_str(),
						NULL, 0, e.sop_class.c_str()});
		}
		for (const struct instance_ref &i : refs)
			ptrs.push_back(&i);
		if (ptrs.empty())
			continue;
		if (!r->move)
			dimse_storage_contexts(these, NULL, ASC_SC_ROLE_SCP, 127, ctx);
		err = retrieve_on(r, ctx, ptrs, these, sink, why);
	}
	return err;
}

int retrieve_once(struct dimse_retriever *r, const struct instance_ref *ref, struct sink *sink,
		  struct errors_detail *why)
{
	const char *model = r->move ? UID_MOVEStudyRootQueryRetrieveInformationModel
				    : UID_GETStudyRootQueryRetrieveInformationModel;
	int err = 0;

	try {
		std::vector<dimse_context> ctx = {{model,
						   {UID_LittleEndianExplicitTransferSyntax,
						    UID_LittleEndianImplicitTransferSyntax},
						   ASC_SC_ROLE_DEFAULT}};

		std::vector<dimse_stored> stored;
		std::vector<stored_instance> each;

		err = storage_offer(r, ref, stored, each, why);
		if (err)
			return err;
		for (const dimse_stored &s : stored)
			if (s.syntaxes.size() > 1 && !ref->sop_uid && r->peer.syntax.empty())
				return get_by_syntax(r, ref, stored, each, ctx[0], sink, why);
		/* PS3.4 C.4.3.3: C-GET sub-operations need the SCP role for storage. */
		if (!r->move)
			dimse_storage_contexts(
				stored, r->peer.syntax.empty() ? NULL : r->peer.syntax.c_str(),
				ASC_SC_ROLE_SCP, 127, ctx);
		err = retrieve_on(r, ctx, {ref}, stored, sink, why);
	} catch (const std::bad_alloc &) {
		err = -ENOMEM;
	}
	return err;
}

/* A retrieve the archive refused for lack of resources is tried again, on a new association,
 * with backoff within retry= (what came before the refusal is in the sink already: the
 * cache keeps the first copy of an instance). */
int retrieve(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
	     struct errors_detail *why)
{
	struct dimse_retriever *r = (struct dimse_retriever *)d;
	double started = dimse_now();
	int err;

	for (unsigned attempt = 1;; attempt++) {
		err = retrieve_once(r, ref, sink, why);
		if (err != -EBUSY)
			return err;
		err = dimse_backoff(&r->peer, started, attempt);
		if (err == -ECANCELED)
			return err;
		if (err)
			break;
	}
	pushback_note_given_up();
	log_error("%s %s of %s %s: the archive is out of resources, and still after retry=%ld s",
		  r->move ? "C-MOVE" : "C-GET", r->peer.name.c_str(), level_of(ref), uid_of(ref),
		  r->peer.retry);
	errors_detail_set(why, (std::string(r->move ? "C-MOVE " : "C-GET ") + r->peer.name).c_str(),
			  "out of resources", "%s %s: still after retry=%ld s", level_of(ref),
			  uid_of(ref), r->peer.retry);
	return -EIO;
}

void free_retriever(struct downloader *d)
{
	struct dimse_retriever *r = (struct dimse_retriever *)d;

	if (r->scp)
		dimse_scp_free(r->scp);
	pthread_mutex_destroy(&r->told_move);
	delete r;
}

const struct downloader_ops get_ops = {"c-get", true, retrieve, nullptr, free_retriever};
const struct downloader_ops move_ops = {"c-move", true, retrieve, nullptr, free_retriever};

int make(const struct proto_config *cfg, bool move, struct downloader **out)
{
	struct dimse_retriever *r;
	struct dimse_config dc;
	int err;

	if (dimse_config_get(cfg, &dc) < 0 || (move && !dc.move_port))
		return -EINVAL;
	r = new (std::nothrow) dimse_retriever();
	if (!r)
		return -ENOMEM;
	r->base.ops = move ? &move_ops : &get_ops;
	r->move = move;
	pthread_mutex_init(&r->told_move, NULL);
	try {
		dimse_peer_init(&r->peer, cfg, &dc);
	} catch (const std::bad_alloc &) {
		free_retriever(&r->base);
		return -ENOMEM;
	}
	if (move) {
		err = dimse_scp_start(&r->peer, dc.move_port, dc.move_from, &r->scp);
		if (err) {
			free_retriever(&r->base);
			return err;
		}
	}
	OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
	*out = &r->base;
	return 0;
}

} // namespace

extern "C" int dimse_get_new(const struct proto_config *cfg, struct downloader **out)
{
	return make(cfg, false, out);
}

extern "C" int dimse_move_new(const struct proto_config *cfg, struct downloader **out)
{
	return make(cfg, true, out);
}
