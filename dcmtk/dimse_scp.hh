// The storage SCP that C-MOVE needs: the archive opens its own association to move_port= and
// sends each instance with C-STORE; this routes each one to the sink of the C-MOVE that asked
// for it, and takes nothing else. C++ only, used by dimse_retrieve.cc.
#ifndef TROLLEY_DIMSE_SCP_HH
#define TROLLEY_DIMSE_SCP_HH

#include "dcmtk/dimse_net.hh"

struct dimse_scp;

/**
 * Listen on @port, on the address that routes to the sender, for associations called @p->aet
 * from @p->aec at the sender's address: @move_from, or @p->host when NULL or empty (its IPv4
 * addresses, resolved now). Connections come only while a C-MOVE waits (dimse_scp_expect()).
 * @return 0 and *@out (free with dimse_scp_free()); -EADDRNOTAVAIL (the sender does not
 * resolve), -EADDRINUSE and the like (logged).
 */
int dimse_scp_start(const struct dimse_peer *p, int port, const char *move_from,
		    struct dimse_scp **out);
void dimse_scp_free(struct dimse_scp *scp);

/** A C-MOVE waiting for its instances. */
struct dimse_move_wait;

/**
 * Expect the instances that a C-MOVE of @ref will bring into @sink (@ref's instance, or the
 * members of its series: nothing else is taken), which is called from the SCP's threads until
 * dimse_scp_done() (and, for an instance, its end() from dimse_scp_done() itself). What fails
 * on those threads goes into @why (the C-MOVE's caller's, may be NULL: core/errors.h), which
 * must live until dimse_scp_done(). The C-MOVE
 * must be sent with message ID *@msg_id, chosen here at random: each C-STORE must name it as
 * its Move Originator Message ID. Where @stored names the syntaxes a class is stored in,
 * associations that come meanwhile are accepted in those alone for it. @return the waiter,
 * or NULL (ENOMEM).
 */
struct dimse_move_wait *dimse_scp_expect(struct dimse_scp *scp, const struct instance_ref *ref,
					 const std::vector<dimse_stored> &stored, struct sink *sink,
					 struct errors_detail *why, Uint16 *msg_id);

/**
 * Seconds since the archive last sent @w a sub-operation: since a C-STORE for it began or
 * ended (for a series, also one of a member it did not ask for), else since
 * dimse_scp_expect(); 0 while one is being received (that transfer has timeouts of its own).
 */
double dimse_scp_idle(struct dimse_scp *scp, struct dimse_move_wait *w);

/**
 * Stop expecting: waits for a C-STORE being received for @w to end. @return the number of
 * instances that went whole into the sink, and in *@err the first sink or transfer error
 * (-EIO if only data sets that were not the ones asked for came, if an instance came twice
 * with different bytes, or if someone guessed at the C-MOVE's ID before all had come).
 */
size_t dimse_scp_done(struct dimse_scp *scp, struct dimse_move_wait *w, int *err);

#endif
