/* The layout template parser: "-o layout=" text to one struct names_format per level, checked
 * whole at mount time so that a bad template is refused with the reason and the place, and
 * never reaches a listing. Naming itself is fs/names.c's. */
#include "fs/layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/tags.h"
#include "protocols/protocol.h"

/* The attributes a template may name folders by, with their level in the Study Root model
 * (PS3.4 C.6.2: the patient's attributes are returned with each study). Anything else is
 * refused: its level, and so the query that returns it, would be a guess. */
/* clang-format off */
static const struct {
	uint32_t tag;
	enum layout_level level;
} level_table[] = {
	{TAG_PatientName, LAYOUT_PATIENT},
	{TAG_PatientID, LAYOUT_PATIENT},
	{TAG_PatientBirthDate, LAYOUT_PATIENT},
	{TAG_PatientSex, LAYOUT_PATIENT},
	{TAG_StudyInstanceUID, LAYOUT_STUDY},
	{TAG_StudyDate, LAYOUT_STUDY},
	{TAG_StudyTime, LAYOUT_STUDY},
	{TAG_StudyDescription, LAYOUT_STUDY},
	{TAG_AccessionNumber, LAYOUT_STUDY},
	{TAG_StudyID, LAYOUT_STUDY},
	{TAG_ReferringPhysicianName, LAYOUT_STUDY},
	{TAG_ModalitiesInStudy, LAYOUT_STUDY},
	{TAG_SeriesInstanceUID, LAYOUT_SERIES},
	{TAG_SeriesNumber, LAYOUT_SERIES},
	{TAG_Modality, LAYOUT_SERIES},
	{TAG_SeriesDescription, LAYOUT_SERIES},
	{TAG_SeriesDate, LAYOUT_SERIES},
	{TAG_SeriesTime, LAYOUT_SERIES},
	{TAG_BodyPartExamined, LAYOUT_SERIES},
	{TAG_ProtocolName, LAYOUT_SERIES},
	{TAG_Manufacturer, LAYOUT_SERIES},
	{TAG_InstitutionName, LAYOUT_SERIES},
	{TAG_SOPInstanceUID, LAYOUT_INSTANCE},
	{TAG_SOPClassUID, LAYOUT_INSTANCE},
	{TAG_InstanceNumber, LAYOUT_INSTANCE},
	{TAG_AcquisitionNumber, LAYOUT_INSTANCE},
	{TAG_ContentDate, LAYOUT_INSTANCE},
	{TAG_ContentTime, LAYOUT_INSTANCE},
	{TAG_NumberOfFrames, LAYOUT_INSTANCE},
	{TAG_Rows, LAYOUT_INSTANCE},
	{TAG_Columns, LAYOUT_INSTANCE},
};
/* clang-format on */

static const char *const level_names[] = {"patient", "study", "series", "instance"};

int layout_tag_level(uint32_t tag)
{
	for (size_t i = 0; i < sizeof(level_table) / sizeof(level_table[0]); i++)
		if (level_table[i].tag == tag)
			return (int)level_table[i].level;
	return -1;
}

/* What every searcher returns at @level without being asked: each says in its descriptor
 * (protocols/protocol.h). Anything else a template names is asked for with includefield. */
static bool is_returned(enum query_level level, uint32_t tag)
{
	return proto_searchers_return(level, tag);
}

static bool is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* The parse of one component: @s (its first byte at offset @base of the template). */
struct comp_parser {
	const char *s;
	size_t len, base, pos;
	struct names_format *fmt;
	int level; /* deepest level of its fields, -1 for none yet */
	bool in_group, group_has_field;
	char *why;
	size_t n, *at;
};

static int fail(struct comp_parser *c, size_t pos, const char *msg)
{
	snprintf(c->why, c->n, "%s", msg);
	*c->at = c->base + pos;
	return -EINVAL;
}

/* Where the next literal or field goes: the prefix before any item, a separator between
 * items, or inside the group being read. */
