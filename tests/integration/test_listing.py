"""How a listing pages: an archive that answers a whole series at once is asked once (and once
more, to be sure a short page was not a silent cap), an archive that caps silently or with the
Warning header is paged to the end. A module's own Orthanc with one series of more instances
than several pages of 100, behind its own counting proxy."""
import errno
import os
import re

import pytest

import dataset
from checks import errno_of
from servers import Orthanc, Proxy
from test_archives import _tiny
from test_errors_file import _errors

N = 450  # instances in the one series: four and a half pages of 100


class Series:
    def __init__(self, work):
        files = os.path.join(work, "files")
        os.makedirs(files)
        self.study = dataset.uid("listing-study")
        self.series = dataset.uid("listing-series")
        self.sops = [dataset.uid("listing-sop", i) for i in range(N)]
        paths = [_tiny(files, 900, self.study, self.series, sop, str(i + 1))
                 for i, sop in enumerate(self.sops)]
        os.makedirs(os.path.join(work, "orthanc"))
        self.orthanc = Orthanc(os.path.join(work, "orthanc"))
        try:
            self.orthanc.upload(paths)
            self.proxy = Proxy("127.0.0.1:%d" % self.orthanc.http_port)
        except Exception:
            self.orthanc.stop()
            raise
        self.source = self.proxy.url + "/dicom-web"

    def names(self, m):
        folder = m.path("studies", self.study, self.series)
        return sorted(n[:-4] for n in os.listdir(folder) if n.endswith(".dcm"))

    def pages(self):
        """(limit, offset) of each instance query the proxy saw."""
        out = []
        for p in self.proxy.paths(r"/instances\?"):
            limit, offset = re.search(r"limit=(\d+)", p), re.search(r"offset=(\d+)", p)
            out.append((int(limit.group(1)) if limit else None,
                        int(offset.group(1)) if offset else 0))
        return out


@pytest.fixture(scope="module")
def series_archive(tmp_path_factory):
    s = Series(str(tmp_path_factory.mktemp("listing")))
    yield s
    s.proxy.stop()
    s.orthanc.stop()


@pytest.fixture
def series(series_archive):
    series_archive.proxy.reset()
    yield series_archive
    series_archive.proxy.reset()


def _no_count(series):
    """The series listing without NumberOfSeriesRelatedInstances (an archive that leaves it out)."""
    series.proxy.fault(r"/series\?", replace=(b'"00201209"', b'"00201299"'))


def test_series_that_the_archive_answers_whole_is_one_page(mount, series):
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    # Pages of 100 made five requests; the series listing counted 450, and one page has them.
    assert series.pages() == [(5000, 0)]


def test_series_without_a_count_is_one_page_and_a_check(mount, series):
    _no_count(series)
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    # Short of the 5000 asked but 100 or more: maybe a cap, so the page after it is asked.
    assert series.pages() == [(5000, 0), (5000, N)]


@pytest.mark.parametrize("count", [True, False])
@pytest.mark.parametrize("cap", [100, 150, 200])
def test_series_of_an_archive_that_caps_silently_is_complete(mount, series, cap, count):
    # Azure answers 100 to a limit above 200, without a word: a short page of 100 or more
    # that asked for more may be such a cap, so paging goes on to an empty or short page, or
    # to the archive's own count of the series.
    series.proxy.fault(r"/instances\?", cap=cap)
    if not count:
        _no_count(series)
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    want = [(5000, o) for o in range(0, N, cap)]
    if N % cap == 0 and not count:
        want.append((5000, N))
    assert sorted(series.pages()) == want
    assert "incomplete" not in m.text()


def test_silent_cap_below_the_page_is_paged_to_the_archives_count(mount, series):
    # Orthanc's LimitFindInstances cuts without a word; a page of 40 looked like the last and
    # 410 instances were missing. The series listing counted 450: paging goes on to them.
    series.proxy.fault(r"/instances\?", cap=40)
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    assert sorted(series.pages()) == [(5000, o) for o in range(0, N, 40)]


