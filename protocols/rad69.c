/* RAD-69: the request names every document (SOPInstanceUID) of a series; the reply is
 * multipart/related (MTOM): a SOAP part listing each DocumentResponse and its xop:Include cid,
 * then one part per document. Parts stream into the sink; the SOAP part (small) is parsed to
 * check each document against its cid and to learn which documents the archive could not
 * find (RegistryError XDSMissingDocument): partial success serves the rest. */
#include "protocols/rad69.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/part10.h"
#include "core/query.h"
#include "protocols/http.h"
#include "protocols/protocol.h"
#include "protocols/multipart.h"

#define RAD69_SOAP_MAX (4u << 20)
#define RAD69_MAX_MAP  65536
/* What the Vitrea RAD-69 service expects as RepositoryUniqueId (from the captured request). */
#define RAD69_REPOSITORY "1.3.6.1.4.1000"

struct rad69 {
	struct downloader base;
	struct http *http;
	char *url;
	char *transfer_syntax;
	bool ignore_missing; /* rad69_ignore=XDSMissingDocument */
};

struct cid_map {
	char **cid, **doc;
	size_t n;
};

struct rad69_call {
	struct rad69 *r;
	struct sink *sink;
	struct mp_parser *mp;
	const char *url; /* redacted */
	int part;	 /* 0: the SOAP part; 1..: documents */
	bool soap_only;	 /* a plain SOAP reply (an error) */
	struct buf soap;
	struct cid_map map;
	char expect[UID_MAX]; /* the document the current part's cid names */
	unsigned char head[PART10_HEAD_MAX];
	size_t head_len;
	char **missing;
	size_t nmissing;
	int other_errors;
};

/* The standard's syntaxes trolley can serve as stored; a server picks the stored one if
 * listed (the captured request lists three; a study with others would be transcoded). */
static const char *const rad69_syntaxes[] = {
	"1.2.840.10008.1.2.1",	  "1.2.840.10008.1.2",	    "1.2.840.10008.1.2.2",
	"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5",    "1.2.840.10008.1.2.4.50",
	"1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
	"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90",
	"1.2.840.10008.1.2.4.91",
};

static void random_uuid(char *out, size_t n)
{
	unsigned char b[16] = {0};
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			memset(b, 0x5a, sizeof(b));
		close(fd);
	}
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, n, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static int build_request(struct rad69 *r, const struct instance_ref *ref, struct buf *x)
{
	char uuid[40];
	int err = 0;

	random_uuid(uuid, sizeof(uuid));
	err |= buf_printf(
		x,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
		"xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header>"
		"<a:Action s:mustUnderstand=\"1\">urn:ihe:rad:2009:RetrieveImagingDocumentSet"
		"</a:Action><a:MessageID>urn:uuid:%s</a:MessageID>"
		"<a:ReplyTo s:mustUnderstand=\"1\"><a:Address>"
		"http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>"
		"<a:To>%s</a:To></s:Header><s:Body>"
		"<iherad:RetrieveImagingDocumentSetRequest "
		"xmlns:iherad=\"urn:ihe:rad:xdsi-b:2009\" "
		"xmlns:ihe=\"urn:ihe:iti:xds-b:2007\">"
		"<iherad:StudyRequest studyInstanceUID=\"%s\">"
		"<iherad:SeriesRequest seriesInstanceUID=\"%s\">",
		uuid, r->url, ref->study_uid, ref->series_uid);
	for (size_t i = 0; i < (ref->sop_uid ? 1 : ref->nmembers); i++)
		err |= buf_printf(x,
				  "<ihe:DocumentRequest><ihe:RepositoryUniqueId>%s"
				  "</ihe:RepositoryUniqueId><ihe:DocumentUniqueId>%s"
				  "</ihe:DocumentUniqueId></ihe:DocumentRequest>",
				  RAD69_REPOSITORY, ref->sop_uid ? ref->sop_uid : ref->members[i]);
	err |= buf_printf(x, "</iherad:SeriesRequest></iherad:StudyRequest>"
			     "<iherad:TransferSyntaxUIDList>");
	if (r->transfer_syntax)
		err |= buf_printf(x, "<iherad:TransferSyntaxUID>%s</iherad:TransferSyntaxUID>",
				  r->transfer_syntax);
	for (size_t i = 0; !r->transfer_syntax && i < sizeof(rad69_syntaxes) / sizeof(char *); i++)
		err |= buf_printf(x, "<iherad:TransferSyntaxUID>%s</iherad:TransferSyntaxUID>",
				  rad69_syntaxes[i]);
	err |= buf_printf(x, "</iherad:TransferSyntaxUIDList>"
			     "</iherad:RetrieveImagingDocumentSetRequest></s:Body></s:Envelope>");
	return err ? -ENOMEM : 0;
}

