/* What a protocol is built from: the settings every protocol shares, already checked, and the
 * values of the protocols' own options (protocols/protocol.h: each protocol reads its own with
 * proto_config_text()). */
#ifndef TROLLEY_PROTO_CONFIG_H
#define TROLLEY_PROTO_CONFIG_H

struct http;
struct proto_settings;

struct proto_config {
	const struct proto_settings *settings; /* the protocols' options (borrowed) */
	long dimse_timeout;		       /* seconds, for association and DIMSE messages */
	long dimse_associations;     /* at most this many of ours open at once (connections=) */
	long retry;		     /* seconds an archive's pushback is waited out (retry=) */
	const char *transfer_syntax; /* NULL: "*" (as stored) */
	long page_size;		     /* QIDO-RS results asked per request (0: the default) */
	struct http *http;	     /* shared HTTP client; borrowed */
};

#endif