def test_count_larger_than_the_answer_ends_at_an_empty_page(mount, series):
    # Orthanc writes the count as "[\n\t\t\t450\n": the only value of 450 in the series reply.
    series.proxy.fault(r"/series\?", replace=(b"\t%d\n" % N, b"\t%d\n" % (N + 7)))
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    assert series.pages() == [(5000, 0), (5000, N)]
    assert "450 results where the archive counted 457" in m.text()


def test_series_of_an_archive_that_marks_its_cap_is_paged_by_it(mount, series):
    series.proxy.fault(r"/instances\?", cap=200, warning=True)
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    assert sorted(series.pages()) == [(5000, 0), (5000, 200), (5000, 400)]


def test_page_size_option_pins_the_page(mount, series):
    _no_count(series)
    m = mount(series.source, "page_size=100")
    assert series.names(m) == sorted(series.sops)
    assert series.pages() == [(100, o) for o in range(0, 500, 100)]


def _most_at_once(series):
    """The most instance queries the proxy had in flight at one time."""
    events = []
    for r in series.proxy.log():
        if re.search(r"/instances\?", r["path"]):
            events += [(r["start"], 1), (r["end"], -1)]
    most = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most


def test_capped_series_with_a_count_asks_pages_at_once(mount, series):
    # Once the archive has shown its cap (40) and the series listing counted 450, the offsets
    # of the pages to come are known: four are asked at a time, and every page is asked once.
    series.proxy.fault(r"/instances\?", cap=40, delay=0.2)
    m = mount(series.source)
    assert series.names(m) == sorted(series.sops)
    assert sorted(series.pages()) == [(5000, o) for o in range(0, N, 40)]
    assert _most_at_once(series) == 4


@pytest.mark.parametrize("connections", [1, 2])
def test_pages_at_once_stay_within_the_connections(mount, series, connections):
    series.proxy.fault(r"/instances\?", cap=40, delay=0.2)
    m = mount(series.source, "connections=%d" % connections)
    assert series.names(m) == sorted(series.sops)
    assert sorted(series.pages()) == [(5000, o) for o in range(0, N, 40)]
    assert _most_at_once(series) == connections


def test_pages_at_once_from_an_archive_ignoring_offset_stop_and_say_so(mount, series):
    series.proxy.fault(r"/instances\?", cap=40, ignore_offset=True)
    m = mount(series.source)
    assert len(series.names(m)) == 40
    assert "ignores offset" in m.text()
    assert series.proxy.count(r"/instances\?") == 1 + 4  # the first, and four at once


@pytest.mark.parametrize("fault", ["status", "malformed"])
def test_a_page_asked_ahead_that_fails_shows_its_url_and_status(mount, series, fault):
    # With a cap of 40 and a count of 450, the pages from offset 80 on are asked ahead, each
    # on a thread of its own: the failure of one of them reaches /.trolley/errors with its
    # URL, its status and why, as a failure on the lister's own thread does. (It used to
    # travel in that thread's own state, and the folder's line said only "EIO".)
    if fault == "status":
        series.proxy.fault(r"/instances\?.*offset=120\b", status=500, body=b"page on fire",
                           type="text/plain")
        status, reason = "HTTP 500", "page on fire"
    else:
        series.proxy.fault(r"/instances\?.*offset=120\b", body=b'[{"0020000D": {"vr": "UI"',
                           type="application/dicom+json")
        status, reason = "HTTP 200", "not a DICOM JSON array"
    series.proxy.fault(r"/instances\?", cap=40)
    m = mount(series.source, expect_errors=True)
    folder = m.path("studies", series.study, series.series)
    assert errno_of(os.listdir, folder) == errno.EIO
    assert (5000, 120) in series.pages() and (5000, 160) in series.pages()
    rows = [r for r in _errors(m) if r[2] == "/studies/%s/%s" % (series.study, series.series)]
    assert rows, _errors(m)
    r = rows[0]
    assert r[1] == "EIO"
    assert r[3].startswith("GET %s/studies/%s/series/%s/instances?" % (
        series.source, series.study, series.series)), r
    assert "offset=120" in r[3], r
    assert r[4] == status and reason in r[5], r
