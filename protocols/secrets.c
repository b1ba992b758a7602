/* Reading secret files: permissions first, then at most one short line. */
#include "protocols/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define SECRET_MAX 16384

int secret_read_file(const char *path, char **out)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len;
	int fd, err;

	/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, and the
	 * mount with it; a FIFO or a device is then refused by its type below. A symbolic link
	 * is refused (O_NOFOLLOW) so the file checked is the file read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		if (err == -ELOOP)
			log_error("secret file %s: a symbolic link: name the file itself", path);
		else
			log_error("secret file %s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("secret file %s: not a regular file (a FIFO, device or folder cannot "
			  "hold a secret)",
			  path);
		close(fd);
		return -EINVAL;
	}
	/* ssh's rule for private keys: a secret others can read is no secret. */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_error("secret file %s: readable or writable by others (mode %03o): "
			  "chmod 600 it",
			  path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -EPERM;
	}
	buf = malloc(SECRET_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, SECRET_MAX + 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		goto out_free;
	len = (size_t)n;
	if (len > SECRET_MAX) {
		log_error("secret file %s: longer than %d bytes", path, SECRET_MAX);
		err = -EINVAL;
		goto out_free;
	}
	buf[len] = '\0';
	len = strcspn(buf, "\r\n");
	/* Only the first line is the secret; wipe the rest so secret_free() (which wipes up to
	 * the NUL) leaves nothing of the file behind. */
	explicit_bzero(buf + len, SECRET_MAX + 1 - len);
	if (!buf[0]) {
		log_error("secret file %s: empty", path);
		err = -EINVAL;
		goto out_free;
	}
	*out = buf;
	return 0;
out_free:
	explicit_bzero(buf, SECRET_MAX + 1);
	free(buf);
	return err;
}

void secret_free(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
