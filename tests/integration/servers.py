"""Real servers for the tests, started on 127.0.0.1 on free ports and stopped by PID:
Orthanc with its DICOMweb plugin, and a counting, fault-injecting HTTP proxy in front of it
(so a test counts the requests the archive really saw, and can make the archive misbehave)."""
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


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


class Orthanc:
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
        }
        config.update(extra_config or {})
        self.config_path = os.path.join(workdir, "orthanc.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.log = open(os.path.join(workdir, "orthanc.log"), "wb")
        self.proc = subprocess.Popen(["Orthanc", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)
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

    def stored_file(self, orthanc_id):
        req = urllib.request.Request("%s/instances/%s/file" % (self.url, orthanc_id),
                                     headers=self.headers)
        return urllib.request.urlopen(req).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Proxy:
    """Forwards every request to an upstream HTTP server and records it. Faults are rules
    (path regex -> action) that tests set and the autouse fixture clears:
      {"status": 500, "body": b"...", "type": "text/html"}   answer this instead
      {"body": b"...", "type": "..."}                         status 200 with this body
      {"truncate": N}     forward, but send only N bytes of the body, then close
      {"delay": S}        wait S seconds, then forward (or apply the rest of the rule)
      {"drop": True}      close the connection without an answer
      {"stall": (N, S)}   forward N bytes of the body, wait S seconds, then the rest
    """

    def __init__(self, upstream):
        self.upstream = upstream  # "127.0.0.1:port"
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

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

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
        with self.lock:
            self.faults.append((re.compile(pattern), action))

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def paths(self, pattern=".*"):
        rx = re.compile(pattern)
        with self.lock:
            return [r["path"] for r in self.requests if rx.search(r["path"])]

    def count(self, pattern=".*"):
        return len(self.paths(pattern))

    def _handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            authorized = (self.required_auth is None or
                          h.headers.get("Authorization") == self.required_auth)
            self.requests.append({"method": method, "path": h.path,
                                  "accept": h.headers.get("Accept", ""),
                                  "status": None if authorized else 401})
            action = next((a for rx, a in self.faults if rx.search(h.path)), None)
        if not authorized:
            self._reply(h, 401, "text/plain", b"unauthorized")
            return
        if action and action.get("delay"):
            time.sleep(action["delay"])
        if action and action.get("drop"):
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if action and "body" in action:
            self._reply(h, action.get("status", 200), action.get("type", "text/plain"),
                        action["body"])
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        headers = {k: v for k, v in h.headers.items()
                   if k.lower() not in ("host", "connection", "accept-encoding")}
        conn.request(method, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "application/octet-stream")
        if action and "stall" in action:
            n, seconds = action["stall"]
            h.send_response(resp.status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            try:
                h.wfile.write(data[:n])
                h.wfile.flush()
                time.sleep(seconds)
                h.wfile.write(data[n:])
            except OSError:
                pass  # the client went away (the test killed it)
            return
        if action and "truncate" in action:
            h.send_response(resp.status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[:action["truncate"]])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        self._reply(h, resp.status, ctype, data)

    @staticmethod
    def _reply(h, status, ctype, data):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def stop(self):
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


class Nginx:
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
        self.log = open(os.path.join(workdir, "nginx.out"), "wb")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", workdir], stdout=self.log,
                                     stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited; see " + workdir)
            try:
                socket.create_connection(("127.0.0.1", self.mtls_port), timeout=0.2).close()
                return True
            except OSError:
                return False

        try:
            wait_for(up, 20, "nginx")
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
