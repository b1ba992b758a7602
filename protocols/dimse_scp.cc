// The storage SCP behind C-MOVE. One thread accepts associations on move_port=; each accepted
// association is served by a thread of its own (an archive moving two series at once opens
// two), and each C-STORE is routed to the waiting C-MOVE by its Move Originator Message ID, or
// failing that by its SOP Instance UID. Nobody waiting: the instance is refused, not kept.
#include "protocols/dimse_scp.hh"

#include <dcmtk/dcmdata/dcuid.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <new>

extern "C" {
#include "core/log.h"
}

struct dimse_move_wait {
	Uint16 msg_id;
	std::string sop_uid; /* empty: a series */
	std::vector<std::string> members;
	struct sink *sink;
	int busy; /* C-STOREs being received into sink */
	size_t received;
	int err;
};

struct dimse_scp {
	struct dimse_peer peer;
	int port;
	T_ASC_Network *net;
	pthread_t listener;
	std::atomic<bool> stopping{false};
	pthread_mutex_t lock; /* guards waits, busy counts and threads */
	pthread_cond_t idle;
	std::list<dimse_move_wait *> waits;
	int nserving; /* association threads running (detached) */
};

namespace
{

/* A second, so that a stopping mount is not held up by an idle association. */
const int POLL_SECONDS = 1;

struct serving {
	struct dimse_scp *scp;
	T_ASC_Association *assoc;
	std::string peer, source;
};

/* Under scp->lock. */
dimse_move_wait *wait_for(struct dimse_scp *scp, const T_DIMSE_C_StoreRQ *req)
{
	if (req->opts & O_STORE_MOVEORIGINATORID)
		for (dimse_move_wait *w : scp->waits)
			if (w->msg_id == req->MoveOriginatorID)
				return w;
	for (dimse_move_wait *w : scp->waits) {
		if (w->sop_uid == req->AffectedSOPInstanceUID)
			return w;
		for (const std::string &m : w->members)
			if (m == req->AffectedSOPInstanceUID)
				return w;
	}
	return NULL;
}

void store(struct serving *s, T_ASC_PresentationContextID pid, T_DIMSE_C_StoreRQ *req)
{
	struct dimse_scp *scp = s->scp;
	dimse_move_wait *w;
	int err;

	pthread_mutex_lock(&scp->lock);
	w = wait_for(scp, req);
	/* One instance at a time into a sink, should the archive open two associations. */
	while (w && w->busy) {
		pthread_cond_wait(&scp->idle, &scp->lock);
		w = wait_for(scp, req);
	}
	if (w)
		w->busy++;
	pthread_mutex_unlock(&scp->lock);
	if (!w)
		log_warn("C-STORE of %s from %s: no C-MOVE of ours is waiting for it; refused",
			 req->AffectedSOPInstanceUID, s->peer.c_str());
	err = dimse_receive_store(s->assoc, pid, req, scp->peer.timeout, w ? w->sink : NULL,
				  s->source.c_str(), s->peer.c_str());
	if (!w)
		return;
	pthread_mutex_lock(&scp->lock);
	if (!err)
		w->received++;
	else if (!w->err)
		w->err = err;
	w->busy--;
	pthread_cond_broadcast(&scp->idle);
	pthread_mutex_unlock(&scp->lock);
}

void *serve(void *arg)
{
	struct serving *s = (struct serving *)arg;
	int idle = 0;

	while (!s->scp->stopping.load()) {
		T_DIMSE_Message msg;
		T_ASC_PresentationContextID pid = 0;
		OFCondition cond;

		memset(&msg, 0, sizeof(msg));
		cond = DIMSE_receiveCommand(s->assoc, DIMSE_NONBLOCKING, POLL_SECONDS, &pid, &msg,
					    NULL, NULL);
		if (cond == DIMSE_NODATAAVAILABLE) {
			idle += POLL_SECONDS;
			if (idle < s->scp->peer.timeout)
				continue;
			log_warn("storage SCP: %s sent nothing for %d s; association aborted",
				 s->peer.c_str(), idle);
			ASC_abortAssociation(s->assoc);
			break;
		}
		idle = 0;
		if (cond == DUL_PEERREQUESTEDRELEASE) {
			ASC_acknowledgeRelease(s->assoc);
			break;
		}
		if (cond.bad()) {
			if (cond != DUL_PEERABORTEDASSOCIATION)
				log_error("storage SCP: association with %s: %s", s->peer.c_str(),
					  cond.text());
			ASC_abortAssociation(s->assoc);
			break;
		}
		if (msg.CommandField == DIMSE_C_STORE_RQ) {
			store(s, pid, &msg.msg.CStoreRQ);
		} else if (msg.CommandField == DIMSE_C_ECHO_RQ) {
			DIMSE_sendEchoResponse(s->assoc, pid, &msg.msg.CEchoRQ, STATUS_Success,
					       NULL);
		} else {
			log_error("storage SCP: %s sent DIMSE command 0x%04x; association aborted",
				  s->peer.c_str(), (unsigned)msg.CommandField);
			ASC_abortAssociation(s->assoc);
			break;
		}
	}
	struct dimse_scp *scp = s->scp;

	ASC_dropSCPAssociation(s->assoc);
	ASC_destroyAssociation(&s->assoc);
	delete s;
	pthread_mutex_lock(&scp->lock);
	scp->nserving--;
	pthread_cond_broadcast(&scp->idle);
	pthread_mutex_unlock(&scp->lock);
	return NULL;
}

/* Accept what the archive proposes, each context in its first transfer syntax: the archive
 * lists the one the instance is stored in first, so the bytes come as stored. */
void accept_contexts(T_ASC_Association *assoc)
{
	int n = ASC_countPresentationContexts(assoc->params);

	for (int i = 0; i < n; i++) {
		T_ASC_PresentationContext pc;

		if (ASC_getPresentationContext(assoc->params, i, &pc).bad() ||
		    pc.transferSyntaxCount < 1)
			continue;
		if (strcmp(pc.abstractSyntax, UID_VerificationSOPClass) != 0 &&
		    !dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All))
			continue;
		ASC_acceptPresentationContext(assoc->params, pc.presentationContextID,
					      pc.proposedTransferSyntaxes[0]);
	}
}

