#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "catalog/catalog.h"
#include "common/test_dir.h"

namespace mdb::catalog {
namespace {

// What only the SQLite catalog promises (the contract itself: catalog_conformance_test.cc).
// The catalog holds the page-token key: never readable by others, whatever the umask.
TEST(SqliteCatalog, TheCatalogFileIsForItsOwnerOnly) {
  auto dir = common::FreshTestDir("sqlite_catalog");
  mode_t old = umask(0);
  auto catalog = OpenSqliteCatalog((dir / "catalog.db").string());
  umask(old);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  struct stat st {};
  ASSERT_EQ(stat((dir / "catalog.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mdb::catalog
