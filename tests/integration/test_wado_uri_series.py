"""WADO-URI has no series request: a series is its members' GETs, which trolley makes several
at once (never more than connections= allows for transfers), each member handed to the cache
whole, and a member that fails or comes truncated fails alone while the others arrive."""
import errno
import hashlib
import os
import subprocess

import pytest

import naming

WADO_GET = r"^/wado\?"


def _series(m, data, desc):
    """The folder of the series @desc and its {file name: md5}, {file name: SOPInstanceUID}."""
    tree = naming.patients_tree(data["manifest"])
    entries = [e for e in data["manifest"] if e["SeriesDescription"] == desc]
    rels = {tree[e["SOPInstanceUID"]]: e for e in entries}
    folder = os.path.dirname(next(iter(rels)))
    assert all(os.path.dirname(r) == folder for r in rels)
    md5s = {os.path.basename(r): e["md5"] for r, e in rels.items()}
    sops = {os.path.basename(r): e["SOPInstanceUID"] for r, e in rels.items()}
    return m.path("patients", folder), md5s, sops


def _object_uid(path):
    return path.split("objectUID=")[1].split("&")[0]


def _peak_in_flight(log):
    """The most WADO-URI GETs the proxy had in flight at one moment. The proxy notes a reply's
    end once its handler returns, when the client may have sent its next request on the same
    connection already: the last 20 ms of a reply do not count, as in test_engine.py (a peak
    one above the bound was seen once in a CI-like run on a loaded machine, and not again in
    18 runs)."""
    events = []
    for r in log:
        if r.get("path", "").startswith("/wado?"):
            # A GET still under way (a read-ahead) ends after everything logged.
            end = max(r["start"], r["end"] - 0.02) if r["end"] is not None else float("inf")
            events += [(r["start"], 1), (end, -1)]
    peak = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start
        now += step
        peak = max(peak, now)
    return peak


def _came_meanwhile(proxy, sops, slow, skip):
    """Whether a GET of another member of @sops (but @skip) began and ended while the first
    GET of member @slow was in flight: the series went on without waiting for it."""
    gets = [r for r in proxy.log() if r["path"].startswith("/wado?")]
    first = next(r for r in gets if _object_uid(r["path"]) == sops[slow])
    others = {sops[n] for n in sops if n not in (slow, skip)}
    return any(_object_uid(r["path"]) in others and first["start"] < r["start"] and
               r["end"] is not None and first["end"] is not None and r["end"] < first["end"]
               for r in gets)


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_series_is_fetched_several_gets_at_once_within_connections(mount, source, proxy, data,
                                                                    tmp_path):
    """connections=4 keeps one slot for queries: the series goes out three GETs at a time (one
    after the other it had one, plus the opened file's own GET), never more, every member
    asked once, every file byte-identical."""
    m = mount(source, options="downloader=wado-uri,wado_uri=%s/wado,connections=4" % proxy.url)
    folder, md5s, sops = _series(m, data, "T1")
    os.listdir(folder)
    # Each GET takes 0.2 s at the archive: long enough that GETs made together overlap.
    proxy.fault(WADO_GET, delay=0.2)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", folder, str(out)], check=True)
    for name, want in md5s.items():
        assert _md5(out / name) == want, name
    # The copy of one series folder is a walk: the next series of the study may be read
    # ahead once this one's GETs are done (cache/ahead.c). Those are not this series' GETs,
    # and they never overlap with them, so they count towards no peak but their own.
    members = set(sops.values())
    gets = [p for p in proxy.paths(WADO_GET) if _object_uid(p) in members]
    assert sorted(_object_uid(p) for p in gets) == sorted(members)
    peak = _peak_in_flight(proxy.log())
    assert 2 < peak <= 3, "peak of %d WADO-URI GETs in flight" % peak


def test_instances_are_asked_for_without_content_encoding(mount, source, proxy, data):
    """Orthanc gzips a WADO-URI reply when the request allows it (15-20 ms of its CPU per
    512 KiB image, for pixel data that hardly shrinks): instances are asked for as they are,
    while queries still take gzip."""
    m = mount(source, options="downloader=wado-uri,wado_uri=%s/wado" % proxy.url)
    folder, md5s, _ = _series(m, data, "Coronal")
    for name in sorted(md5s)[:3]:
        assert _md5(os.path.join(folder, name)) == md5s[name]
    log = proxy.log()
    gets = [r for r in log if r["path"].startswith("/wado?")]
    queries = [r for r in log if r["path"].startswith("/dicom-web/")]
    assert gets and all(r["accept_encoding"] == "identity" for r in gets)
    assert queries and all("gzip" in r["accept_encoding"] for r in queries)


