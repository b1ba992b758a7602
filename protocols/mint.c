/* MINT: a query becomes GET {base}/studies?patientName=..&queryLevel=..; series and instances
 * come nested in their study (queryLevel=SERIES/INSTANCE with studyInstanceUID), and are
 * flattened here. The parameter names are MINT's (camelCase); a field MINT cannot search is
 * refused by check(), never silently dropped. */
#include "protocols/mint.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/tags.h"
#include "protocols/http.h"
#include "protocols/protocol.h"

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

/* A reply is read with libxml2's streaming reader (xmlTextReader), never as a DOM tree: the
 * tree cost ~14 bytes per byte (bench/mint_memory.c: a 32 MiB reply added 452 MiB), the
 * reader holds one study's attribute sets at a time. A study's own attributes may come after
 * its series (Vitrea sends them so), so a study is flattened when it ends. */

/* What an open element is; only these nestings count, anything else is skipped whole. */
enum mint_kind { K_OTHER, K_ROOT, K_STUDY, K_SERIES, K_INSTANCE };

/* libxml2 refuses documents deeper than 256 levels without XML_PARSE_HUGE. */
#define MINT_DEPTH_MAX 260

/* The study being read: its own attributes, its series' own, its instances' own and the
 * series each is in. */
struct mint_study {
	struct attrset own;
	struct attrset_list series, instances;
	size_t *instance_series;
	size_t instance_cap;
};

static void mint_study_release(struct mint_study *st)
{
	attrset_release(&st->own);
	attrset_list_release(&st->series);
	attrset_list_release(&st->instances);
	free(st->instance_series);
	memset(st, 0, sizeof(*st));
}

static bool is_mint(xmlTextReaderPtr r, const char *name)
{
	const xmlChar *local = xmlTextReaderConstLocalName(r);
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(r);

	return local && strcmp((const char *)local, name) == 0 &&
	       (!ns || strcmp((const char *)ns, MINT_NS) == 0);
}

/* An <attr tag= vr= val=> element into @set. */
static int read_attr(xmlTextReaderPtr r, struct attrset *set)
{
	xmlChar *tag = xmlTextReaderGetAttribute(r, (const xmlChar *)"tag");
	xmlChar *vr = xmlTextReaderGetAttribute(r, (const xmlChar *)"vr");
	xmlChar *val = xmlTextReaderGetAttribute(r, (const xmlChar *)"val"); /* absent: empty */
	unsigned long t;
	char *end;
	int err;

	t = tag ? strtoul((const char *)tag, &end, 16) : 0;
	if (!tag || strlen((const char *)tag) != 8 || *end)
		err = -EIO;
	else
		err = attrset_set(set, (uint32_t)t, vr ? (const char *)vr : "",
				  val ? (const char *)val : "");
	xmlFree(tag);
	xmlFree(vr);
	xmlFree(val);
	return err;
}

/* Add a set holding @own merged over @parent to @out. */
static int emit(struct attrset_list *out, const struct attrset *own, const struct attrset *parent)
{
	struct attrset *s = attrset_list_add(out);

	if (!s || attrset_copy(s, own) < 0 || (parent && attrset_merge(s, parent) < 0))
		return -ENOMEM;
	return 0;
}

/* A study has ended: its sets, each with its parents' attributes, at @level into @out. */
static int flatten_study(struct mint_study *st, enum mint_level level, struct attrset_list *out)
{
	int err = 0;

	if (level == MINT_STUDY)
		return emit(out, &st->own, NULL);
	for (size_t i = 0; i < st->series.n && !err; i++)
		err = attrset_merge(&st->series.v[i], &st->own);
	for (size_t i = 0; i < st->series.n && !err && level == MINT_SERIES; i++)
		err = emit(out, &st->series.v[i], NULL);
	for (size_t i = 0; i < st->instances.n && !err && level == MINT_INSTANCE; i++)
		err = emit(out, &st->instances.v[i], &st->series.v[st->instance_series[i]]);
	return err < 0 ? -ENOMEM : err;
}

