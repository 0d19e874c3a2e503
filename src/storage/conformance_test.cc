// The conformance tests, compiled once into the drivers' test binary.
#include "storage/conformance_test.h"

#include <thread>

namespace mdb::storage {

// Drivers without a live server (S3 when no endpoint is configured) skip themselves in SetUp.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StorageConformance);

TEST_P(StorageConformance, PutGetOverwriteDelete) {
  EXPECT_EQ(storage_->Get("a/b/c").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(storage_->Put("a/b/c", "hello").ok());
  EXPECT_EQ(*storage_->Get("a/b/c"), "hello");
  ASSERT_TRUE(storage_->Put("a/b/c", "").ok());  // empty objects are objects
  EXPECT_EQ(*storage_->Get("a/b/c"), "");
  EXPECT_EQ(storage_->Stat("a/b/c")->size, 0u);
  ASSERT_TRUE(storage_->Delete("a/b/c").ok());
  EXPECT_EQ(storage_->Stat("a/b/c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(storage_->Delete("a/b/c").ok());  // deleting twice is fine
}

TEST_P(StorageConformance, RangesInsideAndOutside) {
  std::string data = Pattern(100000, 'x');
  ASSERT_TRUE(storage_->Put("r", data).ok());
  EXPECT_EQ(*storage_->GetRange("r", 0, 10), data.substr(0, 10));
  EXPECT_EQ(*storage_->GetRange("r", 99990, 10), data.substr(99990));
  EXPECT_EQ(*storage_->GetRange("r", 5, 0), "");
  EXPECT_EQ(storage_->GetRange("r", 99995, 10).status().code(), absl::StatusCode::kOutOfRange);
  // An offset and a length whose sum wraps (a planted index entry) are outside too.
  EXPECT_EQ(storage_->GetRange("r", ~uint64_t{0}, 2).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(storage_->GetRange("missing", 0, 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StorageConformance, ListsByPrefixInKeyOrder) {
  for (const char* k : {"p/2", "p/1", "p/sub/3", "q/1", "pp"}) {
    ASSERT_TRUE(storage_->Put(k, k).ok());
  }
  auto list = storage_->List("p/");
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> keys;
  for (const auto& o : *list) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"p/1", "p/2", "p/sub/3"}));
  EXPECT_EQ((*list)[2].size, 7u);
  EXPECT_TRUE(storage_->List("none/")->empty());
  EXPECT_EQ(storage_->List("")->size(), 5u);
}

TEST_P(StorageConformance, LargeObjectsRoundTrip) {
  std::string big = Pattern(21 << 20, 'b');  // past the S3 driver's multipart threshold
  ASSERT_TRUE(storage_->Put("big/object", big).ok());
  auto got = storage_->Get("big/object");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == big);
  EXPECT_EQ(*storage_->GetRange("big/object", 9 << 20, 16), big.substr(9 << 20, 16));
}

TEST_P(StorageConformance, ObjectsAroundTheDirectWriteSizesRoundTrip) {
  // The posix driver writes objects from 1 MiB on with O_DIRECT: whole 4 KiB blocks, then a tail.
  for (size_t size :
       {(size_t{1} << 20) - 1, size_t{1} << 20, (size_t{1} << 20) + 4097, (size_t{3} << 20) + 1}) {
    std::string data = Pattern(size, 'd');
    const std::string key = "sized/" + std::to_string(size);
    ASSERT_TRUE(storage_->Put(key, data).ok()) << size;
    auto got = storage_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == data) << size;
  }
}

TEST_P(StorageConformance, AnObjectWrittenPieceByPieceIsPublishedOnlyByCommit) {
  const std::string data = Pattern((size_t{2} << 20) + 777, 'w');
  auto writer = storage_->StartPut("pieces/object", data.size());
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t off = 0; off < data.size(); off += 300000) {
    ASSERT_TRUE((*writer)->Append(std::string_view(data).substr(off, 300000)).ok());
  }
  EXPECT_EQ(storage_->Stat("pieces/object").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*writer)->Commit().ok());
  auto got = storage_->Get("pieces/object");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == data);
  // Dropped without Commit: nothing published, nothing listed.
  {
    auto dropped = storage_->StartPut("pieces/dropped", 10);
    ASSERT_TRUE(dropped.ok());
    ASSERT_TRUE((*dropped)->Append("half of it").ok());
  }
  EXPECT_EQ(storage_->Stat("pieces/dropped").status().code(), absl::StatusCode::kNotFound);
  auto listed = storage_->List("pieces/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  EXPECT_FALSE(storage_->StartPut("../escape", 1).ok());
  // A writer is spent by its Commit: neither more bytes nor a second Commit (which would publish
  // something else over the object) are taken.
  EXPECT_FALSE((*writer)->Append("more").ok());
  EXPECT_FALSE((*writer)->Commit().ok());
  got = storage_->Get("pieces/object");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == data);
}

TEST_P(StorageConformance, ConcurrentPutsAreAllVisible) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string k = "c/" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(storage_->Put(k, k).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(storage_->List("c/")->size(), 40u);
  EXPECT_EQ(*storage_->Get("c/3-9"), "c/3-9");
}

TEST_P(StorageConformance, RejectsInvalidKeys) {
  for (const char* k : {"", "/abs", "a//b", "../x", "a/./b", "sp ace", "a/"}) {
    EXPECT_EQ(storage_->Put(k, "x").code(), absl::StatusCode::kInvalidArgument) << k;
  }
}

}  // namespace mdb::storage
