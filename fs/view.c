/* The de-identified view as fs/ applies it (fs/view.h): nodes keep the archive's attributes,
 * what is shown is made here from deid/'s pure functions. The only state is what an open
 * learned: the size of each instance's de-identified bytes (for stat after the open) and which
 * instances were withheld (counted once each), in one table under one lock. */
#include "fs/view.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/tags.h"
#include "deid/deid.h"

/* The largest instance the view rewrites in memory: the original and its rewrite are both
 * held while an open derives it. Beyond this an open fails with EFBIG (logged); a whole-slide
 * level or a long cine needs an export tool, not this view. */
#define VIEW_INSTANCE_MAX (1ull << 30)

static const struct deid *view;

/* What the view learned of one UID (the original): an instance's de-identified size and
 * whether its bytes withheld it (an archive whose answers lack SOPClassUID or
 * BurnedInAnnotation: the open finds out), or a series or study folder found to hold only
 * withheld instances. Kept in a table bounded to VIEW_REMEMBER_MAX entries, least recently
 * used first out: ~130 bytes an entry (the UID, its links, malloc's overhead), so at most
 * ~8.5 MiB whatever the size of the export. What falls out is learned again: a size at the
 * next open (stat shows an estimate meanwhile, as before the first open), a withheld instance
 * when an open refuses it again (then counted again). */
struct seen {
	struct seen *next;	    /* hash chain */
	struct seen *newer, *older; /* use order */
	uint64_t size;
	bool sized, withheld, hidden;
	char uid[];
};

#define VIEW_BUCKETS 16384
static struct seen *seen[VIEW_BUCKETS];
static struct seen *newest, *oldest;
static size_t remembered;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t withheld_count, hidden_count;

void view_set(const struct deid *d)
{
	view = d;
}

bool view_active(void)
{
	return view != NULL;
}

const struct deid *view_deid(void)
{
	return view;
}

static unsigned bucket_of(const char *uid)
{
	return hash_fnv32_str(HASH_FNV32_INIT, uid) % VIEW_BUCKETS;
}

static void lru_unlink(struct seen *s)
{
	if (s->newer)
		s->newer->older = s->older;
	else
		newest = s->older;
	if (s->older)
		s->older->newer = s->newer;
	else
		oldest = s->newer;
	s->newer = s->older = NULL;
}

static void lru_push(struct seen *s)
{
	s->older = newest;
	s->newer = NULL;
	if (newest)
		newest->newer = s;
	newest = s;
	if (!oldest)
		oldest = s;
}

