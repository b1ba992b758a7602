"""DIMSE searches beside bulk transfers, and transfers whose archive stops or lies: C-FIND never
waits behind C-GETs (a quarter of connections= is kept for searches, and a waiting search goes
before waiting retrieves), a C-MOVE times out only when neither responses nor sub-operations
come, and a C-GET sub-operation whose data set is not the instance it names is refused. The
archive is Orthanc's DICOM port, behind relays that hold, trickle, silence or rewrite PDUs."""
import errno
import os
import socket
import struct
import threading
import time

import pytest

from servers import free_port
from test_dimse import StallingDicomProxy, split_part10

GET_MODEL = b"1.2.840.10008.5.1.4.1.2.2.3"  # Study Root C-GET
FIND_MODEL = b"1.2.840.10008.5.1.4.1.2.2.1"  # Study Root C-FIND


def _pdvs(body):
    """The PDVs of a P-DATA-TF body: (context id, message control header, value)."""
    pos, out = 0, []
    while pos + 6 <= len(body):
        n = struct.unpack(">I", body[pos:pos + 4])[0]
        out.append((body[pos + 4], body[pos + 5], body[pos + 6:pos + 4 + n]))
        pos += 4 + n
    return out


def _pdata(pdvs):
    body = b"".join(struct.pack(">IBB", len(v) + 2, c, h) + v for c, h, v in pdvs)
    return struct.pack(">BBI", 4, 0, len(body)) + body


class PduRelay(StallingDicomProxy):
    """A relay that passes whole PDUs through self.forward(pdu, from_server, dst, conn), which
    subclasses change; it keeps a log of events (self.events, in order) to judge by."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.stalling = False
        self.events = []
        self.conns = 0

    def event(self, what):
        with self.lock:
            self.events.append(what)

    def forward(self, pdu, from_server, dst, conn):
        dst.sendall(pdu)

    def _pipe(self, src, dst, from_server):
        with self.lock:
            if not from_server:
                self.conns += 1
            conn = self.conns
        try:
            while True:
                head = self._read(src, 6)
                pdu = head + self._read(src, struct.unpack(">I", head[2:6])[0])
                self.forward(pdu, from_server, dst, conn)
        except OSError:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            if not from_server:
                with self.lock:
                    self.active -= 1


class HoldingRelay(PduRelay):
    """While .holding, holds every instance (a P-DATA PDU from the archive of over 2,000
    bytes) until .release is set: C-GETs stay in flight as long as the test wants. Logs each
    association request as "find" or "get", and each instance it starts holding as "held"."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.release = threading.Event()
        self.holding = False
        self.held = 0

    def forward(self, pdu, from_server, dst, conn):
        if not from_server and pdu[0] == 1:
            self.event("get" if GET_MODEL in pdu else "find" if FIND_MODEL in pdu else "?")
        if from_server and pdu[0] == 4 and len(pdu) > 2000 and self.holding and \
                not self.release.is_set():
            with self.lock:
                self.held += 1
            self.event("held")
            self.release.wait(60)
        dst.sendall(pdu)

    def stop(self):
        self.release.set()
        super().stop()


def _series(data, n):
    """@n uncompressed instances of one series of PID001 (the first one to warm up with)."""
    es = [e for e in data["manifest"] if e["PatientID"] == "PID001" and not e.get("compression")]
    es = [e for e in es if e["SeriesInstanceUID"] == es[0]["SeriesInstanceUID"]]
    assert len(es) >= n
    return es[:n]


def _path(m, e):
    return m.path("studies", e["StudyInstanceUID"], e["SeriesInstanceUID"],
                  e["SOPInstanceUID"] + ".dcm")


def _open_all(m, es):
    results = {}

    def read(i):
        try:
            with open(_path(m, es[i]), "rb") as f:
                results[i] = split_part10(f.read())[1]
        except OSError as exc:
            results[i] = exc

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(es))]
    for t in threads:
        t.start()
    return threads, results


def _warm_up(m, e):
    """One C-GET alone, so that the mount knows the archive does not say how it stores
    instances: the C-GETs after it need no C-FIND to learn their classes, and every C-FIND
    association the relay sees is a listing's."""
    with open(_path(m, e), "rb") as f:
        assert split_part10(f.read())[1] == e["SOPInstanceUID"]


def _status(m, name):
    with open(m.path(".trolley", "status")) as f:
        for line in f:
            if line.startswith(name + ": "):
                return int(line.split(": ", 1)[1])
    raise KeyError(name)


def _wait(cond, seconds):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)
    return cond()


