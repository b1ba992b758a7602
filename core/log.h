/* Logging for every module: one level for the process, to stderr in the foreground and to syslog
 * once daemonised. Messages are lowercase and name the thing that failed first. */
#ifndef TROLLEY_LOG_H
#define TROLLEY_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * Rate limits for lines that someone other than the user can trigger at will (a connection to
 * the C-MOVE storage SCP, a request from another host): one such line per event lets a
 * stranger fill the log and the disk under it (232 lines in 10 s from one script). A
 * struct log_limit is one call site's budget: at most @burst lines per @window_s seconds;
 * the lines over it are counted, not written, and the next line let through after a window
 * with suppressed lines is preceded by one line "N more lines like \"FORMAT...\" were
 * suppressed in the last S s" (at the same level), so the count is never lost while the
 * site keeps firing. Thread-safe; the state is guarded by its own lock.
 *
 * Use log_warn_limited() (and log_error_limited(), log_info_limited()) at a call site: each
 * expansion keeps its own static struct log_limit with LOG_LIMIT_BURST lines per
 * LOG_LIMIT_WINDOW_S seconds. For another budget, declare one with
 * LOG_LIMIT_INIT(burst, window_s) and call log_msg_limited() with it.
 */
struct log_limit {
	unsigned burst;		    /* lines let through per window */
	unsigned window_s;	    /* seconds */
	pthread_mutex_t lock;	    /* guards the rest */
	uint64_t window_start;	    /* CLOCK_MONOTONIC ms when the current window began; 0: none */
	unsigned used;		    /* lines let through in the current window */
	unsigned long suppressed;   /* lines dropped since the last one let through */
	unsigned long suppressed_s; /* over how many seconds (for the summary line) */
};

/* 10 lines in any minute per call site: enough to see what happens and from whom, while a
 * flood costs one summary line a minute. */
#define LOG_LIMIT_BURST	   10
#define LOG_LIMIT_WINDOW_S 60

#define LOG_LIMIT_INIT(burst, window_s)                                                            \
	{                                                                                          \
		(burst), (window_s), PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0                         \
	}

/**
 * Whether a line of @l may be written at time @now_ms (CLOCK_MONOTONIC milliseconds). When it
 * may and lines were suppressed before it, *@suppressed is their count and *@over_s the
 * seconds they span (else both 0). Pure bookkeeping, for log_msg_limited() and tests.
 */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, unsigned long *suppressed,
		    unsigned long *over_s);

/** log_msg() within @l's budget (see struct log_limit). */
void log_msg_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_limited_at(level, ...)                                                                 \
	do {                                                                                       \
		static struct log_limit log_site_limit_ =                                          \
			LOG_LIMIT_INIT(LOG_LIMIT_BURST, LOG_LIMIT_WINDOW_S);                       \
		log_msg_limited(&log_site_limit_, (level), __VA_ARGS__);                           \
	} while (0)
#define log_error_limited(...) log_limited_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn_limited(...)  log_limited_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info_limited(...)  log_limited_at(LOG_LEVEL_INFO, __VA_ARGS__)

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
