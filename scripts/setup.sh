#!/usr/bin/env bash
# Installs everything the build and the tests need: Debian packages, a Python venv with the
# official yandexcloud SDK, and the official Node.js SDK. Idempotent; fast when nothing is missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsqlite3-dev libsodium-dev libzstd-dev libxxhash-dev libssl-dev libcurl4-openssl-dev libxml2-dev libre2-dev
  libyaml-cpp-dev libboost1.74-dev libcpp-httplib-dev libcli11-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libfuzzer-14-dev
  redis-server redis-tools postgresql-15 libpq-dev libmongoc-dev
  prometheus-cpp-dev prometheus
  chromium chromium-driver
  curl
)
# Versions pinned for reproducible API tests.
PIP_PACKAGES=(yandexcloud==0.413.0 googleapis-common-protos==1.76.0 grpcio==1.85.1
              protobuf==6.33.6 pytest==9.2.0 requests==2.34.2 pymongo==4.10.1
              selenium==4.38.0 openapi-spec-validator==0.7.2)
# selenium 4.52 needs a certifi newer than the PyPI mirror here has; 4.38 drives Chromium 156.
NODE_SDK="@yandex-cloud/nodejs-sdk@3.2.0"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and Python come with the machine; Debian's packages are the fallback.
command -v node >/dev/null || missing+=(nodejs npm)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
# The OpenSearch test peer is a Java 17 program built with Maven.
command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp="$CACHE/.pip-$(echo "${PIP_PACKAGES[*]}" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "python venv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  touch "$stamp"
fi

if [ ! -f "$NODE_DIR/node_modules/@yandex-cloud/nodejs-sdk/package.json" ] ||
   ! grep -q '"version": "3.2.0"' "$NODE_DIR/node_modules/@yandex-cloud/nodejs-sdk/package.json"; then
  log "npm install $NODE_SDK in $NODE_DIR"
  mkdir -p "$NODE_DIR"
  # The SDK declares node >=22.15 but works on Debian's node; install the exact version anyway.
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund --engine-strict=false "$NODE_SDK" >/dev/null 2>&1 ||
   npm install --no-audit --no-fund "$NODE_SDK")
fi
