#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): install what is needed, build twice (a -Werror
# build, and an AddressSanitizer + UBSan build whose unit tests catch memory errors), run the C
# unit tests of both with meson test, then the pytest integration suite against a real Orthanc.
# Ends with pytest's summary line. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || { echo "deps: installation failed"; exit 1; }

status=0
build() {  # build DIR [meson options...]
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1
  else
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
  fi || { cat "$dir.setup.log"; return 1; }
  ninja -C "$dir" || return 1
}

echo "== build (warnings are errors)"
build build --werror || status=1
echo "== build with AddressSanitizer + UBSan"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false || status=1

echo "== unit tests"
meson test -C build --print-errorlogs --suite unit || status=1
echo "== unit tests under AddressSanitizer + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --suite unit || status=1

echo "== integration tests (pytest, real Orthanc + DICOMweb on 127.0.0.1)"
# The daemon under test is the sanitized build: the fixtures fail a test whose daemon log
# holds a sanitizer report, so memory errors under real traffic are caught too.
TROLLEY_BIN=${TROLLEY_BIN:-$PWD/build-asan/mount.trolley} \
  /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/integration "$@"
rc=$?
[ $rc -ne 0 ] && status=1
exit $status
