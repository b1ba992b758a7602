// The storage SCP behind C-MOVE. Its port can be reached by others than the archive (every
// local user when the archive runs on this host), AE titles and UIDs are no secrets, and what
// it takes goes into the cache, so it keeps out all but the C-STOREs of a C-MOVE of ours:
//  - the listener thread accepts TCP connections itself, on the address that routes to the
//    sender (the archive, or move_from=), and closes at once one from any other address and
//    one that comes while no C-MOVE of ours is in flight;
//  - each accepted connection has a thread of its own (an archive moving two series at once
//    opens two), which waits, at most ASSOCIATE_SECONDS, for the whole A-ASSOCIATE-RQ before
//    dcmtk reads it: an idle or slow peer holds its own thread, never the listener;
//  - a connection is "proven" once it brought a C-STORE with a C-MOVE's Move Originator
//    Message ID; at most UNPROVEN_PER_ADDRESS unproven ones are kept per address, and a new
//    one makes room by closing the oldest (a silent one first): an archive's association,
//    which talks at once, is served however many idle sockets others hold;
//  - the association must call aet= from the archive's AE title (aec=);
//  - each C-STORE must carry the Move Originator Message ID of a C-MOVE in flight (random per
//    C-MOVE) and name an instance that C-MOVE expects, and its data set's own Study, Series and
//    SOP Instance UIDs must be that C-MOVE's; an ID that is no C-MOVE's is a guess, and the
//    C-MOVEs in flight take nothing more (one guess in 65,535 per C-MOVE);
//  - a second copy of an instance in one C-MOVE is compared (SHA-256) with the first: the same
//    bytes are dropped, other bytes fail the instance (an instance C-MOVE keeps the first
//    copy's end() until the C-MOVE is over, so neither copy is cached).
#include "dcmtk/dimse_scp.hh"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dul.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <new>

extern "C" {
#include "core/log.h"
}

struct dimse_move_wait {
	Uint16 msg_id;
	std::string sop_uid; /* empty: a series */
	std::vector<std::string> members;
	struct dimse_expect expect;
	std::vector<dimse_stored> stored; /* the classes and syntaxes the archive said */
	struct sink *sink;
	struct errors_detail *why; /* the C-MOVE caller's: what failed on the SCP's threads */
	int busy; /* C-STOREs being received into sink */
	size_t received, refused;
	int err;
	double last; /* CLOCK_MONOTONIC seconds: when a C-STORE for it last began or ended */
	/* The SHA-256 of each instance's first copy, by SOP Instance UID. */
	std::map<std::string, std::array<unsigned char, 32>> copies;
	size_t conflicts; /* instances that came twice with different bytes */
	bool guessed;	  /* a C-STORE for it came with a wrong ID: it takes nothing more */
	bool end_due;	  /* an instance C-MOVE: the copy in the sink awaits its end() */
};

namespace
{
struct serving;
}

struct dimse_scp {
	struct dimse_peer peer;
	int port;
	int listen_fd;
	std::vector<in_addr> senders; /* who may connect: the archive, or move_from= */
	std::string sender_name;
	T_ASC_Network *net; /* dcmtk's acceptor, without a listening socket of its own */
	pthread_t listener;
	std::atomic<bool> stopping{false};
	pthread_mutex_t lock; /* guards waits, busy counts and nserving */
	pthread_cond_t idle;
	std::list<dimse_move_wait *> waits;
	std::deque<Uint16> recent;  /* IDs of C-MOVEs that ended lately: late sub-operations */
	std::list<serving *> conns; /* connections with a thread (see serving) */
	int nserving;		    /* association threads running (detached) */
};

