#!/usr/bin/env bash
# Second S3 test peer: MinIO, the S3 server most self-hosted repositories run on. Built from the
# Go module proxy at a pinned pseudo-version (no release tags are semver) into the project cache,
# once per machine (about 4 minutes). Run it, or source it and call minio_start / minio_stop:
#   scripts/peers/minio.sh start DIR [PORT]   # prints the env for the tests
#   scripts/peers/minio.sh stop DIR
# Sourcing and starting exports MDB_MINIO_ENDPOINT, MDB_MINIO_VHOST_ENDPOINT, MDB_MINIO_BUCKET,
# MDB_MINIO_ACCESS_KEY, MDB_MINIO_SECRET_KEY and MDB_MINIO_KMS_KEY (the name of the built-in KMS
# key that SSE-S3 and SSE-KMS use). Virtual-host addressing: MINIO_DOMAIN=localhost.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"  # master after RELEASE.2025-10-15 (test-peers.md)

_minio_log() { printf 'minio: %s\n' "$*" >&2; }

_minio_bin() { echo "${MDB_CACHE:-$HOME/.cache/mdb-backup}/bin/minio"; }

minio_install() { peer_go_install minio "$MINIO_MODULE" "$MINIO_VERSION" "$MINIO_MODULE" "$(_minio_bin)"; }

minio_start() {
  local dir="${1:?usage: minio_start DIR [PORT]}" port="${2:-9000}"
  local access="minio-test" secret="minio-test-secret" bucket="mdb-test"
  local url="http://127.0.0.1:$port" kms_key="mdb-test-key"
  local empty_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  minio_install || return 1
  mkdir -p "$dir/data" || return 1
  dir="$(cd "$dir" && pwd)"
  if peer_alive "$dir"; then
    _minio_log "already running in $dir (pid $(cat "$dir/pid"))"
  else
    if curl -s -o /dev/null --max-time 2 "$url/"; then
      _minio_log "port $port already answers; stop whatever listens there or pick another port"
      return 1
    fi
    # A fixed test key for the built-in KMS, so that SSE-S3 and SSE-KMS work without a KES server.
    MINIO_ROOT_USER="$access" MINIO_ROOT_PASSWORD="$secret" MINIO_UPDATE=off MINIO_CI_CD=1 \
      MINIO_BROWSER=off MINIO_DOMAIN=localhost \
      MINIO_KMS_SECRET_KEY="$kms_key:$(printf 'mdb-backup minio test kms key!!!' | base64)" \
      nohup "$(_minio_bin)" server "$dir/data" --address "127.0.0.1:$port" \
      --console-address "127.0.0.1:0" >"$dir/minio.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    local i
    for ((i = 0; i < 300; i++)); do  # up to 60 s
      if ! peer_alive "$dir"; then
        _minio_log "exited during startup; last lines of $dir/minio.log:"
        tail -n 20 "$dir/minio.log" >&2
        rm -f "$dir/pid"
        return 1
      fi
      # ready, not live: live answers before the object layer is up, and a bucket created in
      # between was refused with 503 XMinioServerNotInitialized (a fresh CI machine).
      curl -fs -o /dev/null --max-time 2 "$url/minio/health/ready" && break
      sleep 0.2
    done
    if ((i == 300)); then
      _minio_log "no answer on $url after 60 s; see $dir/minio.log"
      minio_stop "$dir"
      return 1
    fi
  fi
  local code try
  for ((try = 0; try < 150; try++)); do  # 503 while it still initializes: up to 30 s more
    code="$(curl -s -o "$dir/create-bucket.out" -w '%{http_code}' --max-time 10 -X PUT \
      --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
      -H "x-amz-content-sha256: $empty_sha256" "$url/$bucket")"
    [ "$code" = 503 ] || break
    sleep 0.2
  done
  if [ "$code" != 200 ] && [ "$code" != 409 ]; then
    _minio_log "creating bucket '$bucket' failed (HTTP $code): $(cat "$dir/create-bucket.out")"
    return 1
  fi
  export MDB_MINIO_ENDPOINT="$url" MDB_MINIO_VHOST_ENDPOINT="http://localhost:$port"
  export MDB_MINIO_BUCKET="$bucket" MDB_MINIO_ACCESS_KEY="$access" MDB_MINIO_SECRET_KEY="$secret"
  export MDB_MINIO_KMS_KEY="$kms_key"
  _minio_log "serving $url (pid $(cat "$dir/pid"), bucket '$bucket', log $dir/minio.log)"
  _minio_log "for the tests: export MDB_MINIO_ENDPOINT=$url MDB_MINIO_VHOST_ENDPOINT=http://localhost:$port" \
    "MDB_MINIO_BUCKET=$bucket MDB_MINIO_ACCESS_KEY=$access MDB_MINIO_SECRET_KEY=$secret" \
    "MDB_MINIO_KMS_KEY=$kms_key"
}

minio_stop() { peer_stop minio "${1:?usage: minio_stop DIR}" 10; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  peer_main minio "start DIR [PORT] | stop DIR | install" "$@"
fi
