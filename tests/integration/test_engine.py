"""The transfer engine (cache/prefetch.c, cache/ahead.c): what a cold `cp -r` asks the archive,
the read-ahead of the next series of a study walked in order, when it stops, and who goes first
when connections are few. Behaviour, from the proxy's request log; never a time."""
import collections
import hashlib
import os
import re
import subprocess
import threading
import time

from servers import wait_for

SERIES_GET = re.compile(r"^/dicom-web/studies/([0-9.]+)/series/([0-9.]+)$")
INSTANCE_GET = re.compile(r"^/dicom-web/studies/[0-9.]+/series/[0-9.]+/instances/([0-9.]+)$")


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _study(data, description):
    entries = [e for e in data["manifest"] if e.get("StudyDescription") == description]
    series = collections.OrderedDict()
    for e in sorted(entries, key=lambda e: (e["SeriesInstanceUID"], e["SOPInstanceUID"])):
        series.setdefault(e["SeriesInstanceUID"], []).append(e)
    return entries[0]["StudyInstanceUID"], series


def _sent(log, series):
    """How many times each instance came from the archive: once per single GET of it, once
    per series GET of its series."""
    sent = collections.Counter()
    for r in log:
        path = r["path"].partition("?")[0]
        m = SERIES_GET.match(path)
        if m and m.group(2) in series:
            sent.update(e["SOPInstanceUID"] for e in series[m.group(2)])
        m = INSTANCE_GET.match(path)
        if m:
            sent[m.group(1)] += 1
    return sent


