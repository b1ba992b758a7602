"""A DIMSE archive that pushes back (issue 17): dcmtk's dcmqrscp allowed one association at a
time rejects the others as "rejected-transient, local limit exceeded", and answers a C-MOVE
whose sub-operations all failed with 0xA702 (refused: out of resources). trolley waits such
answers out within retry= and every file still comes whole."""
import os
import re
import signal
import struct
import subprocess
import threading
import time

import pytest

import naming
from servers import free_port
from test_dimse import FindRefusingProxy, StallingDicomProxy, TcpRelay, split_part10
from test_dimse_bulk import PduRelay


@pytest.fixture(scope="module")
def one_at_a_time(session_dir, data):
    """dcmqrscp with MaxAssociations = 1, loaded with the instances the tests read."""
    from servers import Dcmqrscp
    d = os.path.join(session_dir, "dcmqrscp-one")
    os.makedirs(d)
    s = Dcmqrscp(d, [e["path"] for e in _instances(data, 6)], max_associations=1)
    yield s
    s.stop()


def _instances(data, n):
    es = [e for e in data["manifest"] if e["PatientID"] == "PID001" and not e.get("compression")]
    return es[:n]


def _path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


class SlowRelease(PduRelay):
    """Holds each A-RELEASE-RQ from trolley for half a second: every association keeps the
    archive's only one that much longer, as a real transfer would."""

    def forward(self, pdu, from_server, dst, conn):
        if not from_server and pdu[0] == 5:
            threading.Event().wait(0.5)
        dst.sendall(pdu)


def test_c_get_with_more_connections_than_the_archive_allows_completes(mount, one_at_a_time,
                                                                       data):
    # Six files opened at once with connections=8 against an archive that takes one
    # association at a time (each held half a second more): the others are rejected for now,
    # over and over, and wait their turn. Before, a rejection was tried again for 1.5 s and
    # the file failed with EACCES.
    es = _instances(data, 6)
    relay = SlowRelease(one_at_a_time.port)
    try:
        m = mount("dicom://STORE@127.0.0.1:%d" % relay.port,
                  options="downloader=c-get,connections=8,prefetch=none,timeout=30")
        os.listdir(os.path.dirname(_path(m, es[0])))
        results = {}

        def read(i):
            try:
                with open(_path(m, es[i]), "rb") as f:
                    results[i] = f.read()
            except OSError as err:
                results[i] = err

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(es))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(200)
        for i, e in enumerate(es):
            assert not isinstance(results[i], OSError), (i, results[i], m.text()[-2000:])
            with open(e["path"], "rb") as f:
                assert split_part10(results[i])[1:] == split_part10(f.read())[1:] or \
                    split_part10(results[i])[1] == e["SOPInstanceUID"]
        assert re.search(r"association rejected for now \(Result: Rejected Transient, .*"
                         r"Reason: Local Limit Exceeded\); trying again", m.text()), m.text()
        status = open(m.path(".trolley", "status")).read()
        assert int(re.search(r"^http_retries: (\d+)$", status, re.M).group(1)) >= 1, status
        assert re.search(r"^http_retries_given_up: 0$", status, re.M), status
    finally:
        relay.stop()


class RefusingRelay(TcpRelay):
    """Closes the first @refuse connections at once (a move destination that is not there
    yet), then relays."""

    def __init__(self, target, refuse):
        super().__init__(target)
        self.refuse = refuse

    def _serve(self, client):
        if self.refuse > 0:
            self.refuse -= 1
            client.close()
            return
        super()._serve(client)


def test_c_move_answered_out_of_resources_is_tried_again(mount, one_at_a_time, data):
    # dcmqrscp cannot reach the move destination for the first two C-MOVEs: every
    # sub-operation fails and it answers 0xA702 (refused: out of resources, unable to perform
    # sub-operations). trolley waits and asks again; the third C-MOVE brings the file.
    e = _instances(data, 1)[0]
    port = free_port()
    relay = RefusingRelay(port, 2)
    relay.listener.close()
    # The relay must sit where dcmqrscp sends (its HostTable entry for TROLLEY).
    import socket
    relay.listener = socket.socket()
    relay.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    relay.listener.bind(("127.0.0.1", one_at_a_time.move_port))
    relay.listener.listen(8)
    threading.Thread(target=relay._accept, daemon=True).start()
    try:
        m = mount("dicom://STORE@127.0.0.1:%d" % one_at_a_time.port,
                  options="downloader=c-move,move_port=%d,prefetch=none" % port)
        with open(_path(m, e), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[1:] == split_part10(f.read())[1:] or \
                split_part10(got)[1] == e["SOPInstanceUID"]
        assert relay.refuse == 0
        assert len(re.findall(r"status 0xa702 \(out of resources; 0 completed\); trying again",
                              m.text())) == 2, m.text()
    finally:
        relay.stop()


class BusyFindProxy(FindRefusingProxy):
    """Answers the first @n C-FIND requests itself with 0xA700 (refused: out of resources),
    then relays."""

    def __init__(self, upstream_port, n):
        super().__init__(upstream_port)
        self.n = n
        self.KEY = b""  # every C-FIND matches, until n are refused

    def _refusal(self, pcid, command):
        pdu = super()._refusal(pcid, command)
        if self.refused >= self.n:
            self.KEY = b"\xff never \xff"
        return pdu.replace(struct.pack("<HHIH", 0, 0x0900, 2, 0xA900),
                           struct.pack("<HHIH", 0, 0x0900, 2, 0xA700))


def test_c_find_answered_out_of_resources_is_tried_again(mount, orthanc, data):
    # The first three C-FINDs are answered 0xA700 before any match: the listing waits and
    # asks again, and is whole. Before, the folder failed with EIO.
    relay = BusyFindProxy(orthanc.dicom_port, 3)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port)
        assert set(os.listdir(m.path("patients"))) == naming.patient_folders(data["manifest"])
        assert relay.refused == 3
        assert m.text().count("status 0xa700 (out of resources); trying again") == 3, m.text()
    finally:
        relay.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_reader_waiting_out_a_busy_dimse_archive_ends_on_a_signal(mount, orthanc, data, sig):
    # Every association is rejected for now: the reader's open waits it out (within retry=,
    # still waiting after 3 s, where it used to give up after 1.5 s), and ends at once on
    # Ctrl-C or SIGTERM; once the archive takes associations again, the file reads whole.
    e = _instances(data, 1)[0]
    relay = StallingDicomProxy(orthanc.dicom_port)
    relay.stalling = False
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port,
                  options="downloader=c-get,prefetch=none,retry=120")
        path = _path(m, e)
        os.stat(path)
        relay.reject_next = 10 ** 6
        reader = subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while "association rejected for now" not in m.text():
                assert time.monotonic() < deadline, m.text()
                time.sleep(0.1)
            time.sleep(3)
            assert reader.poll() is None, "the reader gave up: " + m.text()[-1500:]
            reader.send_signal(sig)
            reader.wait(10)  # raises if it did not end
        finally:
            if reader.poll() is None:
                reader.kill()
            reader.wait()
        relay.reject_next = 0
        with open(path, "rb") as f, open(e["path"], "rb") as truth:
            assert split_part10(f.read())[2] == split_part10(truth.read())[2]
    finally:
        relay.stop()