namespace
{

/* A second, so that a stopping mount is not held up by an idle association. */
const int POLL_SECONDS = 1;
/* Proven associations served at once: an archive opens one or two per C-MOVE of ours (at
 * most connections= at once); more is someone else. */
int max_serving(const struct dimse_scp *scp)
{
	return (int)std::max(8L, 2 * scp->peer.associations + 2);
}
/* Connections from one address not proven yet (see the top of the file). An archive's
 * association proves itself within milliseconds of its connect; 16 lets several C-MOVEs'
 * associations start at once. */
const int UNPROVEN_PER_ADDRESS = 16;
/* How long a connection may take to send its A-ASSOCIATE-RQ (at most timeout=): an archive
 * sends it with its connect. */
const int ASSOCIATE_SECONDS = 5;
/* C-MOVE IDs remembered after their C-MOVE ended, so that a late sub-operation of one (an
 * archive that went on after a C-MOVE timed out) is not taken for a guess. */
const size_t RECENT_IDS = 1024;
/* dcmtk's limit for an A-ASSOCIATE-RQ (dcmAssociatePDUSizeLimit's default). */
const uint32_t ASSOCIATE_RQ_MAX = 1 << 20;

/* dcmtk 3.6.7 can only accept() on a socket it bound to every interface itself, or take a
 * connected socket through the process-wide dcmExternalSocketHandle: this lock makes that
 * global ours for the moment dcmtk reads it. */
pthread_mutex_t external_socket_lock = PTHREAD_MUTEX_INITIALIZER;

/* One connection with its thread; in scp->conns while the thread runs (its socket open).
 * The flags are read by the listener (under scp->lock) to pick one to close for room. */
struct serving {
	struct dimse_scp *scp;
	int fd;
	in_addr addr;
	double since; /* when accepted */
	T_ASC_Association *assoc;
	std::string ip;		  /* its address; set before its thread starts, then read-only */
	std::string peer, source; /* its thread's */
	std::atomic<bool> talking{false}; /* it sent a byte */
	std::atomic<bool> proven{false};  /* it brought a C-STORE with a C-MOVE's ID */
	std::atomic<bool> evicted{false}; /* closed by the listener to make room */
};

double now_seconds()
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

bool expects(const dimse_move_wait *w, const char *uid)
{
	return w->sop_uid == uid ||
	       std::find(w->members.begin(), w->members.end(), uid) != w->members.end();
}

/* The C-MOVE whose Move Originator Message ID @id is, or NULL. Under scp->lock. */
dimse_move_wait *wait_by_id(struct dimse_scp *scp, Uint16 id)
{
	for (dimse_move_wait *w : scp->waits)
		if (w->msg_id == id)
			return w;
	return NULL;
}

/* A C-STORE that no C-MOVE of ours takes: why, and whether it is a guess at an ID. Any ID that
 * is neither in flight nor recent is a guess, whatever instance it names: were only guesses
 * for expected instances counted, the answers to C-STOREs of other instances would tell a
 * stranger which ID is right (the archive's other series members are answered success), one
 * try after another. Every C-MOVE in flight is marked, and takes nothing more: a guess is
 * never worth more than one in 65,535. Under scp->lock. */
const char *refusal(struct dimse_scp *scp, const T_DIMSE_C_StoreRQ *req, bool *guess)
{
	*guess = false;
	if (!(req->opts & O_STORE_MOVEORIGINATORID))
		return "it has no Move Originator Message ID";
	if (std::find(scp->recent.begin(), scp->recent.end(), req->MoveOriginatorID) !=
	    scp->recent.end())
		return "its C-MOVE is over";
	for (dimse_move_wait *w : scp->waits)
		w->guessed = true;
	*guess = true;
	return "its Move Originator Message ID is no C-MOVE's in flight (a guess: those C-MOVEs "
	       "take nothing more)";
}

/* A second copy of an instance of @w: read it without the sink and compare. */
void second_copy(struct serving *s, dimse_move_wait *w, T_ASC_PresentationContextID pid,
		 T_DIMSE_C_StoreRQ *req, const std::array<unsigned char, 32> &first)
{
	struct dimse_scp *scp = s->scp;
	static const struct sink_ops none = {
		[](void *) { return 0; },
		[](void *, const void *, size_t) { return 0; },
		[](void *) { return 0; },
		NULL,
	};
	struct sink nowhere = {&none, NULL};
	struct dimse_copy copy = {};
	bool same;
	int err;

	err = dimse_receive_store(s->assoc, pid, req, scp->peer.timeout, &nowhere, &w->expect,
				  s->source.c_str(), s->peer.c_str(), &copy, NULL);
	if (err)
		return;
	same = memcmp(copy.digest, first.data(), sizeof(copy.digest)) == 0;
	pthread_mutex_lock(&scp->lock);
	if (!same)
		w->conflicts++;
	pthread_mutex_unlock(&scp->lock);
	if (same)
		log_debug("C-STORE of %s from %s: a second copy, the same bytes; dropped",
			  req->AffectedSOPInstanceUID, s->peer.c_str());
	else
		log_warn_limited("C-STORE of %s from %s: a second copy in one C-MOVE with other "
				 "bytes than the first; the instance fails (neither copy is kept "
				 "if it is not already)",
				 req->AffectedSOPInstanceUID, s->peer.c_str());
}

/* One C-STORE: to the C-MOVE whose ID it names, or refused. @return false when the
 * association is to end (a guess at an ID aborts it). */
bool store(struct serving *s, T_ASC_PresentationContextID pid, T_DIMSE_C_StoreRQ *req)
{
	struct dimse_scp *scp = s->scp;
	dimse_move_wait *w;
	std::array<unsigned char, 32> first{};
	struct dimse_copy copy = {};
	const char *why = NULL;
	bool guess = false, again = false, wanted;
	int err;

	pthread_mutex_lock(&scp->lock);
	w = req->opts & O_STORE_MOVEORIGINATORID ? wait_by_id(scp, req->MoveOriginatorID) : NULL;
	/* One instance at a time into a sink, should the archive open two associations. */
	while (w && w->busy) {
		pthread_cond_wait(&scp->idle, &scp->lock);
		w = wait_by_id(scp, req->MoveOriginatorID);
	}
	if (!w)
		why = refusal(scp, req, &guess);
	else if (w->guessed)
		why = "someone guessed at its C-MOVE's ID: that C-MOVE takes nothing more";
	wanted = w && !why && expects(w, req->AffectedSOPInstanceUID);
	if (w && !why) {
		w->busy++;
		w->last = now_seconds();
		s->proven.store(true);
		auto it = w->copies.find(req->AffectedSOPInstanceUID);
		if (it != w->copies.end()) {
			again = true;
			first = it->second;
		}
	}
	pthread_mutex_unlock(&scp->lock);
	/* Not checked: AE titles are no secret, and pixelmed names another AE title than the
	 * one that asked (dcmqrscp and Orthanc name ours). The ID is what a stranger lacks. */
	if (w && (req->opts & O_STORE_MOVEORIGINATORAETITLE) &&
	    scp->peer.aet != req->MoveOriginatorApplicationEntityTitle)
		log_debug("C-STORE of %s from %s: Move Originator AE title %s",
			  req->AffectedSOPInstanceUID, s->peer.c_str(),
			  req->MoveOriginatorApplicationEntityTitle);
	if (why) {
		log_warn_limited("C-STORE of %s from %s: %s; refused", req->AffectedSOPInstanceUID,
				 s->peer.c_str(), why);
		/* 0x0124: refused, not authorized. A guess ends its association too. */
		dimse_drop_store(s->assoc, pid, req, scp->peer.timeout,
				 guess || !(req->opts & O_STORE_MOVEORIGINATORID) ? 0x0124 : 0xA700,
				 s->peer.c_str());
		if (guess)
			ASC_abortAssociation(s->assoc);
		return !guess;
	}
	if (!wanted) {
		/* A series C-MOVE brings the whole series, also the instances the cache did not
		 * ask for (one it is fetching already): dropped, with a success the archive does
		 * not abort on. An instance C-MOVE that brings another: refused. */
		dimse_drop_store(s->assoc, pid, req, scp->peer.timeout,
				 w->sop_uid.empty() ? STATUS_Success : 0xA700, s->peer.c_str());
	} else if (again) {
		second_copy(s, w, pid, req, first);
	} else {
		/* An instance C-MOVE ends its one copy only when the C-MOVE is over: a second,
		 * different copy meanwhile keeps both out of the cache. */
		copy.defer_end = !w->sop_uid.empty();
		err = dimse_receive_store(s->assoc, pid, req, scp->peer.timeout, w->sink,
					  &w->expect, s->source.c_str(), s->peer.c_str(), &copy,
					  w->why);
		memcpy(first.data(), copy.digest, first.size());
		pthread_mutex_lock(&scp->lock);
		try {
			if (!err)
				w->copies.emplace(req->AffectedSOPInstanceUID, first);
		} catch (const std::bad_alloc &) {
			err = -ENOMEM;
		}
		if (!err && copy.defer_end)
			w->end_due = true;
		else if (!err)
			w->received++;
		else if (err == -EBADMSG)
			w->refused++; /* someone else's data set: the archive's may still come */
		else if (!w->err)
			w->err = err;
		pthread_mutex_unlock(&scp->lock);
	}
	pthread_mutex_lock(&scp->lock);
	w->busy--;
	w->last = now_seconds();
	pthread_cond_broadcast(&scp->idle);
	pthread_mutex_unlock(&scp->lock);
	return true;
}

void serve(struct serving *s)
{
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
			log_warn_limited("storage SCP: %s sent nothing for %d s; association "
					 "aborted",
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
			/* A peer's abort, or ours to make room: nothing to say. */
			if (cond != DUL_PEERABORTEDASSOCIATION && !s->evicted.load())
				log_error_limited("storage SCP: association with %s: %s",
						  s->peer.c_str(), cond.text());
			ASC_abortAssociation(s->assoc);
			break;
		}
		if (msg.CommandField == DIMSE_C_STORE_RQ) {
			if (!store(s, pid, &msg.msg.CStoreRQ))
				break;
		} else if (msg.CommandField == DIMSE_C_ECHO_RQ) {
			DIMSE_sendEchoResponse(s->assoc, pid, &msg.msg.CEchoRQ, STATUS_Success,
					       NULL);
		} else {
			log_error_limited("storage SCP: %s sent DIMSE command 0x%04x; association "
					  "aborted",
					  s->peer.c_str(), (unsigned)msg.CommandField);
			ASC_abortAssociation(s->assoc);
			break;
		}
	}
}

