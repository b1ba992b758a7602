"""The C-MOVE storage SCP against others at the archive's address (issue 18): a forger with the
archive's AE title and every UID of a series C-MOVE in flight (dcmtk's storescu), idle
sockets that would hold every serving slot, and a flood of refused connections in the log.
Orthanc's DICOM port is the archive; its sub-association is held in a relay while the
stranger acts, so that the stranger always comes first."""
import os
import re
import socket
import subprocess
import threading
import time

import pydicom

import pytest

from servers import free_port
from test_dimse import TcpRelay, _forged, _source, split_part10
from test_dimse_bulk import PduRelay, _pdata, _pdvs


def _series(data):
    """The uncompressed instances of PID001's first series: the truth for a series C-MOVE."""
    es = [e for e in data["manifest"] if e["PatientID"] == "PID001" and not e.get("compression")]
    return [e for e in es if e["SeriesInstanceUID"] == es[0]["SeriesInstanceUID"]]


def _path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _read(path, results, key):
    try:
        with open(path, "rb") as f:
            results[key] = f.read()
    except OSError as err:
        results[key] = err


def test_forged_copies_from_the_archives_address_are_never_served(mount, orthanc, data,
                                                                  tmp_path):
    # A series C-MOVE is in flight (the archive's association held back); storescu from
    # 127.0.0.1, calling as ORTHANC, sends a forged copy of every instance of that series
    # (PatientName EVIL^FORGED, inverted pixels, every UID right), twice. None carries the
    # C-MOVE's Move Originator Message ID: each is refused, and every file of the series is
    # the archive's, byte for byte. Before, the forgeries came first and were kept.
    es = _series(data)
    forged = [_forged(e, tmp_path, "f%03d.dcm" % i, PatientName="EVIL^FORGED")
              for i, e in enumerate(es)]
    port = free_port()
    held = TcpRelay(port, hold=True)
    orthanc.set_move_port(held.port)
    results = {}
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=series"
                  % port)
        reader = threading.Thread(target=_read, args=(_path(m, es[0]), results, "first"))
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        for _ in range(2):
            out = subprocess.run(["storescu", "-aet", "ORTHANC", "-aec", "TROLLEY",
                                  "127.0.0.1", str(port), *forged],
                                 capture_output=True, text=True, timeout=120)
        held.release.set()
        reader.join(120)
        got = {}
        for e in es:
            _read(_path(m, e), got, e["SOPInstanceUID"])
        forged_served = [u for u, b in got.items() if isinstance(b, bytes) and
                         b"EVIL^FORGED" in b]
        assert not forged_served, "%d of %d forged" % (len(forged_served), len(es))
        assert not isinstance(results["first"], OSError), m.text()
        for e in es:
            body = got[e["SOPInstanceUID"]]
            assert not isinstance(body, OSError), (body, m.text()[-3000:])
            with open(e["path"], "rb") as f:
                assert split_part10(body)[2] == split_part10(f.read())[2], e["path"]
        assert pydicom.dcmread(_path(m, es[1])).PatientName != "EVIL^FORGED"
        assert "it has no Move Originator Message ID; refused" in m.text(), out.stderr
    finally:
        held.stop()


def test_idle_sockets_at_the_archives_address_do_not_fail_c_moves(mount, orthanc, data):
    # 40 sockets from the archive's address that never say anything, held (and opened again
    # when trolley closes one) while C-MOVEs run one after the other: every open succeeds
    # and is whole. Before, 18 of them (connections=8) took every serving slot, and each
    # C-MOVE after failed with EIO.
    es = _series(data)[:6]
    port = free_port()
    held = TcpRelay(port, hold=True)
    orthanc.set_move_port(held.port)
    socks, results, stop = [], {}, threading.Event()

    def hold_forty():
        while not stop.is_set():
            for i, s in enumerate(socks):
                try:
                    s.setblocking(False)
                    if s.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    s.close()
                    try:
                        socks[i] = socket.create_connection(("127.0.0.1", port))
                    except OSError:
                        pass
            stop.wait(0.2)

    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none,"
                  "connections=8,timeout=30" % port)
        reader = threading.Thread(target=_read, args=(_path(m, es[0]), results, 0))
        reader.start()
        assert held.arrived.wait(30), "the archive never sent"
        socks.extend(socket.create_connection(("127.0.0.1", port)) for _ in range(40))
        keeper = threading.Thread(target=hold_forty)
        keeper.start()
        time.sleep(0.5)
        held.hold = False
        held.release.set()
        reader.join(60)
        for i, e in enumerate(es[1:], 1):
            _read(_path(m, e), results, i)
        for i, e in enumerate(es):
            assert not isinstance(results[i], OSError), (i, results[i], m.text()[-3000:])
            with open(e["path"], "rb") as f:
                assert split_part10(results[i])[2] == split_part10(f.read())[2]
    finally:
        stop.set()
        for s in socks:
            s.close()
        held.stop()


def test_a_flood_of_refused_connections_gives_a_bounded_number_of_warn_lines(mount, orthanc):
    # 300 connections while no C-MOVE is in flight, each closed at once: at most 10 lines a
    # minute for that refusal, and the rest counted, not written. Before, one warn line each.
    port = free_port()
    m = mount(_source(orthanc), options="downloader=c-move,move_port=%d" % port)
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(10)
        try:
            s.recv(1)  # closed by trolley
        except OSError:
            pass
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # The listener is done with all 300 once it logs nothing more (poll, no sleep-and-hope
        # on a bound: the count below is what is asserted).
        before = m.text()
        time.sleep(0.5)
        if m.text() == before:
            break
    refused = re.findall(r"^trolley: warn: .*no C-MOVE of ours is in flight", m.text(), re.M)
    assert 1 <= len(refused) <= 10, len(refused)
    assert len(re.findall(r"^trolley: warn: ", m.text(), re.M)) <= 12, m.text()