static int add_part(struct comp_parser *c, uint32_t tag, unsigned mods, const char *text,
		    size_t len, size_t pos)
{
	struct names_format *f = c->fmt;
	struct names_part *p;

	if (f->nparts >= NAMES_FORMAT_PARTS)
		return fail(c, pos, "too many fields and literals in one component");
	p = &f->parts[f->nparts];
	memset(p, 0, sizeof(*p));
	if (tag || c->in_group) {
		/* A field outside a group is an item of its own. */
		p->item = c->in_group ? f->nitems - 1 : f->nitems++;
	} else {
		/* Literal text between items: a separator of the next item (made a suffix at the
		 * end if no item follows); before the first item, the prefix. */
		p->item = f->nitems ? f->nitems : -1;
		p->sep = f->nitems > 0;
	}
	p->tag = tag;
	p->mods = mods;
	if (!tag) {
		size_t used = 0;

		for (size_t i = 0; i < f->nparts; i++)
			if (!f->parts[i].tag)
				used = f->parts[i].off + f->parts[i].len;
		if (used + len > NAMES_FORMAT_TEXT - 1 || len > NAMES_MAX)
			return fail(c, pos, "too much literal text in one component");
		memcpy(f->text + used, text, len);
		p->off = (uint16_t)used;
		p->len = (uint16_t)len;
	}
	f->nparts++;
	return 0;
}

/* A field at c->pos (just after '%'). */
static int parse_field(struct comp_parser *c)
{
	size_t start = c->pos - 1, kstart, klen;
	char kw[80], mod[16] = "";
	unsigned mods = 0;
	uint32_t tag;
	int level;

	if (c->s[c->pos] == '{') {
		size_t end = c->pos + 1;

		while (end < c->len && c->s[end] != '}')
			end++;
		if (end >= c->len)
			return fail(c, start, "'%{' without its '}'");
		kstart = c->pos + 1;
		klen = end - kstart;
		c->pos = end + 1;
		const char *colon = memchr(c->s + kstart, ':', klen);
		if (colon) {
			size_t mlen = (size_t)(c->s + kstart + klen - colon - 1);

			if (mlen >= sizeof(mod))
				return fail(c, (size_t)(colon - c->s),
					    "unknown modifier (there are iso and alnum)");
			memcpy(mod, colon + 1, mlen);
			mod[mlen] = '\0';
			klen = (size_t)(colon - (c->s + kstart));
		}
	} else {
		kstart = c->pos;
		while (c->pos < c->len && is_alnum(c->s[c->pos]))
			c->pos++;
		klen = c->pos - kstart;
	}
	if (klen >= sizeof(kw))
		klen = sizeof(kw) - 1; /* no keyword is that long: shown cut, as unknown */
	if (klen == 0)
		return fail(c, start,
			    "'%' starts a keyword (%Keyword or %{Keyword}); a literal '%' is %%, "
			    "'<' is %<, '>' is %>");
	memcpy(kw, c->s + kstart, klen);
	kw[klen] = '\0';
	tag = tags_by_keyword(kw);
	if (!tag || strspn(kw, "0123456789abcdefABCDEF") == klen) {
		snprintf(c->why, c->n, "unknown DICOM keyword \"%s\"", kw);
		*c->at = c->base + kstart;
		return -EINVAL;
	}
	level = layout_tag_level(tag);
	if (level < 0) {
		snprintf(c->why, c->n,
			 "%s cannot name a folder (mount.trolley(8) lists the keywords a layout "
			 "may use)",
			 kw);
		*c->at = c->base + kstart;
		return -EINVAL;
	}
	if (strcmp(mod, "iso") == 0 && strcmp(tags_vr(tag), "DA") == 0)
		mods = NAMES_MOD_ISO;
	else if (strcmp(mod, "iso") == 0)
		return fail(c, kstart, ":iso is for dates (a keyword of VR DA)");
	else if (strcmp(mod, "alnum") == 0)
		mods = NAMES_MOD_ALNUM;
	else if (mod[0] || memchr(c->s + kstart, ':', c->pos - kstart))
		return fail(c, kstart + klen + 1, "unknown modifier (there are iso and alnum)");
	if (level > c->level)
		c->level = level;
	c->group_has_field |= c->in_group;
	return add_part(c, tag, mods, NULL, 0, start);
}

