// The behaviour every Storage driver must show (the tests are in conformance_test.cc); each
// driver's test instantiates StorageConformance with its factory.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>

#include "storage/storage.h"

namespace mdb::storage {

// A factory returning a fresh, empty storage for each test, or nullptr to skip (e.g. the S3
// server is not running).
using StorageFactory = std::function<std::unique_ptr<Storage>()>;

class StorageConformance : public ::testing::TestWithParam<StorageFactory> {
 protected:
  void SetUp() override {
    storage_ = GetParam()();
    if (!storage_) GTEST_SKIP() << "storage not available";
  }
  std::unique_ptr<Storage> storage_;
};

inline std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 31 + (i >> 9));
  return s;
}

}  // namespace mdb::storage
