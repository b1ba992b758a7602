"""The names DESIGN.md promises, computed from the manifest: what the tests expect to see."""
import collections


def fnv1a32(text):
    h = 2166136261
    for b in text.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def suffix(key):
    return " ~%06x" % (fnv1a32(key) & 0xFFFFFF)


def clean(value):
    value = value.strip(" ")
    value = value.rstrip(" ^")
    return "".join("_" if (c == "/" or ord(c) < 0x20 or ord(c) == 0x7F) else c for c in value)


def join(*fields):
    return " ".join(f for f in fields if f)


NAME_MAX = 255


def cut_utf8(text, limit):
    """The longest prefix of @text that is at most @limit bytes of UTF-8."""
    data = text.encode()[:limit]
    return data.decode("utf-8", "ignore")


def fit(name, key):
    """A name over NAME_MAX bytes loses its tail and gains the UID suffix, so it stays unique."""
    if len(name.encode()) <= NAME_MAX:
        return name
    ext = ".dcm" if name.endswith(".dcm") else ""
    base = name[:-4] if ext else name
    return cut_utf8(base, NAME_MAX - len(suffix(key)) - len(ext)) + suffix(key) + ext


def patient_name(e):
    pid = clean(e["PatientID"])
    return fit(join(clean(e["PatientName"]), "[%s]" % pid if pid else "") or "unnamed",
               patient_key(e))


def patient_key(e):
    return e["PatientID"] + "\\" + e["PatientName"]


def study_name(e):
    d = e["StudyDate"]
    date = "%s-%s-%s" % (d[:4], d[4:6], d[6:]) if len(d) == 8 else d
    acc = clean(e["AccessionNumber"])
    return fit(join(date, clean(e["StudyDescription"]), "[%s]" % acc if acc else "")
               or e["StudyInstanceUID"], e["StudyInstanceUID"])


def series_name(e):
    return fit(join(clean(e["SeriesNumber"]), clean(e["Modality"]),
                    clean(e["SeriesDescription"])) or e["SeriesInstanceUID"],
               e["SeriesInstanceUID"])


def instance_name(e):
    return fit((clean(e["InstanceNumber"]) or e["SOPInstanceUID"]) + ".dcm", e["SOPInstanceUID"])


def unique(items):
    """items: [(base name, key)] -> {key: final name}, clashes suffixed as trolley does."""
    counts = collections.Counter(name for name, _ in items)
    out = {}
    for name, key in items:
        if counts[name] > 1:
            if name.endswith(".dcm"):
                out[key] = name[:-4] + suffix(key) + ".dcm"
            else:
                out[key] = name + suffix(key)
        else:
            out[key] = name
    return out


def patients_tree(manifest):
    """{sop uid: relative path under /patients} for every instance."""
    patients = unique(sorted({(patient_name(e), patient_key(e)) for e in manifest}))
    studies = {}
    for pkey in patients:
        rows = {(study_name(e), e["StudyInstanceUID"]) for e in manifest
                if patient_key(e) == pkey}
        studies.update(unique(sorted(rows)))
    series = {}
    for st in studies:
        rows = {(series_name(e), e["SeriesInstanceUID"]) for e in manifest
                if e["StudyInstanceUID"] == st}
        series.update(unique(sorted(rows)))
    instances = {}
    for se in series:
        rows = [(instance_name(e), e["SOPInstanceUID"]) for e in manifest
                if e["SeriesInstanceUID"] == se]
        instances.update(unique(rows))
    return {e["SOPInstanceUID"]: "/".join([patients[patient_key(e)],
                                            studies[e["StudyInstanceUID"]],
                                            series[e["SeriesInstanceUID"]],
                                            instances[e["SOPInstanceUID"]]])
            for e in manifest}


def expected_files(manifest):
    """Every file under /patients: the instances, and metadata.json in each study and series."""
    files = set(patients_tree(manifest).values())
    for path in list(files):
        series = path.rsplit("/", 1)[0]
        files.add(series + "/metadata.json")
        files.add(series.rsplit("/", 1)[0] + "/metadata.json")
    return files
