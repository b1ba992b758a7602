#!/usr/bin/python3
"""trolley's benchmark: one loopback Orthanc + DICOMweb, a generated 400-instance ~200 MB CT
study and a 2,000-instance series of small images, and trolley measured against curl (the wire)
and a local copy. Prints one table of medians with ratios measured in the same run.

    /usr/bin/python3 bench/run.py [--runs N] [--no-dimse] [--no-rclone] [--big]
                                  [--cold-only] [--link-rate 125M] [--routes 0,20,20L]

Needs what scripts/deps.sh installs, rclone (apt-get install rclone; only the bench uses it) and
a built binary (meson setup build && ninja -C build). Every row is measured at 0 ms and, through
bench/relay.py, at a 20 ms round trip (--delay-ms each way), and at that round trip on a link of
--link-rate bytes/s that all connections share (default 125M: 1 Gbit/s). The CPU rows are the
daemon's user+sys time (/proc/PID/stat, read before it unmounts) and curl's (its rusage).
"""
import argparse
import os
import re
import resource
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
from test_dimse import split_part10  # noqa: E402

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
    2,000 images of 32x32. Returns the UIDs, case A's files by name, and case A's first series
    with the names of its files (the WADO-URI row)."""
    rng = np.random.default_rng(7)
    os.makedirs(out)
    study_a = generate_uid(prefix=ROOT)
    originals = {}  # <SOP Instance UID>.dcm -> the file, to check every copy against
    series_a = []  # (SeriesInstanceUID, [<SOP Instance UID>.dcm]) of each series of case A
    for s in (1, 2):
        series = generate_uid(prefix=ROOT)
        series_a.append((series, []))
        for i in range(200):
            path = os.path.join(out, "a-%d-%03d.dcm" % (s, i))
            name = make_instance(path, study_a, series, i + 1, 512, s, rng) + ".dcm"
            originals[name] = path
            series_a[-1][1].append(name)
    study_b, series_b = generate_uid(prefix=ROOT), generate_uid(prefix=ROOT)
    first_b = None
    for i in range(2000):
        sop = make_instance(os.path.join(out, "b-%04d.dcm" % i), study_b, series_b, i + 1, 32,
                            1, rng)
        first_b = first_b or sop
    return study_a, study_b, series_b, originals, series_a[0]


def timed(argv, **kw):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def timed_cpu(argv):
    """timed(), and the user+sys CPU seconds of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = timed(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Trolley:
    def __init__(self, binary, source, mnt, cache, options=""):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        opts = "cache_dir=" + cache + ("," + options if options else "")
        self.proc = subprocess.Popen([binary, "-f", "-o", opts, source, mnt],
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: is_mounted(mnt), 20, "the mount")

    def cpu_seconds(self):
        """The daemon's user+sys CPU time so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


class Relay:
    """bench/relay.py in front of one loopback port: every byte each way arrives delay_ms
    later (the 20 ms RTT column), through a link of @rate bytes/s shared by all connections
    if given."""

    def __init__(self, target_port, delay_ms, rate=None):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "relay.py"),
                                      str(target_port), str(delay_ms)]
                                     + (["--rate", rate] if rate else []),
                                     stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Rclone:
    """rclone mount of Orthanc's WebDAV folder of one study (by-uids/<study>/<series>/<sop>.dcm),
    read-only, with --vfs-cache-mode full: the only mode that keeps what was read on disk for
    the next mount (off and writes fetch every read again), so the one comparable to trolley's
    cache and the one a user who wants a warm copy runs.

    @safe adds --async-read=false: Orthanc 1.10's WebDAV ignores Range (a ranged GET answers 200
    with the whole file), and rclone 1.60 with its default asynchronous FUSE reads then leaves
    silently wrong bytes (zeros from 128 KiB on) in some files, in every cache mode (measured;
    the bench counts them); with synchronous reads every file was right. Everything else is
    rclone's default."""

    def __init__(self, conf, remote, study, mnt, cache, safe=True):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        self.proc = subprocess.Popen(
            ["rclone", "mount", "--config", conf, "--read-only", "--vfs-cache-mode", "full",
             "--cache-dir", cache] + (["--async-read=false"] if safe else [])
            + ["%s:by-uids/%s" % (remote, study), mnt],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: is_mounted(mnt), 60, "the rclone mount")

    def stop(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)


