/* QIDO-RS: a query becomes GETs of one page each; the DICOM JSON replies become attribute sets.
 * The parent UIDs go in the path (the hierarchical resources of PS3.18 §10.6.1), every other
 * match key in the query string, and the attributes we name folders by are asked for with
 * includefield, since the default return set leaves some out (StudyDescription is not in Table
 * 6.7.1-2). Archives cap answers, so every query pages with limit and offset (PS3.18, Query
 * Result Pagination) until the archive has no more (is_last_page()). */
#include "protocols/qido_rs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/tags.h"
#include "protocols/dicom_json.h"
#include "protocols/http.h"
#include "protocols/protocol.h"

/* The biggest reply we read. A page of 100 is ~75 KiB of JSON for studies and ~170 KiB for
 * instances (Orthanc sends every attribute: 1.7 KiB each, measured), page_size=5000 instances
 * ~8 MiB. A reply is read one result at a time as it arrives (dicom_json_reader), so it costs
 * the attribute sets it yields plus one result's text and cJSON tree. Measured with
 * bench/json_memory.c on a 16 MiB page of study results (20,133 of them): the whole page as one
 * cJSON tree added 162 MiB to the 16 MiB body it was parsed from; read one result at a time it
 * adds 17 MiB, the sets themselves, and the body is no longer held whole. In the daemon (an
 * optimised build, RssAnon sampled from /proc), listing a 16 MiB page of 13,258 results of 32
 * short attributes peaked at 235 MiB before, 46 MiB now. The cap stays for a reply that
 * ignored limit: its sets still cost memory. */
#define QIDO_REPLY_MAX (16u << 20)
/* One result (one data set): QIDO returns a few dozen attributes, ~2 KiB. */
#define QIDO_RESULT_MAX (1u << 20)

/* The page every archive serves whole. Archives cap what one request returns, and not always
 * with the Warning header: Microsoft's DICOM server (Azure) answers at most 200, and a limit
 * above that gets its default of 100 without a word (QueryLimit.cs: MaxQueryResultCount 200,
 * DefaultQueryResultCount 100). 100 is a page every archive we know serves whole, so an
 * unmarked page shorter than that is the last one. page_size= changes it. */
#define QIDO_PAGE_DEFAULT 100
#define QIDO_PAGE_MAX	  5000
/* What a request asks for when page_size= is not given: more than the safe page, so an archive
 * that serves it whole answers a listing in one page, and a page of QIDO_PAGE_DEFAULT or more
 * that comes back short may be a silent cap, so the next page is asked (an empty page ends the
 * listing; where the folder above counted its children, the page that reaches that count does,
 * with no page after it). Measured on Orthanc 1.10 (DICOMweb 1.7) for a 2,000-instance series: pages of 100
 * took 21 requests and 0.91 s (1.37 s at a 20 ms round trip), one page and the empty one after
 * it 0.55 s, one unpaged request 0.52 s. Asking 4 pages of 100 at once instead gained little
 * (0.84 s; 1.06 s at 20 ms): Orthanc answers one request at a time. On an archive with a
 * silent cap (Azure) the requests are what pages of 100 make; on one that marks its cap, one
 * per cap instead of one per 100. 5000 instances of Orthanc's 1.6 KiB are 8 MiB: a reply over
 * QIDO_REPLY_MAX to such a request is asked again in pages of page_size. */
#define QIDO_ASK_DEFAULT 5000

struct qido {
	struct searcher base;
	struct http *http;
	char *url;
	long page_size; /* an unmarked page shorter than this is the last */
	long ask;	/* results asked per request: page_size if the user set it */
};

/* With the counts of what a study or series holds (in the default return set of PS3.18 Tables
 * 6.7.1-2 and -2a, so asked for only to be sure): the listing of its children then knows when it
 * has them all (query.expect). Orthanc counts them from its index, without reading a file. */
