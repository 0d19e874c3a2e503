// BackupService.List and ClusterService.ListBackups: pages of the catalog's listing, each
// backup shown as its engine's Backup. What a page costs is mostly kept between calls
// (backup_cache.h): whole pages while the catalog's backups are unchanged, else each backup's
// Backup by its record's digest, so that only records not shown before are read and mapped.
#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/fields.h"
#include "api/validation.h"
#include "common/status.h"

namespace mdb::api {

absl::Status Api::List(const Ctx& c, catalog::ListQuery query, Message* resp) {
  const auto* field = resp->GetDescriptor()->FindFieldByName("backups");
  const auto* type = field->message_type();
  // Read before the catalog is: a page kept under it shows at least what it names. When it
  // cannot be read, nothing is kept or shown from what was: the listing itself says what fails.
  absl::StatusOr<std::optional<int64_t>> read_version = catalog_->BackupsVersion();
  const std::optional<int64_t> version = read_version.ok() ? *read_version : std::nullopt;
  const std::string key = version ? ListedPages::KeyOf(type, query) : "";
  std::shared_ptr<const ListedPage> page = version ? pages_.Find(key, *version) : nullptr;
  if (!page) {
    std::vector<std::shared_ptr<const std::string>> held;  // the cache's, by row: mapped once
    query.unparsed = true;
    query.known = listed_.Lookup(type, &held);  // the catalog reads the others
    ASSIGN_OR_RETURN(catalog::ListPage read, catalog_->ListBackups(query));
    auto built = std::make_shared<ListedPage>();
    ASSIGN_OR_RETURN(built->shown, listed_.Resolve(read.records, read.digests, held, type));
    built->digests = std::move(read.digests);
    built->next_page_token = std::move(read.next_page_token);
    if (version) pages_.Put(key, *version, built);
    page = std::move(built);
  }
  size_t bad = 0;
  if (absl::Status st = Show(*page, field, c.spliced, resp, &bad); !st.ok()) {
    // Dropped, so that the next listing reads and maps that record afresh rather than fail again.
    pages_.Drop(key);
    if (bad < page->digests.size()) listed_.Forget(type, page->digests[bad]);
    return st;
  }
  SetStringIfPresent(resp, "next_page_token", page->next_page_token);
  return absl::OkStatus();
}

absl::Status Api::ListFolderBackups(const Ctx& c, const Message& req, Message* resp) {
  std::string folder = GetString(req, "folder_id");
  if (!c.who.CanRead(folder)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token may not read folder ", Quoted(folder)));
  }
  ASSIGN_OR_RETURN(int size, PageSize(req));
  return List(c,
              {.engine = c.engine,
               .folder_id = folder,
               .page_size = size,
               .page_token = GetString(req, "page_token")},
              resp);
}

absl::Status Api::ListClusterBackups(const Ctx& c, const Message& req, Message* resp) {
  ASSIGN_OR_RETURN(auto cluster, FindCluster(c, GetString(req, "cluster_id")));
  ASSIGN_OR_RETURN(int size, PageSize(req));
  // The rows recorded in the cluster's folder: a cluster whose folder the config changed, or
  // whose id a cluster of another folder reused, shows nothing of the other folder's backups to
  // a token of this one.
  return List(c,
              {.engine = c.engine,
               .folder_id = cluster->folder_id,
               .cluster_id = cluster->id,
               .page_size = size,
               .page_token = GetString(req, "page_token")},
              resp);
}

}  // namespace mdb::api
