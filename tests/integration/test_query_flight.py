"""Single flight of queries (cache/query.c): the same listing asked at once by the walker
(fs/ listing the next folder) and the read-ahead (cache/ahead.c), or by several readers,
goes to the archive once. Behaviour, from the proxy's request log; never a time."""
import collections
import os
import re
import signal
import subprocess
import threading
import urllib.parse

from servers import wait_for

# QIDO-RS listings: a study's series, a series' instances.
SERIES_LIST = re.compile(r"^/dicom-web/studies/([0-9.]+)/series$")
INSTANCE_LIST = re.compile(r"^/dicom-web/studies/([0-9.]+)/series/([0-9.]+)/instances$")


def _study(data, description):
    entries = [e for e in data["manifest"] if e.get("StudyDescription") == description]
    series = collections.OrderedDict()
    for e in sorted(entries, key=lambda e: (e["SeriesInstanceUID"], e["SOPInstanceUID"])):
        series.setdefault(e["SeriesInstanceUID"], []).append(e)
    return entries[0]["StudyInstanceUID"], series


def _listings(log, rx):
    """How many times each listing matching @rx was asked (its first page: paging aside)."""
    asked = collections.Counter()
    for r in log:
        path, _, query = r["path"].partition("?")
        m = rx.match(path)
        if m and urllib.parse.parse_qs(query).get("offset", ["0"])[0] == "0":
            asked[m.groups()] += 1
    return asked


def test_cold_cp_r_lists_each_series_once(mount, source, data, proxy, tmp_path):
    """Before single flight, the read-ahead and the walker both asked for the next series'
    instance listing (2 or 3 of the 4 series of this study were listed twice)."""
    m = mount(source, options="connections=4")
    study, series = _study(data, "CT THORAX")
    assert len(series) == 4
    out = tmp_path / "out"
    subprocess.run(["cp", "-r", m.path("studies", study), str(out)], check=True)
    for uid, entries in series.items():
        assert len([n for n in os.listdir(out / uid) if n.endswith(".dcm")]) == len(entries)
    log = proxy.log()
    per_series = _listings(log, INSTANCE_LIST)
    assert per_series == {(study, uid): 1 for uid in series}, per_series
    assert _listings(log, SERIES_LIST) == {(study,): 1}


def test_a_layout_asking_for_more_still_lists_each_series_once(mount, source, data, proxy,
                                                              tmp_path):
    """A template names series and instances by attributes asked with includefield: the
    read-ahead's listings are the folders' own (before, it asked without them, so its answers
    were stored under other keys and the series it picked were listed twice)."""
    m = mount(source, options="connections=4,layout=%PatientID/%StudyDate/"
                              "%SeriesNumber_%InstitutionName/%InstanceNumber_%AcquisitionNumber")
    study, series = _study(data, "CT THORAX")
    out = tmp_path / "out"
    subprocess.run(["cp", "-r", m.path("patients", "PID002", "20200303"), str(out)], check=True)
    copied = sum(len([n for n in files if n.endswith(".dcm")]) for _, _, files in os.walk(out))
    assert copied == sum(len(v) for v in series.values())
    log = proxy.log()
    per_series = _listings(log, INSTANCE_LIST)
    assert per_series == {(study, uid): 1 for uid in series}, per_series
    assert all("includefield=00200012" in r["path"] for r in log
               if INSTANCE_LIST.match(r["path"].partition("?")[0]))
    assert _listings(log, SERIES_LIST) == {(study,): 1}


def test_parallel_listings_of_one_folder_ask_once(mount, source, data, proxy):
    """N readers list the same uncached folder at once: one request, N full answers."""
    m = mount(source)
    study, series = _study(data, "CT THORAX")
    uid = next(iter(series))
    os.stat(m.path("studies", study, uid))  # looked up: only the listing is left to ask
    proxy.reset()
    # The archive answers slowly, so that every reader comes while the first is asked.
    proxy.fault(r"/series/[0-9.]+/instances", delay=1.5)
    results, errors = [], []
    start = threading.Barrier(6)

    def ls():
        try:
            start.wait()
            results.append(sorted(os.listdir(m.path("studies", study, uid))))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=ls) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 6, errors
    want = sorted(e["SOPInstanceUID"] + ".dcm" for e in series[uid])
    for r in results:
        assert [n for n in r if n.endswith(".dcm")] == want
    assert _listings(proxy.log(), INSTANCE_LIST) == {(study, uid): 1}


def _in_flight(log, rx):
    return [r for r in log if rx.match(r["path"].partition("?")[0]) and r["end"] is None]


def test_a_waiter_ends_on_interrupt_and_the_query_goes_on(mount, source, data, proxy):
    """A reader waiting for another's listing ends on SIGINT while that listing is still being
    asked (its wait is its own); the first reader still gets its answer, from one request."""
    m = mount(source)
    study, series = _study(data, "CT THORAX")
    uid = list(series)[1]
    folder = m.path("studies", study, uid)
    os.stat(folder)
    proxy.reset()
    proxy.fault(r"/series/[0-9.]+/instances", delay=8)
    first = subprocess.Popen(["ls", folder], stdout=subprocess.PIPE, text=True)
    wait_for(lambda: _in_flight(proxy.log(), INSTANCE_LIST), 20, "the first listing")
    waiter = subprocess.Popen(["ls", folder], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    # In the daemon (asleep in the kernel for its reply), not yet answered: interrupt it.
    wait_for(lambda: _state(waiter.pid) in ("S", "D") and _wchan(waiter.pid) != "0", 10,
             "the second ls to wait")
    waiter.send_signal(signal.SIGINT)
    waiter.wait(timeout=20)
    assert _in_flight(proxy.log(), INSTANCE_LIST), "the waiter waited for the answer"
    out, _ = first.communicate(timeout=30)
    assert first.returncode == 0
    assert sorted(n for n in out.split() if n.endswith(".dcm")) == \
        sorted(e["SOPInstanceUID"] + ".dcm" for e in series[uid])
    assert _listings(proxy.log(), INSTANCE_LIST) == {(study, uid): 1}


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _wchan(pid):
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read().strip()
    except OSError:
        return "0"