class Route:
    """One column of the table: the archive reached directly (0 ms) or through relays."""

    def __init__(self, name, http_port, dicom_port, move_port):
        self.name = name
        self.url = "http://127.0.0.1:%d" % http_port
        self.web = self.url + "/dicom-web"
        self.dicom_port = dicom_port
        self.move_port = move_port  # where Orthanc sends C-MOVE's store association
        # An rclone remote's name: letters, digits, '-' and '_' (the column's name has spaces,
        # a comma and a '/', which made the 20L column's rclone mount never appear).
        self.remote = "orthanc" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "mount.trolley"))
    ap.add_argument("--delay-ms", type=float, default=10.0,
                    help="delay each way of the second column (default 10: a 20 ms RTT)")
    ap.add_argument("--no-dimse", action="store_true", help="skip the C-GET/C-MOVE rows")
    ap.add_argument("--no-rclone", action="store_true", help="skip the rclone rows")
    ap.add_argument("--big", action="store_true",
                    help="add the 2 GB export row (memory): loading 2 GB into Orthanc takes minutes")
    ap.add_argument("--cold-only", action="store_true",
                    help="only the curl and trolley cold `cp -r` rows of the study (and CPU)")
    ap.add_argument("--link-rate", default="125M",
                    help="capacity of the shared link of the third column (default 125M: 1 Gbit/s)")
    ap.add_argument("--routes", default="0,20,20L",
                    help="columns to measure: 0 (loopback), 20 (the RTT), 20L (the RTT and link)")
    ap.add_argument("--compare", default="",
                    help="a second binary measured beside --binary in each run (rows suffixed ' B')")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit("bench: no %s: meson setup build && ninja -C build" % args.binary)
    if not args.no_rclone and not shutil.which("rclone"):
        sys.exit("bench: rclone is the peer measured against: apt-get install rclone "
                 "(or run with --no-rclone)")
    work = tempfile.mkdtemp(prefix="trolley-bench-")
    server, relays = None, []
    try:
        print("generating and loading the data (once)...", file=sys.stderr)
        data = os.path.join(work, "data")
        ids = generate(data)
        os.makedirs(os.path.join(work, "orthanc"))
        server = Orthanc(os.path.join(work, "orthanc"), {"WebDavEnabled": True})
        server.upload(sorted(os.path.join(data, f) for f in os.listdir(data)))
        move_port = free_port()  # trolley's C-MOVE storage SCP, in both columns
        want = args.routes.split(",")
        slow = "%g" % (2 * args.delay_ms)
        routes = []
        if "0" in want:
            routes.append(Route("0", server.http_port, server.dicom_port, move_port))
        for name, rate in (("20", None), ("20L", args.link_rate)):
            if name not in want:
                continue
            these = [Relay(p, args.delay_ms, rate)
                     for p in (server.http_port, server.dicom_port, move_port)]
            relays += these
            routes.append(Route(slow + (" ms RTT, %s/s link" % rate if rate else ""),
                                *(r.port for r in these)))
        conf = os.path.join(work, "rclone.conf")
        with open(conf, "w") as f:
            for route in routes:
                f.write("[%s]\ntype = webdav\nurl = %s/webdav\nvendor = other\n\n"
                        % (route.remote, route.url))
        results = {route.name: {} for route in routes}
        for run in range(args.runs):
            for route in routes:
                print("run %d of %d, %s ms RTT..." % (run + 1, args.runs, route.name),
                      file=sys.stderr)
                d = os.path.join(work, "run")
                os.makedirs(d)
                measure(args, d, route, conf, ids, results[route.name], run == 0)
                if not args.cold_only:
                    measure_wado_uri(args, d, route, ids, results[route.name])
                if not args.no_dimse and not args.cold_only:
                    measure_dimse(args, d, server, route, ids, move_port,
                                  results[route.name])
                shutil.rmtree(d, ignore_errors=True)
        if args.big:
            try:
                measure_big(args, work, server, results[routes[0].name])
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                print("bench: the 2 GiB row failed: %s" % e, file=sys.stderr)
    finally:
        for relay in relays:
            relay.stop()
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, args)


def add(r, key, value):
    r.setdefault(key, []).append(value)


