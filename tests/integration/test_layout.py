"""Layout templates (-o layout=TEMPLATE) through the mount: a heudiconv-style tree, dropped
levels, empty values, clashes, attributes that must be asked for with includefield, the C-FIND
searcher against dcmqrscp, bad templates refused at mount time, and a byte-identical cp -r. The
expected names are written here from the rules in mount.trolley(8), not from the C code."""
import json
import os
import re
import subprocess
import urllib.request

import pytest

import naming
from conftest import BIN

HEUDICONV = "%PatientID/%StudyDate_%AccessionNumber/%Modality_%SeriesNumber/%InstanceNumber"
QIDO_STUDIES = r"^/dicom-web/studies\?"


def sep_join(*pairs):
    """The separator rule: (separator, value) pairs; a value shown is preceded by its separator
    when an earlier value was shown; empty values are left out with theirs."""
    out = ""
    for sep, value in pairs:
        if value:
            out += (sep if out else "") + value
    return out


def heudiconv_names(e):
    """(patient, study, series, instance) base names of @e under HEUDICONV."""
    c = naming.clean
    patient = naming.finish(c(e["PatientID"]) or naming.UNNAMED, "", naming.patient_key(e))
    study = naming.finish(sep_join(("", c(e["StudyDate"])), ("_", c(e["AccessionNumber"])))
                          or c(e["StudyInstanceUID"]), "", e["StudyInstanceUID"])
    series = naming.finish(sep_join(("", c(e["Modality"])), ("_", c(e["SeriesNumber"])))
                           or c(e["SeriesInstanceUID"]), "", e["SeriesInstanceUID"])
    instance = naming.finish(c(e["InstanceNumber"]) or c(e["SOPInstanceUID"]), ".dcm",
                             e["SOPInstanceUID"])
    return patient, study, series, instance


def template_tree(manifest, names, series_level=True):
    """{sop: relative path under /patients} for a template whose names(e) gives the base names
    (patient, study, [series,] instance), each folder made unique as trolley does."""
    patients = naming.unique(sorted({(names(e)[0], naming.patient_key(e)) for e in manifest}))
    out = {}
    for pkey, pname in patients.items():
        mine = [e for e in manifest if naming.patient_key(e) == pkey]
        studies = naming.unique(sorted({(names(e)[1], e["StudyInstanceUID"]) for e in mine}))
        for suid, sname in studies.items():
            rows = [e for e in mine if e["StudyInstanceUID"] == suid]
            if not series_level:
                inst = naming.unique([(names(e)[2], e["SOPInstanceUID"]) for e in rows],
                                     reserved=("metadata.json",))
                for e in rows:
                    out[e["SOPInstanceUID"]] = "/".join([pname, sname,
                                                         inst[e["SOPInstanceUID"]]])
                continue
            series = naming.unique(sorted({(names(e)[2], e["SeriesInstanceUID"]) for e in rows}),
                                   reserved=("metadata.json",))
            for seuid, sename in series.items():
                srows = [e for e in rows if e["SeriesInstanceUID"] == seuid]
                inst = naming.unique([(names(e)[3], e["SOPInstanceUID"]) for e in srows],
                                     reserved=("metadata.json",))
                for e in srows:
                    out[e["SOPInstanceUID"]] = "/".join([pname, sname, sename,
                                                         inst[e["SOPInstanceUID"]]])
    return out


def walk_files(top):
    return {os.path.relpath(os.path.join(r, f), top) for r, _, fs in os.walk(top) for f in fs
            if f != "metadata.json"}


def test_heudiconv_template_lays_out_every_instance(mount, source, data):
    """Every instance of the archive, where the template and the naming rules put it: empty
    AccessionNumber and PatientID, clashing series and instance numbers, odd characters."""
    m = mount(source, options="layout=" + HEUDICONV)
    want = template_tree(data["manifest"], heudiconv_names)
    assert walk_files(m.path("patients")) == set(want.values())
    found = set(os.listdir(m.path("patients")))
    assert {"PID001", "PID002", "unnamed"} <= found  # Anon Ymous has no PatientID
    # An empty value is left out with its separator: no "20200302_".
    assert sorted(os.listdir(m.path("patients", "PID001"))) == ["20200301_ACC1", "20200302"]
    # The study folders under /dates and /search are named by the template too.
    assert os.listdir(m.path("dates", "2020-03-02")) == ["20200302"]
    assert sorted(os.listdir(m.path("search", "PatientID=PID001", "20200302"))) == [
        "MR_1", "MR_2", "metadata.json"]