/* Drop the least recently used entry. Call with seen_lock held. */
static void evict_oldest_locked(void)
{
	struct seen *s = oldest, **pp;

	if (!s)
		return;
	for (pp = &seen[bucket_of(s->uid)]; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	lru_unlink(s);
	free(s);
	remembered--;
}

/* The entry of @uid (made if absent and @make), now the most recently used. Call with
 * seen_lock held. @return it, or NULL (absent, or ENOMEM). */
static struct seen *seen_get_locked(const char *uid, bool make)
{
	unsigned b = bucket_of(uid);
	struct seen *s;

	for (s = seen[b]; s; s = s->next) {
		if (strcmp(s->uid, uid) == 0) {
			lru_unlink(s);
			lru_push(s);
			return s;
		}
	}
	if (!make)
		return NULL;
	s = calloc(1, sizeof(*s) + strlen(uid) + 1);
	if (!s)
		return NULL;
	strcpy(s->uid, uid);
	s->next = seen[b];
	seen[b] = s;
	lru_push(s);
	if (++remembered > VIEW_REMEMBER_MAX)
		evict_oldest_locked();
	return s;
}

/* Count instance @uid as withheld, once. @return whether this is the first time. */
static bool note_withheld(const char *uid)
{
	bool first = false;
	struct seen *s;

	pthread_mutex_lock(&seen_lock);
	s = seen_get_locked(uid, true);
	if (s && !s->withheld) {
		s->withheld = true;
		withheld_count++;
		first = true;
	}
	pthread_mutex_unlock(&seen_lock);
	return first;
}

/* Whether an open found @uid withheld (or a listing found its folder all withheld). */
static bool learned(const char *uid, bool folder)
{
	bool yes = false;
	struct seen *s;

	if (!uid || !*uid)
		return false;
	pthread_mutex_lock(&seen_lock);
	s = seen_get_locked(uid, false);
	if (s)
		yes = folder ? s->hidden : s->withheld;
	pthread_mutex_unlock(&seen_lock);
	return yes;
}

void view_note_size(const char *sop, uint64_t size)
{
	struct seen *s;

	pthread_mutex_lock(&seen_lock);
	s = seen_get_locked(sop, true);
	if (s) {
		s->size = size;
		s->sized = true;
	}
	pthread_mutex_unlock(&seen_lock);
}

size_t view_remembered(void)
{
	size_t n;

	pthread_mutex_lock(&seen_lock);
	n = remembered;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

void view_forget_all(void)
{
	pthread_mutex_lock(&seen_lock);
	while (oldest)
		evict_oldest_locked();
	withheld_count = hidden_count = 0;
	pthread_mutex_unlock(&seen_lock);
}

void view_fingerprint(char *out, size_t n)
{
	char uid[DEID_UID_MAX];
	const struct deid_options *o = deid_opts(view);

	/* Nobody's UID: only the key makes its pseudonym. */
	if (deid_uid(view, "1.2.3.4.5.6.7.8.9.10", uid, sizeof(uid)) < 0)
		snprintf(uid, sizeof(uid), "none");
	snprintf(out, n, "deid%s%d%d%d%d%d", uid + (strlen(uid) > 16 ? strlen(uid) - 16 : 0),
		 o->retain_dates, o->retain_patient_chars, o->retain_device, o->retain_safe_private,
		 o->clean_descriptors);
}

uint64_t view_withheld(void)
{
	uint64_t n;

	pthread_mutex_lock(&seen_lock);
	n = withheld_count;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

/* Whether @value holds one of the UIDs of @in (its UI values): a URL the archive built from
 * them (RetrieveURL: Table E.1-1 does not list it, and deid/ keeps what the table keeps), or
 * any other text that repeats one. A UID remapped by deid/ is "2.25." and new digits. */
static bool holds_original_uid(const struct attrset *in, const char *value)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct attr *a = &in->v[i];

		if (strcmp(a->vr, "UI") == 0 && strlen(a->value) >= 8 &&
		    !deid_uid_is_well_known(a->value) && strstr(value, a->value))
			return true;
	}
	return false;
}

int view_attrs(const struct attrset *in, struct attrset *out)
{
	struct attrset shown;
	int err;

	attrset_init(out);
	if (!view) {
		err = attrset_copy(out, in);
		if (err)
			attrset_release(out);
		return err;
	}
	attrset_init(&shown);
	err = attrset_copy(&shown, in);
	if (!err)
		err = deid_attrset(view, &shown);
	/* What is a URL (UR), or names an original UID in its text, is not shown: a net under
	 * the table, for what an archive adds to its answers. */
	for (size_t i = 0; !err && i < shown.n; i++) {
		const struct attr *a = &shown.v[i];

		if (strcmp(a->vr, "UR") == 0 || a->tag == TAG_RetrieveURL ||
		    holds_original_uid(in, a->value))
			continue;
		err = attrset_set(out, a->tag, a->vr, a->value);
	}
	attrset_release(&shown);
	if (err)
		attrset_release(out);
	return err;
}

/* The pseudonym of instance UID @uid for a log line (the log names no original UID either,
 * so a log handed on with an export says which file, as the export names it). */
static void shown_uid(const char *uid, char *out, size_t n)
{
	if (deid_uid(view, uid, out, n) < 0)
		snprintf(out, n, "(an instance)");
}

bool view_withholds(const struct attrset *a)
{
	const char *uid = attrset_str(a, TAG_SOPInstanceUID);
	const char *why = NULL;
	char shown[128];

	if (!view)
		return false;
	/* Its bytes said so at an open (the listing's answer did not). */
	if (learned(uid, false))
		return true;
	if (!deid_withheld(view, a, &why))
		return false;
	if (note_withheld(uid)) {
		shown_uid(uid, shown, sizeof(shown));
		log_warn("deid: instance %s withheld (%s): not listed", shown,
			 why ? why : "the profile cannot clean it");
	}
	return true;
}

/* Modalities whose series hold only what the view withholds: SR documents, key object
 * selections, presentation states, encapsulated documents (PS3.3 C.7.3.1.1.1). */
static bool modality_withheld(const char *m)
{
	static const char *const held[] = {"SR", "KO", "PR", "DOC"};

	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		if (strcmp(m, held[i]) == 0)
			return true;
	return false;
}

/* Whether every modality of the multi-valued @list ("SR\\KO") is one of those. */
static bool modalities_withheld(const char *list)
{
	char one[17];
	size_t n = 0;
	bool any = false;

	for (const char *p = list;; p++) {
		if (*p == '\\' || !*p) {
			one[n] = 0;
			while (n && one[n - 1] == ' ')
				one[--n] = 0;
			if (n && !modality_withheld(one))
				return false;
			any |= n > 0;
			n = 0;
			if (!*p)
				break;
		} else if (n < sizeof(one) - 1) {
			one[n++] = *p;
		} else {
			return false;
		}
	}
	return any;
}

bool view_hides(const struct attrset *a, bool study)
{
	const char *uid = attrset_str(a, study ? TAG_StudyInstanceUID : TAG_SeriesInstanceUID);

	if (!view)
		return false;
	if (learned(uid, true))
		return true;
	if (!(study ? modalities_withheld(attrset_str(a, TAG_ModalitiesInStudy))
		    : modality_withheld(attrset_str(a, TAG_Modality))))
		return false;
	view_note_hidden(uid, study);
	return true;
}

bool view_note_hidden(const char *uid, bool study)
{
	bool first = false;
	char shown[128];
	struct seen *s;

	if (!view || !uid || !*uid)
		return false;
	pthread_mutex_lock(&seen_lock);
	s = seen_get_locked(uid, true);
	if (s && !s->hidden) {
		s->hidden = true;
		hidden_count++;
		first = true;
	}
	pthread_mutex_unlock(&seen_lock);
	if (first) {
		shown_uid(uid, shown, sizeof(shown));
		log_warn("deid: %s %s holds only withheld instances: not listed",
			 study ? "study" : "series", shown);
	}
	return first;
}

uint64_t view_hidden(void)
{
	uint64_t n;

	pthread_mutex_lock(&seen_lock);
	n = hidden_count;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

/* Copy the blob's bytes into @dst (whole). */
struct gather {
	struct buf *dst;
};

static int gather_bytes(void *ctx, const struct cache_bytes *b)
{
	struct gather *g = ctx;
	size_t done = 0;

	if (b->data)
		return buf_add(g->dst, b->data, b->len);
	/* A blob in its download file: read it from there. */
	while (done < b->len) {
		char chunk[65536];
		size_t want = b->len - done < sizeof(chunk) ? b->len - done : sizeof(chunk);
		ssize_t got = pread(b->fd, chunk, want, (off_t)(b->pos + (int64_t)done));
		int err;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		err = buf_add(g->dst, chunk, (size_t)got);
		if (err)
			return err;
		done += (size_t)got;
	}
	return 0;
}

int view_instance(struct cache_blob *b, const char *sop, struct buf *out)
{
	uint64_t size = cache_blob_size(b);
	const char *why = NULL;
	struct gather g;
	struct buf in;
	char shown[128];
	int err = 0;

	shown_uid(sop, shown, sizeof(shown));
	if (size > VIEW_INSTANCE_MAX) {
		log_error("deid: instance %s is %llu bytes, over the view's %llu: not served",
			  shown, (unsigned long long)size, (unsigned long long)VIEW_INSTANCE_MAX);
		return -EFBIG;
	}
	buf_init(&in, (size_t)size + 1);
	g.dst = &in;
	for (uint64_t off = 0; off < size && !err;) {
		size_t before = in.len;

		err = cache_blob_use(b, off,
				     (size_t)(size - off < (1u << 20) ? size - off : 1u << 20),
				     gather_bytes, &g);
		if (!err && in.len == before)
			err = -EIO; /* shorter than its size: never half a file */
		off += in.len - before;
	}
	if (!err)
		err = deid_instance(view, in.data, in.len, out, &why);
	buf_release(&in);
	if (err == DEID_WITHHELD) {
		if (note_withheld(sop))
			log_warn("deid: instance %s withheld (%s): open refused", shown,
				 why ? why : "its content");
		return -EACCES;
	}
	if (err == -EIO)
		log_error("deid: instance %s is no data set the view can rewrite (%s): not served",
			  shown, why ? why : "invalid");
	if (err)
		return err;
	view_note_size(sop, out->len);
	return 0;
}

int view_size(const char *sop, uint64_t *size)
{
	int err = -ENOENT;
	struct seen *s;

	pthread_mutex_lock(&seen_lock);
	s = seen_get_locked(sop, false);
	if (s && s->sized) {
		*size = s->size;
		err = 0;
	}
	pthread_mutex_unlock(&seen_lock);
	return err;
}

/* The first value of attribute @tag (8 hex digits) of DICOM JSON object @o as text, or NULL. */
static const char *json_value(const cJSON *o, const char *tag)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, tag);
	const cJSON *v = a ? cJSON_GetObjectItemCaseSensitive(a, "Value") : NULL;
	const cJSON *first = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 0) : NULL;

	return cJSON_IsString(first) ? first->valuestring : NULL;
}

