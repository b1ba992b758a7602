#!/usr/bin/env bash
# Fuzz the parsers that read what an archive (or a user) sends: each libFuzzer harness in
# tests/fuzz/ is built with clang (-fsanitize=fuzzer,address,undefined) straight from the
# sources it needs, into build-fuzz/, and run for FUZZ_TIME seconds (default 20) on a copy of
# its committed seed corpus (tests/fuzz/corpus/<name>/; new inputs stay in build-fuzz/).
# Any finding (crash, sanitizer report, leak, timeout, out of memory) fails the run and its
# input is printed in base64. Usage: scripts/fuzz.sh [NAME...]   (default: every harness)
set -uo pipefail
cd "$(dirname "$0")/.."

TIME=${FUZZ_TIME:-20}
OUT=build-fuzz
CORE="core/log.c core/url.c core/errors.c core/attrs.c core/tags.c core/query.c core/buf.c core/part10.c core/slots.c core/pushback.c core/cancel.c core/json_check.c"
HTTP="protocols/http.c protocols/secrets.c"
# tree.c and lookup.c call the cache for tree_list(), which the names harness never reaches;
# media.c calls the DICOMDIR builder (media/), which calls the DICOMDIR shim (C++, dcmtk),
# linked for the same reason.
CACHE=$(echo cache/*.c)
# layout.c asks the protocol registry what each searcher returns: every protocol, with the
# DIMSE shim (C++, dcmtk/), comes with it.
PROTOCOLS=$(echo protocols/*.c)
DIMSE="dcmtk/dimse.cc dcmtk/dimse_net.cc dcmtk/dimse_retrieve.cc dcmtk/dimse_scp.cc"

# Harness name -> the sources it links (besides tests/fuzz/fuzz_<name>.c), and the pkg-config
# packages of those that need any. A new harness is one line in SOURCES (and one in PACKAGES if
# it needs libraries).
declare -A SOURCES=(
  [multipart]="protocols/multipart.c $CORE"
  [dicom_json]="protocols/dicom_json.c $CORE"
  [json_check]="core/json_check.c"
  [mint]="protocols/mint.c $HTTP $CORE"
  [rad69]="protocols/multipart.c $HTTP $CORE"
  [part10]="$CORE"
  [search]="fs/search.c $CORE"
  [url]="$HTTP $CORE"
  [names]="fs/names.c fs/layout.c fs/tree.c fs/lookup.c fs/search.c fs/media.c fs/view.c $(echo deid/*.c) $CORE $CACHE media/fileset.c $PROTOCOLS"
  [deid]="$(echo deid/*.c) $CORE"
)
# Harness name -> C++ sources it links (compiled on their own with clang++), with dcmtk.
declare -A CXX_SOURCES=(
  [names]="dcmtk/dicomdir.cc $DIMSE"
)
declare -A PACKAGES=(
  [dicom_json]="libcjson"
  [json_check]="libcjson"
  [mint]="libxml-2.0 libcurl"
  [rad69]="libxml-2.0 libcurl"
  [names]="lmdb dcmtk libcrypto libcjson libcurl libxml-2.0"
  [url]="libcurl"
  [deid]="libcrypto libcjson"
)
mapfile -t ORDER < <(printf '%s\n' "${!SOURCES[@]}" | sort)

# The version is meson's project version (meson.build passes it as TROLLEY_VERSION).
VERSION=$(sed -n "s/^ *version : '\(.*\)',$/\1/p" meson.build | head -n 1)
CFLAGS=(-g -O1 -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=312 -DTROLLEY_VERSION=\"$VERSION\" -I.
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${ORDER[@]}")
mkdir -p "$OUT/artifacts"
status=0
for name in "${names[@]}"; do
  if [ -z "${SOURCES[$name]+set}" ]; then
    echo "fuzz: no harness called $name"
    status=1
    continue
  fi
  bin=$OUT/fuzz_$name
  objects=()
  cxx_ok=true
  : >"$OUT/$name.build.log"
  # The C++ shims are built without UBSan's vptr and function checks: their runtime is C++
  # (libubsan's ubsan_cxx), which clang does not link into a program linked as C (the DIMSE
  # shim's callbacks through function pointers need the function check's).
  for src in ${CXX_SOURCES[$name]:-}; do
    obj=$OUT/$name-$(basename "$src" .cc).o
    objects+=("$obj")
    # shellcheck disable=SC2046 # pkg-config's flags are words
    clang++ -g -O1 -std=c++17 -D_GNU_SOURCE -I. -fsanitize=fuzzer-no-link,address,undefined \
      -fno-sanitize=vptr,function -fno-sanitize-recover=all -fno-omit-frame-pointer \
      $(pkg-config --cflags dcmtk) \
      -c -o "$obj" "$src" >>"$OUT/$name.build.log" 2>&1 || cxx_ok=false
  done
  # shellcheck disable=SC2086 # the lists are words on purpose
  if ! $cxx_ok || ! clang "${CFLAGS[@]}" -o "$bin" "tests/fuzz/fuzz_$name.c" ${SOURCES[$name]} \
    "${objects[@]}" $( [ -n "${PACKAGES[$name]:-}" ] && pkg-config --cflags --libs ${PACKAGES[$name]}) \
    -lz -lpthread $( [ ${#objects[@]} -gt 0 ] && echo -lstdc++) >"$OUT/$name.build.log" 2>&1; then
    cat "$OUT/$name.build.log"
    echo "fuzz: $name: build failed"
    status=1
    continue
  fi
  corpus=$OUT/corpus/$name
  rm -rf "$corpus" "$OUT/artifacts/$name-"*
  mkdir -p "$corpus"
  [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus"/
  # -close_fd_mask=3: the parsers' own log lines would drown the report (libFuzzer and the
  # sanitizers still print theirs).
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" "$corpus" \
    >"$OUT/$name.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$name.log" | grep -o '[0-9]*$')
  if [ $rc -ne 0 ]; then
    tail -n 60 "$OUT/$name.log"
    for a in "$OUT/artifacts/$name-"*; do
      [ -f "$a" ] || continue
      echo "fuzz: $name: input $a (base64; reproduce with $bin FILE):"
      base64 -w 76 "$a"
    done
    echo "fuzz: $name: FAILED (exit $rc) after ${runs:-?} runs"
    status=1
  else
    echo "fuzz: $name: ok, ${runs:-?} runs in ${TIME}s"
  fi
done
exit $status
