"""The Debian package as an admin uses it: lintian finds no error, it installs, mount(8) and
an fstab line mount through /sbin/mount.trolley, the shipped systemd units verify, and dpkg -r
leaves nothing behind. scripts/test.sh builds the package (dpkg-buildpackage, outside the
source tree) and names the .deb in TROLLEY_DEB; without it there is nothing to test here."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import is_mounted

DEB = os.environ.get("TROLLEY_DEB")

pytestmark = [
    pytest.mark.skipif(not DEB, reason="TROLLEY_DEB is not set: scripts/test.sh builds the "
                       "package and sets it"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installing a package needs root"),
]


def _run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def _status():
    out = _run("dpkg-query", "-W", "-f=${db:Status-Status}", "trolley")
    return out.stdout.strip() if out.returncode == 0 else "not-installed"


def _daemons(mountpoint):
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"mount.trolley") and mountpoint.encode() in argv:
            pids.append(int(pid))
    return pids


def _umount(mountpoint):
    """umount(8) as an admin would; the daemon must exit by itself (else it is killed, by
    the PID this test found, and the test fails)."""
    pids = _daemons(mountpoint)
    out = _run("umount", mountpoint)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if os.path.exists("/proc/%d" % p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    if is_mounted(mountpoint):
        _run("fusermount3", "-uz", mountpoint)
    assert out.returncode == 0, out.stderr
    assert pids and not left, "daemon %s did not exit after umount" % pids


@pytest.fixture(scope="module")
def installed():
    if _status() != "not-installed":
        pytest.fail("a trolley package is already installed here: this test installs and "
                    "removes its own, so remove that one first (dpkg -r trolley)")
    out = _run("dpkg", "-i", DEB)
    assert out.returncode == 0, out.stdout + out.stderr
    files = _run("dpkg", "-L", "trolley").stdout.split()
    try:
        yield files
    finally:
        if _status() != "not-installed":
            _run("dpkg", "-r", "trolley")


@pytest.mark.skipif(not shutil.which("lintian"), reason="no lintian")
def test_lintian_reports_no_error():
    out = _run("lintian", "--fail-on", "error", DEB)
    errors = [l for l in out.stdout.splitlines() if l.startswith("E:")]
    assert out.returncode == 0 and not errors, out.stdout + out.stderr


def test_installs_the_helper_where_mount_looks(installed):
    assert "/usr/sbin/mount.trolley" in installed
    assert os.access("/sbin/mount.trolley", os.X_OK)  # mount(8) runs /sbin/mount.<type>
    assert _run("man", "-w", "mount.trolley").stdout.strip().endswith("mount.trolley.8.gz")
    # ${shlibs:Depends} found the libraries it links.
    depends = _run("dpkg-query", "-W", "-f=${Depends}", "trolley").stdout
    for lib in ("libfuse3", "libcurl", "libdcmtk", "liblmdb", "libcjson", "libxml2"):
        assert lib in depends, depends
    out = _run("/usr/sbin/mount.trolley", "--version")
    assert out.returncode == 0 and "mount.trolley" in out.stdout


def test_mount_t_trolley_with_the_options_mount_adds(installed, source, tmp_path):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    opts = ("defaults,rw,noauto,user,_netdev,nofail,x-systemd.automount,"
            "x-systemd.idle-timeout=10min,cache_dir=%s" % (tmp_path / "c"))
    out = _run("mount", "-t", "trolley", source, mnt, "-o", opts)
    try:
        assert out.returncode == 0, out.stderr
        assert is_mounted(mnt)
        assert "Doe^John [PID001]" in os.listdir(os.path.join(mnt, "patients"))
        with open("/proc/self/mountinfo") as f:
            line = next(l for l in f if mnt in l)
        assert "fuse.trolley" in line and " ro," in line
    finally:
        _umount(mnt)


def test_an_fstab_line_mounts(installed, source, tmp_path):
    mnt = str(tmp_path / "pacs")
    os.mkdir(mnt)
    fstab = tmp_path / "fstab"
    fstab.write_text("%s %s trolley ro,noauto,_netdev,x-systemd.automount,cache_dir=%s 0 0\n"
                     % (source, mnt, tmp_path / "c"))
    out = _run("mount", "--fstab", str(fstab), mnt)
    try:
        assert out.returncode == 0, out.stderr
        assert "Doe^John [PID001]" in os.listdir(os.path.join(mnt, "patients"))
    finally:
        _umount(mnt)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_shipped_units_verify(installed, tmp_path):
    examples = "/usr/share/doc/trolley/examples"
    units = [f for f in os.listdir(examples) if f.endswith((".mount", ".automount",
                                                             ".service"))]
    assert len(units) == 3
    for f in units:
        shutil.copy(os.path.join(examples, f), tmp_path / f)
    out = _run("systemd-analyze", "verify", *[str(tmp_path / f) for f in units])
    assert out.returncode == 0 and not out.stderr.strip(), out.stdout + out.stderr


def test_dpkg_r_removes_it_cleanly(installed):
    out = _run("dpkg", "-r", "trolley")
    assert out.returncode == 0, out.stdout + out.stderr
    assert _status() == "not-installed"  # no conffiles: nothing left for a purge
    left = [f for f in installed if os.path.isfile(f)]
    assert not left, left
    assert not os.path.exists("/sbin/mount.trolley")