static const uint32_t qido_study_fields[] = {TAG_StudyDescription,
					     TAG_StudyDate,
					     TAG_StudyTime,
					     TAG_AccessionNumber,
					     TAG_PatientName,
					     TAG_PatientID,
					     TAG_ModalitiesInStudy,
					     TAG_NumberOfStudyRelatedSeries,
					     TAG_NumberOfStudyRelatedInstances};
static const uint32_t qido_series_fields[] = {
	TAG_SeriesDescription, TAG_SeriesNumber, TAG_Modality,
	TAG_SeriesDate,	       TAG_SeriesTime,	 TAG_NumberOfSeriesRelatedInstances};
/* With the series' own attributes: an instance query over a whole study (the flat layout) must
 * say which series each instance is in. What they cost, measured on Orthanc 1.10 + DICOMweb 1.7
 * for 2,000 instances: nothing. It reads every file for an instance query whatever is asked
 * and sends every attribute (3.1 MB, ~0.5 s with these, with none, or with one main DICOM tag
 * only); they keep names, size estimates, mtimes and xattrs right where an archive sends only
 * what is asked. */
static const uint32_t qido_instance_fields[] = {
	TAG_InstanceNumber, TAG_ContentDate,	   TAG_ContentTime,    TAG_Rows,
	TAG_Columns,	    TAG_BitsAllocated,	   TAG_NumberOfFrames, TAG_SamplesPerPixel,
	TAG_SeriesNumber,   TAG_SeriesInstanceUID, TAG_Modality};

struct qido_reply {
	struct dicom_json_reader reader;
	size_t bytes;
	long status;
	int bad_type;
	bool more; /* "Warning: 299 {service}: There are additional results that can be requested" */
	bool may_shrink; /* a reply too big is -EFBIG, asked again in smaller pages */
	struct errors_detail *why; /* the page's */
};

/* @whole: the reply is over (else http.c adds the URL and status to @r->why: it ends it). */
static void qido_refuse(struct qido_reply *r, const char *url, bool whole)
{
	char why[128], where[2048 + 8], st[32];

	dicom_json_reader_why(&r->reader, why, sizeof(why));
	log_error("GET %s: HTTP %ld but the body is not a DICOM JSON array (%zu bytes: %s)", url,
		  r->status, r->bytes, why);
	snprintf(where, sizeof(where), "GET %s", url);
	snprintf(st, sizeof(st), "HTTP %ld", r->status);
	errors_detail_set(r->why, whole ? where : "", whole ? st : "",
			  "the body is not a DICOM JSON array (%zu bytes: %s)", r->bytes, why);
}

static int qido_on_body(void *ctx, const struct http_response *resp, const void *data, size_t len)
{
	struct qido_reply *r = ctx;
	int err;

	/* An HTML error page with status 200 is a broken reply, not an empty result. */
	if (r->bytes == 0 && resp->content_type[0] && !strstr(resp->content_type, "json")) {
		log_error("GET %s: HTTP %ld with content type \"%s\", expected "
			  "application/dicom+json",
			  resp->url, resp->status, resp->content_type);
		r->bad_type = 1;
		return -EIO;
	}
	/* PS3.18: "299 {service}: There are additional results that can be requested" (dcm4chee:
	 * "There are N additional results ..."): the answer was cut. Other 299s (fuzzymatching
	 * not supported) say nothing of that. */
	if (strstr(resp->warning, "additional results"))
		r->more = true;
	r->status = resp->status;
	if (len > QIDO_REPLY_MAX - r->bytes && r->may_shrink) {
		log_debug("GET %s: reply larger than %u MiB: asking in smaller pages", resp->url,
			  QIDO_REPLY_MAX >> 20);
		return -EFBIG;
	}
	if (len > QIDO_REPLY_MAX - r->bytes) {
		log_error(
			"GET %s: reply larger than %u MiB: the archive may ignore limit; a smaller "
			"page_size= or a narrower search may do",
			resp->url, QIDO_REPLY_MAX >> 20);
		return -EIO;
	}
	r->bytes += len;
	err = dicom_json_reader_feed(&r->reader, data, len);
	if (err == -E2BIG) {
		log_error("GET %s: a result larger than %u MiB", resp->url, QIDO_RESULT_MAX >> 20);
		return -EIO;
	}
	if (err == -EIO)
		qido_refuse(r, resp->url, false);
	return err;
}

