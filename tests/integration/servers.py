"""Real servers for the tests, started on 127.0.0.1 on free ports and stopped by PID:
Orthanc with its DICOMweb plugin, and a counting, fault-injecting HTTP proxy in front of it
(so a test counts the requests the archive really saw, and can make the archive misbehave)."""
import atexit
import email.utils
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

# Every server this process started and has not stopped: the safety net below stops them if a
# fixture could not (an interrupted run). Only these, by their own PIDs.
_started = []


@atexit.register
def _stop_all():
    for server in list(_started):
        try:
            server.stop()
        except Exception:
            pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


class ServerProcess:
    """A server this test run started: its process, its log, and a stop that only ever ends
    that PID (registered for the atexit safety net)."""

    def _spawn(self, argv, log_path, cwd=None):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)
        _started.append(self)

    def _wait_port(self, port, what, where):
        """Wait until @port accepts connections; stop and raise if the process dies first."""
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited; see %s" % (what, where))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        try:
            wait_for(up, 20, what)
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self in _started:
            _started.remove(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Orthanc(ServerProcess):
    """An Orthanc 1.10 + DICOMweb on loopback, with a throw-away storage folder."""

    def __init__(self, workdir, extra_config=None, auth=None):
        self.workdir = workdir
        self.auth = auth
        if auth:
            import base64
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            self.headers = {"Authorization": "Basic " + token}
        else:
            self.headers = {}
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.url = "http://127.0.0.1:%d" % self.http_port
        self.dicomweb = self.url + "/dicom-web"
        config = {
            "Name": "trolley-test",
            "StorageDirectory": os.path.join(workdir, "db"),
            "IndexDirectory": os.path.join(workdir, "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True,
                         "WadoRoot": "/wado"},
            "HttpThreadsCount": 16,
            # Orthanc's DICOMweb 1.7 answers QIDO from its index through DefaultEncoding:
            # with the default (Latin1) a Greek PatientName comes back as "^" (measured).
            "DefaultEncoding": "Utf8",
            # trolley's C-FIND, C-GET and C-MOVE come as TROLLEY from 127.0.0.1; a C-MOVE
            # test points this entry at its own storage SCP port (set_move_port).
            "DicomModalities": {"trolley": ["TROLLEY", "127.0.0.1", 4243]},
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomCheckCalledAet": False,
        }
        config.update(extra_config or {})
        self.config_path = os.path.join(workdir, "orthanc.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self._spawn(["Orthanc", self.config_path], os.path.join(workdir, "orthanc.log"),
                    workdir)
        try:
            wait_for(self._ready, 30, "Orthanc to answer")
        except Exception:
            self.stop()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("Orthanc exited with %s; see %s" % (self.proc.returncode,
                                                                   self.log.name))
        try:
            req = urllib.request.Request(self.url + "/system", headers=self.headers)
            urllib.request.urlopen(req, timeout=1).read()
            return True
        except OSError:
            return False

    def upload(self, paths):
        def post(path):
            with open(path, "rb") as f:
                req = urllib.request.Request(self.url + "/instances", data=f.read(),
                                             method="POST", headers=self.headers)
            reply = json.load(urllib.request.urlopen(req, timeout=30))
            assert reply["Status"] in ("Success", "AlreadyStored"), reply
            return reply["ID"]

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(post, paths))

    def set_move_port(self, port):
        """C-MOVE to TROLLEY goes to 127.0.0.1:@port from now on (Orthanc's REST API)."""
        body = json.dumps({"AET": "TROLLEY", "Host": "127.0.0.1", "Port": port}).encode()
        req = urllib.request.Request(self.url + "/modalities/trolley", data=body,
                                     method="PUT", headers=self.headers)
        urllib.request.urlopen(req, timeout=10).read()

    def stored_file(self, orthanc_id):
        req = urllib.request.Request("%s/instances/%s/file" % (self.url, orthanc_id),
                                     headers=self.headers)
        return urllib.request.urlopen(req).read()

    def kill(self):
        """SIGKILL by PID, as an archive that crashes or loses power mid-transfer. What it
        stored stays in its StorageDirectory: start_again() serves it on the same ports."""
        if self in _started:
            _started.remove(self)
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def start_again(self):
        self.restarts = getattr(self, "restarts", 0) + 1
        self._spawn(["Orthanc", self.config_path],
                    os.path.join(self.workdir, "orthanc-%d.log" % self.restarts), self.workdir)
        try:
            wait_for(self._ready, 30, "Orthanc to answer again")
        except Exception:
            self.stop()
            raise



