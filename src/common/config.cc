// YAML config loading. yaml-cpp keeps the position of every node, so each error names the file and
// line of the offending entry; unknown keys are errors so that typos do not go unnoticed.
#include "common/config.h"

#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_yaml.h"
#include "common/status.h"

namespace mdb::common {
namespace {

// Shard names are part of journal keys, with the cluster id (at most 50): together they must
// leave room for the rest of a key (repo/journal_store.h).
constexpr size_t kMaxShardName = 80;

class Parser : public YamlReader {
 public:
  Parser(std::string filename, const EngineTable& engines)
      : YamlReader(std::move(filename)), engines_(engines) {}

  absl::Status ParseTls(const YAML::Node& n, TlsConfig* out) const {
    RETURN_IF_ERROR(CheckKeys(n, {"cert_file", "key_file", "client_ca_file"}, "'server.tls'"));
    ASSIGN_OR_RETURN(out->cert_file, String(n, "cert_file", true, "server.tls"));
    ASSIGN_OR_RETURN(out->key_file, String(n, "key_file", true, "server.tls"));
    ASSIGN_OR_RETURN(out->client_ca_file, String(n, "client_ca_file", false, "server.tls"));
    return absl::OkStatus();
  }

  absl::Status ParseLimits(const YAML::Node& n, LimitsConfig* out) const {
    RETURN_IF_ERROR(
        CheckKeys(n,
                  {"max_request_bytes", "max_connections", "max_connections_per_address",
                   "header_timeout_seconds", "request_timeout_seconds", "idle_timeout_seconds",
                   "failed_auth_burst", "failed_auth_per_minute"},
                  "'server.limits'"));
    const std::string w = "server.limits";
    LimitsConfig d;
    ASSIGN_OR_RETURN(out->max_request_bytes,
                     Int(n, "max_request_bytes", d.max_request_bytes, 4096, 1 << 30, w));
    ASSIGN_OR_RETURN(out->max_connections,
                     Int(n, "max_connections", d.max_connections, 1, 1 << 20, w));
    ASSIGN_OR_RETURN(
        out->max_connections_per_address,
        Int(n, "max_connections_per_address", d.max_connections_per_address, 1, 1 << 20, w));
    ASSIGN_OR_RETURN(out->header_timeout_seconds,
                     Int(n, "header_timeout_seconds", d.header_timeout_seconds, 1, 3600, w));
    ASSIGN_OR_RETURN(out->request_timeout_seconds,
                     Int(n, "request_timeout_seconds", d.request_timeout_seconds, 1, 86400, w));
    ASSIGN_OR_RETURN(out->idle_timeout_seconds,
                     Int(n, "idle_timeout_seconds", d.idle_timeout_seconds, 1, 86400, w));
    ASSIGN_OR_RETURN(out->failed_auth_burst,
                     Int(n, "failed_auth_burst", d.failed_auth_burst, 1, 1 << 20, w));
    ASSIGN_OR_RETURN(out->failed_auth_per_minute,
                     Int(n, "failed_auth_per_minute", d.failed_auth_per_minute, 1, 1 << 20, w));
    return absl::OkStatus();
  }