/* Drop from the DICOM JSON array @doc the data sets of instances the view withholds (an SR,
 * a burned-in image: their listing leaves them out, so must their metadata). @doc is replaced
 * when something was dropped. @return 0, -EIO (not a JSON array), -ENOMEM. */
static int drop_withheld(struct buf *doc)
{
	cJSON *root = cJSON_ParseWithLength(doc->data ? doc->data : "", doc->len);
	bool dropped = false;
	int err = 0;
	cJSON *o, *next;

	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -EIO;
	}
	for (o = root->child; o && !err; o = next) {
		const char *cls = json_value(o, "00080016"), *burned = json_value(o, "00280301");
		const char *sop = json_value(o, "00080018");
		struct attrset a;

		next = o->next;
		attrset_init(&a);
		if ((cls && attrset_set(&a, TAG_SOPClassUID, "UI", cls) < 0) ||
		    (burned && attrset_set(&a, TAG_BurnedInAnnotation, "CS", burned) < 0) ||
		    (sop && attrset_set(&a, TAG_SOPInstanceUID, "UI", sop) < 0))
			err = -ENOMEM;
		if (!err && view_withholds(&a)) {
			cJSON_Delete(cJSON_DetachItemViaPointer(root, o));
			dropped = true;
		}
		attrset_release(&a);
	}
	if (!err && dropped) {
		char *text = cJSON_PrintUnformatted(root);

		if (!text) {
			err = -ENOMEM;
		} else {
			doc->len = 0;
			err = buf_add(doc, text, strlen(text));
			free(text);
		}
	}
	cJSON_Delete(root);
	return err;
}

