/* Logging for every module: one level for the process, to stderr in the foreground and to syslog
 * once daemonised. Messages are lowercase and name the thing that failed first. */
#ifndef TROLLEY_LOG_H
#define TROLLEY_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/** Set the threshold; messages above it are dropped. */
void log_set_level(enum log_level level);
/** Parse "error|warn|info|debug". @return 0, or -EINVAL for another word. */
int log_parse_level(const char *word, enum log_level *out);
/** Send later messages to syslog (after fuse_daemonize() closed stderr). */
void log_use_syslog(void);
/** Whether a message at @level would be written (to skip building costly arguments). */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/**
 * Copy @url into @out (size @n) without any "user:password@" part and with the values of
 * query parameters that carry credentials (access_token=, sig=, X-Amz-Signature=, ...)
 * replaced by "***", so a URL can be logged. Always NUL-terminates (truncating if needed).
 * @return @out.
 */
char *log_redact_url(const char *url, char *out, unsigned long n);

/**
 * Copy @len bytes of @s into @out (size @n, always NUL-terminated, cut at a whole character)
 * with every byte that could forge or hide log text written as \xNN: C0 controls (\n, \r,
 * \t, ESC...), DEL, C1 controls (U+0080..U+009F) and bytes that are not valid UTF-8. Valid
 * UTF-8 text (patient names) stays as it is. log_msg() applies it to every line.
 * @return the length written.
 */
size_t log_escape(const char *s, size_t len, char *out, size_t n);

#endif
