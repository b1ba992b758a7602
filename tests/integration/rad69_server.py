"""A small IHE RAD-69 server for the tests, in the wire format of the captured Vitrea replies
(../shared/fixtures/dicomtrolley/FIXTURES.md): a SOAP 1.2 RetrieveImagingDocumentSetRequest
in, a multipart/related MTOM reply out (boundary ----=_Part_1_..., an application/xop+xml SOAP
part listing each DocumentResponse with its xop:Include cid, then one application/dicom part
per document). Documents in `missing` are reported as RegistryError XDSMissingDocument (partial
success); if every requested document is missing, the reply is the plain SOAP error. The bytes
are the generated files: the same truth as every other protocol."""
import xml.etree.ElementTree as ET

from servers import LoopbackHTTP

NS = {"iherad": "urn:ihe:rad:xdsi-b:2009", "ihe": "urn:ihe:iti:xds-b:2007"}

SOAP_HEAD = ('<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
             'xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header>'
             '<a:Action xmlns:a="http://www.w3.org/2005/08/addressing" '
             'env:mustUnderstand="true">urn:ihe:iti:2007:RetrieveDocumentSetResponse</a:Action>'
             '</env:Header><env:Body><RetrieveDocumentSetResponse '
             'xmlns="urn:ihe:iti:xds-b:2007" '
             'xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0">')
STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"


def registry_errors(missing):
    if not missing:
        return ""
    return "<rs:RegistryErrorList>%s</rs:RegistryErrorList>" % "".join(
        '<rs:RegistryError codeContext="Unable to locate SOP from MINT." '
        'errorCode="XDSMissingDocument" location="%s" '
        'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>' % uid
        for uid in missing)


class Rad69Server(LoopbackHTTP):
    def __init__(self, manifest):
        self.by_sop = {e["SOPInstanceUID"]: e for e in manifest}
        self.missing = set()
        self.error_code = None  # e.g. "UnknownError": every request fails with it
        self.error_context = "Internal failure."  # its codeContext (XML-escaped by the test)
        self.requests = []  # the DocumentUniqueIds of each POST
        self._serve("/rad69")

    def handle_post(self, h):
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if not h.headers.get("Content-Type", "").startswith("application/soap+xml"):
            return self.reply(h, 415, "text/plain", b"expected application/soap+xml")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return self.reply(h, 400, "text/plain", b"not XML")
        docs = [d.text for d in root.iter("{urn:ihe:iti:xds-b:2007}DocumentUniqueId")]
        self.requests.append(docs)
        if self.error_code:
            soap = (SOAP_HEAD + '<rs:RegistryResponse status="%sFailure"><rs:RegistryErrorList>'
                    '<rs:RegistryError codeContext="%s" errorCode="%s" '
                    'location="%s" severity="urn:oasis:names:tc:ebxml-regrep:'
                    'ErrorSeverityType:Error"/></rs:RegistryErrorList></rs:RegistryResponse>'
                    '</RetrieveDocumentSetResponse></env:Body></env:Envelope>'
                    % (STATUS, self.error_context, self.error_code, docs[0] if docs else ""))
            return self.reply(h, 200, "application/soap+xml; charset=utf-8", soap.encode())
        missing = [d for d in docs if d in self.missing or d not in self.by_sop]
        found = [d for d in docs if d not in missing]
        if not found:
            soap = (SOAP_HEAD + '<rs:RegistryResponse status="%sFailure">%s</rs:RegistryResponse>'
                    '</RetrieveDocumentSetResponse></env:Body></env:Envelope>'
                    % (STATUS, registry_errors(missing)))
            return self.reply(h, 200, "application/soap+xml; charset=utf-8", soap.encode())
        status = "PartialSuccess" if missing else "Success"
        soap = [SOAP_HEAD, '<rs:RegistryResponse status="%s%s">%s</rs:RegistryResponse>'
                % (STATUS, status, registry_errors(missing))]
        for i, uid in enumerate(found):
            soap.append('<DocumentResponse><RepositoryUniqueId>1.3.6.1.4.1000'
                        '</RepositoryUniqueId><DocumentUniqueId>%s</DocumentUniqueId>'
                        '<mimeType>application/dicom</mimeType><Document>'
                        '<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
                        'href="cid:%d-doc@trolley.test"/></Document></DocumentResponse>'
                        % (uid, i))
        soap.append("</RetrieveDocumentSetResponse></env:Body></env:Envelope>")
        boundary = "----=_Part_1_123456.7890"
        out = [b"--" + boundary.encode() + b"\r\n",
               b'Content-Type: application/xop+xml; charset=utf-8; '
               b'type="application/soap+xml"\r\nContent-Transfer-Encoding: binary\r\n'
               b"Content-ID: <root.message@trolley.test>\r\n\r\n", "".join(soap).encode()]
        for i, uid in enumerate(found):
            with open(self.by_sop[uid]["path"], "rb") as f:
                data = f.read()
            out += [b"\r\n--" + boundary.encode() + b"\r\n",
                    b"Content-Type: application/dicom\r\nContent-Transfer-Encoding: binary\r\n"
                    b"Content-ID: <%d-doc@trolley.test>\r\n\r\n" % i, data]
        out.append(b"\r\n--" + boundary.encode() + b"--\r\n")
        ctype = ('multipart/related; type="application/xop+xml"; boundary="%s"; '
                 'start="<root.message@trolley.test>"; start-info="application/soap+xml"'
                 % boundary)
        self.reply(h, 200, ctype, b"".join(out))