int view_json(struct buf *doc)
{
	struct buf out;
	int err;

	if (!view)
		return 0;
	err = drop_withheld(doc);
	if (err == -EIO)
		log_error("deid: metadata from the archive is no DICOM JSON array: not served");
	if (err)
		return err;
	buf_init(&out, doc->max);
	err = deid_json(view, doc->data ? doc->data : "", doc->len, &out);
	if (err) {
		if (err == -EIO)
			log_error("deid: metadata from the archive is no DICOM JSON the view can "
				  "rewrite: not served");
		buf_release(&out);
		return err;
	}
	buf_release(doc);
	*doc = out;
	return 0;
}

/* What /search may match on in the view: keys that name no one and no day. A search by a
 * removed or replaced value (names, IDs, accession numbers, dates, descriptions, institutions,
 * UIDs) would tell whoever holds the view which pseudonym a known person or day has. */
static const uint32_t search_allowed[] = {
	TAG_ModalitiesInStudy,
	TAG_Modality,
	TAG_BodyPartExamined,
	TAG_PatientSex,
};

/* Whether @tag is a date, time or date-time the archive would match: the view shows none as
 * it is (removed, or shifted per patient with deid_keep_dates). */
static bool is_date_key(uint32_t tag)
{
	const char *vr = tags_vr(tag);

	return vr && (strcmp(vr, "DA") == 0 || strcmp(vr, "DT") == 0 || strcmp(vr, "TM") == 0);
}