class Proxy:
    """Forwards every request to an upstream HTTP server, streaming the reply back, and records
    it. Faults are rules (path regex -> action) that tests set and the `proxy` fixture clears;
    the first rule whose regex matches the path (with its query) applies:
      {"status": 500, "body": b"...", "type": "text/html"}   answer this instead
      {"body": b"...", "type": "..."}                         status 200 with this body
                          (with "headers": {name: value} also sent, e.g. Content-Encoding)
      {"truncate": N}     forward, announcing the full Content-Length, but send only N bytes of
                          the body, then close the connection
      {"delay": S}        wait S seconds (at most MAX_DELAY), then forward (or apply the rest)
      {"drop": True}      close the connection without an answer (also "refuse")
      {"stall": (N, S)}   forward N bytes of the body, wait S seconds, then the rest
      {"trickle": S}      forward the body in 32 pieces spread over S seconds (a slow link or
                          a slow archive: the reply is in flight all that time)
      {"chunked": N}      forward with Transfer-Encoding: chunked in N-byte chunks, as servers
                          that stream (dcm4chee, nginx without buffering) do
      {"drip": S}         forward the body one byte every S seconds (an archive or a proxy that
                          trickles: each byte would reset a naive stall timer), for at most
                          DRIP_MAX seconds, then the rest at once
      {"rate": B}         forward the body at about B bytes per second, reading the upstream
                          only as fast: the upstream blocks on a full socket, so stopping it
                          cuts the reply in the middle (the client sees the stream end early)
    Archive behaviours (what real archives do that Orthanc does not):
      {"cap": N}          a QIDO answer of at most N results per request: the full answer is
                          asked of the upstream (without limit/offset) and sliced by the
                          request's offset and limit; with "warning": True a cut answer carries
                          "Warning: 299 ...: There are additional results that can be
                          requested"; with "ignore_offset": True every request gets the first
                          results
      {"empty": 204}      an answer without results is 204 No Content instead of 200 []
      {"refuse_ts": S}    a request whose Accept names a transfer-syntax (* or a UID) gets
                          status S (406, 400, 415); one without is forwarded (the default)
      {"bare": True}      a WADO-RS reply of one instance is sent as a bare application/dicom
                          body (unwrapped from its multipart), chunked, without Content-Length
      {"replace": (A, B)} the reply body with every bytes A replaced by B
      {"endless": True}   200 application/dicom, chunked, whose body never ends (zeros, as fast
                          as the client takes them, for at most ENDLESS_MAX seconds): a broken
                          archive or a reply that grows without bound; the request's record
                          gets "sent", the body bytes that went out so far
    Validators (what dcm4chee sends and Orthanc does not):
      {"etag": True}      a 200 reply carries ETag: a hash of its body ("etag": "salt" mixes
                          the salt in: the same body then has another tag, as if changed); a
                          request whose If-None-Match names the current tag gets 304 Not
                          Modified without a body (its record's "status" is 304)
      {"last_modified": True}  the same with Last-Modified (a date derived from the body's
                          hash) and If-Modified-Since
    Pushback (an archive over its quota or its capacity; the request is not forwarded, and its
    record's "status" is the code sent):
      {"throttle": R}     a token bucket of R requests a second (R at most in a burst, or
                          "burst": B): a request beyond it gets 429 Too Many Requests, as cloud
                          archives answer
      {"busy": N}         every N-th request (of this rule) gets 503 Service Unavailable, as a
                          loaded archive answers; with "times": K only the first K of them
                          Both send "Retry-After: S" ("retry_after": S, default 1; None sends no
                          Retry-After), as an HTTP date S seconds ahead with "retry_after_date":
                          True
    """

    MAX_DELAY = 15  # a fault never holds a test longer than this
    DRIP_MAX = 60  # "drip" outlasts any timeout= a test sets, yet ends
    ENDLESS_MAX = 30  # an endless body ends after this long even if the client reads on

    def __init__(self, upstream):
        self.upstream = upstream  # "127.0.0.1:port"
        self.upstream_url = "http://" + upstream  # to fetch the truth around the faults
        self.requests = []
        self.faults = []
        self.required_auth = None
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle and delayed
            # ACKs hold each reply back ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy._handle(self, "GET")

            def do_POST(self):
                proxy._handle(self, "POST")

            def do_HEAD(self):
                proxy._handle(self, "HEAD")

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hangs up mid-reply (a timeout test) is not an error here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        _started.append(self)

    def reset(self):
        with self.lock:
            self.requests = []
            self.faults = []
            self.required_auth = None

    def require_auth(self, value):
        """Answer 401 to any request whose Authorization header is not @value."""
        with self.lock:
            self.required_auth = value

    def fault(self, pattern, **action):
        """Add a rule; rules added later are tried after earlier ones (first match wins)."""
        known = {"status", "body", "type", "truncate", "delay", "drop", "refuse", "stall",
                 "chunked", "pass_through", "cap", "warning", "ignore_offset", "empty",
                 "refuse_ts", "bare", "replace", "headers", "trickle", "rate",
                 "throttle", "burst", "busy", "times", "retry_after", "retry_after_date",
                 "drip", "endless", "etag", "last_modified"}
        assert set(action) <= known, "unknown fault action %s" % (set(action) - known)
        with self.lock:
            self.faults.append((re.compile(pattern), action))

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def log(self):
        """A copy of the recorded requests: dicts with method, path (with the query), query,
        accept, accept_encoding, status (401 when refused for auth, 429 or 503 when pushed
        back, 304 when "etag" or "last_modified" said not modified, else None),
        if_none_match and if_modified_since (None if not sent), start and end
        (time.monotonic() when the request came and when its reply was over; end None while
        it is in flight)."""
        with self.lock:
            return [dict(r) for r in self.requests]

    def paths(self, pattern=".*"):
        rx = re.compile(pattern)
        with self.lock:
            return [r["path"] for r in self.requests if rx.search(r["path"])]

    def count(self, pattern=".*"):
        return len(self.paths(pattern))

    def _handle(self, h, method):
        record = {"start": time.monotonic(), "end": None}
        try:
            self._serve(h, method, record)
        finally:
            with self.lock:
                record["end"] = time.monotonic()

    def _serve(self, h, method, record):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            authorized = (self.required_auth is None or
                          h.headers.get("Authorization") == self.required_auth)
            record.update({"method": method, "path": h.path,
                           "query": h.path.partition("?")[2],
                           "accept": h.headers.get("Accept", ""),
                           "accept_encoding": h.headers.get("Accept-Encoding", ""),
                           "if_none_match": h.headers.get("If-None-Match"),
                           "if_modified_since": h.headers.get("If-Modified-Since"),
                           "status": None if authorized else 401})
            self.requests.append(record)
            action = next((a for rx, a in self.faults if rx.search(h.path)), None) or {}
        if not authorized:
            self._reply(h, 401, "text/plain", b"unauthorized")
            return
        pushback = self._pushback(action, record)
        if pushback:
            self._reply(h, *pushback)
            return
        if action.get("delay"):
            time.sleep(min(action["delay"], self.MAX_DELAY))
        if action.get("drop") or action.get("refuse"):
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if "body" in action:
            self._reply(h, action.get("status", 200), action.get("type", "text/plain"),
                        action["body"], action.get("headers", {}))
            return
        if action.get("endless"):
            self._endless(h, record)
            return
        if action.get("refuse_ts") and "transfer-syntax=" in h.headers.get("Accept", ""):
            self._reply(h, action["refuse_ts"], "text/plain", b"transfer syntax not supported")
            return
        if action.get("etag") or action.get("last_modified"):
            self._validated(h, method, action, record)
            return
        if {"cap", "empty", "bare", "replace"} & set(action):
            self._behave(h, method, action)
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items()
                       if k.lower() not in ("host", "connection", "accept-encoding",
                                            "keep-alive", "transfer-encoding")}
            conn.request(method, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            self._forward(h, method, resp, action)
        except OSError:
            h.close_connection = True  # the client or the upstream went away mid-reply
        finally:
            conn.close()

    def _pushback(self, action, record):
        """The (status, type, body, headers) of a "throttle" or "busy" answer to this request,
        or None to serve it."""
        if "throttle" not in action and "busy" not in action:
            return None
        with self.lock:
            # The rule's state lives in its own dict: reset() drops both.
            burst = float(action.get("burst", action.get("throttle", 0)))
            state = action.setdefault("_state", {"tokens": burst,
                                                 "at": time.monotonic(), "n": 0, "sent": 0})
            if "throttle" in action:
                rate = action["throttle"]
                now = time.monotonic()
                state["tokens"] = min(burst, state["tokens"] + (now - state["at"]) * rate)
                state["at"] = now
                if state["tokens"] >= 1:
                    state["tokens"] -= 1
                    return None
                status, text = 429, b"rate limit exceeded"
            else:
                state["n"] += 1
                if state["n"] % action["busy"] or state["sent"] >= action.get("times", 1e18):
                    return None
                status, text = 503, b"server busy"
            state["sent"] += 1
            record["status"] = status
        headers = {}
        after = action.get("retry_after", 1)
        if after is not None:
            headers["Retry-After"] = (email.utils.formatdate(time.time() + after, usegmt=True)
                                      if action.get("retry_after_date") else str(after))
        return status, "text/plain", text, headers

    def _upstream(self, h, method, path):
        """The upstream's whole reply to @path: (status, headers, body)."""
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items()
                       if k.lower() not in ("host", "connection", "accept-encoding",
                                            "keep-alive", "transfer-encoding")}
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _validated(self, h, method, action, record):
        """The "etag" and "last_modified" behaviours: validators on the upstream's reply, and
        304 to a request that names the current one."""
        status, headers, body = self._upstream(h, method, h.path)
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "text/plain")
        if status != 200:
            self._reply(h, status, ctype, body)
            return
        digest = hashlib.sha1(str(action.get("etag")).encode() + body).hexdigest()
        validators = {}
        if action.get("etag"):
            validators["ETag"] = '"%s"' % digest[:32]
        if action.get("last_modified"):
            validators["Last-Modified"] = email.utils.formatdate(
                1.5e9 + int(digest[:7], 16), usegmt=True)
        inm = h.headers.get("If-None-Match")
        ims = h.headers.get("If-Modified-Since")
        if (inm and "ETag" in validators and inm.replace("W/", "") == validators["ETag"]) or \
                (not inm and ims and ims == validators.get("Last-Modified")):
            with self.lock:
                record["status"] = 304
            h.send_response(304)
            for k, v in validators.items():
                h.send_header(k, v)
            h.end_headers()
            return
        self._reply(h, 200, ctype, body, validators)

    def _behave(self, h, method, action):
        """The archive behaviours of the class comment, on the upstream's whole reply."""
        path, _, query = h.path.partition("?")
        extra = []
        if "cap" in action:
            # The whole answer, then this request's page of it, as a capping archive would.
            # The rest of the query goes on as it came (Orthanc does not percent-decode).
            rest = [p for p in query.split("&") if p and
                    not p.startswith(("limit=", "offset="))]
            path_all = path + ("?" + "&".join(rest) if rest else "")
            status, headers, body = self._upstream(h, method, path_all)
            got = dict(urllib.parse.parse_qsl(query))
            offset = 0 if action.get("ignore_offset") else int(got.get("offset") or 0)
            count = action["cap"]
            if got.get("limit"):
                count = min(count, int(got["limit"]))
            results = json.loads(body) if status == 200 and body.strip() else []
            page = results[offset:offset + count]
            if action.get("warning") and offset + count < len(results):
                extra.append(("Warning", "299 proxy: There are additional results that can "
                              "be requested"))
            body = json.dumps(page).encode()
            ctype = "application/dicom+json"
        else:
            status, headers, body = self._upstream(h, method, h.path)
            ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status == 200 and action.get("empty") and body.strip() in (b"", b"[]"):
            h.send_response(action["empty"])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if "replace" in action:
            body = body.replace(*action["replace"])
        chunked = False
        if action.get("bare") and status == 200 and ctype.startswith("multipart/related"):
            boundary = re.search(r'boundary="?([^";]+)"?', ctype).group(1).encode()
            parts = body.split(b"--" + boundary)[1:-1]
            if len(parts) == 1:  # a series stays multipart: a bare body holds one instance
                body = parts[0].partition(b"\r\n\r\n")[2][:-2]  # headers, CRLF before --
                ctype, chunked = "application/dicom", True
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in extra:
            h.send_header(k, v)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if method == "HEAD":
            return
        if chunked:
            for i in range(0, len(body), 4096):
                self._write(h, body[i:i + 4096], True)
            h.wfile.write(b"0\r\n\r\n")
        else:
            h.wfile.write(body)
        h.wfile.flush()

    def _forward(self, h, method, resp, action):
        """Stream @resp to the client, applying "truncate" or "stall"."""
        upstream_length = resp.getheader("Content-Length")
        if upstream_length is None and ({"truncate", "stall", "trickle", "drip"} & set(action)):
            data = resp.read()  # a chunked reply: its length is needed to lie about it
            chunks, total = iter([data]), len(data)
        elif action.get("chunked"):
            size = action["chunked"]
            chunks, total = iter(lambda: resp.read(size), b""), None
        else:
            chunks = iter(lambda: resp.read(65536), b"")
            total = None if upstream_length is None else int(upstream_length)
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("content-type", "content-location", "www-authenticate",
                             "etag", "last-modified", "cache-control"):
                h.send_header(k, v)
        if total is None:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(total))
        h.end_headers()
        if method == "HEAD" or resp.status in (204, 304):
            return
        if action.get("drip"):
            data = b"".join(chunks)
            until = time.monotonic() + self.DRIP_MAX
            sent = 0
            while sent < len(data) and time.monotonic() < until:
                h.wfile.write(data[sent:sent + 1])  # BrokenPipe once the client hangs up
                h.wfile.flush()
                sent += 1
                time.sleep(action["drip"])
            h.wfile.write(data[sent:])
            h.wfile.flush()
            return
        budget = action.get("truncate")
        stall_at, stall_for = action.get("stall", (None, 0))
        if action.get("trickle") and total:
            data = b"".join(chunks)
            piece = -(-len(data) // 32)
            chunks = (data[i:i + piece] for i in range(0, len(data), piece))
            pause = min(action["trickle"], self.MAX_DELAY) / 32
        else:
            pause = 0
        sent = 0
        for chunk in chunks:
            if pause:
                if sent:
                    time.sleep(pause)
                self._write(h, chunk, False)
                h.wfile.flush()
                sent += len(chunk)
                continue
            if budget is not None and sent + len(chunk) > budget:
                chunk = chunk[:budget - sent]
            if stall_at is not None and sent <= stall_at < sent + len(chunk):
                cut = stall_at - sent
                self._write(h, chunk[:cut], total is None)
                h.wfile.flush()
                time.sleep(min(stall_for, self.MAX_DELAY))
                chunk, sent = chunk[cut:], stall_at
                stall_at = None
            self._write(h, chunk, total is None)
            sent += len(chunk)
            if action.get("rate"):
                time.sleep(len(chunk) / action["rate"])
            if budget is not None and sent >= budget:
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
        if total is None:
            h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def _endless(self, h, record):
        """The "endless" action: a body that goes on until the client hangs up."""
        h.send_response(200)
        h.send_header("Content-Type", "application/dicom")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        piece = b"\0" * 65536
        deadline = time.monotonic() + self.ENDLESS_MAX
        record["sent"] = 0
        try:
            while time.monotonic() < deadline:
                self._write(h, piece, True)
                with self.lock:
                    record["sent"] += len(piece)
        except OSError:
            pass  # the client stopped reading and closed: what the tests want
        h.close_connection = True

    @staticmethod
    def _write(h, chunk, chunked):
        if not chunk:
            return
        if chunked:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            h.wfile.write(chunk)

    @staticmethod
    def _reply(h, status, ctype, data, headers=None):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def stop(self):
        if self in _started:
            _started.remove(self)
        self.server.shutdown()
        self.server.server_close()


def make_pki(d):
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    p = {k: os.path.join(d, k + ".pem") for k in
         ("ca", "ca-key", "server", "server-key", "client", "client-key", "other-ca",
          "other-ca-key")}
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=trolley test " + ca, "-keyout", p[ca + "-key"], "-out", p[ca])
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        csr = os.path.join(d, who + ".csr")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", p[who + "-key"], "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey", p["ca-key"],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", p[who])
    for k in ("ca-key", "server-key", "client-key", "other-ca-key"):
        os.chmod(p[k], 0o600)
    return p