static void map_release(struct cid_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->cid[i]);
		free(m->doc[i]);
	}
	free(m->cid);
	free(m->doc);
	memset(m, 0, sizeof(*m));
}

static int map_add(struct cid_map *m, const char *cid, const char *doc)
{
	char **c, **d;

	if (m->n >= RAD69_MAX_MAP)
		return -EIO;
	c = realloc(m->cid, (m->n + 1) * sizeof(*c));
	if (c)
		m->cid = c;
	d = realloc(m->doc, (m->n + 1) * sizeof(*d));
	if (d)
		m->doc = d;
	if (!c || !d)
		return -ENOMEM;
	m->cid[m->n] = strdup(cid);
	m->doc[m->n] = strdup(doc);
	if (!m->cid[m->n] || !m->doc[m->n]) {
		free(m->cid[m->n]);
		free(m->doc[m->n]);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

/* "<abc@x>" and "cid:abc@x" name the same part. */
static void bare_cid(const char *in, char *out, size_t n)
{
	if (strncmp(in, "cid:", 4) == 0)
		in += 4;
	if (*in == '<')
		in++;
	snprintf(out, n, "%s", in);
	out[strcspn(out, ">")] = '\0';
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static void walk_soap(struct rad69_call *c, const xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, "RegistryError") == 0) {
			xmlChar *code = xmlGetProp(n, (const xmlChar *)"errorCode");
			xmlChar *loc = xmlGetProp(n, (const xmlChar *)"location");
			xmlChar *ctx = xmlGetProp(n, (const xmlChar *)"codeContext");

			if (code && strcmp((const char *)code, "XDSMissingDocument") == 0 && loc) {
				char **v = realloc(c->missing, (c->nmissing + 1) * sizeof(*v));

				if (v) {
					c->missing = v;
					v[c->nmissing] = strdup((const char *)loc);
					if (v[c->nmissing])
						c->nmissing++;
				}
			} else {
				log_error("POST %s: RAD-69 RegistryError %s at %s: %s", c->url,
					  code ? (const char *)code : "?",
					  loc ? (const char *)loc : "?",
					  ctx ? (const char *)ctx : "");
				c->other_errors++;
			}
			xmlFree(code);
			xmlFree(loc);
			xmlFree(ctx);
		} else if (strcmp((const char *)n->name, "DocumentResponse") == 0) {
			const xmlNode *doc = child(n, "DocumentUniqueId");
			const xmlNode *inc = child(child(n, "Document"), "Include");
			xmlChar *uid = doc ? xmlNodeGetContent(doc) : NULL;
			xmlChar *href = inc ? xmlGetProp(inc, (const xmlChar *)"href") : NULL;
			char cid[256];

			if (uid && href) {
				bare_cid((const char *)href, cid, sizeof(cid));
				map_add(&c->map, cid, (const char *)uid);
			}
			xmlFree(uid);
			xmlFree(href);
		}
		walk_soap(c, n->children);
	}
}

/* The SOAP part: tolerated when it is not well-formed (the captured one lacks quotes), since
 * each document is checked by its own Part-10 header anyway. */
static void parse_soap(struct rad69_call *c)
{
	xmlDoc *doc;

	if (!c->soap.len)
		return;
	doc = xmlReadMemory(c->soap.data, (int)c->soap.len, "soap.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	if (!doc) {
		log_info("POST %s: the SOAP part is not XML; documents are checked one by one",
			 c->url);
		return;
	}
	walk_soap(c, xmlDocGetRootElement(doc));
	xmlFreeDoc(doc);
}

/* The SOAP part (or a SOAP reply alone) is parsed whole: past RAD69_SOAP_MAX it is not
 * believed. Inflated bytes count (curl decodes a compressed reply before it comes here). */
