"""A small MINT server for the tests, replaying the wire format of the captured Vitrea replies
(../shared/fixtures/dicomtrolley/FIXTURES.md) from the generated dataset: the false 'UTF-3'
prolog, series before their study's attributes, lowercase hex tags, no val for an empty value.
patientName=ERROR500 answers the captured Jetty 500 page; patientName=HTML200 an HTML page with
status 200. With require_login, POST /login takes X-Userid/X-Password/X-Realm (alice, s3cret,
trolley) and sets a JSESSIONID cookie, which every search then needs (else the captured 401
page), as Vitrea does."""
import collections
import fnmatch
import os
import secrets
import urllib.parse
from xml.sax.saxutils import quoteattr

from servers import LoopbackHTTP

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                        "fixtures", "dicomtrolley")

STUDY_TAGS = [("00100010", "PN", "PatientName"), ("00100020", "LO", "PatientID"),
              ("0020000d", "UI", "StudyInstanceUID"), ("00080020", "DA", "StudyDate"),
              ("00080030", "TM", "StudyTime"), ("00081030", "LO", "StudyDescription"),
              ("00080050", "SH", "AccessionNumber")]
SERIES_TAGS = [("0020000e", "UI", "SeriesInstanceUID"), ("00200011", "IS", "SeriesNumber"),
               ("00080060", "CS", "Modality"), ("0008103e", "LO", "SeriesDescription")]
INSTANCE_TAGS = [("00080018", "UI", "SOPInstanceUID"), ("00200013", "IS", "InstanceNumber"),
                 ("00020010", "UI", "TransferSyntaxUID")]


def attrs(entry, tags):
    out = []
    for tag, vr, key in tags:
        value = entry.get(key, "")
        # An empty value comes without val, as Vitrea sends it.
        out.append('<attr tag="%s" vr="%s"%s />' % (
            tag, vr, " val=%s" % quoteattr(value) if value else ""))
    return "".join(out)


class MintServer(LoopbackHTTP):
    def __init__(self, manifest, require_login=False):
        self.manifest = manifest
        self.requests = []
        self.require_login = require_login
        self.sessions = set()
        self.logins = 0
        self._serve("/mint")

    def handle_post(self, h):
        """POST /login: the Vitrea login."""
        length = int(h.headers.get("Content-Length") or 0)
        h.rfile.read(length)
        if urllib.parse.urlsplit(h.path).path != "/login":
            return self.reply(h, 404, "text/plain", b"no such resource")
        self.logins += 1
        if (h.headers.get("X-Userid"), h.headers.get("X-Password"),
                h.headers.get("X-Realm")) != ("alice", "s3cret", "trolley"):
            return self.reply(h, 401, "text/plain", b"Login failed: bad username/password")
        session = secrets.token_hex(8)
        self.sessions.add(session)
        with open(os.path.join(FIXTURES, "vitrea_login_success.json"), "rb") as f:
            body = f.read()
        h.send_response(200)
        h.send_header("Set-Cookie", "JSESSIONID=%s; Path=/" % session)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def logged_in(self, h):
        cookie = h.headers.get("Cookie", "")
        return any(c.strip() == "JSESSIONID=" + s for c in cookie.split(";")
                   for s in self.sessions)

    def handle_get(self, h):
        url = urllib.parse.urlsplit(h.path)
        if self.require_login and not self.logged_in(h):
            self.requests.append({"refused": True})
            with open(os.path.join(FIXTURES, "mint_401.html"), "rb") as f:
                return self.reply(h, 401, "text/html", f.read())
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.requests.append(q)
        if url.path != "/mint/studies":
            return self.reply(h, 404, "text/plain", b"no such resource")
        if q.get("patientName") == "ERROR500":
            with open(os.path.join(FIXTURES, "mint_error_500.html"), "rb") as f:
                return self.reply(h, 500, "text/html", f.read())
        if q.get("patientName") == "HTML200":
            return self.reply(h, 200, "text/html", b"<html><body>Login</body></html>")
        self.reply(h, 200, "application/xml", self.search(q).encode())

    def matches(self, e, q):
        def like(field, value):
            return fnmatch.fnmatchcase(e[field].upper(), value.upper())

        checks = [("patientName", "PatientName"), ("patientID", "PatientID"),
                  ("accessionNumber", "AccessionNumber"),
                  ("studyInstanceUID", "StudyInstanceUID"),
                  ("studyDescription", "StudyDescription"), ("modalitiesInStudy", "Modality")]
        for param, field in checks:
            if param in q and not like(field, q[param]):
                return False
        if "minStudyDate" in q and not q["minStudyDate"] <= e["StudyDate"] <= q["maxStudyDate"]:
            return False
        return True

    def search(self, q):
        level = q.get("queryLevel", "STUDY")
        studies = collections.OrderedDict()
        for e in self.manifest:
            studies.setdefault(e["StudyInstanceUID"], []).append(e)
        if "modalitiesInStudy" in q:
            keep = {e["StudyInstanceUID"] for e in self.manifest if self.matches(e, q)}
        else:
            keep = {uid for uid, es in studies.items() if self.matches(es[0], q)}
        out = ["<?xml version='1.0' encoding='UTF-3'?><studySearchResults "
               'xmlns="http://medical.nema.org/mint" query_level="%s">' % level]
        count = 0
        for uid, entries in studies.items():
            if uid not in keep or (q.get("limit") and count >= int(q["limit"])):
                continue
            count += 1
            out.append('<study studyUUID="u-%d" version="1" lastModified="2021-03-09">' % count)
            if level in ("SERIES", "INSTANCE"):
                series = collections.OrderedDict()
                for e in entries:
                    series.setdefault(e["SeriesInstanceUID"], []).append(e)
                for s_entries in series.values():
                    out.append("<series>")
                    if level == "INSTANCE":
                        for e in s_entries:
                            out.append("<instance>%s</instance>" % attrs(e, INSTANCE_TAGS))
                    out.append(attrs(s_entries[0], SERIES_TAGS) + "</series>")
            # The study's own attributes after its series, as in the captured replies.
            out.append(attrs(entries[0], STUDY_TAGS) + "</study>")
        out.append("</studySearchResults>")
        return "".join(out)