class Nginx(ServerProcess):
    """nginx terminating TLS in front of an HTTP upstream, as hospitals often put it: one port
    for any client, one that demands a client certificate signed by the test CA."""

    def __init__(self, workdir, upstream_port, pki):
        self.port = free_port()
        self.mtls_port = free_port()
        conf = os.path.join(workdir, "nginx.conf")
        common = """
            ssl_certificate {server}; ssl_certificate_key {key};
            location / {{ proxy_pass http://127.0.0.1:{up}; proxy_buffering off;
                         proxy_http_version 1.1; proxy_set_header Connection ""; }}
        """.format(server=pki["server"], key=pki["server-key"], up=upstream_port)
        with open(conf, "w") as f:
            f.write("""
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{port} ssl; {common} }}
    server {{ listen 127.0.0.1:{mtls} ssl; {common}
             ssl_client_certificate {ca}; ssl_verify_client on; }}
}}
""".format(d=workdir, port=self.port, mtls=self.mtls_port, common=common, ca=pki["ca"]))
        self._spawn(["nginx", "-c", conf, "-p", workdir], os.path.join(workdir, "nginx.out"))
        self._wait_port(self.mtls_port, "nginx", workdir)


class Dcmqrscp(ServerProcess):
    """dcmtk's dcmqrscp: a second, independent DIMSE archive (AE title STORE), loaded with
    storescu."""

    def __init__(self, workdir, files, args=(), max_associations=16):
        self.port = free_port()
        self.move_port = free_port()  # where it sends C-MOVEs to TROLLEY
        db = os.path.join(workdir, "db")
        os.makedirs(db)
        cfg = os.path.join(workdir, "dcmqrscp.cfg")
        with open(cfg, "w") as f:
            f.write("NetworkTCPPort = %d\nMaxPDUSize = 16384\nMaxAssociations = %d\n"
                    "HostTable BEGIN\ntrolley = (TROLLEY, 127.0.0.1, %d)\nHostTable END\n"
                    "VendorTable BEGIN\nVendorTable END\n"
                    # (studies, size): dcmqrscp drops its oldest study past the count.
                    "AETable BEGIN\nSTORE %s RW (64, 1024mb) ANY\nAETable END\n"
                    % (self.port, max_associations, self.move_port, db))
        self._spawn(["dcmqrscp", *args, "-c", cfg], os.path.join(workdir, "dcmqrscp.log"),
                    workdir)
        self._wait_port(self.port, "dcmqrscp", workdir)
        try:
            subprocess.run(["storescu", "-aet", "TROLLEY", "-aec", "STORE", "127.0.0.1",
                            str(self.port), *files], check=True, capture_output=True,
                           timeout=120)
        except Exception:
            self.stop()
            raise