  absl::Status ParseServer(const YAML::Node& n, ServerConfig* out) const {
    RETURN_IF_ERROR(CheckKeys(
        n,
        {"grpc_listen", "rest_listen", "catalog", "worker_threads", "repository",
         "repository_key_file", "automated_backups", "automated_retries", "automated_retry_seconds",
         "gc_interval_minutes", "tls", "lease_seconds", "allow_plaintext", "limits", "log_format",
         "log_level", "drills", "shutdown_grace_seconds"},
        "'server'"));
    ASSIGN_OR_RETURN(std::string log_format, String(n, "log_format", false, "server"));
    if (log_format != "" && log_format != "text" && log_format != "json") {
      return Error(n["log_format"], absl::StrCat("server: log_format '", log_format,
                                                 "' is neither 'text' nor 'json'"));
    }
    out->log.json = log_format == "json";
    ASSIGN_OR_RETURN(std::string log_level, String(n, "log_level", false, "server"));
    if (!log_level.empty() && !ParseLogLevel(log_level, &out->log.min_level)) {
      return Error(n["log_level"], absl::StrCat("server: log_level '", log_level,
                                                "' is not one of debug, info, warning, error"));
    }
    ASSIGN_OR_RETURN(std::string repository, String(n, "repository", false, "server"));
    if (!repository.empty()) out->repository = repository;
    ASSIGN_OR_RETURN(out->repository_key_file, String(n, "repository_key_file", false, "server"));
    RETURN_IF_ERROR(Bool(n, "automated_backups", "server", &out->automated_backups));
    RETURN_IF_ERROR(Bool(n, "allow_plaintext", "server", &out->allow_plaintext));
    if (n["tls"]) RETURN_IF_ERROR(ParseTls(n["tls"], &out->tls));
    if (n["limits"]) RETURN_IF_ERROR(ParseLimits(n["limits"], &out->limits));
    if (n["drills"]) RETURN_IF_ERROR(ParseDrills(n["drills"], &out->drills));
    ASSIGN_OR_RETURN(std::string grpc, String(n, "grpc_listen", false, "server"));
    ASSIGN_OR_RETURN(std::string rest, String(n, "rest_listen", false, "server"));
    ASSIGN_OR_RETURN(std::string catalog, String(n, "catalog", false, "server"));
    ASSIGN_OR_RETURN(out->worker_threads, Int(n, "worker_threads", 2, 1, 64, "server"));
    ASSIGN_OR_RETURN(out->gc_interval_minutes,
                     Int(n, "gc_interval_minutes", 360, 1, 7 * 24 * 60, "server"));
    ASSIGN_OR_RETURN(out->lease_seconds, Int(n, "lease_seconds", 30, 3, 600, "server"));
    ASSIGN_OR_RETURN(out->shutdown_grace_seconds,
                     Int(n, "shutdown_grace_seconds", 240, 0, 24 * 3600, "server"));
    ASSIGN_OR_RETURN(out->automated_retries, Int(n, "automated_retries", 3, 0, 10, "server"));
    ASSIGN_OR_RETURN(out->automated_retry_seconds,
                     Int(n, "automated_retry_seconds", 900, 1, 6 * 3600, "server"));
    if (!grpc.empty()) out->grpc_listen = grpc;
    if (!rest.empty()) out->rest_listen = rest;
    if (!catalog.empty()) out->catalog_path = catalog;
    for (const std::string* listen : {&out->grpc_listen, &out->rest_listen}) {
      size_t colon = listen->rfind(':');
      int port = -1;
      if (colon == std::string::npos || colon == 0 ||
          !absl::SimpleAtoi(listen->substr(colon + 1), &port) || port < 0 || port > 65535) {
        return Error(n, absl::StrCat("server: listen address '", *listen,
                                     "' must be host:port (port 0-65535; 0 picks a free one)"));
      }
      if (!out->tls.enabled() && !out->allow_plaintext && !IsLoopbackListen(*listen)) {
        return Error(n, absl::StrCat("server: '", *listen,
                                     "' is not a loopback address and the listeners have no TLS: "
                                     "tokens would cross the network in clear text; configure "
                                     "'tls' (cert_file, key_file) or set 'allow_plaintext: true'"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<TokenConfig> ParseToken(const YAML::Node& n) const {
    RETURN_IF_ERROR(CheckKeys(n, {"token", "token_sha256", "subject", "read", "restore", "write"},
                              "a token entry"));
    TokenConfig t;
    ASSIGN_OR_RETURN(t.token, String(n, "token", false, "token entry"));
    ASSIGN_OR_RETURN(t.token_sha256, String(n, "token_sha256", false, "token entry"));
    if (t.token.empty() == t.token_sha256.empty()) {
      return Error(n, "token entry: give either 'token' or 'token_sha256' (its SHA-256 in hex)");
    }
    if (!t.token.empty() && t.token.size() < 8) {
      return Error(n, "token entry: 'token' must be at least 8 characters");
    }
    for (char& c : t.token_sha256) c = absl::ascii_tolower(c);
    if (!t.token_sha256.empty() &&
        (t.token_sha256.size() != 64 ||
         t.token_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
      return Error(n,
                   "token entry: 'token_sha256' must be 64 hex digits "
                   "(printf %s TOKEN | sha256sum)");
    }
    for (unsigned char c : t.token) {
      if (c <= 0x20 || c == 0x7f) {
        return Error(n, "token entry: 'token' must hold no spaces or control characters");
      }
    }
    ASSIGN_OR_RETURN(t.subject, String(n, "subject", false, "token entry"));
    // Never derived from the token: Operation.created_by is readable by every reader of the folder.
    if (t.subject.empty()) t.subject = absl::StrCat("token at line ", n.Mark().line + 1);
    ASSIGN_OR_RETURN(auto read, StringList(n, "read", "token entry"));
    ASSIGN_OR_RETURN(auto restore, StringList(n, "restore", "token entry"));
    ASSIGN_OR_RETURN(auto write, StringList(n, "write", "token entry"));
    for (const auto& f : read) {
      if (f == "*") {
        t.all_folders = true;
      } else {
        t.read_folders.insert(f);
      }
    }
    for (const auto* list : {&restore, &write}) {
      for (const auto& f : *list) {
        if (f == "*") {
          return Error(n, "token entry: '*' is allowed in 'read' only; list the folders");
        }
        t.restore_folders.insert(f);
        t.read_folders.insert(f);
        if (list == &write) t.write_folders.insert(f);
      }
    }
    return t;
  }

  absl::StatusOr<ShardConfig> ParseShard(const YAML::Node& n, const std::string& where,
                                         const EngineInfo& engine) const {
    RETURN_IF_ERROR(CheckKeys(n, {"name", "hosts"}, where));
    ShardConfig s;
    ASSIGN_OR_RETURN(s.name, String(n, "name", true, where));
    if (s.name.size() > kMaxShardName) {
      return Error(n["name"],
                   absl::StrCat(where, " '", s.name.substr(0, 20), "...': 'name' is longer than ",
                                kMaxShardName, " characters (it names the shard's journal)"));
    }
    RETURN_IF_ERROR(ParseHosts(n, where, engine, &s.hosts));
    return s;
  }

  absl::Status ParseHosts(const YAML::Node& parent, const std::string& where,
                          const EngineInfo& engine, std::vector<HostConfig>* out) const {
    YAML::Node hosts = parent["hosts"];
    if (!hosts || !hosts.IsSequence() || hosts.size() == 0) {
      return Error(hosts ? hosts : parent,
                   absl::StrCat(where, ": 'hosts' must be a non-empty list"));
    }
    for (const auto& h : hosts) {
      HostConfig host;
      if (h.IsScalar()) {
        host.address = h.as<std::string>();
      } else if (h.IsMap()) {
        for (const auto& kv : h) {
          if (!kv.second.IsScalar()) return Error(kv.second, where + ": host settings are strings");
          std::string key = kv.first.as<std::string>();
          if (key == "address") {
            if (!host.address.empty()) return Error(kv.first, where + ": address given twice");
            host.address = kv.second.as<std::string>();
            continue;
          }
          if (std::find(engine.host_options.begin(), engine.host_options.end(), key) ==
              engine.host_options.end()) {
            std::vector<std::string> known(engine.host_options.begin(), engine.host_options.end());
            return Error(kv.first,
                         absl::StrCat(where, ": unknown host setting '", key, "' for ",
                                      std::string(engine.name), " (expected one of: address, ",
                                      absl::StrJoin(known, ", "), ")"));
          }
          if (!host.options.emplace(key, kv.second.as<std::string>()).second) {
            return Error(kv.first,
                         absl::StrCat(where, ": host setting '", key, "' is given twice"));
          }
        }
      }
      if (host.address.empty() || host.address.find(':') == std::string::npos) {
        return Error(h,
                     absl::StrCat(where, ": every host needs an 'address' of the form host:port"));
      }
      out->push_back(std::move(host));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ClusterConfig> ParseCluster(const YAML::Node& n) const {
    RETURN_IF_ERROR(
        CheckKeys(n,
                  {"id", "name", "folder_id", "engine", "hosts", "shards", "backup_window_start",
                   "retention_days", "stall_timeout_seconds", "restore_target", "scratch", "drill"},
                  "a cluster entry"));
    ClusterConfig c;
    c.line = n.Mark().line + 1;
    ASSIGN_OR_RETURN(c.id, String(n, "id", true, "cluster entry"));
    std::string where = absl::StrCat("cluster '", c.id, "'");
    if (c.id.size() > 50) return Error(n["id"], where + ": 'id' is longer than 50 characters");
    ASSIGN_OR_RETURN(c.name, String(n, "name", false, where));
    if (c.name.empty()) c.name = c.id;
    ASSIGN_OR_RETURN(c.folder_id, String(n, "folder_id", true, where));
    if (c.folder_id.size() > 50) {
      return Error(n["folder_id"], where + ": 'folder_id' is longer than 50 characters");
    }
    ASSIGN_OR_RETURN(std::string engine, String(n, "engine", true, where));
    auto parsed = engines_.Parse(engine);
    if (!parsed.ok())
      return Error(n["engine"], absl::StrCat(where, ": ", parsed.status().message()));
    c.engine = *parsed;
    const EngineInfo* row = engines_.Find(c.engine);
    RETURN_IF_ERROR(Bool(n, "restore_target", where, &c.restore_target));
    RETURN_IF_ERROR(Bool(n, "scratch", where, &c.scratch));
    c.restore_target = c.restore_target || c.scratch;  // a drill's target is never backed up
    if (n["drill"]) {
      if (c.restore_target) {
        return Error(n["drill"], where + ": a restore target has no backups to drill");
      }
      RETURN_IF_ERROR(ParseDrill(n["drill"], where, &c.drill));
    }
    if (n["hosts"] && n["shards"]) return Error(n, where + ": give either 'hosts' or 'shards'");
    if (n["shards"]) {
      if (!n["shards"].IsSequence() || n["shards"].size() == 0) {
        return Error(n["shards"], where + ": 'shards' must be a non-empty list");
      }
      std::set<std::string> names;
      for (const auto& s : n["shards"]) {
        ASSIGN_OR_RETURN(ShardConfig shard, ParseShard(s, where + " shard", *row));
        if (!names.insert(shard.name).second) {
          return Error(s, absl::StrCat(where, ": shard '", shard.name, "' is declared twice"));
        }
        c.shards.push_back(std::move(shard));
      }
    } else if (n["hosts"]) {
      // The one shard takes the cluster's name, which then names its journal as well.
      if (c.name.size() > kMaxShardName) {
        return Error(n["name"], absl::StrCat(where, ": 'name' is longer than ", kMaxShardName,
                                             " characters (with 'hosts' it names the journal)"));
      }
      ShardConfig shard{.name = c.name, .hosts = {}};
      RETURN_IF_ERROR(ParseHosts(n, where, *row, &shard.hosts));
      c.shards.push_back(std::move(shard));
    } else {
      return Error(n, where + ": 'hosts' or 'shards' is required");
    }
    if (n["backup_window_start"]) {
      ASSIGN_OR_RETURN(std::string w, String(n, "backup_window_start", false, where));
      int hh, mm;
      char extra;
      if (sscanf(w.c_str(), "%d:%d%c", &hh, &mm, &extra) != 2 || hh < 0 || hh > 23 || mm < 0 ||
          mm > 59) {
        return Error(
            n["backup_window_start"],
            absl::StrCat(where, ": 'backup_window_start' must be HH:MM (UTC), got '", w, "'"));
      }
      c.backup_window_start_minutes = hh * 60 + mm;
    }
    ASSIGN_OR_RETURN(c.retention_days, Int(n, "retention_days", 7, 1, 3650, where));
    ASSIGN_OR_RETURN(c.stall_timeout_seconds,
                     Int(n, "stall_timeout_seconds", engines_.Find(c.engine)->stall_timeout_seconds,
                         1, 7 * 24 * 3600, where));
    return c;
  }

  absl::StatusOr<Config> Parse(const YAML::Node& root) const {
    Config cfg;
    cfg.path = filename();
    if (root.IsNull()) return Error(root, "the configuration is empty");
    RETURN_IF_ERROR(CheckKeys(root, {"server", "tokens", "clusters"}, "the top level"));
    if (root["server"]) RETURN_IF_ERROR(ParseServer(root["server"], &cfg.server));
    if (root["tokens"]) {
      if (!root["tokens"].IsSequence()) return Error(root["tokens"], "'tokens' must be a list");
      std::set<std::string> seen;
      for (const auto& t : root["tokens"]) {
        ASSIGN_OR_RETURN(TokenConfig token, ParseToken(t));
        // By digest: `token: X` and `token_sha256: sha256(X)` are the same token twice.
        std::string key = token.token_sha256;
        if (key.empty()) {
          unsigned char d[crypto_hash_sha256_BYTES];
          crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(token.token.data()),
                             token.token.size());
          key = absl::BytesToHexString(
              absl::string_view(reinterpret_cast<const char*>(d), sizeof(d)));
        }
        if (!seen.insert(key).second) return Error(t, "a token is declared twice");
        cfg.tokens.push_back(std::move(token));
      }
    }
    if (root["clusters"]) {
      if (!root["clusters"].IsSequence())
        return Error(root["clusters"], "'clusters' must be a list");
      std::set<std::string> ids;
      for (const auto& c : root["clusters"]) {
        ASSIGN_OR_RETURN(ClusterConfig cluster, ParseCluster(c));
        if (!ids.insert(cluster.id).second) {
          return Error(c, absl::StrCat("cluster '", cluster.id, "' is declared twice"));
        }
        cfg.clusters.push_back(std::move(cluster));
      }
    }
    // A drill empties its scratch cluster: a server that is also declared as anything else (a
    // slip of copy and paste) would lose that cluster's data.
    // (Addresses as written here; a drill compares what they resolve to before it empties one:
    // common/same_server.h.)
    std::map<std::string, const ClusterConfig*> used;  // address -> the cluster declaring it
    for (const auto& c : cfg.clusters) {
      if (c.scratch) continue;
      for (const auto& shard : c.shards) {
        for (const auto& h : shard.hosts) used.emplace(h.address, &c);
      }
    }
    for (const auto& c : cfg.clusters) {
      if (!c.scratch) continue;
      for (const auto& shard : c.shards) {
        for (const auto& h : shard.hosts) {
          auto it = used.find(h.address);
          if (it == used.end() || it->second == &c) {
            used[h.address] = &c;  // two scratch clusters do not share a server either
            continue;
          }
          return absl::InvalidArgumentError(absl::StrCat(
              filename(), ":", c.line, ": scratch cluster '", c.id, "' has host ", h.address,
              ", which cluster '", it->second->id,
              "' declares too: drills empty a scratch cluster, so its servers are its own"));
        }
      }
    }
    for (const auto& c : cfg.clusters) {
      if (c.drill.enabled() && c.drill.target == "local" &&
          !engines_.Find(c.engine)->local_drills) {
        return absl::InvalidArgumentError(absl::StrCat(
            filename(), ":", c.line, ": cluster '", c.id, "': ", engines_.Name(c.engine),
            " backups are not drilled `local` (no throwaway servers): give the drill a 'target' "
            "cluster declared 'scratch: true'"));
      }
      if (!c.drill.enabled() || c.drill.target == "local") continue;
      const ClusterConfig* t = cfg.FindCluster(c.drill.target);
      if (!t || !t->scratch || t->engine != c.engine) {
        return absl::InvalidArgumentError(absl::StrCat(
            filename(), ":", c.line, ": cluster '", c.id, "' drills into '", c.drill.target,
            "', which is not a cluster of the same engine declared 'scratch: true' (or 'local')"));
      }
    }
    return cfg;
  }

 private:
  const EngineTable& engines_;
};

}  // namespace

const ClusterConfig* Config::FindCluster(const std::string& id) const {
  for (const auto& c : clusters) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& filename,
                                   const EngineTable& engines) {
  Parser parser(filename, engines);
  try {
    return parser.Parse(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<Config> LoadConfig(const std::string& path, const EngineTable& engines) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  ASSIGN_OR_RETURN(Config cfg, ParseConfig(ss.str(), path, engines));
  // A relative catalog path is relative to the config file, not to the working directory.
  auto resolve = [&](std::string* p) {
    if (p->empty() || p->find("://") != std::string::npos) return;
    std::filesystem::path rel(*p);
    if (rel.is_relative()) {
      *p = std::filesystem::absolute(std::filesystem::path(path).parent_path() / rel)
               .lexically_normal()
               .string();
    }
  };
  resolve(&cfg.server.catalog_path);
  resolve(&cfg.server.repository);
  resolve(&cfg.server.repository_key_file);
  resolve(&cfg.server.tls.cert_file);
  resolve(&cfg.server.tls.key_file);
  resolve(&cfg.server.tls.client_ca_file);
  return cfg;
}

bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8, spelled as four decimal parts.
  int a, b, c, d;
  char extra;
  return sscanf(host.c_str(), "%d.%d.%d.%d%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b >= 0 &&
         b < 256 && c >= 0 && c < 256 && d >= 0 && d < 256;
}

}  // namespace mdb::common