/* One component: literals, fields and groups. */
static int parse_component(struct comp_parser *c)
{
	size_t lit = 0, lit_pos = 0, group_pos = 0;
	char buf[NAMES_FORMAT_TEXT];
	int err;

#define FLUSH()                                                                                    \
	do {                                                                                       \
		if (lit) {                                                                         \
			err = add_part(c, 0, 0, buf, lit, lit_pos);                                \
			if (err)                                                                   \
				return err;                                                        \
			lit = 0;                                                                   \
		}                                                                                  \
	} while (0)

	if (c->s[0] == '.')
		return fail(c, 0, "a name must not start with '.' (it would be hidden)");
	while (c->pos < c->len) {
		char ch = c->s[c->pos];

		if (ch == '%' && c->pos + 1 < c->len && strchr("%<>", c->s[c->pos + 1])) {
			if (!lit)
				lit_pos = c->pos;
			if (lit >= sizeof(buf))
				return fail(c, lit_pos, "too much literal text in one component");
			buf[lit++] = c->s[c->pos + 1];
			c->pos += 2;
		} else if (ch == '%') {
			FLUSH();
			c->pos++;
			err = parse_field(c);
			if (err)
				return err;
		} else if (ch == '<') {
			if (c->in_group)
				return fail(c, c->pos, "groups do not nest (a literal '<' is %<)");
			FLUSH();
			c->in_group = true;
			c->group_has_field = false;
			c->fmt->nitems++;
			group_pos = c->pos++;
		} else if (ch == '>') {
			if (!c->in_group)
				return fail(c, c->pos, "'>' without its '<' (a literal '>' is %>)");
			FLUSH();
			if (!c->group_has_field)
				return fail(c, c->pos, "a group <...> needs a keyword");
			c->in_group = false;
			c->pos++;
		} else {
			if (!lit)
				lit_pos = c->pos;
			if (lit >= sizeof(buf))
				return fail(c, lit_pos, "too much literal text in one component");
			buf[lit++] = ch;
			c->pos++;
		}
	}
	if (c->in_group)
		return fail(c, group_pos, "'<' without its '>'");
	FLUSH();
#undef FLUSH
	if (c->level < 0)
		return fail(c, 0,
			    "this component names no DICOM keyword: every entry would have "
			    "the same name");
	/* Literal text after the last item is its suffix, shown always. */
	for (size_t i = 0; i < c->fmt->nparts; i++)
		if (c->fmt->parts[i].item == c->fmt->nitems)
			c->fmt->parts[i].sep = false;
	return 0;
}

/* Bytes that no name may hold, and text that is not UTF-8, are refused before parsing; so is a
 * space at either end of a component (names are trimmed: it would never show). */
static int check_text(const char *text, char *why, size_t n, size_t *at)
{
	char plain[LAYOUT_TEXT_MAX + 1], clean[LAYOUT_TEXT_MAX * 4];
	size_t len = strlen(text);

	if (len > LAYOUT_TEXT_MAX) {
		snprintf(why, n, "longer than %d bytes", LAYOUT_TEXT_MAX);
		*at = LAYOUT_TEXT_MAX;
		return -EINVAL;
	}
	/* names_clean() changes exactly the bytes a name may not hold ('/' and spaces aside,
	 * which the template uses): where it differs, the text is bad. */
	for (size_t i = 0; i <= len; i++)
		plain[i] = text[i] == '/' || text[i] == ' ' ? 'x' : text[i];
	names_clean(plain, clean, sizeof(clean), false);
	for (size_t i = 0; i < len; i++) {
		if (plain[i] != clean[i]) {
			snprintf(why, n, "not valid UTF-8, or a control character");
			*at = i;
			return -EINVAL;
		}
		if (text[i] == ' ' &&
		    (i == 0 || i + 1 == len || text[i - 1] == '/' || text[i + 1] == '/')) {
			snprintf(why, n,
				 "a component may not start or end with a space (names "
				 "are trimmed)");
			*at = i;
			return -EINVAL;
		}
	}
	return 0;
}

