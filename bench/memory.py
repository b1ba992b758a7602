#!/usr/bin/python3
"""The daemon's private memory through a large cold export, with less loading than --big:
a loopback Orthanc with SERIES x IMAGES CT images of SIZE x SIZE (1024: 2 MiB each), then RUNS cold
`cp -r` of the study, each through a fresh trolley on a fresh cache, alternating between the
binaries given (to compare two builds on a shared, noisy machine). Prints, per run, the time
and the peak RssAnon (sampled every 10 ms).

    /usr/bin/python3 bench/memory.py [--series 4] [--images 64] [--size 1024] [--runs 3] [BINARY ...]

Environment variables set for the daemon can be given as --env NAME=VALUE (e.g.
MALLOC_ARENA_MAX=2, to see what glibc's per-thread arenas cost).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

import numpy as np
from pydicom.uid import generate_uid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import ROOT, Orthanc, Trolley, make_instance, timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=4)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("binaries", nargs="*")
    args = ap.parse_args()
    binaries = args.binaries or [os.path.join(os.path.dirname(HERE), "build", "mount.trolley")]
    for name, value in (e.split("=", 1) for e in args.env):
        os.environ[name] = value
    work = tempfile.mkdtemp(prefix="trolley-mem-")
    server = None
    try:
        rng = np.random.default_rng(13)
        data = os.path.join(work, "data")
        os.makedirs(data)
        study = generate_uid(prefix=ROOT)
        for s in range(1, args.series + 1):
            series = generate_uid(prefix=ROOT)
            for i in range(args.images):
                make_instance(os.path.join(data, "m-%d-%03d.dcm" % (s, i)), study, series,
                              i + 1, args.size, s, rng)
        os.makedirs(os.path.join(work, "orthanc"))
        server = Orthanc(os.path.join(work, "orthanc"))
        server.upload(sorted(os.path.join(data, f) for f in os.listdir(data)))
        shutil.rmtree(data)
        results = {b: [] for b in binaries}
        for run in range(args.runs):
            for b in binaries:
                d = os.path.join(work, "run")
                os.makedirs(d)
                t = Trolley(b, server.dicomweb, os.path.join(d, "mnt"), os.path.join(d, "cache"))
                stop, peak = threading.Event(), [0]
                sampler = threading.Thread(target=t.sample_anon, args=(stop, peak))
                sampler.start()
                try:
                    secs = timed(["cp", "-r", os.path.join(t.mnt, "studies", study),
                                  os.path.join(d, "out")])
                finally:
                    stop.set()
                    sampler.join()
                    t.stop()
                n = sum(len(fs) for _, _, fs in os.walk(os.path.join(d, "out")))
                results[b].append((secs, peak[0] / 1024))
                print("run %d %s: %.2f s, peak RssAnon %.1f MB, %d files"
                      % (run + 1, b, secs, peak[0] / 1024, n), flush=True)
                shutil.rmtree(d, ignore_errors=True)
        for b, rs in results.items():
            print("%s: median %.2f s, median peak %.1f MB, max peak %.1f MB"
                  % (b, statistics.median(r[0] for r in rs),
                     statistics.median(r[1] for r in rs), max(r[1] for r in rs)))
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