/* A UID from an archive's answer goes into a URL path only if it is one (PS3.5 §9.1): a study
 * UID "1.2.3/../../admin?x=" must not steer the request elsewhere with our credentials. */
static int check_path_uid(const char *keyword, const char *uid)
{
	char shown[256];

	if (query_uid_is_valid(uid))
		return 0;
	log_escape(uid, strlen(uid), shown, sizeof(shown));
	log_error("qido-rs: %s \"%s\" from the archive is not a valid UID: not requested", keyword,
		  shown);
	return -EIO;
}

static int add_param(struct buf *url, int *first, const char *key, const char *value)
{
	char *esc = http_escape(value);
	int err;

	if (!esc)
		return -ENOMEM;
	err = buf_printf(url, "%c%s=%s", *first ? '?' : '&', key, esc);
	*first = 0;
	free(esc);
	return err;
}

static int add_tag_param(struct buf *url, int *first, uint32_t tag, const char *value)
{
	const char *kw = tags_keyword(tag);
	char hex[9];

	if (!kw) {
		snprintf(hex, sizeof(hex), "%08X", tag);
		kw = hex;
	}
	return add_param(url, first, kw, value);
}

static int qido_build_url(struct qido *q, const struct query *query, long limit, long offset,
			  struct buf *url)
{
	const char *study = attrset_get(&query->match, TAG_StudyInstanceUID);
	const char *series = attrset_get(&query->match, TAG_SeriesInstanceUID);
	const uint32_t *fields;
	size_t nfields;
	int first = 1, err = 0;
	char num[32];

	if (query->level != QUERY_STUDY && study && check_path_uid("StudyInstanceUID", study))
		return -EIO;
	if (query->level == QUERY_INSTANCE && series && check_path_uid("SeriesInstanceUID", series))
		return -EIO;
	err |= buf_printf(url, "%s", q->url);
	switch (query->level) {
	case QUERY_STUDY:
		err |= buf_printf(url, "/studies");
		fields = qido_study_fields;
		nfields = sizeof(qido_study_fields) / sizeof(*fields);
		break;
	case QUERY_SERIES:
		if (!study)
			return -EINVAL;
		err |= buf_printf(url, "/studies/%s/series", study);
		fields = qido_series_fields;
		nfields = sizeof(qido_series_fields) / sizeof(*fields);
		break;
	case QUERY_INSTANCE:
		if (!study)
			return -EINVAL;
		if (series)
			err |= buf_printf(url, "/studies/%s/series/%s/instances", study, series);
		else
			err |= buf_printf(url, "/studies/%s/instances", study);
		fields = qido_instance_fields;
		nfields = sizeof(qido_instance_fields) / sizeof(*fields);
		break;
	default:
		return -EINVAL;
	}
	for (size_t i = 0; i < query->match.n && !err; i++) {
		const struct attr *a = &query->match.v[i];

		/* UIDs that went into the path are not repeated as match keys. */
		if ((a->tag == TAG_StudyInstanceUID && query->level != QUERY_STUDY) ||
		    (a->tag == TAG_SeriesInstanceUID && query->level == QUERY_INSTANCE && series))
			continue;
		err = add_tag_param(url, &first, a->tag, a->value);
	}
	for (size_t i = 0; i < nfields && !err; i++) {
		snprintf(num, sizeof(num), "%08X", fields[i]);
		err = add_param(url, &first, "includefield", tags_keyword(fields[i]) ?: num);
	}
	for (size_t i = 0; i < query->ninclude && !err; i++) {
		snprintf(num, sizeof(num), "%08X", query->include[i]);
		err = add_param(url, &first, "includefield", num);
	}
	if (limit > 0 && !err) {
		snprintf(num, sizeof(num), "%ld", limit);
		err = add_param(url, &first, "limit", num);
	}
	if (offset > 0 && !err) {
		snprintf(num, sizeof(num), "%ld", offset);
		err = add_param(url, &first, "offset", num);
	}
	return err ? -ENOMEM : 0;
}