@pytest.mark.parametrize("status, want", [(500, errno.EIO), (404, errno.ENOENT)])
def test_refused_member_fails_alone_while_the_others_arrive(mount, source, proxy, data, status,
                                                            want):
    """One member refused (slowly, so that the others are seen to go on meanwhile): the others
    come in the series transfer, once each; the refused one is asked alone when it is opened
    and gives its error; once the archive serves it again (after a 500) it reads whole."""
    m = mount(source, options="downloader=wado-uri,wado_uri=%s/wado" % proxy.url,
              expect_errors=r"HTTP 500")
    folder, md5s, sops = _series(m, data, "PD")
    names = sorted(md5s)
    first, bad = names[0], names[len(names) // 2]
    os.listdir(folder)
    proxy.fault(r"objectUID=%s&" % sops[bad], delay=1, status=status, body=b"refused")
    with open(os.path.join(folder, first), "rb") as f:  # starts the series
        assert hashlib.md5(f.read()).hexdigest() == md5s[first]
    for name in names:
        if name == bad:
            continue
        assert _md5(os.path.join(folder, name)) == md5s[name], name
    with pytest.raises(OSError) as exc:
        open(os.path.join(folder, bad), "rb")
    assert exc.value.errno == want
    log = proxy.log()
    by_uid = {}
    for r in log:
        if r["path"].startswith("/wado?"):
            by_uid.setdefault(_object_uid(r["path"]), []).append(r)
    assert all(len(by_uid[sops[n]]) == 1 for n in names if n != bad)
    assert len(by_uid[sops[bad]]) == 2  # in the series, then alone at its open
    assert _came_meanwhile(proxy, sops, bad, first), \
        "no other member came while the refused one was in flight"
    if status == 500:  # a 404 is remembered for a while: the archive said it has none
        proxy.clear_faults()
        assert _md5(os.path.join(folder, bad)) == md5s[bad]


def test_truncated_member_is_never_cached(mount, source, proxy, data, tmp_path):
    """A member cut short (the full Content-Length announced, after a second) fails alone: the
    others are cached from the series transfer meanwhile, the cut one is asked again at its open (EIO while the
    archive cuts it), and what is read once it is whole is the true file, from a new mount on
    the same cache too."""
    cache = str(tmp_path / "cache")
    m = mount(source, options="downloader=wado-uri,wado_uri=%s/wado" % proxy.url,
              cache_dir=cache, expect_errors=r"transfer failed after|Partial file")
    folder, md5s, sops = _series(m, data, "T1")
    names = sorted(md5s)
    first, cut = names[0], names[len(names) // 2]
    os.listdir(folder)
    proxy.fault(r"objectUID=%s&" % sops[cut], delay=1, truncate=3000)
    with open(os.path.join(folder, first), "rb") as f:
        f.read(1)
    for name in names:
        if name != cut:
            assert _md5(os.path.join(folder, name)) == md5s[name], name
    with pytest.raises(OSError) as exc:
        open(os.path.join(folder, cut), "rb")
    assert exc.value.errno == errno.EIO
    assert proxy.count(r"objectUID=%s&" % sops[cut]) == 2
    assert _came_meanwhile(proxy, sops, cut, first), \
        "no other member came while the cut one was in flight"
    assert m.unmount() == 0
    proxy.reset()
    m2 = mount(source, options="downloader=wado-uri,wado_uri=%s/wado" % proxy.url,
               cache_dir=cache, name="again")
    folder2 = m2.path(os.path.relpath(folder, m.path()))
    for name in names:
        if name != cut:
            assert _md5(os.path.join(folder2, name)) == md5s[name], name
    assert proxy.count(WADO_GET) == 0  # the others were cached whole
    assert _md5(os.path.join(folder2, cut)) == md5s[cut]
    assert proxy.count(WADO_GET) == 1


from test_whole_files import BIG_BYTES, big  # noqa: E402,F401 (the fixture: a 2.6 MB member)


def _uri_gets(m, e):
    """The daemon's log lines of the GETs of @e that ended: a whole reply or one refused."""
    return [l for l in m.text().splitlines() if "objectUID=%s&" % e["SOPInstanceUID"] in l and
            (" -> 200 " in l or "reply refused" in l)]


def _path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def test_member_larger_than_memory_comes_whole_in_the_series(mount, big):
    """A member over 1 MiB goes on in a temporary file while it comes, and reaches the cache
    whole: one GET, in the series, and its bytes are the file's."""
    o, small, large = big["orthanc"], big["manifest"][1], big["big"]
    m = mount(o.dicomweb, options="downloader=wado-uri,wado_uri=%s/wado" % o.url)
    assert _md5(_path(m, small)) == small["md5"]  # starts the series
    assert _md5(_path(m, large)) == large["md5"]
    assert len(_uri_gets(m, large)) == 1
    assert " -> 200 (%d bytes" % os.path.getsize(large["path"]) in _uri_gets(m, large)[0]
    assert os.path.getsize(large["path"]) > BIG_BYTES


def test_member_that_cannot_be_held_is_fetched_alone(mount, big, tmp_path):
    """No temporary file for a large member ($TMPDIR is gone): that member fails in the series
    with a clear error, the small ones come, and the large one is fetched alone (streamed to
    the cache) and read whole."""
    o, small, large = big["orthanc"], big["manifest"][2], big["big"]
    env = dict(os.environ, TMPDIR=str(tmp_path / "gone"))
    m = mount(o.dicomweb, options="downloader=wado-uri,wado_uri=%s/wado" % o.url, env=env,
              expect_errors=r"cannot make a temporary file in .*/gone")
    assert _md5(_path(m, small)) == small["md5"]
    assert _md5(_path(m, large)) == large["md5"]
    assert len(_uri_gets(m, large)) == 2
    assert "cannot make a temporary file in %s" % env["TMPDIR"] in m.text()
