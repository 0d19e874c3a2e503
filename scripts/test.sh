#!/usr/bin/env bash
# Installs, builds and runs every test: format check, unit tests (ctest), then the live API tests
# through the official Node.js and Python SDKs and plain HTTP against a real mdb-backupd.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"

log "clang-format check"
(cd "$ROOT" && find src bench tests -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror)

log "S3 peers: versitygw (plain and TLS with a private CA) and MinIO on 127.0.0.1"
PEERS="$(mktemp -d /tmp/mdb-peers.XXXXXX)"
source "$ROOT/scripts/peers/versitygw.sh"
source "$ROOT/scripts/peers/minio.sh"
stop_s3_peers() {
  versitygw_stop "$PEERS/versitygw" >/dev/null 2>&1 || true
  versitygw_stop "$PEERS/versitygw-tls" >/dev/null 2>&1 || true
  minio_stop "$PEERS/minio" >/dev/null 2>&1 || true
  rm -rf "$PEERS"
}
trap stop_s3_peers EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
versitygw_start "$PEERS/versitygw" "${MDB_S3_PORT:-$(free_port)}"
versitygw_start "$PEERS/versitygw-tls" "$(free_port)" tls
minio_start "$PEERS/minio" "$(free_port)"
export MDB_S3_REQUIRED=1 MDB_MINIO_REQUIRED=1  # S3 tests must run here, never skip

log "test peers: FerretDB (MongoDB wire protocol) and OpenSearch, built once into the cache"
bash "$ROOT/scripts/peers/ferretdb.sh" install
bash "$ROOT/scripts/peers/opensearch.sh" install

log "unit tests (S3 driver against versitygw and MinIO)"
(cd "$BUILD" && ctest --output-on-failure -j2 -L unit)

log "alert rules: promtool check, and promtool test on synthetic series"
promtool check rules "$ROOT/deploy/prometheus/mdb-backup-alerts.yml"
(cd "$ROOT/tests/monitoring" && promtool test rules alerts_test.yml)

log "fuzz targets of the parsers of source data (ASan + UBSan, about eight seconds each)"
bash "$ROOT/scripts/fuzz.sh"

export MDB_BUILD="$BUILD" MDB_NODE_MODULES="$NODE_DIR/node_modules"
log "live API tests: Node.js SDK"
node --test "$ROOT/tests/api/node/"

log "live tests: API via SDKs and REST; repository crash and damage tests (posix, S3); disaster recovery on S3; Redis, Greenplum, MongoDB, OpenSearch engines; the web console in headless Chromium"
cd "$ROOT/tests" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider api repo dr hostile redis greenplum mongodb opensearch console
