/* A streaming check that bytes are DICOM JSON metadata (PS3.18 §F.2), in constant memory: the
 * reply is fed in the pieces curl hands over, and nothing is parsed into a tree. */
#ifndef TROLLEY_JSON_CHECK_H
#define TROLLEY_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** JSON nesting the check follows. DICOM JSON takes three levels for the top array, a data set
 * and an attribute, and three more per sequence (Value array, item, attribute): 64 is 20
 * nested sequences, more than any real data set has. */
#define JSON_CHECK_DEPTH_MAX 64

/** Why a body is refused (the first fault found, with its byte offset). */
enum json_check_error {
	JSON_CHECK_OK = 0,
	JSON_CHECK_SYNTAX,	/* not JSON: a byte where the grammar has no place for it */
	JSON_CHECK_TRAILING,	/* more than whitespace after the top-level value */
	JSON_CHECK_TRUNCATED,	/* the body ended inside a value (or was empty) */
	JSON_CHECK_NUMBER,	/* a number outside RFC 8259's grammar ("01", "1.", "-") */
	JSON_CHECK_ESCAPE,	/* a bad escape, or a \u surrogate without its pair */
	JSON_CHECK_UTF8,	/* a string holds bytes that are not UTF-8 */
	JSON_CHECK_CONTROL,	/* a raw control byte inside a string */
	JSON_CHECK_DEPTH,	/* nested deeper than JSON_CHECK_DEPTH_MAX */
	JSON_CHECK_NOT_ARRAY,	/* the top-level value is not an array */
	JSON_CHECK_NOT_DATASET, /* an element of the top array is not an object */
	JSON_CHECK_BAD_TAG,	/* a data set key is not 8 hex digits */
	JSON_CHECK_BAD_ATTR,	/* an attribute is not an object with a two-letter "vr" (and an
				 * array as "Value" when it has one) */
};

/** json_check_init() flags. */
enum {
	/** Strings may hold any byte but '"' and '\\' unescaped: invalid UTF-8 and raw control
	 * bytes pass, as cJSON takes them. For QIDO answers, whose values the names layer cleans:
	 * one archive's Latin-1 name must not empty a whole listing. */
	JSON_CHECK_ANY_STRING_BYTES = 1,
	/** A malformed escape inside a string (a lone UTF-16 surrogate, "\\x", a \\u without
	 * four hex digits) stands for U+FFFD instead of refusing the body: one archive's bad UID
	 * must not empty a whole listing. json_check_repair() rewrites such a text for a parser
	 * that wants RFC 8259; json_check_repairs() counts them. */
	JSON_CHECK_LAX_ESCAPES = 2,
};

/** The checker's state; fields are private. Plain data: no release needed. */
struct json_check {
	enum json_check_error error;
	unsigned flags;
	size_t offset; /* bytes consumed so far; where the error is once one is found */
	uint8_t state, sub, attr_flags, member, scratch_len, lit_len;
	uint16_t depth;
	uint32_t code;	      /* \uXXXX being read, or the high surrogate waiting for its pair */
	uint8_t need, lo, hi; /* UTF-8 continuation bytes still due, and the next one's range */
	size_t repairs;	      /* malformed escapes taken as U+FFFD (JSON_CHECK_LAX_ESCAPES) */
	const char *literal;
	char scratch[10]; /* the first bytes of a key or "vr" value whose content matters */
	uint8_t stack[JSON_CHECK_DEPTH_MAX / 8]; /* one bit per level: 1 object, 0 array */
};

/** Start a check of a new body, with JSON_CHECK_* @flags (0: all of RFC 8259). */
void json_check_init(struct json_check *c, unsigned flags);

/**
 * Feed the next @len bytes. Pieces may split anywhere (inside a string, a UTF-8 sequence, an
 * escape, a number): the result does not depend on where.
 * @return 0 while the bytes so far can begin valid metadata; -EIO once they cannot (then
 * json_check_error() says why; later calls keep failing).
 */
int json_check_feed(struct json_check *c, const void *data, size_t len);

/**
 * Like json_check_feed(), but stop just after a top-level element (one data set) has ended,
 * so that a caller can take the elements one at a time.
 * @return the bytes consumed (all of @len unless an element ended or the check failed);
 * *@element_end tells whether it stopped at the end of an element.
 */
size_t json_check_step(struct json_check *c, const void *data, size_t len, bool *element_end);

/** The body is complete. @return 0 if it was valid metadata, -EIO if not (see the error). */
int json_check_finish(struct json_check *c);

/** Whether nothing but whitespace (or nothing at all) has been fed: QIDO's 204 or blank 200. */
bool json_check_is_blank(const struct json_check *c);

/** Why the check failed (JSON_CHECK_OK while it has not). */
enum json_check_error json_check_error(const struct json_check *c);

/** A short lowercase description of @e for log lines (static storage). */
const char *json_check_strerror(enum json_check_error e);

/** The byte offset the check has reached (where it failed, once it has). */
size_t json_check_offset(const struct json_check *c);

/** How many malformed escapes a JSON_CHECK_LAX_ESCAPES check has taken as U+FFFD so far. */
size_t json_check_repairs(const struct json_check *c);

/**
 * Rewrite @len bytes of JSON that a JSON_CHECK_LAX_ESCAPES check accepted (a whole value,
 * starting outside any string) so that each malformed escape is "\\ufffd", as that check
 * read it; everything else is copied as it is. Reads only inside @len.
 * @return the new text in *@out (caller frees; *@out_len bytes, NUL added), 0 or -ENOMEM.
 */
int json_check_repair(const char *in, size_t len, char **out, size_t *out_len);

#endif
