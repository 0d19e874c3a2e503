// Shared by the tests of the sinks that write one file (DirectFileSink, WriteBehindSink).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/test_dir.h"

namespace mdb::io {

// Bytes that differ from block to block, so that a block written at the wrong place shows.
inline std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

// Writes `data` through a `Sink` (constructed from a descriptor and a path) in pieces of
// several sizes, one file under `dir` each, and expects each file to hold exactly `data`.
template <typename Sink>
void ExpectWritesOfAnySizeMakeTheSameFile(const std::string& data,
                                          const std::filesystem::path& dir) {
  for (size_t piece : {size_t{1000}, size_t{4096}, size_t{1} << 20, (size_t{1} << 20) + 7}) {
    std::filesystem::path p = dir / ("piece-" + std::to_string(piece));
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    {
      Sink sink(fd, p.string());
      for (size_t off = 0; off < data.size(); off += piece) {
        ASSERT_TRUE(sink.Write(std::string_view(data).substr(off, piece)).ok());
      }
      ASSERT_TRUE(sink.Close().ok());
    }
    close(fd);
    EXPECT_EQ(common::ReadTestFile(p), data) << piece;
  }
}

}  // namespace mdb::io
