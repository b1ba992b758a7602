/* What the files of deid/ share and nobody else sees: the de-identifier's struct, the HMAC
 * under its key, and Table E.1-1 (deid/table.c). */
#ifndef TROLLEY_DEID_INTERNAL_H
#define TROLLEY_DEID_INTERNAL_H

#include "deid/deid.h"

/** The most bytes of a derivation's message hashed as they are (label, NUL, value). */
#define DEID_MSG_MAX 1024

struct deid {
	struct deid_options opts;
	size_t key_len;
	unsigned char key[DEID_KEY_MAX];
};

/** HMAC-SHA256(key, @label NUL @value) into @mac. @return 0 or -ENOMEM (OpenSSL failed). */
int deid_hmac(const struct deid *d, const char *label, const void *value, size_t len,
	      unsigned char mac[32]);

#endif
