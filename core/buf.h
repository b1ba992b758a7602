/* A growable byte buffer with a hard cap (curl's dynbuf): it fails rather than grow without bound
 * when a server sends more than any sane reply would hold. */
#ifndef TROLLEY_BUF_H
#define TROLLEY_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len, cap, max;
};

/** Start empty; the buffer will never hold more than @max bytes. */
void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/** Append @n bytes. @return 0, -ENOMEM, or -E2BIG past the cap (contents then unchanged). */
int buf_add(struct buf *b, const void *p, size_t n);
/** Append formatted text. @return as buf_add(). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Drop the first @n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/** Hand the contents to the caller (caller frees; "" if empty, NULL on ENOMEM); @b is left empty. */
char *buf_take_string(struct buf *b);

#endif
