/* Logging: one global level; stderr while in the foreground, syslog after daemonising (stderr is
 * then /dev/null, and a mount helper's messages must still reach the admin). */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <pthread.h>
#include <time.h>

static enum log_level log_threshold = LOG_LEVEL_WARN;
static int log_to_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_words[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_parse_level(const char *word, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(log_words) / sizeof(log_words[0]); i++) {
		if (strcmp(word, log_words[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_use_syslog(void)
{
	openlog("trolley", LOG_PID, LOG_DAEMON);
	log_to_syslog = 1;
}

int log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char line[2048];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	/* One write per line under a lock so lines from FUSE threads never interleave. */
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "trolley: %s: %s\n", log_words[level], line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

char *log_redact_url(const char *url, char *out, unsigned long n)
{
	const char *scheme_end, *host, *at, *slash;
	size_t len;

	if (n == 0)
		return out;
	if (!url) {
		out[0] = '\0';
		return out;
	}
	scheme_end = strstr(url, "://");
	host = scheme_end ? scheme_end + 3 : url;
	slash = strchr(host, '/');
	at = strchr(host, '@');
	if (at && (!slash || at < slash)) {
		len = (size_t)(host - url);
		if (len >= n)
			len = n - 1;
		memcpy(out, url, len);
		snprintf(out + len, n - len, "%s", at + 1);
		return out;
	}
	snprintf(out, n, "%s", url);
	return out;
}
