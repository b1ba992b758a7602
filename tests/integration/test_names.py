"""Naming rules through the real mount (DESIGN.md "Names"): names that would hide or clash, UIDs
an archive should never send, and every listed name resolving by path after its listing
expired, to the same entry. Hostile UIDs come from the proxy, rewriting Orthanc's real answers
(Orthanc will not store them)."""
import errno
import hashlib
import json
import os
import subprocess
import time
import urllib.request

import pytest

import dataset
import naming

BAD_UID = r"is not a valid UID"
# Study-level queries that no targeted lookup makes: the listings of /patients and /studies.
BROAD_STUDIES = r"^/dicom-web/studies\?(?!.*(?:PatientName|PatientID|StudyInstanceUID|StudyDate)=)"


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _upstream_json(proxy, path):
    with urllib.request.urlopen(proxy.upstream_url + path) as r:
        return json.loads(r.read())


def _answer(entries, replace=()):
    """A DICOM JSON body; each (placeholder, raw bytes) of @replace is put in as bytes, for
    values JSON cannot carry (invalid UTF-8)."""
    body = json.dumps(entries).encode()
    for placeholder, raw in replace:
        body = body.replace(placeholder.encode(), raw)
    return body


def _set(entry, tag, vr, value):
    if value is None:
        entry.pop(tag, None)
    else:
        entry[tag] = {"vr": vr, "Value": [value]}


def _probe_path(mount, source, proxy, options, walk, pattern):
    """The path of the request a listing makes (with its includefields), from a first mount."""
    m = mount(source, options=options, name="probe")
    walk(m)
    paths = proxy.paths(pattern)
    m.unmount()
    proxy.reset()
    assert paths, "no request matched " + pattern
    return paths[-1]


def _xattr(path, keyword):
    return os.getxattr(path, "user.dicom." + keyword).decode("utf-8", "surrogateescape")


def _hostile(data, pid):
    return [e for e in data["manifest"] if e["PatientID"] == pid]


def test_names_starting_with_a_dot_are_shown_and_not_hidden(mount, source, data):
    m = mount(source)
    names = os.listdir(m.path("patients"))
    assert "_.^DOTS [HID-3]" in names and "_hidden^x [HID-4]" in names
    assert not any(n.startswith(".") for n in names)
    # ls without -a shows them: nothing of the archive is hidden.
    shown = subprocess.run(["ls", m.path("patients")], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert sorted(shown) == sorted(names)
    e = _hostile(data, "HID-3")[0]
    rel = naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]]
    assert rel.startswith("_.^DOTS [HID-3]/")
    assert _md5(m.path("patients", rel)) == e["md5"]


def test_literal_name_equal_to_a_suffixed_sibling_gives_unique_names(mount, source, data):
    m = mount(source)
    rows = _hostile(data, "HID-5")
    patient = m.path("patients", "Clash^Literal [HID-5]")
    got = sorted(os.listdir(patient))
    want = naming.unique(sorted({(naming.study_name(e), e["StudyInstanceUID"]) for e in rows}))
    assert len(got) == len(set(got)) == 3
    assert got == sorted(want.values())
    literal = "2023-01-03 TWIN" + naming.suffix(dataset.hostile_study_uid(2, 0))
    assert literal in got  # the literal keeps its name; the twin it equals moved on
    assert want[dataset.hostile_study_uid(2, 2)] == literal
    for uid, name in want.items():
        assert _xattr(os.path.join(patient, name), "StudyInstanceUID") == uid, name


def test_patients_whose_names_clash_once_cleaned_resolve_by_a_targeted_query(
        mount, source, proxy):
    """IDs "TW/1" and "TW_1" both show as "[TW_1]": the folders are suffixed, and a lookup
    after the listing expired finds each by one PatientID query that matches both ('_' may
    stand for any one character), then picks it by its name."""
    m = mount(source, options="meta_ttl=1")
    want = {"TW/1": "Twin^Slash [TW_1]" + naming.suffix("TW/1\\Twin^Slash"),
            "TW_1": "Twin^Slash [TW_1]" + naming.suffix("TW_1\\Twin^Slash")}
    names = os.listdir(m.path("patients"))
    assert set(want.values()) <= set(names)
    time.sleep(2.5)
    proxy.reset()
    for pid, name in want.items():
        assert _xattr(m.path("patients", name), "PatientID") == pid
    asked = proxy.paths(r"^/dicom-web/studies\?")
    assert asked and all("PatientID=TW?1" in p for p in asked), asked
    # Each folder holds its own patient's study (a '/' in an ID is asked as a wildcard: sent
    # escaped, Orthanc would match nothing).
    assert os.listdir(m.path("patients", want["TW/1"])) == ["2023-01-04 SLASH"]
    assert os.listdir(m.path("patients", want["TW_1"])) == ["2023-01-04 UNDERSCORE"]


