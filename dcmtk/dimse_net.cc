// The DIMSE plumbing shared by the C-GET and C-MOVE downloaders: associations with their log
// lines, one conversion of dcmtk conditions and retrieve statuses to errno, and the receipt of a
// C-STORE straight into a sink. The data set is not parsed on the way: its bytes go to the
// sink as the archive sent them, behind a file meta header built from the C-STORE request.
#include "dcmtk/dimse_net.hh"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrma.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dul.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

extern "C" {
#include "core/cancel.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/pushback.h"
#include "core/slots.h"
#include "core/part10.h"
}

void dimse_peer_init(struct dimse_peer *p, const struct proto_config *cfg,
		     const struct dimse_config *dc)
{
	p->host = dc->host;
	p->port = dc->port;
	p->aet = dc->aet ? dc->aet : "TROLLEY";
	p->aec = dc->aec ? dc->aec : "";
	p->timeout = cfg->dimse_timeout > 0 ? (int)cfg->dimse_timeout : 30;
	p->name = p->aec + "@" + p->host + ":" + std::to_string(p->port);
	p->syntax = cfg->transfer_syntax ? cfg->transfer_syntax : "";
	p->associations = cfg->dimse_associations;
	p->retry = cfg->retry;
	dimse_set_socket_timeouts(p->timeout);
	dimse_slots_init(cfg->dimse_associations);
}

/* connections= slots (core/slots.h), for associations: searches as queries; retrieves, and the
 * C-FIND that learns their SOP classes, as bulk. That C-FIND is part of the transfer: as a
 * query, each queued transfer in turn would take the searches' reserve. */
namespace
{
struct slots associations = SLOTS_INIT;
} // namespace

/* Cancel (core/cancel.h) of what waits on an association: dcmtk blocks in a socket read for up
 * to timeout= (per read: a peer that trickles holds it longer) and cannot be asked to stop, so
 * a reader's Ctrl-C left it in D state that long. Each association a transfer or query opens
 * is watched with the token of the thread that opened it; while any is, a watcher thread looks
 * every CANCEL_TICK_MS and shuts the socket of one whose token is set: dcmtk's read fails at
 * once and the call returns -ECANCELED (dimse_cond_errno). The watcher ends when none is
 * left. */
namespace
{
struct watched {
	T_ASC_Association *assoc;
	int fd;
	const struct cancel *token;
	bool shut;
};
pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
std::vector<watched> watch_list; /* watch_lock */
bool watcher_running;		 /* watch_lock */

void *watcher_run(void *)
{
	struct timespec tick = {0, CANCEL_TICK_MS * 1000000L};

	pthread_mutex_lock(&watch_lock);
	while (!watch_list.empty()) {
		for (watched &w : watch_list) {
			if (!w.shut && cancel_is_set(w.token)) {
				shutdown(w.fd, SHUT_RDWR);
				w.shut = true;
			}
		}
		pthread_mutex_unlock(&watch_lock);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&watch_lock);
	}
	watcher_running = false;
	pthread_mutex_unlock(&watch_lock);
	return NULL;
}

/* dcmtk keeps an association's socket protected inside its transport connection; the class
 * that may name getSocket() can hand out a pointer to it. */
struct socket_of : DcmTransportConnection {
	static int get(DcmTransportConnection *tc)
	{
		DcmNativeSocketType (DcmTransportConnection::*fn)() = &socket_of::getSocket;

		return tc ? (int)(tc->*fn)() : -1;
	}
};

/* Watch @assoc for this thread's token; without a socket or a thread it goes unwatched (it
 * still ends within timeout=). */
void watch_add(T_ASC_Association *assoc)
{
	int fd = socket_of::get(DUL_getTransportConnection(assoc->DULassociation));
	pthread_t t;

	if (fd < 0)
		return;
	pthread_mutex_lock(&watch_lock);
	try {
		watch_list.push_back({assoc, fd, cancel_current(), false});
	} catch (const std::bad_alloc &) {
		pthread_mutex_unlock(&watch_lock);
		return;
	}
	if (!watcher_running && pthread_create(&t, NULL, watcher_run, NULL) == 0) {
		pthread_detach(t);
		watcher_running = true;
	}
	pthread_mutex_unlock(&watch_lock);
}