def test_clash_under_a_template_gets_a_stable_uid_suffix(mount, source, data, proxy):
    m = mount(source, options="layout=%s,meta_ttl=1" % HEUDICONV)
    study = m.path("patients", "PID002", "20200303_ACC3")
    first = sorted(os.listdir(study))
    dups = [n for n in first if n.startswith("CT_4")]
    uids = {e["SeriesInstanceUID"] for e in data["manifest"] if e["SeriesDescription"] == "Dup"}
    assert set(dups) == {"CT_4" + naming.suffix(u) for u in uids}
    n = proxy.count()
    import time
    time.sleep(2.2)  # past meta_ttl: asked again, and the names stay
    assert sorted(os.listdir(study)) == first
    assert proxy.count() > n


def test_dropped_series_level_puts_instances_in_the_study(mount, source, data):
    tmpl = "%PatientID/%StudyDate_%AccessionNumber/%SeriesNumber-%InstanceNumber"
    m = mount(source, options="layout=" + tmpl)

    def names(e):
        p, s, _, _ = heudiconv_names(e)
        c = naming.clean
        inst = naming.finish((sep_join(("", c(e["SeriesNumber"])), ("-", c(e["InstanceNumber"])))
                              if c(e["InstanceNumber"]) else "") or c(e["SOPInstanceUID"]),
                             ".dcm", e["SOPInstanceUID"])
        return p, s, inst

    want = template_tree(data["manifest"], names, series_level=False)
    rows = [p for p in want.values() if p.startswith("PID001/20200301_ACC1/")]
    got = os.listdir(m.path("patients", "PID001", "20200301_ACC1"))
    assert set(got) == {p.split("/")[2] for p in rows} | {"metadata.json"}
    assert "1-1.dcm" in got and "2-40.dcm" in got
    assert walk_files(m.path("patients")) == set(want.values())


def test_dropped_patient_level_lists_studies_and_finds_them_again(mount, source, data, proxy):
    """Without a patient level /patients holds the studies; a fresh mount finds a deep path by
    its name (listing /patients, as no query can find such a name)."""
    tmpl = "%StudyDate_%{PatientID:alnum}/%Modality_%SeriesNumber/%InstanceNumber"
    m = mount(source, options="layout=" + tmpl)
    e = next(e for e in data["manifest"] if e["SeriesDescription"] == "Coronal"
             and e["InstanceNumber"] == "5")
    path = m.path("patients", "20200301_PID001", "CT_2", "5.dcm")
    with open(path, "rb") as f:
        assert f.read() == open(e["path"], "rb").read()
    assert "20200301_PID001" in os.listdir(m.path("patients"))
    assert "20200303_PID002" in os.listdir(m.path("patients"))


def test_lookup_without_listing_under_a_patient_id_template(mount, source, data, proxy):
    """A path saved earlier opens in a fresh mount by targeted queries: /patients is never
    listed for a template that names patients by one field."""
    m = mount(source, options="layout=sub-%PatientID/%StudyDate/%SeriesNumber/%InstanceNumber")
    e = next(e for e in data["manifest"] if e["SeriesDescription"] == "Coronal"
             and e["InstanceNumber"] == "5")
    with open(m.path("patients", "sub-PID001", "20200301", "2", "5.dcm"), "rb") as f:
        assert f.read() == open(e["path"], "rb").read()
    studies = proxy.paths(QIDO_STUDIES)
    assert studies and all("PatientID=PID001" in p for p in studies), studies


def _orthanc_json(orthanc, path):
    with urllib.request.urlopen("http://127.0.0.1:%d/dicom-web%s" % (orthanc.http_port, path),
                                timeout=10) as r:
        return json.loads(r.read())


def test_keyword_needing_includefield_is_asked_for_and_shown(mount, source, data, proxy,
                                                             orthanc):
    """InstitutionName is not in Orthanc's default series answer: trolley asks for it with
    includefield, and the folder name shows it."""
    e = next(e for e in data["manifest"] if e["StudyDescription"] == "CT HEAD")
    plain = _orthanc_json(orthanc, "/studies/%s/series" % e["StudyInstanceUID"])
    assert plain and all("00080080" not in s for s in plain), "Orthanc returns it unasked"
    m = mount(source, options="layout=%PatientID/%StudyDate/%SeriesNumber_%InstitutionName/"
                              "%InstanceNumber")
    got = sorted(os.listdir(m.path("patients", "PID001", "20200301")))
    assert got == ["1_Trolley General", "2_Trolley General", "metadata.json"]
    series_queries = proxy.paths(r"/studies/[0-9.]+/series\?")
    assert series_queries and all("includefield=00080080" in p for p in series_queries)


