// The CLI's REST client: one call at a time to mdb-backupd's REST listener, with the token,
// and the failures a person meets (no token, nothing listening, a private CA) explained.
#pragma once

#include <string>
#include <vector>

namespace mdb::cli {

struct Client {
  std::string endpoint;
  std::string token;
  std::string ca_file;              // https: the CA to trust instead of the system's
  std::string cert_file, key_file;  // https with mutual TLS: this client's certificate

  // Performs one call; prints the JSON body to stdout on success (into `out` when given), the
  // error to stderr otherwise. With `status`, an HTTP error is not printed: its status is stored
  // (and its body into `out`) for the caller to decide. Returns 0 or 1 (the CLI's exit code).
  int Call(const std::string& verb, const std::string& path, std::string* out = nullptr,
           const std::string& body = "", int* status = nullptr);
  // Every page of a list (GET `path`, which has a query), following nextPageToken: the replies
  // in order. Returns Call's code; 1 when a token repeats (a list that does not advance) or past
  // 100,000 pages, never a list cut short silently.
  int Walk(const std::string& path, std::vector<std::string>* pages);
  // An HTTP error as Call prints it: the google.rpc.Status message, else the raw body.
  static void PrintError(int status, const std::string& body);
};

}  // namespace mdb::cli
