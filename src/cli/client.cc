#include "cli/client.h"

#include <httplib.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/api_paths.h"

namespace mdb::cli {

int Client::Call(const std::string& verb, const std::string& path, std::string* out,
                 const std::string& body, int* status) {
  if (token.empty()) {
    std::cerr << "mdb-backup: no API token: set MDB_BACKUP_TOKEN or give --token\n";
    return 1;
  }
  httplib::Client cli(endpoint, cert_file, key_file);
  if (!ca_file.empty()) cli.set_ca_cert_path(ca_file.c_str());
  cli.set_read_timeout(60, 0);
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  httplib::Result res = verb == "GET"      ? cli.Get(path, headers)
                        : verb == "DELETE" ? cli.Delete(path, headers)
                                           : cli.Post(path, headers, body, "application/json");
  if (!res) {
    // httplib names the failing step only ("Connection", "Read"): say what it means here.
    std::string why = httplib::to_string(res.error());
    if (res.error() == httplib::Error::Connection) {
      why = "nothing answers there (is mdb-backupd running, and is this its rest_listen?)";
    } else if (res.error() == httplib::Error::Read) {
      why =
          "the connection ended without an answer (https endpoint given as http, or the "
          "server stopped?)";
    } else if (res.error() == httplib::Error::SSLConnection ||
               res.error() == httplib::Error::SSLServerVerification) {
      why = why + " (for a private CA give --cacert or MDB_BACKUP_CACERT)";
    }
    std::cerr << "mdb-backup: cannot reach " << endpoint << ": " << why
              << "; set MDB_BACKUP_ENDPOINT or --endpoint\n";
    return 1;
  }
  if (res->status != 200) {
    if (status) {
      *status = res->status;
      if (out) *out = res->body;
      return 1;
    }
    PrintError(res->status, res->body);
    return 1;
  }
  if (out)
    *out = res->body;
  else
    std::cout << res->body << "\n";
  return 0;
}

void Client::PrintError(int status, const std::string& body) {
  // A google.rpc.Status: its message is for people.
  auto err = nlohmann::json::parse(body, nullptr, false);
  if (err.is_object() && err.contains("message") && err["message"].is_string()) {
    std::cerr << "mdb-backup: " << err["message"].get<std::string>() << " (HTTP " << status
              << ")\n";
  } else {
    std::cerr << "mdb-backup: HTTP " << status << ": " << body << "\n";
  }
}

int Client::Walk(const std::string& path, std::vector<std::string>* pages) {
  std::string token;
  do {
    std::string page;
    std::string query = path;
    if (!token.empty()) {
      query += (query.back() == '?' ? "pageToken=" : "&pageToken=") + UrlEscape(token);
    }
    if (int rc = Call("GET", query, &page); rc != 0) return rc;
    auto next = nlohmann::json::parse(page, nullptr, false);
    std::string previous = std::move(token);
    token = next.is_object() && next.contains("nextPageToken") && next["nextPageToken"].is_string()
                ? next["nextPageToken"].get<std::string>()
                : "";
    pages->push_back(std::move(page));
    if (!token.empty() && (token == previous || pages->size() >= 100000)) {
      std::cerr << "mdb-backup: the list does not advance (a page token repeats, or 100,000 "
                   "pages); giving up\n";
      return 1;
    }
  } while (!token.empty());
  return 0;
}

}  // namespace mdb::cli
