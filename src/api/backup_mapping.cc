// Each engine's Backup differs in fields and enum names, so the mapping is written out per engine
// with the generated types: the compiler checks every field name, which reflection would not.
#include "api/backup_mapping.h"

#include "absl/strings/str_cat.h"
#include "yandex/cloud/mdb/greenplum/v1/backup.pb.h"
#include "yandex/cloud/mdb/mongodb/v1/backup.pb.h"
#include "yandex/cloud/mdb/opensearch/v1/backup.pb.h"
#include "yandex/cloud/mdb/redis/v1/backup.pb.h"

namespace mdb::api {
namespace {

using Record = catalog::BackupRecord;
namespace gp = yandex::cloud::mdb::greenplum::v1;
namespace mg = yandex::cloud::mdb::mongodb::v1;
namespace rd = yandex::cloud::mdb::redis::v1;
namespace os = yandex::cloud::mdb::opensearch::v1;

// AUTOMATED = 1 and MANUAL = 2 in every engine's enum, as in the record.
template <typename Enum>
Enum CreationType(const Record& r) {
  return static_cast<Enum>(r.type());
}

void Fill(const Record& r, gp::Backup* b) {
  b->set_id(r.id());
  b->set_folder_id(r.folder_id());
  *b->mutable_created_at() = r.created_at();
  b->set_source_cluster_id(r.cluster_id());
  *b->mutable_started_at() = r.started_at();
  b->set_size(r.size());
  b->set_type(CreationType<gp::Backup::BackupCreationType>(r));
  b->set_method(static_cast<gp::Backup::BackupMethod>(r.method()));
  b->set_journal_size(r.journal_size());
}

void Fill(const Record& r, mg::Backup* b) {
  b->set_id(r.id());
  b->set_folder_id(r.folder_id());
  *b->mutable_created_at() = r.created_at();
  b->set_source_cluster_id(r.cluster_id());
  *b->mutable_started_at() = r.started_at();
  *b->mutable_source_shard_names() = r.source_shard_names();
  b->set_size(r.size());
  b->set_type(CreationType<mg::Backup::BackupType>(r));
  b->set_journal_size(r.journal_size());
}

void Fill(const Record& r, rd::Backup* b) {
  b->set_id(r.id());
  b->set_folder_id(r.folder_id());
  *b->mutable_created_at() = r.created_at();
  b->set_source_cluster_id(r.cluster_id());
  *b->mutable_started_at() = r.started_at();
  *b->mutable_source_shard_names() = r.source_shard_names();
  b->set_type(CreationType<rd::Backup::BackupType>(r));
}

void Fill(const Record& r, os::Backup* b) {
  b->set_id(r.id());
  b->set_folder_id(r.folder_id());
  b->set_source_cluster_id(r.cluster_id());
  *b->mutable_started_at() = r.started_at();
  *b->mutable_created_at() = r.created_at();
  for (int i = 0; i < r.indices_size() && i < kMaxListedIndices; ++i) b->add_indices(r.indices(i));
  b->set_opensearch_version(r.opensearch_version());
  b->set_size_bytes(r.size());
  b->set_indices_total(r.indices_size());
  b->set_incremental_size_bytes(r.added_size());
  b->set_total_size_bytes(r.logical_size());
  b->set_free_space_required_bytes(r.restore_size());
}

template <typename T>
absl::Status FillAs(const Record& r, google::protobuf::Message* out) {
  if (out->GetDescriptor() != T::descriptor()) {
    return absl::InternalError(absl::StrCat("backup '", r.id(), "' of engine ", r.engine(),
                                            " cannot be returned as ",
                                            out->GetDescriptor()->full_name()));
  }
  Fill(r, static_cast<T*>(out));
  return absl::OkStatus();
}

}  // namespace

absl::Status ToApiBackup(const Record& r, google::protobuf::Message* out) {
  switch (r.engine()) {
    case catalog::Engine::GREENPLUM:
      return FillAs<gp::Backup>(r, out);
    case catalog::Engine::MONGODB:
      return FillAs<mg::Backup>(r, out);
    case catalog::Engine::REDIS:
      return FillAs<rd::Backup>(r, out);
    case catalog::Engine::OPENSEARCH:
      return FillAs<os::Backup>(r, out);
    default:
      return absl::InternalError(absl::StrCat("backup '", r.id(), "' has no engine"));
  }
}

}  // namespace mdb::api
