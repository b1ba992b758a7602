"""The source tree as README.md's Layout section and the layering describe it: every C and C++
file is named in Layout (and nothing that is gone), the C++ is all in dcmtk/, each layer
includes only what is below it, and the version is meson's everywhere it is written. No daemon
is mounted: these read the tree (and ask the binary its version)."""
import os
import re
import subprocess

from conftest import BIN, REPO

SOURCE = re.compile(r"\.(c|cc|h|hh)$")


def _tracked_sources():
    try:
        out = subprocess.run(["git", "-C", REPO, "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        # A tree without git (an unpacked source package): every file but the build trees.
        out = [os.path.relpath(os.path.join(r, f), REPO)
               for r, ds, fs in os.walk(REPO)
               for f in fs if not os.path.relpath(r, REPO).startswith(("build", ".git"))]
    return {f for f in out if SOURCE.search(f)}


def _layout_section():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    start = text.index("\n## Layout\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _layout_files(section):
    """The files the Layout section names: "name.c" under the folder that opens its block
    ("    core/       ..."; a block that opens with a file is the top of the tree),
    "name.c/.h" for a source and its header."""
    named, folder = set(), None
    for line in section.splitlines():
        if not line.startswith("    "):
            continue
        head = line[4:]
        if head and not head[0].isspace():
            # A block opens with its folder, or with a file at the top of the tree.
            folder = head.split()[0] if head.split()[0].endswith("/") else ""
        for m in re.finditer(r"(?<![\w/.-])([\w/.-]*?)([\w-]+)\.(c|cc|h|hh)(/\.(h|hh))?(?![\w])",
                             line):
            prefix, stem, ext, _, header = m.groups()
            base = prefix if prefix else folder
            named.add(base + stem + "." + ext)
            if header:
                named.add(base + stem + "." + header)
    return named


def test_readme_layout_names_every_source_file_and_none_that_is_gone():
    tracked = _tracked_sources()
    named = _layout_files(_layout_section())
    assert tracked, "no source files found in %s" % REPO
    missing = sorted(tracked - named)
    gone = sorted(named - tracked)
    assert not missing, "README.md's Layout does not name: %s" % ", ".join(missing)
    assert not gone, "README.md's Layout names files that do not exist: %s" % ", ".join(gone)


def test_all_cxx_is_in_dcmtk():
    cxx = sorted(f for f in _tracked_sources() if re.search(r"\.(cc|hh)$", f))
    assert cxx, "no C++ found"
    assert all(f.startswith("dcmtk/") for f in cxx), cxx


# Which project headers each layer may include: arrows point down only.
ALLOWED = {
    "core/": (r"core/",),
    "protocols/": (r"core/", r"protocols/", r"dcmtk/dimse\.h$"),
    "dcmtk/": (r"core/", r"dcmtk/", r"protocols/(downloader|searcher|proto_config)\.h$"),
    "cache/": (r"core/", r"cache/", r"protocols/(downloader|searcher|proto_config)\.h$"),
    "media/": (r"core/", r"media/", r"cache/cache\.h$", r"dcmtk/dicomdir\.h$"),
    "deid/": (r"core/", r"deid/"),
}


def test_each_layer_includes_only_what_is_below_it():
    bad = []
    for f in sorted(_tracked_sources()):
        layer = next((l for l in ALLOWED if f.startswith(l)), None)
        if not layer:
            continue
        for n, line in enumerate(open(os.path.join(REPO, f), encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m and not any(re.match(rx, m.group(1)) for rx in ALLOWED[layer]):
                bad.append("%s:%d includes %s" % (f, n, m.group(1)))
    assert not bad, "\n".join(bad)


def test_version_is_mesons_in_changelog_man_page_and_binary():
    meson = open(os.path.join(REPO, "meson.build"), encoding="utf-8").read()
    version = re.search(r"^\s*version\s*:\s*'([^']+)'", meson, re.M).group(1)
    changelog = open(os.path.join(REPO, "debian", "changelog"), encoding="utf-8").readline()
    assert re.match(r"trolley \(%s(-[^)]*)?\)" % re.escape(version), changelog), changelog
    man = open(os.path.join(REPO, "mount.trolley.8"), encoding="utf-8").readline()
    assert '"trolley %s"' % version in man, man
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert "mount.trolley %s\n" % version in out.stdout, out.stdout