def cold_copy(args, source, src_dir, d, name, r, options=""):
    """A cold cp -r through a fresh trolley on a fresh cache; records its time and the
    daemon's peak private memory."""
    t = Trolley(args.binary, source, os.path.join(d, "mnt-" + name),
                os.path.join(d, "cache-" + name), options)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=t.sample_anon, args=(stop, peak))
    sampler.start()
    try:
        add(r, name, timed(["cp", "-r", os.path.join(t.mnt, src_dir), os.path.join(d, name)]))
        add(r, name + "_cpu", t.cpu_seconds())
    finally:
        stop.set()
        sampler.join()
        hwm = t.status_kib("VmHWM")
        t.stop()
    return peak[0] / 1024, hwm / 1024


def measure(args, d, route, conf, ids, r, first):
    """One run of the HTTP rows over @route; in the @first run, also rclone with its default
    options, whose wrong files are counted."""
    study_a, study_b, series_b, originals = ids[:4]
    web = route.web
    add(r, "raw", timed(["curl", "-sf", "-o", "/dev/null", "-H", ACCEPT,
                         "%s/studies/%s" % (web, study_a)]))
    t, cpu = timed_cpu(["curl", "-sf", "-o", os.path.join(d, "study.multipart"), "-H",
                        ACCEPT, "%s/studies/%s" % (web, study_a)])
    add(r, "curlfile", t)
    add(r, "curlfile_cpu", cpu)
    os.unlink(os.path.join(d, "study.multipart"))
    # Cold: a fresh cache and a fresh mount.
    rss, hwm = cold_copy(args, web, os.path.join("studies", study_a), d, "cold", r)
    wrong = count_wrong(os.path.join(d, "cold"), originals)
    if wrong:
        sys.exit("bench: trolley's cold copy has %d wrong or missing files" % wrong)
    add(r, "rss", rss)
    add(r, "hwm", hwm)
    if args.compare:
        # The same cold copy by a second binary, in the same run (interleaved: the machine's
        # load is the same for both).
        cmp_args = argparse.Namespace(**vars(args))
        cmp_args.binary = args.compare
        rss_b, _ = cold_copy(cmp_args, web, os.path.join("studies", study_a), d, "coldB", r)
        add(r, "rssB", rss_b)
        if count_wrong(os.path.join(d, "coldB"), originals):
            sys.exit("bench: the --compare binary's cold copy has wrong or missing files")
        shutil.rmtree(os.path.join(d, "coldB"))
        shutil.rmtree(os.path.join(d, "cache-coldB"))
    if args.cold_only:
        shutil.rmtree(os.path.join(d, "cold"))
        shutil.rmtree(os.path.join(d, "cache-cold"))
        return
    # Warm: the same cache, a new mount (so no kernel page cache of the old one).
    t = Trolley(args.binary, web, os.path.join(d, "mnt-cold"), os.path.join(d, "cache-cold"))
    add(r, "warm", timed(["cp", "-r", os.path.join(t.mnt, "studies", study_a),
                          os.path.join(d, "warm")]))
    t.stop()
    wrong = count_wrong(os.path.join(d, "warm"), originals)
    if wrong:
        sys.exit("bench: trolley's warm copy has %d wrong or missing files" % wrong)
    add(r, "local", timed(["cp", "-r", os.path.join(d, "cold"), os.path.join(d, "local")]))
    for name in ("warm", "local"):
        shutil.rmtree(os.path.join(d, name))
    if not args.no_rclone:
        # The peer, cold (fresh rclone cache) then warm (the same cache, a new mount).
        names = ["rclone_cold", "rclone_warm"] + (["rclone_default"] if first else [])
        for name in names:
            safe = name != "rclone_default"
            m = Rclone(conf, route.remote, study_a, os.path.join(d, "mnt-rclone"),
                       os.path.join(d, "cache-rclone" if safe else "cache-rclone-default"),
                       safe)
            try:
                add(r, name, timed(["cp", "-r", m.mnt, os.path.join(d, name)]))
            finally:
                m.stop()
            wrong = count_wrong(os.path.join(d, name), originals)
            if safe and wrong:
                sys.exit("bench: rclone's %s copy has %d wrong files even with --async-read=false"
                         % (name, wrong))
            if not safe:
                add(r, "rclone_default_wrong", wrong)
            shutil.rmtree(os.path.join(d, name))
        for name in ("cache-rclone", "cache-rclone-default"):
            shutil.rmtree(os.path.join(d, name), ignore_errors=True)
    shutil.rmtree(os.path.join(d, "cold"))
    # ls -l of the 2,000-instance series against the raw instance query.
    add(r, "qido", timed(["curl", "-sf", "-o", "/dev/null", "-H", "Accept: application/dicom+json",
                          "%s/studies/%s/series/%s/instances" % (web, study_b, series_b)]))
    t = Trolley(args.binary, web, os.path.join(d, "mnt2"), os.path.join(d, "cache2"))
    folder = os.path.join(t.mnt, "studies", study_b, series_b)
    os.listdir(os.path.join(t.mnt, "studies", study_b))
    add(r, "ls_cold", timed(["ls", "-l", folder]))
    time.sleep(1.2)  # past the kernel's folder timeout: trolley answers, not the kernel
    add(r, "ls_warm", timed(["ls", "-l", folder]))
    one = sorted(f for f in os.listdir(folder) if f.endswith(".dcm"))[0]
    t.stop()
    # First byte of one cold instance against one curl GET of it.
    add(r, "curl_one", timed(["curl", "-sf", "-o", "/dev/null", "-H", ACCEPT,
                              "%s/studies/%s/series/%s/instances/%s"
                              % (web, study_b, series_b, one[:-4])]))
    t = Trolley(args.binary, web, os.path.join(d, "mnt3"), os.path.join(d, "cache3"))
    path = os.path.join(t.mnt, "studies", study_b, series_b, one)
    os.stat(path)
    add(r, "first_byte", timed(["head", "-c", "1", path]))
    t.stop()
    for name in ("cache-cold", "cache2", "cache3"):
        shutil.rmtree(os.path.join(d, name))


