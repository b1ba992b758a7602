#!/usr/bin/env bash
# The demo: install, build, start a loopback Orthanc + DICOMweb loaded with generated studies,
# mount it with mount.trolley and show the tree.
#   bash scripts/demo.sh          set up, mount on $DEMO/mnt, show, and leave it running
#   bash scripts/demo.sh --once   the same, then clean up
#   bash scripts/demo.sh stop     unmount and stop the Orthanc this script started
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO=${TROLLEY_DEMO_DIR:-/tmp/trolley-demo}
MNT=$DEMO/mnt

stop() {
  if grep -qs " $MNT fuse" /proc/mounts; then fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"; fi
  if [ -f "$DEMO/orthanc.pid" ]; then
    pid=$(cat "$DEMO/orthanc.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DEMO/orthanc.pid"
  fi
  echo "demo stopped"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
[ -f "$DEMO/orthanc.pid" ] && stop

bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

mkdir -p "$DEMO" "$MNT"
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(port); DICOM=$(port)
rm -rf "$DEMO/db" "$DEMO/cache"
cat >"$DEMO/orthanc.json" <<JSON
{"Name": "trolley-demo", "StorageDirectory": "$DEMO/db", "IndexDirectory": "$DEMO/db",
 "HttpPort": $HTTP, "DicomPort": $DICOM, "RemoteAccessAllowed": false,
 "AuthenticationEnabled": false, "DefaultEncoding": "Utf8",
 "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
 "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "WadoRoot": "/wado"}}
JSON
Orthanc "$DEMO/orthanc.json" >"$DEMO/orthanc.log" 2>&1 &
echo $! >"$DEMO/orthanc.pid"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/system" >/dev/null && break; sleep 0.1; done

echo "== generating and uploading the sample studies"
/usr/bin/python3 "$REPO/tests/integration/dataset.py" "$DEMO/dataset"
for f in "$DEMO"/dataset/*.dcm; do
  curl -sf -X POST --data-binary @"$f" "http://127.0.0.1:$HTTP/instances" >/dev/null
done

SOURCE=http://127.0.0.1:$HTTP/dicom-web
echo "== mount.trolley $SOURCE $MNT"
build/mount.trolley "$SOURCE" "$MNT" -o cache_dir="$DEMO/cache"
echo "== the tree (find $MNT/patients -maxdepth 3)"
find "$MNT/patients" -maxdepth 3 | sed "s|$MNT/||"
SERIES=$(find "$MNT/patients" -mindepth 3 -maxdepth 3 -type d | sort | head -1)
echo "== ls -l \"$SERIES\" | head"
ls -l "$SERIES" | head || true
FILE=$(find "$SERIES" -name '*.dcm' | sort | head -1)
echo "== dcmdump \"$FILE\" | head"
dcmdump "$FILE" | head -20 || true
echo "== /.trolley/status"
cat "$MNT/.trolley/status"

if [ "${1:-}" = --once ]; then
  stop
else
  echo
  echo "mounted on $MNT (Orthanc at http://127.0.0.1:$HTTP); stop with: bash scripts/demo.sh stop"
fi