/* The UID that tells one result of @level from another. */
static uint32_t level_uid_tag(enum query_level level)
{
	return level == QUERY_STUDY    ? TAG_StudyInstanceUID
	       : level == QUERY_SERIES ? TAG_SeriesInstanceUID
				       : TAG_SOPInstanceUID;
}

/* Whether @page holds the same results, in the same order, as the @n sets of @prev: an archive
 * that ignores offset answers every page with its first. */
static bool same_page(const struct attrset *prev, size_t n, const struct attrset_list *page,
		      uint32_t tag)
{
	if (n != page->n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(attrset_str(&prev[i], tag), attrset_str(&page->v[i], tag)) != 0)
			return false;
	return true;
}

/* One page: GET @url, its JSON into @page, at most @room results kept (the rest of the page is
 * checked, not kept: *@overflow); *@more if the archive marked it cut. With @may_shrink, a
 * reply over QIDO_REPLY_MAX is -EFBIG (a smaller page may pass). */
static int qido_get_page(struct qido *q, const char *url, bool may_shrink, size_t room,
			 struct attrset_list *page, bool *more, bool *overflow,
			 struct http_validators *cond, struct errors_detail *why)
{
	struct qido_reply reply = {.may_shrink = may_shrink, .why = why};
	char safe[2048];
	int err;

	dicom_json_reader_init(&reply.reader, QIDO_RESULT_MAX);
	dicom_json_reader_limit(&reply.reader, room);
	if (cond)
		err = http_get_cond(q->http, HTTP_QUERY, url, "application/dicom+json", cond,
				    qido_on_body, &reply, &reply.status, why);
	else
		err = http_get(q->http, HTTP_QUERY, url, "application/dicom+json", qido_on_body,
			       &reply, &reply.status, why);
	if (err)
		goto out; /* also 1: not modified */
	/* 204 No Content, or 200 with "[]": nothing (more). */
	err = dicom_json_reader_finish(&reply.reader);
	if (err == -EIO) {
		qido_refuse(&reply, log_redact_url(url, safe, sizeof(safe)), true);
		goto out;
	}
	/* Issue 17: one lone surrogate ("\udcff") in one UID made the whole folder EIO. */
	if (!err && reply.reader.repairs)
		log_warn("GET %s: %zu malformed escapes in strings (a lone UTF-16 surrogate?) read "
			 "as U+FFFD",
			 log_redact_url(url, safe, sizeof(safe)), reply.reader.repairs);
	if (!err)
		err = attrset_list_append(page, &reply.reader.sets);
	*more = reply.more;
	*overflow = reply.reader.dropped > 0;
out:
	dicom_json_reader_release(&reply.reader);
	return err;
}

/* Pages asked at once once the archive has shown its cap and counted what there is: the offsets
 * of the pages to come are then known, and a capping archive (Azure's 100 a page) at a 20 ms
 * round trip costs a round trip per QIDO_AHEAD pages, not per page. Measured: `ls -l` of a
 * 2,000-instance series from an archive that answers 100 a request, at a 20 ms round trip,
 * 0.57 s one page after the other, 0.31 s four at a time. Each is a query like any other
 * (HTTP_QUERY): http.c's slots bound how many are in flight, whatever this says. */
#define QIDO_AHEAD 4

/* One page asked ahead, by a thread of its own that qido_find() joins before it reads it. Its
 * failure's detail is its own until the search takes the page (then the caller's). */
