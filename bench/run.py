#!/usr/bin/python3
"""trolley's benchmark: one loopback Orthanc + DICOMweb, a generated 400-instance ~200 MB CT
study and a 2,000-instance series of small images, and trolley measured against curl (the wire)
and a local copy. Prints one table of medians with ratios measured in the same run.

    /usr/bin/python3 bench/run.py [--runs N] [--binary build/mount.trolley]

Needs what scripts/deps.sh installs and a built binary (meson setup build && ninja -C build).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from conftest import is_mounted  # noqa: E402
from servers import Orthanc, free_port, wait_for  # noqa: E402

ACCEPT = 'Accept: multipart/related; type="application/dicom"; transfer-syntax=*'
ROOT = "1.2.826.0.1.3680043.8.498.7."


def make_instance(path, study, series, number, size, series_number, rng):
    sop = generate_uid(prefix=ROOT)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = sop
    ds.PatientName, ds.PatientID = "Bench^Mark", "BENCH"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate, ds.StudyTime, ds.StudyDescription = "20240101", "120000", "BENCH"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", str(series_number), str(number)
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, size=(size, size), dtype=np.uint16).tobytes()
    ds.save_as(path, write_like_original=False)
    return sop


def generate(out):
    """Case A: a study of 2 series x 200 CT images of 512x512 (~210 MB). Case B: one series of
    2,000 images of 32x32."""
    rng = np.random.default_rng(7)
    os.makedirs(out)
    study_a = generate_uid(prefix=ROOT)
    for s in (1, 2):
        series = generate_uid(prefix=ROOT)
        for i in range(200):
            make_instance(os.path.join(out, "a-%d-%03d.dcm" % (s, i)), study_a, series, i + 1,
                          512, s, rng)
    study_b, series_b = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
    first_b = None
    for i in range(2000):
        sop = make_instance(os.path.join(out, "b-%04d.dcm" % i), study_b, series_b, i + 1, 32,
                            1, rng)
        first_b = first_b or sop
    return study_a, study_b, series_b


def timed(argv, **kw):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


class Trolley:
    def __init__(self, binary, source, mnt, cache, options=""):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        opts = "cache_dir=" + cache + ("," + options if options else "")
        self.proc = subprocess.Popen([binary, "-f", "-o", opts, source, mnt],
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: is_mounted(mnt), 20, "the mount")

    def status_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def sample_anon(self, stop, peak):
        """Poll the daemon's private memory (RssAnon): VmHWM also counts the LMDB map's
        file pages, which are the kernel's page cache, shared and reclaimable."""
        while not stop.is_set():
            peak[0] = max(peak[0], self.status_kib("RssAnon"))
            time.sleep(0.01)

    def stop(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        self.proc.wait(60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "mount.trolley"))
    ap.add_argument("--no-dimse", action="store_true", help="skip the C-GET/C-MOVE rows")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="trolley-bench-")
    server = None
    try:
        print("generating and loading the data (once)...", file=sys.stderr)
        data = os.path.join(work, "data")
        study_a, study_b, series_b = generate(data)
        os.makedirs(os.path.join(work, "orthanc"))
        server = Orthanc(os.path.join(work, "orthanc"))
        server.upload(sorted(os.path.join(data, f) for f in os.listdir(data)))
        web = server.dicomweb
        results = measure(args, work, web, study_a, study_b, series_b)
        if not args.no_dimse:
            results.update(measure_dimse(args, work, server, study_a))
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, args.runs)


def measure(args, work, web, study_a, study_b, series_b):
    r = {k: [] for k in ("raw", "cold", "warm", "local", "qido", "ls_cold", "ls_warm",
                         "curl_one", "first_byte", "rss", "hwm")}
    one = None
    for run in range(args.runs):
        print("run %d of %d..." % (run + 1, args.runs), file=sys.stderr)
        d = os.path.join(work, "run%d" % run)
        os.makedirs(d)
        r["raw"].append(timed(["curl", "-sf", "-o", "/dev/null", "-H", ACCEPT,
                               "%s/studies/%s" % (web, study_a)]))
        # Cold: a fresh cache and a fresh mount.
        t = Trolley(args.binary, web, os.path.join(d, "mnt"), os.path.join(d, "cache"))
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=t.sample_anon, args=(stop, peak))
        sampler.start()
        r["cold"].append(timed(["cp", "-r", os.path.join(t.mnt, "studies", study_a),
                                os.path.join(d, "cold")]))
        stop.set()
        sampler.join()
        r["rss"].append(peak[0] / 1024)
        r["hwm"].append(t.status_kib("VmHWM") / 1024)
        t.stop()
        # Warm: the same cache, a new mount (so no kernel page cache of the old one).
        t = Trolley(args.binary, web, os.path.join(d, "mnt"), os.path.join(d, "cache"))
        r["warm"].append(timed(["cp", "-r", os.path.join(t.mnt, "studies", study_a),
                                os.path.join(d, "warm")]))
        t.stop()
        r["local"].append(timed(["cp", "-r", os.path.join(d, "cold"), os.path.join(d, "local")]))
        # ls -l of the 2,000-instance series against the raw instance query.
        r["qido"].append(timed(["curl", "-sf", "-o", "/dev/null", "-H",
                                "Accept: application/dicom+json",
                                "%s/studies/%s/series/%s/instances" % (web, study_b, series_b)]))
        t = Trolley(args.binary, web, os.path.join(d, "mnt2"), os.path.join(d, "cache2"))
        folder = os.path.join(t.mnt, "studies", study_b, series_b)
        os.listdir(os.path.join(t.mnt, "studies", study_b))
        r["ls_cold"].append(timed(["ls", "-l", folder]))
        time.sleep(1.2)  # past the kernel's folder timeout: trolley answers, not the kernel
        r["ls_warm"].append(timed(["ls", "-l", folder]))
        one = one or sorted(f for f in os.listdir(folder) if f.endswith(".dcm"))[0]
        t.stop()
        # First byte of one cold instance against one curl GET of it.
        sop = one[:-4]
        r["curl_one"].append(timed(["curl", "-sf", "-o", "/dev/null", "-H", ACCEPT,
                                    "%s/studies/%s/series/%s/instances/%s"
                                    % (web, study_b, series_b, sop)]))
        t = Trolley(args.binary, web, os.path.join(d, "mnt3"), os.path.join(d, "cache3"))
        path = os.path.join(t.mnt, "studies", study_b, series_b, one)
        os.stat(path)
        r["first_byte"].append(timed(["head", "-c", "1", path]))
        t.stop()
        shutil.rmtree(d, ignore_errors=True)
    return r


