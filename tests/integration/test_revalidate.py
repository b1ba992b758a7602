"""Where the archive sends validators (ETag, Last-Modified: dcm4chee does, Orthanc does not;
the test Proxy adds them), a refresh asks the listings again conditionally: 304 Not Modified
keeps the stored answer, a changed answer comes in full and its new validators are kept."""
import os
import signal

import pydicom
import pytest

import dataset
from servers import Orthanc, Proxy, wait_for

P1 = "Doe^John [PID001]"
# QIDO-RS searches: the requests that get validators.
SEARCH = r"/(studies|series|instances)(\?|$)"


@pytest.fixture(scope="module")
def archive(tmp_path_factory, data):
    work = tmp_path_factory.mktemp("revalidate")
    (work / "orthanc").mkdir()
    server = Orthanc(str(work / "orthanc"))
    proxy = None
    try:
        server.upload([e["path"] for e in data["manifest"] if e["PatientID"] == "PID001"])
        proxy = Proxy("127.0.0.1:%d" % server.http_port)
        yield {"orthanc": server, "proxy": proxy, "source": proxy.url + "/dicom-web",
               "work": work}
    finally:
        if proxy:
            proxy.stop()
        server.stop()


def _add_study(archive, data, tag):
    e = next(e for e in data["manifest"] if e["PatientID"] == "PID001")
    ds = pydicom.dcmread(e["path"])
    ds.StudyInstanceUID = dataset.uid("revalidate", tag, "study")
    ds.SeriesInstanceUID = dataset.uid("revalidate", tag, "series")
    ds.SOPInstanceUID = dataset.uid("revalidate", tag, "sop")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDescription = "NEW " + tag
    ds.StudyDate = "20241231"
    ds.AccessionNumber = ""
    path = str(archive["work"] / (tag + ".dcm"))
    ds.save_as(path)
    archive["orthanc"].upload([path])


def _refresh(m):
    done = m.text().count("refresh (SIGHUP)")
    os.kill(m.proc.pid, signal.SIGHUP)
    wait_for(lambda: m.text().count("refresh (SIGHUP)") > done, 10, "the refresh")


def _folders(path):
    return set(n for n in os.listdir(path) if n != "metadata.json")


def _status(m):
    with open(m.path(".trolley", "status")) as f:
        return dict(l.split(": ", 1) for l in f.read().splitlines() if ": " in l)


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_refresh_revalidates_listings_with_conditional_requests(mount, archive, data,
                                                                 validator):
    proxy = archive["proxy"]
    proxy.reset()
    header = "if_none_match" if validator == "etag" else "if_modified_since"
    proxy.fault(SEARCH, **{validator: True})
    m = mount(archive["source"])
    p1 = m.path("patients", P1)
    before = _folders(p1)
    first = [r for r in proxy.log() if "/studies" in r["path"]]
    assert first and all(r[header] is None for r in first)

    # Nothing changed: the refresh asks conditionally, the archive says 304, the stored
    # answers stand (and are served: the listing is the same).
    n = len(proxy.log())
    _refresh(m)
    assert _folders(p1) == before
    again = [r for r in proxy.log()[n:] if "/studies" in r["path"]]
    assert again, "the refresh asked nothing"
    assert all(r[header] for r in again), again
    assert all(r["status"] == 304 for r in again), again
    assert int(_status(m)["query_not_modified"]) >= len(again)

    # Something changed: the conditional request gets the new answer in full (200)...
    _add_study(archive, data, validator)
    n = len(proxy.log())
    _refresh(m)
    after = _folders(p1)
    assert len(after - before) == 1 and "NEW " + validator in (after - before).pop()
    changed = [r for r in proxy.log()[n:] if "/studies" in r["path"]]
    assert any(r[header] and r["status"] is None for r in changed), changed
    # ... whose validators are kept: the next refresh is a 304 again.
    n = len(proxy.log())
    _refresh(m)
    assert _folders(p1) == after
    last = [r for r in proxy.log()[n:] if "/studies" in r["path"]]
    assert last and all(r["status"] == 304 for r in last), last


def test_without_validators_nothing_is_asked_conditionally(mount, archive):
    """Orthanc as it is: no validators, so no conditional request and nothing stored."""
    proxy = archive["proxy"]
    proxy.reset()
    m = mount(archive["source"])
    before = _folders(m.path("patients", P1))
    n = len(proxy.log())
    _refresh(m)
    assert _folders(m.path("patients", P1)) == before
    again = proxy.log()[n:]
    assert again and all(r["if_none_match"] is None and r["if_modified_since"] is None
                         for r in again)
    assert _status(m)["query_not_modified"] == "0"