def in_private_netns():
    """True when the only network interface this process sees is loopback: a network namespace
    of its own (unshare -n), from which nothing reaches the host's network."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


class Pixelmed(ServerProcess):
    """pixelmed's DicomAndWebStorageServer (Debian libpixelmed-java): a third, independent
    archive with C-FIND, C-GET, C-STORE and WADO-URI (AE title PIXELMED). It binds every
    interface and makes LDAP and multicast-DNS discovery when it starts, so it refuses to run
    anywhere but in a network namespace of the test's own (see test_pixelmed.py)."""

    JARS = ("pixelmed", "hsqldb", "commons-codec", "commons-net", "jmdns", "slf4j-api",
            "slf4j-jdk14", "vecmath", "jaxb-api")

    def __init__(self, workdir, move_port=None):
        """@move_port: where C-MOVEs to TROLLEY go (on 127.0.0.1)."""
        if not in_private_netns():
            raise RuntimeError("pixelmed must run only inside a network namespace of its own "
                               "(unshare -n), never on the host's network")
        self.port = free_port()
        self.web_port = free_port()
        self.images = os.path.join(workdir, "images")
        os.makedirs(self.images)
        props = os.path.join(workdir, "server.properties")
        with open(props, "w") as f:
            f.write("Dicom.ListeningPort=%d\nDicom.CalledAETitle=PIXELMED\n"
                    "Dicom.CallingAETitle=PIXELMED\nDicom.PrimaryDeviceType=ARCHIVE\n"
                    "Application.DatabaseFileName=%s\nApplication.SavedImagesFolderName=%s\n"
                    "Application.DatabaseServerName=trolleytest\n"
                    "WebServer.ListeningPort=%d\nWebServer.RootURL=/\n"
                    "WebServer.NumberOfWorkers=4\n"
                    % (self.port, os.path.join(workdir, "db"), self.images, self.web_port))
            if move_port:
                f.write("Dicom.RemoteAEs=TROLLEY\nDicom.RemoteAEs.TROLLEY.CalledAETitle=TROLLEY\n"
                        "Dicom.RemoteAEs.TROLLEY.HostNameOrIPAddress=127.0.0.1\n"
                        "Dicom.RemoteAEs.TROLLEY.Port=%d\n" % move_port)
        cp = ":".join("/usr/share/java/%s.jar" % j for j in self.JARS)
        self._spawn(["java", "-cp", cp, "com.pixelmed.server.DicomAndWebStorageServer", props],
                    os.path.join(workdir, "pixelmed.log"), workdir)
        self._wait_port(self.port, "pixelmed", workdir)
        self._wait_port(self.web_port, "pixelmed's web server", workdir)

    def store(self, files, syntax_flag=None):
        """C-STORE @files with storescu; @syntax_flag (-xi implicit, -xd deflated, ...) is the
        syntax storescu proposes, which pixelmed keeps as it came."""
        if files:
            subprocess.run(["storescu", *([syntax_flag] if syntax_flag else []), "-aet",
                            "TROLLEY", "-aec", "PIXELMED", "127.0.0.1", str(self.port),
                            *files], check=True, capture_output=True, timeout=120)

    def stored_files(self):
        """Every file pixelmed keeps (its SavedImagesFolder): the truth, as stored."""
        out = []
        for root, _, names in os.walk(self.images):
            out += [os.path.join(root, n) for n in names]
        return out


class LoopbackHTTP:
    """A small HTTP/1.1 server of the tests' own on 127.0.0.1 (the MINT and RAD-69 servers):
    subclasses answer in handle_get(h) and handle_post(h) and reply with reply()."""

    def _serve(self, path):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle_get(self)

            def do_POST(self):
                server.handle_post(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle_get(self, h):
        self.reply(h, 405, "text/plain", b"method not allowed")

    def handle_post(self, h):
        self.reply(h, 405, "text/plain", b"method not allowed")

    @staticmethod
    def reply(h, status, ctype, body):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