struct ahead {
	struct qido *q;
	char *url;
	long offset, want;
	bool may_shrink, more, overflow;
	size_t room; /* results the page may keep */
	int err;
	struct errors_detail why;
	struct attrset_list page;
	pthread_t thread;
	bool threaded;
};

static void *ahead_run(void *arg)
{
	struct ahead *a = arg;

	a->err = qido_get_page(a->q, a->url, a->may_shrink, a->room, &a->page, &a->more,
			       &a->overflow, NULL, &a->why);
	return NULL;
}

static void ahead_drop(struct ahead *v, size_t *n, size_t *next)
{
	for (size_t i = 0; i < *n; i++) {
		attrset_list_release(&v[i].page);
		free(v[i].url);
	}
	*n = *next = 0;
}

/* Ask up to QIDO_AHEAD pages of @cap results from @offset at once (the first on this thread),
 * as many as the archive's count @query->expect leaves after @got, none past the user's limit.
 * @return the number asked (their results in @v, each with its error), or -ENOMEM. */
static long ahead_ask(struct qido *q, const struct query *query, long ask, long offset, long got,
		      long cap, struct ahead *v)
{
	size_t n = 0;
	struct buf url;

	buf_init(&url, 64 << 10);
	for (long at = got; n < QIDO_AHEAD && at < query->expect; at += cap) {
		struct ahead *a = &v[n];
		long want = ask;

		if (query->limit > 0 && query->limit - at < want)
			want = query->limit - at;
		if (want <= 0)
			break;
		url.len = 0;
		if (qido_build_url(q, query, want, offset + (at - got), &url))
			break;
		/* The archive has shown its cap: a page ahead keeps no more than it asked (and
		 * one to see that it sent more), so QIDO_AHEAD hostile pages hold little. */
		*a = (struct ahead){.q = q,
				    .offset = offset + (at - got),
				    .want = want,
				    .room = (size_t)want + 1,
				    .may_shrink = want > q->page_size,
				    .url = strdup(url.data)};
		if (!a->url)
			break;
		attrset_list_init(&a->page);
		errors_detail_init(&a->why);
		n++;
	}
	buf_release(&url);
	if (n == 0)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++)
		v[i].threaded = pthread_create(&v[i].thread, NULL, ahead_run, &v[i]) == 0;
	ahead_run(&v[0]);
	for (size_t i = 1; i < n; i++) {
		if (v[i].threaded)
			pthread_join(v[i].thread, NULL);
		else
			ahead_run(&v[i]); /* no thread to be had: after the others, on this one */
	}
	return (long)n;
}

/* Whether a page of @n results, asked @want, is the last: empty, or short and unmarked. A short
 * page of page_size or more that asked for more than page_size may be a silent cap (Azure
 * answers 100 to a limit above 200): the next page is asked, and only an empty or a short one
 * below page_size ends the listing. */
static bool is_last_page(const struct qido *q, const struct query *query, long got, size_t n,
			 long want, bool more)
{
	if (n == 0)
		return true;
	if (more || (long)n == want)
		return false;
	/* Longer than asked: the archive ignores limit and sent all it has. */
	if ((long)n > want)
		return true;
	/* The archive's own count of what there is: short of it, the page was cut, whatever
	 * its length (Orthanc's LimitFindInstances cuts without a word); at it, the answer is
	 * whole, with no page asked to be sure. An empty page still ends a count that is
	 * wrong (an instance deleted since). */
	if (query->expect > 0)
		return got >= query->expect;
	return want <= q->page_size || (long)n < q->page_size;
}

/*
 * Page through the answer: ask for q->ask results at a time (never more than the user's limit
 * leaves), go on while a page comes back full, marked cut (an archive whose own cap is below
 * what was asked answers short pages with the warning: offset moves on by what came) or maybe
 * silently capped, or short of the archive's own count (is_last_page()), stop at the last page.
 * Once the archive has shown its cap and counted what there is, the pages to come are asked
 * QIDO_AHEAD at a time (ahead_ask()), each the very request this loop would make next. An archive that ignores offset
 * sends the same page again: that stops the paging with a warning instead of looping.
 */
