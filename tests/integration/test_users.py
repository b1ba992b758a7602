"""A mount shared with other users (allow_other): uid=, gid= and umask= decide who owns the
files and folders and who may read them (the kernel checks the modes: default_permissions), and
/.trolley/errors shows each user only the failures of their own requests (root and the user
the daemon runs as see all). Readers run as other users through setpriv; the tests run as
root, which may pass allow_other without user_allow_other in /etc/fuse.conf."""
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

import naming
from conftest import BIN, SANITIZER, Mount

OWNER, GROUP = 1234, 2345  # no such user or group needs to exist
MEMBER = 4321  # another user in GROUP
STRANGER = 65534  # nobody
OTHER = 5555

# Run by another user: one filesystem call, its result or errno as JSON on stdout.
READER = r"""
import hashlib, json, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == "read":
        with open(path, "rb") as f:
            out = {"md5": hashlib.md5(f.read()).hexdigest()}
    elif op == "text":
        with open(path, "rb") as f:
            out = {"text": f.read().decode(), "size": os.fstat(f.fileno()).st_size,
                   "stat_size": os.stat(path).st_size}
    elif op == "list":
        out = {"names": sorted(os.listdir(path))}
    else:
        raise SystemExit("no such op")
except OSError as e:
    out = {"errno": e.errno}
print(json.dumps(out))
"""


def as_user(uid, gid, op, path):
    """@op of @path by user @uid in group @gid (and no other group)."""
    out = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                          "/usr/bin/python3", "-c", READER, op, path],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def shared_mount(tmp_path):
    """shared_mount(source, options, expect_errors=False) -> Mount, with its mountpoint in a
    folder every user may enter (pytest's own tmp folders are root's alone)."""
    top = tempfile.mkdtemp(prefix="trolley-users-", dir="/tmp")
    os.chmod(top, 0o755)
    made = []

    def make(source, options, expect_errors=False):
        mnt = os.path.join(top, "mnt%d" % len(made))
        os.mkdir(mnt)
        m = Mount(source, mnt, str(tmp_path / ("cache%d" % len(made))), options,
                  expect_errors)
        made.append(m)
        return m

    yield make
    try:
        for m in made:
            if not m.stopped:
                assert m.unmount() == 0, m.text()
            m.check_log()
    finally:
        for m in made:
            m.force_stop()
        shutil.rmtree(top, ignore_errors=True)


def _file(data, modality, n):
    e = next(e for e in data["manifest"]
             if e["Modality"] == modality and e["InstanceNumber"] == n)
    return e, naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]]


def test_uid_gid_umask_set_owner_group_and_modes(shared_mount, source, data):
    m = shared_mount(source, "allow_other,uid=%d,gid=%d,umask=027" % (OWNER, GROUP))
    e, rel = _file(data, "MR", "5")
    for path, mode in [(m.mountpoint, 0o550), (m.path("patients"), 0o550),
                       (os.path.dirname(m.path("patients", rel)), 0o550),
                       (m.path("patients", rel), 0o440), (m.path(".trolley", "errors"), 0o440),
                       (m.path(".trolley", "status"), 0o440)]:
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (OWNER, GROUP), path
        assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
    # readdirplus answers carry the same attributes as lookups
    for entry in os.scandir(os.path.dirname(m.path("patients", rel))):
        st = entry.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (OWNER, GROUP, 0o440)


def test_umask_decides_who_may_read(shared_mount, source, data):
    e, rel = _file(data, "MR", "5")
    # allow_other alone: every local user reads every file (the modes of before, 0444/0555).
    open_to_all = shared_mount(source, "allow_other")
    assert as_user(STRANGER, STRANGER, "read", open_to_all.path("patients", rel)) == \
        {"md5": e["md5"]}
    # umask=027: the owner and the group read, the others do not even list.
    m = shared_mount(source, "allow_other,uid=%d,gid=%d,umask=027" % (OWNER, GROUP))
    path = m.path("patients", rel)
    assert as_user(OWNER, OWNER, "read", path) == {"md5": e["md5"]}
    assert as_user(MEMBER, GROUP, "read", path) == {"md5": e["md5"]}
    assert as_user(STRANGER, STRANGER, "list", m.path("patients")) == {"errno": errno.EACCES}
    assert as_user(STRANGER, STRANGER, "read", path) == {"errno": errno.EACCES}
    assert as_user(STRANGER, STRANGER, "text", m.path(".trolley", "errors")) == \
        {"errno": errno.EACCES}
    # umask=077: the owner alone.
    assert as_user(MEMBER, GROUP, "list", m.path("patients")) == {"names": sorted(
        os.listdir(m.path("patients")))}
    solo = shared_mount(source, "allow_other,uid=%d,gid=%d,umask=077" % (OWNER, GROUP))
    assert as_user(OWNER, OWNER, "read", solo.path("patients", rel)) == {"md5": e["md5"]}
    assert as_user(MEMBER, GROUP, "list", solo.path("patients")) == {"errno": errno.EACCES}


def test_bad_owner_options_are_refused(tmp_path, source):
    for opt, word in [("uid=no-such-user-x", "uid=no-such-user-x"),
                      ("gid=no-such-group-x", "gid=no-such-group-x"),
                      ("umask=999", "umask=999"), ("umask=-1", "umask=-1")]:
        mnt = tmp_path / "mnt"
        mnt.mkdir(exist_ok=True)
        out = subprocess.run([BIN, "-o", "cache_dir=%s,%s" % (tmp_path / "c", opt),
                              source, str(mnt)], capture_output=True, text=True, timeout=20)
        assert out.returncode == 1
        assert "mount.trolley: " + word in out.stderr, out.stderr
        assert not SANITIZER.search(out.stderr), out.stderr


def _rows(text):
    lines = text.splitlines()
    assert lines[0].startswith("# time\terror\tpath\tasked\tstatus\treason")
    return [l.split("\t") for l in lines[1:]]


def test_errors_file_shows_each_user_only_their_own_failures(shared_mount, source, data,
                                                             proxy):
    m = shared_mount(source, "allow_other,prefetch=none", expect_errors=True)
    (e1, rel1), (e2, rel2) = _file(data, "CT", "8"), _file(data, "CT", "9")
    for e in (e1, e2):
        proxy.fault("/instances/" + e["SOPInstanceUID"] + "$", status=500,
                    body=b"disk on fire", type="text/plain")
    assert as_user(STRANGER, STRANGER, "read", m.path("patients", rel1)) == {"errno": errno.EIO}
    assert as_user(MEMBER, MEMBER, "read", m.path("patients", rel2)) == {"errno": errno.EIO}

    errors = m.path(".trolley", "errors")
    mine = as_user(STRANGER, STRANGER, "text", errors)
    assert [r[2] for r in _rows(mine["text"])] == ["/patients/" + rel1]
    assert mine["size"] == mine["stat_size"] == len(mine["text"].encode())
    theirs = as_user(MEMBER, MEMBER, "text", errors)
    assert [r[2] for r in _rows(theirs["text"])] == ["/patients/" + rel2]
    assert _rows(as_user(OTHER, OTHER, "text", errors)["text"]) == []
    # Root (here also the daemon's user) sees all, newest first.
    with open(errors) as f:
        assert [r[2] for r in _rows(f.read())] == ["/patients/" + rel2, "/patients/" + rel1]