def _listing_identities(m, folder, keywords):
    out = {}
    names = os.listdir(m.path(folder))
    assert len(names) == len(set(names)), "two entries of one name in " + folder
    for name in names:
        out[name] = tuple(_xattr(m.path(folder, name), k) for k in keywords)
    return out


def test_every_listed_name_resolves_by_path_after_the_listing_expired(mount, source, data):
    """Each name of /patients, of each patient folder and of /studies, looked up by its path
    once the listing is older than meta_ttl (so by a targeted query, or a new listing), is the
    same entry the listing showed."""
    m = mount(source, options="meta_ttl=1")
    patients = _listing_identities(m, "patients", ("PatientID", "PatientName"))
    studies = {}
    for p in patients:
        studies[p] = _listing_identities(m, os.path.join("patients", p), ("StudyInstanceUID",))
    by_uid = _listing_identities(m, "studies", ("StudyInstanceUID",))
    assert len(patients) == len({naming.patient_key(e) for e in data["manifest"]})
    assert len(by_uid) == len({e["StudyInstanceUID"] for e in data["manifest"]})
    time.sleep(2.5)  # past meta_ttl and the kernel's 1 s entry timeout
    for p, ident in patients.items():
        path = m.path("patients", p)
        assert (_xattr(path, "PatientID"), _xattr(path, "PatientName")) == ident, p
    time.sleep(1.5)
    for p, children in studies.items():
        for s, ident in children.items():
            assert (_xattr(m.path("patients", p, s), "StudyInstanceUID"),) == ident, (p, s)
    for s, ident in by_uid.items():
        assert (_xattr(m.path("studies", s), "StudyInstanceUID"),) == ident, s


LONG_NAME = "\u00dc" * 150 + "^Long"  # 305 bytes: the folder name is cut and suffixed


def test_made_up_and_cut_patient_names_resolve_by_path_after_the_listing_expired(
        mount, source, data, proxy):
    """A patient with neither name nor ID is listed as "unnamed", and one whose name is too
    long under a cut name with a suffix: no query can find either by that name, so their
    lookup lists /patients again and picks them by the same naming."""
    path = _probe_path(mount, source, proxy, "", lambda m: os.listdir(m.path("patients")),
                       BROAD_STUDIES)
    answer = _upstream_json(proxy, path)
    nameless = [a for a in answer if a.get("00100020", {}).get("Value") == ["HID-4"]]
    long = [a for a in answer if a.get("00100020", {}).get("Value") == ["HID-3"]]
    assert len(nameless) == len(long) == 1
    _set(nameless[0], "00100010", "PN", None)
    _set(nameless[0], "00100020", "LO", None)
    _set(long[0], "00100010", "PN", {"Alphabetic": LONG_NAME})
    body = _answer(answer)
    proxy.fault(BROAD_STUDIES, body=body, type="application/dicom+json")
    # The archive gives the long name for that patient's own query too.
    proxy.fault(r"^/dicom-web/studies\?.*PatientID=HID-3", body=body,
                type="application/dicom+json")
    m = mount(source, options="meta_ttl=1")
    names = os.listdir(m.path("patients"))
    cut = naming.patient_name({"PatientName": LONG_NAME, "PatientID": "HID-3"})
    assert len(os.fsencode(cut)) <= 255 and naming.suffix("HID-3\\" + LONG_NAME) in cut
    assert "unnamed" in names and cut in names
    assert "_hidden^x [HID-4]" not in names
    time.sleep(2.5)
    for folder, pid in (("unnamed", "HID-4"), (cut, "HID-3")):
        e = _hostile(data, pid)[0]
        rel = naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]].split("/", 1)[1]
        assert os.listdir(m.path("patients", folder)) == [rel.split("/")[0]]
        assert _md5(m.path("patients", folder, rel)) == e["md5"]
    # A patient that is really called "unnamed" is not there: a made-up name finds nothing else.
    assert not os.path.exists(m.path("patients", "unnamed ~000000"))