static int qido_search(struct searcher *s, const struct query *query, struct http_validators *cond,
		       struct attrset_list *out, struct errors_detail *why)
{
	struct qido *q = (struct qido *)s;
	uint32_t uid_tag = level_uid_tag(query->level);
	long offset = query->offset > 0 ? query->offset : 0, got = 0, ask = q->ask, cap = 0;
	size_t first_start = out->n, first_n = 0, prev_start = out->n, prev_n = 0;
	struct ahead ahead[QIDO_AHEAD];
	size_t nahead = 0, next_ahead = 0;
	bool steady = true;    /* every short page so far had the same length: the cap */
	unsigned requests = 0; /* pages asked (or taken from those asked ahead) */
	char safe[2048];
	struct buf url;
	int err = 0;

	buf_init(&url, 64 << 10);
	for (;;) {
		struct attrset_list page;
		long want = ask;
		bool more = false, overflow = false;
		size_t n;

		if (query->limit > 0 && query->limit - got < want)
			want = query->limit - got;
		url.len = 0;
		err = qido_build_url(q, query, want, offset, &url);
		if (err)
			break;
		attrset_list_init(&page);
		/* A page asked ahead is the very request this one would be; one for another
		 * offset means the cap changed: those are dropped and paging goes on one by one. */
		if (next_ahead < nahead &&
		    (ahead[next_ahead].offset != offset || ahead[next_ahead].want != want)) {
			ahead_drop(ahead, &nahead, &next_ahead);
			steady = false;
		}
		if (next_ahead == nahead && nahead > 0)
			ahead_drop(ahead, &nahead, &next_ahead); /* all used: their URLs go */
		if (next_ahead == nahead && steady && cap > 0 && query->expect - got > cap) {
			long asked = ahead_ask(q, query, ask, offset, got, cap, ahead);

			if (asked > 0) {
				nahead = (size_t)asked;
				log_debug(
					"GET %s: %zu pages at once (the archive answers %ld a page "
					"and counted %ld)",
					log_redact_url(url.data, safe, sizeof(safe)), nahead, cap,
					query->expect);
			}
		}
		if (next_ahead < nahead) {
			struct ahead *a = &ahead[next_ahead++];

			requests++;

			page = a->page;
			attrset_list_init(&a->page);
			more = a->more;
			overflow = a->overflow;
			err = a->err;
			if (err)
				errors_detail_copy(why, &a->why);
		} else {
			/* Past SEARCHER_RESULTS_MAX nothing is kept: a page of tiny results is
			 * bounded while it is read (one more tells the answer goes on). */
			err = qido_get_page(q, url.data, want > q->page_size,
					    (size_t)(SEARCHER_RESULTS_MAX - got) + 1, &page, &more,
					    &overflow, requests++ == 0 ? cond : NULL, why);
		}
		if (err == -EFBIG) {
			/* Too big for one reply: this page again, and the rest, in safe pages. */
			attrset_list_release(&page);
			ask = q->page_size;
			continue;
		}
		if (err) {
			attrset_list_release(&page);
			break;
		}
		n = page.n;
		/* The page before, or the first (an archive that pages some way, then starts
		 * over): either again means offset is not honoured. */
		if (n > 0 && prev_n > 0 &&
		    (same_page(&out->v[prev_start], prev_n, &page, uid_tag) ||
		     same_page(&out->v[first_start], first_n, &page, uid_tag))) {
			log_warn("GET %s: the archive sent the same %zu results again: it ignores "
				 "offset, so the answer stops at %ld results and may be incomplete",
				 log_redact_url(url.data, safe, sizeof(safe)), n, got);
			out->incomplete = true;
			attrset_list_release(&page);
			break;
		}
		/* An archive that ignores limit sends more: keep only what the user asked for. */
		while (query->limit > 0 && (long)page.n > query->limit - got)
			attrset_release(&page.v[--page.n]);
		if (got + (long)page.n > SEARCHER_RESULTS_MAX) {
			while (got + (long)page.n > SEARCHER_RESULTS_MAX)
				attrset_release(&page.v[--page.n]);
			more = true;
			want = -1; /* stop below */
			log_warn("GET %s: more than %d results: the answer stops there and is "
				 "incomplete; a narrower search shows the rest",
				 log_redact_url(url.data, safe, sizeof(safe)),
				 SEARCHER_RESULTS_MAX);
			out->incomplete = true;
		} else if (overflow) {
			/* A page asked ahead that held more than it asked for: what it had past that
			 * was not read, so the answer stops here, and says so. */
			want = -1;
			log_warn("GET %s: more results than the %ld asked in one page: the rest of "
				 "the page was not read, and the answer is incomplete",
				 log_redact_url(url.data, safe, sizeof(safe)), ask);
			out->incomplete = true;
		}
		prev_start = out->n;
		prev_n = page.n;
		if (first_n == 0)
			first_n = page.n;
		err = attrset_list_append(out, &page);
		attrset_list_release(&page);
		if (err)
			break;
		got += (long)prev_n;
		offset += (long)prev_n;
		if (want < 0 || (query->limit > 0 && got >= query->limit) ||
		    is_last_page(q, query, got, n, want, more))
			break;
		/* A page short of what was asked, not the last, shows the archive's cap. */
		if ((long)n < want) {
			steady = steady && (cap == 0 || cap == (long)n);
			cap = (long)n;
			log_debug("GET %s: %zu results of %ld asked%s: asking on from offset %ld",
				  log_redact_url(url.data, safe, sizeof(safe)), n, want,
				  more ? ", marked as cut" : " (a cap?)", offset);
		}
	}
	ahead_drop(ahead, &nahead, &next_ahead);
	/* Validators name one reply: an answer of several (pages, a page asked again smaller)
	 * or a cut one is not revalidated by the first alone. */
	if (cond && err != 1 && (err || requests != 1 || out->incomplete))
		cond->etag[0] = cond->last_modified[0] = '\0';
	if (!err && query->expect > 0 && got < query->expect && !out->incomplete &&
	    (query->limit <= 0 || got < query->limit))
		log_info("%s query: %ld results where the archive counted %ld (some gone since?)",
			 query_level_name(query->level), got, query->expect);
	buf_release(&url);
	return err;
}

