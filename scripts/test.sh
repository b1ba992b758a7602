#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): install what is needed, build three times (a
# -Werror build, an AddressSanitizer + UBSan build, a ThreadSanitizer build), run the C unit
# tests of each with meson test, fuzz the parsers (scripts/fuzz.sh, about 20 s per harness),
# then the pytest integration suite against a real Orthanc.
# Also builds the Debian package (debian/) for tests/integration/test_package.py.
# Ends with pytest's summary line; exits non-zero if any part failed (pytest still runs when a
# build or unit test failed). Extra arguments go to pytest, e.g. `-k errors` or `-x`.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || { echo "deps: installation failed"; exit 1; }

status=0
logs=$(mktemp -d /tmp/trolley-build-logs.XXXXXX)
debs=$(mktemp -d /tmp/trolley-deb.XXXXXX)
trap 'rm -rf "$logs" "$debs"' EXIT

build() {  # build DIR [meson options...]
  local dir=$1 log=$logs/$(basename "$1").setup.log
  shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    # An existing build: apply the options again (they may have changed), and start over
    # if meson cannot reuse it (another meson version, a half-written folder).
    meson setup --reconfigure "$dir" "$@" >"$log" 2>&1 ||
      meson setup --wipe "$dir" "$@" >"$log" 2>&1
  else
    rm -rf "$dir"
    meson setup "$dir" "$@" >"$log" 2>&1
  fi || { cat "$log"; echo "meson setup $dir failed"; return 1; }
  ninja -C "$dir" || { echo "build of $dir failed"; return 1; }
}

echo "== build (warnings are errors)"
build build --werror || status=1
echo "== build with AddressSanitizer + UBSan"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false || status=1
echo "== build with ThreadSanitizer (for the unit tests: prefetch, committer, single-flight)"
build build-tsan -Db_sanitize=thread -Db_lundef=false || status=1

echo "== unit tests"
meson test -C build --print-errorlogs || status=1
echo "== unit tests under AddressSanitizer + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs || status=1

echo "== unit tests under ThreadSanitizer"
# A data race is reported and fails the suite (TSan's exit code 66). gcc 12's TSan runtime
# cannot map its shadow memory on kernels with high mmap randomisation ("FATAL:
# ThreadSanitizer: unexpected memory mapping"): run without address randomisation where
# setarch may, and if the runtime still cannot start, say so and go on without it.
tsan_run=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
  tsan_run=(setarch "$(uname -m)" -R)
fi
if [ -x build-tsan/tests/unit/test_names ] &&
  "${tsan_run[@]}" build-tsan/tests/unit/test_names 2>&1 | grep -q "FATAL: ThreadSanitizer"; then
  echo "ThreadSanitizer's runtime cannot start on this kernel: TSan unit tests skipped"
else
  TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/unit/tsan.supp" "${tsan_run[@]}" meson test -C build-tsan --print-errorlogs ||
    status=1
fi

echo "== fuzzing the parsers (libFuzzer + ASan + UBSan; a finding fails the run)"
bash scripts/fuzz.sh || status=1

echo "== Debian package (dpkg-buildpackage -b -us -uc, in a copy outside the source tree)"
# The copy keeps the tree clean (debian/.debhelper, obj-*, the .deb land beside the copy).
# nocheck: the unit tests ran three times above, and they read ../shared, not beside a copy.
# tests/integration/test_package.py installs TROLLEY_DEB, mounts it through mount(8) and
# removes it; lintian runs there too.
if rsync -a --exclude='/build*' --exclude=/.git --exclude=__pycache__ ./ "$debs/trolley/" &&
  (cd "$debs/trolley" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc) \
    >"$logs/deb.log" 2>&1; then
  export TROLLEY_DEB=$(ls "$debs"/trolley_*.deb)
  echo "built $(basename "$TROLLEY_DEB")"
else
  tail -30 "$logs/deb.log"
  echo "the Debian package did not build"
  status=1
fi

if [ $status -ne 0 ]; then
  echo "== a build, unit test or fuzzer failed above; the integration tests run anyway"
fi
echo "== integration tests (pytest, real Orthanc + DICOMweb on 127.0.0.1)"
# The daemon under test is the sanitized build: the fixtures fail a test whose daemon log
# holds a sanitizer report, so memory errors under real traffic are caught too.
# -p no:cacheprovider: no .pytest_cache written into the source tree.
TROLLEY_BIN=${TROLLEY_BIN:-$PWD/build-asan/mount.trolley} \
  /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/integration "$@"
rc=$?
# 5 is "no tests collected": a suite that tested nothing has not passed.
[ $rc -ne 0 ] && status=1
exit $status