/* Before @assoc's socket is closed: never shut a descriptor that another file took. */
void watch_remove(T_ASC_Association *assoc)
{
	pthread_mutex_lock(&watch_lock);
	for (size_t i = 0; i < watch_list.size(); i++) {
		if (watch_list[i].assoc == assoc) {
			watch_list.erase(watch_list.begin() + (long)i);
			break;
		}
	}
	pthread_mutex_unlock(&watch_lock);
}
} // namespace

void dimse_slots_init(long n)
{
	slots_limit(&associations, n);
}

int dimse_slot_take(enum dimse_kind kind)
{
	return slots_take(&associations, kind == DIMSE_SEARCH);
}

void dimse_slot_give(enum dimse_kind kind)
{
	slots_give(&associations, kind == DIMSE_SEARCH);
}

void dimse_set_socket_timeouts(int seconds)
{
	/* A read that stops inside a PDU blocks on these, not on the DIMSE timeout: dcmtk's
	 * default is 60 s. They are process-wide, and every DIMSE user of a mount shares its
	 * timeout=. */
	dcmSocketReceiveTimeout.set(seconds);
	dcmSocketSendTimeout.set(seconds);
	dcmConnectionTimeout.set(seconds);
}

bool dimse_is_pushback(Uint16 status)
{
	return status == 0xA700 || status == 0xA701 || status == 0xA702;
}

double dimse_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int dimse_backoff(const struct dimse_peer *p, double started, unsigned attempt)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t never = PTHREAD_COND_INITIALIZER; /* only ticks and cancels end it */
	double wait = 0.25 * (double)(1u << std::min(attempt - 1, 8u)), left;
	unsigned short r = 0;
	struct timespec until;
	int err = 0;

	if (cancel_requested())
		return -ECANCELED;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (unsigned short)rand();
	wait = std::min(5.0, wait * (0.5 + r / 65535.0));
	left = started + (double)p->retry - dimse_now();
	if (left <= 0)
		return -ETIMEDOUT;
	wait = std::min(wait, left);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)wait;
	until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* The reader's Ctrl-C or the daemon's SIGTERM (core/cancel.h) ends the wait at once. */
	pthread_mutex_lock(&lock);
	while (!err)
		err = cancel_cond_timedwait(&never, &lock, CLOCK_REALTIME, &until);
	pthread_mutex_unlock(&lock);
	if (err == -EINTR)
		return -ECANCELED;
	pushback_note_retry();
	return 0;
}

int dimse_cond_errno(const OFCondition &cond)
{
	/* The watcher shut the association's socket (or unmounting): the failure is ours. */
	if (cancel_requested())
		return -ECANCELED;
	if (cond == DUL_ASSOCIATIONREJECTED)
		return -EACCES;
	if (cond == DUL_READTIMEOUT || cond == DIMSE_NODATAAVAILABLE ||
	    strstr(cond.text(), "imeout") || strstr(cond.text(), "timed out"))
		return -ETIMEDOUT;
	return -EIO;
}

int dimse_retrieve_status_errno(Uint16 status)
{
	switch (status) {
	case STATUS_Success:
		return 0;
	case 0x0122: /* SOP class not supported */
	case 0x0124: /* refused: not authorized */
	case 0xA801: /* refused: move destination unknown */
		return -EACCES;
	case 0xA700: /* out of resources (after retry=: dimse_is_pushback()) */
	case 0xA701: /* out of resources: unable to calculate number of matches */
	case 0xA702: /* out of resources: unable to perform sub-operations */
	case 0xA900: /* identifier does not match SOP class */
	case 0xB000: /* sub-operations complete, one or more failures or warnings */
	case 0xFE00: /* cancelled */
	default:
		return -EIO;
	}
}

/* One association request. *@busy: the archive rejected it as transient (too many
 * associations, say), and only then is the rejection logged by the caller, not here. */
static int associate_once(const struct dimse_peer *p, const char *what,
			  const std::vector<dimse_context> &contexts, T_ASC_Network **netp,
			  T_ASC_Association **assocp, bool last, bool *busy,
			  struct errors_detail *why)
{
	T_ASC_Network *net = NULL;
	T_ASC_Parameters *params = NULL;
	T_ASC_Association *assoc = NULL;
	std::string address = p->host + ":" + std::to_string(p->port);
	OFCondition cond;
	int err;