class DuplicatingRelay(PduRelay):
    """Between the archive and move_port: once, right after the archive's C-STORE of @uid, it
    sends trolley a second copy on the same association (the same command, the same Move
    Originator Message ID), its last data set byte changed if @change, and keeps trolley's
    answer to that copy from the archive."""

    def __init__(self, upstream_port, uid, change):
        super().__init__(upstream_port)
        self.uid = uid.encode()
        self.change = change
        self.copying = None  # the PDUs of the C-STORE being copied
        self.sent = False
        self.answers = 0

    def forward(self, pdu, from_server, dst, conn):
        if from_server:
            # trolley's C-STORE-RSPs naming the instance: the second one is the copy's.
            if pdu[0] == 4 and self.uid in pdu:
                self.answers += 1
                if self.sent and self.answers == 2:
                    return
            dst.sendall(pdu)
            return
        dst.sendall(pdu)
        if self.sent or pdu[0] != 4:
            return
        pdvs = _pdvs(pdu[6:])
        if self.copying is None:
            if any(h & 1 and self.uid in v for _, h, v in pdvs):
                self.copying = [pdvs]
            return
        self.copying.append(pdvs)
        if not any(not h & 1 and h & 2 for _, h, v in pdvs):
            return
        # The data set's last fragment came: send the copy after it.
        copy = [list(p) for p in self.copying]
        if self.change:
            c, h, v = copy[-1][-1]
            copy[-1][-1] = (c, h, v[:-1] + bytes([v[-1] ^ 0xFF]))
        for p in copy:
            dst.sendall(_pdata(p))
        self.sent = True


@pytest.mark.parametrize("change", [True, False], ids=["other-bytes", "same-bytes"])
def test_a_second_copy_in_one_c_move(mount, orthanc, data, change):
    # The archive's association brings instance X twice in one C-MOVE. With other bytes the
    # second time, nobody can tell which copy is the archive's: the open fails with EIO, a
    # warning says why, and neither copy is kept (the next open moves X again and gets it
    # whole). With the same bytes, the second copy is dropped and X is served.
    e = data["manifest"][6]
    port = free_port()
    relay = DuplicatingRelay(port, e["SOPInstanceUID"], change)
    relay.stalling = False
    orthanc.set_move_port(relay.port)
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none"
                  % port, expect_errors=r"C-MOVE .*status|instance.*failed" if change else False)
        results = {}
        _read(_path(m, e), results, "first")
        assert relay.sent, m.text()
        with open(e["path"], "rb") as f:
            truth = split_part10(f.read())[2]
        if change:
            assert isinstance(results["first"], OSError) and results["first"].errno == 5, \
                (results["first"], m.text())
            assert "a second copy in one C-MOVE with other bytes than the first" in m.text()
            assert "1 instance(s) came twice with different bytes; failed" in m.text()
            before = relay.conns
            _read(_path(m, e), results, "again")
            assert split_part10(results["again"])[2] == truth
            assert relay.conns > before  # moved again: nothing was kept the first time
        else:
            assert split_part10(results["first"])[2] == truth, m.text()
            assert "a second copy, the same bytes; dropped" in m.text()
            assert "other bytes" not in m.text()
    finally:
        relay.stop()


class RenumberingRelay(PduRelay):
    """Between the archive and move_port: once, it changes the Move Originator Message ID
    (0000,1031) of the archive's first C-STORE: a C-STORE that guesses wrong."""

    TAG = b"\x00\x00\x31\x10\x02\x00\x00\x00"  # (0000,1031) US, implicit VR, length 2

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.done = False

    def forward(self, pdu, from_server, dst, conn):
        if not from_server and not self.done and pdu[0] == 4 and self.TAG in pdu:
            at = pdu.index(self.TAG) + len(self.TAG)
            wrong = bytes([pdu[at] ^ 0x55, pdu[at + 1] ^ 0x55])
            pdu = pdu[:at] + wrong + pdu[at + 2:]
            self.done = True
        dst.sendall(pdu)


def test_a_wrong_move_originator_id_ends_that_c_move(mount, orthanc, data):
    # The archive's C-STORE of X comes with another Move Originator Message ID than the
    # C-MOVE's: a guess. It is refused, its association aborted, and the C-MOVE takes nothing
    # more: the open fails with EIO. The next open moves X again, with a new ID, and gets it.
    e = data["manifest"][7]
    port = free_port()
    relay = RenumberingRelay(port)
    relay.stalling = False
    orthanc.set_move_port(relay.port)
    try:
        m = mount(_source(orthanc), options="downloader=c-move,move_port=%d,prefetch=none"
                  % port, expect_errors=r"C-MOVE .*(status|sent nothing|no response)")
        results = {}
        _read(_path(m, e), results, "first")
        assert relay.done
        assert isinstance(results["first"], OSError) and results["first"].errno == 5, \
            (results["first"], m.text())
        assert "its Move Originator Message ID is no C-MOVE's in flight (a guess" in m.text()
        assert "someone guessed at its Move Originator Message ID" in m.text()
        _read(_path(m, e), results, "again")
        with open(e["path"], "rb") as f:
            assert split_part10(results["again"])[2] == split_part10(f.read())[2]
    finally:
        relay.stop()
