"""Many mounts, one archive: three mounts, each with a cache of its own, behind the shipped
nginx configuration (dist/nginx/trolley-cache.conf) in front of the archive. Each exports the
same study; the archive (counted by the test Proxy between nginx and Orthanc) sends each
transfer once, while searches still reach it every time."""
import collections
import hashlib
import os
import re
import subprocess

import pytest

import naming
from conftest import REPO
from servers import ServerProcess, free_port

CONF = os.path.join(REPO, "dist", "nginx", "trolley-cache.conf")
STUDY = ("Doe^John [PID001]", "2020-03-01 CT HEAD [ACC1]")
# QIDO-RS searches: what the configuration passes through.
SEARCH = re.compile(r"/(studies|series|instances)/?(\?|$)")


class CacheNginx(ServerProcess):
    """The shipped configuration as an admin installs it, with its three site values (the
    archive, the port, the cache folder) replaced and the file included in an http block."""

    def __init__(self, workdir, upstream):
        self.port = free_port()
        self.workdir = workdir
        text = open(CONF).read()
        for old, new in (("pacs.example.org:8042", upstream),
                         ("listen 8080;", "listen 127.0.0.1:%d;" % self.port),
                         ("/var/cache/nginx/trolley", os.path.join(workdir, "cache"))):
            assert old in text, old
            text = text.replace(old, new)
        site = os.path.join(workdir, "trolley-cache.conf")
        with open(site, "w") as f:
            f.write(text)
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            # The workers read the cache under the test's private folder: as root, they
            # stay root rather than becoming nobody.
            f.write(("user root;\n" if os.geteuid() == 0 else "") + """
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format cache '$upstream_cache_status $request_uri';
    access_log {d}/access.log cache;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    include {site};
}}
""".format(d=workdir, site=site))
        self._spawn(["nginx", "-c", conf, "-p", workdir], os.path.join(workdir, "nginx.out"))
        self._wait_port(self.port, "nginx", workdir)
        self.url = "http://127.0.0.1:%d" % self.port

    def statuses(self):
        """[(cache status, URI)] of the requests nginx served so far."""
        with open(os.path.join(self.workdir, "access.log")) as f:
            return [tuple(l.rstrip("\n").split(" ", 1)) for l in f if l.strip()]


@pytest.fixture
def cache_nginx(tmp_path, proxy):
    d = tmp_path / "nginx"
    d.mkdir()
    n = CacheNginx(str(d), "127.0.0.1:%d" % proxy.port)
    yield n
    n.stop()


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


@pytest.mark.parametrize("options", ["", "prefetch=none"])
def test_three_mounts_behind_the_shared_cache_pull_the_study_once(cache_nginx, proxy, mount,
                                                                   data, tmp_path, options):
    """The default (a series read ahead as one WADO-RS series retrieve once a file of it is
    opened) and one request per instance: either way no URL reaches the archive twice."""
    tree = naming.patients_tree(data["manifest"])
    prefix = "/".join(STUDY) + "/"
    want = {rel[len(prefix):]: sop for sop, rel in tree.items() if rel.startswith(prefix)}
    assert len(want) == 100
    searches = []
    for i in range(3):
        m = mount(cache_nginx.url + "/dicom-web", options=options, name="node%d" % i)
        out = tmp_path / ("export%d" % i)
        subprocess.run(["cp", "-r", m.path("patients", *STUDY), str(out)], check=True,
                       timeout=120)
        for rel, sop in want.items():
            assert _md5(out / rel) == data["by_sop"][sop]["md5"], rel
        searches.append(len([p for p in proxy.paths() if SEARCH.search(p)]))

    transfers = collections.Counter(p for p in proxy.paths() if not SEARCH.search(p))
    assert transfers, proxy.paths()
    twice = {p: n for p, n in transfers.items() if n > 1}
    assert not twice, "the archive was asked more than once for %s" % twice
    # Every instance of the study came from the archive exactly once, whichever URLs
    # (instance, series or study retrieves) carried it.
    assert any("/series/" in p or "/instances/" in p for p in transfers)
    # Searches are not cached: every mount's reached the archive.
    assert 0 < searches[0] < searches[1] < searches[2], searches
    served = cache_nginx.statuses()
    hits = [u for s, u in served if s == "HIT"]
    # Mounts 2 and 3 were answered from nginx's cache (with read-ahead on, which URLs carry
    # the study may differ a little from mount to mount: each such URL is still asked once).
    assert len(hits) >= len(transfers), served
    if options == "prefetch=none":
        assert len(hits) == 2 * len(transfers), served
    if options == "prefetch=none":
        # One request per instance: the archive sent each of the study's 100 exactly once.
        assert len([p for p in transfers if "/instances/" in p]) == 100
    kinds = collections.Counter("metadata" if p.endswith("/metadata") else
                                "instance" if "/instances/" in p else "series"
                                for p in transfers)
    print("archive: %d transfers (each once: %s), %d searches; nginx: %d hits"
          % (len(transfers), dict(kinds), searches[-1], len(hits)))


def test_a_reply_is_shared_only_with_the_same_credentials(cache_nginx, proxy):
    """Authorization is part of the key: a reply cached for one user is never served to a
    request with other (or no) credentials; those reach the archive, which decides."""
    import urllib.request

    e = next(x for x in naming_entries(proxy))
    url = cache_nginx.url + "/dicom-web/studies/%s/series/%s/metadata" % e

    def get(auth):
        req = urllib.request.Request(url, headers={"Accept": "application/dicom+json"})
        if auth:
            req.add_header("Authorization", auth)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    first = get("Basic YTpi")
    assert get("Basic YTpi") == first
    assert proxy.count("/metadata") == 1  # the second came from the cache
    get("Basic Yzpk")
    get(None)
    assert proxy.count("/metadata") == 3
    assert [r.get("accept") for r in proxy.log()] == ["application/dicom+json"] * 3


def naming_entries(proxy):
    """(study, series) UIDs of a series in the archive, asked of it directly."""
    import json
    import urllib.request
    with urllib.request.urlopen(proxy.upstream_url + "/dicom-web/series?limit=1",
                                timeout=30) as r:
        s = json.load(r)[0]
    yield (s["0020000D"]["Value"][0], s["0020000E"]["Value"][0])