static int soap_add(struct rad69_call *c, const void *data, size_t len)
{
	int err = buf_add(&c->soap, data, len);

	if (err != -E2BIG)
		return err;
	log_error("POST %s: SOAP part larger than %u MiB", c->url, RAD69_SOAP_MAX >> 20);
	return -EIO;
}

static int r_begin(void *ctx, const char *type, const char *cid)
{
	struct rad69_call *c = ctx;
	char bare[256];

	if (c->part++ == 0)
		return 0; /* the SOAP part: collected */
	if (c->part == 2)
		parse_soap(c);
	if (strncmp(type, "application/dicom", 17) != 0 &&
	    strncmp(type, "application/octet-stream", 24) != 0) {
		log_error("POST %s: part of type \"%s\", expected application/dicom", c->url, type);
		return -EIO;
	}
	c->expect[0] = '\0';
	bare_cid(cid, bare, sizeof(bare));
	for (size_t i = 0; i < c->map.n; i++)
		if (strcmp(c->map.cid[i], bare) == 0)
			snprintf(c->expect, sizeof(c->expect), "%s", c->map.doc[i]);
	c->head_len = 0;
	return c->sink->ops->begin(c->sink->ctx);
}

static int r_data(void *ctx, const void *data, size_t len)
{
	struct rad69_call *c = ctx;

	if (c->part == 1)
		return soap_add(c, data, len);
	if (c->head_len < sizeof(c->head)) {
		size_t take = sizeof(c->head) - c->head_len;

		memcpy(c->head + c->head_len, data, take < len ? take : len);
		c->head_len += take < len ? take : len;
	}
	return c->sink->ops->write(c->sink->ctx, data, len);
}

static int r_end(void *ctx)
{
	struct rad69_call *c = ctx;
	char uid[UID_MAX];

	if (c->part == 1)
		return 0;
	/* The SOAP part said which document this cid carries: the part must be that one. */
	if (c->expect[0] && part10_sop_uid(c->head, c->head_len, uid, sizeof(uid)) == 0 &&
	    strcmp(uid, c->expect) != 0) {
		log_error("POST %s: the part for document %s holds instance %s", c->url, c->expect,
			  uid);
		return -EIO;
	}
	return c->sink->ops->end(c->sink->ctx);
}

static const struct mp_callbacks rad69_mp = {r_begin, r_data, r_end};

static int r_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct rad69_call *c = ctx;
	char boundary[128];
	int err;

	if (!c->mp && !c->soap_only) {
		if (mp_boundary_from_content_type(resp->content_type, boundary, sizeof(boundary)) ==
		    0) {
			c->mp = mp_parser_new(boundary, &rad69_mp, c);
			if (!c->mp)
				return -ENOMEM;
		} else if (strstr(resp->content_type, "xml")) {
			c->soap_only = true; /* an error reply: SOAP alone */
		} else {
			log_error("POST %s: HTTP %ld with content type \"%s\", expected "
				  "multipart/related",
				  resp->url, resp->status, resp->content_type);
			return -EIO;
		}
	}
	if (c->soap_only)
		return soap_add(c, data, len);
	err = mp_parser_feed(c->mp, data, len);
	if (err == -EPROTO) {
		log_error("POST %s: malformed multipart body after %zu parts", resp->url,
			  mp_parser_parts(c->mp));
		return -EIO;
	}
	return err;
}

static bool is_missing(struct rad69_call *c, const char *uid)
{
	for (size_t i = 0; i < c->nmissing; i++)
		if (strcmp(c->missing[i], uid) == 0)
			return true;
	return false;
}

static int rad69_fetch(struct downloader *d, const struct instance_ref *ref, struct sink *sink,
		       struct errors_detail *why)
{
	struct rad69 *r = (struct rad69 *)d;
	struct rad69_call c = {.r = r, .sink = sink};
	char safe[2048];
	struct buf req;
	long status = 0;
	int err;