int view_check_search(const struct query *q, char *why, size_t n)
{
	if (!view)
		return 0;
	for (size_t i = 0; i < q->match.n; i++) {
		uint32_t tag = q->match.v[i].tag;
		bool ok = false;

		for (size_t j = 0; j < sizeof(search_allowed) / sizeof(search_allowed[0]); j++)
			ok |= search_allowed[j] == tag;
		if (!ok) {
			const char *kw = tags_keyword(tag);

			if (kw && is_date_key(tag) && deid_opts(view)->retain_dates)
				snprintf(why, n,
					 "%s: this view shifts dates by an offset that differs per "
					 "patient (deid_keep_dates), so no date can be turned into "
					 "the "
					 "archive's: refused on a de-identified mount",
					 kw);
			else if (kw && is_date_key(tag))
				snprintf(why, n,
					 "%s: dates are removed in this view (deid_keep_dates "
					 "shifts "
					 "them instead): refused on a de-identified mount",
					 kw);
			else if (kw)
				snprintf(why, n,
					 "%s identifies a patient or a day: refused on a "
					 "de-identified mount (allowed: ModalitiesInStudy, "
					 "Modality, BodyPartExamined, PatientSex)",
					 kw);
			else
				snprintf(why, n,
					 "(%04X,%04X) is not a key the de-identified mount "
					 "searches by (allowed: ModalitiesInStudy, Modality, "
					 "BodyPartExamined, PatientSex)",
					 tag >> 16, tag & 0xFFFF);
			return -EACCES;
		}
	}
	return 0;
}

/* Whether @p starts a UID-like run: digits and dots with at least two dots, 6+ long. */
static size_t uid_run(const char *p, const char *end)
{
	size_t len = 0, dots = 0;

	while (p + len < end && ((p[len] >= '0' && p[len] <= '9') || p[len] == '.')) {
		dots += p[len] == '.';
		len++;
	}
	return dots >= 2 && len >= 6 ? len : 0;
}

void view_redact_errors(struct buf *text)
{
	static const char mark[] = "(uid)";
	char *p, *line, *end;

	if (!view || !text->data)
		return;
	end = text->data + text->len;
	/* Fields: time, error, path, asked, status, reason (tab-separated). A path in the mount
	 * ("/studies/...") is the mount's own (pseudonyms); any other (a background transfer's
	 * "series UID") and the rest come from requests to the archive, which name it by its
	 * original UIDs. Each run is overwritten in place, never lengthened. */
	for (line = text->data; line < end; line = p + 1) {
		bool own_path = false;
		int tabs = 0;

		p = line;
		if (*p == '#') {
			p = memchr(line, '\n', (size_t)(end - line));
			if (!p)
				break;
			continue;
		}
		for (; p < end && *p != '\n'; p++) {
			size_t run;

			if (*p == '\t') {
				if (++tabs == 2)
					own_path = p + 1 < end && p[1] == '/';
				continue;
			}
			if (tabs < 2 || (tabs == 2 && own_path) ||
			    (p > line && p[-1] >= '0' && p[-1] <= '9'))
				continue;
			run = uid_run(p, end);
			if (!run)
				continue;
			memset(p, 'x', run);
			memcpy(p, mark, run < sizeof(mark) - 1 ? run : sizeof(mark) - 1);
			p += run - 1;
		}
	}
}