def measure_dimse(args, work, server, study):
    """The same study over DIMSE: dcmtk's getscu (bit-preserving, to disk) against a cold
    trolley cp -r through C-GET and through C-MOVE."""
    r = {k: [] for k in ("getscu", "cget", "cmove")}
    source = "dicom://ORTHANC@127.0.0.1:%d" % server.dicom_port
    port = free_port()
    server.set_move_port(port)
    for run in range(args.runs):
        print("DIMSE run %d of %d..." % (run + 1, args.runs), file=sys.stderr)
        d = os.path.join(work, "dimse%d" % run)
        os.makedirs(os.path.join(d, "getscu"))
        r["getscu"].append(timed(["getscu", "-aet", "TROLLEY", "-aec", "ORTHANC", "+B",
                                  "-od", os.path.join(d, "getscu"), "-k",
                                  "QueryRetrieveLevel=STUDY", "-k",
                                  "StudyInstanceUID=" + study, "127.0.0.1",
                                  str(server.dicom_port)]))
        for key, opts in (("cget", ""), ("cmove", "downloader=c-move,move_port=%d" % port)):
            t = Trolley(args.binary, source, os.path.join(d, "mnt-" + key),
                        os.path.join(d, "cache-" + key), opts)
            r[key].append(timed(["cp", "-r", os.path.join(t.mnt, "studies", study),
                                 os.path.join(d, key)]))
            t.stop()
        shutil.rmtree(d, ignore_errors=True)
    return r


def print_table(r, runs):
    med = {k: statistics.median(v) for k, v in r.items() if v}
    rows = [
        ("raw: curl GET of the study (WADO-RS, 400 inst.)", med["raw"], "raw", "= 1.0"),
        ("trolley cold cp -r of the study", med["cold"], "raw", "<= 1.3x raw"),
        ("trolley warm cp -r (cached, new mount)", med["warm"], "local", "<= 1.5x local"),
        ("local-disk cp -r of the same files", med["local"], "local", "= 1.0"),
        ("raw: curl QIDO of the 2,000-instance series", med["qido"], "qido", "= 1.0"),
        ("trolley ls -l of that series, cold", med["ls_cold"], "qido", "<= 1.1x qido"),
        ("trolley ls -l of that series, warm", med["ls_warm"], "qido", "<= 30 ms"),
        ("raw: curl GET of one instance", med["curl_one"], "curl_one", "= 1.0"),
        ("trolley first byte of one cold instance", med["first_byte"], "curl_one", ""),
        ("raw: dcmtk getscu of the study (C-GET, +B to disk)", med.get("getscu"), "getscu",
         "= 1.0"),
        ("trolley cold cp -r of the study over C-GET", med.get("cget"), "getscu", ""),
        ("trolley cold cp -r of the study over C-MOVE", med.get("cmove"), "getscu", ""),
    ]
    print("\nmedians of %d runs; ratios against the reference measured in the same run\n" % runs)
    print("| %-50s | %9s | %7s | %-14s |" % ("case", "seconds", "ratio", "target"))
    print("|%s|%s|%s|%s|" % ("-" * 52, "-" * 11, "-" * 9, "-" * 16))
    for name, value, ref, target in rows:
        if ref not in med:
            continue
        print("| %-50s | %9.3f | %6.2fx | %-14s |" % (name, value, value / med[ref], target))
    print("| %-50s | %9s | %7s | %-14s |" % ("peak private RSS (RssAnon) during the cold cp -r",
                                            "%.1f MB" % med["rss"], "", "<= 64 MB"))
    print("| %-50s | %9s | %7s | %-14s |" % ("peak RSS with LMDB's mapped page cache (VmHWM)",
                                            "%.1f MB" % med["hwm"], "", ""))


if __name__ == "__main__":
    main()
