"""The names DESIGN.md promises, computed from the manifest: what the tests expect to see.
A second, independent writing of fs/names.c's rules (in Python, from the rule book), so a test
that compares the mount with these names checks the C code against the rules."""
import collections
import re

NAME_MAX = 255
ROUNDS = 8  # hash suffix rounds before the last-resort suffix (NAMES_ROUNDS)
UNNAMED = "unnamed"
JUNK = {".xdg-volume-info", "autorun.inf", "desktop.ini", ".DS_Store", ".hidden", ".directory",
        "Desktop.ini", "AutoRun.inf", ".localized"}


def fnv1a32(text, h=2166136261):
    for b in text.encode("utf-8", "surrogateescape"):
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def suffix(key, round=1):
    """The clash suffix of round @round: round 1 hashes the key, later rounds hash on."""
    h = fnv1a32(key)
    if round > 1:
        h = fnv1a32("#%d" % round, h)
    return " ~%06x" % (h & 0xFFFFFF)


def uid_is_valid(uid):
    """query_uid_is_valid(): digits and dots, no empty component, 1..64 characters. (Leading
    zeros are allowed by trolley's check, so this does not look at them.)"""
    return 0 < len(uid) <= 64 and all(p and p.isdigit() and p.isascii() for p in uid.split("."))


def clean(value, pn=False):
    value = value.lstrip(" ")
    value = value.rstrip(" ^" if pn else " ")
    return "".join("_" if (c == "/" or ord(c) < 0x20 or ord(c) == 0x7F) else c for c in value)


def join(*fields):
    return " ".join(f for f in fields if f)


def cut_utf8(text, limit):
    """The longest prefix of @text that is at most @limit bytes of UTF-8."""
    data = text.encode()[:limit]
    return data.decode("utf-8", "ignore")


def put_suffix(name, text):
    ext = ".dcm" if name.endswith(".dcm") else ""
    base = name[:-4] if ext else name
    return cut_utf8(base, NAME_MAX - len(text) - len(ext)) + text + ext


def add_suffix(name, key, round=1):
    return put_suffix(name, suffix(key, round))


def is_last_resort(name):
    """Whether @name ends with " ~#" and digits (before ".dcm"): the form only entries that
    no hash suffix could place are given."""
    return re.search(r" ~#[0-9]+(\.dcm)?$", name) is not None


def finish(text, ext, key, forced=False):
    """Every name's last step: "unnamed" for nothing, '_' for a leading '.', and the suffix of
    the key for a name too long, a desktop junk name or a name of a UID that is not one."""
    full = (text or UNNAMED) + ext
    if full.startswith("."):
        full = "_" + full[1:]
    if len(full.encode()) > NAME_MAX or full in JUNK or is_last_resort(full):
        forced = True
    if forced:
        full = cut_utf8(full[:len(full) - len(ext)], NAME_MAX - len(ext)) + ext
        full = add_suffix(full, key)
    return full


def patient_name(e):
    pid = clean(e["PatientID"])
    return finish(join(clean(e["PatientName"], pn=True), "[%s]" % pid if pid else ""), "",
                  patient_key(e))


def patient_key(e):
    return e["PatientID"] + "\\" + e["PatientName"]


def study_name(e):
    d = e["StudyDate"]
    date = "%s-%s-%s" % (d[:4], d[4:6], d[6:]) if len(d) == 8 and d.isdigit() else d
    acc = clean(e["AccessionNumber"])
    return finish(join(clean(date), clean(e["StudyDescription"]), "[%s]" % acc if acc else "")
                  or clean(e["StudyInstanceUID"]), "", e["StudyInstanceUID"])


def series_name(e):
    return finish(join(clean(e["SeriesNumber"]), clean(e["Modality"]),
                       clean(e["SeriesDescription"])) or clean(e["SeriesInstanceUID"]), "",
                  e["SeriesInstanceUID"])


def instance_name(e):
    return finish(clean(e["InstanceNumber"]) or clean(e["SOPInstanceUID"]), ".dcm",
                  e["SOPInstanceUID"])


def flat_instance_name(e):
    """layout=flat: "<SeriesNumber>-<InstanceNumber>.dcm", else as instance_name()."""
    series, number = clean(e["SeriesNumber"]), clean(e["InstanceNumber"])
    text = "%s-%s" % (series, number) if series and number else number
    return finish(text or clean(e["SOPInstanceUID"]), ".dcm", e["SOPInstanceUID"])


def uid_name(uid, ext=""):
    """Under /studies: a UID is its own name; a UID that is not one is shown cleaned, with its
    suffix, so it can never take a real UID's name."""
    if uid_is_valid(uid):
        return uid + ext
    return finish(clean(uid), ext, uid, forced=True)


def unique(items, reserved=()):
    """items: [(base name, key)] -> {key: final name}, clashes suffixed as trolley does: every
    name that clashes takes the suffix of round 1; a suffixed name that still clashes with a
    name kept earlier (or with another new one) takes round 2, and so on; entries still
    clashing after ROUNDS get " ~#N", N their place among those in key order."""
    base = {key: name for name, key in items}
    names = dict(base)
    rounds = {key: 0 for key in base}
    left = []
    r = 0
    while True:
        groups = collections.defaultdict(list)
        for name in reserved:
            groups[name].append(None)
        for key, name in names.items():
            groups[name].append(key)
        movers = []
        for members in groups.values():
            if len(members) < 2:
                continue
            kept = any(m is None or rounds[m] < r for m in members)
            movers += [m for m in members if m is not None and (not kept or rounds[m] == r)]
        if not movers:
            for n, m in enumerate(sorted(left, key=lambda k: k.encode("utf-8", "surrogateescape")), 1):
                names[m] = put_suffix(base[m], " ~#%d" % n)
            return names
        for m in movers:
            if r + 1 > ROUNDS:
                del names[m]
                left.append(m)
            else:
                names[m] = add_suffix(base[m], m, r + 1)
                rounds[m] = r + 1
        r += 1


def patient_folders(manifest):
    """The names of /patients: one per patient, clashes suffixed."""
    return set(unique(sorted({(patient_name(e), patient_key(e)) for e in manifest})).values())


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
        series.update(unique(sorted(rows), reserved=("metadata.json",)))
    instances = {}
    for se in series:
        rows = [(instance_name(e), e["SOPInstanceUID"]) for e in manifest
                if e["SeriesInstanceUID"] == se]
        instances.update(unique(rows, reserved=("metadata.json",)))
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
