/* Streaming multipart/related parser (RFC 2046 §5.1, as WADO-RS and RAD-69 MTOM use it): bytes in
 * as they arrive from the socket, parts out through callbacks, never a whole body in memory. */
#ifndef TROLLEY_MULTIPART_H
#define TROLLEY_MULTIPART_H

#include <stddef.h>

/** What the parser calls. Each returns 0 to go on or a negative errno to stop the parse. */
struct mp_callbacks {
	/**
	 * A part starts; its headers are parsed. @content_type and @content_id are borrowed, valid
	 * until the call returns, trimmed of surrounding white space ("" if absent).
	 */
	int (*part_begin)(void *ctx, const char *content_type, const char *content_id);
	/** Body bytes of the current part, in order, in pieces of any size. */
	int (*part_data)(void *ctx, const void *data, size_t len);
	/** The current part ended at its delimiter (the CRLF before the delimiter is not body). */
	int (*part_end)(void *ctx);
};

struct mp_parser;

/**
 * Extract the boundary parameter from a Content-Type value (quoted or not, any parameter order).
 * @return 0 and the boundary in @out (NUL-terminated, at most @n bytes with NUL); -EINVAL if the
 * type is not multipart/... or has no boundary; -E2BIG if it does not fit (RFC 2046: <= 70).
 */
int mp_boundary_from_content_type(const char *content_type, char *out, size_t n);

/**
 * A parser for one body. @cb and @ctx are borrowed for its life. @return NULL on ENOMEM, or if
 * @boundary is not 1 to 70 characters free of CR and LF (mp_boundary_from_content_type() gives
 * only such boundaries).
 */
struct mp_parser *mp_parser_new(const char *boundary, const struct mp_callbacks *cb, void *ctx);
/**
 * Feed the next @len bytes. @return 0; -EPROTO if the body is malformed (e.g. headers longer than
 * 16 KiB, no CRLF after a delimiter); or the negative errno a callback returned. After an error
 * every later call returns the same error.
 */
int mp_parser_feed(struct mp_parser *p, const void *data, size_t len);
/**
 * The body ended. @return 0 if the close delimiter was seen; -EPROTO if the body was truncated
 * (inside a part or before any delimiter); a part in progress gets no part_end.
 */
int mp_parser_finish(struct mp_parser *p);
/** Number of parts completed so far (part_end called). */
size_t mp_parser_parts(const struct mp_parser *p);
void mp_parser_free(struct mp_parser *p);

#endif
