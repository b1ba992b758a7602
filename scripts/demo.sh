#!/usr/bin/env bash
# The demo: install, build, start a loopback Orthanc + DICOMweb loaded with generated studies,
# mount it with mount.trolley and show the tree.
#   bash scripts/demo.sh          set up, mount on $DEMO/mnt, show, and leave it running
#   bash scripts/demo.sh --once   the same, then clean up
#   bash scripts/demo.sh stop     unmount and stop the Orthanc this script started
#   --dicom (with either of the first two): mount Orthanc's DICOM port instead, with
#           dicom://ORTHANC@127.0.0.1:PORT (C-FIND to search, C-GET to download)
# DEMO is $TROLLEY_DEMO_DIR, default /tmp/trolley-demo; the mountpoint is $DEMO/mnt.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO=${TROLLEY_DEMO_DIR:-/tmp/trolley-demo}
MNT=$DEMO/mnt
MODE=
PROTOCOL=dicomweb
for arg in "$@"; do
  case "$arg" in
    --once|stop) MODE=$arg ;;
    --dicom) PROTOCOL=dicom ;;
    *) echo "usage: $0 [--once|stop] [--dicom]" >&2; exit 2 ;;
  esac
done

is_mounted() {  # is_mounted DIR: a mount point in our mount namespace?
  /usr/bin/python3 - "$1" <<'PY'
import os, re, sys
want = os.fsencode(os.path.realpath(sys.argv[1]))
with open("/proc/self/mountinfo", "rb") as f:
    for line in f:
        point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), line.split()[4])
        if point == want:
            sys.exit(0)
sys.exit(1)
PY
}

stop() {
  if is_mounted "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
  fi
  if [ -f "$DEMO/orthanc.pid" ]; then
    pid=$(cat "$DEMO/orthanc.pid")
    # Only the Orthanc this script started: the PID must still run our config file.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DEMO/orthanc.json"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DEMO/orthanc.pid"
  fi
  echo "demo stopped"
}

if [ "$MODE" = stop ]; then stop; exit 0; fi
# A demo left running from before: stop it first, so ports and folders are ours again.
if [ -f "$DEMO/orthanc.pid" ] || is_mounted "$MNT"; then stop >/dev/null; fi

echo "== installing packages (skipped when present) and building"
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null || { ninja -C build; exit 1; }  # again, to show the errors

mkdir -p "$DEMO" "$MNT"
# On any failure from here on, leave nothing running.
trap 'echo "demo failed; cleaning up" >&2; stop >&2' ERR

port() {  # a free TCP port on 127.0.0.1
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
HTTP=$(port)
DICOM=$(port)
rm -rf "$DEMO/db" "$DEMO/cache" "$DEMO/dataset"
cat >"$DEMO/orthanc.json" <<JSON
{"Name": "trolley-demo", "StorageDirectory": "$DEMO/db", "IndexDirectory": "$DEMO/db",
 "HttpPort": $HTTP, "DicomPort": $DICOM, "DicomAet": "ORTHANC",
 "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "DefaultEncoding": "Utf8",
 "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
 "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado"},
 "DicomModalities": {"trolley": ["TROLLEY", "127.0.0.1", 4243]},
 "DicomAlwaysAllowFind": true, "DicomAlwaysAllowGet": true, "DicomCheckCalledAet": false}
JSON
echo "== starting Orthanc + DICOMweb on 127.0.0.1:$HTTP (log: $DEMO/orthanc.log)"
Orthanc "$DEMO/orthanc.json" >"$DEMO/orthanc.log" 2>&1 &
echo $! >"$DEMO/orthanc.pid"
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$HTTP/system" >/dev/null && break
  kill -0 "$(cat "$DEMO/orthanc.pid")" 2>/dev/null || { cat "$DEMO/orthanc.log"; false; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP/system" >/dev/null

echo "== generating and uploading the sample studies"
/usr/bin/python3 - "$REPO/tests/integration" "$DEMO/dataset" "http://127.0.0.1:$HTTP" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
import dataset
manifest = dataset.generate(sys.argv[2])

def post(entry):
    with open(entry["path"], "rb") as f:
        req = urllib.request.Request(sys.argv[3] + "/instances", data=f.read(), method="POST")
    urllib.request.urlopen(req, timeout=30).read()

with ThreadPoolExecutor(8) as pool:
    list(pool.map(post, manifest))
print("%d files, %d patients, %d studies uploaded" % (
    len(manifest), len({e["PatientID"] + e["PatientName"] for e in manifest}),
    len({e["StudyInstanceUID"] for e in manifest})))
PY

SOURCE=http://127.0.0.1:$HTTP/dicom-web
[ "$PROTOCOL" = dicom ] && SOURCE=dicom://ORTHANC@127.0.0.1:$DICOM
echo "== build/mount.trolley $SOURCE $MNT -o cache_dir=$DEMO/cache"
build/mount.trolley "$SOURCE" "$MNT" -o cache_dir="$DEMO/cache"
is_mounted "$MNT"

echo "== find $MNT/patients -maxdepth 3"
find "$MNT/patients" -maxdepth 3 | sort
SERIES=$(find "$MNT/patients" -mindepth 3 -maxdepth 3 -type d | sort | head -1)
echo "== ls -l \"$SERIES\" | head"
{ ls -l "$SERIES" || true; } | head
FILE=$(find "$SERIES" -name '*.dcm' | sort | head -1)
echo "== dcmdump \"$FILE\" | head -25"
{ dcmdump "$FILE" || true; } | head -25
echo "== cat $MNT/.trolley/status"
cat "$MNT/.trolley/status"
trap - ERR

if [ "$MODE" = --once ]; then
  stop
else
  echo
  echo "mounted on $MNT (Orthanc at http://127.0.0.1:$HTTP, PID $(cat "$DEMO/orthanc.pid"))"
  echo "stop it with: bash scripts/demo.sh stop"
fi