def _most_at_once(log):
    """The most requests the archive had in flight at one moment. The proxy notes a reply's
    end once its handler returns, when the client may have sent its next request on the same
    connection already: the last 20 ms of a reply do not count. A reply still in flight when
    the log was taken counts as in flight until then."""
    taken = time.monotonic()
    ends = [max(r["start"], (taken if r["end"] is None else r["end"]) - 0.02) for r in log]
    events = sorted([(r["start"], 1) for r in log] + [(e, -1) for e in ends],
                    key=lambda t: (t[0], t[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _series_gets(proxy, series_uid):
    return [r for r in proxy.log()
            if SERIES_GET.match(r["path"]) and r["path"].endswith("/" + series_uid)]


def _walk(folder, count=None):
    """Read the files of @folder in their listing order, as cp -r does."""
    names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))[:count]
    return {n: _md5(os.path.join(folder, n)) for n in names}


def test_cold_cp_r_of_a_study_sends_each_instance_once(mount, source, data, proxy, tmp_path):
    m = mount(source, options="connections=4")
    study, series = _study(data, "CT THORAX")
    assert len(series) == 4
    out = tmp_path / "out"
    subprocess.run(["cp", "-r", m.path("studies", study), str(out)], check=True)
    for uid, entries in series.items():
        for e in entries:
            assert _md5(out / uid / (e["SOPInstanceUID"] + ".dcm")) == e["md5"]
        assert (out / uid / "metadata.json").stat().st_size > 0
    log = proxy.log()
    sent = _sent(log, series)
    assert set(sent) == {e["SOPInstanceUID"] for v in series.values() for e in v}
    # Each series in one stream, the next read ahead while the walk was in the one before.
    # Only the walk's first open may fetch its instance alone (the series stream, in the
    # archive's order, would send it late): before the engine, the first open of every
    # series did, and its series' stream sent it again (four instances twice).
    twice = {sop: n for sop, n in sent.items() if n > 1}
    assert len(twice) <= 1 and set(twice.values()) <= {2}, twice
    assert sum(1 for r in log if SERIES_GET.match(r["path"])) == 4
    assert _most_at_once(log) <= 4
    assert "walked in order; reading ahead" in m.text()


def test_read_ahead_reads_one_series_beyond_the_walk_and_stops(mount, source, data, proxy):
    m = mount(source)
    study, series = _study(data, "CT THORAX")
    uids = list(series)
    folder = m.path("studies", study)
    os.listdir(folder)  # the series in folder order, as the walk sees them
    got = _walk(os.path.join(folder, uids[0]))
    assert got == {e["SOPInstanceUID"] + ".dcm": e["md5"] for e in series[uids[0]]}
    # The next series in the folder's order comes without an open in it ...
    wait_for(lambda: _series_gets(proxy, uids[1]) and _series_gets(proxy, uids[1])[0]["end"],
             20, "the read-ahead of the next series")
    # ... and nothing further: the walk stopped at the first series.
    try:
        wait_for(lambda: any(_series_gets(proxy, u) for u in uids[2:]), 2, "more read-ahead")
    except TimeoutError:
        pass
    assert not any(_series_gets(proxy, u) for u in uids[2:])
    # What was read ahead is served from the cache: no request for the files of series 2.
    before = len(proxy.log())
    assert _walk(os.path.join(folder, uids[1])) == {
        e["SOPInstanceUID"] + ".dcm": e["md5"] for e in series[uids[1]]}
    assert not [r for r in proxy.log()[before:] if "/series/%s" % uids[1] in r["path"] and
                (INSTANCE_GET.match(r["path"]) or SERIES_GET.match(r["path"]))]


def test_read_ahead_is_cancelled_when_the_walk_goes_to_another_study(mount, source, data,
                                                                    proxy):
    m = mount(source)
    study, series = _study(data, "CT HEAD")
    axial, coronal = sorted(series, key=lambda u: series[u][0]["SeriesDescription"])
    assert series[axial][0]["SeriesDescription"] == "Axial"
    other, other_series = _study(data, "MR KNEE")
    folder = m.path("studies", study)
    os.listdir(folder)
    knee = os.path.join(m.path("studies", other), next(iter(other_series)))
    os.listdir(knee)
    # The read-ahead of Coronal is slow: a 64 KiB piece every few seconds.
    proxy.fault("/series/%s$" % re.escape(coronal), rate=20000)
    _walk(os.path.join(folder, axial))
    wait_for(lambda: _series_gets(proxy, coronal), 20, "the read-ahead of Coronal")
    # The walk goes elsewhere: the read-ahead is cancelled.
    first_knee = sorted(n for n in os.listdir(knee) if n.endswith(".dcm"))[0]
    assert _md5(os.path.join(knee, first_knee)) == next(
        e["md5"] for e in other_series[next(iter(other_series))]
        if e["SOPInstanceUID"] + ".dcm" == first_knee)
    wait_for(lambda: "read-ahead cancelled" in m.text(), 10, "the read-ahead to be cancelled")
    proxy.clear_faults()
    # Its stream ends at its next piece, and what it did not deliver is fetched for its
    # readers (had it gone on, they would wait for it and ask nothing); every file is whole.
    before = len(proxy.log())
    assert _walk(os.path.join(folder, coronal)) == {
        e["SOPInstanceUID"] + ".dcm": e["md5"] for e in series[coronal]}
    assert [r for r in proxy.log()[before:] if "/series/" + coronal in r["path"] and
            (INSTANCE_GET.match(r["path"]) or SERIES_GET.match(r["path"]))]


def test_blocked_open_goes_before_queued_read_ahead(mount, source, data, proxy):
    # connections=2: one worker, one connection for transfers, one kept for queries.
    m = mount(source, options="connections=2")
    study, series = _study(data, "CT THORAX")
    uids = list(series)
    folder = m.path("studies", study)
    for u in uids:
        os.listdir(os.path.join(folder, u))
    # The walked series streams slowly: the read-ahead waits behind it, queued.
    proxy.fault("/series/%s$" % re.escape(uids[0]), trickle=3)
    walker = threading.Thread(target=_walk, args=(os.path.join(folder, uids[0]),))
    walker.start()
    try:
        wait_for(lambda: "walked in order; reading ahead" in m.text(), 20, "the walk")
        # A reader opens a file of the last series while the only transfer connection is
        # taken: it waits in open(), and must be served before the read-ahead.
        last = series[uids[-1]][0]
        assert _md5(os.path.join(folder, uids[-1], last["SOPInstanceUID"] + ".dcm")) == \
            last["md5"]
    finally:
        walker.join(60)
    wait_for(lambda: _series_gets(proxy, uids[1]), 20, "the read-ahead")
    log = proxy.log()
    opened = min(r["start"] for r in log if r["path"].endswith(last["SOPInstanceUID"]) or
                 r["path"].endswith("/series/" + uids[-1]))
    ahead = _series_gets(proxy, uids[1])[0]["start"]
    assert opened < ahead
    # And a search is answered while every worker is busy: listing a folder nobody listed.
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    assert _most_at_once(log) <= 2
