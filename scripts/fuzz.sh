#!/usr/bin/env bash
# Builds the libFuzzer targets (src/**/*_fuzz.cc) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each for FUZZ_SECONDS (default 8) from its seed corpus in
# tests/fuzz/corpus/<target>. A crash, a leak or undefined behaviour fails the run and leaves the
# input that caused it in $FUZZ_OUT. Longer runs: FUZZ_SECONDS=600 bash scripts/fuzz.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CXX="${FUZZ_CXX:-clang++-14}"
OUT="${FUZZ_OUT:-$CACHE/fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-8}"
mkdir -p "$OUT"
FLAGS=(-std=gnu++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$ROOT/src" -I"$BUILD/proto/gen")
read -r -a LIBS <<<"$(pkg-config --libs absl_strings absl_status absl_statusor absl_time \
                      absl_str_format libsodium libcurl libmongoc-1.0 libbson-1.0)"
read -r -a MONGO_FLAGS <<<"$(pkg-config --cflags libmongoc-1.0 libbson-1.0)"

# target name, then its sources (the parser under test and what it needs, nothing else).
TARGETS=(
  "resp src/engine/redis/resp_fuzz.cc src/engine/redis/resp.cc"
  "rdb_keys src/engine/redis/rdb_keys_fuzz.cc src/engine/redis/rdb_keys.cc
   src/engine/redis/redis_crc.cc src/io/stream.cc"
  "bson_stream src/engine/mongodb/bson_stream_fuzz.cc src/engine/mongodb/bson_stream.cc src/io/stream.cc"
  "os_reply src/engine/opensearch/os_reply_fuzz.cc src/engine/opensearch/os_http.cc
   src/common/host_options.cc"
  "wal_messages src/engine/greenplum/wal_messages_fuzz.cc src/engine/greenplum/wal_messages.cc
   src/engine/greenplum/wal_names.cc"
  "wal_records src/engine/greenplum/wal_records_fuzz.cc src/engine/greenplum/wal_records.cc"
  "oplog src/engine/mongodb/oplog_fuzz.cc src/engine/mongodb/oplog_apply.cc src/engine/mongodb/oplog_delta.cc
   src/engine/mongodb/mongo_conn.cc src/engine/mongodb/mongo_util.cc
   src/engine/mongodb/reply_guard.cc src/common/host_options.cc"
  "mongo_reply src/engine/mongodb/reply_fuzz.cc src/engine/mongodb/reply_guard.cc"
  "archive src/engine/greenplum/archive_fuzz.cc src/engine/greenplum/page_archive.cc
   src/engine/greenplum/tar_extract.cc src/engine/greenplum/wal_names.cc src/io/beneath.cc
   src/io/stream.cc src/io/write_behind.cc"
)

for entry in "${TARGETS[@]}"; do
  read -r -a words <<<"$(echo $entry)"
  name="${words[0]}"
  srcs=("${words[@]:1}")
  log "fuzz target $name: build"
  (cd "$ROOT" && "$CXX" "${FLAGS[@]}" "${MONGO_FLAGS[@]}" "${srcs[@]}" "${LIBS[@]}" -o "$OUT/$name")
done

for entry in "${TARGETS[@]}"; do
  name="${entry%% *}"
  corpus="$OUT/corpus-$name"
  mkdir -p "$corpus"
  cp -n "$ROOT/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
  log "fuzz target $name: ${SECONDS_EACH}s"
  (cd "$OUT" && ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$SECONDS_EACH" \
     -max_len=32768 -rss_limit_mb=2048 -artifact_prefix="$OUT/crash-$name-" "$corpus" \
     2>"$OUT/$name.log") || { tail -40 "$OUT/$name.log"; exit 1; }
  grep -E "^Done|^#[0-9]+.*DONE" "$OUT/$name.log" | tail -1 >&2 || true
done