/* The syntax to accept of those @pc proposes: transfer_syntax= if proposed; else the first
 * that is not deflate or big endian (dcmtk and Orthanc propose the stored syntax first; pixelmed
 * proposes its own preference first, deflate, whatever it stored); else the first. */
const char *syntax_to_accept(const T_ASC_PresentationContext &pc, const std::string &asked)
{
	for (int t = 0; !asked.empty() && t < pc.transferSyntaxCount; t++)
		if (asked == pc.proposedTransferSyntaxes[t])
			return pc.proposedTransferSyntaxes[t];
	for (int t = 0; t < pc.transferSyntaxCount; t++)
		if (strcmp(pc.proposedTransferSyntaxes[t],
			   UID_DeflatedExplicitVRLittleEndianTransferSyntax) != 0 &&
		    strcmp(pc.proposedTransferSyntaxes[t], UID_BigEndianExplicitTransferSyntax) !=
			    0 &&
		    strncmp(pc.proposedTransferSyntaxes[t], "1.2.840.10008.", 14) == 0)
			return pc.proposedTransferSyntaxes[t];
	return pc.proposedTransferSyntaxes[0];
}

/* The syntaxes the C-MOVEs in flight were told @sop_class is stored in (none: not told). */
std::vector<std::string> told_syntaxes(struct dimse_scp *scp, const char *sop_class)
{
	std::vector<std::string> out;

	pthread_mutex_lock(&scp->lock);
	try {
		for (const dimse_move_wait *w : scp->waits)
			for (const dimse_stored &s : w->stored)
				if (s.sop_class == sop_class)
					out.insert(out.end(), s.syntaxes.begin(), s.syntaxes.end());
	} catch (const std::bad_alloc &) {
	}
	pthread_mutex_unlock(&scp->lock);
	return out;
}

