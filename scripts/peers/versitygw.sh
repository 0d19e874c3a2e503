#!/usr/bin/env bash
# Test peer for the S3 driver: versitygw (a real S3 server over a plain directory), pinned and
# installed into the project cache. Run it, or source it and call versitygw_start / versitygw_stop:
#   scripts/peers/versitygw.sh start DIR [PORT] [tls]   # default port 7070; prints the env for the tests
#   scripts/peers/versitygw.sh stop DIR
# With "tls" it serves HTTPS with a certificate of its own test CA (made with openssl in DIR/tls)
# and exports MDB_S3_TLS_ENDPOINT and MDB_S3_CA_FILE instead, for the CA bundle option's tests.
# Sourcing and starting also exports MDB_S3_ENDPOINT, MDB_S3_VHOST_ENDPOINT, MDB_S3_BUCKET,
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Credentials default to testuser/secret, the bucket
# to mdb-test. Virtual-host addressing works through http://localhost:PORT (bucket.localhost,
# which curl resolves to the loopback address by itself).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSITYGW_MODULE="github.com/versity/versitygw"
VERSITYGW_VERSION="v1.7.0"

_vgw_log() { printf 'versitygw: %s\n' "$*" >&2; }

_vgw_bin() { echo "${MDB_CACHE:-$HOME/.cache/mdb-backup}/bin/versitygw"; }

versitygw_install() {
  peer_go_install versitygw "$VERSITYGW_MODULE" "$VERSITYGW_VERSION" "$VERSITYGW_MODULE/cmd/versitygw" "$(_vgw_bin)"
}


# A test CA and a certificate it signed for localhost and 127.0.0.1, in DIR/tls.
_vgw_make_tls() {
  local tls="$1/tls"
  mkdir -p "$tls"
  [ -f "$tls/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mdb-backup test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/san.ext" &&
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
      -CAcreateserial -days 2 -extfile "$tls/san.ext" -out "$tls/server.crt" 2>/dev/null
}

versitygw_start() {
  local dir="${1:?usage: versitygw_start DIR [PORT] [tls]}" port="${2:-7070}" tls="${3:-}"
  local access="${AWS_ACCESS_KEY_ID:-testuser}" secret="${AWS_SECRET_ACCESS_KEY:-secret}"
  local bucket="${MDB_S3_BUCKET:-mdb-test}" url="http://127.0.0.1:${2:-7070}"
  local empty_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  local -a tls_args=() curl_tls=()
  versitygw_install || return 1
  mkdir -p "$dir/iam" "$dir/meta" "$dir/data" || return 1
  dir="$(cd "$dir" && pwd)"
  if [ "$tls" = tls ]; then
    _vgw_make_tls "$dir" || { _vgw_log "openssl could not make the test certificates"; return 1; }
    url="https://localhost:$port"
    tls_args=(--cert "$dir/tls/server.crt" --key "$dir/tls/server.key")
    curl_tls=(--cacert "$dir/tls/ca.crt")
  fi
  if peer_alive "$dir"; then
    _vgw_log "already running in $dir (pid $(cat "$dir/pid"))"
  else
    if curl -s -o /dev/null --max-time 2 "${curl_tls[@]}" "$url/"; then
      _vgw_log "port $port already answers; stop whatever listens there or pick another port"
      return 1
    fi
    ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" nohup "$(_vgw_bin)" "${tls_args[@]}" \
      --port "127.0.0.1:$port" --virtual-domain localhost --iam-dir "$dir/iam" \
      posix --sidecar "$dir/meta" "$dir/data" >"$dir/versitygw.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    local i
    for ((i = 0; i < 150; i++)); do  # up to 30 s
      if ! peer_alive "$dir"; then
        _vgw_log "exited during startup; last lines of $dir/versitygw.log:"
        tail -n 20 "$dir/versitygw.log" >&2
        rm -f "$dir/pid"
        return 1
      fi
      # Any HTTP status (403 for an unsigned request) means it is serving.
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${curl_tls[@]}" "$url/")" != "000" ] && break
      sleep 0.2
    done
    if ((i == 150)); then
      _vgw_log "no answer on $url after 30 s; see $dir/versitygw.log"
      versitygw_stop "$dir"
      return 1
    fi
  fi
  # CreateBucket, signed by curl itself; 409 BucketAlreadyOwnedByYou is fine on a restart.
  local code
  code="$(curl -s -o "$dir/create-bucket.out" -w '%{http_code}' --max-time 10 -X PUT "${curl_tls[@]}" \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" \
    -H "x-amz-content-sha256: $empty_sha256" "$url/$bucket")"
  if [ "$code" != 200 ] && [ "$code" != 409 ]; then
    _vgw_log "creating bucket '$bucket' failed (HTTP $code): $(cat "$dir/create-bucket.out")"
    return 1
  fi
  if [ "$tls" = tls ]; then
    export MDB_S3_TLS_ENDPOINT="$url" MDB_S3_CA_FILE="$dir/tls/ca.crt"
    _vgw_log "serving $url (pid $(cat "$dir/pid"), CA $dir/tls/ca.crt, log $dir/versitygw.log)"
    return 0
  fi
  export MDB_S3_ENDPOINT="$url" MDB_S3_VHOST_ENDPOINT="http://localhost:$port" MDB_S3_BUCKET="$bucket"
  export AWS_ACCESS_KEY_ID="$access" AWS_SECRET_ACCESS_KEY="$secret"
  _vgw_log "serving $url (pid $(cat "$dir/pid"), bucket '$bucket', log $dir/versitygw.log)"
  _vgw_log "for the tests: export MDB_S3_ENDPOINT=$url MDB_S3_VHOST_ENDPOINT=http://localhost:$port" \
    "MDB_S3_BUCKET=$bucket" \
    "AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret"
}

versitygw_stop() { peer_stop versitygw "${1:?usage: versitygw_stop DIR}" 10; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  peer_main versitygw "start DIR [PORT] | stop DIR | install" "$@"
fi
