// What the DIMSE files (dimse.cc, dimse_retrieve.cc, dimse_scp.cc) share: the peer,
// associations within the connections= slots (some kept for searches), the conversion of dcmtk
// conditions and DICOM statuses to errno, and the receipt of one C-STORE into a sink. C++ only;
// the rest of trolley sees dimse.h.
#ifndef TROLLEY_DIMSE_NET_HH
#define TROLLEY_DIMSE_NET_HH

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <string>
#include <vector>

extern "C" {
#include "dcmtk/dimse.h"
#include "protocols/downloader.h"
#include "protocols/proto_config.h"
}

/* The archive and who we are to it; copied from the proto_config. */
struct dimse_peer {
	std::string host, aet, aec;
	int port;
	int timeout;	  /* seconds: TCP connect, association and each DIMSE message */
	std::string name; /* AEC@host:port, as log lines name the archive */
	/* The transfer syntax the user asked for (transfer_syntax=), or empty. */
	std::string syntax;
	long associations; /* ours at once (connections=); 0: no bound */
	long retry;	   /* seconds to wait out the archive's pushback (retry=) */
};

/** Fill @p from @cfg and its DIMSE options @dc, and set dcmtk's socket timeouts to its
 * timeout. */
void dimse_peer_init(struct dimse_peer *p, const struct proto_config *cfg,
		     const struct dimse_config *dc);

/** dcmtk's connect, send and receive timeouts (globals: one value per process). */
void dimse_set_socket_timeouts(int seconds);

/** What an association is for, for the slots of dimse_slots_init(). */
enum dimse_kind {
	DIMSE_SEARCH, /* a C-FIND someone waits for: a listing, a lookup */
	DIMSE_BULK,   /* a C-GET or C-MOVE, and the C-FIND that prepares it */
};

/**
 * Bound the associations trolley has open at once (a PACS often allows an AE title only a few
 * and rejects the rest): the first call sets the bound @n for the process. A quarter of it (at
 * least one, none when @n is 1) is kept for DIMSE_SEARCH, and a waiting search goes before
 * waiting DIMSE_BULK associations. dimse_associate() and dimse_release() take and give back a
 * slot with these two.
 */
void dimse_slots_init(long n);
/** @return 0, or -EINTR: the wait for a slot was cancelled (core/cancel.h). */
int dimse_slot_take(enum dimse_kind kind);
void dimse_slot_give(enum dimse_kind kind);

/** One proposed presentation context: an abstract syntax, its transfer syntaxes, our role. */
struct dimse_context {
	std::string abstract;
	std::vector<std::string> syntaxes;
	T_ASC_SC_ROLE role;
};

/**
 * Open an association to @p proposing @contexts, within the slots of dimse_slots_init() for
 * @kind; a transient rejection (an archive at its limit of associations, congested) is tried
 * again with dimse_backoff() for up to retry= seconds, holding our slot meanwhile. @what
 * names the operation in log lines. @return 0 with *@net and *@assoc (end with
 * dimse_release()); -EACCES if the archive rejected us (unknown AE title, say); -ETIMEDOUT
 * (also when it still rejected us for now after retry=); -EIO (nothing listens, a broken
 * reply). Logged, and put in @why (may be NULL: core/errors.h).
 */
int dimse_associate(const struct dimse_peer *p, const char *what, enum dimse_kind kind,
		    const std::vector<dimse_context> &contexts, T_ASC_Network **net,
		    T_ASC_Association **assoc, struct errors_detail *why);

/** Release (or, if @abort, abort) and free what dimse_associate() opened for @kind, giving
 * its slot back. NULLs are fine. */
void dimse_release(T_ASC_Network *net, T_ASC_Association *assoc, enum dimse_kind kind, bool abort);

/**
 * One Study Root C-FIND of @ids on an association of its own, in a slot for @kind; each
 * pending answer goes to
 * @take. @about follows the peer in the log line of a failure (" for ..." or ""). @return 0
 * and the final status in *@status; -ENOTSUP if the archive does not accept Study Root C-FIND
 * (not logged: the caller knows what that means for it); an association or DIMSE error
 * (logged, and put in @why, which may be NULL).
 */
int dimse_find(const struct dimse_peer *p, enum dimse_kind kind, const char *about, DcmDataset *ids,
	       DIMSE_FindUserCallback take, void *ctx, Uint16 *status, struct errors_detail *why);