/* Accept what the archive proposes to store (and C-ECHO), each context in one syntax. Where the
 * archive said in which syntaxes a class is stored, a context in none of them is not accepted:
 * pixelmed proposes each instance in several syntaxes, each its own context, and sends it in
 * the one it prefers of those accepted (deflate, then explicit VR little endian), whatever it
 * stored. */
void accept_contexts(struct dimse_scp *scp, T_ASC_Association *assoc, const char *peer)
{
	int n = ASC_countPresentationContexts(assoc->params);
	const std::string &asked = scp->peer.syntax;

	for (int i = 0; i < n; i++) {
		T_ASC_PresentationContext pc;
		const char *ts;

		if (ASC_getPresentationContext(assoc->params, i, &pc).bad() ||
		    pc.transferSyntaxCount < 1)
			continue;
		if (strcmp(pc.abstractSyntax, UID_VerificationSOPClass) != 0 &&
		    !dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All))
			continue;
		ts = syntax_to_accept(pc, asked);
		if (asked.empty() && dcmIsaStorageSOPClassUID(pc.abstractSyntax, ESSC_All)) {
			std::vector<std::string> told = told_syntaxes(scp, pc.abstractSyntax);

			ts = told.empty() ? ts : NULL;
			for (int t = 0; !ts && t < pc.transferSyntaxCount; t++)
				if (std::find(told.begin(), told.end(),
					      pc.proposedTransferSyntaxes[t]) != told.end())
					ts = pc.proposedTransferSyntaxes[t];
			if (!ts) {
				log_debug("storage SCP: %s proposes %s in %s, not as stored; not "
					  "accepted",
					  peer, pc.abstractSyntax, pc.proposedTransferSyntaxes[0]);
				continue;
			}
		}
		log_debug("storage SCP: %s proposes %s in %d syntaxes, first %s; accepted %s", peer,
			  pc.abstractSyntax, pc.transferSyntaxCount, pc.proposedTransferSyntaxes[0],
			  ts);
		ASC_acceptPresentationContext(assoc->params, pc.presentationContextID, ts);
	}
}

