/* What a protocol is built from: the URLs and settings the user gave, already checked. */
#ifndef TROLLEY_PROTO_CONFIG_H
#define TROLLEY_PROTO_CONFIG_H

#include <stdbool.h>

struct http;

struct proto_config {
	const char *qido_url;	   /* base URL of QIDO-RS, without trailing slash */
	const char *wado_rs_url;   /* base URL of WADO-RS */
	const char *wado_uri_url;  /* the WADO-URI endpoint (e.g. http://pacs/wado) */
	const char *mint_url;	   /* MINT base URL (GET {mint_url}/studies) */
	const char *rad69_url;	   /* RAD-69 service (POST) */
	bool rad69_ignore_missing; /* rad69_ignore=XDSMissingDocument: no error lines for it */
	const char *dimse_host;	   /* DICOM peer (dicom://AEC@host:port) */
	int dimse_port;
	int move_port;		     /* our storage SCP for C-MOVE; 0: none */
	const char *move_from;	     /* who sends C-MOVE sub-operations; NULL: dimse_host */
	const char *aet, *aec;	     /* our AE title, theirs */
	long dimse_timeout;	     /* seconds, for association and DIMSE messages */
	long dimse_associations;     /* at most this many of ours open at once (connections=) */
	long retry;		     /* seconds an archive's pushback is waited out (retry=) */
	const char *transfer_syntax; /* NULL: "*" (as stored) */
	long page_size;		     /* QIDO-RS results asked per request (0: the default) */
	struct http *http;	     /* shared HTTP client; borrowed */
};

#endif