	*busy = false;
	cond = ASC_initializeNetwork(NET_REQUESTOR, 0, p->timeout, &net);
	if (cond.good())
		cond = ASC_createAssociationParameters(&params, ASC_DEFAULTMAXPDU);
	if (cond.bad()) {
		log_error("%s %s: cannot set up the network: %s", what, p->name.c_str(),
			  cond.text());
		err = -EIO;
		goto out_free;
	}
	ASC_setAPTitles(params, p->aet.c_str(), p->aec.c_str(), NULL);
	ASC_setPresentationAddresses(params, "localhost", address.c_str());
	for (size_t i = 0; i < contexts.size() && cond.good(); i++) {
		std::vector<const char *> ts;

		for (const std::string &s : contexts[i].syntaxes)
			ts.push_back(s.c_str());
		cond = ASC_addPresentationContext(params, (T_ASC_PresentationContextID)(2 * i + 1),
						  contexts[i].abstract.c_str(), ts.data(),
						  (int)ts.size(), contexts[i].role);
	}
	if (cond.good())
		cond = ASC_requestAssociation(net, params, &assoc);
	if (cond.bad()) {
		if (cond == DUL_ASSOCIATIONREJECTED) {
			T_ASC_RejectParameters rej;
			OFString reason;

			ASC_getRejectParameters(params, &rej);
			ASC_printRejectParameters(reason, &rej);
			for (char &c : reason)
				if (c == '\n')
					c = ' ';
			*busy = rej.result == ASC_RESULT_REJECTEDTRANSIENT;
			if (*busy && !last) {
				/* Each worker turned away says so: limited, as a busy archive
				 * turns them away for minutes. */
				log_warn_limited("%s %s as %s: association rejected for now (%s); "
						 "trying again",
						 what, p->name.c_str(), p->aet.c_str(),
						 reason.c_str());
			} else {
				log_error("%s %s as %s: association rejected%s: %s", what,
					  p->name.c_str(), p->aet.c_str(),
					  *busy ? " for now, and still after retry=" : "",
					  reason.c_str());
				errors_detail_set(why, (std::string(what) + " " + p->name).c_str(),
						  "association rejected", "%s", reason.c_str());
			}
		} else {
			log_error("%s %s as %s: association failed: %s", what, p->name.c_str(),
				  p->aet.c_str(), cond.text());
			errors_detail_set(why, (std::string(what) + " " + p->name).c_str(),
					  "association failed", "%s", cond.text());
		}
		err = *busy ? -ETIMEDOUT : dimse_cond_errno(cond);
		goto out_free;
	}
	/* ASC_requestAssociation took @params into @assoc. */
	params = NULL;
	*netp = net;
	*assocp = assoc;
	return 0;
out_free:
	if (assoc)
		ASC_destroyAssociation(&assoc);
	else if (params)
		ASC_destroyAssociationParameters(&params);
	if (net)
		ASC_dropNetwork(&net);
	return err;
}

int dimse_associate(const struct dimse_peer *p, const char *what, enum dimse_kind kind,
		    const std::vector<dimse_context> &contexts, T_ASC_Network **netp,
		    T_ASC_Association **assocp, struct errors_detail *why)
{
	/* A transient rejection (PS3.8 §9.3.4: "rejected-transient", a PACS at its limit of
	 * associations, or congested) is the archive asking us to wait: tried again with
	 * backoff for up to retry= seconds. Our slot stays taken meanwhile, so that trolley
	 * asks no more of a busy archive than before. */
	double started = dimse_now();
	bool busy = false, last = p->retry <= 0;
	int err = 0, wait;

	/* Given back by dimse_release(), or here if no association comes of it. The wait for
	 * it ends when nobody waits for the transfer any more (core/cancel.h). */
	err = dimse_slot_take(kind);
	if (err)
		return err;
	for (unsigned attempt = 1;; attempt++) {
		err = associate_once(p, what, contexts, netp, assocp, last, &busy, why);
		if (!err || !busy || last)
			break;
		/* The next try is the last if the budget runs out before the one after. */
		wait = dimse_backoff(p, started, attempt);
		if (wait == -ECANCELED)
			err = wait;
		if (wait)
			break;
		last = dimse_now() - started >= (double)p->retry;
	}
	if (err && busy && err != -ECANCELED)
		pushback_note_given_up();
	if (err && busy && !last && err != -ECANCELED) {
		log_error("%s %s as %s: association rejected for now, and still after retry=%ld s",
			  what, p->name.c_str(), p->aet.c_str(), p->retry);
		errors_detail_set(why, (std::string(what) + " " + p->name).c_str(),
				  "association rejected",
				  "rejected for now, and still after retry=%ld s", p->retry);
	}
	if (err)
		dimse_slot_give(kind);
	else
		watch_add(*assocp);
	return err;
}

