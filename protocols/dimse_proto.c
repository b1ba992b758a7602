/* The descriptor of classic DICOM networking (protocols/protocol.h): the dicom:// scheme, the
 * c-find searcher and the c-get and c-move downloaders, their options (aet=, aec=, dicom=,
 * move_port=, move_from=) and checks. The C side of the dcmtk shim: dimse.cc and
 * dimse_retrieve.cc read their peer through dimse_config_get(). */
#include "dcmtk/dimse.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/tags.h"
#include "protocols/protocol.h"

/* AEC@host:port (a dicom:// SOURCE without its scheme, or dicom=): the DIMSE peer. dcmtk 3.6.7
 * reads "host:port" with sscanf("%[^:]"): an IPv6 address cannot be reached (measured:
 * "Illegal service parameter"), so it is refused here with a message (unless @quiet) rather
 * than failing at the first listing. */
static int peer_parse(const char *p, struct dimse_config *dc, bool quiet)
{
	const char *at = strchr(p, '@'), *colon, *host;
	size_t hlen;
	char *end = NULL;
	long port;

	if (!at || at == p || at - p > 16) {
		if (!quiet)
			fprintf(stderr, "mount.trolley: expected dicom://AETITLE@host:port (an AE "
					"title of 1 to 16 characters)\n");
		return -EINVAL;
	}
	colon = strrchr(at, ':');
	port = colon ? strtol(colon + 1, &end, 10) : 0;
	host = at + 1;
	hlen = colon ? (size_t)(colon - host) : 0;
	if (!colon || colon == at + 1 || !end || *end || port < 1 || port > 65535 ||
	    hlen >= sizeof(dc->host)) {
		if (!quiet)
			fprintf(stderr, "mount.trolley: expected dicom://AETITLE@host:port\n");
		return -EINVAL;
	}
	if (memchr(host, '[', hlen) || memchr(host, ':', hlen)) {
		if (!quiet)
			fprintf(stderr, "mount.trolley: DICOM networking reaches IPv4 addresses "
					"and host names, not IPv6 addresses (dcmtk)\n");
		return -EINVAL;
	}
	memcpy(dc->title, p, (size_t)(at - p));
	dc->title[at - p] = '\0';
	memcpy(dc->host, host, hlen);
	dc->host[hlen] = '\0';
	dc->port = (int)port;
	return 0;
}

int dimse_config_get(const struct proto_config *cfg, struct dimse_config *dc)
{
	const char *peer = proto_config_text(cfg, "dicom");

	memset(dc, 0, sizeof(*dc));
	if (!peer || peer_parse(peer, dc, true) < 0)
		return -EINVAL;
	/* An aec= option wins over the title of the peer. */
	dc->aec = proto_config_text(cfg, "aec");
	if (!dc->aec)
		dc->aec = dc->title;
	dc->aet = proto_config_text(cfg, "aet");
	dc->move_port = proto_config_num(cfg, "move_port");
	dc->move_from = proto_config_text(cfg, "move_from");
	return 0;
}

/* dicom://AEC@host:port: C-FIND searches and C-GET downloads, unless a WADO URL is given for
 * downloads (an archive that speaks both). The peer is SOURCE's, whatever dicom= says. */
static int dicom_setup(struct proto_settings *s, const char *source)
{
	struct dimse_config dc;

	if (peer_parse(source + 8, &dc, false) < 0)
		return -EINVAL;
	return proto_set_text(s, "dicom", source + 8);
}

/* C-MOVE's storage SCP binds move_port after the fork: try it now, where the user sees why.
 * It listens on IPv4, on the address that routes to the sender; 0.0.0.0 is tried, which fails
 * wherever that would. */
static int move_before_mount(const struct proto_settings *s)
{
	int port = proto_num(s, "move_port");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), err;

	if (fd < 0)
		return 0; /* no socket to try with: the SCP will say */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	err = bind(fd, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0;
	close(fd);
	if (err)
		fprintf(stderr, "mount.trolley: move_port=%d: cannot listen there: %s\n", port,
			strerror(-err));
	return err;
}

