/* The key and the derivations: every replacement value deid makes is an HMAC-SHA256 of the
 * original under the key, with a label per kind of value (so a UID and a name that happen to be
 * equal strings get unrelated replacements). Nothing here is ever logged. */
#include "deid/deid.h"
#include "deid/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct deid_key {
	size_t len;
	unsigned char bytes[DEID_KEY_MAX];
};

int deid_key_from_bytes(const void *bytes, size_t len, struct deid_key **out)
{
	struct deid_key *k;

	if (len < DEID_KEY_MIN || len > DEID_KEY_MAX)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	memcpy(k->bytes, bytes, len);
	k->len = len;
	*out = k;
	return 0;
}

void deid_key_free(struct deid_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

int deid_key_load(const char *path, struct deid_key **out, const char **why)
{
	unsigned char *buf;
	struct stat st;
	size_t got = 0;
	const char *reason = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		reason = "cannot open the key file";
		goto out;
	}
	/* Checked on the open file, not the path: no window for a swap in between. */
	if (fstat(fd, &st) < 0) {
		err = -errno;
		reason = "cannot stat the key file";
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		reason = "the key file is not a regular file";
		goto out_close;
	}
	if (st.st_mode & 077) {
		err = -EPERM;
		reason = "the key file is readable or writable by group or others (chmod 600 it)";
		goto out_close;
	}
	buf = malloc(DEID_KEY_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	while (got <= DEID_KEY_MAX) {
		ssize_t r = read(fd, buf + got, DEID_KEY_MAX + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			reason = "cannot read the key file";
			goto out_wipe;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got < DEID_KEY_MIN) {
		err = -EINVAL;
		reason = "the key file holds fewer than 32 bytes";
		goto out_wipe;
	}
	if (got > DEID_KEY_MAX) {
		err = -EINVAL;
		reason = "the key file holds more than 4096 bytes";
		goto out_wipe;
	}
	err = deid_key_from_bytes(buf, got, out);
out_wipe:
	OPENSSL_cleanse(buf, DEID_KEY_MAX + 1);
	free(buf);
out_close:
	close(fd);
out:
	if (why)
		*why = reason ? reason : err ? "cannot load the key" : NULL;
	return err;
}

int deid_new(const struct deid_key *k, const struct deid_options *o, struct deid **out)
{
	struct deid *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	memcpy(d->key, k->bytes, k->len);
	d->key_len = k->len;
	if (o)
		d->opts = *o;
	*out = d;
	return 0;
}

void deid_free(struct deid *d)
{
	if (!d)
		return;
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}

const struct deid_options *deid_opts(const struct deid *d)
{
	return &d->opts;
}

int deid_hmac(const struct deid *d, const char *label, const void *value, size_t len,
	      unsigned char mac[32])
{
	unsigned char msg[DEID_MSG_MAX];
	size_t ll = strlen(label);
	unsigned int n = 32;

	/* "label" NUL value: a label per kind keeps equal strings of different kinds apart. A
	 * value longer than the buffer (long text only; UIDs and names are short) is first
	 * reduced to its SHA-256, marked so it cannot equal a short value's message. */
	memcpy(msg, label, ll + 1);
	if (len <= sizeof(msg) - ll - 1) {
		memcpy(msg + ll + 1, value, len);
		len += ll + 1;
	} else {
		unsigned int h = 32;

		msg[ll] = 1;
		if (!EVP_Digest(value, len, msg + ll + 1, &h, EVP_sha256(), NULL))
			return -ENOMEM;
		len = ll + 1 + h;
	}
	if (!HMAC(EVP_sha256(), d->key, (int)d->key_len, msg, len, mac, &n))
		return -ENOMEM;
	return 0;
}