void accept_one(struct dimse_scp *scp, T_ASC_Association *assoc)
{
	char calling[20] = "", called[20] = "";
	struct serving *s;
	pthread_t t;

	ASC_getAPTitles(assoc->params, calling, sizeof(calling), called, sizeof(called), NULL, 0);
	if (scp->peer.aet != called) {
		T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
					      ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED};

		log_warn("storage SCP: %s called us %s, not %s; rejected", calling, called,
			 scp->peer.aet.c_str());
		ASC_rejectAssociation(assoc, &rej);
		goto out_drop;
	}
	/* The port is open to the network: only the archive may fill our cache, and it sends
	 * C-MOVE sub-operations as itself. */
	if (scp->peer.aec != calling) {
		T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
					      ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED};

		log_warn("storage SCP: %s is not the archive (%s); rejected", calling,
			 scp->peer.aec.c_str());
		ASC_rejectAssociation(assoc, &rej);
		goto out_drop;
	}
	accept_contexts(assoc);
	if (ASC_acknowledgeAssociation(assoc).bad())
		goto out_drop;
	s = new (std::nothrow)
		serving{scp, assoc, std::string(calling) + " (storage SCP)", calling};
	if (!s)
		goto out_abort;
	pthread_mutex_lock(&scp->lock);
	if (pthread_create(&t, NULL, serve, s) == 0) {
		pthread_detach(t);
		scp->nserving++;
		s = NULL;
	}
	pthread_mutex_unlock(&scp->lock);
	if (!s)
		return;
	delete s;
out_abort:
	ASC_abortAssociation(assoc);
out_drop:
	ASC_dropSCPAssociation(assoc);
	ASC_destroyAssociation(&assoc);
}

