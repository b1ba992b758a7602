"""Fixtures: the generated dataset, one Orthanc + DICOMweb for the session loaded with it, a
counting proxy in front of it, and mounts of the real mount.trolley binary. Nothing is left
behind: every process is ours and is stopped by PID, every mount is unmounted, even on failure."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import dataset
from servers import Orthanc, Proxy, free_port, wait_for

# A shell without job control starts background commands with SIGINT ignored, and an ignored
# signal stays ignored across exec: the readers the tests interrupt with SIGINT would never see
# it (seen when the suite ran as `cmd &`). A handler of our own is reset to the default in
# every child at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TROLLEY_BIN", os.path.join(REPO, "build", "mount.trolley"))

# Lines a daemon must never print: a sanitizer report means a memory error.
SANITIZER = re.compile(r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|"
                       r"runtime error:|ERROR: .*Sanitizer")

_live_mounts = []


def _cleanup_mounts():
    for m in list(_live_mounts):
        m.force_stop()


atexit.register(_cleanup_mounts)


def _unescape_mountinfo(field):
    """/proc/self/mountinfo writes space, tab, newline and backslash as \\ooo (octal)."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


def is_mounted(path):
    path = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            if _unescape_mountinfo(line.split()[4]) == path:
                return True
    return False


class Mount:
    """A running mount.trolley -f with its log."""

    def __init__(self, source, mountpoint, cache_dir, options="", expect_errors=False,
                 extra_args=(), env=None):
        self.mountpoint = mountpoint
        self.cache_dir = cache_dir
        self.expect_errors = expect_errors
        self.log_path = os.path.join(os.path.dirname(mountpoint),
                                     "daemon-%d.log" % time.monotonic_ns())
        opts = "cache_dir=%s,loglevel=debug" % cache_dir
        if options:
            opts += "," + options
        self.argv = [BIN, "-f", "-o", opts, *extra_args, source, mountpoint]
        self.stopped = False  # set once the test or the fixture stops the daemon on purpose
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        _live_mounts.append(self)
        try:
            wait_for(self._mounted, 20, "the mount at " + mountpoint)
        except Exception:
            self.force_stop()
            raise

    def _mounted(self):
        if self.proc.poll() is not None:
            raise RuntimeError("mount.trolley exited with %d:\n%s" %
                               (self.proc.returncode, self.text()))
        return is_mounted(self.mountpoint)

    def path(self, *parts):
        return os.path.join(self.mountpoint, *parts)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def unmount(self):
        """Unmount cleanly and return the daemon's exit status."""
        self.stopped = True
        try:
            subprocess.run(["fusermount3", "-u", self.mountpoint], check=True,
                           capture_output=True)
            rc = self.proc.wait(20)
        finally:
            self.force_stop()
        return rc

    def force_stop(self):
        """Stop the daemon whatever its state (lazy unmount, then SIGKILL by PID)."""
        self.stopped = True
        if self in _live_mounts:
            _live_mounts.remove(self)
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-uz", self.mountpoint], stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif is_mounted(self.mountpoint):
            subprocess.run(["fusermount3", "-uz", self.mountpoint], stderr=subprocess.DEVNULL)
        self.log.close()

    def check_log(self):
        """No sanitizer report, and no error line the test did not expect: expect_errors is
        False (none), True (any), or a regex / list of regexes every error line must match."""
        text = self.text()
        assert not SANITIZER.search(text), "sanitizer report in the daemon log:\n" + text
        if self.expect_errors is True:
            return
        allowed = self.expect_errors or []
        if isinstance(allowed, str):
            allowed = [allowed]
        errors = [l for l in text.splitlines() if l.startswith("trolley: error:")
                  and not any(re.search(rx, l) for rx in allowed)]
        assert not errors, "unexpected error lines:\n" + "\n".join(errors)


@pytest.fixture(scope="session", autouse=True)
def trolley_binary():
    """Every test needs the daemon: without it each one fails with this message (never skips)."""
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        pytest.fail("no mount.trolley at %s: build it (meson setup build && ninja -C build, or "
                    "bash scripts/test.sh) or point TROLLEY_BIN at it" % BIN, pytrace=False)
    return BIN


