#!/usr/bin/env bash
# Test peer for the MongoDB engine: FerretDB v1 (MongoDB wire protocol over SQLite files, pure Go),
# pinned by the wrapper module tests/peers/ferretdb and built into the project cache. Run it, or
# source it and call ferretdb_start / ferretdb_stop:
#   scripts/peers/ferretdb.sh start DIR PORT [REPLSET]  # prints the env for the tests
#   scripts/peers/ferretdb.sh stop DIR
# It listens on 127.0.0.1:PORT only, keeps the SQLite files in DIR/data/, its state in DIR/state,
# its log in DIR/ferretdb.log. Sourcing and starting exports MDB_MONGO_URI for that instance.
# With REPLSET, hello reports setName/hosts (drivers may connect with replicaSet=REPLSET) and the
# capped collection local.oplog.rs is created (FERRETDB_OPLOG_SIZE bytes, default 1 GiB), so that
# FerretDB's oplog decorator records inserts, updates and deletes there. That is all there is: no
# real replication, no change streams, no DDL entries. Needs python3 (stdlib only) for the wire probe.
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` (or `go tool` from the
# wrapper module): build/version reads version.txt, which is generated upstream and not in the
# module zip, and panics when the main module is FerretDB itself (FerretDB#2982). So the build
# copies the verified module from the Go module cache, adds version.txt, and builds through a
# `replace` in a throwaway copy of the wrapper module (whose go.sum pins every dependency).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FERRETDB_MODULE="github.com/FerretDB/FerretDB"
FERRETDB_VERSION="v1.24.2"
FERRETDB_WRAPPER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/peers/ferretdb"

_fdb_log() { printf 'ferretdb: %s\n' "$*" >&2; }

_fdb_bin() { echo "${MDB_CACHE:-$HOME/.cache/mdb-backup}/bin/ferretdb"; }

# The pinned version is what `ferretdb --version` prints (from the version.txt the build adds); a
# binary from a plain `go install` panics there instead, and is rebuilt.
_fdb_installed() {
  local v
  v="$("$(_fdb_bin)" --version 2>/dev/null)" && grep -qx "version: $FERRETDB_VERSION" <<<"$v"
}

# Builds the pinned version unless it is already there.
ferretdb_install() {
  local bin dir tmp src
  bin="$(_fdb_bin)"
  dir="$(dirname "$bin")"
  if [ -x "$bin" ] && _fdb_installed; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    _fdb_log "Go (1.24 or later) is needed to build FerretDB $FERRETDB_VERSION into $dir"
    return 1
  fi
  if ! grep -q "^[[:space:]]*$FERRETDB_MODULE $FERRETDB_VERSION\b" "$FERRETDB_WRAPPER/go.mod"; then
    _fdb_log "$FERRETDB_WRAPPER/go.mod does not pin $FERRETDB_MODULE $FERRETDB_VERSION"
    return 1
  fi
  _fdb_log "building $FERRETDB_MODULE $FERRETDB_VERSION into $dir (a few minutes the first time)"
  mkdir -p "$dir" || return 1
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferretdb-build.XXXXXX")" || return 1
  if ! (
    set -e
    export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
    cd "$FERRETDB_WRAPPER"
    go mod download "$FERRETDB_MODULE"  # checked against go.sum
    src="$(go list -m -f '{{.Dir}}' "$FERRETDB_MODULE")"
    cp go.mod go.sum "$tmp/"
    cp -R "$src" "$tmp/src"
    chmod -R u+w "$tmp/src"
    echo "$FERRETDB_VERSION" >"$tmp/src/build/version/version.txt"
    cd "$tmp"
    go mod edit -replace "$FERRETDB_MODULE=./src"
    go build -trimpath -o "$bin.tmp" "$FERRETDB_MODULE/cmd/ferretdb"
    mv -f "$bin.tmp" "$bin"
  ); then
    _fdb_log "build failed"
    rm -rf "$tmp" "$bin.tmp"
    return 1
  fi
  rm -rf "$tmp"
  _fdb_installed || { _fdb_log "$bin does not report version $FERRETDB_VERSION"; return 1; }
}

# Sends one command over OP_MSG: _fdb_cmd PORT DB '{"cmd": 1, ...}' (a Python literal of str,
# bool, int, float and dict values). Succeeds on ok: 1; otherwise prints "code: message" and fails.
_fdb_cmd() {
  python3 - "$@" <<'EOF'
import ast, socket, struct, sys

def enc(d):
    out = b""
    for k, v in d.items():
        k = k.encode() + b"\0"
        if isinstance(v, bool):
            out += b"\x08" + k + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += (b"\x10" + k + struct.pack("<i", v)) if -2**31 <= v < 2**31 else (b"\x12" + k + struct.pack("<q", v))
        elif isinstance(v, float):
            out += b"\x01" + k + struct.pack("<d", v)
        elif isinstance(v, str):
            s = v.encode() + b"\0"
            out += b"\x02" + k + struct.pack("<i", len(s)) + s
        elif isinstance(v, dict):
            out += b"\x03" + k + enc(v)
        else:
            raise SystemExit("unsupported value %r" % (v,))
    return struct.pack("<i", len(out) + 5) + out + b"\0"

def dec(b):  # top level only: ok, code, errmsg
    res, i, end = {}, 4, struct.unpack_from("<i", b)[0] - 1
    fixed = {1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16, 6: 0, 127: 0, 255: 0}
    while i < end:
        t, j = b[i], b.index(b"\0", i + 1)
        name, i = b[i + 1:j].decode(), j + 1
        if t == 1:
            res[name] = struct.unpack_from("<d", b, i)[0]
        elif t == 16:
            res[name] = struct.unpack_from("<i", b, i)[0]
        elif t == 2:
            res[name] = b[i + 4:i + 3 + struct.unpack_from("<i", b, i)[0]].decode(errors="replace")
        if t in fixed:
            i += fixed[t]
        elif t in (2, 13, 14):
            i += 4 + struct.unpack_from("<i", b, i)[0]
        elif t in (3, 4, 15):
            i += struct.unpack_from("<i", b, i)[0]
        elif t == 5:
            i += 5 + struct.unpack_from("<i", b, i)[0]
        elif t == 11:
            i = b.index(b"\0", b.index(b"\0", i) + 1) + 1
        else:
            break
    return res

port, db, cmd = int(sys.argv[1]), sys.argv[2], ast.literal_eval(sys.argv[3])
cmd["$db"] = db
body = struct.pack("<I", 0) + b"\0" + enc(cmd)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < struct.unpack_from("<i", buf)[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
except OSError as e:
    print("no answer: %s" % e)
    sys.exit(2)
if struct.unpack_from("<i", buf, 12)[0] != 2013 or buf[20] != 0:
    print("unexpected reply")
    sys.exit(1)
r = dec(buf[21:])
if r.get("ok") != 1:
    print("%s: %s" % (r.get("code"), r.get("errmsg")))
    sys.exit(1)
EOF
}


_fdb_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ferretdb_start() {
  local dir="${1:?usage: ferretdb_start DIR PORT [REPLSET]}" port="${2:?usage: ferretdb_start DIR PORT [REPLSET]}"
  local replset="${3:-}" oplog_size="${FERRETDB_OPLOG_SIZE:-1073741824}" uri out
  command -v python3 >/dev/null || { _fdb_log "python3 is needed to probe the server"; return 1; }
  ferretdb_install || return 1
  mkdir -p "$dir/data" "$dir/state" || return 1
  dir="$(cd "$dir" && pwd)"
  if peer_alive "$dir"; then
    _fdb_log "already running in $dir (pid $(cat "$dir/pid"))"
  else
    if _fdb_port_open "$port"; then
      _fdb_log "port $port already answers; stop whatever listens there or pick another port"
      return 1
    fi
    local args=(--handler=sqlite "--sqlite-url=file:$dir/data/" "--listen-addr=127.0.0.1:$port"
      "--state-dir=$dir/state" --telemetry=disable --debug-addr=- --log-format=text)
    [ -n "$replset" ] && args+=("--repl-set-name=$replset")
    DO_NOT_TRACK=1 nohup "$(_fdb_bin)" "${args[@]}" >"$dir/ferretdb.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    local i
    for ((i = 0; i < 150; i++)); do  # up to 30 s
      if ! peer_alive "$dir"; then
        _fdb_log "exited during startup; last lines of $dir/ferretdb.log:"
        tail -n 20 "$dir/ferretdb.log" >&2
        rm -f "$dir/pid"
        return 1
      fi
      _fdb_cmd "$port" admin '{"ping": 1}' >/dev/null 2>&1 && break
      sleep 0.2
    done
    if ((i == 150)); then
      _fdb_log "no answer on 127.0.0.1:$port after 30 s; see $dir/ferretdb.log"
      ferretdb_stop "$dir"
      return 1
    fi
  fi
  uri="mongodb://127.0.0.1:$port/"
  if [ -n "$replset" ]; then
    # The oplog FerretDB writes to, if it exists; 48 NamespaceExists is fine on a restart.
    if ! out="$(_fdb_cmd "$port" local "{'create': 'oplog.rs', 'capped': True, 'size': $oplog_size}")" &&
       [ "${out%%:*}" != 48 ]; then
      _fdb_log "creating local.oplog.rs failed: $out"
      return 1
    fi
    uri="mongodb://127.0.0.1:$port/?replicaSet=$replset"
  fi
  export MDB_MONGO_URI="$uri"
  _fdb_log "serving $uri (pid $(cat "$dir/pid"), data $dir/data, log $dir/ferretdb.log)"
  _fdb_log "for the tests: export MDB_MONGO_URI='$uri'"
}

ferretdb_stop() { peer_stop ferretdb "${1:?usage: ferretdb_stop DIR}" 10; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  peer_main ferretdb "start DIR PORT [REPLSET] | stop DIR | install" "$@"
fi