static int add_include(struct layout *l, enum query_level q, uint32_t tag)
{
	for (size_t i = 0; i < l->ninclude[q]; i++)
		if (l->include[q][i] == tag)
			return 0;
	if (l->ninclude[q] >= LAYOUT_INCLUDE_MAX)
		return -EINVAL;
	l->include[q][l->ninclude[q]++] = tag;
	return 0;
}

/* The query level that returns each field's attribute: the patient's and the study's come with
 * each study; the series' with each series, or with each instance where there is no series
 * level. What no searcher returns unasked goes to l->include. */
static int plan_includes(struct layout *l)
{
	for (int lv = 0; lv < LAYOUT_LEVELS; lv++) {
		for (size_t i = 0; l->has[lv] && i < l->fmt[lv].nparts; i++) {
			uint32_t tag = l->fmt[lv].parts[i].tag;
			int tl = tag ? layout_tag_level(tag) : -1;
			enum query_level q;

			if (tl < 0)
				continue;
			if (tl <= LAYOUT_STUDY)
				q = QUERY_STUDY;
			else if (tl == LAYOUT_SERIES && l->has[LAYOUT_SERIES])
				q = QUERY_SERIES;
			else
				q = QUERY_INSTANCE;
			if (is_returned(q, tag))
				continue;
			if (tl == LAYOUT_SERIES && q == QUERY_INSTANCE)
				l->series_at_instance = true;
			if (add_include(l, q, tag) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int layout_parse(const char *text, struct layout *out, char *why, size_t n, size_t *at)
{
	const char *tmpl = text;
	struct layout l;
	size_t pos = 0;
	int count = 0, prev = -1, err;

	memset(&l, 0, sizeof(l));
	*at = 0;
	if (strcmp(text, "tree") == 0 || strcmp(text, "flat") == 0) {
		tmpl = text[0] == 't' ? LAYOUT_TREE : LAYOUT_FLAT;
		l.builtin = true;
	}
	err = check_text(tmpl, why, n, at);
	if (err)
		return err;
	for (const char *p = tmpl; *p; p++)
		count += *p == '/';
	count++;
	if (count < 2 || count > 4) {
		snprintf(why, n,
			 "%d component%s: a template has 2 to 4, joined by '/' (patient, study, "
			 "series, instance; the last names the files)",
			 count, count == 1 ? "" : "s");
		*at = 0;
		return -EINVAL;
	}
	for (size_t i = 0, start = 0;; i++) {
		if (tmpl[i] != '/' && tmpl[i])
			continue;
		if (i == start) {
			snprintf(why, n, "an empty component ('/' at an end, or two in a row)");
			*at = start;
			return -EINVAL;
		}
		if (!tmpl[i])
			break;
		start = i + 1;
	}
	for (int i = 0; i < count; i++) {
		size_t len = strcspn(tmpl + pos, "/");
		struct names_format fmt;
		struct comp_parser c = {
			.s = tmpl + pos,
			.len = len,
			.base = pos,
			.fmt = &fmt,
			.level = -1,
			.why = why,
			.n = n,
			.at = at,
		};
		int level;

		memset(&fmt, 0, sizeof(fmt));
		err = parse_component(&c);
		if (err)
			return err;
		level = i == count - 1 ? LAYOUT_INSTANCE : c.level;
		if (level == LAYOUT_INSTANCE && i != count - 1) {
			snprintf(why, n,
				 "an instance attribute in a folder component: only the last "
				 "component, which names the files, may use it");
			*at = pos;
			return -EINVAL;
		}
		if (level <= prev) {
			snprintf(
				why, n,
				"this component names the %s level (by its deepest keyword), which "
				"must come after the %s level of the one before: levels go "
				"patient/study/series/instance, each once",
				level_names[level], level_names[prev]);
			*at = pos;
			return -EINVAL;
		}
		if (i == count - 1 && !l.has[LAYOUT_STUDY]) {
			snprintf(why, n,
				 "no study level: a series or an instance is found only within its "
				 "study, so one folder component must name the study (e.g. "
				 "%%StudyDate or %%StudyInstanceUID)");
			*at = 0;
			return -EINVAL;
		}
		if (level == LAYOUT_INSTANCE && c.level != LAYOUT_INSTANCE) {
			snprintf(why, n,
				 "the last component names the files: it needs an instance "
				 "attribute such as %%InstanceNumber or %%SOPInstanceUID");
			*at = pos;
			return -EINVAL;
		}
		for (size_t k = 0; k < fmt.nparts; k++)
			fmt.parts[k].own =
				fmt.parts[k].tag && layout_tag_level(fmt.parts[k].tag) == level;
		l.has[level] = true;
		l.fmt[level] = fmt;
		prev = level;
		pos += len + 1;
	}
	if (plan_includes(&l) < 0) {
		snprintf(why, n, "more than %d attributes to ask for at one level",
			 LAYOUT_INCLUDE_MAX);
		*at = 0;
		return -EINVAL;
	}
	*out = l;
	return 0;
}

int layout_check_searcher(struct layout *l, bool can_include, bool upper_at_instance, char *why,
			  size_t n)
{

	for (int q = 0; q < 3; q++) {
		for (size_t i = 0; i < l->ninclude[q]; i++) {
			uint32_t tag = l->include[q][i];
			bool series_here =
				q == QUERY_INSTANCE && layout_tag_level(tag) == LAYOUT_SERIES;

			if (!can_include && !series_here) {
				snprintf(
					why, n,
					"%%%s: this searcher returns a fixed set of attributes and "
					"cannot be asked for more (no includefield); the layout "
					"may "
					"use only what the tree layout names by",
					tags_keyword(tag));
				return -EINVAL;
			}
			if (series_here && !upper_at_instance && !l->builtin) {
				snprintf(
					why, n,
					"%%%s is a series attribute and the template has no series "
					"level: C-FIND asks an instance query for no series "
					"attribute but the UIDs (PS3.4 C.4.1.1.3.1); keep a series "
					"component or leave it out",
					tags_keyword(tag));
				return -EINVAL;
			}
		}
	}
	if (!upper_at_instance && l->builtin) {
		/* flat: instances are named by InstanceNumber alone, as before templates. */
		size_t k = 0;

		for (size_t i = 0; i < l->ninclude[QUERY_INSTANCE]; i++)
			if (layout_tag_level(l->include[QUERY_INSTANCE][i]) != LAYOUT_SERIES)
				l->include[QUERY_INSTANCE][k++] = l->include[QUERY_INSTANCE][i];
		l->ninclude[QUERY_INSTANCE] = k;
	}
	return 0;
}

int layout_fit_searcher(struct layout *l, const struct proto_searcher *s, char *why, size_t n)
{
	unsigned flags = s ? s->flags : PROTO_SEARCH_INCLUDE | PROTO_SEARCH_SERIES_AT_INSTANCE;

	/* What this searcher returns unasked need not be asked of it (what every searcher
	 * returns never was). */
	for (int q = 0; s && q < 3; q++) {
		size_t k = 0;

		for (size_t i = 0; i < l->ninclude[q]; i++)
			if (!proto_searcher_returns(s, (enum query_level)q, l->include[q][i]))
				l->include[q][k++] = l->include[q][i];
		l->ninclude[q] = k;
	}
	if (s) {
		l->series_at_instance = false;
		for (size_t i = 0; i < l->ninclude[QUERY_INSTANCE]; i++)
			if (layout_tag_level(l->include[QUERY_INSTANCE][i]) == LAYOUT_SERIES)
				l->series_at_instance = true;
	}
	return layout_check_searcher(l, flags & PROTO_SEARCH_INCLUDE,
				     flags & PROTO_SEARCH_SERIES_AT_INSTANCE, why, n);
}

bool layout_names_patient_by(const struct layout *l, uint32_t tag)
{
	if (!l || !l->has[LAYOUT_PATIENT])
		return false;
	for (size_t i = 0; i < l->fmt[LAYOUT_PATIENT].nparts; i++)
		if (l->fmt[LAYOUT_PATIENT].parts[i].tag == tag)
			return true;
	return false;
}