/* The AE titles the association names. @return true if it is the archive calling us. */
bool check_titles(struct dimse_scp *scp, struct serving *s)
{
	char calling[20] = "", called[20] = "";
	T_ASC_RejectParameters rej = {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
				      ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED};

	ASC_getAPTitles(s->assoc->params, calling, sizeof(calling), called, sizeof(called), NULL,
			0);
	if (scp->peer.aet != called) {
		log_warn_limited("storage SCP: %s called us %s, not %s; rejected", calling, called,
				 scp->peer.aet.c_str());
		ASC_rejectAssociation(s->assoc, &rej);
		return false;
	}
	/* It sends C-MOVE sub-operations as itself. */
	if (scp->peer.aec != calling) {
		rej.reason = ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED;
		log_warn_limited("storage SCP: %s is not the archive (%s); rejected", calling,
				 scp->peer.aec.c_str());
		ASC_rejectAssociation(s->assoc, &rej);
		return false;
	}
	s->peer = std::string(calling) + " (storage SCP, " + s->peer + ")";
	s->source = calling;
	return true;
}

/* Wait until the whole A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2) is in @s's receive buffer, so that
 * dcmtk reads it without blocking; a first byte marks @s as talking. @return 0; -ETIMEDOUT
 * after @seconds; -EPROTO for another PDU or an oversized one; -ECONNRESET if the peer left
 * (or the listener closed it for room); -ECANCELED if unmounting. */
int wait_associate_rq(struct dimse_scp *scp, struct serving *s, int seconds)
{
	int fd = s->fd;
	double deadline = now_seconds() + seconds;

	while (!scp->stopping.load()) {
		unsigned char head[6];
		struct pollfd p = {fd, POLLIN, 0};
		double left = deadline - now_seconds();
		ssize_t n;
		int avail = 0;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(std::min(left, (double)POLL_SECONDS) * 1000) + 1) <= 0)
			continue;
		n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || s->evicted.load())
			return -ECONNRESET;
		if (n > 0)
			s->talking.store(true);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -ECONNRESET;
		if (n == (ssize_t)sizeof(head)) {
			uint32_t len = (uint32_t)head[2] << 24 | (uint32_t)head[3] << 16 |
				       (uint32_t)head[4] << 8 | head[5];

			if (head[0] != 0x01 || len > ASSOCIATE_RQ_MAX)
				return -EPROTO;
			if (ioctl(fd, FIONREAD, &avail) == 0 &&
			    (uint32_t)avail >= len + sizeof(head))
				return 0;
		}
		/* Part of it came: the rest is on its way (poll would not wait for it). */
		usleep(20 * 1000);
	}
	return -ECANCELED;
}

/* One accepted connection, on its own thread: the association request within
 * ASSOCIATE_SECONDS, the checks, then its C-STOREs until it ends. */
void *serve_connection(void *arg)
{
	struct serving *s = (struct serving *)arg;
	struct dimse_scp *scp = s->scp;
	int seconds = std::min(ASSOCIATE_SECONDS, scp->peer.timeout);
	DcmNativeSocketType before;
	OFCondition cond;
	int err;

	err = wait_associate_rq(scp, s, seconds);
	if (err) {
		if (err == -ETIMEDOUT)
			log_warn_limited("storage SCP: %s sent no association request within %d s; "
					 "closed",
					 s->peer.c_str(), seconds);
		else if (err == -EPROTO)
			log_warn_limited("storage SCP: %s did not send an association request; "
					 "closed",
					 s->peer.c_str());
		goto out;
	}
	pthread_mutex_lock(&external_socket_lock);
	before = dcmExternalSocketHandle.get();
	dcmExternalSocketHandle.set(s->fd);
	cond = ASC_receiveAssociation(scp->net, &s->assoc, ASC_DEFAULTMAXPDU, NULL, NULL, OFFalse,
				      DUL_NOBLOCK, POLL_SECONDS);
	dcmExternalSocketHandle.set(before);
	pthread_mutex_unlock(&external_socket_lock);
	/* From here on the socket is the association's: dropping it closes the socket. */
	if (cond.bad()) {
		if (!s->evicted.load())
			log_warn_limited("storage SCP: an association request from %s failed: %s",
					 s->peer.c_str(), cond.text());
	} else if (check_titles(scp, s)) {
		accept_contexts(scp, s->assoc, s->peer.c_str());
		if (ASC_acknowledgeAssociation(s->assoc).good())
			serve(s);
		else
			ASC_abortAssociation(s->assoc);
	}
out:
	/* Out of the list before the socket closes: the listener shuts down only sockets of
	 * connections in it, so never a number the kernel gave to another file meanwhile. */
	pthread_mutex_lock(&scp->lock);
	scp->conns.remove(s);
	pthread_mutex_unlock(&scp->lock);
	if (s->assoc) {
		ASC_dropSCPAssociation(s->assoc);
		ASC_destroyAssociation(&s->assoc);
	} else {
		close(s->fd);
	}
	delete s;
	pthread_mutex_lock(&scp->lock);
	scp->nserving--;
	pthread_cond_broadcast(&scp->idle);
	pthread_mutex_unlock(&scp->lock);
	return NULL;
}

