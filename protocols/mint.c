/* MINT: a query becomes GET {base}/studies?patientName=..&queryLevel=..; series and instances
 * come nested in their study (queryLevel=SERIES/INSTANCE with studyInstanceUID), and are
 * flattened here. The parameter names are MINT's (camelCase); a field MINT cannot search is
 * refused by check(), never silently dropped. */
#include "protocols/mint.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/tags.h"
#include "protocols/http.h"

#define MINT_NS	       "http://medical.nema.org/mint"
#define MINT_REPLY_MAX (256u << 20)

struct mint {
	struct searcher base;
	struct http *http;
	char *url;
};

/* The study-level fields MINT searches, with its parameter names. */
struct mint_field {
	uint32_t tag;
	const char *param;
};

/* clang-format off */
static const struct mint_field mint_fields[] = {
	{TAG_StudyInstanceUID, "studyInstanceUID"},
	{TAG_AccessionNumber, "accessionNumber"},
	{TAG_PatientName, "patientName"},
	{TAG_PatientID, "patientID"},
	{TAG_ModalitiesInStudy, "modalitiesInStudy"},
	{0x00080080u, "institutionName"},
	{TAG_PatientSex, "patientSex"},
	{TAG_StudyDescription, "studyDescription"},
	{0x00081040u, "institutionalDepartmentName"},
	{TAG_PatientBirthDate, "patientBirthDate"},
	{TAG_StudyDate, NULL}, /* minStudyDate and maxStudyDate */
};
/* clang-format on */

static const struct mint_field *mint_field(uint32_t tag)
{
	for (size_t i = 0; i < sizeof(mint_fields) / sizeof(mint_fields[0]); i++)
		if (mint_fields[i].tag == tag)
			return &mint_fields[i];
	return NULL;
}

static bool is_mint(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0 &&
	       (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, MINT_NS) == 0);
}

/* The <attr tag= vr= val=> children of @n into @set; children may come in any order. */
static int read_attrs(const xmlNode *n, struct attrset *set)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		xmlChar *tag, *vr, *val;
		unsigned long t;
		char *end;
		int err = 0;

		if (!is_mint(c, "attr"))
			continue;
		tag = xmlGetProp(c, (const xmlChar *)"tag");
		vr = xmlGetProp(c, (const xmlChar *)"vr");
		val = xmlGetProp(c, (const xmlChar *)"val"); /* absent: an empty value */
		t = tag ? strtoul((const char *)tag, &end, 16) : 0;
		if (!tag || strlen((const char *)tag) != 8 || *end)
			err = -EIO;
		else
			err = attrset_set(set, (uint32_t)t, vr ? (const char *)vr : "",
					  val ? (const char *)val : "");
		xmlFree(tag);
		xmlFree(vr);
		xmlFree(val);
		if (err)
			return err;
	}
	return 0;
}

/* Add a set holding @own merged over @parent to @out. */
static int emit(struct attrset_list *out, const struct attrset *own, const struct attrset *parent)
{
	struct attrset *s = attrset_list_add(out);

	if (!s || attrset_copy(s, own) < 0 || (parent && attrset_merge(s, parent) < 0))
		return -ENOMEM;
	return 0;
}

static int walk_series(const xmlNode *study, const struct attrset *sa, enum mint_level level,
		       struct attrset_list *out)
{
	int err = 0;

	for (const xmlNode *se = study->children; se && !err; se = se->next) {
		struct attrset ra;

		if (!is_mint(se, "series"))
			continue;
		attrset_init(&ra);
		err = read_attrs(se, &ra);
		if (!err)
			err = attrset_merge(&ra, sa);
		if (!err && level == MINT_SERIES)
			err = emit(out, &ra, NULL);
		for (const xmlNode *in = se->children; !err && level == MINT_INSTANCE && in;
		     in = in->next) {
			struct attrset ia;

			if (!is_mint(in, "instance"))
				continue;
			attrset_init(&ia);
			err = read_attrs(in, &ia);
			if (!err)
				err = emit(out, &ia, &ra);
			attrset_release(&ia);
		}
		attrset_release(&ra);
	}
	return err;
}

int mint_parse(const char *xml, size_t len, enum mint_level level, struct attrset_list *out)
{
	struct attrset_list tmp;
	const xmlNode *root;
	xmlDoc *doc;
	int err = 0;

	/* Vitrea's prolog says encoding='UTF-3' (sic), which libxml2 refuses even with an
	 * encoding given to xmlReadMemory: skip the declaration and read UTF-8, the default. */
	if (len > 5 && memcmp(xml, "<?xml", 5) == 0) {
		const char *end = memmem(xml, len, "?>", 2);

		if (end) {
			len -= (size_t)(end + 2 - xml);
			xml = end + 2;
		}
	}
	if (len > MINT_REPLY_MAX)
		return -EIO;
	doc = xmlReadMemory(xml, (int)len, "mint.xml", "UTF-8",
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -EIO;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_mint(root, "studySearchResults")) {
		xmlFreeDoc(doc);
		return -EIO;
	}
	attrset_list_init(&tmp);
	for (const xmlNode *st = root->children; st && !err; st = st->next) {
		struct attrset sa;

		if (!is_mint(st, "study"))
			continue;
		attrset_init(&sa);
		err = read_attrs(st, &sa);
		if (!err && level == MINT_STUDY)
			err = emit(&tmp, &sa, NULL);
		else if (!err)
			err = walk_series(st, &sa, level, &tmp);
		attrset_release(&sa);
	}
	xmlFreeDoc(doc);
	if (!err)
		err = attrset_list_append(out, &tmp);
	attrset_list_release(&tmp);
	return err;
}

