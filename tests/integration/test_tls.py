"""HTTPS through nginx: a private CA, a wrong CA, insecure, and client certificates."""
import errno
import os

import pytest


def test_private_ca_verifies_the_archive(mount, tls):
    m = mount(tls["url"], options="cacert=" + tls["pki"]["ca"])
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))


def test_wrong_ca_fails_with_a_clear_error(mount, tls):
    m = mount(tls["url"], options="cacert=" + tls["pki"]["other-ca"], expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno == errno.EIO
    assert "SSL certificate problem" in m.text()
    assert tls["url"] in m.text()


def test_insecure_skips_verification_with_a_warning(mount, tls):
    m = mount(tls["url"], options="insecure")
    assert "Doe^John [PID001]" in os.listdir(m.path("patients"))
    assert "TLS certificates of the archive are not verified" in m.text()


def test_client_certificate_is_presented(mount, tls, data):
    pki = tls["pki"]
    m = mount(tls["mtls_url"], options="cacert=%s,cert=%s,key=%s" %
              (pki["ca"], pki["client"], pki["client-key"]))
    study = m.path("patients", "O_Brien^Pat [PID003]", "2021-01-15 MR KNEE [ACC4]", "1 MR PD")
    with open(os.path.join(study, "1.dcm"), "rb") as f:
        assert f.read(132)[128:] == b"DICM"


def test_missing_client_certificate_is_refused(mount, tls):
    m = mount(tls["mtls_url"], options="cacert=" + tls["pki"]["ca"], expect_errors=True)
    with pytest.raises(OSError) as exc:
        os.listdir(m.path("patients"))
    assert exc.value.errno in (errno.EIO, errno.EACCES)
    assert "HTTP 400" in m.text()  # nginx: "No required SSL certificate was sent"