void dimse_release(T_ASC_Network *net, T_ASC_Association *assoc, enum dimse_kind kind, bool abort)
{
	if (assoc) {
		watch_remove(assoc);
		if (abort || ASC_releaseAssociation(assoc).bad())
			ASC_abortAssociation(assoc);
		ASC_destroyAssociation(&assoc);
		dimse_slot_give(kind);
	}
	if (net)
		ASC_dropNetwork(&net);
}

static int find_once(const struct dimse_peer *p, enum dimse_kind kind, const char *about,
		     DcmDataset *ids, DIMSE_FindUserCallback take, void *ctx, Uint16 *status,
		     int *answers, struct errors_detail *why);

/* The caller's callback, counting the pending answers it is given. */
struct counted_find {
	DIMSE_FindUserCallback take;
	void *ctx;
	int answers;
};

static void count_answer(void *ctx, T_DIMSE_C_FindRQ *rq, int n, T_DIMSE_C_FindRSP *rsp,
			 DcmDataset *ids)
{
	struct counted_find *c = (struct counted_find *)ctx;

	c->answers++;
	c->take(c->ctx, rq, n, rsp, ids);
}

int dimse_find(const struct dimse_peer *p, enum dimse_kind kind, const char *about, DcmDataset *ids,
	       DIMSE_FindUserCallback take, void *ctx, Uint16 *status, struct errors_detail *why)
{
	double started = dimse_now();
	int err;

	/* "Refused: out of resources" before any answer: the archive asks us to wait. After
	 * answers came, the caller sees the status (an incomplete answer, said so). */
	for (unsigned attempt = 1;; attempt++) {
		int answers = 0;

		err = find_once(p, kind, about, ids, take, ctx, status, &answers, why);
		if (err || answers || !dimse_is_pushback(*status))
			return err;
		err = dimse_backoff(p, started, attempt);
		if (err == -ECANCELED)
			return err;
		if (err) {
			err = 0; /* the caller sees the status */
			pushback_note_given_up();
			log_error("C-FIND %s%s: status 0x%04x (out of resources), and still after "
				  "retry=%ld s",
				  p->name.c_str(), about, *status, p->retry);
			return err;
		}
		log_warn_limited("C-FIND %s%s: status 0x%04x (out of resources); trying again",
				 p->name.c_str(), about, *status);
	}
}

static int find_once(const struct dimse_peer *p, enum dimse_kind kind, const char *about,
		     DcmDataset *ids, DIMSE_FindUserCallback take, void *ctx, Uint16 *status,
		     int *answers, struct errors_detail *why)
{
	std::vector<dimse_context> contexts = {
		{UID_FINDStudyRootQueryRetrieveInformationModel,
		 {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax},
		 ASC_SC_ROLE_DEFAULT}};
	T_ASC_Network *net = NULL;
	T_ASC_Association *assoc = NULL;
	T_ASC_PresentationContextID pid;
	T_DIMSE_C_FindRQ req;
	T_DIMSE_C_FindRSP rsp;
	DcmDataset *detail = NULL;
	OFCondition cond;
	struct counted_find counted = {take, ctx, 0};
	int count = 0, err;

	err = dimse_associate(p, "C-FIND", kind, contexts, &net, &assoc, why);
	if (err)
		return err;
	pid = ASC_findAcceptedPresentationContextID(assoc,
						    UID_FINDStudyRootQueryRetrieveInformationModel);
	if (!pid) {
		dimse_release(net, assoc, kind, false);
		return -ENOTSUP;
	}
	memset(&req, 0, sizeof(req));
	memset(&rsp, 0, sizeof(rsp));
	req.MessageID = assoc->nextMsgID++;
	OFStandard::strlcpy(req.AffectedSOPClassUID, UID_FINDStudyRootQueryRetrieveInformationModel,
			    sizeof(req.AffectedSOPClassUID));
	req.DataSetType = DIMSE_DATASET_PRESENT;
	req.Priority = DIMSE_PRIORITY_MEDIUM;
	cond = DIMSE_findUser(assoc, pid, &req, ids, count, count_answer, &counted,
			      DIMSE_NONBLOCKING, p->timeout, &rsp, &detail);
	delete detail;
	if (cond.bad() && cancel_requested()) {
		log_info("C-FIND %s%s: cancelled", p->name.c_str(), about);
		err = -ECANCELED;
	} else if (cond.bad()) {
		log_error("C-FIND %s%s: %s", p->name.c_str(), about, cond.text());
		errors_detail_set(why, ("C-FIND " + p->name).c_str(), "no reply", "%s%s%s", about,
				  *about ? ": " : "", cond.text());
		err = dimse_cond_errno(cond);
	} else {
		*status = rsp.DimseStatus;
		*answers = counted.answers;
	}
	dimse_release(net, assoc, kind, err != 0);
	return err;
}