void *listen_loop(void *arg)
{
	struct dimse_scp *scp = (struct dimse_scp *)arg;

	while (!scp->stopping.load()) {
		T_ASC_Association *assoc = NULL;
		OFCondition cond = ASC_receiveAssociation(scp->net, &assoc, ASC_DEFAULTMAXPDU, NULL,
							  NULL, OFFalse, DUL_NOBLOCK, POLL_SECONDS);

		if (cond == DUL_NOASSOCIATIONREQUEST) {
			if (assoc)
				ASC_destroyAssociation(&assoc);
			continue;
		}
		if (cond.bad()) {
			log_warn("storage SCP on port %d: an association request failed: %s",
				 scp->port, cond.text());
			if (assoc) {
				ASC_dropSCPAssociation(assoc);
				ASC_destroyAssociation(&assoc);
			}
			continue;
		}
		accept_one(scp, assoc);
	}
	return NULL;
}

} // namespace

int dimse_scp_start(const struct dimse_peer *p, int port, struct dimse_scp **out)
{
	struct dimse_scp *scp = new (std::nothrow) dimse_scp();
	OFCondition cond;

	if (!scp)
		return -ENOMEM;
	scp->peer = *p;
	scp->port = port;
	pthread_mutex_init(&scp->lock, NULL);
	pthread_cond_init(&scp->idle, NULL);
	cond = ASC_initializeNetwork(NET_ACCEPTOR, port, p->timeout, &scp->net);
	if (cond.bad()) {
		log_error("storage SCP: cannot listen on port %d: %s", port, cond.text());
		goto out_free;
	}
	if (pthread_create(&scp->listener, NULL, listen_loop, scp) != 0) {
		ASC_dropNetwork(&scp->net);
		goto out_free;
	}
	log_info("storage SCP for C-MOVE listening on port %d as %s", port, p->aet.c_str());
	*out = scp;
	return 0;
out_free:
	pthread_cond_destroy(&scp->idle);
	pthread_mutex_destroy(&scp->lock);
	delete scp;
	return -EADDRINUSE;
}

void dimse_scp_free(struct dimse_scp *scp)
{
	if (!scp)
		return;
	scp->stopping.store(true);
	pthread_join(scp->listener, NULL);
	/* They end within POLL_SECONDS of seeing the flag; none starts after the listener. */
	pthread_mutex_lock(&scp->lock);
	while (scp->nserving)
		pthread_cond_wait(&scp->idle, &scp->lock);
	pthread_mutex_unlock(&scp->lock);
	ASC_dropNetwork(&scp->net);
	pthread_cond_destroy(&scp->idle);
	pthread_mutex_destroy(&scp->lock);
	delete scp;
}

struct dimse_move_wait *dimse_scp_expect(struct dimse_scp *scp, Uint16 msg_id,
					 const struct instance_ref *ref, struct sink *sink)
{
	dimse_move_wait *w = new (std::nothrow) dimse_move_wait();

	if (!w)
		return NULL;
	try {
		w->msg_id = msg_id;
		w->sop_uid = ref->sop_uid ? ref->sop_uid : "";
		for (size_t i = 0; !ref->sop_uid && ref->members && i < ref->nmembers; i++)
			w->members.push_back(ref->members[i]);
		w->sink = sink;
		pthread_mutex_lock(&scp->lock);
		scp->waits.push_back(w);
		pthread_mutex_unlock(&scp->lock);
	} catch (const std::bad_alloc &) {
		delete w;
		return NULL;
	}
	return w;
}

size_t dimse_scp_done(struct dimse_scp *scp, struct dimse_move_wait *w, int *err)
{
	size_t n;

	pthread_mutex_lock(&scp->lock);
	scp->waits.remove(w);
	while (w->busy)
		pthread_cond_wait(&scp->idle, &scp->lock);
	pthread_mutex_unlock(&scp->lock);
	n = w->received;
	*err = w->err;
	delete w;
	return n;
}