/* What C-FIND asks for at each level (dimse.cc's keys), which a template may name. */
static const uint32_t find_returns_study[] = {
	TAG_StudyInstanceUID, TAG_StudyDate,	     TAG_StudyTime,
	TAG_StudyDescription, TAG_AccessionNumber,   TAG_PatientName,
	TAG_PatientID,	      TAG_ModalitiesInStudy, TAG_SpecificCharacterSet,
};
static const uint32_t find_returns_series[] = {
	TAG_StudyInstanceUID,  TAG_SeriesInstanceUID, TAG_SeriesNumber, TAG_Modality,
	TAG_SeriesDescription, TAG_SeriesDate,	      TAG_SeriesTime,	TAG_SpecificCharacterSet,
};
static const uint32_t find_returns_instance[] = {
	TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SOPInstanceUID, TAG_InstanceNumber,
	TAG_SOPClassUID,      TAG_ContentDate,	     TAG_ContentTime,	 TAG_Rows,
	TAG_Columns,	      TAG_BitsAllocated,     TAG_NumberOfFrames, TAG_SpecificCharacterSet,
};

static const struct proto_option dimse_options[] = {
	{"aet", PROTO_OPT_TEXT, 0,
	 "aet=AE,aec=AE           our AE title (TROLLEY) and the archive's"},
	{"aec", PROTO_OPT_TEXT, 0, NULL},
	{"dicom", PROTO_OPT_TEXT, 0,
	 "dicom=AEC@host:port     the DICOM peer for c-find/c-get/c-move when\n"
	 "                               SOURCE is not dicom://"},
	{"move_port", PROTO_OPT_INT, 0,
	 "move_port=PORT          where our storage SCP takes C-MOVE sub-operations"},
	{"move_from", PROTO_OPT_TEXT, 0,
	 "move_from=HOST          the host that sends them (default: the archive)"},
};

/* A hierarchical C-FIND asks no series attribute in an instance query (PS3.4 C.4.1.1.3.1). */
static const struct proto_searcher dimse_searchers[] = {{
	.name = "c-find",
	.make = dimse_find_new,
	.flags = PROTO_SEARCH_INCLUDE,
	.returns = {find_returns_study, find_returns_series, find_returns_instance},
	.nreturns = {sizeof(find_returns_study) / sizeof(uint32_t),
		     sizeof(find_returns_series) / sizeof(uint32_t),
		     sizeof(find_returns_instance) / sizeof(uint32_t)},
}};

static const struct proto_downloader dimse_downloaders[] = {
	{.name = "c-get", .make = dimse_get_new},
	{.name = "c-move", .make = dimse_move_new, .before_mount = move_before_mount},
};

/* The DIMSE protocols need a peer, and C-MOVE a port of ours to receive on. */
static int dimse_check(const struct proto_choice *c)
{
	const char *peer = proto_text(c->settings, "dicom"), *aet = proto_text(c->settings, "aet");
	bool find = c->searcher == &dimse_searchers[0];
	bool get = c->downloader == &dimse_downloaders[0];
	bool move = c->downloader == &dimse_downloaders[1];
	int port = proto_num(c->settings, "move_port");
	struct dimse_config dc;

	if (peer && peer_parse(peer, &dc, false) < 0)
		return -EINVAL;
	if ((find || get || move) && !peer) {
		fprintf(stderr,
			"mount.trolley: %s=%s needs a dicom://AE@host:port SOURCE or "
			"dicom=AE@host:port\n",
			find ? "searcher" : "downloader",
			find ? c->searcher->name : c->downloader->name);
		return -EINVAL;
	}
	if (move && (port < 1 || port > 65535)) {
		fprintf(stderr, "mount.trolley: downloader=c-move needs move_port=PORT, where "
				"the archive sends the instances (to aet=, default TROLLEY)\n");
		return -EINVAL;
	}
	if (aet && (!*aet || strlen(aet) > 16)) {
		fprintf(stderr, "mount.trolley: aet=%s: an AE title is 1 to 16 characters\n", aet);
		return -EINVAL;
	}
	return 0;
}

static const struct proto_scheme dicom_scheme = {
	.prefix = {"dicom://"},
	.not_web = "dicom://",
	.what = "dicom://AE@host:port",
	.usage = "dicom://AEC@host:port (C-FIND search, C-GET download)",
	.searcher = "c-find",
	.downloaders = {"wado-rs", "wado-uri", "c-get"},
	.setup = dicom_setup,
};

const struct protocol dimse_protocol = {
	.name = "DIMSE",
	.scheme = &dicom_scheme,
	.options = dimse_options,
	.noptions = sizeof(dimse_options) / sizeof(dimse_options[0]),
	.searchers = dimse_searchers,
	.nsearchers = 1,
	.downloaders = dimse_downloaders,
	.ndownloaders = 2,
	.check = dimse_check,
};