def same_data_set(a, b):
    """Whether Part-10 files @a and @b hold the same data set, byte for byte, in the same
    syntax: DIMSE carries no file meta header, and trolley writes its own."""
    with open(a, "rb") as f, open(b, "rb") as g:
        return split_part10(f.read()) == split_part10(g.read())


def count_wrong(top, originals, dimse=False):
    """How many of the instances of @originals (name -> file) are missing from the copy in
    @top or differ from the file that was loaded (@dimse: its data set differs): a fast copy
    of something else would be no comparison."""
    found = {}
    for root, _, files in os.walk(top):
        for f in files:
            if f.endswith(".dcm"):
                found[f] = os.path.join(root, f)
    wrong = 0
    for name, path in originals.items():
        if name not in found:
            wrong += 1
        elif dimse:
            wrong += not same_data_set(path, found[name])
        elif subprocess.run(["cmp", "-s", path, found[name]]).returncode:
            wrong += 1
    return wrong


def measure_wado_uri(args, d, route, ids, r):
    """One series of 200 instances over WADO-URI, which has no series request: 8 curls at once,
    each GET of one instance written to its file (xargs -P8), against a cold trolley cp -r of
    the series with downloader=wado-uri."""
    study, originals = ids[0], ids[3]
    series, names = ids[4]
    want = {n: originals[n] for n in names}
    wado = route.url + "/wado"
    out = os.path.join(d, "uri_curl8")
    os.makedirs(out)
    lines = "".join("%s %s?requestType=WADO&studyUID=%s&seriesUID=%s&objectUID=%s"
                    "&contentType=application/dicom\n"
                    % (os.path.join(out, n), wado, study, series, n[:-4]) for n in names)
    add(r, "uri_curl8", timed(["xargs", "-P8", "-L1", "curl", "-sf", "-o"], input=lines.encode()))
    wrong = count_wrong(out, want)
    if wrong:
        sys.exit("bench: the 8 curls of WADO-URI got %d wrong or missing files" % wrong)
    shutil.rmtree(out)
    cold_copy(args, route.web, os.path.join("studies", study, series), d, "uri_cold", r,
              "downloader=wado-uri,wado_uri=" + wado)
    wrong = count_wrong(os.path.join(d, "uri_cold"), want)
    if wrong:
        sys.exit("bench: trolley's WADO-URI copy has %d wrong or missing files" % wrong)
    for name in ("uri_cold", "cache-uri_cold"):
        shutil.rmtree(os.path.join(d, name))