/* Make room for the new connection @keep from @addr: past UNPROVEN_PER_ADDRESS connections from
 * it not proven yet, close the oldest silent one but @keep, else the oldest. Under scp->lock.
 * @return the one closed (its thread ends and logs nothing), or NULL if there was room. */
struct serving *make_room(struct dimse_scp *scp, in_addr addr, const struct serving *keep)
{
	struct serving *silent = NULL, *oldest = NULL, *victim;
	int unproven = 0;

	for (struct serving *c : scp->conns) {
		if (c->addr.s_addr != addr.s_addr || c->proven.load() || c->evicted.load())
			continue;
		unproven++;
		if (c == keep)
			continue;
		if (!c->talking.load() && (!silent || c->since < silent->since))
			silent = c;
		if (!oldest || c->since < oldest->since)
			oldest = c;
	}
	if (unproven <= UNPROVEN_PER_ADDRESS || !oldest)
		return NULL;
	victim = silent ? silent : oldest;
	victim->evicted.store(true);
	/* Its thread wakes (poll, recv or dcmtk's read) and closes the socket itself. */
	shutdown(victim->fd, SHUT_RDWR);
	return victim;
}

/* A new connection from @from on @fd: who it is and whether anything is expected decide if it
 * gets a thread. Takes @fd. */
void accept_connection(struct dimse_scp *scp, int fd, const struct sockaddr_in *from)
{
	char ip[INET_ADDRSTRLEN] = "?";
	const char *why = NULL;
	struct serving *s = NULL, *evicted = NULL;
	std::string evicted_peer;
	pthread_t t;
	bool sender = false;
	int proven = 0;

	inet_ntop(AF_INET, &from->sin_addr, ip, sizeof(ip));
	for (const in_addr &a : scp->senders)
		sender |= a.s_addr == from->sin_addr.s_addr;
	pthread_mutex_lock(&scp->lock);
	for (struct serving *c : scp->conns)
		proven += c->proven.load();
	if (!sender) {
		why = "not the archive's address";
	} else if (scp->waits.empty()) {
		why = "no C-MOVE of ours is in flight";
	} else if (proven >= max_serving(scp)) {
		why = "too many associations at once";
	} else if (!(s = new (std::nothrow) serving())) {
		why = "out of memory";
	} else {
		s->scp = scp;
		s->fd = fd;
		s->addr = from->sin_addr;
		s->since = now_seconds();
		try {
			s->peer = ip;
			s->ip = ip;
			scp->conns.push_back(s);
		} catch (const std::bad_alloc &) {
			why = "out of memory";
		}
		if (!why && pthread_create(&t, NULL, serve_connection, s) != 0) {
			scp->conns.remove(s);
			why = "out of threads";
		}
		if (!why) {
			pthread_detach(t);
			scp->nserving++;
			/* The new one is never the one closed. */
			evicted = make_room(scp, from->sin_addr, s);
			if (evicted)
				evicted_peer = evicted->ip;
			s = NULL;
			fd = -1;
		}
	}
	pthread_mutex_unlock(&scp->lock);
	delete s;
	if (evicted)
		log_warn_limited(
			"storage SCP on port %d: %d connections from %s that brought no "
			"C-STORE of a C-MOVE of ours; the oldest (%s) closed for a new one",
			scp->port, UNPROVEN_PER_ADDRESS, ip, evicted_peer.c_str());
	if (fd < 0)
		return;
	log_warn_limited("storage SCP on port %d: a connection from %s (%s: %s); closed", scp->port,
			 ip, why, scp->sender_name.c_str());
	close(fd);
}