/* What trolley offers for C-GET sub-operations when the archive does not say how it stored an
 * instance: each syntax its own presentation context, so that an archive that picks the context
 * matching the stored syntax (Orthanc 1.10 does) sends the bytes as stored, like WADO-RS with
 * transfer-syntax=*; the uncompressed ones first, for an archive that takes the first accepted
 * context of the class (dcmqrscp 3.6.7 does). Deflate, big endian and the private bzip2 are
 * left out: an archive that chooses by its own preference (pixelmed picks bzip2, then deflate,
 * then explicit VR little endian, whatever it stored) would make every file one of them, and
 * many viewers read neither. An archive that says what it stored gets offered only that. */
static const char *const stored_syntaxes[] = {
	UID_LittleEndianExplicitTransferSyntax,
	UID_LittleEndianImplicitTransferSyntax,
	UID_JPEGProcess14SV1TransferSyntax,
	UID_JPEGProcess1TransferSyntax,
	UID_JPEG2000LosslessOnlyTransferSyntax,
	UID_JPEG2000TransferSyntax,
	UID_RLELosslessTransferSyntax,
	UID_JPEGLSLosslessTransferSyntax,
	UID_JPEGLSLossyTransferSyntax,
	UID_JPEGProcess2_4TransferSyntax,
	UID_JPEGProcess14TransferSyntax,
	UID_MPEG2MainProfileAtMainLevelTransferSyntax,
	UID_MPEG4HighProfileLevel4_1TransferSyntax,
	UID_HEVCMainProfileLevel5_1TransferSyntax,
};

void dimse_storage_contexts(const std::vector<dimse_stored> &stored, const char *asked,
			    T_ASC_SC_ROLE role, size_t room, std::vector<dimse_context> &out)
{
	size_t nts = sizeof(stored_syntaxes) / sizeof(*stored_syntaxes);
	std::vector<std::string> uncompressed = {UID_LittleEndianExplicitTransferSyntax,
						 UID_LittleEndianImplicitTransferSyntax};

	if (asked && *asked)
		uncompressed = {asked};
	if (stored.empty()) {
		/* Nothing known of what will come: every storage class we know, uncompressed. */
		for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs && room; i++, room--)
			out.push_back({dcmLongSCUStorageSOPClassUIDs[i], uncompressed, role});
		return;
	}
	/* The syntax the user asked for, alone: the archive transcodes, or refuses. */
	if (asked && *asked) {
		for (size_t i = 0; i < stored.size() && room; i++, room--)
			out.push_back({stored[i].sop_class, {asked}, role});
		return;
	}
	/* What the archive said it stored, each its own context, and nothing else: an archive
	 * that chooses by preference has only these to choose from. */
	for (const dimse_stored &s : stored)
		for (size_t t = 0; t < s.syntaxes.size() && room; t++, room--)
			out.push_back({s.sop_class, {s.syntaxes[t]}, role});
	/* PS3.8 allows 128 presentation contexts: many classes get fewer syntaxes each. */
	std::vector<const dimse_stored *> unknown;
	for (const dimse_stored &s : stored)
		if (s.syntaxes.empty())
			unknown.push_back(&s);
	if (unknown.empty() || !room)
		return;
	if (unknown.size() * nts > room)
		nts = room / unknown.size() >= 2 ? room / unknown.size() : 1;
	for (size_t t = 0; t < nts; t++)
		for (const dimse_stored *s : unknown)
			if (room) {
				out.push_back({s->sop_class, {stored_syntaxes[t]}, role});
				room--;
			}
}