def measure_dimse(args, d, server, route, ids, move_port, r):
    """The WADO-URI row's series (200 instances, 105 MB) over DIMSE: dcmtk's getscu
    (bit-preserving, to disk) against a cold trolley cp -r through C-GET and through C-MOVE.
    One series, not the study: Orthanc's C-GET moved 11 MB/s here, and the whole study took
    the DIMSE rows to 7 of the bench's 11 minutes at --runs 3. C-MOVE's store association
    goes from Orthanc to route.move_port (a relay in front of trolley's port in the slow
    column). Every copy is compared with the files loaded."""
    study, originals = ids[0], ids[3]
    series, names = ids[4]
    want = {n: originals[n] for n in names}
    server.set_move_port(route.move_port)
    os.makedirs(os.path.join(d, "getscu"))
    add(r, "getscu", timed(["getscu", "-aet", "TROLLEY", "-aec", "ORTHANC", "+B",
                            "-od", os.path.join(d, "getscu"), "-k", "QueryRetrieveLevel=SERIES",
                            "-k", "StudyInstanceUID=" + study, "-k",
                            "SeriesInstanceUID=" + series, "127.0.0.1", str(route.dicom_port)]))
    shutil.rmtree(os.path.join(d, "getscu"))
    source = "dicom://ORTHANC@127.0.0.1:%d" % route.dicom_port
    for key, opts in (("cget", ""), ("cmove", "downloader=c-move,move_port=%d" % move_port)):
        cold_copy(args, source, os.path.join("studies", study, series), d, key, r, opts)
        wrong = count_wrong(os.path.join(d, key), want, dimse=True)
        if wrong:
            sys.exit("bench: trolley's %s copy has %d wrong or missing files" % (key, wrong))
        for name in (key, "cache-" + key):
            shutil.rmtree(os.path.join(d, name))


def generate_big(out):
    """A 2 GiB study: 4 series x 256 CT images of 1024x1024 (2 MiB each)."""
    rng = np.random.default_rng(11)
    os.makedirs(out)
    study = generate_uid(prefix=ROOT)
    for s in range(1, 5):
        series = generate_uid(prefix=ROOT)
        for i in range(256):
            make_instance(os.path.join(out, "big-%d-%03d.dcm" % (s, i)), study, series, i + 1,
                          1024, s, rng)
    return study


def measure_big(args, work, server, r):
    """Memory through a 2 GiB export: one cold cp -r at 0 ms (once: it is a memory row)."""
    print("generating and loading the 2 GiB study...", file=sys.stderr)
    data = os.path.join(work, "big")
    study = generate_big(data)
    server.upload(sorted(os.path.join(data, f) for f in os.listdir(data)))
    shutil.rmtree(data)
    d = os.path.join(work, "bigrun")
    os.makedirs(d)
    add(r, "big_curl", timed(["curl", "-sf", "-o", "/dev/null", "-H", ACCEPT,
                              "%s/studies/%s" % (server.dicomweb, study)]))
    rss, hwm = cold_copy(args, server.dicomweb, os.path.join("studies", study), d, "big", r)
    copied = sum(f.endswith(".dcm") for _, _, fs in os.walk(os.path.join(d, "big")) for f in fs)
    if copied != 1024:
        raise RuntimeError("trolley copied %d of the 1024 instances of the 2 GiB study" % copied)
    add(r, "big_rss", rss)
    add(r, "big_hwm", hwm)
    shutil.rmtree(d, ignore_errors=True)


REF_NAMES = {"curlfile": "curl-to-file", "curlfile_cpu": "curl's", "rclone_cold": "rclone", "rclone_warm": "rclone",
             "local": "local", "qido": "QIDO", "curl_one": "curl", "getscu": "getscu",
             "big_curl": "curl", "uri_curl8": "8 curls"}


