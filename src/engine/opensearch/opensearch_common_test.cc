#include "engine/opensearch/opensearch_common.h"

#include <gtest/gtest.h>

#include "engine/opensearch/opensearch_engine.h"

namespace mdb::engine::opensearch {
namespace {

TEST(ImmutableRepositoryFile, OnlyFilesOpenSearchNeverRewrites) {
  // Segment blobs and per-snapshot metadata are written once under unique names.
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/0/__9fJk2lQ"));
  EXPECT_TRUE(ImmutableRepositoryFile("snap-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("meta-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/0/snap-WO2W9QYxSmSAV9O19Fyeaw.dat"));
  EXPECT_TRUE(ImmutableRepositoryFile("indices/Xy1/meta-abc.dat"));
  // The repository's generation files change with every snapshot.
  EXPECT_FALSE(ImmutableRepositoryFile("index-3"));
  EXPECT_FALSE(ImmutableRepositoryFile("index.latest"));
  EXPECT_FALSE(ImmutableRepositoryFile("indices/Xy1/0/index-Qk2Jx"));
  EXPECT_FALSE(ImmutableRepositoryFile("snap-unfinished.tmp"));
}

TEST(SnapshotName, LowercaseWithPrefix) { EXPECT_EQ(SnapshotName("C9qAbZ01"), "mdb-c9qabz01"); }

}  // namespace
}  // namespace mdb::engine::opensearch