/**
 * Whether @status is the archive's "out of resources" (PS3.4 C.4.1.1.4, C.4.2.1.5,
 * C.4.3.1.4: 0xA700 for C-FIND, 0xA701 and 0xA702 for C-MOVE and C-GET; 0xA700 from
 * retrieves too, as some archives answer): pushback to be waited out, not a failure.
 */
bool dimse_is_pushback(Uint16 status);

/**
 * Wait before try @attempt (1 for the first retry) of what began at @started (CLOCK_MONOTONIC
 * seconds): exponential from 0.25 s, with jitter (x0.5 to x1.5, so that workers turned away
 * together do not come back together), at most 5 s a wait, within @p->retry seconds from
 * @started. @return 0 after the wait; -ETIMEDOUT, without waiting, once the budget is spent;
 * -ECANCELED at once when the waiter is cancelled (core/cancel.h: its reader gave up, or the
 * daemon stops; not logged).
 */
int dimse_backoff(const struct dimse_peer *p, double started, unsigned attempt);

/** CLOCK_MONOTONIC seconds, for dimse_backoff(). */
double dimse_now(void);

/** errno for a dcmtk condition from the network layer. */
int dimse_cond_errno(const OFCondition &cond);

/** errno for the final status of a C-GET or C-MOVE (PS3.4 C.4.2.1.5, C.4.3.1.4). */
int dimse_retrieve_status_errno(Uint16 status);

/* A storage SOP class an archive will send, and the transfer syntaxes it said it stored its
 * instances in (empty: it did not say). */
struct dimse_stored {
	std::string sop_class;
	std::vector<std::string> syntaxes;
};

/**
 * The storage presentation contexts to offer (in @role) to an archive that will send instances
 * of @stored, appended to @out, at most @room of them: the syntax the user @asked for alone
 * (NULL: none); else, for a class whose stored syntaxes are known, those alone; else every
 * syntax of an instance as stored except deflate and big endian, each its own context. With
 * @stored empty, every storage class we know, uncompressed (or @asked).
 */
void dimse_storage_contexts(const std::vector<dimse_stored> &stored, const char *asked,
			    T_ASC_SC_ROLE role, size_t room, std::vector<dimse_context> &out);

/**
 * Read and drop the data set of C-STORE @req on @assoc, and answer @status. @return -ENOENT
 * (nothing kept); a network error.
 */
int dimse_drop_store(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
		     const T_DIMSE_C_StoreRQ *req, int timeout, Uint16 status, const char *peer);

/* The study and series a received instance must belong to, by its data set's own UIDs, and
 * the operation that asked for it ("C-GET", "C-MOVE"), for the log. */
struct dimse_expect {
	std::string study_uid, series_uid;
	const char *op;
};

/* What dimse_receive_store() tells of the copy it received, for the C-MOVE storage SCP's
 * duplicate check. */
struct dimse_copy {
	bool defer_end;		  /* in: do not call the sink's end(); the caller will */
	unsigned char digest[32]; /* out: SHA-256 of the data set bytes as they came */
};

/**
 * Receive the data set of C-STORE @req on @assoc into @sink as a Part-10 file (a file meta
 * header from the request and the presentation context, then the data set bytes exactly as
 * they came, @source the sender's AE title), and answer the request. @peer names the sender
 * in log lines. @sink NULL: the data set is read and dropped, and the answer is a refusal.
 * With @expect, the data set's own Study, Series and SOP Instance UIDs must be @expect's and
 * the request's (read from its first MiB), or it is refused. The meta header is
 * part10_meta_write()'s. With @copy, its digest is computed (and, with copy->defer_end, the
 * sink's end() is left to the caller: the archive is answered success once the data set came
 * whole and was the one expected). @return 0 when the instance went whole into the sink; -EIO for a
 * broken transfer (already logged; the sink's end() is not called); -ETIMEDOUT when the
 * sender stopped for @timeout seconds; -EBADMSG for a data set that is not the one expected,
 * or a request whose UIDs are not UIDs (logged; end() not called); a sink error. A broken
 * transfer is also put in @why (may be NULL: the detail of the retrieve it serves).
 */
int dimse_receive_store(T_ASC_Association *assoc, T_ASC_PresentationContextID pid,
			const T_DIMSE_C_StoreRQ *req, int timeout, struct sink *sink,
			const struct dimse_expect *expect, const char *source, const char *peer,
			struct dimse_copy *copy, struct errors_detail *why);

#endif
