"""The pixelmed cases. Not collected by a plain pytest run (no test_ prefix): test_pixelmed.py
runs this module in a pytest of its own inside `unshare -n`, a network namespace with only its
own loopback, because pixelmed binds every interface and makes LDAP and multicast-DNS discovery
when it starts. The archive, the mounts and storescu all live in that namespace.

pixelmed is the archive here that chooses among the offered presentation contexts by its own
preference (deflate first, then explicit VR little endian) rather than by the syntax it stored:
what trolley offers decides what arrives."""
import os
import subprocess

import pytest

import naming
from servers import Pixelmed, free_port, in_private_netns
from test_dimse import split_part10

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.fixture(scope="module", autouse=True)
def own_network():
    assert in_private_netns(), "run through test_pixelmed.py: pixelmed needs unshare -n"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


@pytest.fixture(scope="module")
def pixelmed(own_network, session_dir, data):
    """pixelmed loaded with two uncompressed instances of every series (pixelmed accepts no
    compressed syntax), each patient's first series' second instance stored in implicit VR
    and one instance deflated, as storescu proposed them: {server, stored: {sop: (syntax,
    data set bytes)}, entries}."""
    d = os.path.join(session_dir, "pixelmed")
    os.makedirs(d)
    move_port = free_port()
    server = Pixelmed(d, move_port=move_port)
    try:
        taken, entries = {}, []
        for e in data["manifest"]:
            if not e.get("compression") and taken.get(e["SeriesInstanceUID"], 0) < 2:
                taken[e["SeriesInstanceUID"]] = taken.get(e["SeriesInstanceUID"], 0) + 1
                entries.append(e)
        first = {}
        for e in entries:
            first.setdefault(e["PatientID"], []).append(e)
        implicit = [v[1]["path"] for v in first.values() if len(v) > 1]
        deflated = [entries[0]["path"]]
        server.store(implicit, "-xi")
        server.store(deflated, "-xd")
        server.store([e["path"] for e in entries
                      if e["path"] not in implicit and e["path"] not in deflated])
        stored = {}
        for path in server.stored_files():
            with open(path, "rb") as f:
                ts, sop, body = split_part10(f.read())
            stored[sop] = (ts, body)
        assert len(stored) == len(entries)
        syntaxes = {ts for ts, _ in stored.values()}
        assert syntaxes == {IMPLICIT, EXPLICIT, DEFLATED}, syntaxes
        yield {"server": server, "stored": stored, "entries": entries,
               "move_port": move_port}
    finally:
        server.stop()


def _exported(out):
    """{SOP Instance UID: (syntax, data set bytes)} of every .dcm under @out."""
    got = {}
    for root, _, names in os.walk(out):
        for n in names:
            if n.endswith(".dcm"):
                with open(os.path.join(root, n), "rb") as f:
                    ts, sop, body = split_part10(f.read())
                assert sop not in got, "two files hold " + sop
                got[sop] = (ts, body)
    return got


def _source(pm):
    return "dicom://PIXELMED@127.0.0.1:%d" % pm["server"].port


def test_tree_lists_every_patient(mount, pixelmed):
    m = mount(_source(pixelmed))
    assert set(os.listdir(m.path("patients"))) == naming.patient_folders(pixelmed["entries"])


def test_c_get_exports_every_instance_as_stored(mount, pixelmed, tmp_path):
    # Explicit VR stays explicit, implicit stays implicit, deflated stays deflated: trolley
    # learns each instance's stored syntax from C-FIND (pixelmed answers (0002,0010)) and
    # offers that one, where pixelmed would otherwise pick deflate for every file.
    m = mount(_source(pixelmed))
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients"), str(out)], check=True)
    got = _exported(out)
    assert got.keys() == pixelmed["stored"].keys()
    for sop, (ts, body) in pixelmed["stored"].items():
        assert got[sop][0] == ts, (sop, "transfer syntax")
        assert got[sop][1] == body, (sop, "data set bytes")


def test_c_get_in_the_syntax_asked_for(mount, pixelmed, tmp_path):
    # transfer_syntax= asks for one syntax by name: every file comes in it, transcoded by the
    # archive (the data sets then differ in encoding, not in content).
    m = mount(_source(pixelmed), options="transfer_syntax=" + IMPLICIT)
    e = pixelmed["entries"][0]  # stored deflated
    study = m.path("studies", e["StudyInstanceUID"])
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", study, str(out)], check=True)
    got = _exported(out)
    assert e["SOPInstanceUID"] in got
    assert {ts for ts, _ in got.values()} == {IMPLICIT}


def test_wado_uri_exports_every_instance_as_stored(mount, pixelmed, tmp_path):
    # pixelmed's WADO-URI sends the file it keeps: C-FIND for the tree, WADO-URI for bytes.
    m = mount(_source(pixelmed), options="downloader=wado-uri,wado_uri=http://127.0.0.1:%d/"
              % pixelmed["server"].web_port)
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients"), str(out)], check=True)
    got = _exported(out)
    assert got.keys() == pixelmed["stored"].keys()
    for sop, (ts, body) in pixelmed["stored"].items():
        assert got[sop] == (ts, body), sop


def test_c_move_exports_every_instance_as_stored(mount, pixelmed, tmp_path):
    # pixelmed moves to TROLLEY at 127.0.0.1:move_port, from 127.0.0.1: the storage SCP takes
    # what this C-MOVE asked for, in the syntax pixelmed proposes first.
    m = mount(_source(pixelmed), options="downloader=c-move,move_port=%d"
              % pixelmed["move_port"])
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", m.path("patients"), str(out)], check=True)
    got = _exported(out)
    assert got.keys() == pixelmed["stored"].keys()
    for sop, (ts, body) in pixelmed["stored"].items():
        assert got[sop][0] == ts, (sop, "transfer syntax")
        assert got[sop][1] == body, (sop, "data set bytes", len(got[sop][1]), len(body))


def test_deid_view_holds_no_phi(mount, session_dir, tmp_path):
    # The de-identified view over pixelmed's C-FIND and C-GET: the PHI study of test_deid.py,
    # nothing identifying in any name, xattr or file, the burned-in images not served.
    import deid_data
    from test_deid import check_served_view, deid_mount
    phi = deid_data.generate(str(tmp_path / "phi"))
    d = os.path.join(session_dir, "pixelmed-deid")
    os.makedirs(d)
    server = Pixelmed(d)
    try:
        server.store(phi["files"])
        key = tmp_path / "key"
        with open(os.open(str(key), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(os.urandom(48))
        m = deid_mount(mount, "dicom://PIXELMED@127.0.0.1:%d" % server.port, str(key),
                       expect_errors=True)
        check_served_view(m, learned=False)
    finally:
        server.stop()
