"""Fixtures: the generated dataset, one Orthanc + DICOMweb for the session loaded with it, a
counting proxy in front of it, and mounts of the real mount.trolley binary. Nothing is left
behind: every process is ours and is stopped by PID, every mount is unmounted, even on failure."""
import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import dataset
from servers import Orthanc, Proxy, free_port, wait_for

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


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4].encode().decode("unicode_escape") == path:
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
        subprocess.run(["fusermount3", "-u", self.mountpoint], check=True)
        try:
            rc = self.proc.wait(20)
        finally:
            self.force_stop()
        return rc

    def force_stop(self):
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
        text = self.text()
        assert not SANITIZER.search(text), "sanitizer report in the daemon log:\n" + text
        if not self.expect_errors:
            errors = [l for l in text.splitlines() if l.startswith("trolley: error:")]
            assert not errors, "unexpected error lines:\n" + "\n".join(errors)


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
        # Orthanc must keep the bytes as uploaded, or "byte-identical" would mean nothing.
        for orthanc_id, entry in list(zip(ids, data["manifest"]))[::50]:
            with open(entry["path"], "rb") as f:
                assert server.stored_file(orthanc_id) == f.read()
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
    is unmounted at the end, the daemon must exit 0, and its log must be clean."""
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
        if m.proc.poll() is None and is_mounted(m.mountpoint):
            rc = m.unmount()
            if rc != 0:
                failures.append("daemon exited %d:\n%s" % (rc, m.text()))
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
