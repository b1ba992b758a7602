"""Credentials and hostile text: a password in any URL option is refused, credentials go only
to the origin (scheme://host:port) of the URL they were given for and over plain http only with
allow_http_auth, tokens in query strings never reach the log, a FIFO is no secret file, the
daemon is not dumpable, and text from a server cannot forge a log line."""
import base64
import errno
import hashlib
import os
import subprocess
import threading
import urllib.parse

import pytest

import conftest
import naming
from conftest import BIN, is_mounted
from rad69_server import Rad69Server
from mint_server import MintServer
from servers import LoopbackHTTP


def _secret(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


def _run(tmp_path, source, options, timeout=20):
    """mount.trolley in the background mode a user runs; @return the finished process. A
    mount it made anyway (the unchanged code) is undone before the test fails."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    argv = [BIN, "-o", "cache_dir=%s,%s" % (tmp_path / "c", options), source, str(mnt)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    finally:
        if is_mounted(str(mnt)):
            subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
            pytest.fail("mount.trolley mounted: %s" % " ".join(argv))
    return out


def _a_file(m, data, n="5"):
    e = next(e for e in data["manifest"] if e["InstanceNumber"] == n and e["Modality"] == "MR")
    return e, m.path("patients", naming.patients_tree(data["manifest"])[e["SOPInstanceUID"]])


@pytest.mark.parametrize("option", ["qido", "wado_rs", "wado_uri", "mint", "rad69", "login_url"])
def test_password_in_any_url_option_is_refused_without_echoing_it(tmp_path, orthanc, option):
    secret = "pw-in-url-%s-7361" % option
    url = "http://alice:%s@127.0.0.1:%d/dicom-web" % (secret, orthanc.http_port)
    out = _run(tmp_path, "http://127.0.0.1:%d/dicom-web" % orthanc.http_port,
               "%s=%s" % (option, url))
    assert out.returncode == 1
    assert "%s= holds a password" % option in out.stderr
    assert secret not in out.stderr and secret not in out.stdout


class WadoRecorder(LoopbackHTTP):
    """A WADO-URI server on a port of its own: another origin than SOURCE. It serves the
    generated files and records the Authorization header of every request."""

    def __init__(self, by_sop):
        self.by_sop = by_sop
        self.auth = []
        self.lock = threading.Lock()
        self._serve("/wado")

    def handle_get(self, h):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
        with self.lock:
            self.auth.append(h.headers.get("Authorization"))
        e = self.by_sop.get(q.get("objectUID", [""])[0])
        if not e:
            return self.reply(h, 404, "text/plain", b"no such object")
        with open(e["path"], "rb") as f:
            self.reply(h, 200, "application/dicom", f.read())


@pytest.fixture
def recorder(data):
    r = WadoRecorder(data["by_sop"])
    yield r
    r.stop()


def _auth_options(tmp_path, kind):
    if kind == "basic":
        return ("user=alice,password_file=" + _secret(tmp_path, "pw", "s3cret"),
                "Basic " + base64.b64encode(b"alice:s3cret").decode())
    return "token_file=" + _secret(tmp_path, "tok", "tok-5eb1"), "Bearer tok-5eb1"


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_credentials_are_not_sent_to_another_origin(mount, source, proxy, recorder, data,
                                                     tmp_path, kind):
    """SOURCE is the proxy (127.0.0.1, one port) and wants the credentials; wado_uri= is another
    port of 127.0.0.1: another origin, as for a browser, so it gets none."""
    opts, header = _auth_options(tmp_path, kind)
    proxy.require_auth(header)
    m = mount(source, options="allow_http_auth,prefetch=none,downloader=wado-uri,wado_uri=%s,%s"
              % (recorder.url, opts))
    e, path = _a_file(m, data)
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == e["md5"]
    assert proxy.log() and all(r["status"] is None for r in proxy.log())  # SOURCE had them
    assert recorder.auth == [None]


def test_credentials_go_to_every_url_of_the_same_origin(mount, source, proxy, data, tmp_path):
    opts, header = _auth_options(tmp_path, "bearer")
    proxy.require_auth(header)
    m = mount(source, options="allow_http_auth,prefetch=none,downloader=wado-uri,"
              "wado_uri=%s/wado,%s" % (proxy.url, opts))
    e, path = _a_file(m, data)
    with open(path, "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() == e["md5"]
    assert proxy.count(r"^/wado\?") == 1
    assert all(r["status"] is None for r in proxy.log())


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_credentials_withheld_from_another_origin_say_so_on_401(mount, source, proxy, tmp_path,
                                                                kind):
    """localhost is another origin than 127.0.0.1, though it resolves there: names are
    compared as written, never resolved."""
    opts, header = _auth_options(tmp_path, kind)
    m = mount(source, options="allow_http_auth,%s,qido=http://localhost:%d/dicom-web"
              % (opts, proxy.port), expect_errors=r"HTTP 401.*credentials are sent only to "
              r"http://127\.0\.0\.1:%d" % proxy.port)
    proxy.require_auth(header)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno == errno.EACCES
    assert "s3cret" not in m.text() and "tok-5eb1" not in m.text()
    assert "token_file holds no new token" not in m.text()  # not re-read for another host


@pytest.mark.parametrize("kind", ["basic", "bearer", "netrc", "login"])
def test_plain_http_credentials_are_refused_without_allow_http_auth(tmp_path, orthanc, kind):
    src = "http://127.0.0.1:%d/dicom-web" % orthanc.http_port
    opts = {"basic": "user=alice,password_file=" + _secret(tmp_path, "pw", "s3cret"),
            "bearer": "token_file=" + _secret(tmp_path, "tok", "tok-5eb1"),
            "netrc": "netrc",
            "login": "user=alice,password_file=%s,login_url=http://127.0.0.1:%d/login"
                     % (_secret(tmp_path, "pw", "s3cret"), orthanc.http_port)}[kind]
    out = _run(tmp_path, src, opts)
    assert out.returncode == 1
    assert "unencrypted" in out.stderr and "allow_http_auth" in out.stderr
    assert "s3cret" not in out.stderr and "tok-5eb1" not in out.stderr


def test_plain_http_credentials_with_allow_http_auth_mount_with_a_warning(mount, orthanc_auth,
                                                                          tmp_path):
    pw = _secret(tmp_path, "pw", "s3cret")
    m = mount(orthanc_auth.dicomweb, options="allow_http_auth,user=alice,password_file=" + pw)
    assert os.listdir(m.path("patients")) == ["O_Brien^Pat [PID003]"]
    assert "trolley: warn: allow_http_auth: credentials go to the archive over plain http" \
        in m.text()


def test_https_credentials_need_no_option_and_give_no_warning(mount, tls, tmp_path):
    pw = _secret(tmp_path, "pw", "s3cret")
    m = mount(tls["url"], options="cacert=%s,user=alice,password_file=%s"
              % (tls["pki"]["ca"], pw))
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    assert "allow_http_auth" not in m.text()


def test_query_tokens_are_redacted_in_the_log(mount, source, proxy, data):
    wado = (proxy.url + "/wado?access_token=qtok-31415&X-Amz-Signature=qsig-2718&"
            "X-Amz-Credential=qcred-1414&sig=qsas-1732&apiKey=qkey-2236&who=visible-1")
    m = mount(source, options="downloader=wado-uri,prefetch=none,wado_uri=" + wado,
              expect_errors=r"HTTP 500")
    proxy.fault(r"^/wado\?", status=500, body=b"broken")
    e, path = _a_file(m, data)
    with pytest.raises(OSError) as exc:
        open(path, "rb").read()
    assert exc.value.errno == errno.EIO
    assert proxy.count(r"access_token=qtok-31415") == 1  # the archive gets the token
    text = m.text()
    assert "access_token=***&X-Amz-Signature=***&X-Amz-Credential=***&sig=***&apiKey=***" \
        "&who=visible-1&requestType=WADO" in text
    for secret in ("qtok-31415", "qsig-2718", "qcred-1414", "qsas-1732", "qkey-2236"):
        assert secret not in text


def test_fifo_as_password_file_is_refused_at_once(tmp_path, orthanc_auth):
    fifo = tmp_path / "pw"
    os.mkfifo(fifo, 0o600)
    # Without O_NONBLOCK the open waits for a writer that never comes: the timeout fails it.
    out = _run(tmp_path, orthanc_auth.dicomweb,
               "allow_http_auth,user=alice,password_file=%s" % fifo, timeout=10)
    assert out.returncode == 1
    assert "not a regular file" in out.stderr


def test_daemon_is_not_dumpable(mount, source, tmp_path, monkeypatch):
    """Another process of the same user, with the same privileges short of CAP_SYS_PTRACE,
    cannot open the daemon's memory: that is what PR_SET_DUMPABLE 0 buys (and no core file).
    As root, both sides run without CAP_SYS_PTRACE (which overrides the check) but otherwise
    with equal capabilities (the kernel also refuses a reader with fewer)."""
    prefix = ["setpriv", "--bounding-set=-sys_ptrace"] if os.geteuid() == 0 else []
    wrapper = tmp_path / "trolley-wrapper"
    wrapper.write_text("#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(prefix), BIN))
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "BIN", str(wrapper))
    m = mount(source)
    probe = "open('/proc/%d/mem', 'rb').close()" % m.proc.pid
    out = subprocess.run(prefix + ["/usr/bin/python3", "-c", probe], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode != 0 and "PermissionError" in out.stderr, out.stderr
    # The same reader may open its own kind: the probe itself is sound.
    own = subprocess.Popen(prefix + ["sleep", "30"])
    try:
        ok = subprocess.run(prefix + ["/usr/bin/python3", "-c",
                                      "open('/proc/%d/mem', 'rb').close()" % own.pid],
                            capture_output=True, text=True, timeout=20)
        assert ok.returncode == 0, ok.stderr
    finally:
        own.kill()
        own.wait()


@pytest.fixture(scope="module")
def vitrea(data):
    mint, rad69 = MintServer(data["manifest"]), Rad69Server(data["manifest"])
    yield mint, rad69
    mint.stop()
    rad69.stop()


def test_rad69_fault_text_with_newlines_stays_on_one_log_line(mount, vitrea):
    mint, rad69 = vitrea
    rad69.error_code = "UnknownError"
    rad69.error_context = ("bad&#10;trolley: error: forged by the archive&#13;&#9;&#127;[31m"
                           "\u00e9\u0085end")
    try:
        m = mount("mint+" + mint.url, options="prefetch=none,rad69=" + rad69.url,
                  expect_errors=r"RAD-69 RegistryError UnknownError")
        study = m.path("patients", "Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
        series = os.path.join(study, sorted(os.listdir(study))[0])
        f = os.path.join(series, sorted(os.listdir(series))[0])
        with pytest.raises(OSError) as exc:
            open(f, "rb").read()
        assert exc.value.errno == errno.EIO
    finally:
        rad69.error_code = None
        rad69.error_context = "Internal failure."
    lines = m.text().splitlines()
    assert not any(l.startswith("trolley: error: forged") for l in lines)
    assert any(l.startswith("trolley: error: POST ") and
               l.endswith(": bad\\x0atrolley: error: forged by the archive\\x0d\\x09\\x7f[31m"
                          "\u00e9\\xc2\\x85end") for l in lines), m.text()