def test_c_find_listing_completes_while_c_gets_hold_the_other_connections(mount, orthanc,
                                                                          data):
    # connections=2: C-GETs may take one, and a listing of a folder not listed yet takes the
    # other while the relay holds every C-GET in flight. Before, two C-GETs held both
    # associations and the listing waited for them to end.
    es = _series(data, 4)
    relay = HoldingRelay(orthanc.dicom_port)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port,
                  options="connections=2,prefetch=none,timeout=90")
        os.listdir(os.path.dirname(_path(m, es[0])))
        _warm_up(m, es[0])
        es = es[1:]
        relay.holding = True
        threads, results = _open_all(m, es)
        assert _wait(lambda: relay.held >= 1, 60), relay.events
        # Give a second C-GET the chance to take the second association, as it did before.
        _wait(lambda: relay.held >= 2, 5)
        listing = {}
        lister = threading.Thread(
            target=lambda: listing.update(names=os.listdir(m.path("patients"))))
        lister.start()
        lister.join(30)
        done_while_held = "names" in listing and not relay.release.is_set()
        relay.release.set()
        lister.join(60)
        for t in threads:
            t.join(60)
        assert done_while_held, relay.events
        assert "PID001" in " ".join(listing["names"])
        # The C-GETs were in flight all along and each brought its instance afterwards.
        assert [results[i] for i in range(3)] == [e["SOPInstanceUID"] for e in es], m.text()
    finally:
        relay.stop()


def test_with_one_connection_a_waiting_c_find_goes_before_waiting_c_gets(mount, orthanc,
                                                                         data):
    # connections=1 stays one association: the listing waits for the C-GET in flight, and
    # then goes before the C-GETs that waited before it.
    es = _series(data, 4)
    relay = HoldingRelay(orthanc.dicom_port)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port,
                  options="connections=1,prefetch=none,timeout=90")
        os.listdir(os.path.dirname(_path(m, es[0])))
        _warm_up(m, es[0])
        es = es[1:]
        relay.holding = True
        threads, results = _open_all(m, es)
        assert _wait(lambda: relay.held >= 1, 60), relay.events
        # The other two opens queue behind it (the cache counts them as started, an instant
        # before they wait for the association), and the listing behind them.
        assert _wait(lambda: _status(m, "transfers_in_flight") == 3, 60), relay.events
        misses = _status(m, "query_misses")
        lister = threading.Thread(target=lambda: os.listdir(m.path("patients")))
        lister.start()
        assert _wait(lambda: _status(m, "query_misses") > misses, 60), relay.events
        time.sleep(0.2)
        before = len(relay.events)
        relay.release.set()
        lister.join(60)
        for t in threads:
            t.join(60)
        after = relay.events[before:]
        assert [results[i] for i in range(3)] == [e["SOPInstanceUID"] for e in es], m.text()
        assert after and after[0] == "find" and after.count("get") == 2, relay.events
    finally:
        relay.stop()


class TricklingRelay(PduRelay):
    """In front of our storage SCP: the archive's data set PDUs come in small pieces, a few a
    second, as over a slow link; everything else passes at once."""

    def __init__(self, upstream_port, chunk, pause):
        super().__init__(upstream_port)
        self.chunk, self.pause = chunk, pause

    def forward(self, pdu, from_server, dst, conn):
        if from_server or pdu[0] != 4 or all(h & 1 for _, h, _ in _pdvs(pdu[6:])):
            dst.sendall(pdu)
            return
        self.event("trickled %d" % len(pdu))
        for i in range(0, len(pdu), self.chunk):
            dst.sendall(pdu[i:i + self.chunk])
            time.sleep(self.pause)


def _largest(data):
    """The largest generated uncompressed instance of PID001."""
    return max((e for e in data["manifest"] if e["PatientID"] == "PID001"
                and not e.get("compression")), key=lambda e: e["size"])


