// The relations of every database of a segment: a fact a backup records and a restore drill
// checks the restored segment against (greenplum_drill.cc).
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace mdb::engine::greenplum {

struct Relation {
  std::string database;
  std::string name;  // schema.name
  char kind = 'r';   // pg_class.relkind: r table, i index, m materialized view, p/I partitioned
  int64_t bytes = 0;
  bool operator==(const Relation&) const = default;
};

// Every permanent and unlogged relation outside the system schemas, of every database that
// accepts connections, through `host` (its options; dbname replaced per database).
absl::StatusOr<std::vector<Relation>> ListRelations(const common::HostConfig& host,
                                                    const std::atomic<bool>* cancelled);

// The files of every append-optimized table (row or column oriented) of every database that
// accepts connections, as "base/<database oid>/<relfilenode>" (page_archive's RelationOf), and
// as "base/<database oid>" every database that does not (its tables cannot be looked at): their
// blocks carry no page LSN, so an INCREMENTAL takes them whole. Greenplum 7 marks them by table
// access method (ao_row, ao_column), Greenplum 6 by pg_class.relstorage ('a', 'c'); a plain
// PostgreSQL has none.
absl::StatusOr<std::set<std::string>> AppendOptimizedRelations(const common::HostConfig& host,
                                                               const std::atomic<bool>* cancelled);

// As stored in the backup: one "database\tname\tkind\tbytes" line each (names are escaped:
// a tab, newline or backslash in a name does not split a line).
std::string FormatRelations(const std::vector<Relation>& relations);
absl::StatusOr<std::vector<Relation>> ParseRelations(const std::string& text);

}  // namespace mdb::engine::greenplum