	if (!query_uid_is_valid(ref->study_uid) || !query_uid_is_valid(ref->series_uid) ||
	    (ref->sop_uid && !query_uid_is_valid(ref->sop_uid)))
		return -EINVAL;
	if (!ref->sop_uid && !ref->nmembers)
		return -ENOTSUP; /* RAD-69 names every document */
	for (size_t i = 0; !ref->sop_uid && i < ref->nmembers; i++)
		if (!query_uid_is_valid(ref->members[i]))
			return -EINVAL;
	c.url = log_redact_url(r->url, safe, sizeof(safe));
	buf_init(&req, 64u << 20);
	buf_init(&c.soap, RAD69_SOAP_MAX);
	err = build_request(r, ref, &req);
	if (err)
		goto out;
	err = http_post(r->http, HTTP_BULK, r->url,
			"application/soap+xml; charset=utf-8; "
			"action=\"urn:ihe:rad:2009:RetrieveImagingDocumentSet\"",
			req.data, req.len, "multipart/related, application/soap+xml", r_body, &c,
			&status, why);
	if (err)
		goto out;
	if (c.mp) {
		err = mp_parser_finish(c.mp);
		if (err) {
			log_error("POST %s: HTTP %ld, multipart body truncated after %zu parts",
				  safe, status, mp_parser_parts(c.mp));
			err = -EIO;
			goto out;
		}
		if (c.part <= 1)
			parse_soap(&c);
	} else {
		parse_soap(&c);
	}
	if (c.nmissing) {
		/* Partial success: the rest was served; the missing ones fail on their own. */
		if (r->ignore_missing)
			log_info("POST %s: %zu documents missing (XDSMissingDocument, ignored)",
				 safe, c.nmissing);
		else
			for (size_t i = 0; i < c.nmissing; i++)
				log_error("POST %s: document %s is missing (XDSMissingDocument)",
					  safe, c.missing[i]);
	}
	if (c.other_errors)
		err = -EIO;
	else if (ref->sop_uid && is_missing(&c, ref->sop_uid))
		err = -ENOENT;
	else if (c.soap_only && !c.nmissing) {
		log_error("POST %s: HTTP %ld, a SOAP reply without documents or errors", safe,
			  status);
		err = -EIO;
	}
out:
	mp_parser_free(c.mp);
	map_release(&c.map);
	for (size_t i = 0; i < c.nmissing; i++)
		free(c.missing[i]);
	free(c.missing);
	buf_release(&c.soap);
	buf_release(&req);
	return err;
}

static void rad69_free(struct downloader *d)
{
	struct rad69 *r = (struct rad69 *)d;

	free(r->url);
	free(r->transfer_syntax);
	free(r);
}

static const struct downloader_ops rad69_ops = {
	.name = "rad69",
	.fetches_series = true,
	.fetch = rad69_fetch,
	.free = rad69_free,
};

int rad69_new(const struct proto_config *cfg, struct downloader **out)
{
	struct rad69 *r;

	const char *url = proto_config_text(cfg, "rad69");

	if (!url || !cfg->http)
		return -EINVAL;
	if (cfg->transfer_syntax && !query_uid_is_valid(cfg->transfer_syntax))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.ops = &rad69_ops;
	r->http = cfg->http;
	r->ignore_missing = proto_config_text(cfg, "rad69_ignore") != NULL;
	r->url = strdup(url);
	r->transfer_syntax = cfg->transfer_syntax ? strdup(cfg->transfer_syntax) : NULL;
	if (!r->url || (cfg->transfer_syntax && !r->transfer_syntax)) {
		rad69_free(&r->base);
		return -ENOMEM;
	}
	*out = &r->base;
	return 0;
}

static const struct proto_option rad69_options[] = {
	{"rad69", PROTO_OPT_URL, PROTO_OPT_AUTH_BASE,
	 "rad69=URL               RAD-69 service (for downloader=rad69)"},
	{"rad69_ignore", PROTO_OPT_TEXT, 0,
	 "rad69_ignore=XDSMissingDocument  missing documents without error lines"},
};

static const struct proto_downloader rad69_downloaders[] = {{
	.name = "rad69",
	.make = rad69_new,
	.url = "rad69",
	.url_required = true,
}};

static int rad69_check(const struct proto_choice *c)
{
	const char *ignore = proto_text(c->settings, "rad69_ignore");

	if (ignore && strcmp(ignore, "XDSMissingDocument") != 0) {
		fprintf(stderr,
			"mount.trolley: rad69_ignore=%s: only XDSMissingDocument can be "
			"ignored\n",
			ignore);
		return -EINVAL;
	}
	return 0;
}

const struct protocol rad69_protocol = {
	.name = "RAD-69",
	.options = rad69_options,
	.noptions = sizeof(rad69_options) / sizeof(rad69_options[0]),
	.downloaders = rad69_downloaders,
	.ndownloaders = 1,
	.check = rad69_check,
};
