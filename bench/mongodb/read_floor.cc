// The read floor of bench/mongodb: what a plain libmongoc client needs to read every document of
// every user collection (find, the same batch size as the engine), writing the raw BSON to stdout.
// Usage: mongo_read_floor HOST:PORT > /dev/null
#include <bson/bson.h>
#include <mongoc/mongoc.h>
#include <unistd.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  mongoc_init();
  std::string uri = std::string("mongodb://") + argv[1] + "/?directConnection=true";
  mongoc_client_t* client = mongoc_client_new(uri.c_str());
  bson_error_t error;
  char** dbs = mongoc_client_get_database_names_with_opts(client, nullptr, &error);
  if (!dbs) {
    fprintf(stderr, "listDatabases: %s\n", error.message);
    return 1;
  }
  uint64_t docs = 0, bytes = 0;
  for (char** db = dbs; *db; ++db) {
    std::string name = *db;
    if (name == "admin" || name == "local" || name == "config") continue;
    mongoc_database_t* d = mongoc_client_get_database(client, name.c_str());
    char** colls = mongoc_database_get_collection_names_with_opts(d, nullptr, &error);
    for (char** c = colls; c && *c; ++c) {
      mongoc_collection_t* coll = mongoc_client_get_collection(client, name.c_str(), *c);
      bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
      BSON_APPEND_INT32(&opts, "batchSize", 2000);
      mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, &filter, &opts, nullptr);
      const bson_t* doc;
      while (mongoc_cursor_next(cur, &doc)) {
        if (write(1, bson_get_data(doc), doc->len) != static_cast<ssize_t>(doc->len)) return 1;
        ++docs;
        bytes += doc->len;
      }
      if (mongoc_cursor_error(cur, &error)) {
        fprintf(stderr, "find %s.%s: %s\n", name.c_str(), *c, error.message);
        return 1;
      }
      mongoc_cursor_destroy(cur);
      bson_destroy(&filter);
      bson_destroy(&opts);
      mongoc_collection_destroy(coll);
    }
    bson_strfreev(colls);
    mongoc_database_destroy(d);
  }
  bson_strfreev(dbs);
  mongoc_client_destroy(client);
  fprintf(stderr, "read %llu documents, %llu bytes\n", static_cast<unsigned long long>(docs),
          static_cast<unsigned long long>(bytes));
  return 0;
}