@pytest.fixture(scope="session")
def session_dir():
    d = tempfile.mkdtemp(prefix="trolley-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def data(session_dir):
    """The generated files (the truth) and their manifest."""
    out = os.path.join(session_dir, "dataset")
    manifest = dataset.generate(out)
    return {"dir": out, "manifest": manifest,
            "by_sop": {e["SOPInstanceUID"]: e for e in manifest}}


@pytest.fixture(scope="session")
def orthanc(session_dir, data):
    work = os.path.join(session_dir, "orthanc")
    os.makedirs(work)
    server = Orthanc(work)
    try:
        ids = server.upload([e["path"] for e in data["manifest"]])
        # Orthanc must keep the bytes as uploaded, or "byte-identical" would mean nothing:
        # every 25th file, and every compressed, odd-named and real-world one.
        for i, (orthanc_id, entry) in enumerate(zip(ids, data["manifest"])):
            if i % 25 == 0 or entry.get("compression") or entry.get("real_world") or \
                    not entry["InstanceNumber"] or int(entry["SeriesNumber"]) >= 7:
                with open(entry["path"], "rb") as f:
                    assert server.stored_file(orthanc_id) == f.read(), entry["path"]
        assert len(set(ids)) == len(data["manifest"]), "Orthanc merged some instances"
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def orthanc_auth(session_dir, data):
    """A second Orthanc that wants HTTP basic auth (alice / s3cret), with a few studies."""
    work = os.path.join(session_dir, "orthanc-auth")
    os.makedirs(work)
    server = Orthanc(work, {"AuthenticationEnabled": True,
                            "RegisteredUsers": {"alice": "s3cret"}},
                     auth=("alice", "s3cret"))
    try:
        server.upload([e["path"] for e in data["manifest"] if e["PatientID"] == "PID003"])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def session_proxy(orthanc):
    p = Proxy("127.0.0.1:%d" % orthanc.http_port)
    yield p
    p.stop()


@pytest.fixture
def proxy(session_proxy):
    """The proxy with no faults and no recorded requests."""
    session_proxy.reset()
    yield session_proxy
    session_proxy.reset()


@pytest.fixture
def source(proxy):
    """The DICOMweb URL trolley mounts: through the proxy, so requests are counted."""
    return proxy.url + "/dicom-web"


@pytest.fixture
def mount(tmp_path):
    """mount(source, options="", cache_dir=None, expect_errors=False) -> Mount. Every mount
    is unmounted at the end, the daemon must exit 0, and its log must be clean: no sanitizer
    report, and no "trolley: error:" line unless expect_errors allows it (True for any, or a
    regex or list of regexes for the lines the test provokes)."""
    made = []

    def make(source, options="", cache_dir=None, expect_errors=False, name=None, env=None):
        mnt = tmp_path / (name or "mnt%d" % len(made))
        mnt.mkdir(exist_ok=True)
        cache = cache_dir or str(tmp_path / ("cache%d" % len(made)))
        m = Mount(source, str(mnt), cache, options, expect_errors, env=env)
        made.append(m)
        return m

    yield make
    failures = []
    for m in made:
        try:
            if not m.stopped and m.proc.poll() is not None:
                failures.append("the daemon died during the test (exit status %d):\n%s" %
                                (m.proc.returncode, m.text()))
            elif not m.stopped:
                rc = m.unmount()
                if rc != 0:
                    failures.append("daemon exited %d after fusermount3 -u:\n%s" %
                                    (rc, m.text()))
        except Exception as e:  # fusermount3 refused, or the daemon did not exit
            failures.append("unmounting %s failed: %r\n%s" % (m.mountpoint, e, m.text()))
        finally:
            m.force_stop()
        try:
            m.check_log()
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures))


__all__ = ["free_port", "is_mounted", "Mount", "BIN", "REPO"]


@pytest.fixture(scope="session")
def tls(session_dir, orthanc):
    """HTTPS in front of the test Orthanc: {url, mtls_url, pki}."""
    from servers import Nginx, make_pki
    d = os.path.join(session_dir, "tls")
    os.makedirs(d)
    pki = make_pki(d)
    n = Nginx(d, orthanc.http_port, pki)
    try:
        yield {"url": "https://127.0.0.1:%d/dicom-web" % n.port,
               "mtls_url": "https://127.0.0.1:%d/dicom-web" % n.mtls_port, "pki": pki}
    finally:
        n.stop()
