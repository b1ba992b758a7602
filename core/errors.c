/* A ring of the last ERRORS_KEPT failures under one lock, and one note per thread. The note is
 * thread-local because a request and its failure happen on one thread (a FUSE worker, a
 * prefetch worker): the fs layer takes the note of the request it just made, never another
 * thread's. */
#include "core/errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define ERRORS_PATH_MAX	  1024
#define ERRORS_WHERE_MAX  1024
#define ERRORS_STATUS_MAX 64
#define ERRORS_REASON_MAX 512

struct errors_detail {
	char where[ERRORS_WHERE_MAX];
	char status[ERRORS_STATUS_MAX];
	char reason[ERRORS_REASON_MAX];
};

struct errors_entry {
	time_t when;
	int err;
	uid_t uid; /* whose request met it; ERRORS_NO_UID: nobody's */
	char path[ERRORS_PATH_MAX];
	struct errors_detail d;
};

static struct {
	pthread_mutex_t lock;
	struct errors_entry ring[ERRORS_KEPT];
	size_t next; /* where the next one goes */
	unsigned long long count;
} errors = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread struct errors_detail note;
static __thread bool noted;

void errors_note(const char *where, const char *status, const char *reason_fmt, ...)
{
	va_list ap;

	snprintf(note.where, sizeof(note.where), "%s", where ? where : "");
	snprintf(note.status, sizeof(note.status), "%s", status ? status : "");
	va_start(ap, reason_fmt);
	vsnprintf(note.reason, sizeof(note.reason), reason_fmt, ap);
	va_end(ap);
	noted = true;
}

static __thread char incomplete[256];

void errors_note_refused(const char *where, const char *status, const char *reason_fmt, ...)
{
	va_list ap;

	if (noted && !note.where[0]) {
		snprintf(note.where, sizeof(note.where), "%s", where ? where : "");
		snprintf(note.status, sizeof(note.status), "%s", status ? status : "");
		return;
	}
	snprintf(note.where, sizeof(note.where), "%s", where ? where : "");
	snprintf(note.status, sizeof(note.status), "%s", status ? status : "");
	va_start(ap, reason_fmt);
	vsnprintf(note.reason, sizeof(note.reason), reason_fmt, ap);
	va_end(ap);
	noted = true;
}

void errors_forget_note(void)
{
	noted = false;
	incomplete[0] = '\0';
}

void errors_note_incomplete(const char *what)
{
	snprintf(incomplete, sizeof(incomplete), "%s", what && *what ? what : "a query");
}

bool errors_take_incomplete(void)
{
	if (!incomplete[0])
		return false;
	errors_note("", "incomplete", "%s: the archive holds more than it sent", incomplete);
	incomplete[0] = '\0';
	return true;
}

void errors_record(const char *path, int err, const char *fallback_reason)
{
	errors_record_by(ERRORS_NO_UID, path, err, fallback_reason);
}

void errors_record_by(uid_t uid, const char *path, int err, const char *fallback_reason)
{
	struct errors_entry *e;

	pthread_mutex_lock(&errors.lock);
	e = &errors.ring[errors.next];
	errors.next = (errors.next + 1) % ERRORS_KEPT;
	errors.count++;
	e->when = time(NULL);
	e->err = err;
	e->uid = uid;
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	if (noted) {
		e->d = note;
	} else {
		if (!fallback_reason)
			fallback_reason = err ? strerror(-err) : "";
		e->d.where[0] = e->d.status[0] = '\0';
		snprintf(e->d.reason, sizeof(e->d.reason), "%s", fallback_reason);
	}
	pthread_mutex_unlock(&errors.lock);
	noted = false;
}

/* One field, escaped, then a tab or the line's end. */
static int add_field(struct buf *out, const char *s, char end)
{
	char esc[ERRORS_WHERE_MAX * 4 + 1];
	size_t n;

	if (!*s)
		s = "-";
	n = log_escape(s, strlen(s), esc, sizeof(esc));
	esc[n++] = end;
	return buf_add(out, esc, n);
}

/* The list with every failure (@all) or those of @uid only. */
static int errors_text_for(struct buf *out, bool all, uid_t uid)
{
	int err;

	err = buf_printf(out,
			 "# time\terror\tpath\tasked\tstatus\treason (newest first; %sthe last "
			 "%d of %llu)\n",
			 all ? "" : "yours among ", ERRORS_KEPT, errors_count());
	pthread_mutex_lock(&errors.lock);
	for (size_t i = 1; !err && i <= ERRORS_KEPT && i <= errors.count; i++) {
		const struct errors_entry *e =
			&errors.ring[(errors.next + ERRORS_KEPT - i) % ERRORS_KEPT];
		const char *name = e->err ? strerrorname_np(-e->err) : "incomplete";
		char when[32];
		struct tm tm;

		if (!all && e->uid != uid)
			continue;
		gmtime_r(&e->when, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		err = buf_printf(out, "%s\t%s\t", when, name ? name : "?");
		err = err ? err : add_field(out, e->path, '\t');
		err = err ? err : add_field(out, e->d.where, '\t');
		err = err ? err : add_field(out, e->d.status, '\t');
		err = err ? err : add_field(out, e->d.reason, '\n');
	}
	pthread_mutex_unlock(&errors.lock);
	return err;
}

int errors_text(struct buf *out)
{
	return errors_text_for(out, true, 0);
}

int errors_text_of(struct buf *out, uid_t uid)
{
	return errors_text_for(out, false, uid);
}

unsigned long long errors_count(void)
{
	unsigned long long n;

	pthread_mutex_lock(&errors.lock);
	n = errors.count;
	pthread_mutex_unlock(&errors.lock);
	return n;
}

void errors_clear(void)
{
	pthread_mutex_lock(&errors.lock);
	errors.next = 0;
	errors.count = 0;
	pthread_mutex_unlock(&errors.lock);
	noted = false;
}