namespace
{

/* What is kept of a data set to read its own UIDs from (dimse_expect). */
const size_t HEAD_MAX = 1 << 20;
/* A top-level value longer than this is left out of the head (its element kept, empty): the
 * UIDs are short, and what comes before group 0020 may be big (a private block of megabytes in
 * group 0011, an icon), which a plain cut after the first HEAD_MAX bytes would let push the
 * study and series UIDs out of reach, refusing a sound instance. */
const uint32_t HEAD_VALUE_MAX = 4096;

/*
 * The head of a data set as it streams in, for is_expected(): top-level elements are walked by
 * their headers (explicit or implicit VR, little or big endian, from the accepted syntax), long
 * values dropped, so that (0008,0018), (0020,000D) and (0020,000E) are in the head whatever
 * came before them. From the first sequence on (its items are not walked) and in a deflated
 * data set (dcmtk inflates the head itself) the bytes are kept as they come, up to HEAD_MAX.
 * Past (0020,000E) nothing more is needed.
 */
class uid_head
{
      public:
	explicit uid_head(const char *syntax)
	{
		DcmXfer x(syntax);

		explicit_ = x.isExplicitVR();
		big_ = x.isBigEndian();
		state_ = x.getStreamCompression() != ESC_none ? VERBATIM : HEADER;
	}
	void feed(const unsigned char *p, size_t n)
	{
		while (n && state_ != DONE) {
			size_t take;

			switch (state_) {
			case HEADER:
				hdr_[hlen_++] = *p++;
				n--;
				header_byte();
				break;
			case KEEP:
			case SKIP:
				take = (size_t)std::min<uint64_t>(left_, n);
				if (state_ == KEEP)
					head_.append((const char *)p, take);
				left_ -= take;
				p += take;
				n -= take;
				if (!left_)
					state_ = HEADER;
				break;
			case VERBATIM:
				take = std::min(n, HEAD_MAX - std::min(HEAD_MAX, head_.size()));
				head_.append((const char *)p, take);
				p += take;
				n -= take;
				break;
			case DONE:
				break;
			}
			if (head_.size() >= HEAD_MAX)
				state_ = DONE;
		}
	}
	const std::string &bytes() const
	{
		return head_;
	}

      private:
	enum state { HEADER, KEEP, SKIP, VERBATIM, DONE };

	uint32_t u16(size_t at) const
	{
		return big_ ? (uint32_t)(hdr_[at] << 8 | hdr_[at + 1])
			    : (uint32_t)(hdr_[at] | hdr_[at + 1] << 8);
	}
	uint32_t u32(size_t at) const
	{
		return big_ ? u16(at) << 16 | u16(at + 2) : u16(at) | u16(at + 2) << 16;
	}
	/* One more header byte came: once the header is whole, keep its value, drop it, or
	 * stop walking. */
	void header_byte()
	{
		size_t need = 8, len_at = 4, len_size = 4;
		bool sequence = false;
		uint32_t tag, len;

		if (hlen_ < 8)
			return;
		tag = u16(0) << 16 | u16(2);
		if (explicit_ && tag >> 16 != 0xFFFE) {
			bool is_long = part10_vr_has_long_length(hdr_ + 4);

			need = is_long ? 12 : 8;
			len_at = is_long ? 8 : 6;
			len_size = is_long ? 4 : 2;
			sequence = memcmp(hdr_ + 4, "SQ", 2) == 0;
		}
		if (hlen_ < need)
			return;
		hlen_ = 0;
		if (tag > 0x0020000Eu) {
			state_ = DONE; /* every UID is_expected() reads has come */
			return;
		}
		len = len_size == 4 ? u32(len_at) : u16(len_at);
		if (len == 0xFFFFFFFFu || sequence) {
			head_.append((const char *)hdr_, need);
			state_ = VERBATIM;
			return;
		}
		if (len > HEAD_VALUE_MAX) {
			memset(hdr_ + len_at, 0, len_size); /* the element stays, empty */
			head_.append((const char *)hdr_, need);
			left_ = len;
			state_ = SKIP;
			return;
		}
		head_.append((const char *)hdr_, need);
		left_ = len;
		state_ = len ? KEEP : HEADER;
	}

