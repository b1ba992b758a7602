"""URL options are read by one parser (core/url.c), not matched against "://": a user name or
password in any of them, however spelled (one slash, none, backslashes, %3A, %40, uppercase
scheme, no scheme), is refused at mount with a message that names the option and never the
secret, which then appears neither in the output nor in any process's command line. URLs
without one (uppercase scheme, '@' in the query) still mount and work."""
import os
import subprocess
import time

import pytest

from conftest import BIN, SANITIZER, is_mounted

SECRET = "pw-url-5f1c"

# {p}: a port; nothing listens there (mounting contacts no server).
SPELLINGS = [
    "http:/alice:{s}@127.0.0.1:{p}/dicom-web",  # one slash: passed main's "://" test
    "http:alice:{s}@127.0.0.1:{p}/dicom-web",  # none: curl guesses the scheme
    "http:///alice:{s}@127.0.0.1:{p}/dicom-web",  # three
    "http:\\\\alice:{s}@127.0.0.1:{p}/dicom-web",  # backslashes
    "http:/\\alice:{s}@127.0.0.1:{p}/dicom-web",
    "HTTP://alice:{s}@127.0.0.1:{p}/dicom-web",  # uppercase scheme
    "http://alice%3A{s}@127.0.0.1:{p}/dicom-web",  # the ':' escaped
    "http://alice:{s}%40x@127.0.0.1:{p}/dicom-web",  # an '@' escaped in the password
    "http://{s}@127.0.0.1:{p}/dicom-web",  # a user name alone (a token, often)
    "alice:{s}@127.0.0.1:{p}/dicom-web",  # no scheme at all
]

# Every spelling for SOURCE and qido=; for the other URL options the two that passed the
# check of main before (one slash, an escaped ':'), to keep the run short.
CASES = ([(o, s) for o in ("SOURCE", "qido") for s in SPELLINGS] +
         [(o, s) for o in ("wado_rs", "wado_uri", "mint", "rad69", "login_url")
          for s in SPELLINGS[0:1] + SPELLINGS[6:7]])


def _secret_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    os.chmod(path, 0o600)
    return str(path)


def _cmdlines_with(text):
    """PIDs whose command line holds @text (this test's own process excluded)."""
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if text.encode() in f.read():
                    hits.append(int(pid))
        except OSError:
            pass
    return hits


def _try_mount(tmp_path, source, options):
    """mount.trolley -f with @options: @return (exit status or None if it mounted, its output,
    PIDs holding SECRET in their command line while it ran). A mount made anyway (the
    unchanged code) is undone before the test goes on."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    argv = [BIN, "-f", "-o", "cache_dir=%s,loglevel=debug,%s" % (tmp_path / "c", options),
            source, str(mnt)]
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while proc.poll() is None and not is_mounted(str(mnt)) and time.monotonic() < deadline:
        time.sleep(0.05)
    holders = _cmdlines_with(SECRET)
    rc = proc.poll()
    if rc is None:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return rc, log.read_text(errors="replace"), holders


@pytest.mark.parametrize("option,spelling", CASES)
def test_userinfo_in_any_url_option_is_refused_however_spelled(tmp_path, option, spelling):
    url = spelling.format(s=SECRET, p=1)
    source = "http://127.0.0.1:1/dicom-web"
    opts = ""
    if option == "SOURCE":
        source = url
    else:
        opts = "%s=%s" % (option, url)
    if option == "login_url":
        opts += ",user=alice,password_file=%s,allow_http_auth" % _secret_file(tmp_path)
    rc, out, holders = _try_mount(tmp_path, source, opts.lstrip(","))
    name = "SOURCE" if option == "SOURCE" else option + "="
    assert rc == 1, "mounted (or hung) with %s=%r:\n%s" % (option, url, out)
    assert "%s holds a password" % name in out, out
    assert SECRET not in out
    assert not SANITIZER.search(out), out
    assert not holders, "processes %r hold the password in their command line" % holders


def test_urls_without_userinfo_still_mount(mount, proxy, source):
    """An uppercase scheme and an '@' in a query are no userinfo: the listing goes through."""
    qido = "HTTP://127.0.0.1:%d/dicom-web" % proxy.port
    m = mount(source, options="qido=%s,wado_uri=http://127.0.0.1:%d/wado?x=a:b@c"
              % (qido, proxy.port))
    assert os.listdir(m.path("patients"))
    assert proxy.count(r"^/dicom-web/studies") >= 1