def print_table(results, args):
    cols = list(results)
    rows = [
        ("curl: one WADO-RS GET of the study, to /dev/null (the wire)", "raw", [], ""),
        ("curl: one WADO-RS GET of the study, written to a file (the wire plus one disk write)",
         "curlfile", [], "= 1.0"),
        ("trolley cold `cp -r` of the study", "cold", ["curlfile", "rclone_cold"],
         "<= 1.3x curl-to-file"),
        ("the same by the --compare binary", "coldB", ["curlfile"], ""),
        ("CPU (user+sys): curl's GET of the study into a file", "curlfile_cpu", [], "= 1.0"),
        ("CPU (user+sys): trolley's daemon for the cold `cp -r`", "cold_cpu",
         ["curlfile_cpu"], "<= 3x curl's"),
        ("CPU (user+sys): the --compare binary's daemon", "coldB_cpu", ["curlfile_cpu"], ""),
        ("rclone mount of Orthanc's WebDAV, cold `cp -r` (`--async-read=false`)", "rclone_cold",
         ["curlfile"], ""),
        ("rclone as above with its default async reads, cold (first run only)",
         "rclone_default", ["curlfile"], "0 files wrong"),
        ("local-disk `cp -r` of the same files", "local", [], "= 1.0"),
        ("trolley warm `cp -r` (cached, new mount)", "warm", ["local", "rclone_warm"],
         "<= 1.5x local"),
        ("rclone mount, warm `cp -r` (its cache, new mount)", "rclone_warm", ["local"], ""),
        ("curl: QIDO of the 2,000-instance series", "qido", [], "= 1.0"),
        ("trolley `ls -l` of that series, cold", "ls_cold", ["qido"], "<= 1.1x QIDO"),
        ("trolley `ls -l` of that series, warm", "ls_warm", [], "<= 0.1 s"),
        ("curl: GET of one instance", "curl_one", [], "= 1.0"),
        ("trolley first byte of one cold instance", "first_byte", ["curl_one"], "<= 2x curl"),
        ("8 parallel curls: WADO-URI GETs of one 200-instance series, each to a file",
         "uri_curl8", [], "= 1.0"),
        ("trolley cold `cp -r` of that series over WADO-URI (`downloader=wado-uri`)",
         "uri_cold", ["uri_curl8"], "<= 1.3x 8 curls"),
        ("dcmtk getscu of that series (C-GET, +B to disk)", "getscu", [], "= 1.0"),
        ("trolley cold `cp -r` of that series over C-GET", "cget", ["getscu"],
         "<= 1.3x getscu"),
        ("trolley cold `cp -r` of that series over C-MOVE", "cmove", ["getscu"], ""),
        ("curl: GET of the 2 GiB study (--big)", "big_curl", [], ""),
        ("trolley cold `cp -r` of the 2 GiB study (--big)", "big", ["big_curl"], ""),
    ]
    mem = [("peak private RSS (RssAnon) during the cold `cp -r`", "rss", "<= 64 MB"),
           ("peak RSS with LMDB's mapped page cache (VmHWM)", "hwm", ""),
           ("peak private RSS (RssAnon) of the --compare binary", "rssB", ""),
           ("peak private RSS through the 2 GiB export (--big)", "big_rss", "<= 64 MB"),
           ("peak VmHWM through the 2 GiB export (--big)", "big_hwm", "")]
    med = {c: {k: statistics.median(v) for k, v in results[c].items()} for c in cols}
    print("\nmedians of %d runs; ratios against references measured in the same run and column"
          "\n" % args.runs)
    print("| route | " + " | ".join(c if "RTT" in c else "%s ms RTT" % c for c in cols)
          + " | target |")
    print("|---|" + "---|" * len(cols) + "---|")
    for label, key, refs, target in rows:
        if not any(key in med[c] for c in cols):
            continue
        cells = []
        for c in cols:
            m = med[c]
            if key not in m:
                cells.append("")
                continue
            ratios = ["%.2fx %s" % (m[key] / m[ref], REF_NAMES[ref]) for ref in refs if ref in m]
            if key == "rclone_default":
                ratios.append("%d of 400 files wrong" % m["rclone_default_wrong"])
            cells.append("%.3f s" % m[key] + (" (%s)" % ", ".join(ratios) if ratios else ""))
        print("| %s | %s | %s |" % (label, " | ".join(cells), target))
    for label, key, target in mem:
        if not any(key in med[c] for c in cols):
            continue
        cells = ["%.1f MB" % med[c][key] if key in med[c] else "" for c in cols]
        print("| %s | %s | %s |" % (label, " | ".join(cells), target))


if __name__ == "__main__":
    main()