static int qido_find(struct searcher *s, const struct query *query, struct attrset_list *out,
		     struct errors_detail *why)
{
	return qido_search(s, query, NULL, out, why);
}

/* The searcher's opaque validators are "ETag\nLast-Modified" (neither holds a newline). */
static int qido_find_cond(struct searcher *s, const struct query *query,
			  struct searcher_validators *v, struct attrset_list *out,
			  struct errors_detail *why)
{
	struct http_validators cond;
	const char *nl = strchr(v->v, '\n');
	int err;

	memset(&cond, 0, sizeof(cond));
	if (nl && (size_t)(nl - v->v) < sizeof(cond.etag)) {
		memcpy(cond.etag, v->v, (size_t)(nl - v->v));
		snprintf(cond.last_modified, sizeof(cond.last_modified), "%s", nl + 1);
	}
	err = qido_search(s, query, &cond, out, why);
	if (err == 0) {
		if (cond.etag[0] || cond.last_modified[0])
			snprintf(v->v, sizeof(v->v), "%s\n%s", cond.etag, cond.last_modified);
		else
			v->v[0] = '\0';
	}
	return err;
}

static void qido_free(struct searcher *s)
{
	struct qido *q = (struct qido *)s;

	free(q->url);
	free(q);
}

static const struct searcher_ops qido_ops = {
	.name = "qido-rs",
	.find = qido_find,
	.find_cond = qido_find_cond,
	.free = qido_free,
};

