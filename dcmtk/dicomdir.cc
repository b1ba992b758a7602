/* dcmtk's DicomDirInterface behind dcmtk/dicomdir.h: media/fileset.c lays a study's instances
 * out as a file-set in a folder under cache_dir and hands their file IDs here one by one; the
 * DICOMDIR written here is what /media/<study>/DICOMDIR serves. */
#include "dcmtk/dicomdir.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <new>
#include <string>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcddirif.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdicdir.h>
#include <dcmtk/oflog/oflog.h>

/* A File-set ID is CS, at most 16 characters (PS3.3 F.5). */
#define DICOMDIR_FILESET_ID "TROLLEY"

struct dicomdir {
	DicomDirInterface iface;
	std::string root, path;
};

static void say(char *why, size_t n, const char *what, const OFCondition &cond)
{
	snprintf(why, n, "%s: %s", what, cond.text());
}

/* Run @body, turning what dcmtk throws into an errno (no exception crosses into C). */
template <typename F> static int guarded(char *why, size_t n, F body)
{
	try {
		return body();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		snprintf(why, n, "dcmtk failed");
		return -EIO;
	}
}

int dicomdir_new(const char *root, struct dicomdir **out, char *why, size_t n)
{
	return guarded(why, n, [&] {
		std::unique_ptr<dicomdir> d(new dicomdir);
		OFCondition cond;

		/* dcmtk's own diagnostics (a warning per compressed image, per invented value)
		 * would flood the daemon's log: only its errors, as in dcmtk/dimse.cc. Once:
		 * it reconfigures a process-wide logger, and builds run on several threads. */
		static std::once_flag quiet;

		std::call_once(quiet, [] { OFLog::configure(OFLogger::ERROR_LOG_LEVEL); });
		d->root = root;
		d->path = d->root + "/DICOMDIR";
		/* dcmtk's disable...() setters take the check's new state: OFFalse turns it off. */
		d->iface.enableInventMode(OFTrue);
		d->iface.disableTransferSyntaxCheck(OFFalse);
		d->iface.enableRetiredSOPClassSupport(OFTrue);
		d->iface.disableBackupMode(OFFalse);
		cond = d->iface.createNewDicomDir(DicomDirInterface::AP_GeneralPurpose,
						  OFFilename(d->path.c_str()), DICOMDIR_FILESET_ID);
		if (cond.bad()) {
			say(why, n, "creating the DICOMDIR", cond);
			return -EIO;
		}
		*out = d.release();
		return 0;
	});
}

int dicomdir_add(struct dicomdir *d, const char *file_id, char *why, size_t n)
{
	return guarded(why, n, [&] {
		OFCondition cond =
			d->iface.addDicomFile(OFFilename(file_id), OFFilename(d->root.c_str()));

		if (cond.bad()) {
			say(why, n, "dcmtk refused it", cond);
			return -EIO;
		}
		return 0;
	});
}

/* Records under @rec that reference a file, at any depth. */
static size_t count_files(DcmDirectoryRecord &rec)
{
	size_t files = 0;

	for (unsigned long i = 0; i < rec.cardSub(); i++) {
		DcmDirectoryRecord *sub = rec.getSub(i);

		if (!sub)
			continue;
		if (sub->tagExistsWithValue(DCM_ReferencedFileID))
			files++;
		files += count_files(*sub);
	}
	return files;
}

int dicomdir_write(struct dicomdir *d, size_t *files, char *why, size_t n)
{
	return guarded(why, n, [&] {
		OFCondition cond = d->iface.writeDicomDir();

		if (cond.bad()) {
			say(why, n, "writing the DICOMDIR", cond);
			return -EIO;
		}
		/* Read back what was written: the count is of the file, not of our intentions. */
		DcmDicomDir written(OFFilename(d->path.c_str()));

		cond = written.error();
		if (cond.bad()) {
			say(why, n, "reading the DICOMDIR back", cond);
			return -EIO;
		}
		*files = count_files(written.getRootRecord());
		return 0;
	});
}

void dicomdir_free(struct dicomdir *d)
{
	delete d;
}
