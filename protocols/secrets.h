/* Secrets (passwords, tokens) come only from files that nobody else may read: never from
 * option values, which /proc/<pid>/cmdline and shell histories show. */
#ifndef TROLLEY_SECRETS_H
#define TROLLEY_SECRETS_H

/**
 * Read the secret in @path: its first line, without the line end. Refused if the file can be
 * read or written by group or others, or is not a regular file. Messages go to the log and
 * never contain the secret. @return 0 and a malloc'd string in @out (free with
 * secret_free()); -EPERM (loose permissions), -EINVAL (empty, too long), or -errno.
 */
int secret_read_file(const char *path, char **out);
/** Wipe and free a secret. NULL is fine. */
void secret_free(char *secret);

#endif