int qido_rs_new(const struct proto_config *cfg, struct searcher **out)
{
	struct qido *q;
	size_t n;

	const char *url = proto_config_text(cfg, "qido");

	if (!url || !cfg->http)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->base.ops = &qido_ops;
	q->http = cfg->http;
	q->url = strdup(url);
	if (!q->url) {
		free(q);
		return -ENOMEM;
	}
	n = strlen(q->url);
	while (n && q->url[n - 1] == '/')
		q->url[--n] = '\0';
	q->page_size = cfg->page_size > 0 ? cfg->page_size : QIDO_PAGE_DEFAULT;
	if (q->page_size > QIDO_PAGE_MAX)
		q->page_size = QIDO_PAGE_MAX;
	/* page_size= pins the page (an archive that wants exactly that); the default asks more. */
	q->ask = cfg->page_size > 0 ? q->page_size : QIDO_ASK_DEFAULT;
	*out = &q->base;
	return 0;
}

/* What a template may name without includefield: the fields asked above, with the UIDs and
 * SOPClassUID of the default return set (PS3.18 Tables 6.7.1-2, -2a). The instance query's
 * SeriesNumber and Modality are left out: a layout without a series level asks for them
 * itself, so that its query is the one it always was (the cache keys answers by it). */
static const uint32_t qido_returns_study[] = {
	TAG_StudyInstanceUID, TAG_StudyDate,   TAG_StudyTime, TAG_StudyDescription,
	TAG_AccessionNumber,  TAG_PatientName, TAG_PatientID, TAG_ModalitiesInStudy,
};
static const uint32_t qido_returns_series[] = {
	TAG_StudyInstanceUID,  TAG_SeriesInstanceUID, TAG_SeriesNumber, TAG_Modality,
	TAG_SeriesDescription, TAG_SeriesDate,	      TAG_SeriesTime,
};
static const uint32_t qido_returns_instance[] = {
	TAG_StudyInstanceUID, TAG_SeriesInstanceUID, TAG_SOPInstanceUID, TAG_InstanceNumber,
	TAG_SOPClassUID,      TAG_ContentDate,	     TAG_ContentTime,	 TAG_Rows,
	TAG_Columns,	      TAG_NumberOfFrames,
};

static const struct proto_option qido_options[] = {
	{"qido", PROTO_OPT_URL, 0, "qido=URL                QIDO-RS base URL (default: SOURCE)"},
};

static const struct proto_searcher qido_searchers[] = {{
	.name = "qido-rs",
	.make = qido_rs_new,
	.flags = PROTO_SEARCH_INCLUDE | PROTO_SEARCH_SERIES_AT_INSTANCE,
	.returns = {qido_returns_study, qido_returns_series, qido_returns_instance},
	.nreturns = {sizeof(qido_returns_study) / sizeof(uint32_t),
		     sizeof(qido_returns_series) / sizeof(uint32_t),
		     sizeof(qido_returns_instance) / sizeof(uint32_t)},
	.url = "qido",
}};

static const char *const dicomweb_from_source[] = {"qido", "wado_rs", NULL};

/* http[s]://: a DICOMweb base URL, QIDO-RS and WADO-RS at it (wado_rs= is protocols/wado_rs.c's
 * option: the scheme names it, as curl's http scheme serves several handlers). */
static const struct proto_scheme dicomweb_scheme = {
	.prefix = {"http://", "https://"},
	.what = "an http[s]:// DICOMweb URL",
	.usage = "http[s]://host[:port]/dicom-web (QIDO-RS and WADO-RS at that URL)",
	.from_source = dicomweb_from_source,
	.searcher = "qido-rs",
	.downloaders = {"wado-rs"},
};

const struct protocol qido_rs_protocol = {
	.name = "QIDO-RS",
	.scheme = &dicomweb_scheme,
	.options = qido_options,
	.noptions = sizeof(qido_options) / sizeof(qido_options[0]),
	.searchers = qido_searchers,
	.nsearchers = 1,
};