	bool explicit_ = true, big_ = false;
	enum state state_ = HEADER;
	unsigned char hdr_[12] = {0};
	size_t hlen_ = 0;
	uint64_t left_ = 0;
	std::string head_;
};

/* The write end of DIMSE_receiveDataSetInFile: data set bytes to the sink as they come, the
 * head that holds its UIDs also kept when @syntax is given (uid_head). After a sink error the rest is read and
 * dropped, so that the association stays in step. */
class sink_consumer : public DcmConsumer
{
      public:
	sink_consumer(struct sink *s, const char *syntax, bool digest)
	    : sink_(s), err_(0), bytes_(0), head_(syntax ? new uid_head(syntax) : nullptr),
	      md_(digest ? EVP_MD_CTX_new() : nullptr)
	{
		if (md_ && !EVP_DigestInit_ex(md_, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(md_);
			md_ = nullptr;
		}
		if (digest && !md_)
			throw std::bad_alloc();
	}
	~sink_consumer() override
	{
		EVP_MD_CTX_free(md_);
	}
	/* The SHA-256 of every data set byte written so far. */
	void digest(unsigned char out[32])
	{
		unsigned int n = 32;

		EVP_DigestFinal_ex(md_, out, &n);
	}
	OFBool good() const override
	{
		return OFTrue;
	}
	OFCondition status() const override
	{
		return EC_Normal;
	}
	OFBool isFlushed() const override
	{
		return OFTrue;
	}
	offile_off_t avail() const override
	{
		return (offile_off_t)1 << 30;
	}
	offile_off_t write(const void *buf, offile_off_t len) override
	{
		if (!err_ && len > 0)
			err_ = sink_->ops->write(sink_->ctx, buf, (size_t)len);
		if (head_ && len > 0)
			head_->feed((const unsigned char *)buf, (size_t)len);
		if (md_ && len > 0)
			EVP_DigestUpdate(md_, buf, (size_t)len);
		bytes_ += (unsigned long long)len;
		return len;
	}
	void flush() override
	{
	}
	int error() const
	{
		return err_;
	}
	unsigned long long bytes() const
	{
		return bytes_;
	}
	const std::string &head() const
	{
		static const std::string none;

		return head_ ? head_->bytes() : none;
	}

      private:
	struct sink *sink_;
	int err_;
	unsigned long long bytes_;
	std::unique_ptr<uid_head> head_;
	EVP_MD_CTX *md_;
};

class sink_stream : public DcmOutputStream
{
      public:
	explicit sink_stream(sink_consumer *c) : DcmOutputStream(c)
	{
	}
};

/* Whether the data set whose first bytes are @head (in @syntax) is the instance @sop of
 * @expect's study and series, by its own elements; @why says what it is otherwise. dcmtk
 * parses the head (inflated if deflated) up to (0020,0010), where the three UIDs have all
 * come. */
bool is_expected(const std::string &head, const char *syntax, const char *sop,
		 const struct dimse_expect *expect, std::string &why)
{
	DcmInputBufferStream in;
	DcmDataset ds;
	DcmXfer xfer(syntax);
	OFString study, series, own;

	in.setBuffer(head.data(), (offile_off_t)head.size());
	in.setEos();
	/* A deflated data set: read() installs the inflating filter itself. */
	ds.transferInit();
	/* A head cut inside an element fails from there on: what came before is read. */
	ds.readUntilTag(in, xfer.getXfer(), EGL_noChange, DCM_MaxReadLength,
			DcmTagKey(0x0020, 0x0010));
	ds.transferEnd();
	in.releaseBuffer();
	ds.findAndGetOFString(DCM_StudyInstanceUID, study);
	ds.findAndGetOFString(DCM_SeriesInstanceUID, series);
	ds.findAndGetOFString(DCM_SOPInstanceUID, own);
	if (study == expect->study_uid.c_str() && series == expect->series_uid.c_str() &&
	    own == sop)
		return true;
	why = std::string("its data set is instance ") + (own.empty() ? "(none)" : own.c_str()) +
	      " of series " + (series.empty() ? "(none)" : series.c_str()) + " of study " +
	      (study.empty() ? "(none)" : study.c_str());
	return false;
}

int answer_store(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
		 const T_DIMSE_C_StoreRQ *req, Uint16 status)
{
	T_DIMSE_C_StoreRSP rsp;
	T_DIMSE_C_StoreRQ copy = *req;

	memset(&rsp, 0, sizeof(rsp));
	rsp.MessageIDBeingRespondedTo = req->MessageID;
	rsp.DimseStatus = status;
	rsp.DataSetType = DIMSE_DATASET_NULL;
	OFStandard::strlcpy(rsp.AffectedSOPClassUID, req->AffectedSOPClassUID,
			    sizeof(rsp.AffectedSOPClassUID));
	OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req->AffectedSOPInstanceUID,
			    sizeof(rsp.AffectedSOPInstanceUID));
	rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
	return DIMSE_sendStoreResponse(assoc, pid, &copy, &rsp, NULL).good() ? 0 : -EIO;
}

} // namespace