/* A new element of @kind opens inside the study being read. */
static int open_in_study(struct mint_study *st, enum mint_kind kind)
{
	if (kind == K_SERIES)
		return attrset_list_add(&st->series) ? 0 : -ENOMEM;
	if (st->instances.n == st->instance_cap) {
		size_t cap = st->instance_cap ? 2 * st->instance_cap : 64;
		size_t *v = realloc(st->instance_series, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		st->instance_series = v;
		st->instance_cap = cap;
	}
	if (!attrset_list_add(&st->instances))
		return -ENOMEM;
	st->instance_series[st->instances.n - 1] = st->series.n - 1;
	return 0;
}

/* An element starts at @depth, inside one of @parent kind: what it is, and what it does. */
static int mint_start(xmlTextReaderPtr r, enum mint_kind parent, int depth, struct mint_study *st,
		      enum mint_kind *kind)
{
	*kind = K_OTHER;
	if (depth == 0) {
		if (!is_mint(r, "studySearchResults"))
			return -EIO;
		*kind = K_ROOT;
		return 0;
	}
	if (parent == K_ROOT && is_mint(r, "study")) {
		*kind = K_STUDY;
		mint_study_release(st);
		return 0;
	}
	if ((parent == K_STUDY && is_mint(r, "series")) ||
	    (parent == K_SERIES && is_mint(r, "instance"))) {
		*kind = parent == K_STUDY ? K_SERIES : K_INSTANCE;
		return open_in_study(st, *kind);
	}
	if (is_mint(r, "attr")) {
		if (parent == K_STUDY)
			return read_attr(r, &st->own);
		if (parent == K_SERIES)
			return read_attr(r, &st->series.v[st->series.n - 1]);
		if (parent == K_INSTANCE)
			return read_attr(r, &st->instances.v[st->instances.n - 1]);
	}
	return 0;
}

static int mint_read(xmlTextReaderPtr r, enum mint_level level, struct attrset_list *out)
{
	enum mint_kind kinds[MINT_DEPTH_MAX] = {K_OTHER};
	struct mint_study st = {0};
	bool root = false;
	int rc, err = 0;

	while (!err && (rc = xmlTextReaderRead(r)) == 1) {
		int type = xmlTextReaderNodeType(r), depth = xmlTextReaderDepth(r);
		enum mint_kind kind = K_OTHER;

		if (depth < 0 || depth >= MINT_DEPTH_MAX) {
			err = -EIO;
			break;
		}
		if (type == XML_READER_TYPE_ELEMENT) {
			enum mint_kind parent = depth ? kinds[depth - 1] : K_OTHER;

			if (parent != K_OTHER || depth == 0)
				err = mint_start(r, parent, depth, &st, &kind);
			kinds[depth] = kind;
			root = root || kind == K_ROOT;
			if (err || !xmlTextReaderIsEmptyElement(r))
				continue;
			/* <study/>: no end element follows. */
			type = XML_READER_TYPE_END_ELEMENT;
		}
		if (type == XML_READER_TYPE_END_ELEMENT && kinds[depth] == K_STUDY) {
			err = flatten_study(&st, level, out);
			mint_study_release(&st);
		}
	}
	if (!err && (rc != 0 || !root))
		err = -EIO; /* malformed XML, or no root */
	mint_study_release(&st);
	return err;
}

int mint_parse(const char *xml, size_t len, enum mint_level level, struct attrset_list *out)
{
	struct attrset_list tmp;
	xmlTextReaderPtr r;
	int err;

	/* Vitrea's prolog says encoding='UTF-3' (sic), which libxml2 refuses even with an
	 * encoding given to the reader: skip the declaration and read UTF-8, the default. */
	if (len > 5 && memcmp(xml, "<?xml", 5) == 0) {
		const char *end = memmem(xml, len, "?>", 2);

		if (end) {
			len -= (size_t)(end + 2 - xml);
			xml = end + 2;
		}
	}
	if (len == 0 || len > MINT_REPLY_MAX)
		return -EIO;
	r = xmlReaderForMemory(xml, (int)len, "mint.xml", "UTF-8",
			       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!r)
		return -ENOMEM;
	attrset_list_init(&tmp);
	err = mint_read(r, level, &tmp);
	xmlFreeTextReader(r);
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

static int mint_find(struct searcher *s, const struct query *q, struct attrset_list *out,
		     struct errors_detail *why)
{
	static const char *const levels[] = {"STUDY", "SERIES", "INSTANCE"};
	struct mint *m = (struct mint *)s;
	const char *series = attrset_get(&q->match, TAG_SeriesInstanceUID);
	struct attrset_list all;
	char refusal[128], safe[2048], num[32];
	struct buf url, body;
	long status = 0;
	int err = 0;

	if (mint_check(s, q, refusal, sizeof(refusal)) < 0) {
		log_error("%s", refusal);
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
		       &status, why);
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

	const char *url = proto_config_text(cfg, "mint");

	if (!url || !cfg->http)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base.ops = &mint_ops;
	m->http = cfg->http;
	m->url = strdup(url);
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

/* What a template may name: MINT answers a fixed summary and has no includefield. */
static const uint32_t mint_returns_study[] = {
	TAG_StudyInstanceUID, TAG_StudyDate,   TAG_StudyTime, TAG_StudyDescription,
	TAG_AccessionNumber,  TAG_PatientName, TAG_PatientID, TAG_ModalitiesInStudy,
};
static const uint32_t mint_returns_series[] = {
	TAG_StudyInstanceUID,  TAG_SeriesInstanceUID, TAG_SeriesNumber, TAG_Modality,
	TAG_SeriesDescription, TAG_SeriesDate,	      TAG_SeriesTime,
};
static const uint32_t mint_returns_instance[] = {
	TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SOPInstanceUID, TAG_InstanceNumber,
	TAG_SOPClassUID,      TAG_ContentDate,	     TAG_ContentTime,	 TAG_Rows,
	TAG_Columns,	      TAG_NumberOfFrames,
};

static const struct proto_option mint_options[] = {
	{"mint", PROTO_OPT_URL, 0, "mint=URL                MINT base URL (for searcher=mint)"},
};

static const struct proto_searcher mint_searchers[] = {{
	.name = "mint",
	.make = mint_new,
	.flags = PROTO_SEARCH_SERIES_AT_INSTANCE,
	.returns = {mint_returns_study, mint_returns_series, mint_returns_instance},
	.nreturns = {sizeof(mint_returns_study) / sizeof(uint32_t),
		     sizeof(mint_returns_series) / sizeof(uint32_t),
		     sizeof(mint_returns_instance) / sizeof(uint32_t)},
	.url = "mint",
	.url_required = true,
}};

static const char *const mint_from_source[] = {"mint", NULL};

/* mint+http[s]://: MINT searches; downloads go to RAD-69 or WADO-URI, whichever is given. */
static const struct proto_scheme mint_scheme = {
	.prefix = {"mint+http://", "mint+https://"},
	.web_after = "mint+",
	.what = "a mint+http[s]:// URL",
	.usage = "mint+http[s]://host/path/mint (MINT search; rad69= or wado_uri= download)",
	.from_source = mint_from_source,
	.searcher = "mint",
	.downloaders = {"rad69", "wado-uri"},
	.no_downloader = "a mint+http source needs rad69=URL or wado_uri=URL for downloads",
};

const struct protocol mint_protocol = {
	.name = "MINT",
	.scheme = &mint_scheme,
	.options = mint_options,
	.noptions = sizeof(mint_options) / sizeof(mint_options[0]),
	.searchers = mint_searchers,
	.nsearchers = 1,
};