void *listen_loop(void *arg)
{
	struct dimse_scp *scp = (struct dimse_scp *)arg;

	while (!scp->stopping.load()) {
		struct pollfd p = {scp->listen_fd, POLLIN, 0};
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		int fd;

		if (poll(&p, 1, POLL_SECONDS * 1000) <= 0)
			continue;
		fd = accept4(scp->listen_fd, (struct sockaddr *)&from, &len, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (from.sin_family != AF_INET) {
			close(fd);
			continue;
		}
		accept_connection(scp, fd, &from);
	}
	return NULL;
}

/* The IPv4 addresses of @host into @out. @return 0 or -EADDRNOTAVAIL (logged). */
int resolve(const std::string &host, std::vector<in_addr> &out)
{
	struct addrinfo hints = {}, *res = NULL;
	int rc;

	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host.c_str(), NULL, &hints, &res);
	if (rc) {
		log_error("storage SCP: cannot resolve %s: %s", host.c_str(), gai_strerror(rc));
		return -EADDRNOTAVAIL;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next)
		out.push_back(((struct sockaddr_in *)a->ai_addr)->sin_addr);
	freeaddrinfo(res);
	return out.empty() ? -EADDRNOTAVAIL : 0;
}

/* Our address on the route to @to (127.0.0.1 for a loopback archive): where to listen, so
 * that the port is open on that interface only. INADDR_ANY if the kernel will not say. */
in_addr route_source(const in_addr &to)
{
	struct sockaddr_in dst = {}, src = {};
	socklen_t len = sizeof(src);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	in_addr any = {htonl(INADDR_ANY)};

	if (fd < 0)
		return any;
	dst.sin_family = AF_INET;
	dst.sin_port = htons(104); /* a UDP connect sends nothing: only the route matters */
	dst.sin_addr = to;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) ||
	    getsockname(fd, (struct sockaddr *)&src, &len))
		src.sin_addr = any;
	close(fd);
	return src.sin_addr;
}

/* The listening socket on @addr:@port. @return the fd, or -errno. */
int listen_on(in_addr addr, int port)
{
	struct sockaddr_in a = {};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr = addr;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

} // namespace

int dimse_scp_start(const struct dimse_peer *p, int port, const char *move_from,
		    struct dimse_scp **out)
{
	struct dimse_scp *scp = new (std::nothrow) dimse_scp();
	char ip[INET_ADDRSTRLEN] = "?";
	DcmNativeSocketType before;
	OFCondition cond;
	in_addr bind_to;
	int err;

	if (!scp)
		return -ENOMEM;
	scp->peer = *p;
	scp->port = port;
	scp->listen_fd = -1;
	pthread_mutex_init(&scp->lock, NULL);
	pthread_cond_init(&scp->idle, NULL);
	try {
		scp->sender_name = move_from && *move_from ? move_from : p->host;
		err = resolve(scp->sender_name, scp->senders);
	} catch (const std::bad_alloc &) {
		err = -ENOMEM;
	}
	if (err)
		goto out_free;
	bind_to = route_source(scp->senders[0]);
	scp->listen_fd = listen_on(bind_to, port);
	inet_ntop(AF_INET, &bind_to, ip, sizeof(ip));
	if (scp->listen_fd < 0) {
		err = scp->listen_fd;
		log_error("storage SCP: cannot listen on %s port %d: %s", ip, port, strerror(-err));
		goto out_free;
	}
	/* An acceptor that makes no listening socket of its own: the handle is set meanwhile. */
	pthread_mutex_lock(&external_socket_lock);
	before = dcmExternalSocketHandle.get();
	dcmExternalSocketHandle.set(scp->listen_fd);
	cond = ASC_initializeNetwork(NET_ACCEPTOR, port, p->timeout, &scp->net);
	dcmExternalSocketHandle.set(before);
	pthread_mutex_unlock(&external_socket_lock);
	err = -EIO;
	if (cond.bad()) {
		log_error("storage SCP: cannot set up the network: %s", cond.text());
		goto out_close;
	}
	if (pthread_create(&scp->listener, NULL, listen_loop, scp) != 0) {
		ASC_dropNetwork(&scp->net);
		err = -EAGAIN;
		goto out_close;
	}
	log_info("storage SCP for C-MOVE listening on %s port %d as %s, for %s", ip, port,
		 p->aet.c_str(), scp->sender_name.c_str());
	*out = scp;
	return 0;
out_close:
	close(scp->listen_fd);
out_free:
	pthread_cond_destroy(&scp->idle);
	pthread_mutex_destroy(&scp->lock);
	delete scp;
	return err;
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
	close(scp->listen_fd);
	ASC_dropNetwork(&scp->net);
	pthread_cond_destroy(&scp->idle);
	pthread_mutex_destroy(&scp->lock);
	delete scp;
}