def _patient_of(answer_entry):
    """{"PatientID", "PatientName"} of a study result, as naming.py takes them."""
    pid = answer_entry.get("00100020", {}).get("Value", [""])[0]
    pn = answer_entry.get("00100010", {}).get("Value", [{}])[0].get("Alphabetic", "")
    return {"PatientID": pid, "PatientName": pn}


def test_names_chosen_to_clash_in_every_round_cannot_push_a_patient_out(mount, source, proxy):
    """The clash suffixes are public (FNV of the key): nine studies whose PatientNames are the
    victim's name and each name it would move to take them all, round after round. The victim
    stays in /patients under its last-resort name, which resolves by path after the listing
    expired; the nine keep their literal names."""
    path = _probe_path(mount, source, proxy, "", lambda m: os.listdir(m.path("patients")),
                       BROAD_STUDIES)
    answer = _upstream_json(proxy, path)
    patients = [_patient_of(a) for a in answer]
    names = [naming.patient_name(p) for p in patients]
    i = next(i for i, n in enumerate(names)
             if names.count(n) == 1 and not naming.suffix(naming.patient_key(patients[i])) in n)
    victim, victim_name = answer[i], names[i]
    key = naming.patient_key(patients[i])
    for r in range(naming.ROUNDS + 1):
        blocker = json.loads(json.dumps(victim))
        _set(blocker, "0020000D", "UI", "2.25.990%d" % r)
        _set(blocker, "00100020", "LO", None)
        shown = victim_name + (naming.suffix(key, r) if r else "")
        _set(blocker, "00100010", "PN", {"Alphabetic": shown})
        answer.append(blocker)
    proxy.fault(BROAD_STUDIES, body=_answer(answer), type="application/dicom+json")
    want = naming.unique(sorted({(naming.patient_name(p), naming.patient_key(p))
                                 for p in map(_patient_of, answer)}))
    assert naming.is_last_resort(want[key])
    m = mount(source, options="meta_ttl=1")
    got = os.listdir(m.path("patients"))
    assert sorted(got) == sorted(want.values())
    assert want[key] in got, "the victim was pushed out of /patients"
    for r in range(1, naming.ROUNDS + 1):
        assert victim_name + naming.suffix(key, r) in got  # the blockers keep their names
    studies = os.listdir(m.path("patients", want[key]))
    assert victim["0020000D"]["Value"][0] in {
        _xattr(m.path("patients", want[key], s), "StudyInstanceUID") for s in studies}
    assert "named by their place" in m.text()
    time.sleep(2.5)  # past meta_ttl and the kernel's entry timeout: looked up by path anew
    assert _xattr(m.path("patients", want[key]), "PatientID") == patients[i]["PatientID"]


BAD_STUDY_UIDS = ["", ".", "..", "1.2/../x", "1.2\x01x", "1.2.3 "]


def _studies_with_bad_uids(mount, source, proxy):
    path = _probe_path(mount, source, proxy, "", lambda m: os.listdir(m.path("studies")),
                       BROAD_STUDIES)
    answer = _upstream_json(proxy, path)
    real = [a["0020000D"]["Value"][0] for a in answer]
    for i, uid in enumerate(BAD_STUDY_UIDS):
        bad = json.loads(json.dumps(answer[i % len(answer)]))
        _set(bad, "0020000D", "UI", uid)
        answer.append(bad)
    proxy.fault(BROAD_STUDIES, body=_answer(answer), type="application/dicom+json")
    return real


def test_bad_study_uids_get_safe_names_and_never_break_studies(mount, source, proxy):
    real = _studies_with_bad_uids(mount, source, proxy)
    m = mount(source, options="meta_ttl=1", expect_errors=BAD_UID)
    names = os.listdir(m.path("studies"))  # was EIO for a "" UID
    want = set(real) | {naming.uid_name(u) for u in BAD_STUDY_UIDS}
    assert sorted(names) == sorted(want)
    for name in names:
        assert name not in ("", ".", "..") and not name.startswith(".") and "/" not in name
    n = proxy.count()
    for uid in BAD_STUDY_UIDS:
        folder = m.path("studies", naming.uid_name(uid))
        assert os.path.isdir(folder)
        assert _xattr(folder, "StudyInstanceUID") == uid
        with pytest.raises(OSError) as exc:
            os.listdir(folder)
        assert exc.value.errno == errno.EIO
    # Never requested: listing them asked the archive nothing.
    assert proxy.count() == n
    assert BAD_UID in m.text()
    # After the listing expired, every name still resolves by path to its own study.
    time.sleep(2.5)
    for uid in BAD_STUDY_UIDS:
        assert _xattr(m.path("studies", naming.uid_name(uid)), "StudyInstanceUID") == uid
    for uid in real[:3]:
        assert _xattr(m.path("studies", uid), "StudyInstanceUID") == uid
    assert not os.path.exists(m.path("studies", "not a uid ~000000"))


