#!/usr/bin/python3
"""Where the daemon's CPU goes during a cold `cp -r` of the bench study: one loopback Orthanc
with the same generated 400-instance ~210 MB study as bench/run.py, a fresh mount and cache,
`perf record -g` on the daemon for the whole copy, and the report's top entries printed twice:
by the function the time was spent in (self) and by call chain (children, i.e. inclusive).

    /usr/bin/python3 bench/profile.py [--binary build/mount.trolley] [--top 25] [--warm] [--big]
                                      [--call-graph fp|dwarf] [--keep PATH]

Needs perf (Debian linux-perf) and what bench/run.py needs. The copy is checked byte for byte
against the files loaded, as in run.py. Profiles are proportions of the daemon's own CPU, so
they are read the same on a busy machine; the daemon's total CPU time is printed beside curl's
for the same bytes into a file (run.py's CPU row).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(run.REPO, "build", "mount.trolley"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--call-graph", default="fp",
                    help="perf's call-graph mode: fp (default) or dwarf (sees through libc)")
    ap.add_argument("--warm", action="store_true",
                    help="profile a warm copy instead: a first mount fills the cache unprofiled,"
                         " a new mount on that cache copies again under perf")
    ap.add_argument("--big", action="store_true",
                    help="the 2 GiB study of run.py --big (4 x 256 images of 1024x1024) instead")
    ap.add_argument("--keep", metavar="PATH", help="keep perf.data there (perf report -i PATH)")
    args = ap.parse_args()
    if not shutil.which("perf"):
        sys.exit("bench/profile.py: needs perf (apt-get install linux-perf)")
    work = tempfile.mkdtemp(prefix="trolley-profile-")
    server = None
    try:
        data = os.path.join(work, "data")
        if args.big:
            ids = (run.generate_big(data), None, None, None)
        else:
            ids = run.generate(data)
        os.makedirs(os.path.join(work, "orthanc"))
        server = run.Orthanc(os.path.join(work, "orthanc"), {})
        server.upload(sorted(os.path.join(data, f) for f in os.listdir(data)))
        if args.big:
            shutil.rmtree(data)  # 2 GiB: Orthanc holds its own copy
        url = "http://127.0.0.1:%d/dicom-web" % server.http_port
        study_a, originals = ids[0], ids[3]
        mnt, cache = os.path.join(work, "mnt"), os.path.join(work, "cache")
        os.makedirs(mnt)
        perf_data = os.path.join(work, "perf.data")
        if args.warm:
            t = run.Trolley(args.binary, url, mnt, cache)
            try:
                run.timed(["cp", "-r", os.path.join(mnt, "studies", study_a),
                           os.path.join(work, "first")])
            finally:
                t.stop()
            shutil.rmtree(os.path.join(work, "first"))
        # perf starts the daemon, so every thread it ever makes is recorded (attaching with
        # -p to a running daemon missed the transfer threads made later).
        perf = subprocess.Popen(["perf", "record", "-q", "--call-graph", args.call_graph,
                                 "-o", perf_data, "--",
                                 args.binary, "-f", "-o", "cache_dir=" + cache, url, mnt],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run.wait_for(lambda: run.is_mounted(mnt), 20, "the mount")
        pid = int(subprocess.run(["pgrep", "-P", str(perf.pid)], capture_output=True,
                                 text=True).stdout.split()[0])
        try:
            seconds = run.timed(["cp", "-r", os.path.join(mnt, "studies", study_a),
                                 os.path.join(work, "copy")])
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        finally:
            subprocess.run(["fusermount3", "-u", mnt])
            perf.wait(120)
        if originals is None:
            copied = sum(f.endswith(".dcm") for _, _, fs in os.walk(os.path.join(work, "copy"))
                         for f in fs)
            wrong = 1024 - copied
        else:
            wrong = run.count_wrong(os.path.join(work, "copy"), originals)
        if wrong:
            sys.exit("bench/profile.py: the copy has %d wrong or missing files" % wrong)
        curl_s, curl_cpu = run.timed_cpu(["curl", "-sf", "-o", os.path.join(work, "study.mp"),
                                          "-H", run.ACCEPT,
                                          "%s/studies/%s" % (url, study_a)])
        print(("warm" if args.warm else "cold") + " cp -r: %.3f s wall, daemon CPU %.3f s; curl into a file: %.3f s, CPU %.3f s"
              " (%.2fx)" % (seconds, cpu, curl_s, curl_cpu, cpu / curl_cpu if curl_cpu else 0))
        for mode in ("--no-children", "--children"):
            out = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", mode,
                                  "--percent-limit", "0.5", "-g", "none",
                                  "--sort", "symbol"],
                                 capture_output=True, text=True).stdout
            lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
            print("\n== perf report %s (top %d)" % (mode, args.top))
            print("\n".join(lines[:args.top]))
        if args.keep:
            shutil.copy(perf_data, args.keep)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