def test_c_move_slower_than_timeout_but_never_stopping_completes(mount, orthanc, data):
    # An instance whose C-STORE takes three times timeout= but never stops for a second: the
    # archive sends no C-MOVE response meanwhile (Orthanc sends one per finished
    # sub-operation), so the C-MOVE association is silent longer than timeout=. The
    # sub-operation is progress: it completes. Before, the C-MOVE ended with ETIMEDOUT.
    e = _largest(data)
    port = free_port()
    chunk = max(64, e["size"] // 30)
    relay = TricklingRelay(port, chunk, 0.2)
    orthanc.set_move_port(relay.port)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % orthanc.dicom_port,
                  options="downloader=c-move,move_port=%d,prefetch=none,timeout=2" % port)
        with open(_path(m, e), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
        assert any(x.startswith("trickled") for x in relay.events)
    finally:
        relay.stop()


class SilencingRelay(PduRelay):
    """While .silent is set, P-DATA PDUs from one side (the archive's) are swallowed: the
    association stays open and nothing more comes."""

    def __init__(self, upstream_port, archive_is_server):
        super().__init__(upstream_port)
        self.silent = True
        self.archive_is_server = archive_is_server
        self.swallowed = 0

    def forward(self, pdu, from_server, dst, conn):
        if self.silent and pdu[0] == 4 and from_server == self.archive_is_server:
            self.swallowed += 1
            return
        dst.sendall(pdu)


def test_c_move_whose_archive_goes_silent_is_etimedout_and_caches_nothing(mount, orthanc,
                                                                          data):
    # The archive takes the C-MOVE, keeps both associations open, and sends nothing: no
    # response, no sub-operation. The open ends with ETIMEDOUT naming the archive, and once
    # the archive behaves the file comes whole.
    e = data["manifest"][0]
    port = free_port()
    moves = SilencingRelay(orthanc.dicom_port, archive_is_server=True)
    stores = SilencingRelay(port, archive_is_server=False)
    orthanc.set_move_port(stores.port)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % moves.port,
                  options="downloader=c-move,move_port=%d,prefetch=none,timeout=2" % port,
                  expect_errors=True)
        # The listing and a first C-MOVE pass (after it, no C-FIND precedes a C-MOVE): only
        # the C-MOVE of @e is silenced.
        moves.silent = stores.silent = False
        os.listdir(os.path.dirname(_path(m, e)))
        _warm_up(m, data["manifest"][1])
        moves.silent = stores.silent = True
        with pytest.raises(OSError) as exc:
            open(_path(m, e), "rb")
        assert exc.value.errno == errno.ETIMEDOUT, m.text()
        assert "C-MOVE ORTHANC@127.0.0.1:%d of IMAGE %s: no response and no sub-operation" % (
            moves.port, e["SOPInstanceUID"]) in m.text(), m.text()
        assert moves.swallowed >= 1
        moves.silent = stores.silent = False
        with open(_path(m, e), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
    finally:
        moves.stop()
        stores.stop()


def test_c_get_whose_archive_goes_silent_is_etimedout_and_caches_nothing(mount, orthanc, data):
    # The archive takes the C-GET and sends nothing more, its association open: ETIMEDOUT
    # after timeout=, naming the archive; once it behaves the file comes whole.
    e = data["manifest"][0]
    relay = SilencingRelay(orthanc.dicom_port, archive_is_server=True)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port,
                  options="prefetch=none,timeout=2", expect_errors=True)
        relay.silent = False
        os.listdir(os.path.dirname(_path(m, e)))
        _warm_up(m, data["manifest"][1])
        relay.silent = True
        with pytest.raises(OSError) as exc:
            open(_path(m, e), "rb")
        assert exc.value.errno == errno.ETIMEDOUT, m.text()
        assert "C-GET ORTHANC@127.0.0.1:%d of IMAGE %s: the archive sent nothing for 2 s" % (
            relay.port, e["SOPInstanceUID"]) in m.text(), m.text()
        assert relay.swallowed >= 1
        relay.silent = False
        with open(_path(m, e), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
    finally:
        relay.stop()


class RewritingRelay(PduRelay):
    """Rewrites @old to @new (same length) inside the data sets the archive sends (never in a
    command): an archive that sends another instance than its C-STORE request names."""

    def __init__(self, upstream_port, old, new):
        super().__init__(upstream_port)
        assert len(old) == len(new)
        self.old, self.new = old, new
        self.rewriting = False
        self.rewrote = 0

    def forward(self, pdu, from_server, dst, conn):
        if from_server and pdu[0] == 4 and self.rewriting:
            pdvs = _pdvs(pdu[6:])
            out = [(c, h, v if h & 1 else v.replace(self.old, self.new)) for c, h, v in pdvs]
            if out != pdvs:
                self.rewrote += 1
                pdu = _pdata(out)
        dst.sendall(pdu)


def test_c_get_sub_operation_of_another_series_is_refused_and_not_cached(mount, orthanc, data):
    # The C-STORE names the instance asked for, but its data set says another series: it is
    # refused (EIO), logged, and not kept; once the archive behaves the file comes right.
    e = data["manifest"][0]
    series = e["SeriesInstanceUID"].encode()
    forged = series[:-1] + (b"1" if series[-1:] != b"1" else b"2")
    relay = RewritingRelay(orthanc.dicom_port, series, forged)
    try:
        m = mount("dicom://ORTHANC@127.0.0.1:%d" % relay.port, options="prefetch=none",
                  expect_errors=True)
        os.listdir(os.path.dirname(_path(m, e)))
        relay.rewriting = True
        with pytest.raises(OSError) as exc:
            open(_path(m, e), "rb")
        assert exc.value.errno == errno.EIO, m.text()
        assert relay.rewrote >= 1
        assert "of series %s" % forged.decode() in m.text()
        assert "not what our C-GET asked for; refused" in m.text()
        relay.rewriting = False
        with open(_path(m, e), "rb") as f:
            got = f.read()
        with open(e["path"], "rb") as f:
            assert split_part10(got)[2] == split_part10(f.read())[2]
    finally:
        relay.stop()
