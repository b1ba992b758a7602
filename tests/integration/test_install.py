"""Installing, and the command line as mount(8) and users call it."""
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, REPO, is_mounted


def test_meson_install_puts_binary_and_man_page(tmp_path):
    build = os.path.join(REPO, "build")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        pytest.fail("no meson build in %s: run scripts/test.sh" % build)
    subprocess.run(["meson", "install", "-C", build, "--destdir", str(tmp_path)], check=True,
                   capture_output=True)
    files = {os.path.relpath(os.path.join(r, f), tmp_path) for r, _, fs in os.walk(tmp_path)
             for f in fs}
    assert any(f.endswith("sbin/mount.trolley") for f in files), files
    man = next(f for f in files if f.endswith("man8/mount.trolley.8"))
    out = subprocess.run(["man", "-l", "--no-hyphenation", os.path.join(tmp_path, man)],
                         capture_output=True, text=True, env={**os.environ, "MANWIDTH": "100"})
    for section in ("SYNOPSIS", "SOURCE", "THE TREE", "OPTIONS", "EXAMPLES", "FILES",
                    "EXIT STATUS"):
        assert section in out.stdout
    # Every trolley option the binary lists is documented (FUSE's own follow a blank line).
    usage = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    ours = usage.split("trolley options:")[1].split("\n\n")[0]
    assert "cache_dir" in ours
    for line in ours.splitlines():
        line = line.strip()
        if line.startswith("-o "):
            name = line[3:].split("=")[0].split()[0]
            assert name in out.stdout, "option %s missing from the man page" % name


def test_help_and_version_exit_zero():
    assert subprocess.run([BIN, "--help"], capture_output=True).returncode == 0
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "mount.trolley" in out.stdout


@pytest.mark.parametrize("opts,message", [
    ("cache_size=lots", "cache_size=lots"),
    ("downloader=c-get", "downloader=c-get needs a dicom://AE@host:port SOURCE or dicom="),
    ("downloader=c-move,dicom=PACS@127.0.0.1:9", "downloader=c-move needs move_port=PORT"),
    ("dicom=PACS@127.0.0.1", "expected dicom://AETITLE@host:port"),
    ("dicom=PACS@[::1]:104", "not IPv6 addresses"),
    ("aet=WAY_TOO_LONG_AE_TITLE,dicom=PACS@127.0.0.1:9", "an AE title is 1 to 16"),
    ("loglevel=chatty", "loglevel=chatty"),
    ("retry=-5", "retry and max_results must not be negative"),
])
def test_bad_options_fail_before_mounting_with_a_message(tmp_path, opts, message):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out = subprocess.run([BIN, "-o", opts, "http://127.0.0.1:9/dicom-web", str(mnt)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert message in out.stderr
    assert not is_mounted(str(mnt))


def test_unusable_cache_dir_fails_the_mount(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = subprocess.run([BIN, "-o", "cache_dir=%s/sub" % blocker,
                          "http://127.0.0.1:9/dicom-web", str(mnt)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert "cache folder" in out.stderr
    assert not is_mounted(str(mnt))


def _daemon_pids(mountpoint):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"mount.trolley") and mountpoint.encode() in argv:
            pids.append(int(pid))
    return pids


def test_mount_helper_convention_daemonizes_and_unmounts(tmp_path, source):
    """mount -t trolley SRC DIR -o OPTS runs /sbin/mount.trolley SRC DIR -o OPTS with the
    options mount(8) adds; the helper must return once mounted, leaving a daemon behind."""
    mnt = tmp_path / "helper-mnt"
    mnt.mkdir()
    opts = "rw,noauto,user,_netdev,nofail,x-systemd.automount,cache_dir=%s" % (tmp_path / "c")
    out = subprocess.run([BIN, source, str(mnt), "-n", "-o", opts], capture_output=True,
                         text=True, timeout=30)
    pids = _daemon_pids(str(mnt))
    try:
        assert out.returncode == 0, out.stderr
        assert is_mounted(str(mnt))
        assert len(pids) == 1
        assert "Doe^John [PID001]" in os.listdir(mnt / "patients")
        with open("/proc/self/mountinfo") as f:
            line = next(l for l in f if str(mnt) in l)
        assert " ro," in line or " ro " in line  # always read-only, whatever "rw" said
        assert "fuse.trolley" in line
    finally:
        unmounted = subprocess.run(["fusermount3", "-u", str(mnt)]).returncode == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pids):
            time.sleep(0.1)
        left = _alive(pids)
        for pid in left:  # only the daemon this test started, found by its own mountpoint
            os.kill(pid, signal.SIGKILL)
        if is_mounted(str(mnt)):
            subprocess.run(["fusermount3", "-uz", str(mnt)])
    assert unmounted
    assert not left, "the daemon did not exit after fusermount3 -u"


def _alive(pids):
    return [p for p in pids if os.path.exists("/proc/%d" % p)]


def test_unmount_is_clean(mount, source, data):
    m = mount(source)
    with open(m.path("patients", "O_Brien^Pat [PID003]", "2021-01-15 MR KNEE [ACC4]",
                     "1 MR PD", "1.dcm"), "rb") as f:
        assert f.read(132)[128:] == b"DICM"
    assert m.unmount() == 0
    assert not is_mounted(m.mountpoint)
    assert m.proc.returncode == 0
    assert os.listdir(m.mountpoint) == []  # the empty folder under the mount is back


def test_sigterm_unmounts_and_exits(mount, source):
    """systemd and shutdown scripts stop a daemon with SIGTERM: the mount must go away and the
    daemon exit by itself, promptly, without crashing. (libfuse reports the signal, so the
    status may be 1 rather than the 0 of a fusermount3 -u.)"""
    m = mount(source)
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    m.stopped = True  # this test stops the daemon itself
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(20) in (0, 1), m.text()  # negative: killed by a signal (a crash)
    assert not is_mounted(m.mountpoint)


def test_sigterm_with_open_files_and_folders_frees_them(mount, source, data):
    """Handles the kernel never releases (the session ends under them) are freed at the end:
    the ASan-built daemon's leak check would report them otherwise."""
    m = mount(source, options="prefetch=none")
    folder = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]", "1 CT Axial")
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    os.listdir(dir_fd)
    f = open(os.path.join(folder, "1.dcm"), "rb")
    f.read(10)
    try:
        m.stopped = True
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(20) in (0, 1), m.text()
    finally:
        for close in (f.close, lambda: os.close(dir_fd)):
            try:
                close()
            except OSError:
                pass  # ENOTCONN: the daemon is gone, as it should be
    assert "LeakSanitizer" not in m.text()