/* A Move Originator Message ID for a new C-MOVE: random (a counter is guessed from the last
 * one), never 0, and neither in flight nor recent. Under scp->lock. */
static Uint16 new_id(struct dimse_scp *scp)
{
	for (;;) {
		Uint16 id = 0;

		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
			struct timespec t;

			/* No entropy (never on Linux >= 3.17 once booted): unpredictable enough
			 * to a stranger only with the time's nanoseconds mixed in. */
			clock_gettime(CLOCK_MONOTONIC, &t);
			id = (Uint16)(t.tv_nsec ^ (t.tv_nsec >> 16) ^ rand());
		}
		if (id && !wait_by_id(scp, id) &&
		    std::find(scp->recent.begin(), scp->recent.end(), id) == scp->recent.end())
			return id;
	}
}

struct dimse_move_wait *dimse_scp_expect(struct dimse_scp *scp, const struct instance_ref *ref,
					 const std::vector<dimse_stored> &stored, struct sink *sink,
					 struct errors_detail *why, Uint16 *msg_id)
{
	dimse_move_wait *w = new (std::nothrow) dimse_move_wait();

	if (!w)
		return NULL;
	try {
		w->sop_uid = ref->sop_uid ? ref->sop_uid : "";
		for (size_t i = 0; !ref->sop_uid && ref->members && i < ref->nmembers; i++)
			w->members.push_back(ref->members[i]);
		w->expect.study_uid = ref->study_uid;
		w->expect.series_uid = ref->series_uid;
		w->expect.op = "C-MOVE";
		w->stored = stored;
		w->sink = sink;
		w->why = why;
		w->last = now_seconds();
		pthread_mutex_lock(&scp->lock);
		w->msg_id = new_id(scp);
		*msg_id = w->msg_id;
		scp->waits.push_back(w);
		pthread_mutex_unlock(&scp->lock);
	} catch (const std::bad_alloc &) {
		pthread_mutex_unlock(&scp->lock);
		delete w;
		return NULL;
	}
	return w;
}

double dimse_scp_idle(struct dimse_scp *scp, struct dimse_move_wait *w)
{
	double idle;

	pthread_mutex_lock(&scp->lock);
	idle = w->busy ? 0 : now_seconds() - w->last;
	pthread_mutex_unlock(&scp->lock);
	return idle;
}

size_t dimse_scp_done(struct dimse_scp *scp, struct dimse_move_wait *w, int *err)
{
	size_t n;

	pthread_mutex_lock(&scp->lock);
	scp->waits.remove(w);
	while (w->busy)
		pthread_cond_wait(&scp->idle, &scp->lock);
	/* Its late sub-operations are refused as late, not taken for guesses. */
	scp->recent.push_back(w->msg_id);
	if (scp->recent.size() > RECENT_IDS)
		scp->recent.pop_front();
	pthread_mutex_unlock(&scp->lock);
	*err = w->err;
	/* The one copy of an instance C-MOVE: kept only if no other copy contradicted it and
	 * nobody guessed at the ID meanwhile (then the next open moves it again). */
	if (w->end_due && !w->conflicts && !w->guessed) {
		int e = w->sink->ops->end(w->sink->ctx);

		if (e && !*err)
			*err = e;
		else if (!e)
			w->received++;
	}
	n = w->received;
	if (w->conflicts) {
		log_warn("C-MOVE of %s %s: %zu instance(s) came twice with different bytes; failed",
			 w->sop_uid.empty() ? "series" : "instance",
			 w->sop_uid.empty() ? w->expect.series_uid.c_str() : w->sop_uid.c_str(),
			 w->conflicts);
		errors_detail_set(w->why, ("C-MOVE " + scp->peer.name).c_str(), "",
				  "%zu instance(s) came twice with different bytes", w->conflicts);
		*err = -EIO;
	} else if (w->guessed && !*err) {
		log_warn("C-MOVE of %s %s: someone guessed at its Move Originator Message ID; "
			 "%zu instance(s) taken before, the rest failed",
			 w->sop_uid.empty() ? "series" : "instance",
			 w->sop_uid.empty() ? w->expect.series_uid.c_str() : w->sop_uid.c_str(), n);
		errors_detail_set(w->why, ("C-MOVE " + scp->peer.name).c_str(), "",
				  "someone guessed at its Move Originator Message ID");
		*err = -EIO;
	}
	/* Only forgeries came: the archive's instance did not; say so as a failure. */
	if (!n && !*err && w->refused)
		*err = -EIO;
	delete w;
	return n;
}
