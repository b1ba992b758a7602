#!/usr/bin/env bash
# Install the Debian 12 packages trolley needs to build, test and run its demo.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -euo pipefail

PACKAGES=(
  meson ninja-build pkg-config gcc g++ clang-format
  libfuse3-dev fuse3 libcurl4-openssl-dev libcjson-dev liblmdb-dev libcmocka-dev libxml2-dev
  libdcmtk-dev dcmtk libsndfile1-dev libtiff-dev libssl-dev zlib1g-dev
  orthanc orthanc-dicomweb
  libpixelmed-java default-jre-headless iproute2 util-linux
  python3-pytest python3-pydicom python3-numpy
  attr curl rsync nginx-light openssl man-db
  clang libclang-rt-14-dev
  debhelper dpkg-dev fakeroot lintian systemd dicom3tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The orthanc package tries to start its own service; without systemd that fails harmlessly.
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