int dimse_drop_store(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
		     const T_DIMSE_C_StoreRQ *req, int timeout, Uint16 status, const char *peer)
{
	DIC_UL bytes = 0, pdvs = 0;
	OFCondition cond;

	cond = DIMSE_ignoreDataSet(assoc, DIMSE_NONBLOCKING, timeout, &bytes, &pdvs);
	if (cond.bad())
		return dimse_cond_errno(cond);
	log_debug("C-STORE of %s from %s: not kept (status 0x%04x)", req->AffectedSOPInstanceUID,
		  peer, status);
	return answer_store(assoc, pid, req, status) ? -EIO : -ENOENT;
}

int dimse_receive_store(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
			const T_DIMSE_C_StoreRQ *req, int timeout, struct sink *sink,
			const struct dimse_expect *expect, const char *source, const char *peer,
			struct dimse_copy *copy, struct errors_detail *why)
{
	T_ASC_PresentationContext pc;
	unsigned char meta[PART10_META_MAX];
	ssize_t meta_len;
	OFCondition cond;
	int err;

	/* 0xA700: refused, out of resources. Nobody here asked for it. */
	if (!sink)
		return dimse_drop_store(assoc, pid, req, timeout, 0xA700, peer);
	if (ASC_findAcceptedPresentationContext(assoc->params, pid, &pc).bad()) {
		log_error("C-STORE from %s: presentation context %d was not accepted", peer, pid);
		return -EIO;
	}
	/* The file meta header is core/part10.c's, as for an object a web archive sends bare. An
	 * AE title over 16 characters is none (dcmtk cuts what it sends at 16). */
	if (source && strlen(source) > 16)
		source = NULL;
	meta_len =
		part10_meta_write(meta, sizeof(meta), req->AffectedSOPClassUID,
				  req->AffectedSOPInstanceUID, pc.acceptedTransferSyntax, source);
	if (meta_len < 0) {
		log_error("C-STORE of %s from %s: the request's SOP class, instance or transfer "
			  "syntax is not a UID; refused",
			  req->AffectedSOPInstanceUID, peer);
		/* 0xC000: refused, cannot understand. */
		err = dimse_drop_store(assoc, pid, req, timeout, 0xC000, peer);
		return err == -ENOENT ? -EBADMSG : err;
	}
	try {
		sink_consumer consumer(sink, expect ? pc.acceptedTransferSyntax : NULL, copy);
		std::string wrong;
		sink_stream stream(&consumer);
		T_ASC_PresentationContextID got = pid;

		err = sink->ops->begin(sink->ctx);
		if (!err)
			err = sink->ops->write(sink->ctx, meta, (size_t)meta_len);
		cond = DIMSE_receiveDataSetInFile(assoc, DIMSE_NONBLOCKING, timeout, &got, &stream,
						  NULL, NULL);
		if (cond.bad() && cancel_requested()) {
			log_info("C-STORE of %s from %s: cancelled after %llu bytes",
				 req->AffectedSOPInstanceUID, peer, consumer.bytes());
			return -ECANCELED;
		}
		if (cond.bad()) {
			log_error("C-STORE of %s from %s: transfer broke after %llu bytes: %s",
				  req->AffectedSOPInstanceUID, peer, consumer.bytes(), cond.text());
			errors_detail_set(why, (std::string("C-STORE from ") + peer).c_str(),
					  "transfer broke", "instance %s: after %llu bytes: %s",
					  req->AffectedSOPInstanceUID, consumer.bytes(),
					  cond.text());
			return dimse_cond_errno(cond);
		}
		if (!err)
			err = consumer.error();
		/* Not ended: the sink drops what it was given. */
		if (!err && expect &&
		    !is_expected(consumer.head(), pc.acceptedTransferSyntax,
				 req->AffectedSOPInstanceUID, expect, wrong)) {
			log_error("C-STORE of %s from %s: %s, not what our %s asked for; refused",
				  req->AffectedSOPInstanceUID, peer, wrong.c_str(), expect->op);
			err = -EBADMSG;
		}
		if (!err && copy)
			consumer.digest(copy->digest);
		if (!err && !(copy && copy->defer_end))
			err = sink->ops->end(sink->ctx);
	} catch (const std::bad_alloc &) {
		err = -ENOMEM;
	}
	if (err)
		log_debug("C-STORE of %s from %s refused: %s", req->AffectedSOPInstanceUID, peer,
			  strerror(-err));
	/* 0xA700 tells the archive that this sub-operation failed: it counts it as failed. */
	if (answer_store(assoc, pid, req, err ? 0xA700 : STATUS_Success))
		return -EIO;
	return err;
}