static int mint_on_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct buf *b = ctx;
	int err = buf_add(b, data, len);

	if (err == -E2BIG) {
		log_error("GET %s: reply larger than %u MiB", resp->url, MINT_REPLY_MAX >> 20);
		return -EIO;
	}
	return err;
}

static int add_param(struct buf *url, const char *key, const char *value)
{
	char *esc = http_escape(value);
	int err;

	if (!esc)
		return -ENOMEM;
	err = buf_printf(url, "%c%s=%s", strchr(url->data, '?') ? '&' : '?', key, esc);
	free(esc);
	return err;
}

static int mint_check(struct searcher *s, const struct query *q, char *why, size_t n)
{
	(void)s;
	for (size_t i = 0; i < q->match.n; i++) {
		uint32_t tag = q->match.v[i].tag;

		if (mint_field(tag) || tag == TAG_SeriesInstanceUID)
			continue;
		snprintf(why, n, "MINT cannot search %s", tags_keyword(tag) ?: "that attribute");
		return -EINVAL;
	}
	if (q->offset) {
		snprintf(why, n, "MINT has no offset");
		return -EINVAL;
	}
	return 0;
}

/* MINT wants both ends of a date range: open ends become the widest dates. */
static int add_date_range(struct buf *url, const char *v)
{
	char lo[16] = "19000101", hi[16] = "99991231";
	const char *dash = strchr(v, '-');
	int err;

	if (!dash) {
		snprintf(lo, sizeof(lo), "%.8s", v);
		snprintf(hi, sizeof(hi), "%.8s", v);
	} else {
		if (dash != v)
			snprintf(lo, sizeof(lo), "%.*s", (int)(dash - v) < 8 ? (int)(dash - v) : 8,
				 v);
		if (dash[1])
			snprintf(hi, sizeof(hi), "%.8s", dash + 1);
	}
	err = add_param(url, "minStudyDate", lo);
	return err ? err : add_param(url, "maxStudyDate", hi);
}

static int mint_find(struct searcher *s, const struct query *q, struct attrset_list *out)
{
	static const char *const levels[] = {"STUDY", "SERIES", "INSTANCE"};
	struct mint *m = (struct mint *)s;
	const char *series = attrset_get(&q->match, TAG_SeriesInstanceUID);
	struct attrset_list all;
	char why[128], safe[2048], num[32];
	struct buf url, body;
	long status = 0;
	int err = 0;

	if (mint_check(s, q, why, sizeof(why)) < 0) {
		log_error("%s", why);
		return -EINVAL;
	}
	buf_init(&url, 64 << 10);
	buf_init(&body, MINT_REPLY_MAX);
	attrset_list_init(&all);
	err |= buf_printf(&url, "%s/studies", m->url);
	for (size_t i = 0; i < q->match.n && !err; i++) {
		const struct mint_field *f = mint_field(q->match.v[i].tag);

		if (!f)
			continue; /* SeriesInstanceUID: filtered below */
		if (f->tag == TAG_StudyDate)
			err = add_date_range(&url, q->match.v[i].value);
		else
			err = add_param(&url, f->param, q->match.v[i].value);
	}
	if (!err)
		err = add_param(&url, "queryLevel", levels[q->level]);
	if (!err && q->limit > 0) {
		snprintf(num, sizeof(num), "%ld", q->limit);
		err = add_param(&url, "limit", num);
	}
	if (err) {
		err = -ENOMEM;
		goto out;
	}
	err = http_get(m->http, HTTP_QUERY, url.data, "application/xml", mint_on_body, &body,
		       &status);
	if (err)
		goto out;
	err = mint_parse(body.data ? body.data : "", body.len, (enum mint_level)q->level, &all);
	if (err == -EIO) {
		log_error(
			"GET %s: HTTP %ld but the body is not MINT studySearchResults (%zu bytes)",
			log_redact_url(url.data, safe, sizeof(safe)), status, body.len);
		goto out;
	}
	for (size_t i = 0; i < all.n && !err; i++) {
		struct attrset *dst;

		if (series && strcmp(attrset_str(&all.v[i], TAG_SeriesInstanceUID), series) != 0)
			continue;
		dst = attrset_list_add(out);
		if (!dst)
			err = -ENOMEM;
		else
			*dst = all.v[i], attrset_init(&all.v[i]);
	}
out:
	attrset_list_release(&all);
	buf_release(&body);
	buf_release(&url);
	return err;
}

static void mint_free(struct searcher *s)
{
	struct mint *m = (struct mint *)s;

	free(m->url);
	free(m);
}

static const struct searcher_ops mint_ops = {
	.name = "mint",
	.find = mint_find,
	.check = mint_check,
	.free = mint_free,
};

int mint_new(const struct proto_config *cfg, struct searcher **out)
{
	struct mint *m;
	size_t n;

	if (!cfg->mint_url || !cfg->http)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base.ops = &mint_ops;
	m->http = cfg->http;
	m->url = strdup(cfg->mint_url);
	if (!m->url) {
		free(m);
		return -ENOMEM;
	}
	n = strlen(m->url);
	while (n && m->url[n - 1] == '/')
		m->url[--n] = '\0';
	*out = &m->base;
	return 0;
}