def _refused(args, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    out = subprocess.run([BIN, "-o", "cache_dir=%s,%s" % (tmp_path / "c", args[0]), args[1],
                          str(mnt)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1, out
    return out.stderr


def test_bad_template_is_refused_at_mount_with_its_message(tmp_path, source, proxy):
    err = _refused(["layout=%PatientID/%StudyDate_%Foo/%InstanceNumber", source], tmp_path)
    lines = err.splitlines()
    assert 'mount.trolley: layout: unknown DICOM keyword "Foo"' in lines[0], err
    assert lines[1].strip() == "%PatientID/%StudyDate_%Foo/%InstanceNumber"
    # The caret stands under the bad keyword.
    assert lines[2].index("^") == lines[1].index("Foo"), err
    err = _refused(["layout=%StudyDate/%PatientID/%InstanceNumber", source], tmp_path)
    assert "names the patient level" in err and "patient/study/series/instance" in err, err
    err = _refused(["layout=%PatientID/%StudyDate <[%AccessionNumber]/%InstanceNumber", source],
                   tmp_path)
    assert "'<' without its '>'" in err, err
    assert proxy.count() == 0  # refused before anything was asked


def test_template_the_searcher_cannot_serve_is_refused_with_the_reason(tmp_path):
    # MINT answers a fixed summary: it cannot be asked for PatientSex.
    err = _refused(["wado_uri=http://127.0.0.1:9/wado,layout=%PatientSex/%StudyDate/"
                    "%InstanceNumber", "mint+http://127.0.0.1:9/mint"], tmp_path)
    assert "%PatientSex" in err and "no includefield" in err, err
    # A hierarchical C-FIND asks an instance query for no series attribute.
    err = _refused(["layout=%PatientID/%StudyDate/%SeriesNumber_%InstanceNumber",
                    "dicom://STORE@127.0.0.1:9"], tmp_path)
    assert "%SeriesNumber is a series attribute" in err and "C-FIND" in err, err


@pytest.fixture(scope="module")
def dcmqrscp(session_dir, data):
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp-layout")
    os.makedirs(d)
    files = [e["path"] for e in data["manifest"]
             if e["PatientID"] in ("PID001", "PID003") and not e.get("compression")]
    s = Dcmqrscp(d, files)
    yield s
    s.stop()


def test_c_find_template_asks_for_its_keywords_from_dcmqrscp(mount, dcmqrscp, data):
    """Through C-FIND: StudyID and PatientSex are no default keys of trolley's study query;
    the template adds them to the identifier, and dcmqrscp (which indexes both) answers them."""
    m = mount("dicom://STORE@127.0.0.1:%d" % dcmqrscp.port,
              options="layout=%PatientID_%PatientSex/%StudyDate_%StudyID/"
                      "%Modality_%SeriesNumber/%InstanceNumber")
    assert sorted(os.listdir(m.path("patients"))) == ["PID001_O", "PID003_O"]
    assert sorted(os.listdir(m.path("patients", "PID001_O"))) == ["20200301_1", "20200302_1"]
    series = sorted(os.listdir(m.path("patients", "PID001_O", "20200301_1")))
    assert series == ["CT_1", "CT_2"]
    e = next(e for e in data["manifest"] if e["SeriesDescription"] == "Axial"
             and e["InstanceNumber"] == "7")
    # DIMSE carries no meta header (trolley writes its own): the data sets are the same.
    from test_dimse import split_part10
    with open(m.path("patients", "PID001_O", "20200301_1", "CT_1", "7.dcm"), "rb") as f:
        got = split_part10(f.read())
    with open(e["path"], "rb") as f:
        assert got == split_part10(f.read())


def test_cp_r_of_a_study_under_a_template_is_byte_identical(mount, source, data, tmp_path):
    import pydicom
    m = mount(source, options="layout=" + HEUDICONV)
    out = tmp_path / "export"
    subprocess.run(["cp", "-r", m.path("patients", "PID002", "20200303_ACC3"), str(out)],
                   check=True)
    want = {sop: rel.split("/", 2)[2]
            for sop, rel in template_tree(data["manifest"], heudiconv_names).items()
            if rel.startswith("PID002/20200303_ACC3/")}
    assert len(want) == 90
    assert walk_files(out) == set(want.values())
    for sop, rel in want.items():
        with open(out / rel, "rb") as f:
            body = f.read()
        assert body == open(data["by_sop"][sop]["path"], "rb").read(), rel
        assert pydicom.dcmread(str(out / rel)).SOPInstanceUID == sop
