"""One builder of a folder's query (cache_query_init, cache/listing.c): the listings of a
study, asked by fs/'s folders, the /media file-set and the read-ahead, are one query each
whatever the layout asks for with includefield and whether the de-identified view adds what it
withholds by. A layout template then makes no listing request the default layout does not make.
Behaviour, from the proxy's request log; never a time."""
import collections
import os
import subprocess
import urllib.parse

import pytest

from test_deid import run_map
from test_query_flight import _study

# Series named by an attribute no searcher returns unasked, instances too: both levels are asked
# with includefield.
TEMPLATE = ("layout=%PatientID/%StudyDate/%SeriesNumber_%InstitutionName/"
            "%InstanceNumber_%AcquisitionNumber")
LISTING_ENDS = ("/studies", "/series", "/instances")


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "key"
    with open(os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(os.urandom(48))
    return str(path)


def _listings(log):
    """{listing without its includefields: [the query strings it was asked with]}, first
    pages only (paging aside)."""
    asked = collections.defaultdict(list)
    for r in log:
        path, _, query = r["path"].partition("?")
        if not path.endswith(LISTING_ENDS):
            continue
        params = urllib.parse.parse_qsl(query)
        if dict(params).get("offset", "0") != "0":
            continue
        rest = sorted((k, v) for k, v in params if k != "includefield")
        asked[path + "?" + urllib.parse.urlencode(rest)].append(query)
    return asked


def _export(mount, source, proxy, options, study, out):
    """A cold cp -r of the study folder, then its /media file-set walked and its DICOMDIR
    read, on a new mount with its own cache: the proxy's log of it."""
    proxy.reset()
    m = mount(source, options=options)
    subprocess.run(["cp", "-r", m.path("studies", study), str(out)], check=True)
    names = []
    for d, _, files in os.walk(m.path("media", study)):
        names += files
    with open(m.path("media", study, "DICOMDIR"), "rb") as f:
        assert f.read(132)[128:] == b"DICM"
    assert m.unmount() == 0
    copied = sum(len([n for n in fs if n.endswith(".dcm")]) for _, _, fs in os.walk(out))
    return proxy.log(), copied, len(names)


@pytest.mark.parametrize("view", [False, True], ids=["archive", "deid-view"])
def test_a_layout_template_asks_no_listing_the_default_layout_does_not(
        mount, source, data, proxy, key, tmp_path, view):
    study, series = _study(data, "CT THORAX")
    options = "connections=4"
    if view:
        mapped, _ = run_map(key, source, str(tmp_path / "mapcache"))
        study = mapped[study]
        options += ",deid=" + key
    runs = {}
    for name, layout in (("default", ""), ("template", "," + TEMPLATE)):
        log, copied, media = _export(mount, source, proxy, options + layout, study,
                                     tmp_path / name)
        # Every instance copied and on the file-set (the view withholds none of these).
        assert copied == sum(len(v) for v in series.values())
        assert media == copied + 1
        runs[name] = _listings(log)
    for name, asked in runs.items():
        # Each listing asked once: not again by the read-ahead or the file-set with other
        # fields (before, the read-ahead asked the view's instance listings without the field
        # the view withholds by, and the folders then asked them again).
        twice = {k: v for k, v in asked.items() if len(v) > 1}
        assert not twice, (name, twice)
    extra = set(runs["template"]) - set(runs["default"])
    assert not extra, extra
    # The study's listings are among them: the comparison compared something.
    assert sum(1 for k in runs["default"] if "/instances" in k) >= len(series)