def test_flat_layout_names_instances_without_number_by_cleaned_uid(mount, source, data, proxy):
    """layout=flat: an instance without InstanceNumber is named by its UID, cleaned; an archive
    that sends '/', a control byte or invalid UTF-8 there breaks nothing but that entry."""
    rows = [e for e in data["manifest"] if e["PatientID"] == "PID004"]
    e = next(e for e in rows if not e["InstanceNumber"])
    study_uid = e["StudyInstanceUID"]
    study = "/".join(["patients", naming.patient_name(e), naming.study_name(e)])
    path = _probe_path(mount, source, proxy, "layout=flat",
                       lambda m: os.listdir(m.path(study)), r"/instances\?")
    answer = _upstream_json(proxy, path)
    by_sop = {a["00080018"]["Value"][0]: a for a in answer}
    assert set(by_sop) == {r["SOPInstanceUID"] for r in rows}
    hostile = ["1.2/../x", "1.2\x01", "BADUTF8"]
    for uid in hostile:
        bad = json.loads(json.dumps(by_sop[e["SOPInstanceUID"]]))
        _set(bad, "00080018", "UI", uid)
        answer.append(bad)
    proxy.fault(r"/studies/%s/instances\?" % study_uid.replace(".", r"\."),
                body=_answer(answer, [("BADUTF8", b"1.\xff\xfe")]),
                type="application/dicom+json")
    m = mount(source, options="layout=flat", expect_errors=BAD_UID)
    names = os.listdir(m.path(study))  # was EIO for the whole study folder
    for n in (os.fsencode(n) for n in names):
        n.decode("utf-8")  # strict
        assert b"/" not in n and not n.startswith(b".") and 0 < len(n) <= 255
    assert len(names) == len(set(names)) == len(rows) + len(hostile) + 1  # and metadata.json
    assert naming.flat_instance_name(e) == e["SOPInstanceUID"] + ".dcm"
    assert naming.flat_instance_name(e) in names
    assert {"1.2_.._x.dcm", "1.2_.dcm", "1.\ufffd\ufffd.dcm"} <= set(names)
    assert _md5(m.path(study, naming.flat_instance_name(e))) == e["md5"]
    n = proxy.count()
    for name in ("1.2_.._x.dcm", "1.2_.dcm", "1.\ufffd\ufffd.dcm"):
        with pytest.raises(OSError) as exc:
            open(m.path(study, name), "rb").close()
        assert exc.value.errno == errno.EIO, name
    assert proxy.count() == n  # never requested
    assert BAD_UID in m.text()


def test_series_with_all_fields_and_uid_empty_is_unnamed(mount, source, data, proxy):
    e = next(e for e in data["manifest"] if e["StudyDescription"] == "CT HEAD")
    study = "/".join(["patients", naming.patient_name(e), naming.study_name(e)])
    path = _probe_path(mount, source, proxy, "", lambda m: os.listdir(m.path(study)),
                       r"/series\?")
    answer = _upstream_json(proxy, path)
    answer.append({"0020000D": answer[0]["0020000D"]})  # no number, modality, text or UID
    proxy.fault(r"/studies/%s/series\?" % e["StudyInstanceUID"].replace(".", r"\."),
                body=_answer(answer), type="application/dicom+json")
    m = mount(source, expect_errors=BAD_UID)
    names = sorted(os.listdir(m.path(study)))  # was EIO: a series named ""
    want = {naming.series_name(r) for r in data["manifest"]
            if r["StudyInstanceUID"] == e["StudyInstanceUID"]}
    assert names == sorted(want | {"unnamed", "metadata.json"})
    with pytest.raises(OSError) as exc:
        os.listdir(m.path(study, "unnamed"))
    assert exc.value.errno == errno.EIO
    assert BAD_UID in m.text()
    assert os.listdir(m.path(study, naming.series_name(e)))
