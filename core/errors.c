/* A ring of the last ERRORS_KEPT failures under one lock, and the details that requests carry
 * (core/errors.h). A detail may be filled by several threads that work for one request (pages
 * asked at once, the storage SCP and the C-MOVE it serves): one lock of this module, taken only
 * on failures and for copies, orders them; a lock per detail would make it no plain value. */
#include "core/errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#define ERRORS_PATH_MAX 1024

struct errors_entry {
	time_t when;
	int err;
	uid_t uid; /* whose request met it; ERRORS_NO_UID: nobody's */
	char path[ERRORS_PATH_MAX];
	char where[ERRORS_WHERE_MAX];
	char status[ERRORS_STATUS_MAX];
	char reason[ERRORS_REASON_MAX];
};

static struct {
	pthread_mutex_t lock;
	struct errors_entry ring[ERRORS_KEPT];
	size_t next; /* where the next one goes */
	unsigned long long count;
} errors = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Guards every struct errors_detail while it is filled or read. */
static pthread_mutex_t detail_lock = PTHREAD_MUTEX_INITIALIZER;

void errors_detail_init(struct errors_detail *d)
{
	d->where[0] = d->status[0] = d->reason[0] = d->incomplete[0] = '\0';
	d->set = false;
}

/* Fill @d (detail_lock held); with @keep_reason, a reason @d holds without a request stays. */
static void detail_fill(struct errors_detail *d, bool keep_reason, const char *where,
			const char *status, const char *reason_fmt, va_list ap)
{
	bool keep = keep_reason && d->set && !d->where[0];

	snprintf(d->where, sizeof(d->where), "%s", where ? where : "");
	snprintf(d->status, sizeof(d->status), "%s", status ? status : "");
	if (!keep)
		vsnprintf(d->reason, sizeof(d->reason), reason_fmt, ap);
	d->set = true;
}

void errors_detail_set(struct errors_detail *d, const char *where, const char *status,
		       const char *reason_fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, reason_fmt);
	pthread_mutex_lock(&detail_lock);
	detail_fill(d, false, where, status, reason_fmt, ap);
	pthread_mutex_unlock(&detail_lock);
	va_end(ap);
}

void errors_detail_refused(struct errors_detail *d, const char *where, const char *status,
			   const char *reason_fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, reason_fmt);
	pthread_mutex_lock(&detail_lock);
	detail_fill(d, true, where, status, reason_fmt, ap);
	pthread_mutex_unlock(&detail_lock);
	va_end(ap);
}

void errors_detail_copy(struct errors_detail *d, const struct errors_detail *src)
{
	if (!d || !src || d == src)
		return;
	pthread_mutex_lock(&detail_lock);
	if (src->set) {
		memcpy(d->where, src->where, sizeof(d->where));
		memcpy(d->status, src->status, sizeof(d->status));
		memcpy(d->reason, src->reason, sizeof(d->reason));
		d->set = true;
	}
	if (src->incomplete[0])
		memcpy(d->incomplete, src->incomplete, sizeof(d->incomplete));
	pthread_mutex_unlock(&detail_lock);
}

void errors_detail_incomplete(struct errors_detail *d, const char *what)
{
	if (!d)
		return;
	pthread_mutex_lock(&detail_lock);
	snprintf(d->incomplete, sizeof(d->incomplete), "%s", what && *what ? what : "a query");
	pthread_mutex_unlock(&detail_lock);
}

bool errors_detail_is_incomplete(const struct errors_detail *d)
{
	bool is;

	if (!d)
		return false;
	pthread_mutex_lock(&detail_lock);
	is = d->incomplete[0] != '\0';
	pthread_mutex_unlock(&detail_lock);
	return is;
}

void errors_record(const struct errors_detail *d, const char *path, int err,
		   const char *fallback_reason)
{
	errors_record_by(ERRORS_NO_UID, d, path, err, fallback_reason);
}

void errors_record_by(uid_t uid, const struct errors_detail *d, const char *path, int err,
		      const char *fallback_reason)
{
	struct errors_entry e = {.when = time(NULL), .err = err, .uid = uid};

	snprintf(e.path, sizeof(e.path), "%s", path ? path : "");
	if (d)
		pthread_mutex_lock(&detail_lock);
	if (d && err && d->set) {
		memcpy(e.where, d->where, sizeof(e.where));
		memcpy(e.status, d->status, sizeof(e.status));
		memcpy(e.reason, d->reason, sizeof(e.reason));
	} else if (d && !err && d->incomplete[0]) {
		snprintf(e.status, sizeof(e.status), "incomplete");
		snprintf(e.reason, sizeof(e.reason), "%s: the archive holds more than it sent",
			 d->incomplete);
	} else {
		if (!fallback_reason)
			fallback_reason = err ? strerror(-err) : "";
		snprintf(e.reason, sizeof(e.reason), "%s", fallback_reason);
	}
	if (d)
		pthread_mutex_unlock(&detail_lock);
	pthread_mutex_lock(&errors.lock);
	errors.ring[errors.next] = e;
	errors.next = (errors.next + 1) % ERRORS_KEPT;
	errors.count++;
	pthread_mutex_unlock(&errors.lock);
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
		err = err ? err : add_field(out, e->where, '\t');
		err = err ? err : add_field(out, e->status, '\t');
		err = err ? err : add_field(out, e->reason, '\n');
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
}
